function derain_bench_evaluate(list_file, result_file)
  % derain-bench's driver for Restormer's / MPRNet's evaluate_PSNR_SSIM.m: the body of its parfor loop on the
  % listed pairs, calling the script's own compute_psnr and compute_ssim (sourced from its text beforehand).
  %
  % Octave's rgb2ycbcr on uint8 rounds a few colours whose exact luma ends in .5 differently from MATLAB's, so
  % each image is also scored by the same official functions on MATLAB's luma (computed here as MATLAB's
  % rgb2ycbcr.m does), and the number of pixels where the two lumas differ is written beside.
  pairs = derain_bench_read_pairs(list_file);
  out = fopen(result_file, 'w');
  for i = 1:numel(pairs.name)
    try
      input = imread(pairs.output{i});
      gt = imread(pairs.target{i});
      ssim_val = compute_ssim(input, gt);
      psnr_val = compute_psnr(input, gt);
      y_input = matlab_luma_uint8(input);
      y_gt = matlab_luma_uint8(gt);
      ssim_matlab = compute_ssim(y_input, y_gt);
      psnr_matlab = compute_psnr(y_input, y_gt);
      octave_input = rgb2ycbcr(input);
      octave_gt = rgb2ycbcr(gt);
      differ = nnz(octave_input(:,:,1) ~= y_input) + nnz(octave_gt(:,:,1) ~= y_gt);
    catch err
      fclose(out);
      error('derain_bench:image', '%s: %s', pairs.name{i}, err.message);
    end
    fprintf(out, '%s\t%.17g\t%.17g\t%.17g\t%.17g\t%d\n', pairs.name{i}, psnr_val, ssim_val, psnr_matlab, ssim_matlab, differ);
  end
  fclose(out);
end

function y = matlab_luma_uint8(rgb)
  % MATLAB's rgb2ycbcr.m for uint8: the coefficient row scaled by 1/255, imlincomb in double (the three
  % products summed, then the offset 16), rounded half away from zero (uint8 conversion).
  t = (1/255) * [65.481 128.553 24.966];
  y = uint8(t(1)*double(rgb(:,:,1)) + t(2)*double(rgb(:,:,2)) + t(3)*double(rgb(:,:,3)) + 16);
end

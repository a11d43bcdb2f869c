function derain_bench_statistic(list_file, result_file)
  % derain-bench's driver for the statistic_*.m scripts of PReNet, BRN, RCDNet and DRSformer: their per-image
  % lines, unchanged, on the listed pairs. psnr and ssim are the official psnr.m and ssim.m, first on the path.
  pairs = derain_bench_read_pairs(list_file);
  out = fopen(result_file, 'w');
  for i = 1:numel(pairs.name)
    try
      x_true = im2double(imread(pairs.target{i}));
      x_true = rgb2ycbcr(x_true); x_true = x_true(:,:,1);
      x = im2double(imread(pairs.output{i}));
      x = rgb2ycbcr(x); x = x(:,:,1);
      tp = mean(psnr(x, x_true));
      ts = ssim(x*255, x_true*255);
    catch err
      fclose(out);
      error('derain_bench:image', '%s: %s', pairs.name{i}, err.message);
    end
    fprintf(out, '%s\t%.17g\t%.17g\n', pairs.name{i}, tp, ts);
  end
  fclose(out);
end

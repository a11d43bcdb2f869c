function pairs = derain_bench_read_pairs(list_file)
  % The pairs derain-bench asks a driver to score: one line per image, "name<TAB>output<TAB>ground truth",
  % so that nothing is paired by directory order as the official scripts do.
  fid = fopen(list_file, 'r');
  if fid < 0
    error('derain_bench:list', 'cannot open %s', list_file);
  end
  columns = textscan(fid, '%s%s%s', 'Delimiter', '\t');
  fclose(fid);
  pairs = struct('name', {columns{1}}, 'output', {columns{2}}, 'target', {columns{3}});
end

"""Running methods on datasets: the runner and its cells, the journal that makes runs resumable, the run folder,
saved images, torchrun sharding, provenance and profiling. Imports `common`, `data`, `metrics`, `methods` and
`results`.

No names are re-exported here: most of these modules import torch.
"""

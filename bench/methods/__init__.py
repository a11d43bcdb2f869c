"""Methods: the contract a deraining method fulfils (`contract`), the registry of names (`registry`), strict
checkpoint loading (`checkpoints`) and `ls methods` (`listing`). Imports only `bench.common`.

No names are re-exported here: the contract imports torch, and the registry must not (`ls`, `--help`).
"""

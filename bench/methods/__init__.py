"""Methods: the contract a deraining method fulfils (`contract`), the registry of names (`registry`), methods from
outside the project by import path or entry point (`external`), a folder of outputs scored as a method (`outputs`),
strict checkpoint loading (`checkpoints`) and `ls methods` (`listing`). Imports `bench.common` and `bench.data`.

No names are re-exported here: the contract imports torch, and the registry must not (`ls`, `--help`).
"""

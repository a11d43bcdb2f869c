"""Datasets: cards, pairing, validation, decoding, and the synthetic demo set. Imports only `bench.common`.

The names below are the layer's public interface; the submodules hold one job each (`cards`, `pairing`,
`validation`, `opening`, `images`, `demo`, `overlap`, `listing`).
"""

from bench.data.cards import DatasetCard, check_dataset_names, dataset_assets, dataset_names, load_card
from bench.data.opening import (
    Dataset,
    import_dataset,
    installed_path,
    load_pair,
    open_dataset,
    open_folder,
    open_folder_pair,
    open_rainy_folder,
)
from bench.data.pairing import RULES, Layout, PairingRule, Sample
from bench.data.validation import identical_files

__all__ = [
    "RULES",
    "Dataset",
    "DatasetCard",
    "Layout",
    "PairingRule",
    "Sample",
    "check_dataset_names",
    "dataset_assets",
    "dataset_names",
    "identical_files",
    "import_dataset",
    "installed_path",
    "load_card",
    "load_pair",
    "open_dataset",
    "open_folder",
    "open_folder_pair",
    "open_rainy_folder",
]

"""Opening datasets: a registered name, a folder, two folders or a folder of rainy images -> validated samples.

A registered dataset's files are fetched or generated first when its card says how. Every dataset is paired
(`bench.data.pairing`) and validated from file headers (`bench.data.validation`) up front, so that a bad copy
fails before any model runs; `load_pair` decodes fully and checks the sizes again.
"""

import hashlib
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from bench.common.assets import Store, extract_archive, sha256_file
from bench.common.errors import DatasetError
from bench.data.cards import DatasetCard, load_card
from bench.data.images import IMAGE_SUFFIXES, read_image, split_halves
from bench.data.pairing import (
    FOLDER_PAIR_RULES,
    KNOWN_LAYOUTS,
    FolderPairing,
    Layout,
    Sample,
    holds_images,
    image_names,
    natural_key,
    pair_folder,
    summarise_names,
)
from bench.data.validation import check_count, check_headers, identical_files


@dataclass(frozen=True)
class Dataset:
    """Validated samples of one dataset copy. `complete` is False for an accepted partial copy."""

    name: str
    card: DatasetCard | None
    root: Path
    samples: tuple[Sample, ...]
    complete: bool
    layout: Layout | None = None
    # what the file headers say a reader should know (conversions to RGB, lossy JPEG data), one line per kind
    header_warnings: tuple[str, ...] = ()

    def fingerprint(self) -> str:
        """sha256 over the sorted lines "name rainy_sha256 clean_sha256" ("-" without ground truth)."""
        return self._fingerprint

    def file_checksums(self) -> dict[str, tuple[str, str | None]]:
        """Sample name -> (rainy sha256, clean sha256 or None)."""
        return dict(self._checksums)

    def warnings(self) -> list[str]:
        """The header warnings, then every group of byte-identical rainy or clean files (Rain100H has one)."""
        found = list(self.header_warnings)
        for role, index in (("rainy inputs", 0), ("ground truths", 1)):
            by_digest = {name: digests[index] for name, digests in self._checksums.items()}
            for names in identical_files(by_digest):
                found.append(f"the {role} of {', '.join(names)} are byte-identical files")
        return found

    def describe(self) -> dict:
        card = self.card
        return {
            "name": self.name,
            "title": card.title if card else None,
            "citation": card.citation if card else None,
            "licence": card.licence if card else None,
            "homepage": card.homepage if card else None,
            "subset_of": card.subset_of if card else None,
            "root": str(self.root),
            "n": len(self.samples),
            "expected": card.pairs if card else None,
            "complete": self.complete,
            "layout": {"rainy": self.layout.rainy, "clean": self.layout.clean} if self.layout else None,
            "pairing_rule": self.layout.pairing.describe() if self.layout else None,
            "fingerprint": self.fingerprint(),
            "notes": list(card.notes) if card else [],
            "shares_images_with": dict(card.shares_images_with) if card else {},
            "warnings": self.warnings(),
        }

    # cached_property writes to the instance __dict__ directly, so it works on a frozen dataclass
    @cached_property
    def _checksums(self) -> dict[str, tuple[str, str | None]]:
        digests: dict[Path, str] = {}

        def digest(path: Path) -> str:
            if path not in digests:  # Rain1400's clean files and side-by-side files are shared
                digests[path] = sha256_file(path)
            return digests[path]

        return {s.name: (digest(s.rainy), digest(s.clean) if s.clean else None) for s in self.samples}

    @cached_property
    def _fingerprint(self) -> str:
        lines = sorted(f"{name} {rainy} {clean or '-'}" for name, (rainy, clean) in self._checksums.items())
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def installed_path(name: str, store: Store) -> Path:
    """Where a manually downloaded dataset is installed."""
    return store.cache / "datasets" / name


def open_dataset(name: str, store: Store, *, allow_incomplete: bool = False) -> Dataset:
    """Open a registered dataset, fetching or generating its files first when the card says how."""
    card = load_card(name)
    return open_folder(_provide_files(card, store), card=card, allow_incomplete=allow_incomplete)


def _provide_files(card: DatasetCard, store: Store) -> Path:
    if card.files is not None:
        for asset in card.files.assets:
            store.fetch(asset)
        return store.cache / card.files.path
    if card.source == "generated":
        from bench.data import demo  # imports scikit-image, so only when the demo set is asked for

        return demo.ensure_demo(store.cache / "datasets")
    root = installed_path(card.name, store)
    if not root.is_dir():
        raise DatasetError(
            f"dataset '{card.name}' is not installed: {root} does not exist. Download it from {card.download}; "
            f"then install it with `python -m bench fetch --datasets {card.name} --from FILE` (a folder, zip or "
            "tar), or pass --dataset-dir PATH pointing at the extracted folder"
        )
    return root


def open_folder(
    path: Path, *, card: DatasetCard | None = None, allow_incomplete: bool = False, every_file_paired: bool = False
) -> Dataset:
    """Open a folder of pairs, with the card's layouts or else the known ones (`KNOWN_LAYOUTS`).

    The layout may sit in `path` or in one of its subfolders. The first layout that pairs every file is
    used; a folder named only by its path gets the dataset name "dir:<folder name>". `allow_incomplete` accepts
    fewer pairs than the card's and, unless `every_file_paired`, files left unpaired (a partial result).
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path} is not a folder")
    layouts = card.layouts if card else KNOWN_LAYOUTS
    partial = not every_file_paired
    found = pair_folder(path, layouts, allow_incomplete=allow_incomplete and partial, offer_partial=partial)
    name = card.name if card else f"dir:{found.root.name}"
    return _dataset(name, card, found, allow_incomplete)


def _dataset(name: str, card: DatasetCard | None, found: FolderPairing, allow_incomplete: bool) -> Dataset:
    complete = check_count(card, len(found.samples), found.root, allow_incomplete) and not found.left_out
    warnings = check_headers(found.root, found.samples)
    if found.left_out:
        warnings = (f"--allow-incomplete: {len(found.samples)} complete pairs scored; {found.left_out}", *warnings)
    return Dataset(name, card, found.root, found.samples, complete, found.layout, warnings)


def open_folder_pair(
    rainy: Path, clean: Path, *, card: DatasetCard | None = None, allow_incomplete: bool = False
) -> Dataset:
    """Pair two folders given by the user, by the first rule of FOLDER_PAIR_RULES that pairs every file.

    The dataset is named "dirs:<rainy folder name>+<clean folder name>" unless a card names it.
    """
    rainy, clean = Path(rainy).resolve(), Path(clean).resolve()
    for folder, option in ((rainy, "--rainy-dir"), (clean, "--clean-dir")):
        if not folder.is_dir():
            raise DatasetError(f"{option} {folder} is not a folder")
        if not holds_images(folder, depth=0):
            raise DatasetError(f"no images found in {folder} ({option}; {', '.join(sorted(IMAGE_SUFFIXES))})")
    if rainy == clean:
        raise DatasetError(
            f"--rainy-dir and --clean-dir are both {rainy}; for one folder holding both use --dataset-dir"
        )
    root = Path(os.path.commonpath([rainy, clean]))
    layouts = tuple(
        Layout(os.path.relpath(rainy, root), os.path.relpath(clean, root), rule) for rule in FOLDER_PAIR_RULES
    )
    found = pair_folder(root, layouts, allow_incomplete=allow_incomplete, full_paths=True)
    return _dataset(card.name if card else f"dirs:{rainy.name}+{clean.name}", card, found, allow_incomplete)


def open_rainy_folder(path: Path) -> Dataset:
    """Open a folder of rainy images without ground truth (real rain): every image directly inside it.

    Only no-reference metrics (NIQE) can score such a set; the dataset is named "rainy:<folder name>".
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path} is not a folder")
    names = sorted(image_names(path), key=natural_key)
    if not names:
        raise DatasetError(f"{path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}) directly inside it")
    stems = Counter(Path(name).stem for name in names)
    if clashes := sorted(stem for stem, count in stems.items() if count > 1):
        raise DatasetError(f"{path}: {summarise_names('name{s} used by more than one file', tuple(clashes))}")
    samples = tuple(Sample(Path(name).stem, path / name, None) for name in names)
    warnings = check_headers(path, samples)
    return Dataset(f"rainy:{path.name}", None, path, samples, True, header_warnings=warnings)


def load_pair(sample: Sample) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode a sample into (rainy, clean) 8-bit RGB arrays; clean is None without ground truth."""
    if sample.half is not None:
        left, right = split_halves(sample.rainy, read_image(sample.rainy))
        rainy, clean = (left, right) if sample.half == "left" else (right, left)
        return np.ascontiguousarray(rainy), np.ascontiguousarray(clean)
    rainy = read_image(sample.rainy)
    if sample.clean is None:
        return rainy, None
    clean = read_image(sample.clean)
    if clean.shape != rainy.shape:
        raise DatasetError(
            f"sample {sample.name}: rainy {sample.rainy} is {_size(rainy)} but clean {sample.clean} is {_size(clean)}"
        )
    return rainy, clean


def import_dataset(name: str, source: Path, store: Store, *, allow_incomplete: bool = False) -> Path:
    """Install a downloaded copy (a folder, or a zip/tar archive) of a dataset into the cache.

    A manual dataset: the card's layout is looked for in `source` or one folder below it; the pairing, count and
    headers are validated, and only the paired files are copied, keeping their paths, to
    `<cache>/datasets/<name>/`. A downloadable one (a card with [files]): every file, checked by its sha256, to
    where a download would have put it (for a set too large to mirror, such as RainTrainL).
    """
    card = load_card(name)
    if card.source == "generated":
        raise DatasetError(f"dataset '{name}' needs no import: derain-bench generates it itself")
    if card.source == "download":
        return _import_files(card, Path(source), store)
    target = installed_path(name, store)
    if target.exists():
        raise DatasetError(f"dataset '{name}' is already installed at {target}; delete it to import again")
    source = Path(source)
    if not source.exists():
        raise DatasetError(f"{source} does not exist")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}.import.") as work:
        folder = source
        if source.is_file():
            folder = Path(work) / "extracted"
            extract_archive(source, folder)
        # an installed copy pairs whole: --allow-incomplete accepts fewer pairs, never a file without its pair
        dataset = open_folder(folder, card=card, allow_incomplete=allow_incomplete, every_file_paired=True)
        staged = Path(work) / "staged"
        _copy_files(dataset, staged)
        os.replace(staged, target)
    return target


def _import_files(card: DatasetCard, source: Path, store: Store) -> Path:
    """A downloadable dataset from a copy you have (a folder, or an archive of it): every file of the card, found
    under `source` (or one folder below it) by its upstream path, checked against its sha256 into the cache."""
    with tempfile.TemporaryDirectory(prefix=f".{card.name}.import.") as work:
        folder = source
        if source.is_file():
            folder = Path(work) / "extracted"
            extract_archive(source, folder)
        if not folder.is_dir():
            raise DatasetError(f"{source} does not exist")
        below = {asset: asset.path.removeprefix(card.files.path + "/") for asset in card.files.assets}
        first = below[card.files.assets[0]]
        roots = [folder, *(child for child in sorted(folder.iterdir()) if child.is_dir())]
        root = next((r for r in roots if (r / first).is_file()), None)
        if root is None:
            raise DatasetError(
                f"{source} does not hold {card.name}'s files as upstream lays them out (looked for {first} in it and "
                f"one folder below; upstream: {card.files.url})"
            )
        if missing := [relative for relative in below.values() if not (root / relative).is_file()]:
            raise DatasetError(
                f"{root} lacks {len(missing)} of {card.name}'s {len(below)} files, e.g. {missing[0]}: give a "
                "complete copy"
            )
        for asset, relative in below.items():
            store.install(asset, root / relative)
    return store.cache / card.files.path


def _copy_files(dataset: Dataset, destination: Path) -> None:
    files = {path for s in dataset.samples for path in (s.rainy, s.clean) if path is not None}
    for path in files:
        copy = destination / path.relative_to(dataset.root)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)


def _size(image: np.ndarray) -> str:
    return f"{image.shape[1]}x{image.shape[0]}"

"""Dataset cards -> datasets of paired samples, pairing rules, layout detection, validation, fingerprints.

A card (`datasets/<name>.toml` at the repository root) says what a test set is, where it is published, its
licence, how many pairs it has, and the layouts its copies come in: a folder of rainy files, a folder of
clean files and a pairing rule. Pairs are made by file name through the rule, never by sort order, and a
pairing that leaves any file unmatched is refused with the names of the files.

Where a card's files come from is its `source`:
- "download": the card lists every file with its sha256; `bench.assets.Store` fetches and verifies them
  (cache -> mirror -> network) into `<cache>/<files.path>/`.
- "manual": the official copies sit on cloud drives and cannot be fetched by a script. The user downloads
  them and either installs them at `<cache>/datasets/<name>/` (by hand or with `import_dataset`) or points
  `--dataset-dir` at the extracted folder.
- "generated": the synthetic demo set, written once by `bench.demo` under `<cache>/datasets/`.

Every dataset is validated up front from file headers (complete and decodable, same size within a pair,
even width for side-by-side files), so that a bad copy fails before any model runs; `load_pair` decodes
fully and checks the sizes again.
"""

import hashlib
import os
import re
import shutil
import tempfile
import tomllib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

import bench
from bench.assets import Asset, Store, extract_archive, sha256_file
from bench.errors import DatasetError
from bench.images import (
    HALVES,
    IMAGE_SUFFIXES,
    header_notes,
    inspect_image,
    is_image_file,
    read_image,
    split_halves,
)
from bench.names import unknown_name, unknown_names

SOURCES = ("download", "manual", "generated")
_SHOWN = 5  # how many offending files an error message names before it only counts them


@dataclass(frozen=True)
class PairingRule:
    """How the name of a rainy file gives the name of its clean file.

    `pattern` must match the whole rainy file name; `clean` is a `str.format` template over the pattern's
    named groups. `many_to_one` lets several rainy files share one clean file (Rain1400's 14 streak types);
    otherwise every clean file belongs to exactly one rainy file. `rainy_half` marks side-by-side files, where
    one file holds both images: the rainy image is that half and the clean image the other half. With
    `any_extension`, the template gives a stem and the clean file is the one image of that stem, whatever its
    extension (two clean images of one stem are ambiguous and refused).
    """

    name: str
    pattern: str
    clean: str
    summary: str
    many_to_one: bool = False
    rainy_half: str | None = None
    any_extension: bool = False

    def clean_name(self, rainy_name: str) -> str | None:
        """The clean file name for `rainy_name`, or None when the name does not fit the pattern."""
        match = re.fullmatch(self.pattern, rainy_name)
        return self.clean.format(**match.groupdict()) if match else None

    def describe(self) -> dict:
        return {
            "name": self.name,
            "summary": self.summary,
            "rainy_pattern": self.pattern,
            "clean_template": self.clean,
            "many_to_one": self.many_to_one,
            "rainy_half": self.rainy_half,
        }


_EXT = r"(?P<ext>\.[A-Za-z]+)"  # kept from the rainy name: rainy and clean files share their format
RULES: dict[str, PairingRule] = {
    rule.name: rule
    for rule in (
        PairingRule("same-name", r"(?P<file>.+)", "{file}", "the clean file has the rainy file's name"),
        PairingRule(
            "same-stem",
            r"(?P<stem>.+)\.[^.]+",
            "{stem}",
            "the clean file has the rainy file's name up to the extension (1.png -> 1.jpg)",
            any_extension=True,
        ),
        PairingRule("rain-prefix", rf"rain-(?P<id>\d+){_EXT}", "norain-{id}{ext}", "rain-XXX -> norain-XXX (PReNet)"),
        PairingRule("jorder-x2", rf"norain-(?P<id>\d+)x2{_EXT}", "norain-{id}{ext}", "norain-Nx2 -> norain-N (JORDER)"),
        PairingRule(
            "rain1400",
            rf"(?P<id>\d+)_(?:[1-9]|1[0-4]){_EXT}",
            "{id}{ext}",
            "N_K -> N for streak types K = 1..14 (DDN Rain1400)",
            many_to_one=True,
        ),
        PairingRule("in-gt", rf"(?P<id>.+)_in{_EXT}", "{id}_GT{ext}", "N_in -> N_GT (original Rain12)"),
        PairingRule("gt-suffix", rf"(?P<stem>.+?){_EXT}", "{stem}gt{ext}", "NNN -> NNNgt (SPA-Data)"),
        PairingRule(
            "side-by-side",
            r"(?P<file>.+)",
            "{file}",
            "one file holds both images: rainy left half, clean right half (DID-MDN)",
            rainy_half="left",
        ),
    )
}


@dataclass(frozen=True)
class Layout:
    """Where a copy of a dataset keeps its files, relative to its root ("." is the root itself)."""

    rainy: str
    clean: str  # the same folder as `rainy` when rainy and clean files share a folder
    rule: str  # a key of RULES

    @property
    def pairing(self) -> PairingRule:
        return RULES[self.rule]

    def describe(self) -> str:
        """In words, for messages: `rainy in rain/, clean in norain/: the clean file has the rainy file's name`."""

        def folder(name: str) -> str:
            return "the folder itself" if name == "." else f"{name}/"

        if self.rainy == self.clean:
            where = f"rainy and clean in {folder(self.rainy)}"
        else:
            where = f"rainy in {folder(self.rainy)}, clean in {folder(self.clean)}"
        return f"{where}: {self.pairing.summary}"


# Rainy and clean folder names seen in published copies and training code (BasicSR's lq/gt, Restormer's
# input/target, ...): each is tried with the same file name, then the same stem.
_FOLDER_PAIRS = (
    ("rain", "norain"),
    ("input", "target"),
    ("lq", "gt"),
    ("input", "gt"),
    ("rainy", "clean"),
    ("rain", "groundtruth"),
)

# What `open_folder` recognises without a card, tried in this order. Side-by-side files are not guessed
# (any folder of images would fit); they need a card that declares them.
KNOWN_LAYOUTS = (
    *(Layout(rainy, clean, rule) for rainy, clean in _FOLDER_PAIRS for rule in ("same-name", "same-stem")),
    Layout("rain", "norain", "rain-prefix"),
    Layout("rain", "norain", "jorder-x2"),
    Layout("rain/X2", "norain", "jorder-x2"),
    Layout("rainy", ".", "rain-prefix"),
    Layout("rainy_image", "ground_truth", "rain1400"),
    Layout("rain", "gt", "gt-suffix"),
    Layout(".", ".", "in-gt"),
)

# How `open_folder_pair` pairs two folders given by the user, tried in this order
FOLDER_PAIR_RULES = ("same-name", "same-stem", "rain-prefix", "jorder-x2", "gt-suffix", "rain1400")


@dataclass(frozen=True)
class MirroredFiles:
    """The files of a downloadable dataset, each an `Asset` living under `path` in the mirror and cache."""

    url: str  # base URL at a pinned commit; a file's URL is `url/<its path below files.path>`
    path: str
    assets: tuple[Asset, ...]


@dataclass(frozen=True)
class DatasetCard:
    """What a dataset is and how its copies look, parsed from `datasets/<name>.toml` (unknown keys are errors)."""

    name: str
    title: str
    citation: str
    homepage: str
    licence: str
    pairs: int  # expected number of (rainy, clean) pairs
    source: str  # one of SOURCES
    layouts: tuple[Layout, ...]  # tried in order; the first that pairs every file is used
    notes: tuple[str, ...] = ()
    download: str = ""  # where and how to get it by hand ("manual" sets)
    subset_of: str | None = None  # a partial copy: its numbers are not comparable with the full set's
    files: MirroredFiles | None = None  # "download" sets


@dataclass(frozen=True)
class Sample:
    """One test image and its ground truth.

    For side-by-side files (`half` set) `rainy` and `clean` are the same file: `half` is the half ("left" or
    "right") holding the rainy image, the other half holds the clean image, split at the middle column.
    """

    name: str
    rainy: Path
    clean: Path | None  # None: no ground truth
    half: str | None = None

    def __post_init__(self) -> None:
        if self.half not in (None, *HALVES):
            raise ValueError(f"sample {self.name}: half must be None or one of {HALVES}, got {self.half!r}")


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


# ---------------------------------------------------------------------------------------------- cards


def cards_dir() -> Path:
    folder = Path(bench.__file__).resolve().parents[1] / "datasets"
    if not folder.is_dir():
        raise DatasetError(
            f"dataset cards not found: {folder} does not exist; derain-bench reads them from its repository's "
            "datasets/ folder, so install it from a clone with `pip install -e .`"
        )
    return folder


def dataset_names() -> list[str]:
    return sorted(path.stem for path in cards_dir().glob("*.toml"))


def check_dataset_names(names: Iterable[str]) -> None:
    """Every name is a dataset card; all unknown names are reported in one error."""
    known = dataset_names()
    if unknown := [name for name in names if name not in known]:
        raise unknown_names("dataset", unknown, known)


def load_card(name: str) -> DatasetCard:
    names = dataset_names()
    if name not in names:
        raise unknown_name("dataset", name, names)
    path = cards_dir() / f"{name}.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise DatasetError(f"{path}: not valid TOML ({exc})") from exc
    return _parse_card(name, raw, path)


def dataset_assets(name: str) -> list[Asset]:
    """The downloadable files of a dataset; [] for sets that must be downloaded by hand or are generated."""
    files = load_card(name).files
    return list(files.assets) if files else []


_CARD_KEYS = {
    "title": str,
    "citation": str,
    "homepage": str,
    "licence": str,
    "pairs": int,
    "source": str,
    "layouts": list,
    "notes": list,
    "download": str,
    "subset_of": str,
    "files": dict,
}
_CARD_REQUIRED = ("title", "citation", "homepage", "licence", "pairs", "source", "layouts")
_LAYOUT_KEYS = {"rainy": str, "clean": str, "rule": str}
_FILES_KEYS = {"url": str, "path": str, "sha256": dict}


def _parse_card(name: str, raw: dict, path: Path) -> DatasetCard:
    _check_table(raw, _CARD_KEYS, _CARD_REQUIRED, str(path))
    source = raw["source"]
    if source not in SOURCES:
        raise DatasetError(f"{path}: source must be one of {', '.join(SOURCES)}, got {source!r}")
    if raw["pairs"] < 1:
        raise DatasetError(f"{path}: pairs must be positive, got {raw['pairs']}")
    if ("files" in raw) != (source == "download"):
        raise DatasetError(f'{path}: a [files] table is required for, and only for, source = "download"')
    if source == "manual" and not raw.get("download"):
        raise DatasetError(f"{path}: a manual dataset needs `download`, saying where to get it")
    notes = raw.get("notes", [])
    if not all(isinstance(note, str) for note in notes):
        raise DatasetError(f"{path}: notes must be a list of strings")
    return DatasetCard(
        name=name,
        title=raw["title"],
        citation=raw["citation"],
        homepage=raw["homepage"],
        licence=raw["licence"],
        pairs=raw["pairs"],
        source=source,
        layouts=_parse_layouts(raw["layouts"], path),
        notes=tuple(notes),
        download=raw.get("download", ""),
        subset_of=raw.get("subset_of"),
        files=_parse_files(raw["files"], raw["licence"], path) if "files" in raw else None,
    )


def _parse_layouts(tables: list, path: Path) -> tuple[Layout, ...]:
    if not tables or not all(isinstance(table, dict) for table in tables):
        raise DatasetError(f"{path}: `layouts` must be a non-empty array of [[layouts]] tables")
    layouts = []
    for table in tables:
        _check_table(table, _LAYOUT_KEYS, tuple(_LAYOUT_KEYS), f"{path} [[layouts]]")
        layout = Layout(**table)
        if layout.rule not in RULES:
            raise DatasetError(f"{path}: unknown pairing rule {layout.rule!r}; known: {', '.join(RULES)}")
        if layout.pairing.rainy_half and layout.rainy != layout.clean:
            raise DatasetError(f"{path}: side-by-side files need rainy and clean to name the same folder")
        layouts.append(layout)
    return tuple(layouts)


def _parse_files(table: dict, licence: str, path: Path) -> MirroredFiles:
    _check_table(table, _FILES_KEYS, tuple(_FILES_KEYS), f"{path} [files]")
    base_url, base_path = table["url"].rstrip("/"), table["path"].rstrip("/")
    try:
        assets = tuple(
            Asset(path=f"{base_path}/{relative}", url=f"{base_url}/{relative}", sha256=digest, licence=licence)
            for relative, digest in table["sha256"].items()
        )
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{path}: bad [files.sha256] entry: {exc}") from exc
    if not assets:
        raise DatasetError(f"{path}: [files.sha256] lists no files")
    return MirroredFiles(url=base_url, path=base_path, assets=assets)


def _check_table(table: dict, kinds: dict[str, type], required: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(kinds))
    if unknown:
        raise DatasetError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(kinds)}")
    missing = [key for key in required if key not in table]
    if missing:
        raise DatasetError(f"{where}: missing key(s) {', '.join(missing)}")
    for key, value in table.items():
        if type(value) is not kinds[key]:  # exact: TOML's true is not an int here
            raise DatasetError(f"{where}: {key} must be of type {kinds[key].__name__}, got {value!r}")


# ------------------------------------------------------------------------------------ opening datasets


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
        from bench import demo  # imports scikit-image, so only when the demo set is asked for

        return demo.ensure_demo(store.cache / "datasets")
    root = installed_path(card.name, store)
    if not root.is_dir():
        raise DatasetError(
            f"dataset '{card.name}' is not installed: {root} does not exist. Download it from {card.download}; "
            f"then install it with `python -m bench fetch --datasets {card.name} --from FILE` (a folder, zip or "
            "tar), or pass --dataset-dir PATH pointing at the extracted folder"
        )
    return root


def open_folder(path: Path, *, card: DatasetCard | None = None, allow_incomplete: bool = False) -> Dataset:
    """Open a folder of pairs, with the card's layouts or else the known ones (`KNOWN_LAYOUTS`).

    The layout may sit in `path` or in one of its subfolders. The first layout that pairs every file is
    used; a folder named only by its path gets the dataset name "dir:<folder name>".
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path} is not a folder")
    root, layout, samples = _pair_folder(path, card.layouts if card else KNOWN_LAYOUTS)
    complete = _check_count(card, len(samples), root, allow_incomplete)
    warnings = _check_headers(root, samples)
    name = card.name if card else f"dir:{root.name}"
    return Dataset(name, card, root, samples, complete, layout, warnings)


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
        if not _holds_images(folder, depth=0):
            raise DatasetError(f"no images found in {folder} ({option}; {', '.join(sorted(IMAGE_SUFFIXES))})")
    if rainy == clean:
        raise DatasetError(
            f"--rainy-dir and --clean-dir are both {rainy}; for one folder holding both use --dataset-dir"
        )
    root = Path(os.path.commonpath([rainy, clean]))
    layouts = tuple(
        Layout(os.path.relpath(rainy, root), os.path.relpath(clean, root), rule) for rule in FOLDER_PAIR_RULES
    )
    root, layout, samples = _pair_folder(root, layouts)
    complete = _check_count(card, len(samples), root, allow_incomplete)
    warnings = _check_headers(root, samples)
    name = card.name if card else f"dirs:{rainy.name}+{clean.name}"
    return Dataset(name, card, root, samples, complete, layout, warnings)


def open_rainy_folder(path: Path) -> Dataset:
    """Open a folder of rainy images without ground truth (real rain): every image directly inside it.

    Only no-reference metrics (NIQE) can score such a set; the dataset is named "rainy:<folder name>".
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path} is not a folder")
    names = sorted(_image_names(path), key=_natural_key)
    if not names:
        raise DatasetError(f"{path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}) directly inside it")
    stems = Counter(Path(name).stem for name in names)
    if clashes := sorted(stem for stem, count in stems.items() if count > 1):
        raise DatasetError(f"{path}: {_listing('names used by more than one file', tuple(clashes))}")
    samples = tuple(Sample(Path(name).stem, path / name, None) for name in names)
    warnings = _check_headers(path, samples)
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
    """Install a downloaded copy (a folder, or a zip/tar archive) of a manual dataset into the cache.

    The card's layout is looked for in `source` or one folder below it; the pairing, count and headers are
    validated, and only the paired files are copied, keeping their paths, to `<cache>/datasets/<name>/`.
    """
    card = load_card(name)
    if card.source != "manual":
        how = {"download": "downloads", "generated": "generates"}[card.source]
        raise DatasetError(f"dataset '{name}' needs no import: derain-bench {how} it itself")
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
        dataset = open_folder(folder, card=card, allow_incomplete=allow_incomplete)
        staged = Path(work) / "staged"
        _copy_files(dataset, staged)
        os.replace(staged, target)
    return target


def _copy_files(dataset: Dataset, destination: Path) -> None:
    files = {path for s in dataset.samples for path in (s.rainy, s.clean) if path is not None}
    for path in files:
        copy = destination / path.relative_to(dataset.root)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)


# ------------------------------------------------------------------------------------------- pairing


@dataclass(frozen=True)
class _Pairing:
    """One attempt at pairing a folder with one layout."""

    layout: Layout
    samples: tuple[Sample, ...]
    unmatched: tuple[str, ...]  # rainy files without their clean file
    unreferenced: tuple[str, ...]  # clean files no rainy file points at
    duplicates: tuple[str, ...]  # clean files claimed twice under a one-to-one rule; sample names used twice

    @property
    def complete(self) -> bool:
        return not (self.unmatched or self.unreferenced or self.duplicates)

    def problem(self, root: Path) -> str:
        parts = [
            _listing("rainy files without a clean file", self.unmatched),
            _listing("clean files that no rainy file pairs with", self.unreferenced),
            _listing("duplicates", self.duplicates),
        ]
        found = "; ".join(part for part in parts if part)
        return f"{root}: pairing {self.layout.describe()} is incomplete: {found}"


def _pair_folder(path: Path, layouts: tuple[Layout, ...]) -> tuple[Path, Layout, tuple[Sample, ...]]:
    root = _find_root(path, layouts)
    attempts = [_pair(root, layout) for layout in layouts if _applies(root, layout)]
    for attempt in attempts:
        if attempt.complete:
            return root, attempt.layout, attempt.samples
    # the attempt that paired most, then left fewest files over (an ambiguous stem leaves none); the first on a tie
    closest = max(attempts, key=lambda a: (len(a.samples), -len(a.unmatched) - len(a.unreferenced)))
    raise DatasetError(closest.problem(root))


def _find_root(path: Path, layouts: tuple[Layout, ...]) -> Path:
    """`path` itself if a layout applies there, else the one subfolder where one does."""
    if any(_applies(path, layout) for layout in layouts):
        return path
    candidates = [
        folder
        for folder in sorted(path.iterdir())
        if folder.is_dir()
        and not folder.name.startswith((".", "__MACOSX"))
        and any(_applies(folder, layout) for layout in layouts)
    ]
    if not candidates:
        if not _holds_images(path, depth=2):
            raise DatasetError(
                f"no images found in {path} or its subfolders ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                "point --dataset-dir at the folder holding the dataset, or pass --rainy-dir and --clean-dir"
            )
        known = "; ".join(layout.describe() for layout in layouts)
        raise DatasetError(
            f"{path}: no known dataset layout in it or in its subfolders; looked for: {known}. For any other "
            "arrangement pass --rainy-dir and --clean-dir"
        )
    if len(candidates) > 1:
        names = ", ".join(folder.name for folder in candidates)
        raise DatasetError(f"{path}: several subfolders hold a dataset ({names}); point at one of them")
    return candidates[0]


def _holds_images(folder: Path, depth: int) -> bool:
    """Whether `folder` or its subfolders down to `depth` levels hold an image file."""
    entries = [entry for entry in folder.iterdir() if not entry.name.startswith(".")]
    if any(is_image_file(entry) for entry in entries):
        return True
    return depth > 0 and any(_holds_images(entry, depth - 1) for entry in entries if entry.is_dir())


def _applies(root: Path, layout: Layout) -> bool:
    rainy, clean = root / layout.rainy, root / layout.clean
    return rainy.is_dir() and clean.is_dir() and bool(_rainy_names(rainy, clean, layout.pairing))


def _rainy_names(rainy: Path, clean: Path, rule: PairingRule) -> list[str]:
    names = _image_names(rainy)
    if rainy == clean and rule.rainy_half is None:
        # rainy and clean files share the folder: the rule's pattern tells which are rainy
        names = [name for name in names if rule.clean_name(name) is not None]
    return names


def _pair(root: Path, layout: Layout) -> _Pairing:
    rule = layout.pairing
    rainy_dir, clean_dir = root / layout.rainy, root / layout.clean
    rainy_names = _rainy_names(rainy_dir, clean_dir, rule)
    clean_names = set(_image_names(clean_dir))
    if rainy_dir == clean_dir and rule.rainy_half is None:
        clean_names -= set(rainy_names)
    by_stem: dict[str, list[str]] = {}
    if rule.any_extension:
        for clean in clean_names:
            by_stem.setdefault(Path(clean).stem, []).append(clean)
    pairs, unmatched, ambiguous, undecided = {}, [], [], set()
    for name in rainy_names:
        clean = rule.clean_name(name)
        if rule.any_extension and clean is not None:
            candidates = sorted(by_stem.get(clean, []))
            if len(candidates) > 1:
                ambiguous.append(f"{name} ({' or '.join(candidates)})")
                undecided.update(candidates)
                continue
            clean = candidates[0] if candidates else f"{clean}.*"
        if clean in clean_names:
            pairs[name] = clean
        else:
            unmatched.append(f"{name} (no {clean})" if clean else f"{name} (name does not fit {rule.name})")
    claims = Counter(pairs.values())
    duplicates = [] if rule.many_to_one else [f"{c} (paired {k} times)" for c, k in claims.items() if k > 1]
    duplicates += [f"ambiguous stem: {entry}" for entry in ambiguous]
    stems = Counter(Path(name).stem for name in pairs)
    duplicates += [f"sample name {stem} ({k} rainy files)" for stem, k in stems.items() if k > 1]
    samples = [Sample(Path(r).stem, rainy_dir / r, clean_dir / c, rule.rainy_half) for r, c in pairs.items()]
    return _Pairing(
        layout=layout,
        samples=tuple(sorted(samples, key=lambda sample: _natural_key(sample.name))),
        unmatched=tuple(sorted(unmatched, key=_natural_key)),
        unreferenced=tuple(sorted(clean_names - set(claims) - undecided, key=_natural_key)),
        duplicates=tuple(sorted(duplicates, key=_natural_key)),
    )


def _image_names(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if is_image_file(path)]


def _natural_key(name: str) -> tuple:
    """Order "norain-2" before "norain-10" (for stable, readable output; pairing never uses order)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def _listing(what: str, items: tuple[str, ...]) -> str:
    if not items:
        return ""
    more = f", ... ({len(items) - _SHOWN} more)" if len(items) > _SHOWN else ""
    return f"{len(items)} {what}: {', '.join(items[:_SHOWN])}{more}"


# ---------------------------------------------------------------------------------------- validation


def _check_count(card: DatasetCard | None, found: int, root: Path, allow_incomplete: bool) -> bool:
    """True when the count is the card's; False for an accepted partial copy."""
    if card is None or found == card.pairs:
        return True
    if allow_incomplete:
        return False
    raise DatasetError(
        f"{card.name}: {root} holds {found} pairs but the card expects {card.pairs}; allow incomplete "
        "datasets explicitly (allow_incomplete=True, --allow-incomplete) to use it, marked incomplete"
    )


def identical_files(digests: dict[str, str | None]) -> list[list[str]]:
    """Groups of names whose files have the same sha256 (None: no file), in the order of `digests`."""
    by_digest: dict[str, list[str]] = {}
    for name, digest in digests.items():
        if digest is not None:
            by_digest.setdefault(digest, []).append(name)
    return [names for names in by_digest.values() if len(names) > 1]


def _check_headers(root: Path, samples: tuple[Sample, ...]) -> tuple[str, ...]:
    """Read every header once: complete, decodable files; equal sizes within pairs; even side-by-side widths.

    Returns the header warnings: per role and kind of note (bench.images.header_notes), the samples it concerns.
    """
    sizes: dict[Path, tuple[int, int]] = {}
    noted: dict[str, list[str]] = {}

    def size(path: Path, sample: str, role: str) -> tuple[int, int]:
        if path not in sizes:
            header = inspect_image(path)
            sizes[path] = (header.width, header.height)
            for note in header_notes(path, header):
                noted.setdefault(f"{role}: {note}", []).append(sample)
        return sizes[path]

    problems = []
    for sample in samples:
        rainy = size(sample.rainy, sample.name, "rainy input")
        if sample.half is not None and rainy[0] % 2:
            problems.append(f"{sample.rainy.name} (side-by-side, odd width {rainy[0]})")
        elif (
            sample.half is None
            and sample.clean is not None
            and size(sample.clean, sample.name, "ground truth") != rainy
        ):
            clean = sizes[sample.clean]
            rainy_file, clean_file = (path.relative_to(root).as_posix() for path in (sample.rainy, sample.clean))
            problems.append(f"{sample.name} ({rainy_file} {rainy[0]}x{rainy[1]}, {clean_file} {clean[0]}x{clean[1]})")
    if problems:
        raise DatasetError(f"{root}: {_listing('pairs that cannot be compared pixel by pixel', tuple(problems))}")
    return tuple(f"{what}: {_listing('images', tuple(names))}" for what, names in noted.items())


def _size(image: np.ndarray) -> str:
    return f"{image.shape[1]}x{image.shape[0]}"

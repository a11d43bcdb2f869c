"""Dataset cards: what a test set is, where it is published, and the layouts its copies come in.

A card (`datasets/<name>.toml` at the repository root) gives a set's title, citation, homepage, licence and
number of pairs, and its layouts: a folder of rainy files, a folder of clean files and a pairing rule
(`bench.data.pairing.RULES`). Unknown keys are errors.

Where a card's files come from is its `source`:
- "download": the card lists every file with its sha256; `bench.common.assets.Store` fetches and verifies them
  (cache -> mirror -> network) into `<cache>/<files.path>/`.
- "manual": the official copies sit on cloud drives and cannot be fetched by a script. The user downloads
  them and either installs them at `<cache>/datasets/<name>/` (by hand or with `import_dataset`) or points
  `--dataset-dir` at the extracted folder.
- "generated": the synthetic demo set, written once by `bench.data.demo` under `<cache>/datasets/`.
"""

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import bench
from bench.common.assets import Asset
from bench.common.errors import DatasetError
from bench.common.names import unknown_name, unknown_names
from bench.data.pairing import RULES, Layout

SOURCES = ("download", "manual", "generated")
# What a published number on a dataset is held to when neither its card nor a suite's check says otherwise: two
# published decimals, +-0.01 dB and +-0.001 SSIM. A card widens it for its copy (`published_tolerance`, e.g. a
# cropped copy of the set the numbers were published on); `bench reproduce` and the report both read it from here.
PUBLISHED_TOLERANCE = {"psnr": 0.01, "ssim": 0.001}


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
    published_tolerance: tuple[tuple[str, float], ...] = ()  # (metric kind, tolerance) for this copy
    # groups of image names (as scored) whose clean images are one background under different rain
    shared_backgrounds: tuple[tuple[str, ...], ...] = ()


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
    "published_tolerance": dict,
    "shared_backgrounds": list,
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
        published_tolerance=_parse_tolerance(raw.get("published_tolerance", {}), path),
        shared_backgrounds=_parse_backgrounds(raw.get("shared_backgrounds", []), path),
    )


def _parse_tolerance(table: dict, path: Path) -> tuple[tuple[str, float], ...]:
    for kind, value in table.items():
        if kind not in PUBLISHED_TOLERANCE or type(value) is not float or not value > 0:
            raise DatasetError(
                f"{path}: published_tolerance takes positive numbers for {', '.join(PUBLISHED_TOLERANCE)}, "
                f"got {kind} = {value!r}"
            )
    return tuple(table.items())


def published_tolerance(dataset: str) -> dict[str, float]:
    """Metric kind -> what a published number on `dataset` is held to: its card's, else PUBLISHED_TOLERANCE (also for
    a folder that is no card's)."""
    card = load_card(dataset) if dataset in dataset_names() else None
    return PUBLISHED_TOLERANCE | dict(card.published_tolerance if card else ())


def _parse_backgrounds(groups: list, path: Path) -> tuple[tuple[str, ...], ...]:
    names = [name for group in groups if isinstance(group, list) for name in group]
    if not all(isinstance(g, list) and len(g) > 1 and all(isinstance(n, str) for n in g) for g in groups):
        raise DatasetError(f"{path}: shared_backgrounds must be a list of lists of two or more image names")
    if len(set(names)) < len(names):
        raise DatasetError(f"{path}: shared_backgrounds names an image in more than one group")
    return tuple(tuple(group) for group in groups)


def background_labels(dataset: str, images: Sequence[str]) -> list[int] | None:
    """One label per image, equal for images of one background (its card's `shared_backgrounds`), numbered in
    order of first appearance; None when the set is no card's or its card lists no shared background."""
    card = load_card(dataset) if dataset in dataset_names() else None
    if card is None or not card.shared_backgrounds:
        return None
    group_of = {name: i for i, group in enumerate(card.shared_backgrounds) for name in group}
    keys = [("group", group_of[image]) if image in group_of else ("image", image) for image in images]
    numbering = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    return [numbering[key] for key in keys]


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

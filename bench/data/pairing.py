"""Pairing: which rainy file goes with which clean file, by name through a rule, never by sort order.

Every way into the suite goes through here: a registered dataset's layouts (`bench.data.cards`), a folder with a
known layout, two folders given by the user. A pairing that leaves any file unmatched, claims a clean file twice
or meets an ambiguous stem is refused with the names of the files.
"""

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.common.errors import DatasetError
from bench.data.images import HALVES, IMAGE_SUFFIXES, is_image_file

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

    def describe(self, root: Path | None = None) -> str:
        """In words, for messages: `rainy in rain/, clean in norain/: the clean file has the rainy file's name`;
        with `root`, the folders are named in full (`rainy in /data/rain/, ...`)."""

        def folder(name: str) -> str:
            if root is not None:
                return f"{root / name}/"
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


# How a user's outputs may be named after the images of a set, tried in this order: after the rainy input or the
# ground truth, with its extension or another one, or by the number in the rainy input's name, as Restormer's and
# MPRNet's test scripts name the outputs of sets they renumbered (rain-001.png -> 1.png).
_NUMBER = PairingRule(
    "number",
    r"\D*?0*(?P<id>\d+)\D*\.[^.]+",
    "{id}",
    "the number in the rainy file's name (rain-001.png -> 1.png)",
    any_extension=True,
)
OUTPUT_NAMINGS = (
    ("rainy input", RULES["same-name"]),
    ("ground truth", RULES["same-name"]),
    ("rainy input", RULES["same-stem"]),
    ("ground truth", RULES["same-stem"]),
    ("rainy input", _NUMBER),
)


@dataclass(frozen=True)
class OutputPairing:
    """A folder of outputs paired with the images of a set by one naming (OUTPUT_NAMINGS)."""

    naming: str  # in words: "the rainy input's name", "the number in the rainy input's name", ...
    files: dict[str, str]  # sample name -> its output's file name in the folder
    missing: tuple[str, ...]  # image{s} without an output, each with the file looked for
    extra: tuple[str, ...]  # output files no image pairs with
    duplicates: tuple[str, ...]  # ambiguous stems, files claimed twice

    @property
    def complete(self) -> bool:
        return not (self.missing or self.extra or self.duplicates)

    def problem(self) -> str:
        parts = [
            summarise_names("image{s} without an output", self.missing),
            summarise_names("file{s} that no image pairs with", self.extra),
            summarise_names("duplicate{s}", self.duplicates),
        ]
        return f"closest by {self.naming}: " + "; ".join(part for part in parts if part)


def pair_outputs(folder: Path, samples: tuple[Sample, ...], *, allow_missing: bool = False) -> OutputPairing:
    """Pair a folder of outputs with `samples` by name, never by order: the first naming of OUTPUT_NAMINGS that
    gives every sample exactly one output and leaves no file over. With `allow_missing`, the first that leaves
    no file over and no ambiguity, whatever it misses (a partial result)."""
    outputs = set(image_names(folder))
    if not outputs:
        raise DatasetError(f"no images in {folder} ({', '.join(sorted(IMAGE_SUFFIXES))}); point at your outputs")
    attempts = []
    for role, rule in OUTPUT_NAMINGS:
        files = [sample.rainy if role == "rainy input" else sample.clean for sample in samples]
        by_name = {file.name: sample.name for file, sample in zip(files, samples, strict=True) if file is not None}
        if len(by_name) < len(samples):  # a name several images share (Rain1400's ground truths), or none
            continue
        match = _match(by_name, outputs, rule)
        naming = f"the number in the {role}'s name" if rule is _NUMBER else f"the {role}'s name"
        if rule.any_extension and rule is not _NUMBER:
            naming += " with any extension"
        paired = {by_name[name]: file for name, file in match.pairs.items()}
        attempts.append(OutputPairing(naming, paired, match.unmatched, match.unreferenced, match.duplicates))
    for attempt in attempts:
        if attempt.complete or (allow_missing and attempt.files and not (attempt.extra or attempt.duplicates)):
            return attempt
    closest = max(attempts, key=lambda a: (len(a.files), -len(a.extra)))
    hint = "" if allow_missing else "; --allow-incomplete scores the images that have one, as a partial result"
    if closest.extra or closest.duplicates:
        hint = "; name each output after its rainy input or its ground truth (pairing is by name, never by order)"
    raise DatasetError(
        f"{folder}: the outputs do not pair with the set's {len(samples)} images: {closest.problem()}{hint}"
    )


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

    @property
    def other_formats(self) -> int:
        """Rainy files whose clean file is there under another extension (rain-1.jpg beside norain-1.png)."""
        return sum(_OTHER_FORMAT in entry for entry in self.unmatched)

    def problem(self) -> str:
        parts = [
            summarise_names("rainy file{s} without a clean file", self.unmatched),
            summarise_names("clean file{s} that no rainy file pairs with", self.unreferenced),
            summarise_names("duplicate{s}", self.duplicates),
        ]
        return "; ".join(part for part in parts if part)


@dataclass(frozen=True)
class FolderPairing:
    """What `pair_folder` found: the root holding the layout, the layout, its pairs, and, when an incomplete pairing
    was accepted (`allow_incomplete`), what was left out, in words ("" for a complete one)."""

    root: Path
    layout: Layout
    samples: tuple[Sample, ...]
    left_out: str = ""


def pair_folder(
    path: Path,
    layouts: tuple[Layout, ...],
    *,
    allow_incomplete: bool = False,
    offer_partial: bool = True,
    full_paths: bool = False,
) -> FolderPairing:
    """Pair the files of `path` (or of its one subfolder holding a dataset) by the first layout that pairs every
    file. With `allow_incomplete`, else the closest layout's complete pairs; `offer_partial`: a refusal says that
    --allow-incomplete would score those. `full_paths`: name the layout's folders in full in messages (two folders
    the user named, rather than one dataset folder)."""
    root = _find_root(path, layouts)
    attempts = [_pair(root, layout) for layout in layouts if _applies(root, layout)]
    for attempt in attempts:
        if attempt.complete:
            return FolderPairing(root, attempt.layout, attempt.samples)
    # the attempt that paired most, then left fewest files over (an ambiguous stem leaves none), then named most files
    # that are there in another format; the first on a tie
    closest = max(attempts, key=lambda a: (len(a.samples), -len(a.unmatched) - len(a.unreferenced), a.other_formats))
    where = f"pairing {closest.layout.describe(root)}" if full_paths else f"{root}: pairing {closest.layout.describe()}"
    problem = f"{where} is incomplete: {closest.problem()}"
    if allow_incomplete and closest.samples and not closest.duplicates:
        return FolderPairing(root, closest.layout, closest.samples, problem)
    if closest.other_formats:
        hint = "; this rule pairs files of one format: convert one folder to the other's format"
    elif closest.duplicates or not closest.samples:
        hint = "; --allow-incomplete cannot help: no pair is complete and unambiguous" if allow_incomplete else ""
    elif offer_partial:
        count = len(closest.samples)
        hint = f"; --allow-incomplete scores the {count} complete pair{'s' if count > 1 else ''}, as a partial result"
    else:
        hint = ""
    raise DatasetError(problem + hint)


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
        if not holds_images(path, depth=2):
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


def holds_images(folder: Path, depth: int) -> bool:
    """Whether `folder` or its subfolders down to `depth` levels hold an image file."""
    entries = [entry for entry in folder.iterdir() if not entry.name.startswith(".")]
    if any(is_image_file(entry) for entry in entries):
        return True
    return depth > 0 and any(holds_images(entry, depth - 1) for entry in entries if entry.is_dir())


def _applies(root: Path, layout: Layout) -> bool:
    rainy, clean = root / layout.rainy, root / layout.clean
    return rainy.is_dir() and clean.is_dir() and bool(_rainy_names(rainy, clean, layout.pairing))


def _rainy_names(rainy: Path, clean: Path, rule: PairingRule) -> list[str]:
    names = image_names(rainy)
    if rainy == clean and rule.rainy_half is None:
        # rainy and clean files share the folder: the rule's pattern tells which are rainy
        names = [name for name in names if rule.clean_name(name) is not None]
    return names


def _pair(root: Path, layout: Layout) -> _Pairing:
    rule = layout.pairing
    rainy_dir, clean_dir = root / layout.rainy, root / layout.clean
    rainy_names = _rainy_names(rainy_dir, clean_dir, rule)
    clean_names = set(image_names(clean_dir))
    if rainy_dir == clean_dir and rule.rainy_half is None:
        clean_names -= set(rainy_names)
    match = _match(rainy_names, clean_names, rule)
    duplicates = list(match.duplicates)
    stems = Counter(Path(name).stem for name in match.pairs)
    duplicates += [f"sample name {stem} ({k} rainy files)" for stem, k in stems.items() if k > 1]
    samples = [Sample(Path(r).stem, rainy_dir / r, clean_dir / c, rule.rainy_half) for r, c in match.pairs.items()]
    return _Pairing(
        layout=layout,
        samples=tuple(sorted(samples, key=lambda sample: natural_key(sample.name))),
        unmatched=match.unmatched,
        unreferenced=match.unreferenced,
        duplicates=tuple(sorted(duplicates, key=natural_key)),
    )


_OTHER_FORMAT = " is there, in another format"


@dataclass(frozen=True)
class _Match:
    pairs: dict[str, str]  # name -> the file it pairs with
    unmatched: tuple[str, ...]  # names without their file, each with the file it looked for
    unreferenced: tuple[str, ...]  # files no name pairs with
    duplicates: tuple[str, ...]  # files claimed twice under a one-to-one rule; ambiguous stems


def _match(names: Iterable[str], files: set[str], rule: PairingRule) -> _Match:
    """Pair each of `names` with the one of `files` that `rule` names: the one step every pairing goes through,
    a dataset's rainy files with its clean files as much as a dataset's images with a user's outputs."""
    by_stem: dict[str, list[str]] = {}
    if rule.any_extension:
        for file in files:
            by_stem.setdefault(Path(file).stem, []).append(file)
    pairs, unmatched, ambiguous, undecided = {}, [], [], set()
    for name in names:
        target = rule.clean_name(name)
        if rule.any_extension and target is not None:
            candidates = sorted(by_stem.get(target, []))
            if len(candidates) > 1:
                ambiguous.append(f"{name} ({' or '.join(candidates)})")
                undecided.update(candidates)
                continue
            target = candidates[0] if candidates else f"{target}.*"
        if target in files:
            pairs[name] = target
        elif target is None:
            unmatched.append(f"{name} (name does not fit {rule.name})")
        else:
            other = sorted(file for file in files if Path(file).stem == Path(target).stem)
            unmatched.append(f"{name} (no {target}{f'; {other[0]}{_OTHER_FORMAT}' if other else ''})")
    claims = Counter(pairs.values())
    duplicates = [] if rule.many_to_one else [f"{c} (paired {k} times)" for c, k in claims.items() if k > 1]
    duplicates += [f"ambiguous stem: {entry}" for entry in ambiguous]
    return _Match(
        pairs=pairs,
        unmatched=tuple(sorted(unmatched, key=natural_key)),
        unreferenced=tuple(sorted(files - set(claims) - undecided, key=natural_key)),
        duplicates=tuple(sorted(duplicates, key=natural_key)),
    )


def image_names(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if is_image_file(path)]


def natural_key(name: str) -> tuple:
    """Order "norain-2" before "norain-10" (for stable, readable output; pairing never uses order)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def summarise_names(what: str, items: tuple[str, ...]) -> str:
    """`what` with its count and the first few items: "2 image{s}" -> "2 images: a, b", "1 image: a"."""
    if not items:
        return ""
    more = f", ... ({len(items) - _SHOWN} more)" if len(items) > _SHOWN else ""
    return f"{len(items)} {what.format(s='' if len(items) == 1 else 's')}: {', '.join(items[:_SHOWN])}{more}"

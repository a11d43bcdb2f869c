"""Validation from file headers, before any model runs: the count a card expects, complete and decodable
files, equal sizes within a pair, even widths of side-by-side files; and which files are byte-identical."""

from pathlib import Path

from bench.common.assets import sha256_file
from bench.common.errors import DatasetError
from bench.data.cards import DatasetCard
from bench.data.images import header_notes, inspect_image, read_image
from bench.data.pairing import Sample, summarise_names


def check_count(card: DatasetCard | None, found: int, root: Path, allow_incomplete: bool) -> bool:
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


def check_headers(root: Path, samples: tuple[Sample, ...]) -> tuple[str, ...]:
    """Read every header once: complete, decodable files; equal sizes within pairs; even side-by-side widths.

    Returns the header warnings: per role and kind of note (bench.data.images.header_notes), the samples it concerns.
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
        unusable = summarise_names("pair{s} that cannot be compared pixel by pixel", tuple(problems))
        raise DatasetError(f"{root}: {unusable}")
    return tuple(f"{what}: {summarise_names('image{s}', tuple(names))}" for what, names in noted.items())


def check_outputs(
    folder: Path, samples: tuple[Sample, ...], files: dict[str, str], inputs: dict[str, tuple[str, str | None]]
) -> tuple[tuple[str, ...], dict[str, str]]:
    """Validate a user's outputs as inputs are validated, from their headers: complete, decodable, 8-bit, and the
    size of their image (never resized or cropped here). Returns the warnings (conversions, lossy data, outputs
    byte-identical to their ground truth or to their rainy input) and each output's sha256 by sample name.

    `files` maps sample names to file names in `folder`; `inputs` maps them to the (rainy, clean) sha256s."""
    noted: dict[str, list[str]] = {}
    problems, digests = [], {}
    same_as: dict[str, list[str]] = {"ground truth": [], "rainy input": []}
    for sample in samples:
        if sample.name not in files:
            continue
        path = folder / files[sample.name]
        header = inspect_image(path)
        if "A" in header.mode or header.mode == "P":  # transparency shows only in the pixels: refuse it now
            read_image(path)
        for note in header_notes(path, header):
            noted.setdefault(f"outputs: {note}", []).append(sample.name)
        expected = inspect_image(sample.rainy)
        width = expected.width // 2 if sample.half is not None else expected.width
        if (header.width, header.height) != (width, expected.height):
            problems.append(
                f"{sample.name} ({path.name} {header.width}x{header.height}, its image {width}x{expected.height})"
            )
        digests[sample.name] = sha256_file(path)
        rainy, clean = inputs[sample.name]
        if digests[sample.name] == clean:
            same_as["ground truth"].append(sample.name)
        elif digests[sample.name] == rainy:
            same_as["rainy input"].append(sample.name)
    if problems:
        sizes = summarise_names("output{s} of another size than their image", tuple(problems))
        raise DatasetError(
            f"{folder}: {sizes}; nothing is resized or cropped here: crop padded outputs (to a multiple of 8, say) "
            "back to the image's size before scoring"
        )
    warnings = [f"{what}: {summarise_names('image{s}', tuple(names))}" for what, names in noted.items()]
    for role, names in same_as.items():
        if names:
            hint = " (is the folder the set's own?)" if role == "rainy input" else ""
            warnings.append(
                f"outputs byte-identical to their {role}{hint}: {summarise_names('image{s}', tuple(names))}"
            )
    return tuple(warnings), digests

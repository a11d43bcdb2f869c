"""docs/licences.md against what is installed and registered: every core dependency (derain-bench's requirements
without extras, recursively, read from the installed packages' metadata) is listed, none is non-commercial, and
one whose metadata states no licence is listed by hand; every weights release and dataset card is in the tables."""

import fnmatch
import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bench.data.cards import dataset_names, load_card
from bench.methods.registry import METHODS, build_method, family

LICENCES = Path(__file__).resolve().parents[2] / "docs" / "licences.md"
NON_COMMERCIAL = re.compile(r"non-?commercial|\bNC\b|BY-NC", re.IGNORECASE)


def _table(heading: str) -> dict[str, list[str]]:
    """The rows of the table under `## heading`: first cell (backticks dropped) -> the other cells."""
    section = LICENCES.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return {cells[0].strip("` "): [cell.strip() for cell in cells[1:]] for cells in rows[1:]}


def core_dependencies() -> dict[str, metadata.Distribution]:
    """The installed distributions derain-bench's core install needs: its requirements without extras, and theirs
    (with the extras they ask for), by canonical name."""
    found: dict[str, metadata.Distribution] = {}

    def walk(name: str, extras: tuple[str, ...]) -> None:
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in extras):
                continue
            key = canonicalize_name(requirement.name)
            if key in found:
                continue
            try:
                found[key] = metadata.distribution(requirement.name)
            except metadata.PackageNotFoundError:  # a platform's requirement this machine does not install
                continue
            walk(requirement.name, tuple(requirement.extras) or ("",))

    walk("derain-bench", ("",))
    return found


def stated_licence(distribution: metadata.Distribution) -> str:
    """What the package's metadata says: License-Expression, else a one-line License, else its licence classifiers."""
    fields = distribution.metadata
    if fields.get("License-Expression"):
        return fields["License-Expression"]
    text = (fields.get("License") or "").strip()
    if text and text != "UNKNOWN" and "\n" not in text:
        return text
    return ", ".join(c.split("::")[-1].strip() for c in fields.get_all("Classifier") or [] if c.startswith("License"))


def _listed(name: str, table: dict[str, list[str]]) -> list[str] | None:
    return next((cells for pattern, cells in table.items() if fnmatch.fnmatch(name, pattern)), None)


def test_the_core_install_holds_nothing_non_commercial_and_nothing_unlisted():
    table = _table("Core runtime dependencies")
    core = core_dependencies()
    assert {"torch", "numpy", "lpips", "jinja2"} <= set(core)
    assert "pyiqa" not in core, "pyiqa (PolyForm-Noncommercial) belongs in the `pyiqa` extra, never the core install"
    unlisted = sorted(name for name in core if _listed(name, table) is None)
    assert not unlisted, f"new core dependencies: add them to {LICENCES.name} with their licence: {unlisted}"
    for name, distribution in core.items():
        stated, listed = stated_licence(distribution), _listed(name, table)
        assert not NON_COMMERCIAL.search(stated), f"{name} {distribution.version} is licensed {stated}"
        assert not NON_COMMERCIAL.search(listed[1]), name
        if not stated:  # the metadata says nothing: the table must say what it is, and how that was found
            assert listed[2].startswith("by hand"), f"{name}: its metadata states no licence; find and state it"


def test_the_check_recognises_the_licence_that_made_pyiqa_an_extra():
    try:
        pyiqa = metadata.distribution("pyiqa")
    except metadata.PackageNotFoundError:
        pytest.skip("pyiqa (the optional extra) is not installed")
    assert NON_COMMERCIAL.search(stated_licence(pyiqa)), stated_licence(pyiqa)
    assert "PolyForm-Noncommercial-1.0.0" in _table("Optional extras")["pyiqa"][1]


def test_every_weights_release_is_listed_with_the_licence_its_module_records():
    table = _table("Weights the suite downloads")
    for name in METHODS:
        weights = build_method(name).spec.weights
        if weights is None or not weights.url:
            continue
        release = "/".join(weights.url.split("/")[3:5])  # raw.githubusercontent.com/<owner>/<repo>/<commit>/...
        listed = _listed(family(name), table)
        assert listed is not None, f"{name}: add its family to {LICENCES.name}"
        assert listed == [release, weights.licence], name


def test_every_dataset_card_states_a_licence():
    for name in dataset_names():
        assert load_card(name).licence.strip(), name

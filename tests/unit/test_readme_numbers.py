"""Every measured number in the README and in docs/*.md equals the committed reference results it was taken from.

A table of results carries, in an HTML comment just above it, where its numbers come from:

    <!-- numbers: files=rain100h.json,rain12.json; dataset=rain100h; columns=method,-,psnr@matlab-double/ssim@... -->

`files` are under reports/reference/; `method` and `dataset` are fixed values or, when absent, come from the
columns of those names; each other column lists the results columns its cell shows ("a/b" for "x / y" cells,
`{p}` for the row's protocol in a table whose rows are protocols), or `-` for a cell that holds no measured
number (a published value, a formula). Each number must equal the committed mean rounded to the digits written.
Numbers in running text are listed in INLINE below. The slow reproduction tests tie the committed results to
fresh runs, so a number can drift neither in the documentation nor in the results without a test failing.
"""

import importlib.util
import json
import math
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "reports" / "reference"
PAGES = {
    path.relative_to(REPO).as_posix(): path.read_text(encoding="utf-8")
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
}
# one text: a table or sentence is checked wherever it stands, and moving it between pages needs no change here
README = "\n".join(PAGES.values())
ANNOTATION = re.compile(r"<!-- numbers: (?P<spec>.*?) -->\n(?P<table>(?:\|.*\|\n)+)")
NUMBER = re.compile(r"-?\d+\.\d+")


def _means(files: list[str]) -> dict[tuple[str, str], dict[str, float]]:
    means = {}
    for name in files:
        for run in json.loads((REFERENCE / name).read_text(encoding="utf-8"))["runs"]:
            means[run["method"], run["dataset"]] = {k: float(v) for k, v in run["means"].items()}
    return means


def _parse_spec(text: str) -> dict[str, str]:
    return dict(part.strip().split("=", 1) for part in text.split(";"))


def _first_token(cell: str) -> str:
    quoted = re.search(r"`([^`]+)`", cell)
    return quoted.group(1) if quoted else cell.split()[0]


def _tables():
    return [(match.group("spec"), match.group("table")) for match in ANNOTATION.finditer(README)]


def _checks() -> tuple[list[tuple], list[str]]:
    """(files, results key, column, number as written) for every annotated cell, and what could not be read."""
    checks, problems = [], []
    for spec_text, table in _tables():
        spec = _parse_spec(spec_text)
        columns = spec["columns"].split(",")
        rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table.splitlines()[2:]]
        for cells in rows:
            if len(cells) != len(columns):
                problems.append(f"table '{spec_text}': row {cells} does not match its columns")
                continue
            named = dict(zip(columns, cells, strict=True))
            method = spec.get("method") or _first_token(named["method"])
            dataset = spec.get("dataset") or _first_token(named["dataset"])
            protocol = _first_token(named["protocol"]) if "protocol" in named else None
            for column, cell in zip(columns, cells, strict=True):
                if column in ("-", "method", "dataset", "protocol"):
                    continue
                metrics = [m.format(p=protocol) for m in column.split("/")]
                numbers = NUMBER.findall(cell)
                if len(numbers) != len(metrics):
                    problems.append(f"cell '{cell}' of {method}/{dataset} should show {', '.join(metrics)}")
                    continue
                checks += [(spec["files"], (method, dataset), m, n) for m, n in zip(metrics, numbers, strict=True)]
    return checks, problems


CHECKS, PROBLEMS = _checks()

# (text holding the number, results file(s), the (method, dataset, column) it shows, and one subtracted from it)
PRENET_100H = ("prenet.rain100h", "rain100h")
FULL_100H = "full/rain100h/results.json"
MSDR_S_AND_M = "full/msdr-s/results.json,full/msdr-m/results.json"
TILESTATS = "full/msdr-tilestats/results.json"
M_TILESTATS_100L = ("msdr-m@tiled-tilestats", "rain100l", "psnr@matlab-double")
INLINE = [
    ("whose rainy input scores 18.54 dB", "demo.json", ("identity", "demo", "psnr@matlab-double"), None),
    (
        "`msdr-s-traintest` beats doing nothing by 0.68 dB",
        "rain12.json",
        ("msdr-s-traintest@tiled", "rain12", "psnr@matlab-double"),
        ("identity", "rain12", "psnr@matlab-double"),
    ),
    (
        "and 0.028 SSIM",
        "rain12.json",
        ("msdr-s-traintest@tiled", "rain12", "ssim@matlab-double"),
        ("identity", "rain12", "ssim@matlab-double"),
    ),
    ("score 28.06 dB under `rgb`", "rain100h.json", (*PRENET_100H, "psnr@rgb"), None),
    ("and 32.19 dB under `msdr-official`", "rain100h.json", (*PRENET_100H, "psnr@msdr-official"), None),
    (
        "4.13 dB apart between the extremes",
        "rain100h.json",
        (*PRENET_100H, "psnr@msdr-official"),
        (*PRENET_100H, "psnr@pyiqa-default"),
    ),
    (
        "`matlab-double` is 1.32 dB above",
        "rain100h.json",
        (*PRENET_100H, "psnr@matlab-double"),
        (*PRENET_100H, "psnr@opencv-fullrange"),
    ),
    (
        "`basicsr` is 0.0124 dB above",
        "rain100h.json",
        (*PRENET_100H, "psnr@basicsr"),
        (*PRENET_100H, "psnr@matlab-uint8"),
    ),
    # the full reproduction suite's committed results (reports/reference/full/, a `bench reproduce` folder)
    ("context rows score 16.97", FULL_100H, ("msdr-s-traintest@tiled", "rain100h", "psnr@matlab-double"), None),
    (
        "0.5010 (`msdr-s-traintest`, trained",
        FULL_100H,
        ("msdr-s-traintest@tiled", "rain100h", "ssim@matlab-double"),
        None,
    ),
    ("13.56 / 0.3787 (`identity`)", FULL_100H, ("identity", "rain100h", "psnr@matlab-double"), None),
    ("0.3787 (`identity`)", FULL_100H, ("identity", "rain100h", "ssim@matlab-double"), None),
    (
        "1.26 dB less",
        MSDR_S_AND_M,
        ("msdr-s@tiled", "rain100l", "psnr@matlab-double"),
        ("msdr-m@tiled", "rain100l", "psnr@matlab-double"),
    ),
    (
        "and 3.94 dB less on Rain12",
        MSDR_S_AND_M,
        ("msdr-s@tiled", "rain12", "psnr@matlab-double"),
        ("msdr-m@tiled", "rain12", "psnr@matlab-double"),
    ),
    ("the same weights score 32.95 dB on Rain100L", TILESTATS, M_TILESTATS_100L, None),
    ("and 34.34 dB on Rain12", TILESTATS, ("msdr-m@tiled-tilestats", "rain12", "psnr@matlab-double"), None),
    (
        "2.9 dB above `msdr-s` on Rain100L",
        f"{TILESTATS},full/msdr-s/results.json",
        M_TILESTATS_100L,
        ("msdr-s@tiled", "rain100l", "psnr@matlab-double"),
    ),
    (
        "2.6 dB above the training-free UGSM",
        f"{TILESTATS},full/ugsm-rain100l/results.json",
        M_TILESTATS_100L,
        ("ugsm", "rain100l", "psnr@matlab-double"),
    ),
    (
        "still 4.5 dB below PReNet",
        f"full/rain100l/results.json,{TILESTATS}",
        ("prenet.rain100l", "rain100l", "psnr@matlab-double"),
        M_TILESTATS_100L,
    ),
    (
        "on Rain100L and 2.3 dB on Rain12",
        f"full/rain12/results.json,{TILESTATS}",
        ("prenet.rain100l", "rain12", "psnr@matlab-double"),
        ("msdr-m@tiled-tilestats", "rain12", "psnr@matlab-double"),
    ),
]


def _decimals(number: str) -> int:
    return len(number.split(".")[1])


def _assert_shown_as(value: float, written: str, where: str) -> None:
    digits = _decimals(written)
    assert math.isfinite(value), where
    assert f"{value:.{digits}f}" == written, (
        f"{where}: the results say {value:.{digits + 2}f}, the documentation {written}"
    )


def test_annotated_tables_are_well_formed():
    assert _tables(), "the documentation has no annotated results table"
    assert not PROBLEMS


@pytest.mark.parametrize(("files", "key", "column", "written"), CHECKS, ids=lambda v: str(v))
def test_table_number_equals_committed_results(files, key, column, written):
    means = _means(files.split(","))
    assert key in means, f"{key} is not in {files}"
    _assert_shown_as(means[key][column], written, f"{key} {column}")


@pytest.mark.parametrize(("text", "file", "shown", "minus"), INLINE, ids=[i[0] for i in INLINE])
def test_inline_number_equals_committed_results(text, file, shown, minus):
    assert text in README, f"no page says '{text}' any more: update INLINE with it"
    means = _means(file.split(","))

    def mean(method, dataset, column):
        return means[method, dataset][column]

    value = mean(*shown) - (mean(*minus) if minus else 0.0)
    _assert_shown_as(value, NUMBER.findall(text)[0], text)


def test_every_reference_file_is_used_and_is_a_current_results_document():
    named = [files for files, *_ in CHECKS] + [i[1] for i in INLINE]
    used = {name for files in named for name in files.split(",")}
    used = {name for name in used if "/" not in name}  # the reproduction folders full/ and quick/ serve compare too
    # hardware_noise.json is a measurement, not a results document: its own test is at the end of this file
    committed = {p.name for p in REFERENCE.glob("*.json")} - {"hardware_noise.json"}
    assert used == committed
    for name in committed:
        document = json.loads((REFERENCE / name).read_text(encoding="utf-8"))
        assert document["schema"] == "derain-bench/results/v2"
        assert all(run["limited_to"] is None for run in document["runs"])


@pytest.mark.parametrize(
    ("checkpoint", "curve", "dataset"),
    [
        ("msdr-s-traintest", "demo PSNR (dB)", "demo"),
        ("msdr-s", "sample PSNR (dB)", "rain100l-sample10"),
        ("msdr-m", "`msdr-m` sample PSNR (dB)", "rain100l-sample10"),
    ],
)
def test_a_training_curve_ends_where_its_checkpoint_says(checkpoint, curve, dataset):
    """A curve's last validation PSNR and step are the ones the committed checkpoint records."""
    import torch

    path = REPO / "msdr" / "checkpoints" / f"{checkpoint}.pt"
    last = torch.load(path, weights_only=True, map_location="cpu")["training"]["last_validation"]
    table = re.search(r"\| step \|(.*)\|\n(?:\|.*\|\n)*?\| " + re.escape(curve) + r" \|(.*)\|\n", README)
    steps, values = table.group(1).split("|"), table.group(2).split("|")
    assert steps[-1].strip() == f"{last['step'] // 1000}k" and last["dataset"] == dataset
    _assert_shown_as(last["psnr@matlab-double"], values[-1].strip(), f"{checkpoint}'s last validation PSNR")


def test_the_hardware_noise_tables_and_tolerances_are_the_committed_measurement():
    """The hardware-noise tables of docs/drift-gate.md are tests/bench/hardware_noise.py's rendering of the committed
    measurement, and its sentence on the gate's tolerances across hardware is the one `bench compare` prints."""
    from bench.results.compare import describe_hardware_tolerances

    spec = importlib.util.spec_from_file_location("hardware_noise", REPO / "tests" / "bench" / "hardware_noise.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    summary = json.loads((REFERENCE / "hardware_noise.json").read_text(encoding="utf-8"))
    assert script.markdown(summary) in README
    assert describe_hardware_tolerances() in " ".join(README.split())


def _unannotated_tables(text: str) -> list[str]:
    """The first line of every table showing a "PSNR / SSIM" pair of four decimals with no `numbers` comment above."""
    found, lines = [], text.splitlines()
    for start, line in enumerate(lines):
        if not line.startswith("|") or (start and lines[start - 1].startswith("|")):
            continue
        end = next((k for k in range(start, len(lines)) if not lines[k].startswith("|")), len(lines))
        measured = any(re.search(r"\d+\.\d{4} / 0\.\d{4}", row) for row in lines[start:end])
        if measured and not (start and lines[start - 1].startswith("<!-- numbers:")):
            found.append(line)
    return found


def test_every_table_of_measured_numbers_names_its_results():
    """A results table without its `numbers` comment would escape every check above."""
    assert {page: tables for page, text in PAGES.items() if (tables := _unannotated_tables(text))} == {}
    assert _unannotated_tables("| a | b |\n|---|---|\n| x | 29.4647 / 0.8990 |\n") == ["| a | b |"]

"""An interrupted run resumes from its journal: nothing lost, nothing recomputed, the same numbers.

A real `kill -9` of a running `python -m bench run` (mid-image: the journal holds some rows of the first cell), a
torn last journal line (what a kill in the middle of a write leaves: written here byte for byte), and a kill
between two cells (the journal of a finished run cut after its first cell); each resumed run ends with results
equal, number for number, to an uninterrupted run's, and says how many images it took from the journal.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli import EXIT_INPUT_ERROR, main
from bench.run.journal import JOURNAL_FILE, read_journal

RUN = ["run", "--methods", "ugsm,identity", "--datasets", "demo", "--no-progress"]
IMAGES = 6  # the demo set


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def offline(cache, monkeypatch):
    monkeypatch.setenv("DERAIN_BENCH_CACHE", str(cache))
    monkeypatch.setenv("DERAIN_BENCH_OFFLINE", "1")
    monkeypatch.delenv("DERAIN_BENCH_MIRROR", raising=False)


@pytest.fixture(scope="module")
def uninterrupted(cache, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("uninterrupted")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DERAIN_BENCH_CACHE", str(cache))
        patch.setenv("DERAIN_BENCH_OFFLINE", "1")
        assert main([*RUN, "--out", str(out), "--overwrite"]) == 0
    return json.loads((out / "results.json").read_text())


def _numbers(document: dict) -> list:
    """Every cell's means and rows, without the timings (which a resumed run cannot reproduce)."""
    return [
        (
            run["method"],
            run["dataset"],
            run["means"],
            [{k: v for k, v in r.items() if k != "forward_ms"} for r in run["rows"]],
        )
        for run in document["runs"]
    ]


def _rows_in(journal: Path) -> int:
    return sum(len(rows) for rows in read_journal(journal)[1].values()) if journal.exists() else 0


def _resume(out: Path, capsys) -> tuple[dict, str]:
    assert main([*RUN, "--out", str(out)]) == 0
    document = json.loads((out / "results.json").read_text())
    assert not (out / JOURNAL_FILE).exists()  # a finished run removes its journal
    return document, capsys.readouterr().err


def test_kill_9_mid_run_then_resume_computes_only_the_missing_images(tmp_path, uninterrupted, capsys):
    out = tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-m", "bench", *RUN, "--out", str(out)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _rows_in(out / JOURNAL_FILE) < 2 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)  # in the middle of the third image of ugsm, most likely
    child.wait()
    assert not (out / "results.json").exists()
    journaled = _rows_in(out / JOURNAL_FILE)
    assert 2 <= journaled < 2 * IMAGES

    document, said = _resume(out, capsys)
    assert _numbers(document) == _numbers(uninterrupted)
    resumed = [run["timing"]["resumed_images"] for run in document["runs"]]
    assert sum(resumed) == journaled and resumed[0] == min(journaled, IMAGES)
    assert f"resuming: {resumed[0]} of {IMAGES} images of ugsm/demo already done" in said


def _finished_journal(tmp_path: Path, uninterrupted: dict) -> tuple[Path, list[str]]:
    """An interrupted run's folder, made from the lines a finished run would have journaled."""
    out = tmp_path / "out"
    assert main([*RUN, "--out", str(out), "--overwrite"]) == 0  # to get its header; its journal is gone
    header = {"journal": "derain-bench/journal/v1", **_header_of(out)}
    lines = [json.dumps(header)]
    for run in uninterrupted["runs"]:
        lines += [json.dumps({"method": run["method"], "dataset": run["dataset"], "row": r}) for r in run["rows"]]
    (out / "results.json").unlink()
    return out, lines


def _header_of(out: Path) -> dict:
    from bench.common.checkout import git_state

    config_hash = json.loads((out / "results.json").read_text())["config_hash"]
    return {"config_hash": config_hash, "save_images": False, "commit": git_state()["commit"]}


def test_a_torn_last_line_is_dropped_and_that_image_computed_again(tmp_path, uninterrupted, capsys):
    out, lines = _finished_journal(tmp_path, uninterrupted)
    kept = lines[: 1 + 4]
    torn = lines[5][: len(lines[5]) // 2]  # a kill in the middle of writing the fifth row
    (out / JOURNAL_FILE).write_text("\n".join(kept) + "\n" + torn)
    document, said = _resume(out, capsys)
    assert _numbers(document) == _numbers(uninterrupted)
    assert [run["timing"]["resumed_images"] for run in document["runs"]] == [4, 0]
    assert "resuming: 4 of 6 images of ugsm/demo already done" in said


def test_a_kill_between_cells_resumes_at_the_second(tmp_path, uninterrupted, capsys):
    out, lines = _finished_journal(tmp_path, uninterrupted)
    (out / JOURNAL_FILE).write_text("\n".join(lines[: 1 + IMAGES]) + "\n")
    document, said = _resume(out, capsys)
    assert _numbers(document) == _numbers(uninterrupted)
    assert [run["timing"]["resumed_images"] for run in document["runs"]] == [IMAGES, 0]
    assert "images of identity/demo already done" not in said


def test_a_damaged_journal_or_another_runs_journal_is_refused_until_overwrite(tmp_path, uninterrupted, capsys):
    out, lines = _finished_journal(tmp_path, uninterrupted)
    (out / JOURNAL_FILE).write_text("\n".join([*lines[:3], "{not json", *lines[3:5]]) + "\n")
    assert main([*RUN, "--out", str(out)]) == EXIT_INPUT_ERROR
    assert "line 4 is not a journal entry" in capsys.readouterr().err

    (out / JOURNAL_FILE).write_text("\n".join(lines[:3]) + "\n")
    assert main([*RUN, "--limit", "2", "--out", str(out)]) == EXIT_INPUT_ERROR  # another config
    err = capsys.readouterr().err
    assert "holds an interrupted run that differs from this one in config_hash" in err and "--overwrite" in err

    assert main([*RUN, "--limit", "2", "--out", str(out), "--overwrite"]) == 0
    document = json.loads((out / "results.json").read_text())
    assert [run["timing"]["resumed_images"] for run in document["runs"]] == [0, 0]


def test_input_files_that_changed_since_are_computed_again(tmp_path, uninterrupted, capsys):
    out, lines = _finished_journal(tmp_path, uninterrupted)
    edited = json.loads(lines[1])
    edited["row"]["rainy_sha256"] = "0" * 64  # as if the file had been replaced after it was scored
    (out / JOURNAL_FILE).write_text("\n".join([lines[0], json.dumps(edited), *lines[2:4]]) + "\n")
    document, said = _resume(out, capsys)
    assert _numbers(document) == _numbers(uninterrupted)
    assert [run["timing"]["resumed_images"] for run in document["runs"]] == [2, 0]
    assert "warning: ugsm/demo: 1 journaled image(s) computed again, their files changed since" in said

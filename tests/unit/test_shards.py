"""Job arrays without a rendezvous: `run --shard I/N` into N shard folders, then `merge`, equals one process's run
(every per-image number and output sha256); merging refuses what is not the N finished shards of one run."""

import json
from pathlib import Path

import pytest

from bench.cli import EXIT_INPUT_ERROR, main

RUN = ["run", "--methods", "ugsm,identity", "--datasets", "demo", "--no-progress", "--save-images"]


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv("DERAIN_BENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("DERAIN_BENCH_OFFLINE", "1")
    monkeypatch.delenv("DERAIN_BENCH_MIRROR", raising=False)


def _rows(out: Path) -> list:
    document = json.loads((out / "results.json").read_text())
    return [
        (run["method"], run["means"], [{k: v for k, v in r.items() if k != "forward_ms"} for r in run["rows"]])
        for run in document["runs"]
    ]


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "images").rglob("*.png"))}


@pytest.fixture(scope="module")
def three_shards(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shards")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DERAIN_BENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        patch.setenv("DERAIN_BENCH_OFFLINE", "1")
        patch.delenv("DERAIN_BENCH_MIRROR", raising=False)
        assert main([*RUN, "--out", str(root / "alone")]) == 0
        for index in range(3):
            assert main([*RUN, "--shard", f"{index}/3", "--out", str(root / str(index))]) == 0
    return root


def test_three_shards_merged_equal_one_process(three_shards, tmp_path, capsys):
    for index in range(3):  # a shard folder never looks like a finished run
        assert not (three_shards / str(index) / "results.json").exists()
    folders = [str(three_shards / str(index)) for index in (2, 0, 1)]  # in any order
    assert main(["merge", *folders, "--out", str(tmp_path / "merged"), "--no-progress"]) == 0
    assert "joined 3 shard folders in" in capsys.readouterr().out
    assert _rows(tmp_path / "merged") == _rows(three_shards / "alone")
    assert _files(tmp_path / "merged") == _files(three_shards / "alone")
    assert sorted(p.name for p in (tmp_path / "merged").iterdir()) == [
        "images",
        "per_image.csv",
        "results.json",
        "summary.csv",
    ]
    assert json.loads((tmp_path / "merged" / "results.json").read_text())["processes"]["launched_as"] == "shards"


def _refused(capsys, argv: list[str], out: Path) -> str:
    assert main([*argv, "--out", str(out), "--no-progress"]) == EXIT_INPUT_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and not (out / "results.json").exists(), err
    return err[0]


def test_a_missing_a_repeated_or_an_unfinished_shard_is_refused(three_shards, tmp_path, capsys):
    shard = [str(three_shards / str(index)) for index in range(3)]
    out = tmp_path / "merged"
    assert _refused(capsys, ["merge", shard[0], shard[2]], out) == "error: shards missing: 1/3; give every shard folder"
    assert f"a shard given more than once: 1/3 in {shard[1]}, {shard[1]}" in _refused(
        capsys, ["merge", *shard, shard[1]], out
    )
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    assert f"{unfinished} is not a finished shard folder (no shard.json)" in _refused(
        capsys, ["merge", shard[0], str(unfinished), shard[2]], out
    )


def test_shards_of_different_runs_or_splits_are_refused(three_shards, tmp_path, capsys):
    other = tmp_path / "other"
    assert main([*RUN[:2], "identity", *RUN[3:], "--shard", "1/3", "--out", str(other)]) == 0
    capsys.readouterr()
    shard = [str(three_shards / str(index)) for index in range(3)]
    message = _refused(capsys, ["merge", shard[0], str(other), shard[2]], tmp_path / "merged")
    assert "are shards of different runs (they differ in config_hash)" in message
    halves = tmp_path / "halves"
    assert main([*RUN, "--shard", "1/2", "--out", str(halves)]) == 0
    capsys.readouterr()
    message = _refused(capsys, ["merge", shard[0], str(halves)], tmp_path / "merged")
    assert message == "error: the shard folders split the run in different numbers of shards ([2, 3])"


@pytest.mark.parametrize("shard", ["3/3", "1", "a/b", "0/0", "1/2/3"])
def test_a_shard_outside_its_split_is_refused(shard, tmp_path, capsys):
    message = _refused(capsys, [*RUN, "--shard", shard], tmp_path / "out")
    assert message.startswith("error: --shard takes I/N with 0 <= I < N")

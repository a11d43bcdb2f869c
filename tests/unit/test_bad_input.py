"""Every kind of bad input is answered: a stated conversion recorded with the results, a warning in the results and
on the console, or one line on stderr with exit code 2 and no results.json. Never a traceback, never a number
computed from something silently misread.
"""

import errno
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from image_folders import pair_folder, write_png
from PIL import Image

from bench.cli import EXIT_INPUT_ERROR, main
from bench.methods.contract import DerainMethod
from bench.methods.registry import build_method

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DERAIN_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DERAIN_BENCH_OFFLINE", "1")
    monkeypatch.delenv("DERAIN_BENCH_MIRROR", raising=False)


def _run(capsys, folder: Path, out: Path, *extra: str) -> tuple[int, list[str], dict | None]:
    code = main(
        ["run", "--methods", "identity", "--dataset-dir", str(folder), "--out", str(out), "--no-progress", *extra]
    )
    err = capsys.readouterr().err.strip().splitlines()
    results = out / "results.json"
    return code, err, json.loads(results.read_text()) if results.exists() else None


def _refused(capsys, folder: Path, out: Path, expected: str, *extra: str) -> str:
    code, err, document = _run(capsys, folder, out, *extra)
    assert code == EXIT_INPUT_ERROR, err
    # one error line, last; before it only warnings and the progress of the run ("identity on dir:set (cpu)")
    assert [line for line in err if line.startswith("error: ")] == err[-1:], err
    assert all(line.startswith("warning: ") or line.endswith(" (cpu)") for line in err[:-1]), err
    assert expected in err[-1], err
    assert document is None
    return err[-1]


def _noise(size=(24, 32)) -> np.ndarray:
    return RNG.integers(0, 256, (*size, 3), dtype=np.uint8)


# ---- image kinds: converted by a stated rule, recorded, or refused ------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("L", "converted to RGB: greyscale, replicated to R, G and B"),
        ("P", "converted to RGB: palette, expanded to its RGB colours"),
        ("RGBA", "converted to RGB: RGBA, the alpha dropped if every pixel is opaque (else refused)"),
    ],
)
def test_a_converted_image_kind_is_recorded_and_said(tmp_path, capsys, mode, said):
    folder = pair_folder(tmp_path / "set")
    rgb = np.asarray(Image.open(folder / "norain" / "a.png"))
    converted = Image.fromarray(rgb).convert(mode)
    converted.save(folder / "norain" / "a.png")
    code, err, document = _run(capsys, folder, tmp_path / "out")
    assert code == 0
    warning = f"ground truth: {said}: 1 image: a"
    assert f"warning: dir:set: {warning}" in err
    assert warning in document["runs"][0]["dataset_info"]["warnings"]


def test_a_16_bit_png_is_refused(tmp_path, capsys):
    folder = pair_folder(tmp_path / "set")
    Image.fromarray(np.full((24, 32), 40000, dtype=np.uint16)).save(folder / "rain" / "b.png")
    _refused(capsys, folder, tmp_path / "out", "16-bit or float image (mode I;16); convert it to 8-bit RGB")


def test_a_transparent_png_is_refused(tmp_path, capsys):
    folder = pair_folder(tmp_path / "set")
    rgba = np.dstack([_noise(), np.full((24, 32), 128, dtype=np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(folder / "rain" / "a.png")
    _refused(capsys, folder, tmp_path / "out", "768 pixels are (partly) transparent")


def _jpeg_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def test_jpeg_data_under_a_png_name_is_scored_with_a_warning(tmp_path, capsys):
    folder = pair_folder(tmp_path / "set")
    (folder / "rain" / "b.png").write_bytes(_jpeg_bytes(_noise()))
    code, err, document = _run(capsys, folder, tmp_path / "out")
    assert code == 0
    warning = "rainy input: JPEG data under a .png name (lossy compression): 1 image: b"
    assert f"warning: dir:set: {warning}" in err
    assert warning in document["runs"][0]["dataset_info"]["warnings"]


def test_a_jpeg_ground_truth_is_scored_with_a_warning_in_results_and_report(tmp_path, capsys):
    folder = pair_folder(tmp_path / "set")
    for name in ("a", "b"):
        (folder / "norain" / f"{name}.png").unlink()
        (folder / "norain" / f"{name}.jpg").write_bytes(_jpeg_bytes(_noise()))
    code, _, document = _run(capsys, folder, tmp_path / "out")
    assert code == 0
    warning = "ground truth: JPEG data (lossy compression): 2 images: a, b"
    assert warning in document["runs"][0]["dataset_info"]["warnings"]
    assert main(["report", str(tmp_path / "out"), "--out", str(tmp_path / "report.html")]) == 0
    assert warning in (tmp_path / "report.html").read_text()


def test_byte_identical_images_in_one_set_are_named(tmp_path, capsys):
    folder = pair_folder(tmp_path / "set", names=("a", "b", "c"))
    (folder / "norain" / "c.png").write_bytes((folder / "norain" / "a.png").read_bytes())
    code, err, document = _run(capsys, folder, tmp_path / "out")
    assert code == 0
    assert "warning: dir:set: the ground truths of a, c are byte-identical files" in err
    assert "the ground truths of a, c are byte-identical files" in document["runs"][0]["dataset_info"]["warnings"]


# ---- what a method gives back ---------------------------------------------------------------------------------


def test_non_finite_output_stops_the_run_naming_method_and_image(tmp_path, capsys):
    net = build_method("prenet.rain100h")._build()
    state = net.state_dict()
    first = next(iter(state))
    state[first] = torch.full_like(state[first], float("nan"))
    torch.save(state, tmp_path / "nan.pth")
    folder = pair_folder(tmp_path / "set")
    argv = ["run", "--methods", "prenet.rain100h", "--weights", f"prenet.rain100h={tmp_path / 'nan.pth'}"]
    code = main([*argv, "--dataset-dir", str(folder), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_INPUT_ERROR
    assert err[-1].startswith("error: prenet.rain100h gave a non-finite output (NaN or inf) on dir:set/a;")
    assert not (tmp_path / "out" / "results.json").exists()


def test_running_out_of_device_memory_names_the_image_size_and_the_remedy(tmp_path, capsys, monkeypatch):
    def out_of_memory(self, x):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(DerainMethod, "forward", out_of_memory)
    line = _refused(capsys, pair_folder(tmp_path / "set"), tmp_path / "out", "identity ran out of CPU memory")
    assert "on dir:set/a (32x24 pixels); no results were written: run with --device cpu" in line


# ---- where results go --------------------------------------------------------------------------------------------


def test_a_full_disk_while_saving_images_names_the_file_and_leaves_nothing_finished(tmp_path, capsys, monkeypatch):
    def no_space(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", no_space)
    out = tmp_path / "out"
    line = _refused(capsys, pair_folder(tmp_path / "set"), out, "error: cannot write ", "--save-images")
    assert "/images/@rainy/dir:set/a.png: No space left on device; the run is not marked finished there" in line
    assert not (out / "results.json").exists() and not (out / "images").exists()  # nothing that looks finished


def test_permission_denied_on_the_results_names_the_file(tmp_path, capsys, monkeypatch):
    import bench.results.schema

    def denied(path, document):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(bench.results.schema, "write_json", denied)
    line = _refused(capsys, pair_folder(tmp_path / "set"), tmp_path / "out", "results.json: Permission denied")
    assert "free space or fix the permissions, then run again" in line


# ---- fuzz: files that are not what their names say ---------------------------------------------------------------


def _fuzzed_folders(root: Path) -> list[Path]:
    rng = np.random.default_rng(2026)
    folders = []
    good = _noise()
    for case in range(12):
        folder = pair_folder(root / f"case{case}", names=("a", "b"))
        victim = folder / ("rain" if case % 2 else "norain") / "b.png"
        data = victim.read_bytes()
        kind = case % 4
        if kind == 0:
            victim.write_bytes(rng.integers(0, 256, int(rng.integers(1, 4000)), dtype=np.uint8).tobytes())
        elif kind == 1:
            victim.write_bytes(data[: int(rng.integers(1, len(data) - 1))])
        elif kind == 2:
            victim.write_bytes(b"")
        else:
            flipped = bytearray(data)
            flipped[int(rng.integers(8, len(data)))] ^= 0xFF
            victim.write_bytes(bytes(flipped))
        folders.append(folder)
    crowded = root / "crowded"
    for k in range(3000):
        write_png(crowded / "rain" / f"r{k}.png", good[:2, :2]) if k < 3 else (crowded / "rain" / f"r{k}.png").touch()
    (crowded / "norain").mkdir()
    (crowded / "norain" / "unrelated.png").touch()
    folders.append(crowded)
    return folders


def test_fuzzed_files_get_one_line_and_exit_2_never_a_traceback(tmp_path, capsys):
    for folder in _fuzzed_folders(tmp_path / "fuzz"):
        _refused(capsys, folder, tmp_path / f"out-{folder.name}", "")


# ---- pairing refusals on the command line: whole paths, the rule the names follow, what --allow-incomplete does ----


def test_two_folders_that_do_not_pair_are_named_whole_on_the_command_line(tmp_path, capsys):
    rainy, clean = tmp_path / "nc" / "bad" / "missing", tmp_path / "work" / "norain"
    write_png(rainy / "rain-001.png", _noise())
    for i in (1, 2):
        write_png(clean / f"norain-00{i}.png", _noise())
    out = tmp_path / "out"
    code = main(
        ["run", "--methods", "identity", "--rainy-dir", str(rainy), "--clean-dir", str(clean), "--out", str(out)]
    )
    assert code == EXIT_INPUT_ERROR and not out.exists()
    assert capsys.readouterr().err.strip() == (
        f"error: pairing rainy in {rainy}/, clean in {clean}/: rain-XXX -> norain-XXX (PReNet) is incomplete: "
        "1 clean file that no rainy file pairs with: norain-002.png; --allow-incomplete scores the 1 complete pair, "
        "as a partial result"
    )


def test_allow_incomplete_scores_a_pair_folder_with_a_missing_file_as_a_partial_result(tmp_path, capsys):
    folder = pair_folder(tmp_path / "set", names=("rain-001", "rain-002", "rain-003"))
    for rainy in (folder / "rain").iterdir():  # the fixture's same-name pairs become PReNet's rain-N -> norain-N
        (folder / "norain" / rainy.name).rename(folder / "norain" / f"no{rainy.name}")
    (folder / "norain" / "norain-003.png").unlink()
    _refused(capsys, folder, tmp_path / "refused", "--allow-incomplete scores the 2 complete pairs")
    code, err, document = _run(capsys, folder, tmp_path / "out", "--allow-incomplete")
    assert code == 0 and document["runs"][0]["n"] == 2
    said = "--allow-incomplete: 2 complete pairs scored; "
    assert any(
        line.startswith(f"warning: dir:set: {said}") and "rain-003.png (no norain-003.png)" in line for line in err
    )
    assert document["runs"][0]["dataset_info"]["complete"] is False
    assert document["runs"][0]["dataset_info"]["warnings"][0].startswith(said)

"""pytest-benchmark timings of whole runs (`nox -s perf`): what the pipelined runner (bench.run.cell) achieves.

- identity on the mirrored Rain100H (100 pairs, PSNR/SSIM under matlab-double), in series and with 1 and 2
  workers: the harness alone, since the network does nothing. Each round is one `bench run`, in process.
- prenet.rain100h on its first 20 images, with the default workers: the share of the wall spent outside the
  forward passes (`extra_info.outside_forward`, the issue's "overhead").

Images per second and the step sums (decoding, scoring) are in `extra_info`. Needs the data mirror.
"""

import json
import os

import pytest

from bench.cli import main

pytestmark = [pytest.mark.perf, pytest.mark.reference]


def _run(out, *argv) -> dict:
    assert main(["run", *argv, "--no-progress", "--overwrite", "--out", str(out)]) == 0
    return json.loads((out / "results.json").read_text())


def _record(benchmark, document: dict) -> None:
    (cell,) = document["runs"]
    timing = cell["timing"]
    benchmark.extra_info.update(
        images=cell["n"],
        images_per_s=cell["n"] / document["timing"]["wall_s"],
        cell_ms_per_image=1000 * timing["wall_s"] / cell["n"],
        decode_ms_per_image=1000 * timing["load_and_convert_s"] / cell["n"],
        score_ms_per_image=1000 * timing["score_s"] / cell["n"],
        outside_forward=1 - timing["forward_s"] / timing["wall_s"],
        workers=timing["workers"],
        cpus=len(os.sched_getaffinity(0)),
    )


@pytest.mark.benchmark(group="identity on Rain100H (100 pairs), whole run")
@pytest.mark.parametrize("workers", ["0", "1", "2"])
def test_identity_on_rain100h(benchmark, mirrored_env, tmp_path, workers):
    args = ("--methods", "identity", "--datasets", "rain100h", "--workers", workers)
    document = benchmark.pedantic(_run, args=(tmp_path / "out", *args), rounds=3, warmup_rounds=1)
    _record(benchmark, document)


@pytest.mark.benchmark(group="prenet.rain100h on 20 Rain100H images, whole run")
def test_prenet_overhead(benchmark, mirrored_env, tmp_path):
    args = ("--methods", "prenet.rain100h", "--datasets", "rain100h", "--limit", "20")
    document = benchmark.pedantic(_run, args=(tmp_path / "out", *args), rounds=1, warmup_rounds=0)
    _record(benchmark, document)

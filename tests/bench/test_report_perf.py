"""The report on a full test set (`nox -s perf`): Rain100H's 100 images, six methods, every image kept.

Measures the time to render and the size of the HTML (aim: under 10 s and under 8 MB on a 2-core CPU). The six
methods are identity and cheap box blurs (tests/toy_methods.py): a report's cost depends on the images and the
number of methods, not on what the network was.
"""

import pytest

from bench.cli import main
from bench.methods import registry
from bench.report import render_report

pytestmark = [pytest.mark.perf, pytest.mark.reference]

BLURS = ("blur-3", "blur-5", "blur-7", "blur-9")


@pytest.fixture(scope="module")
def rain100h_run(tmp_path_factory, mirror):
    out = tmp_path_factory.mktemp("report-perf") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DERAIN_BENCH_MIRROR", str(mirror))
        patch.setenv("DERAIN_BENCH_CACHE", str(out.parent / "cache"))
        patch.setitem(registry.METHODS, "brighten-blur", "toy_methods:build")
        for name in BLURS:
            patch.setitem(registry.METHODS, name, "toy_methods:build_blur")
        methods = ",".join(["identity", "brighten-blur", *BLURS])
        args = ["run", "--methods", methods, "--datasets", "rain100h", "--out", str(out), "--save-images"]
        assert main([*args, "--no-progress"]) == 0
    return out


def test_report_of_rain100h_with_six_methods(benchmark, rain100h_run):
    html = benchmark.pedantic(render_report, args=([rain100h_run],), rounds=3, iterations=1)
    size_mb = len(html.encode()) / 1e6
    benchmark.extra_info["html_mb"] = round(size_mb, 2)
    print(f"report of 100 images x 6 methods: {size_mb:.2f} MB")
    assert size_mb < 8

"""Published numbers stand beside a run only when the run is comparable with them."""

import pytest

from bench.results.schema import RunResult

PUBLISHED = {"rain100h": {"psnr@matlab-double": 29.46, "ssim@matlab-double": 0.899}}


def _result(limited_to=None, complete=True, n=100, source="declared", dataset="rain100h") -> RunResult:
    method = {"name": "prenet.rain100h", "published": PUBLISHED, "loaded_weights": {"source": source}}
    data = {"name": dataset, "n": n, "expected": 100, "complete": complete}
    rows = [{"image": f"i{k}", "psnr@matlab-double": 29.0} for k in range(limited_to or n)]
    return RunResult(method=method, dataset=data, columns=["psnr@matlab-double"], rows=rows, limited_to=limited_to)


def test_a_full_run_shows_them():
    document = _result().to_dict()
    assert document["published"] == PUBLISHED["rain100h"] and document["published_withheld"] is None


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"limited_to": 10}, "--limit 10: the means are over the first 10 of 100 images"),
        ({"complete": False, "n": 90}, "incomplete copy of the set: 90 of 100 images"),
        ({"source": "user"}, "your weights replaced the published ones"),
    ],
)
def test_a_partial_or_other_run_withholds_them_and_says_why(settings, reason):
    document = _result(**settings).to_dict()
    assert document["published"] == {} and document["published_withheld"] == reason


def test_no_published_numbers_no_reason():
    document = _result(dataset="rain12").to_dict()
    assert document["published"] == {} and document["published_withheld"] is None

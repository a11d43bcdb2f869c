"""`python -m bench ls methods`: grouped by family, with training set, parameters, weights location, published."""

from pathlib import Path

import pytest

from bench.common.assets import Store
from bench.methods.listing import format_method_table, method_rows


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    return method_rows(Store(cache=tmp_path_factory.mktemp("cache"), offline=True))


def test_rows_are_grouped_by_family_in_registration_order(families):
    assert list(families)[:7] == ["identity", "ugsm", "prenet", "brn", "spanet", "jorder_e", "recderain"]
    rows = {row[0]: row for group in families.values() for row in group}
    assert rows["brn.rain100l"] == ("brn.rain100l", "RainTrainL", "412,518", "download", "rain100l, rain12")
    assert rows["identity"] == ("identity", "none", "0", "-", "-")
    assert rows["ugsm"] == ("ugsm", "none", "0", "-", "-")
    assert rows["msdr@tiled"][3] == "yours" and rows["msdr-s@tiled"][3] == "in repo"


def test_weights_are_reported_where_they_are(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "weights/brn_icassp/CRN/R100H").mkdir(parents=True)
    (mirror / "weights/brn_icassp/CRN/R100H/net_latest.pth").write_bytes(b"")
    cache = tmp_path / "cache"
    (cache / "weights/brn_icassp/BRN/R100H").mkdir(parents=True)
    (cache / "weights/brn_icassp/BRN/R100H/net_latest.pth").write_bytes(b"")
    rows = {r[0]: r for g in method_rows(Store(cache=cache, mirror=mirror, offline=True)).values() for r in g}
    assert (rows["crn.rain100h"][3], rows["brn.rain100h"][3], rows["brn_rx.rain100h"][3]) == (
        "mirrored",
        "cached",
        "download",
    )


def test_the_table_names_each_family_once_above_its_rows(tmp_path: Path):
    table = format_method_table(Store(cache=tmp_path, offline=True))
    assert "\nbrn: BRN and its ablations BRN-XR, BRN-RX and CRN\n  brn.rain100h " in table
    assert table.count("\nrecderain: ") == 1 and table.splitlines()[0].split() == [
        "name",
        "trained",
        "on",
        "params",
        "weights",
        "published",
        "on",
    ]

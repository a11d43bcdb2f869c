"""Anchors: what ties the tests to the real world (the data mirror, GNU Octave, BasicSR's own code).

On a user's clone a test whose anchor is missing skips with the reason. In CI (`DERAIN_BENCH_REQUIRE_ANCHORS=1`,
set by `.ci/run`) the same test fails with that reason, so CI can never pass with the anchors switched off.
"""

import os

import pytest

ENV_REQUIRE_ANCHORS = "DERAIN_BENCH_REQUIRE_ANCHORS"


def anchors_required() -> bool:
    return os.environ.get(ENV_REQUIRE_ANCHORS, "") not in ("", "0")


def missing_anchor(reason: str):
    """Skip the test for `reason`, or fail it when anchors are required."""
    if anchors_required():
        pytest.fail(f"{reason}; {ENV_REQUIRE_ANCHORS} is set (CI), so this test must run, not skip", pytrace=False)
    pytest.skip(reason)


def import_pyiqa():
    """pyiqa, the optional extra (`pip install -e ".[pyiqa]"`, part of `.[test]`), or skip/fail saying so."""
    try:
        import pyiqa
    except ImportError:
        missing_anchor('pyiqa is not installed (the extra: pip install -e ".[pyiqa]", part of ".[test]")')
    return pyiqa

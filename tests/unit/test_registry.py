"""Method names, lazy imports and helpful errors."""

import subprocess
import sys

import pytest

from bench.errors import UnknownNameError
from bench.registry import build_method, method_names


def test_prenet_family_and_identity_are_registered():
    expected = {
        f"{a}.{t}" for a in ("prenet", "prenet_r", "prn", "prn_r") for t in ("rain100h", "rain100l", "rain1400")
    }
    expected |= {"prenet.real1", "prenet.real2", "identity"}
    assert expected <= set(method_names())


def test_unknown_method_suggests_close_names():
    with pytest.raises(UnknownNameError) as excinfo:
        build_method("prenett.rain100h")
    message = str(excinfo.value)
    assert "Unknown method 'prenett.rain100h'" in message and "Did you mean: prenet.rain100h" in message


def test_bare_architecture_name_suggests_its_tags():
    with pytest.raises(UnknownNameError, match=r"Did you mean: .*prenet\.r"):
        build_method("prenet")


@pytest.mark.parametrize("module", ["bench", "bench.registry", "bench.cli"])
def test_importing_the_harness_loads_no_model_or_torch(module):
    code = (
        f"import sys, {module}; print(sorted(m for m in ('torch', 'baselines', 'bench.metrics') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

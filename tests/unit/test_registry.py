"""Method names, lazy imports and helpful errors."""

import subprocess
import sys

import pytest

from bench.common.errors import UnknownNameError
from bench.methods.registry import (
    build_method,
    default_names,
    family,
    method_names,
    parse_method_name,
    resolve_method_names,
)


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


def test_bare_architecture_names_stand_for_their_first_registered_weights():
    assert resolve_method_names(["prenet", "spanet", "brn_tip", "rescan@x", "msdr", "identity", "prn.rain100l"]) == (
        "prenet.rain100h",
        "spanet.spa",  # SPANet's own release, not the BRN authors' re-training
        "brn_tip.rain100h",
        "rescan.rain200h@x",
        "msdr",
        "identity",
        "prn.rain100l",
    )
    assert default_names()["srn_tip"] == "srn_tip.real"


def test_every_unknown_method_is_reported_in_one_error():
    with pytest.raises(UnknownNameError) as excinfo:
        resolve_method_names(["prenet", "foo", "brn_tipp", "foo"])
    message = str(excinfo.value)
    assert message.startswith("Unknown methods 'foo', 'brn_tipp' (did you mean: brn_tip")
    assert message.count("Available:") == 1 and "prenet, prenet.rain100h" in message


@pytest.mark.parametrize("module", ["bench", "bench.methods.registry", "bench.cli"])
def test_importing_the_harness_loads_no_model_or_torch(module):
    code = (
        f"import sys, {module}; print(sorted(m for m in ('torch', 'baselines', 'bench.metrics') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_inference_protocols_are_chosen_by_a_name_suffix():
    assert build_method("msdr-s@tiled").spec.inference == "tiled"
    assert build_method("msdr@paper").spec.inference == "paper"
    assert build_method("prenet.rain100h").spec.inference is None
    assert parse_method_name("msdr@tiled") == ("msdr", "tiled")
    assert parse_method_name("prenet.rain100h") == ("prenet.rain100h", None)


def test_a_bare_name_runs_the_default_protocol_and_records_it_in_its_name():
    assert (build_method("msdr").spec.name, build_method("msdr").spec.inference) == ("msdr@paper", "paper")
    assert (build_method("msdr-s").spec.name, build_method("msdr-s").spec.inference) == ("msdr-s@tiled", "tiled")


def test_method_names_spell_out_the_protocols():
    names = method_names()
    assert {"msdr@paper", "msdr@tiled", "msdr-s@paper", "msdr-s@tiled", "identity"} <= set(names)
    assert "msdr" not in names and not any(name.startswith("prenet.rain100h@") for name in names)
    assert names.index("msdr@tiled") < names.index("msdr-s@paper")


def test_unknown_protocol_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match=r"Unknown msdr inference protocol 'bogus'\. Available: paper, tiled"):
        build_method("msdr@bogus")


def test_protocol_on_a_method_without_protocols_is_an_error():
    with pytest.raises(UnknownNameError, match=r"'prenet\.rain100h' has no inference protocols.*drop '@tiled'"):
        build_method("prenet.rain100h@tiled")


def test_unknown_method_with_or_without_protocol_suggests_msdr():
    for name in ("msdrr", "msdrr@tiled"):
        with pytest.raises(UnknownNameError, match=r"Unknown method 'msdrr'\. Did you mean: msdr\b"):
            build_method(name)


def test_every_registered_name_builds_with_its_own_name_and_declared_weights():
    """The registry's name lists and the families' weights tables agree: no name without weights, none missing."""
    for name in method_names():
        method = build_method(name)
        assert method.spec.name == name or method.spec.name == f"{name}@{method.spec.inference}"
        family_weights = method.spec.weights
        if family_weights is not None:
            assert family_weights.path.startswith("weights/") and len(family_weights.sha256) == 64


def test_families_group_names_by_the_module_that_builds_them():
    assert family("brn.rain100h") == family("crn.rain100l") == "brn"
    assert family("brn_tip.rain100h") == family("rescan.rain200h") == family("prenet.rain200l") == "recderain"
    assert family("prenet.rain100h") == "prenet"
    assert family("msdr@tiled") == family("msdr-s") == "msdr"


def test_each_weights_file_belongs_to_one_name():
    files = [build_method(name).spec.weights for name in method_names()]
    paths = [f.path for f in files if f is not None]
    assert len(paths) == len(set(paths))

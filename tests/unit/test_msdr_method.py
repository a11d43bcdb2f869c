"""MSDR-Net as a method: inference protocols, BGR [-1, 1] conversion, quantisation, checkpoints, names."""

import copy
import dataclasses
import itertools

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import msdr.method
from baselines.prenet import PReNet
from bench.common.assets import sha256_file
from bench.common.errors import AssetError, ChecksumError
from bench.methods.checkpoints import read_state_dict
from bench.methods.contract import DerainMethod, MethodSpec, Quantisation
from bench.methods.registry import INFERENCE_PROTOCOLS, build_method
from msdr.method import (
    CHECKPOINT_FORMAT,
    INFERENCE,
    VARIANTS,
    blend_window,
    normalise_by_tile_statistics,
    paper_inference,
    reflect_pad_to,
    tile_starts,
    tiled_inference,
)
from msdr.model import MSDRNet

TILE = 16
CPU = torch.device("cpu")


def _identity(x: torch.Tensor) -> torch.Tensor:
    assert x.shape[-2:] == (TILE, TILE)
    return x


# ---- tiling -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "width"),
    [(5, 7), (TILE, TILE), (TILE, 40), (40, TILE), (33, 51), (51, 33), (17, 9), (1, 30), (64, 64)],
)
def test_tiling_an_identity_network_gives_back_the_input(height, width):
    x = torch.rand(1, 3, height, width)
    torch.testing.assert_close(tiled_inference(_identity, x, TILE), x, rtol=0, atol=1e-6)


@pytest.mark.parametrize("max_batch", [1, 3, 100])
def test_tiles_go_through_the_network_in_bounded_batches(max_batch):
    batches = []

    def recording(x: torch.Tensor) -> torch.Tensor:
        batches.append(x.shape[0])
        return _identity(x)

    x = torch.rand(2, 3, 40, 50)  # 2 images of 3 x 4 tiles (rows at 0, 12, 24; columns at 0, 12, 24, 34)
    torch.testing.assert_close(tiled_inference(recording, x, TILE, max_batch=max_batch), x, rtol=0, atol=1e-6)
    assert sum(batches) == 2 * 3 * 4 and max(batches) <= 2 * max_batch


def test_a_network_adding_a_constant_adds_it_everywhere():
    x = torch.rand(1, 3, 37, 45)
    y = tiled_inference(lambda t: t + 0.25, x, TILE)
    torch.testing.assert_close(y, x + 0.25, rtol=0, atol=1e-6)


def test_blend_weights_are_positive_and_normalise_to_one():
    window = blend_window(TILE)
    assert window.min() > 0 and window.argmax() // TILE in (TILE // 2 - 1, TILE // 2)
    torch.testing.assert_close(window, window.T)
    torch.testing.assert_close(window, torch.outer(window[TILE // 2], window[:, TILE // 2]) / window.max())
    ones = tiled_inference(torch.ones_like, torch.rand(1, 3, 45, 29), TILE)  # the blend is a weighted mean
    torch.testing.assert_close(ones, torch.ones_like(ones), rtol=0, atol=1e-6)


@pytest.mark.parametrize("length", [TILE, TILE + 1, 29, 40, 100])
def test_tiles_cover_the_side_overlapping_by_at_least_a_quarter_the_last_flush(length):
    stride = TILE - TILE // 4
    starts = tile_starts(length, TILE, stride)
    assert starts[0] == 0 and starts[-1] == length - TILE
    assert all(0 < b - a <= stride for a, b in itertools.pairwise(starts))


def test_reflect_padding_matches_torch_and_repeats_for_tiny_images():
    x = torch.rand(1, 3, 9, 6)
    torch.testing.assert_close(reflect_pad_to(x, 12, 10), F.pad(x, (0, 4, 0, 3), mode="reflect"), rtol=0, atol=0)
    row = torch.tensor([[[[0.0, 1.0, 2.0]]]])
    assert reflect_pad_to(row, 1, 9).flatten().tolist() == [0, 1, 2, 1, 0, 1, 2, 1, 0]
    assert reflect_pad_to(row, 4, 3).shape == (1, 1, 4, 3)  # a single row is repeated


def test_blending_leaves_no_seams():
    ramp = torch.linspace(0, 1, 100).expand(1, 3, 20, 100).contiguous()
    steps = tiled_inference(_identity, ramp, TILE).diff(dim=-1)
    torch.testing.assert_close(steps, torch.full_like(steps, 1 / 99), rtol=0, atol=1e-6)
    # a network whose output depends on the whole tile, as MSDR-Net's global bottleneck does: each 32-pixel tile adds
    # its mean, so neighbouring tiles disagree by up to stride / 99 = 24 / 99; without blending that would be one step,
    # blending spreads it over the 8-pixel overlap
    offset = tiled_inference(lambda t: t + t.mean(dim=(1, 2, 3), keepdim=True), ramp, 32) - ramp
    assert offset.diff(dim=-1).abs().max() < (24 / 99) / 3


def test_paper_protocol_resizes_to_the_network_size_and_back_as_cv2_does():
    image = np.random.default_rng(0).random((23, 37, 3), dtype=np.float32)
    x = torch.from_numpy(image).permute(2, 0, 1)[None]
    y = paper_inference(_identity, x, TILE)
    assert y.shape == x.shape
    expected = cv2.resize(cv2.resize(image, (TILE, TILE), interpolation=cv2.INTER_LINEAR), (37, 23))
    torch.testing.assert_close(y[0].permute(1, 2, 0).numpy(), expected, rtol=0, atol=1e-5)


# ---- conversion to the network's convention and back ---------------------------------------------------------


class _FakeNet(nn.Module):
    """Stands in for MSDRNet: records what it sees; `derain` applies `fn`."""

    image_size = TILE

    def __init__(self, fn=lambda x: x):
        super().__init__()
        self.fn = fn
        self.seen: list[torch.Tensor] = []

    def derain(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2:] == (TILE, TILE)
        self.seen.append(x)
        return self.fn(x)


def _with_net(name: str, net: nn.Module) -> DerainMethod:
    method = build_method(name)
    method.net = net
    return method


def _run(method: DerainMethod, image: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return method.to_output(method.forward(method.to_input(image)))


@pytest.mark.parametrize("name", ["msdr@paper", "msdr@tiled"])
def test_the_network_sees_bgr_in_minus_one_to_one_and_its_output_is_reordered_back(name):
    image = np.empty((TILE, TILE, 3), dtype=np.uint8)
    image[...] = (255, 128, 0)  # R, G, B
    net = _FakeNet()
    assert np.array_equal(_run(_with_net(name, net), image), image)
    seen = net.seen[0][0, :, 0, 0].tolist()
    assert seen == [-1.0, np.float32(0.5 / 127.5), 1.0]  # B, G, R as (u - 127.5) / 127.5
    blue_to_black = _FakeNet(lambda x: torch.cat([torch.full_like(x[:, :1], -1.0), x[:, 1:]], dim=1))
    image[...] = (200, 150, 100)
    assert _run(_with_net(name, blue_to_black), image)[0, 0].tolist() == [200, 150, 0]


def test_an_identity_network_reproduces_the_official_normalise_then_truncate_round_trip():
    levels = np.arange(256, dtype=np.uint8).reshape(TILE, TILE, 1).repeat(3, axis=2)  # one tile, every grey level
    normalised = (levels.astype(np.float32) - np.float32(127.5)) / np.float32(127.5)  # the script's input
    official = np.uint8((normalised + np.float32(1)) * np.float32(127.5))  # the script's saving step
    assert np.array_equal(_run(_with_net("msdr@paper", _FakeNet()), levels), official)
    lost = np.flatnonzero(official[..., 0] != levels[..., 0])
    assert lost.tolist() == list(range(1, 96))  # truncation costs levels 1..95 one grey level, as in the script


@pytest.mark.parametrize(("y", "expected"), [(0.999, 254), (-1.0, 0), (1.0, 255), (0.0, 127), (1.5, 255), (-2.0, 0)])
def test_signed_truncation_of_known_values(y, expected):
    method = DerainMethod(MethodSpec(name="t", summary="t", quantisation=Quantisation.TRUNCATE_SIGNED), nn.Identity)
    assert (method.to_output(torch.full((1, 3, 2, 2), y)) == expected).all()


def test_msdr_declares_its_quantisation_and_input_convention():
    spec = build_method("msdr").spec
    assert spec.quantisation is Quantisation.TRUNCATE_SIGNED
    assert "BGR" in spec.input_range and spec.size_policy.startswith("paper:")


# ---- checkpoints ---------------------------------------------------------------------------------------------

SMALL = {"base_channels": 8, "image_size": 64, "faithful": True}
TRAINING = {"dataset": "rain100l", "iterations": 10}


@pytest.fixture(scope="module")
def small_net() -> MSDRNet:
    torch.manual_seed(0)
    net = MSDRNet(**SMALL).eval()
    for module in net.modules():  # non-trivial running statistics, so a load that skips them shows
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return net


def _export(path, net: nn.Module, **overrides):
    """Save `net` in the export format (msdr.export's), with `overrides` replacing or adding top-level keys."""
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "model_config": SMALL,
        "state_dict": net.state_dict(),
        "training": TRAINING,
    }
    torch.save(checkpoint | overrides, path)
    return path


def _assert_one_line(excinfo: pytest.ExceptionInfo) -> None:
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize("half", [False, True])
def test_an_exported_checkpoint_loads_strictly_and_is_recorded(tmp_path, small_net, half):
    state = {k: v.half() if half and v.is_floating_point() else v for k, v in small_net.state_dict().items()}
    path = _export(tmp_path / "small.pt", small_net, state_dict=state)
    method = build_method("msdr-s@tiled")
    method.prepare(None, CPU, weights=path)
    loaded = method.net.state_dict()
    assert loaded.keys() == state.keys() and all(t.device.type == "cpu" for t in loaded.values())
    assert all(loaded[k].dtype == (torch.float32 if v.is_floating_point() else v.dtype) for k, v in state.items())
    assert all(torch.equal(loaded[k], state[k].to(loaded[k].dtype)) for k in state)
    record = method.describe()["loaded_weights"]
    assert record["source"] == "user" and record["path"] == str(path) and len(record["sha256"]) == 64
    assert record["metadata"] == {"format": CHECKPOINT_FORMAT, "model_config": SMALL, "training": TRAINING}


def test_a_prepared_small_variant_derains_any_size_under_both_protocols(tmp_path, small_net):
    path = _export(tmp_path / "small.pt", small_net)
    image = np.random.default_rng(0).integers(0, 256, (40, 70, 3), dtype=np.uint8)  # tiled: 2 tiles, one batch
    for name in ("msdr-s@paper", "msdr-s@tiled"):
        method = build_method(name)
        method.prepare(None, CPU, weights=path)
        assert _run(method, image).shape == image.shape
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():  # a single tile is exactly the network
        expected = small_net.derain((x.flip(1) * 255 - 127.5) / 127.5).flip(1)
        torch.testing.assert_close(method.forward(x), expected, rtol=0, atol=1e-5)


def test_tile_statistics_give_each_tile_what_batch_1_training_computed(small_net):
    # float64: normalising 2x2 maps (the bottleneck of a 64 px input) magnifies float32 rounding to ~1e-4
    tiles = torch.rand(3, 3, 64, 64, dtype=torch.float64) * 2 - 1
    converted = normalise_by_tile_statistics(copy.deepcopy(small_net).double()).eval()
    training = copy.deepcopy(small_net).double().train()  # BatchNorm over one tile at a time, as batch-1 training
    with torch.no_grad():
        expected = torch.cat([training.derain(tile[None]) for tile in tiles])
        torch.testing.assert_close(converted.derain(tiles), expected, rtol=0, atol=1e-10)
        running = copy.deepcopy(small_net).double().derain(tiles)
        assert (converted.derain(tiles) - running).abs().max() > 1e-2  # not the running statistics
    assert not any(isinstance(m, nn.BatchNorm2d) for m in converted.modules())


def test_the_tile_statistics_protocol_loads_the_same_weights_and_changes_only_the_normalisation(tmp_path, small_net):
    path = _export(tmp_path / "small.pt", small_net)
    method = build_method("msdr-s@tiled-tilestats")
    method.prepare(None, CPU, weights=path)
    running = {k for k, v in small_net.state_dict().items() if "running_" in k or "num_batches" in k}
    assert method.net.state_dict().keys() == small_net.state_dict().keys() - running
    assert all(torch.equal(v, small_net.state_dict()[k]) for k, v in method.net.state_dict().items())
    assert "own per-channel mean" in method.describe()["size_policy"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"format": "derain-bench/msdr/v0"}, "not an MSDR-Net export"),
        ({"extra": 1}, "has keys"),
        ({"model_config": {"base_channels": 8, "image_size": 64}}, "model_config"),
        ({"model_config": {**SMALL, "faithful": 1}}, "model_config"),
        ({"model_config": {**SMALL, "base_channels": 6}}, "invalid"),
        ({"training": "yesterday"}, "training"),
    ],
)
def test_a_malformed_checkpoint_fails_in_one_line(tmp_path, small_net, overrides, message):
    path = _export(tmp_path / "bad.pt", small_net, **overrides)
    with pytest.raises(AssetError, match=message) as excinfo:
        build_method("msdr-s").prepare(None, CPU, weights=path)
    _assert_one_line(excinfo)


def test_a_checkpoint_missing_a_key_or_with_a_wrong_shape_fails_in_one_line(tmp_path, small_net):
    state = small_net.state_dict()
    missing = {k: v for k, v in state.items() if k != "stem.0.weight"}
    with pytest.raises(AssetError, match=r"'stem\.0\.weight' missing") as excinfo:
        build_method("msdr-s").prepare(None, CPU, weights=_export(tmp_path / "a.pt", small_net, state_dict=missing))
    _assert_one_line(excinfo)
    reshaped = {**state, "stem.0.bias": torch.zeros(3)}
    with pytest.raises(AssetError, match=r"size mismatch for stem\.0\.bias") as excinfo:
        build_method("msdr-s").prepare(None, CPU, weights=_export(tmp_path / "b.pt", small_net, state_dict=reshaped))
    _assert_one_line(excinfo)


def test_a_plain_state_dict_is_not_an_export(tmp_path, small_net):
    torch.save(small_net.state_dict(), tmp_path / "plain.pt")
    with pytest.raises(AssetError, match=r"not an MSDR-Net export.*msdr\.export"):
        build_method("msdr").prepare(None, CPU, weights=tmp_path / "plain.pt")


def test_msdr_without_weights_fails_in_one_line():
    with pytest.raises(
        AssetError, match=r"MSDR-Net has no published weights.*run the shipped msdr-s.*--weights msdr=PATH"
    ) as excinfo:
        build_method("msdr@tiled").prepare(None, CPU)
    _assert_one_line(excinfo)


def test_msdr_refuses_a_variant_checkpoint(tmp_path, small_net):
    with pytest.raises(AssetError, match=r"not the paper's network.*msdr-s"):
        build_method("msdr").prepare(None, CPU, weights=_export(tmp_path / "small.pt", small_net))


def test_a_missing_weights_file_is_named(tmp_path):
    with pytest.raises(AssetError, match="does not exist"):
        build_method("msdr-s").prepare(None, CPU, weights=tmp_path / "nowhere.pt")


@pytest.fixture
def checkpoint_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(msdr.method, "CHECKPOINT_DIR", tmp_path)
    return tmp_path


def test_msdr_s_without_its_committed_checkpoint_says_how_to_make_it(checkpoint_dir):
    how = r"missing.*python -m bench train --method msdr-s \.\.\..*python -m msdr\.export"
    with pytest.raises(AssetError, match=how) as excinfo:
        build_method("msdr-s@paper").prepare(None, CPU)
    _assert_one_line(excinfo)


def test_msdr_s_checkpoint_is_verified_against_the_declared_sha256(checkpoint_dir, small_net, monkeypatch):
    path = _export(checkpoint_dir / VARIANTS["msdr-s"].checkpoint, small_net)
    actual = sha256_file(path)
    wrong = dataclasses.replace(VARIANTS["msdr-s"], sha256="0" * 64)
    monkeypatch.setitem(VARIANTS, "msdr-s", wrong)
    with pytest.raises(ChecksumError, match=f"has sha256 {actual}, expected 0000"):
        build_method("msdr-s").prepare(None, CPU)
    monkeypatch.setitem(VARIANTS, "msdr-s", dataclasses.replace(wrong, sha256=actual))
    method = build_method("msdr-s")
    method.prepare(None, CPU)
    assert method.loaded_weights.source == "declared" and method.loaded_weights.sha256 == actual


# ---- user weights for any method (bench.methods.contract) ------------------------------------------------------


def test_user_weights_replace_the_declared_ones_as_a_plain_state_dict(tmp_path):
    torch.manual_seed(1)
    state = PReNet(lstm=False, recursive=True).state_dict()
    torch.save(state, tmp_path / "mine.pth")
    method = build_method("prn_r.rain100h")
    method.prepare(None, CPU, weights=tmp_path / "mine.pth")  # the store is not consulted
    assert all(torch.equal(method.net.state_dict()[k], v) for k, v in state.items())
    assert method.describe()["loaded_weights"]["source"] == "user"
    assert method.describe()["weights"]["url"].endswith("PRN6_r/net_latest.pth")  # the declared ones, for reference
    assert read_state_dict(tmp_path / "mine.pth")[0].keys() == state.keys()


def test_user_weights_that_do_not_fit_fail_in_one_line(tmp_path, small_net):
    torch.save(small_net.state_dict(), tmp_path / "msdr.pth")
    with pytest.raises(AssetError, match=r"does not fit PReNet: .* missing; .* unexpected") as excinfo:
        build_method("prenet.rain100h").prepare(None, CPU, weights=tmp_path / "msdr.pth")
    _assert_one_line(excinfo)
    _export(tmp_path / "export.pt", small_net)  # its `model` entry is found and does not fit
    with pytest.raises(AssetError, match=r"export.pt does not fit PReNet: .* missing; .* unexpected") as excinfo:
        build_method("prenet.rain100h").prepare(None, CPU, weights=tmp_path / "export.pt")
    _assert_one_line(excinfo)


# ---- names ---------------------------------------------------------------------------------------------------


def test_registry_and_module_agree_on_the_protocols_and_each_name_records_its_own():
    assert set(VARIANTS) == set(INFERENCE_PROTOCOLS) == {"msdr", "msdr-s", "msdr-m", "msdr-s-traintest"}
    for variant in VARIANTS:
        assert INFERENCE_PROTOCOLS[variant] == tuple(INFERENCE)
        for protocol in INFERENCE:
            spec = build_method(f"{variant}@{protocol}").spec
            assert (spec.name, spec.inference) == (f"{variant}@{protocol}", protocol)
            assert spec.size_policy == INFERENCE[protocol].size_policy
    assert build_method("msdr").spec.name == "msdr@paper"
    assert build_method("msdr-s").spec.name == "msdr-s@tiled"
    assert "default of `msdr-s`" in build_method("msdr-s").spec.summary

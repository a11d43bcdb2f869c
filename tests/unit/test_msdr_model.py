"""MSDR-Net port: sizes, structure and Keras-equivalent details read from B201cv/MSDR-Net's Keras script."""

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from msdr import MSDRNet, MSDROutputs
from msdr.model import ContextAggregation, DetailBlock, RainBlock, SqueezeExcitation

C = 64  # the script's growth_rate = feature_dim = nb_filter
CONV3 = 9 * C * C  # weights of one 3x3 conv C -> C
BLOCKS_PER_BRANCH = 1 + 1 + 3 + 3 + 3 + 3 + 3 + 3  # C_1, C_2, C_3..C_5 and D_1..D_3 call the block 1, 1 and 3 times


def _meta(**kwargs) -> MSDRNet:
    with torch.device("meta"):
        return MSDRNet(**kwargs)


def _count(module: nn.Module, kind: type[nn.Module]) -> int:
    return sum(isinstance(m, kind) for m in module.modules())


def _trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.fixture(scope="module")
def paper_model() -> MSDRNet:
    torch.manual_seed(0)
    return MSDRNet().eval()


def _small(**kwargs) -> MSDRNet:
    torch.manual_seed(0)
    return MSDRNet(base_channels=8, image_size=64, **kwargs)


def test_default_has_the_keras_parameter_counts(paper_model):
    assert _trainable(paper_model) == 72_088_914
    bn_moving_stats = sum(
        m.running_mean.numel() + m.running_var.numel() for m in paper_model.modules() if isinstance(m, nn.BatchNorm2d)
    )
    assert _trainable(paper_model) + bn_moving_stats == 72_100_818  # Keras model.summary() total
    for branch in (paper_model.rain, paper_model.detail):
        assert branch.bottleneck.weight.shape == (8 * C, 4 * C, 11, 11)
        assert _trainable(branch.bottleneck) == 11 * 11 * 256 * 512 + 512  # ~15.86 M each


@pytest.mark.parametrize(("base_channels", "image_size"), [(64, 352), (16, 128)])
def test_fixed_variant_adds_the_half_scale_rain_conv_bn_and_widens_the_detail_d6_conv(base_channels, image_size):
    c = base_channels
    faithful = _meta(base_channels=c, image_size=image_size)
    fixed = _meta(base_channels=c, image_size=image_size, faithful=False)
    restored_conv_bn = (9 * c * c + c) + 2 * c  # x2_r: 3x3 conv c -> c with bias, BN gamma and beta
    wider_detail_d6 = 9 * c * c  # ED_D's D_6 conv reads the 2c-channel D_5 concat instead of c channels
    assert _trainable(fixed) - _trainable(faithful) == restored_conv_bn + wider_detail_d6
    assert _trainable(fixed.rain_heads) - _trainable(faithful.rain_heads) == restored_conv_bn
    assert _trainable(fixed.detail) - _trainable(faithful.detail) == wider_detail_d6


@pytest.mark.parametrize("faithful", [True, False])
def test_layer_counts_per_branch_match_the_script(faithful):
    # Counted from the script: rain_branch = 1x1 projection + 2 Res2Blocks x (1x1, three 3x3, 1x1) = 11 convs and
    # 2 x 2 channel-attention Dense + 2 SE Dense = 6 Dense; detail_branch = 1x1 projection + 2 _empty_blocks x
    # (three dilated 3x3 + 1x1) = 9 convs, 2 BN, 1 PReLU. Each ED adds the 7x7 conv, the bottleneck and the five
    # D_4 / D_4_out / D_5 / D_5_out / D_6 convs. Heads: conv, BN, conv each, but x2_out_r is one conv when faithful.
    model = _meta(faithful=faithful)
    assert _count(model.rain, RainBlock) == _count(model.detail, DetailBlock) == BLOCKS_PER_BRANCH
    assert _count(model.rain, nn.Conv2d) == 11 * BLOCKS_PER_BRANCH + 7 == 227
    assert _count(model.detail, nn.Conv2d) == 9 * BLOCKS_PER_BRANCH + 7 == 187
    assert _count(model.rain, nn.Linear) == 6 * BLOCKS_PER_BRANCH and _count(model.detail, nn.Linear) == 0
    assert _count(model.rain, nn.BatchNorm2d) == 0
    assert _count(model.detail, nn.BatchNorm2d) == 2 * BLOCKS_PER_BRANCH
    assert _count(model.detail, nn.PReLU) == BLOCKS_PER_BRANCH and _count(model.stem, nn.PReLU) == 1
    heads = nn.ModuleList([model.rain_heads, model.detail_heads])
    assert _count(heads, nn.Conv2d) == (11 if faithful else 12)
    assert _count(heads, nn.BatchNorm2d) == (5 if faithful else 6)
    assert _count(model, nn.Conv2d) == 1 + 227 + 187 + (11 if faithful else 12)


def test_faithful_half_scale_rain_head_is_a_single_conv_on_the_decoder_feature():
    faithful, fixed = _meta(), _meta(faithful=False)
    convs = [m for m in faithful.rain_heads[1] if isinstance(m, nn.Conv2d)]
    assert [(m.in_channels, m.out_channels) for m in convs] == [(C, 3)]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in faithful.rain_heads[1])
    for model in (faithful, fixed):
        for head in (*model.detail_heads, model.rain_heads[0], model.rain_heads[2]):
            assert [type(m) for m in head] == [nn.Conv2d, nn.BatchNorm2d, nn.Conv2d, nn.Tanh]
    assert [type(m) for m in fixed.rain_heads[1]] == [nn.Conv2d, nn.BatchNorm2d, nn.Conv2d, nn.Tanh]


def test_detail_half_scale_feature_skips_its_relu_only_when_faithful():
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    for faithful in (True, False):
        model = _small(faithful=faithful).eval()
        with torch.inference_mode():
            features = model.stem(x)
            _, rain_half, _ = model.rain(features)
            _, detail_half, _ = model.detail(features)
        assert rain_half.min() >= 0
        assert (detail_half.min() < 0) == faithful
        assert model.detail.decoder6[0].in_channels == (8 if faithful else 16)
        assert model.rain.decoder6[0].in_channels == 16


def test_bottleneck_is_a_global_vector_broadcast_back_over_the_map():
    model = MSDRNet(base_channels=8).eval()  # full 352 input at a small width: the bottleneck kernel is 11x11
    seen = {}
    model.rain.bottleneck.register_forward_hook(lambda m, args, out: seen.update(vector=out))
    model.rain.decoder1.register_forward_pre_hook(lambda m, args: seen.update(spread=args[0]))
    with torch.inference_mode():
        model(torch.rand(1, 3, 352, 352) * 2 - 1)
    assert model.rain.bottleneck.kernel_size == (11, 11) and model.rain.bottleneck.padding == (0, 0)
    assert seen["vector"].shape == (1, 64, 1, 1)
    assert seen["spread"].shape == (1, 64, 11, 11)
    assert torch.equal(seen["spread"], seen["vector"].expand(-1, -1, 11, 11))
    assert _meta(base_channels=8, image_size=64).detail.bottleneck.kernel_size == (2, 2)


@pytest.mark.parametrize("train", [True, False])
def test_small_variant_gives_six_bounded_outputs_at_three_scales(train):
    model = _small().train(train)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        out = model(x)
    assert isinstance(out, MSDROutputs)
    assert [tuple(t.shape) for t in out] == [(2, 3, s, s) for s in (64, 32, 16)] * 2
    for t in out:
        assert torch.isfinite(t).all() and t.abs().max() < 1
    if not train:
        assert torch.equal(model.derain(x), out.derained_1)


def test_paper_size_forward_on_cpu(paper_model):
    with torch.inference_mode():
        out = paper_model(torch.rand(1, 3, 352, 352) * 2 - 1)
    assert [tuple(t.shape) for t in out] == [(1, 3, s, s) for s in (352, 176, 88)] * 2
    assert all(t.abs().max() < 1 for t in out)


def test_outputs_combine_tanh_heads_with_cv2_bilinear_resized_inputs():
    model = _small().eval()
    rain_bias, detail_bias = 0.3, -0.2
    with torch.no_grad():  # constant heads: rain_s = tanh(0.3), detail_s = tanh(-0.2) everywhere
        for heads, bias in ((model.rain_heads, rain_bias), (model.detail_heads, detail_bias)):
            for head in heads:
                head[-2].weight.zero_()
                head[-2].bias.fill_(bias)
    image = (np.random.default_rng(0).integers(0, 256, (64, 64, 3)).astype(np.float32) - 127.5) / 127.5
    with torch.inference_mode():
        out = model(torch.from_numpy(image).permute(2, 0, 1)[None])
    for derained, rain, size in zip(out[:3], out[3:], (64, 32, 16), strict=True):
        resized = image if size == 64 else cv2.resize(image, (size, size))  # the script's inputA, B, C
        expected = np.tanh(resized - np.tanh(rain_bias) + np.tanh(detail_bias))
        np.testing.assert_allclose(derained[0].permute(1, 2, 0).numpy(), expected, atol=1e-6)
        assert torch.allclose(rain, torch.tensor(math.tanh(rain_bias)))


def test_keras_batchnorm_and_prelu_settings(paper_model):
    norms = [m for m in paper_model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 45
    assert all(m.momentum == 0.01 and m.eps == 1e-3 for m in norms)
    prelus = [m for m in paper_model.modules() if isinstance(m, nn.PReLU)]
    assert len(prelus) == 1 + BLOCKS_PER_BRANCH
    assert all(m.num_parameters > 1 and m.weight.eq(0).all() for m in prelus)  # per channel, initialised at 0


def test_batchnorm_uses_batch_statistics_in_training_and_running_statistics_in_eval():
    model = _small()
    norm = model.detail.encoder1[2].body[1]
    seen = {}
    norm.register_forward_pre_hook(lambda m, args: seen.update(x=args[0].detach().clone()))
    a, b = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        model(torch.cat([a, b]))
        # Keras: moving = 0.99 * moving + 0.01 * batch mean, starting from 0
        torch.testing.assert_close(norm.running_mean, 0.01 * seen["x"].mean((0, 2, 3)))
        alone, paired = model(a).derained_1, model(torch.cat([a, b])).derained_1[:1]
        assert not torch.allclose(alone, paired, atol=1e-4)  # training mode: the batch changes the result
        model.eval()
        alone, paired = model(a).derained_1, model(torch.cat([a, b])).derained_1[:1]
        torch.testing.assert_close(alone, paired)


def test_se_gate_is_keras_hard_sigmoid():
    model = _small().eval()
    se = model.rain.encoder1[2].se  # 8 channels
    with torch.no_grad():  # gate inputs spread over four decades: some clip at +-2.5, some do not
        se.fc1.weight.fill_(1.0)
        scales = torch.tensor([0.1, 1.0, 10.0, 100.0])
        se.fc2.weight.copy_(torch.cat([scales, -scales])[:, None].expand_as(se.fc2.weight))
    seen = {}
    se.fc2.register_forward_hook(lambda m, args, out: seen.update(z=out))
    se.register_forward_hook(lambda m, args, out: seen.update(x=args[0], y=out))
    with torch.inference_mode():
        model(torch.rand(1, 3, 64, 64) * 2 - 1)
    z, x, y = seen["z"][:, :, None, None], seen["x"], seen["y"]
    assert (z.abs() > 2.5).any() and (z.abs() < 2.5).any()
    torch.testing.assert_close(y, x * (0.2 * z + 0.5).clamp(0, 1))
    assert not torch.allclose(y, x * F.hardsigmoid(z))


def _fans(weight: torch.Tensor) -> tuple[int, int]:
    receptive_field = weight[0, 0].numel()
    return weight.shape[1] * receptive_field, weight.shape[0] * receptive_field


def _he_normal_layers(model: MSDRNet) -> list[nn.Module]:
    """Where the script says kernel_initializer="he_normal": stem, _empty_block convs, SE Dense, head convs."""
    layers = [model.stem[0]]
    for module in model.modules():
        if isinstance(module, ContextAggregation | SqueezeExcitation):
            layers += [m for m in module.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    heads = nn.ModuleList([model.rain_heads, model.detail_heads])
    return layers + [m for m in heads.modules() if isinstance(m, nn.Conv2d)]


def test_he_normal_layers_are_keras_truncated_normals(paper_model):
    layers = _he_normal_layers(paper_model)
    assert len(layers) == 1 + BLOCKS_PER_BRANCH * (2 * 4 + 2) + 11
    for layer in layers:
        w = layer.weight.detach()
        std = math.sqrt(2 / _fans(w)[0])
        assert w.abs().max() <= 2 * std / 0.87962566103423978 * (1 + 1e-6)  # truncated at 2 pre-truncation stds
        if w.numel() >= 10_000:
            assert w.std().item() == pytest.approx(std, rel=0.03)  # Keras 2.2+ corrects std for the truncation
        assert layer.bias is None or layer.bias.eq(0).all()


def test_other_layers_are_glorot_uniform_with_zero_bias(paper_model):
    he = {id(m) for m in _he_normal_layers(paper_model)}
    layers = [m for m in paper_model.modules() if isinstance(m, nn.Conv2d | nn.Linear) and id(m) not in he]
    # rain: all 227 convs and the 4 channel-attention Dense per block; detail: 187 convs less 8 per block
    assert len(layers) == (227 + 4 * BLOCKS_PER_BRANCH) + (187 - 8 * BLOCKS_PER_BRANCH)
    for layer in layers:
        w = layer.weight.detach()
        limit = math.sqrt(6 / sum(_fans(w)))
        assert w.abs().max() <= limit
        if w.numel() >= 10_000:
            assert w.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.03)
        assert layer.bias.eq(0).all()


def test_multiply_accumulates_at_352():
    macs = {}
    for faithful in (True, False):
        model = _meta(faithful=faithful)
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(1, 3, 352, 352, device="meta"))
        per_module = {name: sum(ops.values()) // 2 for name, ops in counter.get_flop_counts().items()}
        macs[faithful] = counter.get_total_flops() // 2, per_module["MSDRNet.rain"], per_module["MSDRNet.detail"]
    total, rain, detail = macs[True]
    assert total == 155_998_346_240  # docs: ~156 G (rain ~49 G, detail ~96 G, heads ~12 G)
    assert (rain, detail) == (48_724_245_504, 95_649_923_072)
    # fixed: the restored 3x3 conv at 176^2 plus ED_D's D_6 conv reading C more channels at 352^2
    assert macs[False][0] - total == (176**2 + 352**2) * CONV3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"base_channels": 6}, "multiple of 4"), ({"base_channels": 0}, "positive"), ({"image_size": 100}, "of 32")],
)
def test_invalid_options_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MSDRNet(**kwargs)


def test_input_of_the_wrong_size_is_rejected():
    with pytest.raises(ValueError, match="expects N x 3 x 64 x 64"):
        _small()(torch.zeros(1, 3, 32, 32))

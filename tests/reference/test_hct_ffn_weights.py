"""The HCT-FFN port against the official weights (cschenxiang/HCT-FFN @ 0aa6526): both files are plain state dicts
that load with `weights_only=True` and `strict=True`, and an independent functional forward (written here from
code/model/hct-ffn.py, common.py and util/rlutrans.py on the raw state-dict tensors, with the attention spelled
out as softmax(q k^T) v over `torch.split` chunks as the official EffAttention does) gives the same output on a
real Rain100H crop whose token count 16 does not divide (so the 17th, shorter chunk is exercised)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from bench.methods.checkpoints import load_checkpoint, read_state_dict
from bench.methods.registry import build_method

pytestmark = pytest.mark.reference

NAMES = ["hct_ffn.rain100h", "hct_ffn.rain100l"]


def _conv(s, name, x, padding=1, **kw):
    return F.conv2d(x, s[f"{name}.weight"], s.get(f"{name}.bias"), padding=padding, **kw)


def _convd(s, name, x):  # ReflectionPad2d(1), conv, ReLU (its InstanceNorm is commented out upstream)
    return torch.relu(
        F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), s[f"{name}.conv.weight"], s[f"{name}.conv.bias"])
    )


def _rb(s, name, x):
    y = torch.relu(_conv(s, f"{name}.module_body.2", torch.relu(_conv(s, f"{name}.module_body.0", x))))
    pooled = y.mean(dim=(2, 3))
    gate = torch.sigmoid(
        F.linear(torch.relu(F.linear(pooled, s[f"{name}.se.fc.0.weight"])), s[f"{name}.se.fc.2.weight"])
    )
    return y * gate[:, :, None, None] + x


def _res_ch(s, name, x):
    x = _convd(s, f"{name}.conv_init2", _convd(s, f"{name}.conv_init1", x))
    y = x
    for k in range(3):
        y = _rb(s, f"{name}.extra.module_body.{k}", y)
    return torch.relu(_conv(s, f"{name}.extra.module_body.3", y) + x)


def _prior(s, name, x, p):
    att = torch.sigmoid(_conv(s, f"{name}.query_conv", x) * _conv(s, f"{name}.key_conv", p))
    ax, ap = x * att, p * att
    gx = _conv(s, f"{name}.gamma1", torch.cat((x, ax), 1))
    gp = _conv(s, f"{name}.gamma2", torch.cat((p, ap), 1))
    return x * gx[:, [0]] + ax * gx[:, [1]], p * gp[:, [0]] + ap * gp[:, [1]]


def _op(s, name, index, x):
    """common.Operations in order: sep_conv 1/3/5/7, dil_conv 3/5/7, avg_pool_3x3."""
    if index < 4:
        k = (1, 3, 5, 7)[index]
        y = _conv(s, f"{name}.op.0", x, padding=k // 2, groups=32)
        y = torch.relu(_conv(s, f"{name}.op.1", y, padding=0))
        y = _conv(s, f"{name}.op.3", y, padding=k // 2, groups=32)
        return _conv(s, f"{name}.op.4", y, padding=0)
    if index < 7:
        k = (3, 5, 7)[index - 4]
        return _conv(s, f"{name}.op.1", _conv(s, f"{name}.op.0", x, padding=k - 1, dilation=2, groups=32), padding=0)
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


def _damoe(s, name, x, p):
    x = _convd(s, f"{name}.fuse_res", torch.cat(_prior(s, f"{name}.prior", x, p), 1))
    h = F.linear(x.mean(dim=(2, 3)), s[f"{name}.layers.0.ca_fc.0.weight"], s[f"{name}.layers.0.ca_fc.0.bias"])
    w = F.linear(torch.relu(h), s[f"{name}.layers.0.ca_fc.2.weight"], s[f"{name}.layers.0.ca_fc.2.bias"])
    w = F.softmax(w.view(-1, 4, 8), dim=-1)
    x = torch.relu(_conv(s, f"{name}.layers.1.preprocess.op.0", x, padding=0))
    for i in range(4):
        layer = f"{name}.layers.1._ops.{i}"
        states = [_op(s, f"{layer}._ops.{j}", j, x) * w[:, i, j].view(-1, 1, 1, 1) for j in range(8)]
        x = torch.relu(torch.relu(_conv(s, f"{layer}._out.0", torch.cat(states, 1), padding=0)) + x)
    return x


def _transblock(s, name, x):
    def lin(n, t):
        return F.linear(t, s[f"{name}.{n}.weight"], s.get(f"{name}.{n}.bias"))

    y = lin("atten.reduce", F.layer_norm(x, (288,), s[f"{name}.norm1.weight"], s[f"{name}.norm1.bias"]))
    b, n, c = y.shape
    qkv = lin("atten.qkv", y).reshape(b, n, 3, 8, c // 8).permute(2, 0, 3, 1, 4)
    outs = []
    for q, k, v in zip(*(t.split(n // 16, dim=-2) for t in qkv), strict=True):
        attn = ((q @ k.transpose(-2, -1)) * (288 // 8) ** -0.5).softmax(dim=-1)
        outs.append((attn @ v).transpose(1, 2))
    x = x + lin("atten.proj", torch.cat(outs, 1).reshape(b, n, c))
    z = F.layer_norm(x, (288,), s[f"{name}.norm2.weight"], s[f"{name}.norm2.bias"])
    return x + lin("mlp.fc2", torch.relu(lin("mlp.fc1", z)))


def _bavit(s, name, x, p):
    x = _convd(s, f"{name}.fuse_res", torch.cat(_prior(s, f"{name}.prior", x, p), 1))
    h, w = x.shape[2:]
    t = F.unfold(F.pad(x, (1, 1, 1, 1)), 3).permute(0, 2, 1)  # same_padding: zeros, then unfold
    for _ in range(3):
        t = _transblock(s, f"{name}.attention", t)
    return _conv(s, f"{name}.c2", F.fold(t.permute(0, 2, 1), (h, w), 3, padding=1))


def official_forward(s, x255):
    def residue(t):
        r = t.max(dim=1, keepdim=True)[0] - t.min(dim=1, keepdim=True)[0]
        return torch.cat((r, r, r), 1)

    x_init = _convd(s, "conv_init2", _convd(s, "conv_init1", x255))
    x1 = _damoe(s, "sub1", x_init, _res_ch(s, "res_extra1", residue(x255)))
    out1 = _conv(s, "output1", x1)
    x2 = _bavit(s, "sub2", _convd(s, "ag1", torch.cat((x1, x_init), 1)), _res_ch(s, "res_extra2", residue(out1)))
    out2 = _conv(s, "output2", _convd(s, "ag2_en", torch.cat([x2, x1], 1)))
    x3 = _damoe(s, "sub3", _convd(s, "ag2", torch.cat((x2, x1, x_init), 1)), _res_ch(s, "res_extra3", residue(out2)))
    return _conv(s, "output3", _convd(s, "ag_en", torch.cat([x3, x2, x1], 1)))


@pytest.mark.parametrize("name", NAMES)
def test_weights_are_a_plain_state_dict(name, mirror_store):
    path = mirror_store.fetch(build_method(name).spec.weights)
    checkpoint = load_checkpoint(path)  # weights_only=True
    assert all(isinstance(value, torch.Tensor) for value in checkpoint.values())
    assert read_state_dict(path)[1] == {}


@pytest.mark.parametrize("name", NAMES)
def test_port_matches_independent_forward_on_real_image(name, mirror, mirror_store):
    method = build_method(name)
    method.prepare(mirror_store, torch.device("cpu"))  # strict=True
    state, _ = read_state_dict(mirror_store.fetch(method.spec.weights))
    rainy = np.asarray(Image.open(mirror / "datasets/Rain100H/test/small/rain/norain-7.png").convert("RGB"))
    crop = rainy[:90, :118]  # 10,620 tokens: 16 chunks of 663 and a 17th of 12
    x = method.to_input(crop)
    with torch.inference_mode():
        ours = method.forward(x)
        reference = official_forward(state, torch.from_numpy(crop.transpose(2, 0, 1).copy()).float()[None]) / 255
    # float32 through ~60 layers and three transformer passes on [0, 255] inputs: differences of a few 1e-6
    # (summation order of the attention kernel); any wrong layer or wiring gives errors of order 1e-2 or more
    torch.testing.assert_close(ours, reference, rtol=0, atol=2e-5)
    # the official saving step, round(clamp(255 y, 0, 255)), gives the same pixels
    official_uint8 = (reference[0] * 255).clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.mean(method.to_output(ours) == official_uint8) > 0.999

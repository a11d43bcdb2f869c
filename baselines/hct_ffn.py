"""HCT-FFN (Chen, Pan, Lu, Fan, Li, "Hybrid CNN-Transformer Feature Fusion for Single Image Deraining", AAAI 2023),
written from the paper and checked against the official release cschenxiang/HCT-FFN @ 0aa6526 (code/model/hct-ffn.py,
code/model/common.py, code/util/rlutrans.py, code/util/tools.py; an EDSR/SPDNet-style code base).

Three stages, 32 features. Every stage fuses the image features with features of a "residue" prior (the
per-pixel max minus min over RGB, repeated to 3 channels; from the input in stage 1, from the previous stage's
output afterwards) through a spatial prior attention, then:

    stage 1 (CNN):          DaMoE: one mixture of 8 local experts (separable/dilated convolutions, 3x3 mean)
                            applied in 4 steps, the expert weights a softmax predicted from pooled features;
    stage 2 (Transformer):  BaViT: 3x3 patches of every pixel (288-dim tokens), one transformer block applied
                            three times with the same weights, patches folded back, a 3x3 convolution;
    stage 3 (CNN):          DaMoE again;

with dense links between stages (ag1, ag2, ag2_en, ag_en) and one 3x3 output convolution per stage; the output is
stage 3's image. The network works on images in [0, 255] (EDSR's `--rgb_range 255`); `forward` takes and gives
[0, 1] and scales around it.

Surprises in the official code, kept here because the weights were trained with them:
- every `convd` block registers an affine InstanceNorm whose call is commented out: the norms are in the
  checkpoints and loaded, never applied;
- the attention is not global: the tokens (pixels in raster order) are split into consecutive chunks of N // 16
  and attend only within their chunk (16 chunks, a 17th holding the remainder when 16 does not divide N);
- the attention scale is (288 / 8) ** -0.5 although each head has 144 / 8 = 18 channels after the `reduce`
  projection;
- folding the 3x3 patches back sums the nine overlapping copies of each pixel (no division by 9).
The official test script (code/trainer.py) runs the whole image, no padding or cropping, and saves
round(clamp(y, 0, 255)).
"""

import torch
import torch.nn.functional as F
from torch import nn

from bench.common.assets import Asset
from bench.methods.contract import DerainMethod, MethodSpec, Quantisation, published_scores

FEATURES = 32
RIR_BLOCKS = 3  # --n_resblocks 3
EXPERT_STEPS = 4
ATTENTION_HEADS = 8
ATTENTION_CHUNKS = 16
BAVIT_APPLICATIONS = 3
PIXEL_RANGE = 255.0  # --rgb_range 255


def residue(image: torch.Tensor) -> torch.Tensor:
    """Max minus min over the colour channels, repeated to 3 channels (the network's rain-free prior)."""
    spread = image.amax(dim=1, keepdim=True) - image.amin(dim=1, keepdim=True)
    return spread.expand(-1, 3, -1, -1)


class ReflectConv(nn.Module):
    """3x3 convolution on a reflection-padded input, then ReLU; `ins` is registered but not applied (see above)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3)
        self.ins = nn.InstanceNorm2d(cout, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(F.pad(x, (1, 1, 1, 1), mode="reflect")))


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels, bias=False),
            nn.ReLU(),
            nn.Linear(channels, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean(dim=(2, 3)))[:, :, None, None]


class ResidualBlock(nn.Module):
    """conv-ReLU-conv-ReLU, channel attention, plus the input."""

    def __init__(self):
        super().__init__()
        self.module_body = nn.Sequential(
            nn.Conv2d(FEATURES, FEATURES, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(FEATURES, FEATURES, 3, padding=1),
            nn.ReLU(),
        )
        self.se = SqueezeExcite(FEATURES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.module_body(x)) + x


class ResidualInResidual(nn.Module):
    def __init__(self, blocks: int):
        super().__init__()
        self.module_body = nn.Sequential(
            *(ResidualBlock() for _ in range(blocks)), nn.Conv2d(FEATURES, FEATURES, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.module_body(x) + x)


class ResidueBranch(nn.Module):
    """Features of the residue prior."""

    def __init__(self):
        super().__init__()
        self.conv_init1 = ReflectConv(3, FEATURES // 2)
        self.conv_init2 = ReflectConv(FEATURES // 2, FEATURES)
        self.extra = ResidualInResidual(RIR_BLOCKS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.extra(self.conv_init2(self.conv_init1(x)))


class PriorAttention(nn.Module):
    """Sigmoid attention from image features times prior features; each side then mixes itself with its attended
    copy, the two per-pixel mixing weights predicted by a convolution."""

    def __init__(self):
        super().__init__()
        self.query_conv = nn.Conv2d(FEATURES, FEATURES, 3, padding=1)
        self.key_conv = nn.Conv2d(FEATURES, FEATURES, 3, padding=1)
        self.gamma1 = nn.Conv2d(2 * FEATURES, 2, 3, padding=1)
        self.gamma2 = nn.Conv2d(2 * FEATURES, 2, 3, padding=1)

    @staticmethod
    def _mix(gamma: nn.Module, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        weights = gamma(torch.cat((x, attended), dim=1))
        return x * weights[:, 0:1] + attended * weights[:, 1:2]

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attention = torch.sigmoid(self.query_conv(x) * self.key_conv(prior))
        return self._mix(self.gamma1, x, x * attention), self._mix(self.gamma2, prior, prior * attention)


class SeparableConv(nn.Module):
    """Depthwise k x k, pointwise, ReLU, depthwise k x k, pointwise (DARTS' sep_conv, without its norms)."""

    def __init__(self, kernel: int):
        super().__init__()
        pad = kernel // 2
        self.op = nn.Sequential(
            nn.Conv2d(FEATURES, FEATURES, kernel, padding=pad, groups=FEATURES, bias=False),
            nn.Conv2d(FEATURES, FEATURES, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(FEATURES, FEATURES, kernel, padding=pad, groups=FEATURES, bias=False),
            nn.Conv2d(FEATURES, FEATURES, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilatedConv(nn.Module):
    """Depthwise k x k with dilation 2, pointwise."""

    def __init__(self, kernel: int):
        super().__init__()
        self.op = nn.Sequential(
            nn.Conv2d(FEATURES, FEATURES, kernel, padding=kernel - 1, dilation=2, groups=FEATURES, bias=False),
            nn.Conv2d(FEATURES, FEATURES, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class MeanPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _experts() -> list[nn.Module]:
    """The 8 experts in the official order (common.Operations)."""
    return [*(SeparableConv(k) for k in (1, 3, 5, 7)), *(DilatedConv(k) for k in (3, 5, 7)), MeanPool()]


class ExpertMixture(nn.Module):
    """Every expert's output scaled by its weight, concatenated, fused by a 1x1 convolution and ReLU."""

    def __init__(self):
        super().__init__()
        self._ops = nn.ModuleList(_experts())
        self._out = nn.Sequential(nn.Conv2d(FEATURES * len(self._ops), FEATURES, 1, bias=False), nn.ReLU())

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        scaled = [expert(x) * weights[:, k, None, None, None] for k, expert in enumerate(self._ops)]
        return self._out(torch.cat(scaled, dim=1))


class ExpertWeights(nn.Module):
    """Softmax weights over the experts, one set per step, from the globally pooled features."""

    def __init__(self, experts: int):
        super().__init__()
        self.experts = experts
        self.ca_fc = nn.Sequential(
            nn.Linear(FEATURES, 2 * EXPERT_STEPS * experts),
            nn.ReLU(),
            nn.Linear(2 * EXPERT_STEPS * experts, EXPERT_STEPS * experts),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.ca_fc(x.mean(dim=(2, 3))).view(-1, EXPERT_STEPS, self.experts)
        return logits.softmax(dim=-1)


class ExpertSteps(nn.Module):
    """1x1 convolution and ReLU, then EXPERT_STEPS residual mixtures of experts."""

    def __init__(self):
        super().__init__()
        self.preprocess = nn.Module()
        self.preprocess.op = nn.Sequential(nn.Conv2d(FEATURES, FEATURES, 1, bias=False), nn.ReLU())
        self._ops = nn.ModuleList(ExpertMixture() for _ in range(EXPERT_STEPS))

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        x = self.preprocess.op(x)
        for step, mixture in enumerate(self._ops):
            x = torch.relu(mixture(x, weights[:, step]) + x)
        return x


class DaMoE(nn.Module):
    """Degradation-aware mixture of experts (the CNN stages)."""

    def __init__(self):
        super().__init__()
        self.prior = PriorAttention()
        self.fuse_res = ReflectConv(2 * FEATURES, FEATURES)
        self.layers = nn.ModuleList((ExpertWeights(len(_experts())), ExpertSteps()))

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        x = self.fuse_res(torch.cat(self.prior(x, prior), dim=1))
        weights_layer, steps = self.layers
        return steps(x, weights_layer(x))


class ChunkedAttention(nn.Module):
    """Multi-head self-attention on tokens reduced to half their width, each token attending only within its
    chunk of N // ATTENTION_CHUNKS consecutive tokens (see the module docstring)."""

    def __init__(self, dim: int):
        super().__init__()
        self.reduce = nn.Linear(dim, dim // 2, bias=False)
        self.qkv = nn.Linear(dim // 2, 3 * (dim // 2), bias=False)
        self.proj = nn.Linear(dim // 2, dim)
        self.scale = (dim // ATTENTION_HEADS) ** -0.5

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.reduce(tokens)
        batch, count, width = x.shape
        q, k, v = self.qkv(x).view(batch, count, 3, ATTENTION_HEADS, width // ATTENTION_HEADS).permute(2, 0, 3, 1, 4)
        chunk = count // ATTENTION_CHUNKS
        out = [
            F.scaled_dot_product_attention(qc, kc, vc, scale=self.scale)
            for qc, kc, vc in zip(q.split(chunk, dim=2), k.split(chunk, dim=2), v.split(chunk, dim=2), strict=True)
        ]
        return self.proj(torch.cat(out, dim=2).transpose(1, 2).reshape(batch, count, width))


class TransformerBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.atten = ChunkedAttention(dim)
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, dim // 4)
        self.mlp.fc2 = nn.Linear(dim // 4, dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.atten(self.norm1(x))
        return x + self.mlp.fc2(torch.relu(self.mlp.fc1(self.norm2(x))))


class BaViT(nn.Module):
    """Background-aware vision transformer (the middle stage): tokens are the 3x3 patches around every pixel."""

    def __init__(self):
        super().__init__()
        self.prior = PriorAttention()
        self.fuse_res = ReflectConv(2 * FEATURES, FEATURES)
        self.attention = TransformerBlock(9 * FEATURES)
        self.c2 = nn.Conv2d(FEATURES, FEATURES, 3, padding=1)

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        x = self.fuse_res(torch.cat(self.prior(x, prior), dim=1))
        size = x.shape[2:]
        tokens = F.unfold(x, 3, padding=1).transpose(1, 2)
        for _ in range(BAVIT_APPLICATIONS):
            tokens = self.attention(tokens)
        return self.c2(F.fold(tokens.transpose(1, 2), size, 3, padding=1))


class HCTFFN(nn.Module):
    """The whole network on [0, 1] images (scaled to the [0, 255] it was trained on inside)."""

    def __init__(self):
        super().__init__()
        self.conv_init1 = ReflectConv(3, FEATURES // 2)
        self.conv_init2 = ReflectConv(FEATURES // 2, FEATURES)
        self.res_extra1, self.res_extra2, self.res_extra3 = ResidueBranch(), ResidueBranch(), ResidueBranch()
        self.sub1, self.sub2, self.sub3 = DaMoE(), BaViT(), DaMoE()
        self.ag1 = ReflectConv(2 * FEATURES, FEATURES)
        self.ag2 = ReflectConv(3 * FEATURES, FEATURES)
        self.ag2_en = ReflectConv(2 * FEATURES, FEATURES)
        self.ag_en = ReflectConv(3 * FEATURES, FEATURES)
        self.output1, self.output2, self.output3 = (nn.Conv2d(FEATURES, 3, 3, padding=1) for _ in range(3))

    def forward(self, rainy: torch.Tensor) -> torch.Tensor:
        image = rainy * PIXEL_RANGE
        features = self.conv_init2(self.conv_init1(image))
        x1 = self.sub1(features, self.res_extra1(residue(image)))
        out1 = self.output1(x1)
        x2 = self.sub2(self.ag1(torch.cat((x1, features), 1)), self.res_extra2(residue(out1)))
        out2 = self.output2(self.ag2_en(torch.cat((x2, x1), 1)))
        x3 = self.sub3(self.ag2(torch.cat((x2, x1, features), 1)), self.res_extra3(residue(out2)))
        out3 = self.output3(self.ag_en(torch.cat((x3, x2, x1), 1)))
        return out3 / PIXEL_RANGE


# ---- official weights -------------------------------------------------------------------------------

_COMMIT = "0aa6526e4642dc4efa3e49ab29700fa7a312a318"
_REPO = f"https://raw.githubusercontent.com/cschenxiang/HCT-FFN/{_COMMIT}/experiment/HCT-FFN/model"
_CITATION = "Chen, Pan, Lu, Fan, Li, Hybrid CNN-Transformer Feature Fusion for Single Image Deraining, AAAI 2023"

# tag -> (file in the release, its sha256)
_WEIGHTS = {
    "rain100h": ("model_best_Rain100H.pt", "3c072706a7693c55e60324db0bea2eefd32edea1247b6bee21f0c9c4d62a4a29"),
    "rain100l": ("model_best_Rain100L.pt", "fa7b9d3227743844da34036a781ca996245aab1c199ce4a21b719c7d15596d8e"),
}

# The release names no training set per file. The README's training command passes --data_range 1-1800, but
# code/data/rainheavy.py slices the listed training folder with it, so 1,800 is an upper bound: PReNet's strict
# 1,254 pairs or the full 1,800 (546 of which share backgrounds with Rain100H's test images) both fit.
_TRAINING = {
    "rain100h": (
        "RainTrainH, 1,254 or all 1,800 pairs: the README's --data_range 1-1800 only caps the training folder it "
        "slices (all 1,800 would include 546 pairs sharing backgrounds with Rain100H's test images)",
        "RainTrainH",
    ),
    "rain100l": ("not stated by the release (a Rain100L training set, presumably RainTrainL)", "not stated"),
}

# Published PSNR/SSIM: none recorded (see docs/reproduction.md: the paper's table was not retrievable here).
_PUBLISHED: dict[str, dict[str, tuple[float, float]]] = {}


def weights_asset(tag: str) -> Asset:
    file, sha256 = _WEIGHTS[tag]
    return Asset(path=f"weights/hct_ffn/{file}", url=f"{_REPO}/{file}", sha256=sha256, licence="none stated")


def spec(name: str) -> MethodSpec:
    tag = name.split(".")[1]
    trained_on, training_set = _TRAINING[tag]
    return MethodSpec(
        name=name,
        summary=f"HCT-FFN: 3 stages (experts, chunked transformer, experts) on a residue prior; official {tag} weights",
        quantisation=Quantisation.ROUND,  # code/trainer.py: utility.quantize = round(clamp(255 y, 0, 255))
        weights=weights_asset(tag),
        trained_on=trained_on,
        training_set=training_set,
        trained_on_source="cschenxiang/HCT-FFN README (training command) and the weights' file names",
        citation=_CITATION,
        published=published_scores(_PUBLISHED.get(name, {}), "matlab-double"),
        published_source="",
    )


def build(name: str) -> DerainMethod:
    """Registry entry point for `hct_ffn.rain100h` and `hct_ffn.rain100l`."""
    return DerainMethod(spec(name), HCTFFN)

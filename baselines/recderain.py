"""The journal release of BRN (Ren, Shang, Zhu, Hu, Meng, Zuo, "Single Image Deraining Using Bilateral Recurrent
Network", IEEE TIP 2020; csdwren/RecDerain): BRN with 8 stages, SRN for real rain, and the authors' re-trainings
of PReNet, RESCAN and SPANet on RainHeavy* / RainLight* (= Rain200H / Rain200L, JORDER-E's updated sets).

The networks are those of their own modules: BRN is `baselines.brn`'s (the official test script unfolds it
8 times, `--inter_iter 8`, where the ICASSP release uses 4); SRN is PReNet's network, key for key; RESCAN and
SPANet are `baselines.rescan` and `baselines.spanet`. Names are `arch.tag`: `brn_tip.*`, `srn_tip.real`, and
`prenet.rain200h`, `rescan.rain200l`, ... for the re-trainings.

Published numbers are the tables of the RecDerain README (images results/1.jpg-4.jpg, the TIP paper's tables),
scored with the release's statistic/*.m, PReNet's scripts (`ssim.m` byte-identical): `matlab-double`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from baselines import brn, prenet, rescan, spanet
from bench.common.assets import Asset
from bench.methods.contract import DerainMethod, MethodSpec, Quantisation, published_scores

_RAW = "https://raw.githubusercontent.com/csdwren/RecDerain"
_HEAD = "5b2ad01d41d3b0cd251d0b4033071b796f234cac"
_WITH_REAL = "b9b53a4340a2a72c77598e7e127d339dc7dd8fae"  # logs/real/ was deleted after this commit
_CITATION = "Ren, Shang, Zhu, Hu, Meng, Zuo, Single Image Deraining Using Bilateral Recurrent Network, IEEE TIP 2020"
_PUBLISHED_SOURCE = "csdwren/RecDerain README, tables results/1.jpg-4.jpg (TIP 2020; MATLAB statistic/*.m)"


@dataclass(frozen=True)
class _Arch:
    build: Callable[[], nn.Module]
    summary: str
    quantisation: Quantisation


_ARCHS = {
    "brn_tip": _Arch(lambda: brn.BilateralRecurrentNet(stages=8), "BRN (TIP 2020), 8 stages", Quantisation.TRUNCATE),
    "srn_tip": _Arch(prenet.PReNet, "SRN (TIP 2020): PReNet's single recurrent network", Quantisation.TRUNCATE),
    "prenet": _Arch(prenet.PReNet, "PReNet, re-trained by the BRN authors", Quantisation.TRUNCATE),
    # RESCAN's and SPANet's test scripts save cv2.imwrite(255 * clip(x)): cv2 rounds
    "rescan": _Arch(rescan.RESCAN, "RESCAN (ECCV 2018), re-trained by the BRN authors", Quantisation.ROUND),
    "spanet": _Arch(spanet.SPANet, "SPANet (CVPR 2019), re-trained by the BRN authors", Quantisation.ROUND),
}

_TRAINING_SETS = {
    "rain100h": prenet.TRAINING_SETS["rain100h"],
    "rain100l": prenet.TRAINING_SETS["rain100l"],
    "rain1400": prenet.TRAINING_SETS["rain1400"],
    "rain200h": ("RainHeavy* = Rain200H training set (1,800 pairs, JORDER-E's updated Rain100H)", "Rain200H train"),
    "rain200l": ("RainLight* = Rain200L training set (1,800 pairs, JORDER-E's updated Rain100L)", "Rain200L train"),
    "generalization": (
        "RainLight* = Rain200L training set: the release's model for the SPA-Data generalization test",
        "Rain200L train",
    ),
    "real": ("real rainy images (the release names no training set; removed from it in April 2020)", "real rain"),
}


@dataclass(frozen=True)
class _Weights:
    file: str  # under logs/ in the release
    sha256: str
    published: dict = field(default_factory=dict)  # dataset -> (PSNR, SSIM) under matlab-double
    commit: str = _HEAD


_WEIGHTS = {
    "brn_tip.rain100h": _Weights(
        "Rain100H/BRN/net_latest.pth",
        "46db6bbda038b49bc6c4e00d4af473939f586a6505384682769f8b4d98eda567",
        {"rain100h": (30.47, 0.913)},
    ),
    "brn_tip.rain100l": _Weights(
        "Rain100L/BRN/net_latest.pth",
        "de9b4bb3e2c076386f8298357e28f5a1d694797a61aadbbafc04f3b7ca93f885",
        {"rain100l": (38.16, 0.982), "rain12": (36.74, 0.959)},  # Rain12 with the Rain100L weights (test_Rain12.sh)
    ),
    "brn_tip.rain1400": _Weights(
        "Rain1400/BRN/net_latest.pth",
        "11b4d2d77a75f081196f2ed77447b1b1b401bedd92543272217391f7ec56c3a2",
        {"rain1400": (32.75, 0.948)},
    ),
    "brn_tip.rain200h": _Weights(
        "RainHeavy/BRN/net_latest.pth",
        "8663ddfb16af5065016f707863af12f45a006ff0f2c88639e85ebc05ff7c75fd",
        {"rain200h": (30.27, 0.917)},
    ),
    "brn_tip.rain200l": _Weights(
        "RainLight/BRN/net_latest.pth",
        "7683c2227b4b8c12cb039d2643b329a7ec4b2e6bb03ff4ef9d16a308a2527dc5",
        {"rain200l": (38.86, 0.985)},
    ),
    "brn_tip.generalization": _Weights(
        "generalization_model/BRN/net_latest.pth",
        "7f9040c72c9ea128eae0cd8e862d40e576b5f5ed8e294a814b7d76b5b3fa8cba",
        {"spa-data": (35.34, 0.945)},
    ),
    "brn_tip.real": _Weights(
        "real/BRN/net_latest.pth", "52c8346a8c052660cd49d676c3d837a19b7a27456cfe5813df435661feee195d", commit=_WITH_REAL
    ),
    "srn_tip.real": _Weights(
        "real/SRN/net_latest.pth", "41881b858c4e7bcfe720ad74260f66552777000be6be7258aece6d96a7c86874", commit=_WITH_REAL
    ),
    # the generalization_model/ copies of these three are byte-identical to the RainLight ones, hence spa-data here
    "prenet.rain200h": _Weights(
        "RainHeavy/PReNet/net_latest.pth",
        "cef889ca3daba79c6e96c7f13ecfd8cf823e105b8acf63efa8296b5020c27bed",
        {"rain200h": (29.36, 0.903)},
    ),
    "prenet.rain200l": _Weights(
        "RainLight/PReNet/net_latest.pth",
        "a1df2965e2e99081371210c678f63d95de95c40d87f556deb491dd064cb59a27",
        {"rain200l": (37.93, 0.983), "spa-data": (35.00, 0.941)},
    ),
    "rescan.rain200h": _Weights(
        "RainHeavy/RESCAN/latest",
        "237e29616891f599334c236def92ce216ef9662ca1f77437643ac4b1987c58a3",
        {"rain200h": (28.02, 0.862)},
    ),
    "rescan.rain200l": _Weights(
        "RainLight/RESCAN/latest",
        "49bfd63951fc6fde251de82db9af42ef995db9d00113a585cd171c51fb533017",
        {"rain200l": (38.43, 0.982), "spa-data": (34.73, 0.937)},
    ),
    "spanet.rain200h": _Weights(
        "RainHeavy/SPANet/step_40000",
        "53c8c823c7138a7bb3c73db1be38a92bdc78e20bd206bbc202b6dfaa7d8e2189",
        {"rain200h": (26.59, 0.869)},
    ),
    "spanet.rain200l": _Weights(
        "RainLight/SPANet/latest",
        "c6c6c10c1371fd31fd620143e79cb786fb02d984c538355372cbeeca00730192",
        {"rain200l": (36.13, 0.975), "spa-data": (35.26, 0.945)},
    ),
}


def weights_asset(name: str) -> Asset:
    weights = _WEIGHTS[name]
    return Asset(
        path=f"weights/brn_recderain/{weights.file}",
        url=f"{_RAW}/{weights.commit}/logs/{weights.file}",
        sha256=weights.sha256,
        licence="none stated",
    )


def spec(name: str) -> MethodSpec:
    arch_name, tag = name.split(".")
    arch, weights = _ARCHS[arch_name], _WEIGHTS[name]
    trained_on, training_set = _TRAINING_SETS[tag]
    return MethodSpec(
        name=name,
        summary=f"{arch.summary}; RecDerain {tag} weights",
        quantisation=arch.quantisation,
        weights=weights_asset(name),
        trained_on=trained_on,
        training_set=training_set,
        training_datasets=prenet.TRAINING_DATASETS.get(tag, ()),
        trained_on_source="csdwren/RecDerain README and test_*.sh",
        citation=_CITATION,
        published=published_scores(weights.published, "matlab-double"),
        published_source=_PUBLISHED_SOURCE if weights.published else "",
    )


def build(name: str) -> DerainMethod:
    """Registry entry point for every name of the RecDerain release."""
    return DerainMethod(spec(name), _ARCHS[name.split(".")[0]].build)

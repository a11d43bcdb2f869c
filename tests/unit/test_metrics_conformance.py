"""Every protocol of bench.metrics against independent references written here from the public sources.

The references are deliberately the slow, obvious versions: MATLAB's rgb2ycbcr luma from its formula
(the uint8 one also checked against exact integer rounding on all 2^24 colours), Wang's ssim_index with
a 2-D 11x11 window and a direct 'valid' correlation, his 2009 ssim.m with imfilter's 'symmetric' padding and
kernel centre written out, PSNR from its definition, OpenCV itself for the OpenCV luma, the MSDR-Net helpers
re-implemented from their source, BasicSR's float luma step by step, and pyiqa itself for `pyiqa-default`.
None of them calls bench.metrics.
"""

import dataclasses
import json
import math
import subprocess
import sys

import cv2
import numpy as np
import pytest
from anchors import import_pyiqa
from matlab_reference import filter2_valid, ref_ssim_index, ref_ssim_m_2009, ref_window, ref_y_double
from scipy import ndimage

from bench.common.errors import UnknownNameError
from bench.metrics import METRICS, PROTOCOLS, make_scorer
from bench.metrics.ycbcr import matlab_y_double, matlab_y_uint8, opencv_y

TOL = 1e-6  # PSNR in dB and SSIM: float64 evaluations of one formula in different orders agree far closer
SHAPES = [(321, 481), (481, 321), (13, 17), (37, 64)]
ALL_PROTOCOLS = tuple(PROTOCOLS)


# ---------------------------------------------------------------- independent references


def matlab_uint8_luma_in_double(rgb):
    """What MATLAB's rgb2ycbcr.m computes for uint8 input before rounding.

    It scales the coefficient row `origT(1,:)` by 1/255 and calls imlincomb, which sums coefficient *
    channel in double and adds the offset 16.
    """
    t_r, t_g, t_b = (1 / 255) * np.array([65.481, 128.553, 24.966])
    r, g, b = (rgb[..., c].astype(float) for c in range(3))
    return t_r * r + t_g * g + t_b * b + 16


def ref_y_uint8(rgb):
    """MATLAB rgb2ycbcr(uint8 x), channel 1: imlincomb rounds like `round`, half away from zero
    (every value is positive, so floor(y + 0.5))."""
    return np.floor(matlab_uint8_luma_in_double(rgb) + 0.5)


def exact_matlab_y_numerator(rgb):
    """255000 * (Y - 16) in exact integers: Y - 16 = (65481 R + 128553 G + 24966 B) / 255000."""
    r, g, b = (rgb[..., c].astype(np.int64) for c in range(3))
    return 65481 * r + 128553 * g + 24966 * b


def exact_y_uint8(rgb):
    """The exact rational luma rounded half up, in integers: what MATLAB's doubles approximate."""
    return 16 + (exact_matlab_y_numerator(rgb) + 127500) // 255000


def ref_opencv_y(rgb):
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)[..., 0]


def ref_basicsr_y(rgb):
    """BasicSR 1.4.2 to_y_channel on the BGR image: float32 /255, dot with the B,G,R row (float64), +16,
    /255 cast to float32, *255 in float32."""
    bgr = rgb[..., ::-1].astype(np.float32) / 255.0
    y = np.dot(bgr, [24.966, 128.553, 65.481]) + 16.0
    y /= 255.0
    return (y.astype(np.float32) * 255.0).astype(np.float64)


def ref_pyiqa(name, pred, target):
    """pyiqa.create_metric(name) with defaults on RGB float32 tensors in [0,1] (pyiqa's imread2tensor)."""
    pyiqa = import_pyiqa()
    import torchvision.transforms.functional as tf

    metric = pyiqa.create_metric(name, device="cpu")
    return float(metric(tf.to_tensor(pred)[None], tf.to_tensor(target)[None]))


def ref_psnr(a, b, peak):
    mse = np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def ref_msdr_calc_psnr(img1_bgr, img2_bgr):
    """calc_psnr of the MSDR-Net script, re-derived: uint8 luma, uint8 difference and square (mod 256)."""
    y1 = cv2.cvtColor(img1_bgr, cv2.COLOR_BGR2YCR_CB)[:, :, 0].astype(np.int64)
    y2 = cv2.cvtColor(img2_bgr, cv2.COLOR_BGR2YCR_CB)[:, :, 0].astype(np.int64)
    mse = np.mean((((y1 - y2) % 256) ** 2) % 256)
    return 100 if mse == 0 else 20 * math.log10(255.0 / math.sqrt(mse))


def ref_msdr_calc_ssim(img1_bgr, img2_bgr):
    """calc_ssim of the MSDR-Net script: its filter2 is convolve2d with the window rotated by 180 degrees,
    i.e. the same 'valid' correlation as MATLAB's filter2; constants K1 0.01, K2 0.03, L 255."""
    y1 = cv2.cvtColor(img1_bgr, cv2.COLOR_BGR2YCR_CB)[:, :, 0].astype(float)
    y2 = cv2.cvtColor(img2_bgr, cv2.COLOR_BGR2YCR_CB)[:, :, 0].astype(float)
    w = ref_window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu1, mu2 = filter2_valid(w, y1), filter2_valid(w, y2)
    s1 = filter2_valid(w, y1 * y1) - mu1 * mu1
    s2 = filter2_valid(w, y2 * y2) - mu2 * mu2
    s12 = filter2_valid(w, y1 * y2) - mu1 * mu2
    return np.mean(((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2)))


def reference_scores(protocol, pred, target):
    """(psnr, ssim) of `protocol`, from the references above only."""
    if protocol == "matlab-double":
        ya, yb = ref_y_double(pred), ref_y_double(target)
        return ref_psnr(ya, yb, 1.0), ref_ssim_m_2009(ya * 255, yb * 255)
    if protocol == "matlab-uint8":
        ya, yb = ref_y_uint8(pred), ref_y_uint8(target)
        return ref_psnr(ya, yb, 255.0), ref_ssim_index(ya, yb)
    if protocol == "opencv-fullrange":
        ya, yb = ref_opencv_y(pred), ref_opencv_y(target)
        return ref_psnr(ya, yb, 255.0), ref_ssim_index(ya, yb)
    if protocol == "msdr-official":
        # the script's images come from cv2.imread, i.e. BGR; the scorer takes RGB
        bgr_pred, bgr_target = (np.ascontiguousarray(x[..., ::-1]) for x in (pred, target))
        return ref_msdr_calc_psnr(bgr_pred, bgr_target), ref_msdr_calc_ssim(bgr_pred, bgr_target)
    if protocol == "rgb":
        ssims = [ref_ssim_index(pred[..., c], target[..., c]) for c in range(3)]
        return ref_psnr(pred / 255.0, target / 255.0, 1.0), float(np.mean(ssims))
    if protocol == "basicsr":
        ya, yb = ref_basicsr_y(pred), ref_basicsr_y(target)
        return ref_psnr(ya, yb, 255.0), ref_ssim_index(ya, yb)
    if protocol == "pyiqa-default":
        return ref_pyiqa("psnr", pred, target), ref_pyiqa("ssim", pred, target)
    raise AssertionError(protocol)


# ---------------------------------------------------------------- synthetic images


def image_pair(shape, seed):
    """A textured target and a degraded prediction of it (noise, a shift of the mean, a few streaks)."""
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.normal(size=(*shape, 3)), sigma=(3, 3, 0))
    target = np.clip(128 + 60 * smooth / smooth.std() + rng.normal(0, 8, (*shape, 3)), 0, 255)
    pred = target + rng.normal(3, 12, (*shape, 3))
    pred[:, :: max(1, shape[1] // 7)] += 90  # rain-like streaks: large errors, some wrapping in uint8
    target, pred = (np.clip(x, 0, 255).round().astype(np.uint8) for x in (target, pred))
    return pred, target


@pytest.fixture(scope="module", params=SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def pair(request):
    return image_pair(request.param, seed=sum(request.param))


@pytest.fixture(scope="module")
def all_scorer():
    return make_scorer(metrics=METRICS, protocols=ALL_PROTOCOLS)


# ---------------------------------------------------------------- conformance of every protocol


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_protocol_matches_independent_reference(pair, all_scorer, protocol):
    pred, target = pair
    scores = all_scorer(pred, target)
    want_psnr, want_ssim = reference_scores(protocol, pred, target)
    assert scores[f"psnr@{protocol}"] == pytest.approx(want_psnr, abs=TOL)
    assert scores[f"ssim@{protocol}"] == pytest.approx(want_ssim, abs=TOL)


# skimage's Gaussian SSIM is the same separable window cropped to the same valid region; only the order
# of float64 additions can differ, and those errors (~1e-16 relative on variances up to 255^2, against
# C2 = 58.5) stay below 1e-12. 1e-10 leaves room for another platform's summation order.
SKIMAGE_TOL = 1e-10


@pytest.mark.parametrize(
    ("protocol", "planes"),
    [
        ("matlab-double", lambda rgb: [ref_y_double(rgb) * 255]),
        ("matlab-uint8", lambda rgb: [ref_y_uint8(rgb)]),
        ("opencv-fullrange", lambda rgb: [ref_opencv_y(rgb).astype(float)]),
        ("rgb", lambda rgb: [rgb[..., c].astype(float) for c in range(3)]),
    ],
)
def test_ssim_agrees_with_scikit_image(pair, all_scorer, protocol, planes):
    from skimage.metrics import structural_similarity

    pred, target = pair
    want = np.mean(
        [
            structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
            for a, b in zip(planes(pred), planes(target), strict=True)
        ]
    )
    assert all_scorer(pred, target)[f"ssim@{protocol}"] == pytest.approx(want, abs=SKIMAGE_TOL)


# ---------------------------------------------------------------- colour conversions


def all_colours(chunk):
    """The 2^24 RGB colours as 16 uint8 images of 1024 x 1024."""
    v = np.arange(chunk * (1 << 20), (chunk + 1) * (1 << 20), dtype=np.uint32)
    rgb = np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], axis=-1).astype(np.uint8)
    return rgb.reshape(1024, 1024, 3)


def test_opencv_luma_equals_cv2_on_every_colour():
    for chunk in range(16):
        rgb = all_colours(chunk)
        np.testing.assert_array_equal(opencv_y(rgb), ref_opencv_y(rgb))


def test_opencv_luma_equals_cv2_on_odd_sized_images():
    for shape in SHAPES:
        rgb = np.random.default_rng(1).integers(0, 256, (*shape, 3), dtype=np.uint8)
        np.testing.assert_array_equal(opencv_y(rgb), ref_opencv_y(rgb))


def test_matlab_uint8_luma_on_every_colour():
    """All 2^24 colours equal MATLAB's double-precision path; that path equals the exact rational value
    rounded half up except on the 194 colours whose exact value ends in .5, where MATLAB's doubles land
    just below or exactly on the half. Rounding those halves to even (numpy.round) would differ."""
    ties, halves_to_even_differ = 0, 0
    for chunk in range(16):
        rgb = all_colours(chunk)
        got = matlab_y_uint8(rgb)
        want = ref_y_uint8(rgb)
        np.testing.assert_array_equal(got, want)
        exact = exact_y_uint8(rgb)
        tie = exact_matlab_y_numerator(rgb) % 255000 == 127500
        np.testing.assert_array_equal(want[~tie], exact[~tie])
        ties += int(tie.sum())
        y = matlab_uint8_luma_in_double(rgb)
        halves_to_even_differ += int((np.round(y) != np.floor(y + 0.5)).sum())
    assert ties == 194
    assert halves_to_even_differ > 0


def test_matlab_double_luma_matches_formula():
    rgb = np.random.default_rng(2).integers(0, 256, (321, 481, 3), dtype=np.uint8)
    np.testing.assert_allclose(matlab_y_double(rgb), ref_y_double(rgb), rtol=0, atol=1e-15)


# ---------------------------------------------------------------- MSDR-Net's wrap-around


def grey(shape, level):
    return np.full((*shape, 3), level, dtype=np.uint8)


def test_msdr_psnr_wraps_a_uniform_error_of_16_to_zero():
    """Y differs by 16 everywhere: 16^2 = 256 wraps to 0 in uint8, so the script reports its 100 dB."""
    pred, target = grey((40, 50), 116), grey((40, 50), 100)
    scores = make_scorer(protocols=("opencv-fullrange", "msdr-official"))(pred, target)
    assert scores["psnr@opencv-fullrange"] == pytest.approx(20 * math.log10(255 / 16), abs=TOL)  # 24.05 dB
    assert scores["psnr@msdr-official"] == 100.0
    assert scores["ssim@msdr-official"] == scores["ssim@opencv-fullrange"]


@pytest.mark.parametrize("error", [1, 2, 15, 16, 17, 20, 32, 100, 200, 255])
def test_msdr_psnr_of_a_uniform_error(error):
    """Uniform Y error d: the script's MSE is (d mod 256)^2 mod 256 = d^2 mod 256; the correct one is d^2."""
    pred, target = grey((20, 20), error), grey((20, 20), 0)
    scores = make_scorer(protocols=("opencv-fullrange", "msdr-official"))(pred, target)
    wrapped = error**2 % 256
    want = 100.0 if wrapped == 0 else 20 * math.log10(255 / math.sqrt(wrapped))
    assert scores["psnr@msdr-official"] == pytest.approx(want, abs=TOL)
    assert scores["psnr@opencv-fullrange"] == pytest.approx(20 * math.log10(255 / error), abs=TOL)
    assert scores["psnr@msdr-official"] >= scores["psnr@opencv-fullrange"] - TOL


# ---------------------------------------------------------------- identical images


def test_identical_images():
    image = image_pair((30, 40), seed=5)[1]
    scores = make_scorer(protocols=ALL_PROTOCOLS)(image, image.copy())
    # MATLAB psnr and BasicSR: Inf; the MSDR script: 100; pyiqa: 10 log10(1 / 1e-8) through its eps
    special = {"msdr-official": 100.0, "pyiqa-default": pytest.approx(80.0, abs=1e-4)}
    for protocol in ALL_PROTOCOLS:
        want = special.get(protocol, math.inf)
        assert scores[f"psnr@{protocol}"] == want
        assert scores[f"ssim@{protocol}"] == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------- the public surface


def test_protocol_table():
    assert set(PROTOCOLS) == {
        "matlab-double",
        "matlab-uint8",
        "opencv-fullrange",
        "msdr-official",
        "rgb",
        "basicsr",
        "pyiqa-default",
    }
    assert METRICS == ("psnr", "ssim")
    for name, protocol in PROTOCOLS.items():
        assert protocol.name == name
        assert protocol.summary and "\n" not in protocol.summary
        assert protocol.used_by
    assert "inflation" in PROTOCOLS["msdr-official"].summary
    json.dumps([dataclasses.asdict(p) for p in PROTOCOLS.values()])  # stored with every result
    with pytest.raises(AttributeError):
        PROTOCOLS["rgb"].name = "other"  # frozen
    with pytest.raises(TypeError):
        PROTOCOLS["new"] = PROTOCOLS["rgb"]  # read-only mapping


def test_columns_are_protocol_major_and_match_the_scores():
    scorer = make_scorer(metrics=("psnr", "ssim"), protocols=("matlab-double", "rgb"))
    assert scorer.columns == ["psnr@matlab-double", "ssim@matlab-double", "psnr@rgb", "ssim@rgb"]
    pred, target = image_pair((20, 24), seed=3)
    scores = scorer(pred, target)
    assert list(scores) == scorer.columns
    assert all(type(v) is float for v in scores.values())


def test_default_scorer_is_matlab_double():
    assert make_scorer().columns == ["psnr@matlab-double", "ssim@matlab-double"]


def test_describe_is_json_ready_and_complete():
    scorer = make_scorer(protocols=ALL_PROTOCOLS)
    description = scorer.describe()
    assert list(description) == scorer.columns
    json.dumps(description)
    for column, entry in description.items():
        metric, protocol = column.split("@")
        assert entry["metric"] == metric and entry["protocol"] == protocol
        assert entry["higher_is_better"] is True
        assert entry["implementation"].startswith("bench.metrics.")
        assert {"y", "rounding", metric}.issubset(entry["definition"])
    assert "11x11" in description["ssim@matlab-double"]["definition"]["ssim"]
    assert "wrap" in description["psnr@msdr-official"]["definition"]["psnr"]


# ---------------------------------------------------------------- errors


def test_unknown_protocol_suggests_close_names():
    with pytest.raises(UnknownNameError, match=r"Did you mean: matlab-double") as caught:
        make_scorer(protocols=("matlab-dubble",))
    assert (
        "Available: basicsr, matlab-double, matlab-uint8, msdr-official, opencv-fullrange, pyiqa-default, rgb"
        in str(caught.value)
    )


def test_unknown_metric_suggests_close_names():
    with pytest.raises(UnknownNameError, match=r"Unknown metric 'psnrr'\. Did you mean: psnr"):
        make_scorer(metrics=("psnrr",))


def test_a_single_name_is_not_split_into_letters():
    assert make_scorer(metrics="ssim", protocols="rgb").columns == ["ssim@rgb"]


def test_no_metric_is_an_error():
    with pytest.raises(ValueError, match="no metric given"):
        make_scorer(metrics=())


@pytest.mark.parametrize(
    ("pred", "target", "message"),
    [
        (grey((20, 30), 1), grey((30, 20), 1), r"differ in shape: \(20, 30, 3\) vs \(30, 20, 3\)"),
        (grey((20, 20), 1).astype(np.float32), grey((20, 20), 1), r"pred must be uint8 .* float32"),
        (grey((20, 20), 1), grey((20, 20), 1).astype(np.int64), r"target must be uint8 .* int64"),
        (np.zeros((20, 20), np.uint8), np.zeros((20, 20), np.uint8), r"H x W x 3 .* \(20, 20\)"),
        (np.zeros((20, 20, 4), np.uint8), np.zeros((20, 20, 4), np.uint8), r"H x W x 3 .* \(20, 20, 4\)"),
        (grey((20, 20), 1).tolist(), grey((20, 20), 1), r"pred must be a numpy.ndarray, got list"),
        (grey((10, 30), 1), grey((10, 30), 1), r"at least 11x11 .* got 10x30"),
    ],
)
def test_bad_input_raises_value_error(pred, target, message):
    with pytest.raises(ValueError, match=message):
        make_scorer(protocols=ALL_PROTOCOLS)(pred, target)


def test_psnr_alone_works_below_the_ssim_window():
    scores = make_scorer(metrics=("psnr",), protocols=ALL_PROTOCOLS)(grey((4, 5), 10), grey((4, 5), 12))
    assert scores["psnr@opencv-fullrange"] == pytest.approx(20 * math.log10(255 / 2), abs=TOL)


def test_import_is_light():
    """bench.metrics needs NumPy and SciPy only: no torch, scikit-image or OpenCV at import."""
    code = "import sys, bench.metrics; print(sorted(m for m in ('torch', 'skimage', 'cv2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

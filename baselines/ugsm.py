"""UGSM, the directional global sparse model (Deng, Huang, Zhao, Jiang, "A directional global sparse model for
single image rain removal", Applied Mathematical Modelling 59, 662-679, 2018): training-free, no parameters learned.

Rain streaks, falling roughly vertically, are a layer R of the rainy luma O with three sparse properties: they
vary little along their direction (vertical gradient), they cover few pixels, and removing them leaves a background
with few horizontal edges (the streaks made them). The convex model

    min_R  ||D_y R||_1 + lambda_1 ||R||_1 + lambda_2 ||D_x (O - R)||_1,    0 <= R <= O

is solved by ADMM, one auxiliary variable per term: X = D_y R, Y = R, Z = D_x (O - R), each with multiplier P and
penalty beta. With periodic forward differences the R step is a single division in the Fourier domain. As in the
authors' code, R is then clipped to [0, O] (their video code, rain_removal.m of Jiang et al. CVPR 2017, does the
same) rather than the constraint being split off as a fourth variable: the iteration settles near, not at, the
model's minimiser, and that is what UGSM's numbers are made of. The multipliers take a step of 1.618 beta, and the
iteration stops when the background O - R moves by less than `TOLERANCE` relative to itself. Only the luma changes:
the derained colour image keeps the rainy Cb and Cr, so the rain layer comes off R, G and B alike, scaled by 255/219
(the Y column of BT.601's inverse).

The weights and solver settings are the defaults of the authors' `ugsm.m` (release UGSM_v3.0, a zip in
zhaoxile/A-directional-global-sparse-model-for-single-image-rain-removal that could not be opened offline; values as
a public port of that file gives them, consistent with the same group's video code). The paper's rotation for
oblique rain needs an angle chosen per image and is not applied. No published number on the mirrored sets was found.
"""

import math

import torch
from torch import nn

from bench.methods.contract import DerainMethod, MethodSpec, Quantisation

SPARSITY_WEIGHT = 0.08  # lambda_1, on ||R||_1
BACKGROUND_EDGE_WEIGHT = 0.95  # lambda_2, on ||D_x (O - R)||_1 (the streak-direction term has weight 1)
PENALTY = 100.0  # beta, the same for the three constraints
DUAL_STEP = 1.618  # multiplier step, in units of beta
TOLERANCE = 1e-3  # ||B_k - B_(k-1)|| / ||B_k|| with B = O - R
MAX_ITERATIONS = 200

# BT.601 studio-swing luma of RGB in [0, 1] (MATLAB rgb2ycbcr), and how much of R, G, B one unit of Y is
_LUMA_ROW = (65.481 / 255, 128.553 / 255, 24.966 / 255)
_LUMA_OFFSET = 16 / 255
_RGB_PER_LUMA = 255 / 219

SPEC = MethodSpec(
    name="ugsm",
    summary="directional global sparse model (Deng et al. 2018): ADMM on the luma, training-free",
    quantisation=Quantisation.ROUND,  # MATLAB's imwrite of a double image rounds
    trained_on="nothing: a convex optimisation per image, with the authors' fixed weights",
    training_set="none",
    trained_on_source="Deng et al., Applied Mathematical Modelling 59 (2018); authors' UGSM_v3.0 release",
    input_range="RGB float32 in [0, 1]; solved in float64 on the luma",
    size_policy="any size, no padding (periodic boundaries inside the solver)",
    citation="L.-J. Deng, T.-Z. Huang, X.-L. Zhao, T.-X. Jiang, A directional global sparse model for single image "
    "rain removal, Applied Mathematical Modelling 59 (2018) 662-679, doi:10.1016/j.apm.2018.03.001",
)


def _forward_difference(image: torch.Tensor, dim: int) -> torch.Tensor:
    """D u with periodic boundary: u[i+1] - u[i] along `dim`."""
    return image.roll(-1, dim) - image


def _adjoint_difference(image: torch.Tensor, dim: int) -> torch.Tensor:
    """D^T u: u[i-1] - u[i] along `dim`."""
    return image.roll(1, dim) - image


def _difference_spectrum(length: int, like: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of D^T D for a periodic forward difference of `length` samples: 4 sin^2(pi k / length)."""
    k = torch.arange(length, dtype=like.dtype, device=like.device)
    return 4 * torch.sin(math.pi * k / length) ** 2


def _shrink(values: torch.Tensor, threshold: float) -> torch.Tensor:
    """Soft thresholding, the proximal map of threshold * ||.||_1."""
    return values.sign() * (values.abs() - threshold).clamp_min(0)


def rain_layer(luma: torch.Tensor, *, tolerance: float = TOLERANCE, max_iterations: int = MAX_ITERATIONS):
    """The rain streak layer R of a luma image O (H x W, float64), and the number of ADMM iterations run."""
    beta = PENALTY
    rows, cols = 0, 1  # D_y differentiates down the rows (along the streaks), D_x across the columns
    height, width = luma.shape
    normal = beta * (
        _difference_spectrum(height, luma)[:, None] + 1 + _difference_spectrum(width, luma)[None, :]
    )  # beta (D_y^T D_y + I + D_x^T D_x), diagonal in the Fourier domain
    edges_of_rainy = _forward_difference(luma, cols)
    rain = torch.zeros_like(luma)
    along, sparse, across = torch.zeros_like(luma), torch.zeros_like(luma), torch.zeros_like(luma)  # multipliers
    iteration = 0
    while iteration < max_iterations:
        iteration += 1
        x = _shrink(_forward_difference(rain, rows) + along / beta, 1 / beta)
        y = _shrink(rain + sparse / beta, SPARSITY_WEIGHT / beta)
        z = _shrink(edges_of_rainy - _forward_difference(rain, cols) + across / beta, BACKGROUND_EDGE_WEIGHT / beta)
        right_side = (
            _adjoint_difference(beta * x - along, rows)
            + (beta * y - sparse)
            + _adjoint_difference(beta * (edges_of_rainy - z) + across, cols)
        )
        updated = torch.fft.ifft2(torch.fft.fft2(right_side) / normal).real
        updated = torch.minimum(updated.clamp_min(0), luma)  # the authors' projection, after the least-squares step
        moved = torch.linalg.norm(updated - rain) / torch.linalg.norm(luma - updated).clamp_min(1e-12)
        rain = updated
        along += DUAL_STEP * beta * (_forward_difference(rain, rows) - x)
        sparse += DUAL_STEP * beta * (rain - y)
        across += DUAL_STEP * beta * (edges_of_rainy - _forward_difference(rain, cols) - z)
        if moved.item() < tolerance:
            break
    return rain, iteration


class DirectionalSparseModel(nn.Module):
    """RGB in [0, 1] (1 x 3 x H x W) -> the rainy image less its luma rain layer, on every channel."""

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        image = rgb.double()
        row = torch.tensor(_LUMA_ROW, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
        luma = (image * row).sum(1) + _LUMA_OFFSET
        rain = torch.stack([rain_layer(plane)[0] for plane in luma]).unsqueeze(1)
        return (image - _RGB_PER_LUMA * rain).to(rgb.dtype)


def build(name: str) -> DerainMethod:
    return DerainMethod(SPEC, DirectionalSparseModel)

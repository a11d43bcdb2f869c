"""Pre/post-processing shared by every method: input scaling and output quantisation."""

import numpy as np
import pytest
import torch

from bench.methods.contract import DerainMethod, MethodSpec, Quantisation


def _method(quantisation: Quantisation) -> DerainMethod:
    return DerainMethod(MethodSpec(name="t", summary="t", quantisation=quantisation), torch.nn.Identity)


@pytest.mark.parametrize(
    ("value", "truncated", "rounded"),
    [(0.999, 254, 255), (0.5, 127, 128), (1.7, 255, 255), (-0.2, 0, 0), (3 / 255, 3, 3)],
)
def test_quantisation_truncates_or_rounds_255_times_clamped_output(value, truncated, rounded):
    y = torch.full((1, 3, 2, 2), value, dtype=torch.float32)
    # the reference: PReNet's test script, np.uint8(255 * clip(out, 0, 1)) in float32
    assert np.uint8(np.float32(255) * np.clip(np.float32(value), 0, 1)) == truncated
    assert (_method(Quantisation.TRUNCATE).to_output(y) == truncated).all()
    assert (_method(Quantisation.ROUND).to_output(y) == rounded).all()


def test_round_trip_of_every_grey_level_is_exact_when_rounding():
    levels = np.arange(256, dtype=np.uint8)
    image = np.stack([np.tile(levels, (4, 1))] * 3, axis=-1)  # 4 x 256 x 3
    method = _method(Quantisation.ROUND)
    method.prepare(store=None, device=torch.device("cpu"))
    assert np.array_equal(method.to_output(method.forward(method.to_input(image))), image)


def test_to_input_is_nchw_float_in_unit_range():
    image = np.zeros((5, 7, 3), dtype=np.uint8)
    image[..., 0] = 255
    x = _method(Quantisation.ROUND).to_input(image)
    assert x.shape == (1, 3, 5, 7) and x.dtype == torch.float32
    assert x[0, 0].eq(1).all() and x[0, 1:].eq(0).all()


def test_forward_before_prepare_is_an_error():
    with pytest.raises(RuntimeError, match="prepare"):
        _method(Quantisation.ROUND).forward(torch.zeros(1, 3, 2, 2))


def _float32_with_exact_half(level: int) -> np.float32 | None:
    """A float32 y in [0, 1] whose float32 product 255 * y is exactly level + 0.5, if one exists."""
    guess = np.float32((level + 0.5) / 255)
    for candidate in (guess, np.nextafter(guess, np.float32(0)), np.nextafter(guess, np.float32(1))):
        if np.float32(255) * candidate == np.float32(level + 0.5):
            return candidate
    return None


def test_round_takes_an_exact_half_up_and_truncate_drops_it():
    """Every grey level k whose k + 0.5 is hit exactly by a float32 output: ROUND gives k + 1 (half up, never
    half to even), TRUNCATE gives k."""
    ties = {k: v for k in range(255) if (v := _float32_with_exact_half(k)) is not None}
    assert len(ties) > 100  # most levels have one: the check covers odd and even k alike
    assert any(k % 2 == 0 for k in ties) and any(k % 2 == 1 for k in ties)
    y = torch.tensor(list(ties.values()), dtype=torch.float32).view(1, 1, 1, -1).expand(1, 3, 1, -1)
    levels = np.array(list(ties), dtype=np.int64)
    assert np.array_equal(_method(Quantisation.ROUND).to_output(y)[0, :, 0], levels + 1)
    assert np.array_equal(_method(Quantisation.TRUNCATE).to_output(y)[0, :, 0], levels)

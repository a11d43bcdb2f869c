"""The rainy input itself: the floor every results table needs."""

from torch import nn

from bench.methods.contract import DerainMethod, MethodSpec, Quantisation

SPEC = MethodSpec(
    name="identity",
    summary="returns the rainy input unchanged (the score of doing nothing)",
    # rounding makes the uint8 -> float -> uint8 round trip exact; truncation could lose a grey level
    quantisation=Quantisation.ROUND,
    trained_on="nothing: no parameters",
    training_set="none",
    trained_on_source="derain-bench",
)


def build(name: str) -> DerainMethod:
    return DerainMethod(SPEC, nn.Identity)

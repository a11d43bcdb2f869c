"""MSDR-Net (Han et al., CAC 2022), ported from the official Keras script: `MSDRNet` and its `MSDROutputs`."""

from msdr.model import MSDRNet, MSDROutputs

__all__ = ["MSDRNet", "MSDROutputs"]

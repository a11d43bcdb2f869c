"""Method names -> lazily imported factories.

Names follow `arch.tag` (the tag names the weights, usually the training set). A target is a
`"module:function"` string; the module is imported only when that method is asked for, so one broken
optional dependency cannot break unrelated commands. Adding a baseline = one module + lines here.
"""

import importlib
from typing import TYPE_CHECKING

from bench.names import unknown_name

if TYPE_CHECKING:  # importing bench.method would import torch, which `ls` and `--help` do not need
    from bench.method import DerainMethod

_PRENET_TAGS = ("rain100h", "rain100l", "rain1400")

METHODS: dict[str, str] = {
    "identity": "baselines.identity:build",
    **{
        f"{arch}.{tag}": "baselines.prenet:build"
        for arch in ("prenet", "prenet_r", "prn", "prn_r")
        for tag in _PRENET_TAGS
    },
    "prenet.real1": "baselines.prenet:build",
    "prenet.real2": "baselines.prenet:build",
}


def method_names() -> list[str]:
    return sorted(METHODS)


def build_method(name: str) -> "DerainMethod":
    """Instantiate the method registered as `name` (weights are loaded later, by `prepare`)."""
    if name not in METHODS:
        raise unknown_name("method", name, METHODS)
    module_name, _, attr = METHODS[name].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(name)

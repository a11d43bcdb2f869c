"""Methods from outside the project, without forking it: by import path or by an installed package's entry point.

    python -m bench run --methods my_package.my_module:build           # a factory on sys.path
    python -m bench run --methods mynet                                # declared by an installed package:
    # [project.entry-points."derain_bench.methods"]
    # mynet = "my_package.my_module:build"

The factory is called with no arguments and returns, at the simple level, a `torch.nn.Module` mapping float RGB
(N, 3, H, W) in [0, 1] to the same, quantised to 8 bits by rounding; or, at the full level, a `DerainMethod`
(bench.methods.contract) with its own spec: weights asset, training set, published numbers, quantisation. Either
takes `--weights NAME=PATH`. The results record where the code came from: the module file and its sha256, or the
package and its version.
"""

import dataclasses
import importlib
from pathlib import Path

from torch import nn

from bench.common.assets import sha256_file
from bench.common.errors import BenchError
from bench.methods.contract import DerainMethod, MethodSpec, Quantisation
from bench.methods.registry import ExternalMethod


def build_external(external: ExternalMethod) -> DerainMethod:
    """The method `external` names, its spec carrying its name and where its code came from."""
    module_name, _, attribute = external.target.partition(":")
    module = _import(external, module_name)
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise BenchError(f"{external.name}: {module_name} has no function {attribute!r} (from {module.__file__})")
    code = _code(external, module)
    made = factory()
    if isinstance(made, DerainMethod):
        made.spec = dataclasses.replace(made.spec, name=external.name, code=code)
        return made
    if isinstance(made, nn.Module):
        spec = MethodSpec(
            name=external.name,
            summary=_summary(factory, external),
            quantisation=Quantisation.ROUND,
            trained_on="not declared",
            code=code,
        )
        return DerainMethod(spec, factory)
    raise BenchError(
        f"{external.name}: {external.target}() returned a {type(made).__name__}; a method factory returns a "
        "torch.nn.Module (float RGB N x 3 x H x W in [0, 1] to the same) or a bench DerainMethod"
    )


def _import(external: ExternalMethod, module_name: str):
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        where = f"the package {external.distribution}" if external.distribution else "sys.path (set PYTHONPATH)"
        raise BenchError(f"{external.name}: cannot import {module_name} ({exc}); is it on {where}?") from exc


def _code(external: ExternalMethod, module) -> dict[str, str]:
    """Where the factory's code came from: the installed package and its version, or the module file's sha256."""
    code = {"target": external.target}
    if external.distribution:
        code |= {"distribution": external.distribution, "version": external.version or "unknown"}
    path = Path(getattr(module, "__file__", "") or "")
    if path.is_file():
        code |= {"file": str(path.resolve()), "sha256": sha256_file(path)}
    return code


def _summary(factory, external: ExternalMethod) -> str:
    first_line = ((factory.__doc__ or "").strip().splitlines() or [""])[0]
    return first_line or f"{external.target} (a method of your own)"

"""Method names -> lazily imported factories.

Names follow `arch.tag` (the tag names the weights, usually the training set). A bare architecture name
(`prenet`) means its default weights: the first name registered for that architecture (`prenet.rain100h`), as
timm resolves a model name to its default pretrained tag; results record the full name. A target is a
`"module:function"` string; the module is imported only when that method is asked for, so one broken
optional dependency cannot break unrelated commands. Adding a family = one module in baselines/ + one `_family`
entry here (its names); `family(name)` is that module, which `ls methods` groups by.

A method whose network takes one fixed input size declares inference protocols, the ways it meets other
sizes; `name@protocol` picks one (`msdr@tiled`), the bare name the method's default. The factory gets the
name as asked for and records the protocol in its spec.
"""

import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from bench.common.errors import BenchError, UnknownNameError
from bench.common.names import unknown_name, unknown_names

if TYPE_CHECKING:  # importing bench.methods.contract would import torch, which `ls` and `--help` do not need
    from bench.methods.contract import DerainMethod


def _family(target: str, *names: str) -> dict[str, str]:
    """One registry line per family: every name (space-separated groups allowed) -> the family's factory."""
    return dict.fromkeys(" ".join(names).split(), target)


def _each(archs: str, tags: str) -> str:
    """`_each("a b", "x y")` -> "a.x a.y b.x b.y"."""
    return " ".join(f"{arch}.{tag}" for arch in archs.split() for tag in tags.split())


# msdr.method's variants (its VARIANTS): one name here per committed checkpoint
_MSDR_VARIANTS = "msdr msdr-s msdr-m msdr-s-traintest"

METHODS: dict[str, str] = {
    "identity": "baselines.identity:build",
    "ugsm": "baselines.ugsm:build",
    **_family(
        "baselines.prenet:build",
        _each("prenet prenet_r prn prn_r", "rain100h rain100l rain1400"),
        _each("prenet", "real1 real2"),
    ),
    **_family("baselines.brn:build", _each("brn brn_xr brn_rx crn", "rain100h rain100l"), "brn.real"),
    "spanet.spa": "baselines.spanet:build",  # before the re-trainings below: SPANet's own release is its default
    "jorder_e.practical": "baselines.jorder_e:build",
    **_family(
        "baselines.recderain:build",
        _each("brn_tip", "rain100h rain100l rain1400 rain200h rain200l generalization real"),
        _each("prenet rescan spanet", "rain200h rain200l"),
        "srn_tip.real",
    ),
    **_family("baselines.aidnet:build", _each("aidnet", "rain100h rain100l")),
    **_family("baselines.drn:build", _each("drn", "rain100h rain100l")),
    **_family("baselines.hct_ffn:build", _each("hct_ffn", "rain100h rain100l")),
    **_family("msdr.method:build", _MSDR_VARIANTS),
}

# method -> its inference protocols (the `@protocol` name suffixes it accepts)
INFERENCE_PROTOCOLS: dict[str, tuple[str, ...]] = dict.fromkeys(
    _MSDR_VARIANTS.split(), ("paper", "tiled", "tiled-tilestats")
)


# Methods from outside the project (bench.methods.external): an installed package declares names in this entry-point
# group (`[project.entry-points."derain_bench.methods"] mynet = "my_package:build"`), or a name is an import path
ENTRY_POINT_GROUP = "derain_bench.methods"
_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


@dataclass(frozen=True)
class ExternalMethod:
    """Where the code of a method from outside the project lives."""

    name: str
    target: str  # "module:attribute"
    distribution: str | None = None  # the installed package that declared it (entry points), None for import paths
    version: str | None = None


def is_import_path(name: str) -> bool:
    """`my_package.my_module:build` names a factory on sys.path."""
    return bool(_IMPORT_PATH.fullmatch(name))


@cache
def entry_point_methods() -> dict[str, ExternalMethod]:
    """The names installed packages declare in ENTRY_POINT_GROUP; a name a registered method already has is refused."""
    found = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        package = point.dist.name if point.dist else "an installed package"
        if point.name in METHODS or point.name in default_names():
            raise BenchError(
                f"the entry point {point.name!r} of {package} clashes with the registered method {point.name}; "
                f'rename it in {package}\'s [project.entry-points."{ENTRY_POINT_GROUP}"]'
            )
        version = point.dist.version if point.dist else None
        found[point.name] = ExternalMethod(point.name, point.value, point.dist and point.dist.name, version)
    return found


def external_method(name: str) -> ExternalMethod | None:
    """The external method `name` stands for (an entry point or an import path), None for a registered one."""
    method, _ = parse_method_name(name)
    if method in METHODS:
        return None
    if method in (installed := entry_point_methods()):
        return installed[method]
    return ExternalMethod(method, method) if is_import_path(method) else None


def family(name: str) -> str:
    """The family a registered method belongs to: the module that builds it (`brn`), or its package (`msdr`)."""
    method, _ = parse_method_name(name)
    return METHODS[method].partition(":")[0].removeprefix("baselines.").partition(".")[0]


def default_names() -> dict[str, str]:
    """Bare architecture name -> its default method: the first registered `arch.tag` (`prenet` -> `prenet.rain100h`)."""
    defaults: dict[str, str] = {}
    for name in METHODS:
        arch, dot, _ = name.partition(".")
        if dot:
            defaults.setdefault(arch, name)
    return defaults


def resolve_method_names(names: Iterable[str]) -> tuple[str, ...]:
    """The registered names of `names`, bare architecture names replaced by their defaults (`@protocol` kept);
    every unknown name is reported in one error."""
    defaults = default_names()
    entry_point_methods()  # a package whose entry point clashes with a registered name is refused in any run
    resolved, unknown = [], []
    for name in names:
        method, protocol = parse_method_name(name)
        method = defaults.get(method, method) if method not in METHODS else method
        if method not in METHODS and external_method(method) is None:
            unknown.append(method)
        resolved.append(method if protocol is None else f"{method}@{protocol}")
    if unknown:
        error = unknown_names("method", unknown, [*METHODS, *defaults, *entry_point_methods()])
        raise UnknownNameError(f"{error} Or name a method of your own by import path: my_module:build.")
    return tuple(resolved)


def parse_method_name(name: str) -> tuple[str, str | None]:
    """`"msdr@tiled"` -> `("msdr", "tiled")`; `"msdr"` -> `("msdr", None)`."""
    method, at, protocol = name.partition("@")
    return method, protocol if at else None


def method_names() -> list[str]:
    """Every method with each of its inference protocols spelled out (a bare name runs the default one)."""
    plain = [name for name in METHODS if name not in INFERENCE_PROTOCOLS]
    with_protocol = [f"{name}@{protocol}" for name, protocols in INFERENCE_PROTOCOLS.items() for protocol in protocols]
    return sorted(plain + with_protocol, key=lambda name: name.split("@"))  # msdr@... before msdr-s@...


def build_method(name: str) -> "DerainMethod":
    """Instantiate the method registered as `name`, or `name@protocol` (weights are loaded later, by `prepare`)."""
    method, protocol = parse_method_name(name)
    if (external := external_method(method)) is not None:
        if protocol is not None:
            _check_inference_protocol(method, protocol)
        from bench.methods.external import build_external  # imports torch and the user's code: only when asked for

        return build_external(external)
    if method not in METHODS:
        raise unknown_name("method", method, METHODS)
    if protocol is not None:
        _check_inference_protocol(method, protocol)
    module_name, _, attr = METHODS[method].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(name)


def _check_inference_protocol(method: str, protocol: str) -> None:
    if method not in INFERENCE_PROTOCOLS:
        raise UnknownNameError(
            f"method '{method}' has no inference protocols (it takes images of any size as they are): "
            f"drop '@{protocol}'; methods with protocols: {', '.join(INFERENCE_PROTOCOLS)}"
        )
    if protocol not in INFERENCE_PROTOCOLS[method]:
        raise unknown_name(f"{method} inference protocol", protocol, INFERENCE_PROTOCOLS[method])

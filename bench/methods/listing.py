"""`python -m bench ls methods`: every registered method, grouped by family (the module that builds it), then the
methods installed packages declare (bench.methods.external), grouped by package.

For each name: what its weights were trained on, its parameter count, where its weights are (`cached` in the
store, `mirrored` in the mirror, `download` from the release, `in repo` for checkpoints that ship with the code,
`yours` for a method that needs the user's file, `-` for none), and the test sets it has a published number on.
Counting parameters builds each network (torch, no weights).
"""

import importlib

from bench.common.assets import Store
from bench.methods.registry import (
    METHODS,
    build_method,
    entry_point_methods,
    external_method,
    family,
    method_names,
    parse_method_name,
)

HEADER = ("name", "trained on", "params", "weights", "published on")


def family_title(name: str) -> str:
    """The first line of the family module's docstring, up to its citation or colon; for a method an installed
    package declares, that package."""
    if (external := external_method(name)) is not None:
        return f"from the installed package {external.distribution} {external.version} (entry point)"
    module = importlib.import_module(METHODS[parse_method_name(name)[0]].partition(":")[0])
    first_line = (module.__doc__ or "").strip().splitlines()[0]
    return first_line.split(" (")[0].split(":")[0].rstrip(".")


def method_rows(store: Store) -> dict[str, list[tuple[str, ...]]]:
    """family -> one row per method name (HEADER's columns), families in order of first registration."""
    families: dict[str, list[tuple[str, ...]]] = {}
    registered = sorted(method_names(), key=lambda n: list(METHODS).index(parse_method_name(n)[0]))
    for name in [*registered, *entry_point_methods()]:
        method = build_method(name)
        published = ", ".join(method.spec.published) or "-"
        row = (
            name,
            method.spec.training_set or "-",
            f"{method.parameter_count():,}",
            method.weights_location(store),
            published,
        )
        external = external_method(name)
        families.setdefault(external.distribution if external else family(name), []).append(row)
    return families


def format_method_table(store: Store) -> str:
    families = method_rows(store)
    rows = [HEADER] + [row for group in families.values() for row in group]
    widths = [max(len(row[k]) for row in rows) for k in range(len(HEADER))]

    def line(row: tuple[str, ...]) -> str:
        return "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()

    out = [line(HEADER)]
    for name, group in families.items():
        out += ["", f"{name}: {family_title(group[0][0])}"] + [line(row) for row in group]
    return "\n".join(out)

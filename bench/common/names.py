"""Helpful failures for unknown registered names."""

import difflib
from collections.abc import Iterable

from bench.common.errors import UnknownNameError


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> UnknownNameError:
    """Build the error for an unknown `name`, with close matches and the full list of choices."""
    return unknown_names(kind, [name], choices)


def unknown_names(kind: str, names: Iterable[str], choices: Iterable[str]) -> UnknownNameError:
    """One error for every unknown name of one kind: each with its close matches, then the choices once."""
    choices = sorted(set(choices))
    names = list(dict.fromkeys(names))
    available = f"Available: {', '.join(choices)}"
    if len(names) == 1:
        close = _close_matches(names[0], choices)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return UnknownNameError(f"Unknown {kind} '{names[0]}'.{hint} {available}")
    described = []
    for name in names:
        close = _close_matches(name, choices)
        described.append(f"'{name}'" + (f" (did you mean: {', '.join(close)}?)" if close else ""))
    return UnknownNameError(f"Unknown {kind}s {', '.join(described)}. {available}")


def _close_matches(name: str, choices: list[str]) -> list[str]:
    by_lower = {choice.lower(): choice for choice in choices}
    close = [by_lower[c] for c in difflib.get_close_matches(name.lower(), by_lower, n=3, cutoff=0.6)]
    # prefix matches catch "prenet" -> "prenet.rain100h", which difflib scores low
    return (
        close + [c for c in choices if c.lower().startswith(name.lower()) and c not in close][: max(0, 3 - len(close))]
    )

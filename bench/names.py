"""Helpful failures for unknown registered names."""

import difflib
from collections.abc import Iterable

from bench.errors import UnknownNameError


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> UnknownNameError:
    """Build the error for an unknown `name`, with close matches and the full list of choices."""
    choices = sorted(choices)
    by_lower = {choice.lower(): choice for choice in choices}
    close = [by_lower[c] for c in difflib.get_close_matches(name.lower(), by_lower, n=3, cutoff=0.6)]
    # prefix matches catch "prenet" -> "prenet.rain100h", which difflib scores low
    close += [c for c in choices if c.lower().startswith(name.lower()) and c not in close][: max(0, 3 - len(close))]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return UnknownNameError(f"Unknown {kind} '{name}'.{hint} Available: {', '.join(choices)}")

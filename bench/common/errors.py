"""Errors caused by user input or the environment.

The command line prints a `BenchError` as one line and exits non-zero; anything else is a bug and keeps
its traceback. Messages say what is wrong and what to do about it.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class BenchError(Exception):
    """Bad input or environment, reported to the user in one line."""


class UnknownNameError(BenchError):
    """A method, dataset, metric or protocol name that is not registered."""


class AssetError(BenchError):
    """A file that should be downloaded or found in the cache cannot be had."""


class ChecksumError(AssetError):
    """A file whose sha256 is not the one declared for it."""


class OfflineError(AssetError):
    """A download that is needed but the network is unreachable or disabled."""


class MetricUnavailableError(AssetError):
    """A metric whose backend package or model file is missing; the message says what to install or put where."""


class DatasetError(BenchError):
    """A dataset whose files, layout or pairing are unusable."""


class ImageError(DatasetError):
    """An image that cannot be decoded or is of an unsupported kind."""


@contextmanager
def writing(target: Path) -> Iterator[None]:
    """An OSError while writing results (disk full, permission denied) as a one-line BenchError naming the file."""
    try:
        yield
    except OSError as exc:
        raise BenchError(
            f"cannot write {exc.filename or target}: {exc.strerror or exc}; the run is not marked finished there "
            "(results.json is written last, and only when everything else is in place): free space or fix the "
            "permissions, then run again"
        ) from exc


class Problems:
    """The BenchErrors of independent checks, collected so that one message reports them all.

    problems = Problems()
    with problems.check():
        ...  # a BenchError raised here is kept, and the next check runs
    problems.raise_any()
    """

    def __init__(self) -> None:
        self.found: list[BenchError] = []

    @contextmanager
    def check(self, prefix: str = "") -> Iterator[None]:
        """Keep the BenchError raised inside, its message after `prefix` (which names what was checked)."""
        try:
            yield
        except BenchError as exc:
            self.found.append(type(exc)(f"{prefix}{exc}") if prefix else exc)

    def raise_any(self) -> None:
        if len(self.found) == 1:
            raise self.found[0]
        if self.found:
            listed = "; ".join(f"({number}) {problem}" for number, problem in enumerate(self.found, 1))
            raise BenchError(f"{len(self.found)} problems: {listed}")

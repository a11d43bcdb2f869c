"""Errors caused by user input or the environment.

The command line prints a `BenchError` as one line and exits non-zero; anything else is a bug and keeps
its traceback. Messages say what is wrong and what to do about it.
"""


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

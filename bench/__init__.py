"""derain-bench: reproducible benchmarking of single-image deraining methods.

Importing this package does no work: no model, metric backend, disk or network access happens until a
command asks for it.
"""

__version__ = "0.1.0"

"""Baseline deraining methods, one module per family, each registered in `bench.methods.registry`."""

"""qlib_local: a Jupyter-native research-to-live toolkit for crypto perpetual swaps."""

__version__ = "0.1.0"

"""The ``qlib-local`` command line."""

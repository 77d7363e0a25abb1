"""User-facing errors: the CLI prints one line and exits non-zero."""


class QlibError(Exception):
    """A problem the user can fix (bad input, bad config, missing data)."""

    exit_code = 2


class DataError(QlibError):
    """Stored or imported data that cannot be used as asked."""

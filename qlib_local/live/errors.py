"""Failures the live path distinguishes, venue-independent (the adapter maps codes onto them).

What matters for real money is whether a failed request may have taken effect:
``Ambiguous`` (timeouts, dropped connections, gateway errors) must be resolved by asking
the exchange before anything is resent; ``RateLimited`` and ``Unavailable`` were refused
before processing and can simply be retried after a backoff.
"""

from __future__ import annotations

from qlib_local.errors import QlibError


class LiveError(QlibError):
    """A live run cannot go on; the message says why."""

    exit_code = 1


class ConfigError(LiveError):
    """The accounts config or secrets are unusable."""

    exit_code = 2


class SecretError(ConfigError):
    """Secrets missing or stored unsafely."""


class LockHeld(LiveError):
    """Another run holds the account's lock."""

    exit_code = 3


class VenueError(LiveError):
    """An exchange answer or transport failure; ``code`` is the exchange's when there is one."""

    retryable = False
    ambiguous = False

    def __init__(self, message: str, code: str = "", status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


class RateLimited(VenueError):
    retryable = True


class Unavailable(VenueError):
    retryable = True


class Ambiguous(VenueError):
    """The request may or may not have been processed."""

    retryable = True
    ambiguous = True


class AuthError(VenueError):
    pass


class ApiError(VenueError):
    pass


class RetriesExhausted(LiveError):
    """Retries ran out of attempts or time; ``last`` is the final failure."""

    def __init__(self, what: str, last: Exception, attempts: int):
        super().__init__(f"{what}: gave up after {attempts} attempt(s): {last}")
        self.last = last
        self.attempts = attempts

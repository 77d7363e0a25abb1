"""Failures the live path distinguishes, venue-independent (each adapter maps its codes onto
the domain :class:`~qlib_local.live.types.Kind`).

What matters for real money is whether a failed request may have taken effect:
``Ambiguous`` (timeouts, dropped connections, gateway errors) must be resolved by asking
the exchange before anything is resent; ``RateLimited`` and ``Unavailable`` were refused
before processing and can simply be retried after a backoff.
"""

from __future__ import annotations

from qlib_local.errors import QlibError
from qlib_local.live.types import RETRY_KINDS, Kind


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
    """An exchange answer or transport failure, as a domain :class:`Kind`; ``code`` and ``status``
    are the venue's (for the logs only: the core decides on ``kind``)."""

    kind = Kind.REJECTED_OTHER

    def __init__(self, message: str, code: str = "", status: int | None = None, kind: Kind | None = None):
        super().__init__(message)
        self.code = code
        self.status = status
        if kind is not None:
            self.kind = kind

    @property
    def retryable(self) -> bool:
        """Refused before processing, or of unknown outcome (then resolved before any resend)."""
        return self.kind in RETRY_KINDS or self.kind == Kind.UNKNOWN_OUTCOME

    @property
    def ambiguous(self) -> bool:
        return self.kind == Kind.UNKNOWN_OUTCOME


class RateLimited(VenueError):
    kind = Kind.RETRY_LATER


class Unavailable(VenueError):
    """Refused before processing (down, busy, maintenance, cannot connect)."""

    kind = Kind.RETRY_LATER


class ClockSkew(VenueError):
    """The request's timestamp was outside the venue's window: refused before processing."""

    kind = Kind.CLOCK_SKEW


class Ambiguous(VenueError):
    """The request may or may not have been processed."""

    kind = Kind.UNKNOWN_OUTCOME


class AuthError(VenueError):
    kind = Kind.AUTH


class ApiError(VenueError):
    """The venue answered and refused (the kind says why)."""


def venue_error(kind: Kind, message: str, code: str = "", status: int | None = None,
                rate_limited: bool = False) -> VenueError:
    """The error class for a domain kind (``rate_limited`` tells a rate limit from an outage)."""
    if kind == Kind.RETRY_LATER:
        return (RateLimited if rate_limited else Unavailable)(message, code, status)
    cls = {Kind.CLOCK_SKEW: ClockSkew, Kind.UNKNOWN_OUTCOME: Ambiguous, Kind.AUTH: AuthError}.get(kind)
    return cls(message, code, status) if cls else ApiError(message, code, status, kind)


class RetriesExhausted(LiveError):
    """Retries ran out of attempts or time; ``last`` is the final failure."""

    def __init__(self, what: str, last: Exception, attempts: int):
        super().__init__(f"{what}: gave up after {attempts} attempt(s): {last}")
        self.last = last
        self.attempts = attempts

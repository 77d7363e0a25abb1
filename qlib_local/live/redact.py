"""Masking of secret values wherever text leaves the process: logs, stdout/stderr, tracebacks.

Secrets register themselves (see :class:`qlib_local.live.accounts.Secret`); ``install``
puts a filter on the root logger's handlers and wraps stdout/stderr, and inside IPython
also masks exception messages before the traceback is rendered into the notebook.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from typing import Any

MASK = "***"
MIN_LEN = 4  # shorter values would mask ordinary words
_secrets: set[str] = set()
_lock = threading.Lock()


def register(value: str) -> None:
    if value and len(value) >= MIN_LEN:
        with _lock:
            _secrets.add(value)


def clean(text: Any) -> str:
    """``text`` with every registered secret (and its url-encoded form) replaced by ``***``."""
    s = str(text)
    with _lock:
        values = sorted(_secrets, key=len, reverse=True)
    if not values:
        return s
    from urllib.parse import quote, quote_plus

    for v in values:
        for form in {v, quote(v, safe=""), quote_plus(v)}:
            if form in s:
                s = s.replace(form, MASK)
    return s


class RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        cleaned = clean(msg)
        if cleaned != msg or record.exc_info:
            record.msg, record.args = cleaned, ()
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = clean(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


class RedactingStream:
    """Wraps a text stream; everything written passes through :func:`clean`."""

    def __init__(self, stream: Any):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(clean(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


_FILTER = RedactFilter()


def install() -> None:
    """Mask secrets in logging handlers, stdout, stderr (and notebook tracebacks under IPython)."""
    root = logging.getLogger()
    for h in root.handlers:
        if _FILTER not in h.filters:
            h.addFilter(_FILTER)
    if _FILTER not in root.filters:
        root.addFilter(_FILTER)
    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)
    try:
        ip = get_ipython()  # type: ignore[name-defined]  # noqa: F821
    except NameError:
        return
    _install_ipython(ip)


def _install_ipython(ip: Any) -> None:
    def handler(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> Any:
        with contextlib.suppress(Exception):  # never let masking hide the original error
            value.args = tuple(clean(a) if isinstance(a, str) else a for a in value.args)
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)

    ip.set_custom_exc((Exception,), handler)


def add_handler_filter(handler: logging.Handler) -> None:
    handler.addFilter(_FILTER)

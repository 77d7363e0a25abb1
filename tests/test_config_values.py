"""The single-value checks both config loaders use."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qlib_local.config_values import Bounds, boolean, identifier, integer, loopback_url, number
from qlib_local.errors import QlibError


class Refused(QlibError):
    pass


UNIT = Bounds(0.0, 1.0, lo_open=True)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_number_passes_only_when_finite_and_in_range(x):
    ok = math.isfinite(x) and 0 < x <= 1
    try:
        assert number("f", x, UNIT, Refused) == x and ok
    except Refused as e:
        assert not ok and str(e).startswith("f: ")


@pytest.mark.parametrize("value, message", [
    (float("nan"), "f: must be a finite number, got nan"), (float("-inf"), "f: must be a finite number, got -inf"),
    (10**400, "f: must be in (0, 1], got 1000"), (0, "f: must be > 0, got 0"), (1.5, "f: must be <= 1, got 1.5"),
    (True, "f: expected a number, got True"), ("0.5", "f: expected a number, got '0.5'"), (None, "f: expected a number"),
])
def test_number_messages(value, message):
    with pytest.raises(Refused) as e:
        number("f", value, UNIT, Refused)
    assert str(e.value).startswith(message)


def test_integers_are_written_as_integers():
    b = Bounds(1, 10)
    assert integer("n", 3, b, Refused) == 3 and integer("n", np.int64(4), b, Refused) == 4
    for bad, message in ((2.5, "expected an integer, got 2.5"), (3.0, "expected an integer, got 3.0"),
                         (0, "must be >= 1"), (11, "must be <= 10"), (False, "expected an integer")):
        with pytest.raises(Refused, match=message):
            integer("n", bad, b, Refused)


def test_booleans_names_and_bounds_text():
    assert boolean("b", False, Refused) is False
    for bad in ("no", "false", 0, 1, None):
        with pytest.raises(Refused, match="must be true or false"):
            boolean("b", bad, Refused)
    assert identifier("n", "okx-main_2", Refused) == "okx-main_2"
    with pytest.raises(Refused, match="not a valid name"):
        identifier("n", 5, Refused)
    assert UNIT.text() == "(0, 1]" and Bounds(1, 125).text() == "[1, 125]" and Bounds(0.0).text() == "[0, inf)"


def test_loopback_urls():
    assert loopback_url("u", "http://[::1]:1", Refused) == "http://[::1]:1"
    for bad in (None, "", "http://", "http://10.0.0.1", "http://0.0.0.0:1", "https://example.com"):
        with pytest.raises(Refused, match="^u: "):
            loopback_url("u", bad, Refused)

"""Config YAML is read with YAML 1.2 core-schema scalars, and every failure is one line."""

from __future__ import annotations

import math

import pytest

from qlib_local.errors import QlibError
from qlib_local.yamlfile import parse_yaml, read_yaml


class Refused(QlibError):
    pass


@pytest.mark.parametrize("text, value", [
    ("true", True), ("False", False), ("no", "no"), ("yes", "yes"), ("off", "off"), ("'true'", "true"),
    ("12", 12), ("012", 12), ("-7", -7), ("0x1F", 31), ("0o17", 15), ("1:30", "1:30"), ("1_000", "1_000"),
    ("2.5", 2.5), ("5e-4", 0.0005), ("1e3", 1000.0), ("-.5", -0.5), (".inf", math.inf), ("-.Inf", -math.inf),
    ("1e999", math.inf), ("~", None), ("abc", "abc"),
])
def test_scalars_are_typed_as_yaml_1_2_core(text, value):
    assert parse_yaml(f"v: {text}")["v"] == value
    assert type(parse_yaml(f"v: {text}")["v"]) is type(value)


def test_nan_is_a_float_nan():
    assert math.isnan(parse_yaml("v: .nan")["v"]) and math.isnan(parse_yaml("v: .NaN")["v"])


def test_missing_unreadable_and_bad_yaml_are_one_line(tmp_path):
    with pytest.raises(Refused, match="^gone$"):
        read_yaml(tmp_path / "nope.yaml", Refused, "gone")
    with pytest.raises(Refused, match="cannot read it"):
        read_yaml(tmp_path, Refused, "gone")  # a directory
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\nb: {")
    with pytest.raises(Refused, match=r"not valid YAML \(.* at line \d+, column \d+\)") as e:
        read_yaml(bad, Refused, "gone")
    assert "\n" not in str(e.value)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(Refused, match="cannot read it"):
        read_yaml(binary, Refused, "gone")

"""environment.yml and pyproject.toml name the same dependencies with the same ranges."""

from __future__ import annotations

import tomllib

import yaml
from packaging.requirements import Requirement
from tests_support import REPO


def _normalize(reqs: list[str]) -> dict[str, str]:
    out = {}
    for r in reqs:
        req = Requirement(r)
        out[req.name.lower().replace("_", "-")] = str(req.specifier)
    return out


def test_environment_yml_matches_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = _normalize(project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    assert any(str(d).startswith("python=3.11") for d in env["dependencies"] if isinstance(d, str))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = _normalize([p for p in pip if not p.startswith("-e")])
    assert listed == declared


def test_installed_versions_satisfy_the_pins() -> None:
    from importlib.metadata import version

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for r in project["dependencies"]:
        req = Requirement(r)
        assert req.specifier.contains(version(req.name), prereleases=True), f"{req.name} {version(req.name)} outside {req.specifier}"

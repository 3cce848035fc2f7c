"""pyproject.toml, environment.yml and constraints.txt must agree."""
import re
import tomllib

import yaml

from kit import config


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    data = tomllib.loads((config.ROOT / "pyproject.toml").read_text())["project"]
    return data["dependencies"], data["optional-dependencies"]["dev"]


def test_environment_yml_declares_the_same_dependencies_as_pyproject():
    runtime, dev = _pyproject()
    env = yaml.safe_load((config.ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict) and "pip" in item)
    declared = {_name(r) for r in pip_section if not r.startswith("-")}
    assert declared == {_name(r) for r in runtime + dev}
    extras = {r.split("[")[1].rstrip("]") for r in pip_section if "[" in r and not r.startswith("-")}
    assert extras == {r.split("[")[1].rstrip("]") for r in runtime + dev if "[" in r}
    assert "python=3.11" in env["dependencies"]
    assert "-c constraints.txt" in pip_section and "-e ." in pip_section


def test_every_dependency_is_pinned_in_constraints():
    runtime, dev = _pyproject()
    dev = dev + tomllib.loads((config.ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["scale"]
    pins = {}
    for line in (config.ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_name(name)] = version.strip()
    missing = {_name(r) for r in runtime + dev} - set(pins)
    assert not missing, f"not pinned in constraints.txt: {sorted(missing)}"
    # ibis 12 breaks on duckdb 2 and on newer sqlglot: the pins are what makes installs work
    assert pins["duckdb"].startswith("1.") and pins["sqlglot"].startswith("28.")

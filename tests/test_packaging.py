"""The pip and conda descriptions of the environment list the same packages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# Conda spells a few packages differently from PyPI.
CONDA_NAMES = {"dask[distributed]": ["dask", "distributed"]}


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ ;]", spec.strip(), maxsplit=1)[0].lower()


def _pip_packages() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in ("lab", "test", "dask", "postgres"):
        specs += project["optional-dependencies"][extra]
    out = {}
    for spec in specs:
        name = _name(spec)
        bound = spec[len(name):].strip()
        for conda_name in CONDA_NAMES.get(name, [name]):
            out[conda_name] = bound
    return out


def _conda_packages() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and _name(dep) not in ("python", "pip"):
            out[_name(dep)] = dep[len(_name(dep)):].strip()
    return out


def test_environment_yml_lists_the_same_packages_as_pyproject():
    pip, conda = _pip_packages(), _conda_packages()
    assert sorted(set(pip) - set(conda)) == [], "in pyproject.toml but not environment.yml"
    assert sorted(set(conda) - set(pip)) == [], "in environment.yml but not pyproject.toml"


def test_lower_bounds_agree():
    pip, conda = _pip_packages(), _conda_packages()
    differing = {n: (pip[n], conda[n]) for n in pip if n in conda and pip[n] != conda[n]}
    assert differing == {}


def test_jupyterlab_is_not_a_core_dependency():
    # With jupyterlab installed, importing papermill was measured ~5x slower: batch users must not pay for it.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not any(_name(d) == "jupyterlab" for d in project["dependencies"])
    assert any(_name(d) == "jupyterlab" for d in project["optional-dependencies"]["lab"])


def test_committed_notebooks_have_no_outputs():
    import json

    for path in (ROOT / "notebooks").glob("*.ipynb"):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell.get("outputs") == [] and cell.get("execution_count") is None, path.name

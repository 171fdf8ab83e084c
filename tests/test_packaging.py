"""The pip and conda descriptions of the environment list the same packages; the wheel alone renders packs."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
import zipfile
from pathlib import Path

import pytest
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


SHIPPED_NOTEBOOKS = ["contract_review.ipynb", "explore.ipynb", "portfolio_review.ipynb", "supplier_scorecard.ipynb"]


def test_committed_notebooks_have_no_outputs():
    import json

    paths = sorted((ROOT / "cinb" / "notebooks").glob("*.ipynb"))
    assert [p.name for p in paths] == SHIPPED_NOTEBOOKS  # the report templates are package data
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell.get("outputs") == [] and cell.get("execution_count") is None, path.name


def _run(argv, **kw):
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600, **kw)
    assert done.returncode == 0, f"{argv}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_the_wheel_alone_renders_a_pack_outside_the_checkout(tmp_path):
    """Build the wheel, install it (no editable install, no CINB_NOTEBOOKS) in a new virtual environment outside
    the checkout, and render a pack there: the notebooks, templates and sample data travel as package data."""
    import setuptools

    missing = [name for name in ("wheel",) if importlib.util.find_spec(name) is None]
    assert not missing and int(setuptools.__version__.split(".")[0]) >= 68, \
        "building the wheel offline needs setuptools>=68 and wheel (the [test] extra): pip install -e '.[test]'"
    timings = {}
    started = time.perf_counter()
    # A copy of what the wheel is built from, so that the build leaves nothing (build/, egg-info) in the checkout.
    src = tmp_path / "src"
    shutil.copytree(ROOT / "cinb", src / "cinb", ignore=shutil.ignore_patterns("__pycache__", "*.pyc",
                                                                               ".ipynb_checkpoints"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", wheels,
          src])
    (wheel,) = wheels.glob("cinb-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"cinb/notebooks/{n}" for n in SHIPPED_NOTEBOOKS} <= names
    assert {"cinb/data/sample/contracts.csv", "cinb/templates/cinb_pack/conf.json"} <= names
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "parameters/"))]
    timings["build"] = time.perf_counter() - started

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    _run([venv / "bin" / "pip", "install", "--no-deps", "--no-index", "-q", wheel])
    # The dependencies come from this environment's site-packages, named in a .pth file. A path line in a .pth
    # does not run the .pth files inside that folder, so the checkout's editable install stays out of sight.
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (purelib / "_cinb_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    timings["install"] = time.perf_counter() - started - timings["build"]

    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("CINB_NOTEBOOKS", "CINB_PARAMETERS", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    # Jupyter data files (nbconvert's base templates, the kernel spec) are installed beside the dependencies,
    # under this environment's share/jupyter; a real install puts them under the new environment's.
    env["JUPYTER_PATH"] = str(Path(sysconfig.get_paths()["data"]) / "share" / "jupyter")
    where = _run([python, "-c", "import cinb, cinb.config; print(cinb.__file__); print(cinb.config.notebook_dir())"],
                 cwd=work, env=env).stdout.split()
    assert all(Path(p).resolve().is_relative_to(venv.resolve()) for p in where), where
    assert not any(Path(p).resolve().is_relative_to(ROOT) for p in where), where
    listing = _run([venv / "bin" / "cinb", "templates"], cwd=work, env=env).stdout
    assert "contract_review.ipynb" in listing and str(venv) in listing

    t = time.perf_counter()
    done = _run([venv / "bin" / "cinb", "run", "NB-NET-003", "--period", "2026-10", "--format", "html", "--out",
                 work / "out"], cwd=work, env=env)
    timings["run"] = time.perf_counter() - t
    pack = work / "out" / "2026-10" / "NB-NET-003"
    assert (pack / "review.html").is_file() and (pack / "pack.json").is_file(), done.stdout + done.stderr
    print("wheel test: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))

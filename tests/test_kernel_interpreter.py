"""Which Python computes a pack: cinb's own interpreter, whatever ``python3`` kernelspec JUPYTER_PATH holds.

A shared JupyterHub image or a conda base often puts a ``python3`` kernelspec on JUPYTER_PATH that starts another
interpreter (without ipykernel, or with other library versions). Packs must not run there; a kernel that cannot
start must say which kernelspec and interpreter it tried and what the kernel said.

The foreign interpreter here is a small script that notes it was started (a marker file), prints what a Python
without ipykernel prints and exits 1.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cinb.errors import KernelError, PackError, ZygoteError
from cinb.execute import execute
from cinb.kernels import KernelSupply, first_error_line, start_kernel

PERIOD = "2026-10"


def _foreign_python(folder: Path) -> tuple[Path, Path]:
    """A fake interpreter (path, marker): it touches the marker and fails as a Python without ipykernel does."""
    marker = folder / "foreign-python-was-started"
    script = folder / "bin" / "python3"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("#!/bin/sh\n"
                      f"touch '{marker}'\n"
                      "echo \"0.00s - Debugger warning: It seems that frozen modules are being used\" >&2\n"
                      f"echo \"{script}: No module named ipykernel_launcher\" >&2\n"
                      "exit 1\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script, marker


def _kernelspec(jupyter_path: Path, name: str, argv0: str) -> Path:
    folder = jupyter_path / "kernels" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kernel.json").write_text(json.dumps({
        "argv": [argv0, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (shared image)", "language": "python"}))
    return folder


@pytest.fixture
def foreign(tmp_path, monkeypatch):
    """JUPYTER_PATH holds a ``python3`` kernelspec whose interpreter is the fake one; yields its facts."""
    jupyter_path = tmp_path / "jupyter"
    script, marker = _foreign_python(tmp_path)
    spec = _kernelspec(jupyter_path, "python3", str(script))
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    return {"path": jupyter_path, "script": script, "marker": marker, "spec": spec}


def _probe(tmp_path: Path) -> Path:
    cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
             nbformat.v4.new_code_cell("import sys\nprint(sys.executable)\nprint(sys.prefix)")]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    return path


def _printed(nb) -> list[str]:
    return "".join(o.get("text", "") for o in nb.cells[-1].outputs).split()


def _same_file(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


# ----------------------------------------------------------------------------------------------------------------
# Every way a kernel is started uses cinb's own interpreter


def test_a_foreign_python3_kernelspec_does_not_run_a_notebook(tmp_path, foreign):
    nb = execute(_probe(tmp_path), {}, timeout=60)
    executable, prefix = _printed(nb)
    assert executable == sys.executable and prefix == sys.prefix
    assert not foreign["marker"].exists()
    assert nb.metadata["kernelspec"]["name"] == "python3"  # the published notebook still opens in Jupyter


@pytest.mark.parametrize("warm", [pytest.param(True, marks=pytest.mark.slow), False])
def test_kernels_of_a_supply_run_in_cinbs_interpreter(tmp_path, foreign, warm):
    supply = KernelSupply(warm=warm, log_dir=tmp_path / "logs")
    try:
        nb = execute(_probe(tmp_path), {}, timeout=120, kernel=supply.take())
    finally:
        supply.close()
    assert _printed(nb) == [sys.executable, sys.prefix]
    assert not foreign["marker"].exists()


@pytest.mark.slow
def test_forked_kernels_and_their_fallback_run_in_cinbs_interpreter(tmp_path, foreign):
    supply = KernelSupply(warm=True, fork=True, log_dir=tmp_path / "logs")
    try:
        forked = supply.take()
        assert forked.forked and "zygote" in forked.kernelspec
        nb = execute(_probe(tmp_path), {}, timeout=120, kernel=forked)
        assert _printed(nb) == [sys.executable, sys.prefix]
        supply.zygote.close()  # the zygote fails: the supply falls back to ordinary kernels
        fallback = supply.take()
        assert not fallback.forked
        nb = execute(_probe(tmp_path), {}, timeout=120, kernel=fallback)
        assert _printed(nb) == [sys.executable, sys.prefix]
    finally:
        supply.close()
    assert not foreign["marker"].exists()


# ----------------------------------------------------------------------------------------------------------------
# A kernel that cannot start says which kernelspec, which interpreter, and what the kernel said


def test_a_named_kernel_that_cannot_start_names_its_kernelspec_interpreter_and_error(tmp_path, foreign):
    with pytest.raises(KernelError) as info:
        execute(_probe(tmp_path), {}, timeout=60, kernel_name="python3")
    message = str(info.value)
    assert message.startswith("probe.ipynb: the kernel did not start: the kernel exited during start-up")
    assert f"kernelspec 'python3' ({foreign['spec']})" in message
    assert f"interpreter: {foreign['script']}" in message
    assert f"the kernel said: {foreign['script']}: No module named ipykernel_launcher" in message
    assert "Debugger warning" not in message  # noise is skipped
    assert "No module named ipykernel_launcher" in info.value.kernel_log  # the whole log is kept too
    assert foreign["marker"].exists()  # named explicitly: that kernelspec was used


@pytest.mark.parametrize("warm", [True, False])
def test_cinbs_own_interpreter_failing_is_reported_with_its_error(tmp_path, monkeypatch, warm):
    script, marker = _foreign_python(tmp_path)
    monkeypatch.setattr(sys, "executable", str(script))  # as if cinb's Python had no ipykernel
    kernel = start_kernel(warm=warm, log_dir=tmp_path / "logs")
    try:
        with pytest.raises(KernelError) as info:
            kernel.wait_ready(timeout=30)
    finally:
        kernel.shutdown()
    message = str(info.value)
    assert "exited during start-up (exit status 1)" in message
    assert "kernel: cinb's own interpreter" in message and f"interpreter: {script};" in message
    assert message.endswith(f"the kernel said: {script}: No module named ipykernel_launcher)")
    assert marker.exists()


def test_a_kernelspec_whose_interpreter_is_missing_is_reported(tmp_path, monkeypatch):
    jupyter_path = tmp_path / "jupyter"
    spec = _kernelspec(jupyter_path, "gone", str(tmp_path / "no-such-python"))
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    with pytest.raises(KernelError) as info:
        start_kernel(kernel_name="gone", log_dir=tmp_path / "logs")
    message = str(info.value)
    assert "could not be launched" in message and f"kernelspec 'gone' ({spec})" in message
    assert f"interpreter: {tmp_path / 'no-such-python'}" in message


def test_an_unknown_kernel_name_is_a_kernel_error(tmp_path):
    with pytest.raises(KernelError, match="no kernel named 'no-such-kernel' is installed"):
        start_kernel(kernel_name="no-such-kernel", log_dir=tmp_path / "logs")


def test_a_zygote_that_cannot_start_says_why(tmp_path):
    """The zygote (which forks the batch's kernels) runs cinb's interpreter; when it dies its error is quoted."""
    from cinb.zygote import Zygote

    broken = tmp_path / "site" / "cinb"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('this cinb is broken')\n")
    env = {**os.environ, "PYTHONPATH": str(broken.parent)}
    zygote = Zygote(env, tmp_path / "zygote.log", cwd=str(tmp_path))
    try:
        with pytest.raises(ZygoteError) as info:
            zygote.fork("unused.json", os.devnull, env, str(tmp_path))
    finally:
        zygote.close()
    assert f"the kernel zygote ({sys.executable}) ended (exit status 1): ImportError: this cinb is broken" \
        == str(info.value)


def test_first_error_line_finds_the_cause():
    assert first_error_line("") is None
    assert first_error_line("  \n[IPKernelApp] WARNING | running over TCP without encryption\n") is None
    assert first_error_line("0.00s - Debugger warning: frozen modules\n/usr/bin/python3: No module named "
                            "ipykernel_launcher\n") == "/usr/bin/python3: No module named ipykernel_launcher"
    log = ("some preamble\nTraceback (most recent call last):\n  File \"<frozen runpy>\", line 198\n"
           "    raise error\nModuleNotFoundError: No module named 'pandas'\n")
    assert first_error_line(log) == "ModuleNotFoundError: No module named 'pandas'"


def test_a_kernel_error_is_a_pack_error():
    assert issubclass(KernelError, PackError)


# ----------------------------------------------------------------------------------------------------------------
# Whole packs: the stamp records the kernel's interpreter and libraries


def _kernel_stamp_is_ours(stamp: dict) -> None:
    import matplotlib
    import numpy
    import pandas
    import scipy

    import cinb

    # The same file and the same environment (the `cinb` script may start it as python3 rather than python).
    assert _same_file(stamp["executable"], sys.executable), stamp
    assert stamp["prefix"] == sys.prefix
    assert stamp["python"] == ".".join(map(str, sys.version_info[:3]))
    assert stamp["pandas"] == pandas.__version__ and stamp["numpy"] == numpy.__version__
    assert stamp["scipy"] == scipy.__version__ and stamp["matplotlib"] == matplotlib.__version__
    assert stamp["cinb"] == cinb.__version__


@pytest.mark.slow
def test_cinb_run_computes_the_pack_in_its_own_interpreter_and_stamps_it(tmp_path, foreign):
    out = tmp_path / "reports"
    cinb_cli = Path(sys.executable).with_name("cinb")
    command = [str(cinb_cli)] if cinb_cli.exists() else [sys.executable, "-m", "cinb.cli"]
    result = subprocess.run([*command, "run", "NB-NET-003", "--period", PERIOD, "--format", "html",
                             "--out", str(out)], capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    folder = out / PERIOD / "NB-NET-003"
    data = json.loads((folder / "pack.json").read_text(encoding="utf-8"))
    stamp = data["reproducibility"]["kernel"]
    _kernel_stamp_is_ours(stamp)
    assert not foreign["marker"].exists()
    # Long words (a deep path) carry <wbr> break opportunities so that they wrap in print.
    html = (folder / "review.html").read_text(encoding="utf-8").replace("<wbr>", "")
    assert "Python interpreter" in html and stamp["executable"] in html


@pytest.mark.slow
def test_a_batch_computes_its_packs_in_cinbs_interpreter(tmp_path, foreign):
    """Workers inherit JUPYTER_PATH; their (forked) kernels still run cinb's interpreter. A supplier pack records
    the interpreter's file name only."""
    out = tmp_path / "reports"
    result = subprocess.run([sys.executable, "-m", "cinb.cli", "batch", "--period", PERIOD, "--contracts",
                             "NB-NET-003", "--kinds", "contract", "--format", "html", "--jobs", "1", "--audience",
                             "supplier", "--out", str(out)], capture_output=True, text=True, timeout=600,
                            env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    data = json.loads((out / PERIOD / "supplier" / "NB-NET-003" / "pack.json").read_text(encoding="utf-8"))
    stamp = data["reproducibility"]["kernel"]
    assert stamp["executable"] == Path(sys.executable).name and "prefix" not in stamp
    assert stamp["python"] == ".".join(map(str, sys.version_info[:3]))
    assert not foreign["marker"].exists()

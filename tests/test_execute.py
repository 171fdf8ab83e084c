"""Executing one notebook: failures are reported with their reason and notebook, kernels are fresh and quiet.

Small notebooks without cinb imports keep each test to a kernel start (about a second).
"""

from __future__ import annotations

import json
import os

import nbformat
import pytest

from cinb.errors import PackError
from cinb.execute import execute, pack_data
from cinb.kernels import WARM_IMPORTS, KernelSupply, start_kernel


def _notebook(tmp_path, *sources, name="nb.ipynb"):
    cells = [nbformat.v4.new_code_cell('x = "default"', metadata={"tags": ["parameters"]})]
    cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def _text(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                out.append(f"{o.get('ename')}: {o.get('evalue')}")
            else:
                out.append(o.get("text", "") or json.dumps(o.get("data", {})))
    return "\n".join(out)


def test_parameters_are_injected_and_figures_read_back(tmp_path, capfd):
    path = _notebook(tmp_path, "from IPython.display import display\n"
                               "display({'application/vnd.cinb.pack+json': {'x': x, 'n': 2}}, raw=True)")
    timings = {}
    nb = execute(path, {"x": "given"}, timeout=60, timings=timings)
    assert pack_data(nb) == {"x": "given", "n": 2}
    assert {"kernel_start", "kernel_wait", "notebook"} <= set(timings)
    # Nothing from the kernel or the notebook machinery reaches the terminal (ipykernel 7 warns on stderr for
    # every unencrypted kernel; papermill logs each cell).
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_a_raising_cell_fails_with_its_exception_and_keeps_the_notebook(tmp_path):
    path = _notebook(tmp_path, "y = 1", "raise ValueError(f'bad value {x}')")
    with pytest.raises(PackError) as info:
        execute(path, {"x": "X1"}, timeout=60)
    message = str(info.value)
    # cell 4: parameters, injected parameters, y = 1, then the raising cell
    assert "ValueError" in message and "bad value X1" in message and "cell 4" in message
    kept = info.value.notebook
    assert kept is not None
    assert "bad value X1" in _text(kept)  # the traceback output is in the kept notebook
    assert any("papermill-error-cell-tag" in c.metadata.get("tags", []) for c in kept.cells)


def test_a_killed_kernel_fails_with_the_signal_and_the_cell(tmp_path):
    path = _notebook(tmp_path, "print('before')", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
                     "print('never')")
    with pytest.raises(PackError) as info:
        execute(path, {}, timeout=60)
    message = str(info.value)
    assert "killed by SIGKILL" in message and "cell 3" in message
    kept = info.value.notebook
    assert kept is not None and "before" in _text(kept) and "never" not in _text(kept)
    assert "killed by SIGKILL" in kept.cells[0].source  # a note at the top says what happened
    assert "Kernel died" in info.value.kernel_log


def test_a_notebook_past_the_timeout_is_stopped(tmp_path):
    path = _notebook(tmp_path, "import time\ntime.sleep(120)")
    timings = {}
    with pytest.raises(PackError) as info:
        execute(path, {}, timeout=3, timings=timings)
    assert "timed out" in str(info.value) and "3 s" in str(info.value)
    assert 2.5 <= timings["notebook"] < 30
    assert info.value.notebook is not None


def test_each_pack_gets_a_new_kernel_which_is_gone_afterwards(tmp_path):
    path = _notebook(tmp_path, "import os\nprint(os.getpid())")
    supply = KernelSupply()
    try:
        pids = []
        for _ in range(2):
            kernel = supply.take()
            nb = execute(path, {}, timeout=60, kernel=kernel)
            supply.prepare()
            pid = int(_text(nb).strip())
            pids.append(pid)
            assert pid == kernel.pid
            with pytest.raises(ProcessLookupError):  # killed once its notebook ran
                os.kill(pid, 0)
        assert pids[0] != pids[1]
        assert supply.started == 3  # two used, one spare waiting
    finally:
        supply.close()


def test_a_warm_kernel_holds_imports_only(tmp_path):
    """The warm-up leaves modules loaded but no name, no history and no execution count behind."""
    path = _notebook(tmp_path,
                     "import sys\n"
                     "print(sorted(k for k in globals() if not k.startswith('_') and k not in "
                     "('In', 'Out', 'get_ipython', 'exit', 'quit', 'open', 'x', 'sys')))\n"
                     f"print([m in sys.modules for m in {list(WARM_IMPORTS)!r}])")
    warm = execute(path, {}, timeout=120, kernel=start_kernel(warm=True))
    cold = execute(path, {}, timeout=120, kernel=start_kernel(warm=False))
    warm_names, warm_mods = _text(warm).strip().splitlines()
    cold_names, cold_mods = _text(cold).strip().splitlines()
    assert warm_names == cold_names == "[]"
    assert warm_mods == str([True] * len(WARM_IMPORTS))
    assert cold_mods == str([False] * len(WARM_IMPORTS))
    first_code = [c for c in warm.cells if c.cell_type == "code"][0]
    assert first_code.execution_count == 1


def test_forked_kernels_are_fresh_processes_with_imports_only(tmp_path):
    """Kernels forked from the zygote: imports present, nothing else; no state or random stream shared."""
    probe = _notebook(
        tmp_path,
        "import os, sys, numpy\n"
        "print(sorted(k for k in globals() if not k.startswith('_') and k not in "
        "('In', 'Out', 'get_ipython', 'exit', 'quit', 'open', 'x', 'os', 'sys', 'numpy')))\n"
        f"print([m in sys.modules for m in {list(WARM_IMPORTS)!r}])\n"
        "print(os.getpid(), os.getpgid(0) == os.getpid(), numpy.random.random())\n"
        "secret = 'left by an earlier pack'  # the next kernel's list of names must not show it")
    supply = KernelSupply(fork=True)
    try:
        assert supply.zygote is not None
        outputs = []
        for _ in range(2):
            kernel = supply.take()
            assert kernel.km.provisioner.__class__.__name__ == "ZygoteProvisioner"
            nb = execute(probe, {}, timeout=120, kernel=kernel)
            supply.prepare()
            outputs.append(_text(nb).strip().splitlines())
        for names, mods, ident in outputs:
            assert names == "[]"
            assert mods == str([True] * len(WARM_IMPORTS))  # imported once, in the zygote
            assert ident.split()[1] == "True"  # its own process group: killed as a whole
        assert outputs[0][2].split()[0] != outputs[1][2].split()[0]  # two processes
        assert outputs[0][2].split()[2] != outputs[1][2].split()[2]  # numpy re-seeded in each
        zygote_pid = supply.zygote.pid
    finally:
        supply.close()
    with pytest.raises(ProcessLookupError):
        os.kill(zygote_pid, 0)


def test_a_forked_kernel_that_dies_is_reported_with_its_signal(tmp_path):
    path = _notebook(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    supply = KernelSupply(fork=True)
    try:
        with pytest.raises(PackError) as info:
            execute(path, {}, timeout=60, kernel=supply.take())
        assert "killed by SIGKILL" in str(info.value)
    finally:
        supply.close()

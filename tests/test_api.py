"""The Python API does what the command line does: same layering, same defaults, same packs."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

import cinb
from cinb import api
from cinb.batch import BatchResult, plan, run_batch
from cinb.config import DEFAULTS
from cinb.errors import UsageError
from cinb.pack import PackResult, build_pack

PERIOD = "2026-10"


def _ok(key):
    return PackResult(key=key, kind="contract", subject=key, status="ok")


@pytest.fixture
def captured(monkeypatch, tmp_path):
    """Replace the pool with a recorder: what run_month would build, and with which settings."""
    seen = {}

    def fake_run_batch(specs, out, **kw):
        seen.update(specs=specs, out=out, **kw)
        return BatchResult(PERIOD, Path(out), [_ok(s.key) for s in specs], 0.1)

    monkeypatch.setattr("cinb.batch.run_batch", fake_run_batch)
    monkeypatch.setenv("CINB_PARAMETERS", str(tmp_path / "no-parameter-files"))
    return seen


def test_python_callers_get_the_cli_default_pdf_backend():
    # One default for every entry point: the package default ("auto"), resolved the same way as the CLI's.
    for function in (build_pack, run_batch, plan):
        assert inspect.signature(function).parameters["pdf_backend"].default == DEFAULTS["pdf_backend"] == "auto"


@pytest.mark.parametrize("available", [True, False])
def test_run_month_resolves_auto_like_the_cli(captured, monkeypatch, tmp_path, available):
    monkeypatch.setattr("cinb.pdf.chromium_available", lambda: available)  # resolve_backend lives in cinb.pdf
    cinb.run_month(PERIOD, contracts=["NB-SD-001"], kinds="contract", out=tmp_path / "r")
    expected = "chromium" if available else "weasyprint"
    assert captured["pdf_backend"] == expected
    assert captured["specs"][0].parameters["_settings"]["pdf_backend"] == expected


def test_run_month_layers_defaults_files_definition_and_arguments(captured, monkeypatch, tmp_path):
    params_dir = tmp_path / "parameters"
    params_dir.mkdir()
    (params_dir / "borough.yml").write_text("marking: OFFICIAL-SENSITIVE\nwindow_months: 6\nratchet_months: 9\n")
    config = tmp_path / "october.yml"
    config.write_text("period: 2026-10\ncontracts: [NB-SD-001]\nkinds: contract\nwindow_months: 9\n"
                      "formats: html\nmarking: FROM-CONFIG\n")
    monkeypatch.setenv("CINB_PARAMETERS", str(params_dir))
    batch = api.run_month(config=config, marking="FROM-PYTHON", out=tmp_path / "r")
    assert [r.key for r in batch.results] == ["NB-SD-001"]
    (spec,) = captured["specs"]
    p = spec.parameters
    assert spec.period == PERIOD and captured["formats"] == ("html",)
    assert p["marking"] == "FROM-PYTHON"  # the caller beats the definition
    assert p["window_months"] == 9  # the definition beats parameters/
    assert p["ratchet_months"] == 9  # parameters/ beats the package default
    assert p["ratchet_share"] == DEFAULTS["ratchet_share"]
    assert p["_parameter_files"] == [str(params_dir / "borough.yml"), str(config)]


def test_a_bad_value_names_the_layer_it_came_from(captured, tmp_path):
    config = tmp_path / "bad.yml"
    config.write_text("window_months: 0\n")
    with pytest.raises(UsageError, match=r"window_months.*bad\.yml"):
        api.run_month(PERIOD, config=config, out=tmp_path)
    with pytest.raises(UsageError, match=r"unknown parameter.*window_month\b"):
        api.run_month(PERIOD, window_month=6, out=tmp_path)


def test_usage_errors_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="YYYY-MM"):
        api.run_pack("NB-SD-001", "2026-13", out=tmp_path)
    with pytest.raises(ValueError, match="NB-SD-001"):
        api.run_pack("NB-SD-01", PERIOD, out=tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_run_pack_from_python_writes_the_pack_the_cli_writes(tmp_path, capsys):
    from cinb.cli import main

    result = cinb.run_pack("NB-NET-003", PERIOD, out=tmp_path / "py", formats=["html"])
    assert result.status == "ok", result.error
    assert main(["run", "NB-NET-003", "--period", PERIOD, "--out", str(tmp_path / "cli"), "--format", "html"]) == 0
    figures = []
    for side in ("py", "cli"):
        pack = json.loads((tmp_path / side / PERIOD / "NB-NET-003" / "pack.json").read_text())
        pack.pop("reproducibility")
        figures.append(pack)
        manifest = json.loads((tmp_path / side / PERIOD / "manifest.json").read_text())
        assert manifest["last_run"]["command"] == "run"
    assert figures[0] == figures[1]


def test_one_contract_id_as_text_is_one_contract(captured, tmp_path):
    api.run_month(PERIOD, contracts="NB-SD-001", kinds="contract", out=tmp_path / "r")
    assert [s.key for s in captured["specs"]] == ["NB-SD-001"]


def test_a_month_before_the_data_is_refused_before_any_kernel(captured, tmp_path):
    with pytest.raises(UsageError, match="before the earliest month in the data"):
        api.run_pack("NB-SD-001", "2020-01", out=tmp_path / "r")
    with pytest.raises(UsageError, match="before the earliest month"):
        api.run_month("2020-01", out=tmp_path / "r")
    assert "specs" not in captured and not (tmp_path / "r").exists()


def test_messages_name_the_python_arguments_and_suggest_the_name(captured, tmp_path):
    with pytest.raises(UsageError, match=r"window_months .*\(from the arguments\)"):
        api.run_month(PERIOD, window_months=0, out=tmp_path)
    with pytest.raises(UsageError, match=r"'docx'.*\(from the arguments\)"):
        api.run_month(PERIOD, formats=["docx"], out=tmp_path)
    with pytest.raises(UsageError, match="did you mean 'window_months'"):
        api.run_month(PERIOD, window_month=6, out=tmp_path)


@pytest.mark.slow
def test_a_plain_script_without_a_main_guard_runs_a_batch(tmp_path):
    # Worker processes must not re-run the caller's script (multiprocessing re-imports __main__ by default).
    import subprocess
    import sys

    script = tmp_path / "monthly.py"
    script.write_text("import cinb\n"
                      f"b = cinb.run_month('{PERIOD}', contracts=['NB-NET-003'], kinds='contract', "
                      f"out={str(tmp_path / 'r')!r}, formats=['html'])\n"
                      "print('STATUSES', [r.status for r in b.results])\n")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in __import__("os").environ.items() if k != "CINB_PARAMETERS"})
    assert "STATUSES ['ok']" in done.stdout, done.stdout + done.stderr
    assert done.stdout.count("STATUSES") == 1 and "freeze_support" not in done.stderr

"""Report templates: a user's own notebook renders packs through ``cinb run`` and ``cinb batch`` like a shipped one,
is checked before anything runs, rebuilds its packs when it changes; ``cinb templates`` lists and copies.

The tests that render packs (marked slow) use HTML only; the others stop before any kernel starts.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from cinb import api
from cinb.batch import BatchResult, plan
from cinb.cli import main
from cinb.cli_data import RENAMED
from cinb.config import NOTEBOOK_DIR, notebook_dir
from cinb.errors import UsageError
from cinb.notebook_templates import check_template, parse_parameters, read_parameters
from cinb.pack import PackResult, PackSpec

PERIOD = "2026-10"
SHIPPED = notebook_dir() / "contract_review.ipynb"
# The user's section: a heading, and a figure computed with the cinb API in the pack's kernel.
BOARD_NOTE = ("from cinb import load_portfolio\n"
              "from cinb.display import Paragraphs\n"
              "board = load_portfolio(data).contract(contract_id)\n"
              "show(Paragraphs(f'{NOTE} {contract_id} has {len(board.kpis)} KPIs under review in {period}.'))")


def _write_template(path: Path, note: str = "Board note:") -> Path:
    """The shipped contract template plus a "## Board note" section before the appendix."""
    nb = nbformat.read(SHIPPED, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## Appendix"))
    nb.cells[at:at] = [nbformat.v4.new_markdown_cell("## Board note\n\nWhat the board asks to see every month."),
                       nbformat.v4.new_code_cell(BOARD_NOTE.replace("{NOTE}", note))]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _variant(path: Path, change) -> Path:
    """A copy of the shipped contract template with its parameters cell changed by ``change(cell)``."""
    nb = nbformat.read(SHIPPED, as_version=4)
    change(next(c for c in nb.cells if "parameters" in c.metadata.get("tags", [])))
    nbformat.write(nb, path)
    return path


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------------------------------------------------------
# Listing, copying, the renamed command (fast)
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["templates"], ["templates", "list"]])
def test_templates_lists_the_shipped_templates_and_their_parameters(capsys, argv):
    code, out, _ = _run(capsys, *argv)
    assert code == 0
    for name, filename in [("contract", "contract_review.ipynb"), ("portfolio", "portfolio_review.ipynb"),
                           ("supplier", "supplier_scorecard.ipynb"), ("explore", "explore.ipynb")]:
        assert f"{name}: {filename}" in out
    # Each parameter with its type, default and meaning, as its parameters cell declares it.
    assert re.search(r"window_months: int\s+= 12\s+# review window", out)
    assert re.search(r'contract_id: str\s+= "NB-SD-001"\s+# the contract to review', out)
    assert "kpi_id" in out and str(notebook_dir()) in out
    assert "--template" in out  # how to run one


def test_templates_copy_writes_a_starting_copy_and_never_overwrites_unasked(capsys, tmp_path, monkeypatch):
    code, out, _ = _run(capsys, "templates", "copy", "contract", tmp_path / "board.ipynb")
    assert code == 0 and out.strip() == str(tmp_path / "board.ipynb")
    assert (tmp_path / "board.ipynb").read_bytes() == SHIPPED.read_bytes()
    (tmp_path / "board.ipynb").write_text("{}", encoding="utf-8")
    code, _, err = _run(capsys, "templates", "copy", "contract", tmp_path / "board.ipynb")
    assert code == 2 and "--force" in err and err.count("\n") == 1
    assert (tmp_path / "board.ipynb").read_text(encoding="utf-8") == "{}"  # left as it was
    assert _run(capsys, "templates", "copy", "contract", tmp_path / "board.ipynb", "--force")[0] == 0
    assert (tmp_path / "board.ipynb").read_bytes() == SHIPPED.read_bytes()
    # Into a folder, under the shipped name; by file name too.
    monkeypatch.chdir(tmp_path)
    assert _run(capsys, "templates", "copy", "explore", ".")[0] == 0
    assert (tmp_path / "explore.ipynb").read_bytes() == (notebook_dir() / "explore.ipynb").read_bytes()
    assert _run(capsys, "templates", "copy", "supplier_scorecard.ipynb", "mine/")[0] == 0
    assert (tmp_path / "mine" / "supplier_scorecard.ipynb").is_file()
    code, _, err = _run(capsys, "templates", "copy", "contrat", "x.ipynb")
    assert code == 2 and "did you mean 'contract'" in err
    code, _, err = _run(capsys, "templates", "copy", "contract", "board.txt")
    assert code == 2 and ".ipynb" in err and not (tmp_path / "board.txt").exists()


def test_the_old_template_command_still_works_and_names_the_new_one(capsys, tmp_path):
    code, out, err = _run(capsys, "template", "--contract", "NB-SD-001", "--period", PERIOD, "--out",
                          tmp_path / "old.xlsx")
    assert code == 0 and (tmp_path / "old.xlsx").is_file()
    assert err.splitlines() == [RENAMED]
    assert RENAMED == ("cinb: 'cinb template' is now 'cinb supplier-return' "
                       "(report templates are 'cinb templates')")
    code, out, err = _run(capsys, "supplier-return", "--contract", "NB-SD-001", "--period", PERIOD, "--out",
                          tmp_path / "new.xlsx")
    assert code == 0 and err == "" and (tmp_path / "new.xlsx").is_file()
    # Someone who meant `cinb templates` is told too, then what the old command needs.
    code, _, err = _run(capsys, "template")
    assert code == 2 and err.splitlines()[0] == RENAMED and "--contract" in err
    # The old name is hidden from the help; the new names are listed.
    with pytest.raises(SystemExit):
        main(["--help"])
    listing = capsys.readouterr().out
    assert "supplier-return" in listing and "templates" in listing
    assert not re.search(r"^\s+template\s", listing, re.M)


# ---------------------------------------------------------------------------------------------------------------
# Checked before anything runs (fast)
# ---------------------------------------------------------------------------------------------------------------

def _misspelt(cell):
    cell.source = cell.source.replace("window_months: int", "window_month: int")


def _untagged(cell):
    cell.metadata["tags"] = []


def _no_contract_id(cell):
    cell.source = "\n".join(line for line in cell.source.splitlines() if not line.startswith("contract_id"))


def _broken(cell):
    cell.source += "\nratchet_share: float = = 0.5"


BAD_TEMPLATES = {
    "misspelt": (_misspelt, ["'window_month'", "did you mean 'window_months'?"]),
    "untagged": (_untagged, ["no cell is tagged 'parameters'"]),
    "no-contract-id": (_no_contract_id, ["does not declare 'contract_id'"]),
    "syntax-error": (_broken, ["not valid Python (line "]),  # the last line of the parameters cell
}


@pytest.fixture
def nothing_starts(monkeypatch):
    """Fail loudly if a pool, a kernel or a notebook run starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("a kernel or worker pool was started for a template that should have been refused")

    monkeypatch.setattr("cinb.pool.prestart", refuse)
    monkeypatch.setattr("cinb.pack.execute", refuse)
    monkeypatch.setattr("cinb.batch.run_batch", refuse)


@pytest.mark.parametrize("command", ["run", "batch"])
@pytest.mark.parametrize("bad", sorted(BAD_TEMPLATES))
def test_a_bad_template_is_refused_with_one_message_before_anything_runs(capsys, tmp_path, nothing_starts,
                                                                          command, bad):
    change, expected = BAD_TEMPLATES[bad]
    template = _variant(tmp_path / f"{bad}.ipynb", change)
    out = tmp_path / "reports"
    argv = (["run", "NB-SD-001"] if command == "run" else ["batch", "--kinds", "contract"]) + [
        "--period", PERIOD, "--format", "html", "--out", out, "--template", template]
    code, _, err = _run(capsys, *argv)
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err  # one message
    assert f"template {template}" in err
    for text in expected:
        assert text in err
    assert not out.exists()  # nothing written


@pytest.mark.parametrize("command", ["run", "batch"])
def test_a_missing_file_or_not_a_notebook_is_refused_the_same_way(capsys, tmp_path, nothing_starts, command):
    (tmp_path / "notes.py").write_text("contract_id = 'x'\n", encoding="utf-8")
    (tmp_path / "data.json").write_text('{"cells": 3}', encoding="utf-8")
    for path, expected in [(tmp_path / "missing.ipynb", "no such file"),
                           (tmp_path / "notes.py", "not a Jupyter notebook"),
                           (tmp_path / "data.json", "not a Jupyter notebook"),
                           (tmp_path, "is a folder")]:
        argv = (["run", "NB-SD-001"] if command == "run" else ["batch"]) + [
            "--period", PERIOD, "--out", tmp_path / "reports", "--template", path]
        code, _, err = _run(capsys, *argv)
        assert code == 2 and err.count("\n") == 1 and f"template {path}: {expected}" in err, err
    code, _, err = _run(capsys, "batch", "--period", PERIOD, "--template", "contrat=x.ipynb")
    assert code == 2 and "did you mean 'contract'" in err
    code, _, err = _run(capsys, "run", "NB-SD-001", "--period", PERIOD, "--template", f"portfolio={SHIPPED}")
    assert code == 2 and "cinb batch" in err
    assert not (tmp_path / "reports").exists()


def test_a_template_must_fit_the_kind_it_renders():
    passed = PackSpec("supplier", "S", PERIOD, {"data": None, "marking": "OFFICIAL"}).notebook_parameters()
    with pytest.raises(UsageError, match=r"declares 'contract_id'.*does not declare 'supplier'"):
        check_template(SHIPPED, "supplier", passed)
    # The explore notebook is for JupyterLab: it takes a KPI, which no pack is given.
    contract = PackSpec("contract", "C", PERIOD, {"data": None}).notebook_parameters()
    with pytest.raises(UsageError, match=r"declares 'kpi_id'"):
        check_template(NOTEBOOK_DIR / "explore.ipynb", "contract", contract)
    # Names starting with _ are the template's own.
    params = parse_parameters("contract_id: str = 'x'  # the contract\nperiod = '2026-10'\n_scratch = 1\n"
                              "%matplotlib inline")
    assert [(p.name, p.type, p.default, p.help) for p in params] == [
        ("contract_id", "str", "'x'", "the contract"), ("period", None, "'2026-10'", ""), ("_scratch", None, "1", "")]
    assert [p.name for p in read_parameters(SHIPPED)][:2] == ["contract_id", "period"]


@pytest.fixture
def captured(monkeypatch, tmp_path):
    """run_month up to the pool: the packs it would build (with their notebooks and hashes), and the run's facts."""
    seen = {}

    def fake_run_batch(specs, out, **kw):
        seen.update(specs=specs, out=out, **kw)
        return BatchResult(PERIOD, Path(out), [PackResult(s.key, s.kind, s.subject, "ok") for s in specs], 0.1)

    monkeypatch.setattr("cinb.batch.run_batch", fake_run_batch)
    monkeypatch.setattr("cinb.pool.prestart", lambda *a, **k: None)
    monkeypatch.setenv("CINB_PARAMETERS", str(tmp_path / "no-parameter-files"))
    return seen


def test_a_batch_definition_names_templates_relative_to_its_own_folder(captured, tmp_path, monkeypatch):
    defs = tmp_path / "defs"
    board = _write_template(defs / "templates" / "board.ipynb")
    config = defs / "october.yml"
    config.write_text(f"period: {PERIOD}\nkinds: [contract, portfolio]\ncontracts: [NB-SD-001, NB-NET-003]\n"
                      "templates:\n  contract: templates/board.ipynb\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    api.run_month(config=config, out=tmp_path / "r", formats=["html"])
    by_key = {s.key: s for s in captured["specs"]}
    assert by_key["NB-SD-001"].notebook == by_key["NB-NET-003"].notebook == str(board.resolve())
    assert by_key["portfolio"].notebook is None  # no template for this kind: the shipped notebook
    assert captured["run_info"]["templates"] == {"contract": str(board.resolve())}
    first_hash = by_key["NB-SD-001"].input_hash
    # templates= overrides the definition's kind by kind; a shipped notebook hashes differently.
    api.run_month(config=config, out=tmp_path / "r", formats=["html"], templates={"contract": SHIPPED})
    by_key = {s.key: s for s in captured["specs"]}
    assert by_key["NB-SD-001"].notebook == str(SHIPPED.resolve())
    assert by_key["NB-SD-001"].input_hash != first_hash
    # A kind that is not a kind, in the definition.
    config.write_text("templates:\n  contracts: templates/board.ipynb\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"october\.yml: templates: unknown pack kind 'contracts'; did you mean"):
        api.run_month(PERIOD, config=config, out=tmp_path / "r")


def test_the_input_hash_follows_the_templates_bytes_not_its_name(tmp_path, sample_portfolio):
    one = _write_template(tmp_path / "one.ipynb")
    two = tmp_path / "two.ipynb"
    shutil.copy(one, two)

    def hashed(path):
        (spec,) = plan(sample_portfolio, PERIOD, {"audience": "internal"}, ["NB-SD-001"], kinds=("contract",),
                       formats=("html",), templates={"contract": path} if path else None)
        return spec.input_hash

    assert hashed(one) == hashed(two) != hashed(None)
    _write_template(two, note="Note for the board:")
    assert hashed(two) != hashed(one)


# ---------------------------------------------------------------------------------------------------------------
# Real packs (slow)
# ---------------------------------------------------------------------------------------------------------------

def _statuses(month: Path) -> dict[str, str]:
    return {p["key"]: p["status"] for p in json.loads((month / "manifest.json").read_text())["packs"]}


@pytest.mark.slow
def test_a_user_template_renders_through_run_and_batch_and_rebuilds_when_it_changes(capsys, tmp_path):
    template = _write_template(tmp_path / "templates" / "board.ipynb")
    out, month = tmp_path / "reports", tmp_path / "reports" / PERIOD
    code, _, err = _run(capsys, "run", "NB-SD-001", "--period", PERIOD, "--format", "html", "--out", out,
                        "--template", template)
    assert code == 0, err
    html = (month / "NB-SD-001" / "review.html").read_text(encoding="utf-8")
    assert "Board note</h2>" in html and "Board note: NB-SD-001 has 6 KPIs under review in 2026-10." in html
    assert "KPI scorecard" in html  # the shipped sections are still there
    from cinb.files import sha256_file

    record = {"path": str(template.resolve()), "sha256": sha256_file(template)}
    pack = json.loads((month / "NB-SD-001" / "pack.json").read_text())
    assert pack["reproducibility"]["template"] == record and pack["kpis"]  # the figures are recorded as usual
    manifest = json.loads((month / "manifest.json").read_text())
    assert manifest["packs"][0]["template"] == record

    # The batch, every contract: the pack cinb run built is the one the batch would build, so it is skipped.
    code, stdout, err = _run(capsys, "batch", "--period", PERIOD, "--kinds", "contract", "--format", "html",
                             "--out", out, "--template", f"contract={template}")
    assert code == 0, err
    statuses = _statuses(month)
    assert len(statuses) == 13 and statuses.pop("NB-SD-001") == "skipped"  # the sample's 13 contracts
    assert set(statuses.values()) == {"ok"}
    for key in [*statuses, "NB-SD-001"]:
        html = (month / key / "review.html").read_text(encoding="utf-8")
        assert "Board note</h2>" in html and f"Board note: {key} has " in html, key
    # Unchanged template, unchanged packs: all skipped.
    code, stdout, _ = _run(capsys, "batch", "--period", PERIOD, "--kinds", "contract", "--format", "html",
                           "--out", out, "--template", template)
    assert code == 0 and set(_statuses(month).values()) == {"skipped"}
    assert any(line.split()[:4] == ["contract", "0", "13", "0"] for line in stdout.splitlines()), stdout
    # A changed template rebuilds the packs that run it.
    _write_template(template, note="Note for the board:")
    code, stdout, err = _run(capsys, "batch", "--period", PERIOD, "--kinds", "contract", "--format", "html",
                             "--out", out, "--template", template, "--contracts", "NB-SD-001", "NB-HOST-002")
    assert code == 0, err
    statuses = _statuses(month)
    assert statuses["NB-SD-001"] == statuses["NB-HOST-002"] == "ok"
    assert "Note for the board: NB-HOST-002 has" in (month / "NB-HOST-002" / "review.html").read_text()
    from cinb.manifest import verify_manifest

    assert verify_manifest(month) == []


@pytest.mark.slow
def test_any_notebook_with_a_parameters_cell_renders_as_a_pack(capsys, tmp_path):
    """A template that does not call sections.emit_pack: the pack shows what it displays, with no figures."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Contract one-pager"),
        nbformat.v4.new_code_cell('contract_id = "NB-SD-001"  # the contract\nperiod = "2026-10"  # the month\n'
                                  'data = None  # the portfolio', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_markdown_cell("## Supplier"),
        nbformat.v4.new_code_cell("from cinb import load_portfolio\nfrom cinb.display import Paragraphs, show\n"
                                  "row = load_portfolio(data).contract(contract_id).contracts.iloc[0]\n"
                                  "show(Paragraphs(f\"{contract_id} is supplied by {row['supplier']}.\"))"),
    ]
    template = tmp_path / "one_pager.ipynb"
    nbformat.write(nb, template)
    code, _, err = _run(capsys, "run", "NB-NET-003", "--period", PERIOD, "--format", "html", "--out", tmp_path,
                        "--template", template)
    assert code == 0, err
    folder = tmp_path / PERIOD / "NB-NET-003"
    html = (folder / "review.html").read_text(encoding="utf-8")
    assert "Contract one-pager" in html and "Supplier</h2>" in html and "NB-NET-003 is supplied by" in html
    pack = json.loads((folder / "pack.json").read_text())
    assert set(pack) == {"render", "reproducibility"}
    assert pack["reproducibility"]["notebook"] == "one_pager.ipynb"
    assert pack["reproducibility"]["template"]["path"] == str(template.resolve())

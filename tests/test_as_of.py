"""``--as-of``: a pack rebuilt from the evidence store as the data stood after an earlier batch.

The sample portfolio is ingested into a store (batch 1), then a correction of one figure (batch 2). ``cinb run
--as-of 1`` shows the figure of batch 1, ``cinb batch`` without it the corrected one; the batch (or time) read is
recorded in ``pack.json``, the appendix's reproducibility stamp and the manifest, and is part of the input hash.
"""

from __future__ import annotations

import json

import re

import pytest

from cinb.cli import main
from cinb.errors import UsageError
from cinb.store import as_of_batch, batches, ingest

PERIOD = "2026-10"
CID, KPI = "NB-SD-001", "FTF"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("as_of")
    path = root / "store.sqlite"
    ingest(_sample(), path)
    folder = root / "correction"
    folder.mkdir()
    (folder / "measurements.csv").write_text(
        "contract_id,kpi_id,period,value,submitted_on,note\n"
        f"{CID},{KPI},{PERIOD},79.5,2026-11-20,corrected after the audit\n", encoding="utf-8")
    r = ingest(folder, path)
    assert r.appended["measurements"] == 1 and r.counts()["measurements"]["changed"] == 1
    return {"path": path, "url": f"sqlite:///{path}", "root": root}


def _sample():
    from cinb.config import SAMPLE_DIR

    return SAMPLE_DIR


def _figure(pack_json) -> float:
    data = json.loads(pack_json.read_text(encoding="utf-8"))
    return next(k for k in data["kpis"] if k["kpi_id"] == KPI)["period_value"], data


@pytest.mark.slow
def test_a_pack_as_of_an_earlier_batch_shows_the_earlier_figure(store, capsys):
    from cinb.load import load_portfolio

    first = load_portfolio(store["url"], as_of=1).measurements
    was = first[(first["contract_id"] == CID) & (first["kpi_id"] == KPI)
                & (first["period"].astype(str) == PERIOD)]["value"].iloc[0]
    assert was != 79.5
    then, now = store["root"] / "then", store["root"] / "now"
    assert main(["run", CID, "--period", PERIOD, "--data", store["url"], "--as-of", "1", "--format", "html",
                 "--out", str(then)]) == 0
    assert main(["batch", "--period", PERIOD, "--contracts", CID, "--kinds", "contract", "--data", store["url"],
                 "--format", "html", "--out", str(now), "--jobs", "1"]) == 0
    capsys.readouterr()
    old, old_pack = _figure(then / PERIOD / CID / "pack.json")
    new, new_pack = _figure(now / PERIOD / CID / "pack.json")
    assert (old, new) == (was, 79.5)
    # Recorded: in pack.json, in the appendix's stamp, in the manifest (the pack and the run).
    assert old_pack["reproducibility"]["as_of"] == "1" and old_pack["parameters"]["as_of"] == "1"
    assert "as_of" not in new_pack["reproducibility"] and new_pack["parameters"]["as_of"] is None
    page = (then / PERIOD / CID / "review.html").read_text(encoding="utf-8")
    assert "Data as of" in page and "store batch 1, ingested " in page
    manifest = json.loads((then / PERIOD / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["packs"][0]["as_of"] == "1"
    assert manifest["last_run"]["as_of"]["batch_id"] == 1 and manifest["last_run"]["settings"]["as_of"] == "1"
    # Part of the input hash: the same pack as of another batch is another pack.
    assert old_pack["reproducibility"]["input_hash"] != new_pack["reproducibility"]["input_hash"]


@pytest.mark.slow
def test_as_of_a_time_reads_the_last_batch_at_or_before_it(store):
    when = batches(store["path"]).iloc[0]["ingested_at"]
    assert as_of_batch(store["path"], when)["batch_id"] == 1
    assert as_of_batch(store["path"], "2")["batch_id"] == 2
    with pytest.raises(UsageError, match="has no batch 7; its batches are 1 to 2"):
        as_of_batch(store["path"], 7)
    with pytest.raises(UsageError, match="had no data at"):
        as_of_batch(store["path"], "2001-01-01")


def test_as_of_needs_a_store_url(capsys, tmp_path):
    assert main(["run", CID, "--period", PERIOD, "--as-of", "1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "as_of '1' (from the command line)" in err and "sqlite:///reports/store.sqlite" in err
    assert "Traceback" not in err
    assert main(["batch", "--period", PERIOD, "--data", "cinb/data/sample", "--as-of", "1",
                 "--out", str(tmp_path)]) == 2
    assert "give the store's database URL" in capsys.readouterr().err
    assert main(["run", CID, "--period", PERIOD, "--as-of", "last tuesday", "--data", "sqlite:///x.db",
                 "--out", str(tmp_path)]) == 2
    assert "as_of must be a store batch id (e.g. 3) or an ISO timestamp" in capsys.readouterr().err


@pytest.mark.slow
def test_a_template_that_ignores_as_of_is_refused(store, tmp_path, capsys):
    from cinb.notebook_templates import copy_template

    import nbformat

    path = copy_template("contract", tmp_path / "old.ipynb")
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:  # a template made before as_of existed
        cell.source = "\n".join(line for line in cell.source.splitlines() if not line.startswith("as_of"))
        cell.source = re.sub(r",\s*as_of=as_of", "", cell.source)
    assert not any("as_of" in cell.source for cell in nb.cells)
    nbformat.write(nb, str(path))
    assert main(["run", CID, "--period", PERIOD, "--data", store["url"], "--as-of", "1", "--format", "html",
                 "--template", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "does not declare 'as_of'" in err and "load_portfolio(data, as_of=as_of)" in err

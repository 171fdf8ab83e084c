"""Shared pytest fixtures: the repo on sys.path, the sample portfolio, a temporary reports folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
# The repo (for `cinb` without an install) and tests/ (for the shared helpers in tests/adversarial/).
for path in (str(ROOT), str(TESTS)):
    if path not in sys.path:
        sys.path.insert(0, path)

# Charts are drawn without a display, in tests as in the batch.
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def sample_portfolio():
    from cinb.load import load_portfolio

    return load_portfolio()


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """One batch of real packs from the sample portfolio, rendered once for every test that reads them.

    A contract pack (internal and supplier audiences), the portfolio pack and one supplier scorecard, in HTML
    and PDF, exactly as ``cinb batch`` writes them.
    """
    from cinb.batch import run_batch
    from cinb.pack import PackSpec

    out = tmp_path_factory.mktemp("reports")
    period = "2026-10"
    specs = [
        PackSpec("contract", "NB-SD-001", period, {"audience": "internal"}),
        PackSpec("contract", "NB-SD-001", period, {"audience": "supplier"}),
        PackSpec("portfolio", None, period, {"audience": "internal"}),
        PackSpec("supplier", "Meridian Service Desk Ltd", period, {"audience": "internal"}),
    ]
    batch = run_batch(specs, out, jobs=2, formats=("html", "pdf"), log=lambda msg: None)
    failed = [(r.key, r.error) for r in batch.failed]
    assert not failed, failed
    return {"root": out / period, "batch": batch}

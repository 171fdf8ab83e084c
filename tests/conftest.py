"""Shared pytest fixtures: the repo on sys.path, the sample portfolio, a temporary reports folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Charts are drawn without a display, in tests as in the batch.
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def sample_portfolio():
    from cinb.load import load_portfolio

    return load_portfolio()

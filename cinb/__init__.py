"""cinb — continuous-improvement notebooks: load a contract portfolio, analyse it, render review packs.

The names a notebook needs are importable from here, and the commands as functions (``run_pack``,
``run_month``, ``demo``: see :mod:`cinb.api`); they load lazily so that ``import cinb`` (and the CLI's start-up)
stays fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "load_portfolio": ("cinb.load", "load_portfolio"),
    "Portfolio": ("cinb.load", "Portfolio"),
    "contract_review": ("cinb.review", "contract_review"),
    "ContractReview": ("cinb.review", "ContractReview"),
    "portfolio_review": ("cinb.portfolio", "portfolio_review"),
    "PortfolioReview": ("cinb.portfolio", "PortfolioReview"),
    "run_pack": ("cinb.api", "run_pack"),
    "run_month": ("cinb.api", "run_month"),
    "demo": ("cinb.api", "demo"),
    "CinbError": ("cinb.errors", "CinbError"),
    "DataError": ("cinb.errors", "DataError"),
    "UsageError": ("cinb.errors", "UsageError"),
    "PackError": ("cinb.errors", "PackError"),
    "KernelError": ("cinb.errors", "KernelError"),
    "ZygoteError": ("cinb.errors", "ZygoteError"),
}
_SUBMODULES = {"sections", "portfolio_sections", "spc", "charts", "display", "ratings", "credits", "trends",
               "commitments", "initiatives", "definitions", "cpn", "ocds", "review", "portfolio", "load", "render", "api"}

__all__ = ["__version__", *_LAZY, *sorted(_SUBMODULES)]


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"cinb.{name}")
    else:
        raise AttributeError(f"module 'cinb' has no attribute {name!r}")
    globals()[name] = value
    return value

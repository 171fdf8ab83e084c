"""cinb — continuous-improvement notebooks: load a contract portfolio, analyse it, render review packs."""

__version__ = "0.1.0"

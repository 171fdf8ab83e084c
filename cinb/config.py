"""Where things live and the layered parameters: package defaults < parameters/*.yml < command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import UsageError

PACKAGE_DIR = Path(__file__).resolve().parent
SAMPLE_DIR = PACKAGE_DIR / "data" / "sample"
TEMPLATE_DIR = PACKAGE_DIR / "templates"
REPO_DIR = PACKAGE_DIR.parent


def notebook_dir() -> Path:
    """The folder holding the pack notebooks: ``$CINB_NOTEBOOKS`` or the checkout's ``notebooks/``."""
    env = os.environ.get("CINB_NOTEBOOKS")
    path = Path(env) if env else REPO_DIR / "notebooks"
    if not path.is_dir():
        raise UsageError(
            f"cannot find the pack notebooks in {path}: install cinb from its checkout "
            "(pip install -e .) or set CINB_NOTEBOOKS to the folder holding contract_review.ipynb"
        )
    return path


def parameters_dir() -> Path:
    """The folder of layered parameter files: ``$CINB_PARAMETERS`` or the checkout's ``parameters/``."""
    env = os.environ.get("CINB_PARAMETERS")
    return Path(env) if env else REPO_DIR / "parameters"


#: Package defaults: the lowest layer. Every key here is a valid parameter name for the notebooks and the CLI.
DEFAULTS: dict[str, Any] = {
    "data": None,  # None = the embedded sample portfolio
    "marking": "OFFICIAL",  # protective marking printed on every page
    "audience": "internal",  # internal | supplier
    "window_months": 12,  # review window for ratings, compliance and trends
    "formats": ["html", "pdf"],
    "pdf_backend": "weasyprint",
    "jobs": None,  # None = one worker per core
    "timeout": 600,  # seconds per pack
    "ratchet_months": 12,
    "ratchet_share": 0.5,
}

AUDIENCES = ("internal", "supplier")
FORMATS = ("html", "pdf")


def load_parameter_files(folder: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    """Merge every ``*.yml``/``*.yaml`` file in ``folder`` in name order (later files win).

    Returns the merged mapping and the list of files read, so a pack can record where each value came from.
    Files are read with ``yaml.safe_load``: no tags, no object construction.
    """
    folder = parameters_dir() if folder is None else folder
    merged: dict[str, Any] = {}
    used: list[str] = []
    if not folder.is_dir():
        return merged, used
    for path in sorted(list(folder.glob("*.yml")) + list(folder.glob("*.yaml"))):
        try:
            content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: not valid YAML ({exc}); fix the file or remove it from {folder}") from None
        if not isinstance(content, dict):
            raise UsageError(f"{path}: expected a mapping of parameter: value, found {type(content).__name__}")
        unknown = sorted(set(content) - set(DEFAULTS))
        if unknown:
            raise UsageError(
                f"{path}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(DEFAULTS))}"
            )
        merged.update(content)
        used.append(str(path))
    return merged, used


def merge_parameters(cli: Mapping[str, Any] | None = None, folder: Path | None = None) -> dict[str, Any]:
    """Layer package defaults < parameter files < command-line values (``None`` on the CLI means "not given")."""
    files, used = load_parameter_files(folder)
    merged = dict(DEFAULTS)
    merged.update(files)
    merged.update({k: v for k, v in (cli or {}).items() if v is not None})
    if merged["audience"] not in AUDIENCES:
        raise UsageError(f"audience must be one of {', '.join(AUDIENCES)}, not {merged['audience']!r}")
    formats = merged["formats"]
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UsageError(f"--format takes a comma-separated list of {', '.join(FORMATS)}; got {merged['formats']!r}")
    merged["formats"] = list(formats)
    merged["_parameter_files"] = used
    return merged

"""Where things live and the layered parameters: package defaults < parameters/*.yml < command line."""

from __future__ import annotations

import math
import numbers
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
    "pdf_backend": "auto",  # auto = Chromium when installed (faster), else WeasyPrint
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
        unknown = sorted(str(k) for k in set(content) - set(DEFAULTS))
        if unknown:
            raise UsageError(
                f"{path}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(DEFAULTS))}"
            )
        merged.update(content)
        used.append(str(path))
    return merged, used


def merge_parameters(cli: Mapping[str, Any] | None = None, folder: Path | None = None, *,
                     definition: Mapping[str, Any] | None = None,
                     definition_path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Layer package defaults < parameter files < a batch definition < the caller's values.

    Parameters
    ----------
    cli : mapping, optional
        The highest layer: command-line options or a Python caller's arguments. ``None`` means "not given",
        so a lower layer's value stands.
    folder : Path, optional
        The folder of ``*.yml`` parameter files (default :func:`parameters_dir`).
    definition : mapping, optional
        The parameters of a batch definition (``cinb batch --config FILE.yml``; see
        :func:`cinb.batchfile.load_definition`), between the parameter files and ``cli``.
    definition_path : path, optional
        Where ``definition`` came from, recorded in ``_parameter_files``.

    Returns
    -------
    dict
        Every key of :data:`DEFAULTS` with its merged value (``formats`` as a list), plus
        ``_parameter_files``: the files read, lowest layer first.

    Raises
    ------
    UsageError
        A value of the wrong type or range (`check_parameters`), naming the layer it came from.
    """
    files, used = load_parameter_files(folder)
    merged = dict(DEFAULTS)
    merged.update(files)
    from_definition = {k: v for k, v in (definition or {}).items()}
    unknown = sorted(str(k) for k in set(from_definition) - set(DEFAULTS))
    if unknown:
        raise UsageError(f"{definition_path or 'the batch definition'}: unknown parameter(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(DEFAULTS))}")
    merged.update(from_definition)
    if definition_path is not None:
        used = [*used, str(definition_path)]
    given = {k: v for k, v in (cli or {}).items() if v is not None}
    unknown = sorted(str(k) for k in set(given) - set(DEFAULTS))
    if unknown:
        raise UsageError(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(DEFAULTS))}")
    merged.update(given)

    def layer(name: str) -> str:
        if name in given:
            return "the command line"
        if name in from_definition:
            return str(definition_path or "the batch definition")
        return ", ".join(used) if name in files else "the defaults"

    if merged["audience"] not in AUDIENCES:
        raise UsageError(f"audience must be one of {', '.join(AUDIENCES)}, not {_shown(merged['audience'])} "
                         f"(from {layer('audience')})")
    formats = merged["formats"]
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    if not isinstance(formats, (list, tuple)):
        raise UsageError(f"formats must be a list of {', '.join(FORMATS)}, not {_shown(formats)}")
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UsageError(f"--format takes a comma-separated list of {', '.join(FORMATS)}; "
                         f"got {_shown(merged['formats'])}")
    merged["formats"] = list(formats)
    for name in _CHECKS:
        check_parameters({name: merged[name]}, where=layer(name))
    merged["_parameter_files"] = used
    return merged


def _shown(value: Any) -> str:
    """A value for a message, never expanded at length (a YAML alias bomb must not be printed)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    return f"a {type(value).__name__}"


def _whole(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


#: Each notebook-facing parameter: a test of its value and what it must be (for the message).
_CHECKS: dict[str, tuple[Any, str]] = {
    "data": (lambda v: v is None or isinstance(v, (str, os.PathLike)), "a path or database URL (text)"),
    "marking": (lambda v: isinstance(v, str) and 0 < len(v) <= 200, "text of 1 to 200 characters"),
    "window_months": (lambda v: _whole(v) and 1 <= v <= 120, "a whole number of months from 1 to 120"),
    "pdf_backend": (lambda v: v in ("auto", "weasyprint", "chromium"), "auto, weasyprint or chromium"),
    "jobs": (lambda v: v is None or (_whole(v) and v >= 1), "a whole number of at least 1"),
    "timeout": (lambda v: v is None or (_real(v) and v > 0), "a number of seconds above 0"),
    "ratchet_months": (lambda v: _whole(v) and 1 <= v <= 120, "a whole number of months from 1 to 120"),
    "ratchet_share": (lambda v: _real(v) and 0 < v <= 1, "a number above 0 and at most 1"),
}


def check_parameters(params: Mapping[str, Any], where: str = "the parameters") -> None:
    """Raise `UsageError` when a parameter has the wrong type or range.

    Parameter values end up as literals in the notebooks and in every pack's record, so only plain values of
    the expected type get through: no mappings, no lists where text is expected, no NaN or infinity.
    """
    for name, (ok, expected) in _CHECKS.items():
        if name in params and not ok(params[name]):
            raise UsageError(f"{name} must be {expected}, not {_shown(params[name])} (from {where})")

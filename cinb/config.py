"""Where things live and the layered parameters: package defaults < parameters/*.yml < command line."""

from __future__ import annotations

import math
import numbers
import os
import re
from pathlib import Path
from typing import Any, Mapping

from . import branding
from .errors import UsageError
from .hints import did_you_mean
from .yamlfile import read_settings

PACKAGE_DIR = Path(__file__).resolve().parent
SAMPLE_DIR = PACKAGE_DIR / "data" / "sample"
TEMPLATE_DIR = PACKAGE_DIR / "templates"
#: The report templates shipped with cinb: the pack notebooks (package data) and explore.ipynb.
NOTEBOOK_DIR = PACKAGE_DIR / "notebooks"
REPO_DIR = PACKAGE_DIR.parent
#: Where ``cinb ingest`` appends when no ``--into`` is given (relative to the working directory).
DEFAULT_STORE = Path("reports") / "store.sqlite"


def notebook_dir() -> Path:
    """The folder holding the pack notebooks: ``$CINB_NOTEBOOKS``, else the ones installed with cinb
    (:data:`NOTEBOOK_DIR`, ``cinb/notebooks/``)."""
    env = os.environ.get("CINB_NOTEBOOKS")
    path = Path(env) if env else NOTEBOOK_DIR
    if not path.is_dir():
        if env:
            raise UsageError(f"cannot find the pack notebooks in {path} (CINB_NOTEBOOKS): set it to a folder "
                             "holding contract_review.ipynb, portfolio_review.ipynb and supplier_scorecard.ipynb, "
                             "or unset it to use the notebooks installed with cinb")
        raise UsageError(f"cannot find the pack notebooks in {path}: this installation of cinb is incomplete; "
                         "reinstall it (pip install --force-reinstall cinb)")
    return path


def parameters_dir() -> Path:
    """The folder of layered parameter files: ``$CINB_PARAMETERS`` or the checkout's ``parameters/``."""
    env = os.environ.get("CINB_PARAMETERS")
    return Path(env) if env else REPO_DIR / "parameters"


#: Package defaults: the lowest layer. Every key here is a valid parameter name for the notebooks and the CLI.
DEFAULTS: dict[str, Any] = {
    "data": None,  # None = the embedded sample portfolio
    "as_of": None,  # with a cinb store URL as data: the batch id or ISO timestamp to read it as of (None = latest)
    "marking": "OFFICIAL",  # protective marking printed on every page
    "audience": "internal",  # internal | supplier
    "window_months": 12,  # review window for ratings, compliance and trends
    "formats": ["html", "pdf"],
    "pdf_backend": "auto",  # auto = Chromium when installed (faster), else WeasyPrint
    "jobs": None,  # None = one worker per core
    "timeout": 600,  # seconds per pack
    "ratchet_months": 12,
    "ratchet_share": 0.5,
    # Rating and SPC rules (cinb.ratings.RatingBands, cinb.spc_rebase).
    "default_tolerance_pct": None,  # % of the target within which a KPI with no SLA/tolerance is Approaching target
    "spc_min_points": 13,  # fewest values a KPI's XmR chart needs before its limits carry a verdict
    # Figures derived from records (cinb derive, cinb.reconcile): which figures the ratings use, how far a derived
    # figure may be from the reported one, and the KPI definitions file (None: derive.yml beside the data, if any).
    "rate_on": "reported",  # reported (the supplier's figures, the contract's basis) | derived
    "reconcile_tolerance": None,  # None = per-unit defaults; text "UNIT=AMOUNT[%], ...", e.g. "%=1, hours=10%"
    "definitions": None,  # the KPI definitions file (YAML) the derived figures were computed with
    # The authority's branding (cinb.branding); None or "" = none, and the packs look as without these keys.
    "brand_name": None,  # name on the cover, the printed pages' running header and the month's index page
    "brand_logo": None,  # a local PNG, JPEG, GIF, WebP or SVG file, embedded in the pages (never fetched)
    "brand_accent": None,  # #RRGGBB for heading rules, borders, the cover band and links; None = house colours
    "brand_footer": None,  # a line at the foot of every PDF page and at the end of the HTML
}

AUDIENCES = ("internal", "supplier")

#: Settings read from YAML as numbers or booleans; every other setting is text (or a list of texts) as written,
#: so that YAML 1.1 never turns an identifier such as 0451 into the octal number 297.
TYPED_SETTINGS = frozenset({"window_months", "jobs", "timeout", "ratchet_months", "ratchet_share", "force",
                            "default_tolerance_pct", "spc_min_points"})
FORMATS = ("html", "pdf")


def load_parameter_files(folder: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    """Merge every ``*.yml``/``*.yaml`` file in ``folder`` in name order (later files win).

    Returns the merged mapping and the list of files read, so a pack can record where each value came from.
    Files are read with :func:`cinb.yamlfile.read_settings` (``yaml.SafeLoader``: no tags, no objects):
    text-valued parameters keep their text as written (``marking: 0451`` is ``"0451"``), and only
    :data:`TYPED_SETTINGS` are read as YAML numbers and booleans.

    Raises
    ------
    UsageError
        A file that is not YAML or not a mapping, or names an unknown parameter.
    """
    folder = parameters_dir() if folder is None else folder
    merged: dict[str, Any] = {}
    used: list[str] = []
    if not folder.is_dir():
        return merged, used
    for path in sorted(list(folder.glob("*.yml")) + list(folder.glob("*.yaml"))):
        content = read_settings(path, typed=TYPED_SETTINGS)
        unknown = sorted(str(k) for k in set(content) - set(DEFAULTS))
        if unknown:
            hint = did_you_mean(unknown[0], DEFAULTS)
            raise UsageError(f"{path}: unknown parameter(s) {', '.join(unknown)}" + (f"; {hint}" if hint else "")
                             + f" (known: {', '.join(sorted(DEFAULTS))})")
        merged.update(content)
        used.append(str(path))
    return merged, used


def merge_parameters(cli: Mapping[str, Any] | None = None, folder: Path | None = None, *,
                     definition: Mapping[str, Any] | None = None,
                     definition_path: str | os.PathLike | None = None,
                     given_by: str = "the command line") -> dict[str, Any]:
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
    given_by : str
        How messages name the ``cli`` layer ("the command line", or "the arguments" for a Python caller).

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
        hint = did_you_mean(unknown[0], DEFAULTS)
        raise UsageError(f"unknown parameter(s) {', '.join(unknown)} in {given_by}" + (f"; {hint}" if hint else "")
                         + f" (known: {', '.join(sorted(DEFAULTS))})")
    merged.update(given)

    def layer(name: str) -> str:
        if name in given:
            return given_by
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
        shown = ", ".join(_shown(f) for f in bad[:5]) if bad else "nothing"
        raise UsageError(f"formats takes some of {', '.join(FORMATS)}; got {shown} (from {layer('formats')})")
    merged["formats"] = list(formats)
    for name in _CHECKS:
        check_parameters({name: merged[name]}, where=layer(name))
    if merged["as_of"] is not None:
        merged["as_of"] = str(merged["as_of"]).strip()  # one spelling: the same pack hashes the same
        if not _is_url(merged["data"]):
            raise UsageError(f"as_of {merged['as_of']!r} (from {layer('as_of')}) reads a cinb store as it stood after "
                             "a batch: give the store's database URL as the data, e.g. --data "
                             "sqlite:///reports/store.sqlite (cinb ingest writes it), not "
                             + (f"{_shown(str(merged['data']))} (from {layer('data')})" if merged["data"] is not None
                                else "the sample portfolio"))
    merged["_parameter_files"] = used
    return merged


def _shown(value: Any) -> str:
    """A value for a message, never expanded at length (a YAML alias bomb must not be printed)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    return f"a {type(value).__name__}"


def _is_url(value: Any) -> bool:
    """A database URL (``scheme://…``), as opposed to a folder or a workbook's path."""
    return isinstance(value, str) and "://" in value


def _as_of(value: Any) -> bool:
    """A store batch id (a whole number ≥ 1, or its digits) or an ISO timestamp (``2026-11-01T12:00``)."""
    if value is None:
        return True
    if _whole(value):
        return value >= 1
    if not isinstance(value, str) or not 0 < len(value.strip()) <= 64:
        return False
    text = value.strip()
    if text.isdigit():
        return int(text) >= 1
    import datetime as _dt

    try:
        _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _whole(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


#: The shape of ``reconcile_tolerance`` (units and amounts are checked by `cinb.reconcile.parse_tolerance`).
_TOLERANCE_SPEC = re.compile(r"^\s*(?:[^=,]+=\s*[0-9]+(?:\.[0-9]+)?\s*%?\s*(?:,\s*|$))*$")

#: Each notebook-facing parameter: a test of its value and what it must be (for the message).
_CHECKS: dict[str, tuple[Any, str]] = {
    "data": (lambda v: v is None or isinstance(v, (str, os.PathLike)), "a path or database URL (text)"),
    "as_of": (_as_of, "a store batch id (e.g. 3) or an ISO timestamp (e.g. 2026-11-01T12:00)"),
    "marking": (lambda v: isinstance(v, str) and 0 < len(v) <= 200, "text of 1 to 200 characters"),
    "window_months": (lambda v: _whole(v) and 1 <= v <= 120, "a whole number of months from 1 to 120"),
    "pdf_backend": (lambda v: v in ("auto", "weasyprint", "chromium"), "auto, weasyprint or chromium"),
    "jobs": (lambda v: v is None or (_whole(v) and v >= 1), "a whole number of at least 1"),
    "timeout": (lambda v: v is None or (_real(v) and v > 0), "a number of seconds above 0"),
    "ratchet_months": (lambda v: _whole(v) and 1 <= v <= 120, "a whole number of months from 1 to 120"),
    "ratchet_share": (lambda v: _real(v) and 0 < v <= 1, "a number above 0 and at most 1"),
    "default_tolerance_pct": (lambda v: v is None or (_real(v) and 0 <= v <= 100),
                              "a number from 0 to 100 (a % of the target), or empty for none"),
    "spc_min_points": (lambda v: _whole(v) and 2 <= v <= 120, "a whole number of points from 2 to 120"),
    "rate_on": (lambda v: v in ("reported", "derived"),
                "reported (the supplier's figures, the default) or derived (the figures derived from the records)"),
    "reconcile_tolerance": (lambda v: v is None or (isinstance(v, str) and len(v) <= 200
                                                    and bool(_TOLERANCE_SPEC.match(v))),
                            "text such as \"%=0.5, hours=5%\" (UNIT=AMOUNT, a trailing % for a share of the "
                            "reported value), or empty for the defaults"),
    "definitions": (lambda v: v is None or (isinstance(v, (str, os.PathLike)) and Path(v).is_file()),
                    "the path of an existing KPI definitions file (YAML), or empty for derive.yml beside the data"),
    # The branding's checks raise their own message (the file, the contrast ratio …); see cinb.branding.
    "brand_name": (lambda v: branding.check_text("brand_name", v) or True, "one line of text"),
    "brand_logo": (lambda v: branding.read_logo(v) or True, "the path of a PNG, JPEG, GIF, WebP or SVG file"),
    "brand_accent": (lambda v: branding.check_accent(v) or True, "a colour #RRGGBB"),
    "brand_footer": (lambda v: branding.check_text("brand_footer", v) or True, "one line of text"),
}


def check_parameters(params: Mapping[str, Any], where: str = "the parameters") -> None:
    """Raise `UsageError` when a parameter has the wrong type or range.

    Parameter values end up as literals in the notebooks and in every pack's record, so only plain values of
    the expected type get through: no mappings, no lists where text is expected, no NaN or infinity.
    """
    for name, (ok, expected) in _CHECKS.items():
        if name not in params:
            continue
        try:
            good = ok(params[name])
        except UsageError as exc:  # a check with a message of its own (the branding's)
            raise UsageError(f"{exc} (from {where})") from None
        if not good:
            raise UsageError(f"{name} must be {expected}, not {_shown(params[name])} (from {where})")

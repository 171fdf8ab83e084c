"""Definition quality of each KPI and CI commitment: which elements of a clear outcome are written down.

A KPI with a *runnable definition* (an entry of a KPI definitions file, the YAML that ``cinb derive`` computes
KPIs from records with; `cinb.derive_defs`) has its measure and its data source written down exactly: its
description and data source count as present, and the pack prints the definition it was computed with. The
definitions file of a portfolio is the ``definitions`` parameter, or else ``derive.yml`` beside the data (in the
folder of CSV files; the sample portfolio ships one): :func:`runnable_definitions`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from .derive_defs import Definitions, definition_text, load_definitions

__all__ = [
    "DEFINITION_ELEMENTS",
    "DEFINITION_SOURCES",
    "DEFINITIONS_FILE",
    "PortfolioDefinitionQuality",
    "contract_definition_quality",
    "definition_quality",
    "portfolio_definition_quality",
    "runnable_definitions",
]

#: The file name of a portfolio's KPI definitions file, looked for beside the data (a folder of CSV files).
DEFINITIONS_FILE = "derive.yml"

#: The elements of a well-defined KPI and CI commitment, in the order a pack lists them: key → label.
DEFINITION_ELEMENTS: dict[str, str] = {
    "description": "measure description",
    "unit": "unit",
    "direction": "direction",
    "baseline": "baseline value",
    "baseline_period": "baseline period",
    "target": "target",
    "due": "due date",
    "data_source": "data source",
    "owner": "owner",
    "agreed": "agreed with supplier",
}

#: Which kpis columns make each element present (printed with the table so a reader can check it).
DEFINITION_SOURCES: dict[str, str] = {
    "description": "description is filled in, or the KPI has a runnable definition (derive.yml)",
    "unit": "unit is filled in",
    "direction": "direction is higher or lower",
    "baseline": "baseline is a number",
    "baseline_period": "baseline_period is a month",
    "target": "ci_target or target is a number",
    "due": "ci_target_date is a month, or ci_annual_uplift_pct is given (due at contract end)",
    "data_source": "data_source is filled in, or the KPI has a runnable definition (derive.yml)",
    "owner": "owner is filled in",
    "agreed": "agreed_with_supplier is a date or 'yes'",
}

#: Elements that belong to the CI commitment rather than to the measure itself.
_COMMITMENT_ELEMENTS = ("baseline", "baseline_period", "target", "due")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _present_text(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame:
        return pd.Series(False, index=frame.index)
    s = frame[col]
    text = s.astype("string").str.strip()
    return (s.notna() & text.notna() & (text != "")).fillna(False).astype(bool)


def _present_number(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame:
        return pd.Series(False, index=frame.index)
    return pd.to_numeric(frame[col], errors="coerce").notna().astype(bool)


def _present_any(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame:
        return pd.Series(False, index=frame.index)
    s = frame[col]
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        return _present_text(frame, col)
    return s.notna().astype(bool)


def _agreed(value) -> bool:
    """'yes' or a date counts as agreed; 'no', blank or anything else does not."""
    if value is None:
        return False
    if isinstance(value, (pd.Timestamp, np.datetime64)) or hasattr(value, "year"):
        return not pd.isna(value)
    if isinstance(value, float) and np.isnan(value):
        return False
    text = str(value).strip().lower()
    return text == "yes" or bool(_ISO_DATE.match(text))


def definition_quality(kpis: pd.DataFrame, runnable: dict | None = None) -> pd.DataFrame:
    """Score how completely each KPI and its CI commitment are defined.

    Parameters
    ----------
    kpis : pandas.DataFrame
        The kpis frame as returned by ``cinb.load.load_portfolio`` (absent optional columns count as missing).
    runnable : dict, optional
        ``(contract_id, kpi_id) → definition in words`` of the KPIs with a runnable definition
        (:func:`runnable_definitions`): their description and data source count as present.

    Returns
    -------
    pandas.DataFrame
        One row per KPI, in the order of ``kpis``: ``contract_id, kpi_id, name``, one bool column per key of
        :data:`DEFINITION_ELEMENTS` (rules in :data:`DEFINITION_SOURCES`), ``present`` (count), ``score``
        (share of the 10 elements present, 0–100), ``missing`` (comma-separated labels, '' when none),
        ``well_defined`` (all present) and ``has_commitment`` (a ``ci_target`` or ``ci_annual_uplift_pct``
        is given), ``runnable`` (a runnable definition was given) and ``runnable_definition`` (its text; empty
        without). A KPI with no CI commitment is scored out of the same 10 elements: its commitment
        elements count as missing (a measure with no committed improvement is not a defined CI outcome),
        and ``has_commitment`` says why.

    Examples
    --------
    >>> kpis = pd.DataFrame({"contract_id": ["C1"], "kpi_id": ["K1"], "name": ["Availability"],
    ...                      "unit": ["%"], "direction": ["higher"], "target": [99.5]})
    >>> definition_quality(kpis).loc[0, "score"]
    np.float64(30.0)
    """
    present = pd.DataFrame(index=kpis.index)
    runnable = runnable or {}
    texts = [runnable.get((c, k)) for c, k in zip(kpis["contract_id"], kpis["kpi_id"])] if runnable else \
        [None] * len(kpis)
    has_runnable = pd.Series([t is not None for t in texts], index=kpis.index, dtype=bool)
    present["description"] = _present_text(kpis, "description") | has_runnable
    present["unit"] = _present_text(kpis, "unit")
    direction = kpis["direction"] if "direction" in kpis else pd.Series(None, index=kpis.index, dtype=object)
    present["direction"] = direction.astype("string").str.strip().str.lower().isin(["higher", "lower"]).fillna(False)
    present["baseline"] = _present_number(kpis, "baseline")
    present["baseline_period"] = _present_any(kpis, "baseline_period")
    present["target"] = _present_number(kpis, "ci_target") | _present_number(kpis, "target")
    present["due"] = _present_any(kpis, "ci_target_date") | _present_number(kpis, "ci_annual_uplift_pct")
    present["data_source"] = _present_text(kpis, "data_source") | has_runnable
    present["owner"] = _present_text(kpis, "owner")
    agreed = kpis["agreed_with_supplier"] if "agreed_with_supplier" in kpis else pd.Series(None, index=kpis.index)
    present["agreed"] = agreed.map(_agreed).astype(bool)
    present = present[list(DEFINITION_ELEMENTS)].astype(bool)

    labels = np.array(list(DEFINITION_ELEMENTS.values()), dtype=object)
    flags = present.to_numpy()
    out = pd.DataFrame(
        {
            "contract_id": kpis["contract_id"].to_numpy(),
            "kpi_id": kpis["kpi_id"].to_numpy(),
            "name": kpis["name"].to_numpy() if "name" in kpis else None,
        }
    )
    for key in DEFINITION_ELEMENTS:
        out[key] = present[key].to_numpy()
    out["present"] = flags.sum(axis=1).astype(int)
    out["score"] = 100.0 * out["present"] / len(DEFINITION_ELEMENTS)
    out["missing"] = [", ".join(labels[~row]) for row in flags]
    out["well_defined"] = flags.all(axis=1) if len(out) else pd.Series([], dtype=bool)
    out["has_commitment"] = (
        _present_number(kpis, "ci_target") | _present_number(kpis, "ci_annual_uplift_pct")
    ).to_numpy()
    out["runnable"] = has_runnable.to_numpy()
    out["runnable_definition"] = pd.Series(texts, dtype=object).to_numpy()
    return out


def runnable_definitions(definitions=None, data=None) -> dict:
    """The runnable KPI definitions of a portfolio, in words: ``(contract_id, kpi_id) → text``.

    Parameters
    ----------
    definitions : path, dict or Definitions, optional
        A KPI definitions file (YAML), its parsed mapping, or `cinb.derive_defs.Definitions`.
    data : path, optional
        Where the portfolio came from (``Portfolio.source``): when ``definitions`` is None and this is a folder
        holding :data:`DEFINITIONS_FILE`, that file is used.

    Returns
    -------
    dict
        Empty when there is no definitions file. Texts are `cinb.derive_defs.definition_text`'s (the same words
        the definitions file means when ``cinb derive`` runs it).

    Raises
    ------
    UsageError
        ``definitions`` names a file that does not exist.
    DataError
        The definitions file is not valid (one located problem per mistake, as ``cinb derive`` reports them).
    """
    if definitions is None:
        if data is None:
            return {}
        try:
            candidate = Path(str(data)) / DEFINITIONS_FILE
            found = candidate.is_file()
        except (OSError, ValueError):  # a database URL is no folder
            found = False
        if not found:
            return {}
        definitions = candidate
    defs = definitions if isinstance(definitions, Definitions) else load_definitions(definitions)
    return {(str(k["contract_id"]), str(k["kpi_id"])): definition_text(k, defs.calendars) for k in defs.kpis}


def _most_missing(dq: pd.DataFrame) -> tuple[str | None, int]:
    """The most often missing element's label and count; ties go to the element listed first."""
    missing = (~dq[list(DEFINITION_ELEMENTS)].astype(bool)).sum()
    if len(dq) == 0 or missing.max() == 0:
        return None, 0
    key = missing.idxmax()  # idxmax returns the first maximum, i.e. the first in DEFINITION_ELEMENTS order
    return DEFINITION_ELEMENTS[key], int(missing[key])


def contract_definition_quality(dq: pd.DataFrame) -> pd.DataFrame:
    """Definition quality per contract from :func:`definition_quality`.

    Returns
    -------
    pandas.DataFrame
        One row per contract (sorted by ``contract_id``): ``kpis``, ``well_defined`` (count),
        ``share_well_defined`` (0–1), ``mean_score`` (0–100), ``with_commitment`` (count), ``most_missing``
        (label of the element most often missing, first in :data:`DEFINITION_ELEMENTS` order on a tie; None
        when nothing is missing), ``most_missing_count``, and for every element ``<key>_share``: the share
        of the contract's KPIs that have it.
    """
    # One groupby per figure over every contract at once (a loop over contracts took ~13 ms a contract); the
    # most often missing element is _most_missing's rule: the first of the largest counts, none when all are 0.
    keys = list(DEFINITION_ELEMENTS)
    by = dq["contract_id"]
    flags = dq[keys].astype(bool)
    g = dq.groupby(by, sort=True)
    n = g.size()
    well = g["well_defined"].sum()
    share_well = dq["well_defined"].astype(float).groupby(by, sort=True).mean()
    score = g["score"].mean()
    committed = g["has_commitment"].sum()
    shares = flags.astype(float).groupby(by, sort=True).mean()
    missing = (~flags).astype(np.int64).groupby(by, sort=True).sum().to_numpy()
    first_max = missing.argmax(axis=1) if len(missing) else np.zeros(0, dtype=np.int64)
    top = missing[np.arange(len(missing)), first_max] if len(missing) else np.zeros(0, dtype=np.int64)
    labels = list(DEFINITION_ELEMENTS.values())
    rows = []
    for i, contract_id in enumerate(n.index):
        row = {
            "contract_id": contract_id,
            "kpis": int(n.iat[i]),
            "well_defined": int(well.iat[i]),
            "share_well_defined": float(share_well.iat[i]),
            "mean_score": float(score.iat[i]),
            "with_commitment": int(committed.iat[i]),
            "most_missing": labels[first_max[i]] if top[i] else None,
            "most_missing_count": int(top[i]),
        }
        for j, key in enumerate(keys):
            row[f"{key}_share"] = float(shares.iat[i, j])
        rows.append(row)
    columns = [
        "contract_id",
        "kpis",
        "well_defined",
        "share_well_defined",
        "mean_score",
        "with_commitment",
        "most_missing",
        "most_missing_count",
    ] + [f"{key}_share" for key in DEFINITION_ELEMENTS]
    return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class PortfolioDefinitionQuality:
    """Definition quality across the portfolio.

    ``missing_counts`` is indexed by element label (in :data:`DEFINITION_ELEMENTS` order): how many KPIs lack
    each element. Shares are 0–1, ``mean_score`` 0–100; shares are NaN for an empty portfolio.
    """

    kpis: int
    contracts: int
    well_defined: int
    share_well_defined: float
    mean_score: float
    with_commitment: int
    share_with_commitment: float
    most_missing: str | None
    most_missing_count: int
    missing_counts: pd.Series

    def to_dict(self) -> dict:
        """Plain Python values (for pack.json): numbers, text, and ``missing_counts`` as {label: count}."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["missing_counts"] = {str(k): int(v) for k, v in self.missing_counts.items()}
        return out

    def items(self):
        """(name, value) pairs of :meth:`to_dict`, so the summary can be read like a mapping."""
        return self.to_dict().items()


def portfolio_definition_quality(dq: pd.DataFrame) -> PortfolioDefinitionQuality:
    """Summarise :func:`definition_quality` over the whole portfolio.

    Returns
    -------
    PortfolioDefinitionQuality
        Share of KPIs well defined, mean score, share with a CI commitment, and the most commonly missing
        element (first in :data:`DEFINITION_ELEMENTS` order on a tie).
    """
    n = int(len(dq))
    missing = (~dq[list(DEFINITION_ELEMENTS)].astype(bool)).sum().astype(int)
    missing.index = [DEFINITION_ELEMENTS[k] for k in missing.index]
    missing.name = "kpis_missing"
    label, count = _most_missing(dq)
    nan = float("nan")
    return PortfolioDefinitionQuality(
        kpis=n,
        contracts=int(dq["contract_id"].nunique()),
        well_defined=int(dq["well_defined"].sum()),
        share_well_defined=float(dq["well_defined"].mean()) if n else nan,
        mean_score=float(dq["score"].mean()) if n else nan,
        with_commitment=int(dq["has_commitment"].sum()),
        share_with_commitment=float(dq["has_commitment"].mean()) if n else nan,
        most_missing=label,
        most_missing_count=count,
        missing_counts=missing,
    )

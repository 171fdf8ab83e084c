"""Contract Performance Notice rows (Procurement Act 2023 s.71, reg. 39): statutory KPI ratings per contract."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta

from cinb.errors import PROBLEM_COLUMNS, UsageError
from cinb.files import atomic_write_bytes
from cinb.formatting import money, value_text_apart
from cinb.ratings import DEFAULT_BANDS, RatingBands, _month, window_ratings
from cinb.schema import columns_by_name, pattern_issues

__all__ = ["CPN_COLUMNS", "CPN_DETAIL_COLUMNS", "CPN_STATEMENT", "KPI_THRESHOLD_GBP", "MIN_STATUTORY_KPIS",
           "NOTICE_FIELDS", "REQUIRED_FIELDS", "cpn_rows", "term_years", "write_cpn_csv"]

#: The statement every notice carries (Procurement Regulations 2024 reg. 39(4)(e)): that the notice sets out the
#: contracting authority's assessment of performance against the key performance indicators. The OCDS export
#: carries it as the notice document's description (`cinb.ocds`); ``cinb cpn`` prints it with a CSV export.
CPN_STATEMENT = ("This notice sets out the contracting authority's assessment of the supplier's performance "
                 "against the key performance indicators (Procurement Act 2023 s.71(2)(b); Procurement Regulations "
                 "2024 reg. 39).")

#: The version-2 contract columns a notice needs (reg. 39, reg. 13), after the version-1 columns so that the
#: first twelve columns of a notice are those of the version-1 export.
NOTICE_FIELDS = [
    ("supplier_address", "supplier's postal address"),
    ("supplier_email", "supplier's email address"),
    ("authority_id", "authority's unique identifier"),
    ("authority_address", "authority's postal address"),
    ("authority_email", "authority's email address"),
    ("authority_contact", "name of the authority's contact for enquiries about the notice"),
    ("procurement_title", "procurement title"),
]

CPN_COLUMNS = [
    "authority", "procurement_id", "contract_id", "contract_title", "supplier_name", "supplier_id",
    "period_start", "period_end", "kpi_id", "kpi_name", "rating", "basis",
    *(name for name, _ in NOTICE_FIELDS),
]
#: Extra columns of ``cpn_rows(..., detail=True)``: what an OCDS release needs beyond the notice's text
#: (`cinb.ocds`). ``value`` is the rated aggregate; ``contract_source``/``contract_row`` locate the contract.
CPN_DETAIL_COLUMNS = [
    "unit", "direction", "value", "target", "sla", "critical", "kpi_description", "contract_start",
    "contract_end", "contract_source", "contract_row", "statement",
]

#: The version-1 contract columns a notice needs, each an error when empty: (column, what it is, what to do). With
#: :data:`NOTICE_FIELDS` they are every reg. 39(4) item that comes from the data: (a) the contracting authority
#: information (name; identifier, addresses and contact: NOTICE_FIELDS), (b) the procurement's title, (c) the
#: procurement's and the contract's identifiers (the contract id is the key), (f) the supplier's name, address,
#: email and identifier. (d) the KPIs are the statutory ones, (g) their ratings and (h) the period are computed,
#: and (e) the statement is :data:`CPN_STATEMENT`.
REQUIRED_FIELDS = [
    ("procurement_id", "procurement identifier", "add procurement_id (the Find a Tender procurement "
     "identifier) to the contracts table"),
    ("supplier_id", "supplier identifier", "add supplier_id (e.g. the Companies House number) to the "
     "contracts table"),
    ("authority", "authority name", "add the authority to the contracts table"),
    ("title", "contract title", "add the title to the contracts table"),
    ("supplier", "supplier name", "add the supplier to the contracts table"),
]

#: s.52: a contract whose value exceeds this must have at least MIN_STATUTORY_KPIS published KPIs.
KPI_THRESHOLD_GBP = 5_000_000.0
MIN_STATUTORY_KPIS = 3

# Characters that make a spreadsheet treat a cell as a formula (or, for tab and CR, can smuggle one in).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def term_years(start_date, end_date) -> float:
    """Length of a contract term in years, counting the end date as its last day.

    Calendar-aware so that 2023-04-01..2026-03-31 is exactly 3.0 years (a day count over 365.25 would make
    it 3.0007, because of 29 Feb 2024, and tip a £1,666,667-a-year contract over the £5m line).
    """
    if pd.isna(start_date) or pd.isna(end_date):
        return float("nan")
    s = pd.Timestamp(start_date).date()
    e = pd.Timestamp(end_date).date() + relativedelta(days=1)
    d = relativedelta(e, s)
    rest = (e - (s + relativedelta(years=d.years, months=d.months))).days
    return d.years + d.months / 12.0 + rest / 365.25


#: How the basis column names the window's value, by aggregation (cinb.ratings.window_ratings).
AGGREGATION_WORD = {"mean": "Mean", "median": "Median", "latest": "Latest", "worst": "Worst", "sum": "Total",
                    "volume_weighted": "Volume-weighted mean"}


def _basis(r) -> str:
    """Plain-text reason for one rating: aggregate vs levels, months reported."""
    unit = r["unit"]
    word = {"quarterly": "quarter", "annual": "year"}.get(r.get("frequency"), "month")
    due = int(r["months_in_period"])
    months = f"{int(r['months_reported'])} of {due} {word}{'' if due == 1 else 's'} reported"
    if r["rated_against"] is None or pd.isna(r["rated_against"]):
        if pd.notna(r["sla"]):
            return f"No target set, and the rating bands in force do not rate against the SLA alone; {months}."
        return f"No target or SLA set; {months}."
    if r["months_reported"] == 0 or pd.isna(r["value"]):
        return f"No value reported in the period ({months})."
    if r["months_reported"] < r["min_months"]:
        return f"Too few months to rate: {months}, at least {int(r['min_months'])} needed."
    better = "higher" if r["direction"] == "higher" else "lower"
    levels = []
    if pd.notna(r["target"]):
        levels.append(f"target {value_text_apart(r['target'], unit)}")
    if pd.notna(r["sla"]):
        levels.append(f"SLA {value_text_apart(r['sla'], unit)}"
                      + (" (used as the target)" if r["rated_against"] == "SLA" else ""))
    if pd.notna(r["critical"]):
        levels.append(f"critical {value_text_apart(r['critical'], unit)}")
    return (
        f"{r['aggregation']} {value_text_apart(r['value'], unit, apart_from=(r['target'], r['sla'], r['critical']))} "
        f"vs {', '.join(levels)} ({better} is better); {months}."
    )


def _problem(severity, table, row, column, value, problem, fix, source=None) -> dict:
    return {
        "severity": severity, "source": None if _blank(source) else source, "sheet": None, "table": table,
        "row": row, "column": column, "value": value, "problem": problem, "fix": fix,
    }


def _blank(x) -> bool:
    return x is None or (isinstance(x, float) and np.isnan(x)) or (isinstance(x, str) and not x.strip()) or (
        not isinstance(x, str) and pd.isna(x)
    )


def _notice_field_problems(r: dict) -> list[dict]:
    """Errors for one contract's missing or malformed :data:`NOTICE_FIELDS` (reg. 39 and reg. 13 details)."""
    cid = r["contract_id"]
    missing = [(name, what) for name, what in NOTICE_FIELDS if _blank(r[name])]
    if len(missing) == len(NOTICE_FIELDS):  # none given: a version-1 portfolio; one error, as one warning before
        return [_problem(
            "error", "contracts", r["row"], "supplier_address", None,
            f"contract {cid}: a Contract Performance Notice needs the supplier's postal address and email, the "
            "authority's identifier, postal address, email and contact, and the procurement title (Procurement "
            "Regulations 2024 reg. 39); none is in the contracts table",
            "add the columns " + ", ".join(name for name, _ in NOTICE_FIELDS) + " to the contracts table "
            "(data contract version 2)", r["source"],
        )]
    out = [_problem("error", "contracts", r["row"], name, None,
                    f"contract {cid}: the {what} is required in a Contract Performance Notice and is missing",
                    f"add {name} to the contracts table", r["source"]) for name, what in missing]
    spec = columns_by_name("contracts")
    for name, what in NOTICE_FIELDS:
        for mask, problem, fix, *_ in pattern_issues(np.array([r[name]], dtype=object), spec[name]):
            if mask[0]:
                out.append(_problem("error", "contracts", r["row"], name, str(r[name]).strip(),
                                    f"contract {cid}: the {what} {problem}", f"correct {name}: {fix}", r["source"]))
    return out


def cpn_rows(
    contracts: pd.DataFrame,
    kpis: pd.DataFrame,
    measurements: pd.DataFrame,
    start,
    end,
    bands=DEFAULT_BANDS,
    *,
    detail: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of a Contract Performance Notice for the months ``start``..``end``, and the problems found.

    Only contracts whose term overlaps the period and only KPIs marked ``statutory`` are included. Each
    contract's period is clipped to its term (a contract starting mid-period is assessed from its start month).
    Missing required fields are reported, never guessed.

    Parameters
    ----------
    contracts, kpis, measurements : DataFrame
        As returned by :func:`cinb.load.load_portfolio`.
    start, end : str or Period
        First and last month the assessment covers (e.g. "2025-04", "2026-03").
    bands : RatingBands or dict
        Rating rules (print ``bands.describe()`` next to the notice).
    detail : bool
        Also return the columns :data:`CPN_DETAIL_COLUMNS` (for :func:`cinb.ocds.cpn_release_package`).

    Returns
    -------
    rows : DataFrame
        Columns :data:`CPN_COLUMNS` (then :data:`CPN_DETAIL_COLUMNS` with ``detail``), one row per contract ×
        statutory KPI, sorted by contract_id, kpi_id. ``period_start``/``period_end`` are ``YYYY-MM`` strings.
    problems : DataFrame
        Columns ``PROBLEM_COLUMNS``. Errors (the notice cannot be published without them): a missing
        procurement_id, supplier_id, authority, title or supplier, a missing field of :data:`NOTICE_FIELDS`
        (one error per field; a contract with none of them, as in a version-1 portfolio, gets one error naming
        them all), an email that is not an email address. Warnings: statutory KPIs with no data or no target
        (rated Other), and contracts over £5m in total value (annual value × term years) with fewer than 3
        statutory KPIs (s.52).
    """
    bands = RatingBands.from_dict(bands)
    p0, p1 = _month(start, "CPN period start"), _month(end, "CPN period end")
    if p1 < p0:
        raise UsageError(f"CPN period end {p1} is before its start {p0}; give --from before --to")

    c = contracts.reset_index(drop=True).copy()
    for col in ("authority", "procurement_id", "title", "supplier", "supplier_id", "start_date", "end_date",
                "annual_value_gbp", "row", "source", *(name for name, _ in NOTICE_FIELDS)):
        if col not in c:
            c[col] = np.nan
    start_m = pd.to_datetime(c["start_date"]).dt.to_period("M")
    end_m = pd.to_datetime(c["end_date"]).dt.to_period("M")
    overlaps = (start_m.isna() | (start_m <= p1)) & (end_m.isna() | (end_m >= p0))
    c = c.loc[overlaps.to_numpy()].copy()
    c["period_start"] = [max(p0, s) if pd.notna(s) else p0 for s in start_m[overlaps.to_numpy()]]
    c["period_end"] = [min(p1, e) if pd.notna(e) else p1 for e in end_m[overlaps.to_numpy()]]

    k = kpis.reset_index(drop=True).copy()
    statutory = k["statutory"].fillna(False).astype(bool) if "statutory" in k else pd.Series(False, index=k.index)
    k = k.loc[statutory.to_numpy() & k["contract_id"].isin(c["contract_id"]).to_numpy()]
    for col in ("row", "source"):
        if col not in k:
            k[col] = np.nan

    problems: list[dict] = []

    # s.52: contracts over £5m need at least 3 published KPIs.
    n_stat = k.groupby("contract_id").size()
    for r in c.to_dict("records"):
        years = term_years(r["start_date"], r["end_date"])
        total = float(r["annual_value_gbp"]) * years if pd.notna(r["annual_value_gbp"]) else float("nan")
        n = int(n_stat.get(r["contract_id"], 0))
        if pd.notna(total) and total > KPI_THRESHOLD_GBP and n < MIN_STATUTORY_KPIS:
            problems.append(_problem(
                "warning", "kpis", np.nan, "statutory", str(n),
                f"contract {r['contract_id']}: total value {money(total)} (annual {money(r['annual_value_gbp'])} "
                f"× {years:.2f} years) exceeds £5m but only {n} KPI{'s are' if n != 1 else ' is'} marked statutory; "
                f"Procurement Act 2023 s.52 requires at least {MIN_STATUTORY_KPIS}",
                "mark the contract's published KPIs statutory=yes in the kpis table, or publish more KPIs",
            ))

    has_stat = c["contract_id"].isin(k["contract_id"]).to_numpy()
    for r in c.loc[has_stat].to_dict("records"):
        for col, what, fix in REQUIRED_FIELDS:
            if _blank(r[col]):
                problems.append(_problem(
                    "error", "contracts", r["row"], col, None,
                    f"contract {r['contract_id']}: the {what} is required in a Contract Performance Notice and "
                    "is missing", fix, r["source"],
                ))
        problems += _notice_field_problems(r)

    if k.empty:
        empty = pd.DataFrame(columns=CPN_COLUMNS + (CPN_DETAIL_COLUMNS if detail else []))
        return empty, pd.DataFrame(problems, columns=PROBLEM_COLUMNS)

    keys = ["contract_id", "kpi_id"]
    m = measurements.merge(k[keys], on=keys, how="inner")
    w = window_ratings(k, m, p0, p1, bands, contracts=c)
    w = w.merge(k[["contract_id", "kpi_id", "row", "source"]], on=["contract_id", "kpi_id"], how="left")
    w = w.merge(k[["contract_id", "kpi_id"]].assign(kpi_description=k["description"] if "description" in k
                                                     else np.nan), on=["contract_id", "kpi_id"], how="left")
    notice = [name for name, _ in NOTICE_FIELDS]
    w = w.merge(
        c[["contract_id", "authority", "procurement_id", "title", "supplier", "supplier_id", "period_start",
           "period_end", *notice, "start_date", "end_date", "source", "row"]].rename(
            columns={"source": "contract_source", "row": "contract_row", "start_date": "contract_start",
                     "end_date": "contract_end"}),
        on="contract_id", how="left",
    )
    # Due periods in force within the notice's period (a quarterly KPI's quarters; from the KPI's start).
    w["months_in_period"] = w["periods_due"]
    w["min_months"] = bands.min_months_reported
    w["aggregation"] = w["aggregation_used"].map(AGGREGATION_WORD).fillna(
        AGGREGATION_WORD.get(bands.aggregation, "Mean"))

    for r in w.to_dict("records"):
        where = f"contract {r['contract_id']}, statutory KPI {r['kpi_id']}"
        if r["rated_against"] is None or pd.isna(r["rated_against"]):
            problems.append(_problem(
                "warning", "kpis", r["row"], "target", None,
                f"{where} has no target" + ("" if pd.notna(r["sla"]) else " or SLA") + ", so it is rated Other",
                "add the target (and SLA) to the kpis table", r["source"],
            ))
        elif r["months_reported"] < bands.min_months_reported:
            problems.append(_problem(
                "warning", "measurements", np.nan, "value", None,
                f"{where} has {int(r['months_reported'])} reported months in {r['period_start']}..{r['period_end']}"
                f" (needs {bands.min_months_reported}), so it is rated Other",
                "load the supplier's monthly reports for the period",
            ))

    rows = pd.DataFrame(
        {
            "authority": w["authority"],
            "procurement_id": w["procurement_id"],
            "contract_id": w["contract_id"],
            "contract_title": w["title"],
            "supplier_name": w["supplier"],
            "supplier_id": w["supplier_id"],
            "period_start": [str(p) for p in w["period_start"]],
            "period_end": [str(p) for p in w["period_end"]],
            "kpi_id": w["kpi_id"],
            "kpi_name": w["name"],
            "rating": w["rating"],
            "basis": [_basis(r) for r in w.to_dict("records")],
            **{name: w[name].astype(object).where(w[name].notna(), None) for name in notice},
        }
    )
    if detail:
        w["statement"] = CPN_STATEMENT
        for col in CPN_DETAIL_COLUMNS:
            rows[col] = w[col]
    rows = rows.sort_values(["contract_id", "kpi_id"], kind="stable").reset_index(drop=True)
    return rows, pd.DataFrame(problems, columns=PROBLEM_COLUMNS)


def _neutralise(x):
    if isinstance(x, str) and x.startswith(_FORMULA_START):
        return "'" + x
    return x


def write_cpn_csv(rows: pd.DataFrame, path) -> Path:
    """Write CPN rows to ``path`` as CSV, atomically, with formula-like cells neutralised.

    A text cell starting with ``=``, ``+``, ``-``, ``@`` (or tab / carriage return) gets a leading single quote
    so a spreadsheet shows it as text instead of running it. The file is written to a temporary file in the
    same folder and renamed over ``path``, so a failed write never leaves a half-written notice. UTF-8 with a
    byte-order mark, because the readers open it in Excel (which otherwise garbles £ and accented names).

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"cannot write {path}: folder {folder} does not exist; create it or choose another --out")
    safe = rows.astype(object).where(rows.notna(), None).map(_neutralise)
    text = safe.to_csv(index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    atomic_write_bytes(path, text.encode("utf-8-sig"))  # BOM: Excel then shows £ correctly
    return path

"""The reconciliation section of a contract pack: "Do the supplier's figures match the records?".

Every figure comes from :func:`cinb.reconcile.reconcile` (``ContractReview.reconciliation``): for each KPI and
month with both a supplier's reported figure and a figure derived from the records (``origin=derived``), the two
values, their difference and volumes, against the tolerance printed in the section. A contract without derived
figures has no such section (nothing to say, so the pack does not say it: the section returns nothing, heading
included).
"""

from __future__ import annotations

import pandas as pd

from .display import Callout, Heading, Paragraphs, Table
from .formatting import DASH, list_and, month_label, plural, value_text
from .reconcile import difference_text, flagged
from .review import ContractReview

__all__ = ["TITLE", "reconciliation", "method_notes", "definitions_appendix"]

#: The section's heading (an ``h2``: the section adds it itself, only when there is something to show).
TITLE = "Do the supplier's figures match the records?"

_RATE_ON_TEXT = {
    "reported": "The ratings, charts and credits in this pack use the supplier's reported figures, the contract's "
                "basis; the figures from the records are shown here for comparison only.",
    "derived": "The ratings, charts and credits in this pack use the figures derived from the records wherever a KPI "
               "and month has one (parameter rate_on = derived), and the supplier's reported figures elsewhere.",
}


def _volume(v) -> str:
    return DASH if v is None or pd.isna(v) else f"{float(v):,.0f}"


def reconciliation(r: ContractReview) -> list:
    """The supplier's reported figures against the figures derived from the records.

    Parameters
    ----------
    r : ContractReview
        Reads ``reconciliation`` (:func:`cinb.reconcile.reconcile`: ``kpi_id, name, unit, period, reported,
        derived, difference, tolerance, reported_volume, derived_volume, complete, status, flagged, note``),
        ``reconcile_tolerance`` (the tolerances in words), ``rate_on`` and ``period``.

    Returns
    -------
    list
        Nothing when no KPI and month has both figures. Otherwise display objects of :mod:`cinb.display`: the
        section's ``Heading`` (h2, :data:`TITLE`); ``Paragraphs`` saying what was compared, the tolerance and
        which figures the ratings use; a ``Table`` of the months beyond the tolerance (KPI, month, both values,
        difference, both volumes) or a sentence that all agree; a sentence per KPI on its months; and a
        ``Callout`` naming the months whose records were incomplete (compared, never flagged).
    """
    rec = getattr(r, "reconciliation", None)
    if rec is None or not len(rec):
        return []
    kpis = list(dict.fromkeys(rec["name"]))
    months = sorted(set(rec["period"]))
    span = month_label(months[0]) if len(months) == 1 else f"{month_label(months[0])} to {month_label(months[-1])}"
    intro = [f"cinb recomputed {plural(len(kpis), 'KPI')} of this contract ({list_and(kpis)}) from the records "
             f"behind {'it' if len(kpis) == 1 else 'them'}, for {plural(len(months), 'month')} ({span}), and "
             f"compared each month's result with the figure the supplier reported.",
             f"A month is flagged when the two differ by more than the tolerance: {r.reconcile_tolerance}. "
             "The difference is the reported figure minus the figure from the records, so a positive difference "
             "means the supplier reported a better-looking figure on a higher-is-better KPI.",
             _RATE_ON_TEXT.get(r.rate_on, "")]
    out = [Heading(TITLE, 2, id="reconciliation"), Paragraphs(intro)]
    f = flagged(rec)
    if len(f):
        table = pd.DataFrame({
            "KPI": [f"{n} ({k})" for n, k in zip(f["name"], f["kpi_id"])],
            "Month": [month_label(p) for p in f["period"]],
            "Reported by the supplier": [value_text(v, u, missing=DASH) for v, u in zip(f["reported"], f["unit"])],
            "From the records": [value_text(v, u, missing=DASH) for v, u in zip(f["derived"], f["unit"])],
            "Difference": [difference_text(d, u) for d, u in zip(f["difference"], f["unit"])],
            "Tolerance": list(f["tolerance"]),
            "Volume reported": [_volume(v) for v in f["reported_volume"]],
            "Volume in the records": [_volume(v) for v in f["derived_volume"]],
        })
        out.append(Table(table, caption=f"Months where the supplier's figure and the records differ by more than "
                                        f"the tolerance ({plural(len(f), 'month')})", row_header="KPI"))
    else:
        out.append(Paragraphs("In every complete month compared, the supplier's figures and the records agree "
                              "within the tolerance."))
    out.append(Paragraphs([_kpi_sentence(g) for _, g in rec.groupby("kpi_id", sort=False)]))
    incomplete = rec[rec["status"] == "incomplete"]
    if len(incomplete):
        items = [f"{n}, {month_label(p)}: {value_text(v, u, missing=DASH)} reported, "
                 f"{value_text(d, u, missing=DASH)} from the records so far"
                 + (f" ({note})" if isinstance(note, str) and note else "")
                 for n, p, v, d, u, note in zip(incomplete["name"], incomplete["period"], incomplete["reported"],
                                                incomplete["derived"], incomplete["unit"], incomplete["note"])]
        out.append(Callout("Not judged, because the records for these months were incomplete when they were "
                           "exported (the month had not ended, or some records' outcomes were not yet known): "
                           + "; ".join(items) + ".", "info"))
    return out


def _kpi_sentence(g: pd.DataFrame) -> str:
    """One KPI's months in a sentence: how many compared, agreeing, differing (named) and not comparable."""
    name = g.iloc[0]["name"]
    agree = int((g["status"] == "agrees").sum())
    differ = g[g["status"] == "differs"]
    incomplete = int((g["status"] == "incomplete").sum())
    unreported = g[g["status"] == "not_reported"]
    no_value = g[g["status"] == "no_derived_value"]
    parts = [f"{agree} agree{'s' if agree == 1 else ''} within the tolerance"]
    if len(differ):
        parts.append(f"{len(differ)} differ{'s' if len(differ) == 1 else ''} "
                     f"({list_and([month_label(p) for p in differ['period']])})")
    if incomplete:
        parts.append(f"{incomplete} {'is' if incomplete == 1 else 'are'} incomplete in the records")
    if len(unreported):
        parts.append(f"the supplier reported no value for {list_and([month_label(p) for p in unreported['period']])}")
    if len(no_value):
        parts.append(f"the records give no value for {list_and([month_label(p) for p in no_value['period']])}")
    largest = g.loc[g["difference"].abs().idxmax()] if g["difference"].notna().any() else None
    tail = ""
    if largest is not None and largest["status"] == "differs":
        tail = (f" The largest gap is {difference_text(largest['difference'], largest['unit'])} in "
                f"{month_label(largest['period'])}.")
    return f"{name}: of {plural(len(g), 'month')} compared, {list_and(parts)}.{tail}"



def method_notes(r: ContractReview) -> list[str]:
    """The appendix's method notes on figures derived from records: the reconciliation rule and tolerances printed,
    and which figures were rated. None when the contract has no derived figures and no runnable definition."""
    rec = getattr(r, "reconciliation", None)
    runnable = "runnable" in r.definitions and bool(r.definitions["runnable"].any())
    if (rec is None or not len(rec)) and not runnable and getattr(r, "rate_on", "reported") == "reported":
        return []
    out = ["Figures derived from records (measurements with origin = derived, computed by the authority with cinb "
           "derive from the records behind a KPI and its runnable definition) are compared with the supplier's "
           "reported figure of the same KPI and month: a complete month is flagged when |reported − derived| is "
           "more than the tolerance — by default 0.5 percentage points for % KPIs, 1 for counts, 0.1 for scores, "
           "5% of the reported value for hours, days and minutes and 1% for amounts in £ (parameter "
           "reconcile_tolerance, e.g. \"%=1, hours=10%\")"
           + (f"; in this pack: {r.reconcile_tolerance}" if r.reconcile_tolerance else "")
           + ". A month whose records were incomplete is shown but never flagged."]
    out.append(_RATE_ON_TEXT.get(getattr(r, "rate_on", "reported"), ""))
    return out


def definitions_appendix(r: ContractReview) -> list:
    """The runnable definitions the contract's KPIs were computed with, in words (appendix): a ``Heading`` (h3)
    and a ``Table`` (KPI, definition); nothing when no KPI of the contract has one."""
    d = r.definitions
    if "runnable" not in d or not d["runnable"].any():
        return []
    names = {k.kpi_id: k.name for k in r.kpis}
    rows = d[d["runnable"].astype(bool)]
    table = pd.DataFrame({"KPI": [f"{names.get(k, k)} ({k})" for k in rows["kpi_id"]],
                          "Definition computed from the records": list(rows["runnable_definition"])})
    return [Heading("KPI definitions computed from the records", 3),
            Paragraphs("These KPIs have a runnable definition: the figures derived from the records were computed "
                       "by cinb derive exactly as written here (from the KPI definitions file, derive.yml)."),
            Table(table, caption="Runnable KPI definitions", row_header="KPI")]

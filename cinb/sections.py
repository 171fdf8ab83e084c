"""Pack sections: turn a ContractReview into the display objects each notebook section shows.

A notebook cell is one call, e.g. ``show(*sections.scorecard(review))``. Adding a section to a pack means
adding a function here (it takes a review and returns display objects) and a markdown heading plus one
call in the notebook.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from datetime import datetime, timezone

import pandas as pd

from . import __version__, charts
from .audience import for_audience, pack_for_audience, record_for_audience, shows
from .display import Block, Callout, Heading, KeyFacts, NumberedList, Paragraphs, Table
from .formatting import (
    DASH, NONE, NOT_GIVEN, NOTHING, agree, decimal, iso_date, level_text, list_and, money, noun_for, percent,
    percent_value, plural, value_text, within_bounds, yes_no,
)
from .labels import ASSURANCE_SCORECARD as ASSURANCE_LABEL  # the scorecard's words (names kept for callers)
from .labels import COMMITMENT_STATUS_SCORECARD as STATUS_LABEL
from .labels import POINT_SCORECARD as VARIATION_LABEL
from .packdata import PACK_MIMETYPE
from .regimes import STATUS_WORD, period_label, status_word
from .sections_credits import credits  # noqa: F401  (the credits section: a pack notebook calls sections.credits)
from .charts_glance import at_a_glance  # noqa: F401  (all KPIs at a glance: the notebook calls sections.at_a_glance)
from .sections_reconcile import definitions_appendix, method_notes as reconcile_notes
from .sections_reconcile import reconciliation  # noqa: F401  (a pack notebook calls sections.reconciliation)
from .spc_xmr import SHORT_GROUP
from .review import ContractReview, month_name


def cover(r: ContractReview, marking: str = "OFFICIAL") -> list:
    """The cover: the contract at a glance.

    Shows the contract id and title, supplier, authority, review month and review window, protective marking,
    contract term, months elapsed / left, notice date (with "(passed)" once it has passed), annual value and
    data version (first 12 characters of the data hash); internal packs add the contract manager, supplier packs
    a note that only this contract's data is shown.

    Parameters
    ----------
    r : ContractReview
        Reads ``contract`` (``contract_id``, ``title``, ``supplier``, ``authority``, ``annual_value_gbp``,
        ``contract_manager``), ``period``, ``window_start``, ``trigger`` (start, end and notice dates, months
        elapsed and left), ``data_hash`` and ``audience``.
    marking : str
        The protective marking, printed as given.

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: a ``KeyFacts``, then for a supplier pack an info ``Callout``.
    """
    r = for_audience(r)
    c, t = r.contract, r.trigger
    facts = {
        "Contract": f"{c['contract_id']} — {c['title']}",
        "Supplier": c["supplier"],
        "Authority": c["authority"],
        "Review month": month_name(r.period),
        "Review window": f"{month_name(r.window_start)} to {month_name(r.period)}"
                         + (" (from the contract's start)" if r.window_start > r.period - (r.window_months - 1)
                            else ""),
        "Protective marking": marking,
        "Contract term": f"{t['start_date']} to {t['end_date']}",
        "Months elapsed / left": f"{t['months_elapsed']} / {t['months_left']}",
        "Notice date": (t["notice_date"] or NOT_GIVEN) + (" (passed)" if t.get("notice_passed") else ""),
        "Annual value": money(c.get("annual_value_gbp")),
        "Data version (this contract's rows)": r.data_hash[:12],
    }
    if shows(r.audience, "contract_columns") and isinstance(c.get("contract_manager"), str):
        facts["Contract manager"] = c["contract_manager"]
    out = [KeyFacts(facts)]
    if r.audience == "supplier":
        out.append(Callout("This pack is prepared for the supplier and shows this contract's data only.", "info"))
    return out


def executive_summary(r: ContractReview) -> list:
    """The executive summary in sentences and, in internal packs, the questions for the review meeting.

    Parameters
    ----------
    r : ContractReview
        Reads ``summary`` (:func:`cinb.commentary.summary_sentences`), ``questions``
        (:func:`cinb.commentary.meeting_questions`) and ``audience``.

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: ``Paragraphs`` of the summary; then, when the audience is
        internal and there are questions, a ``Heading`` and a ``NumberedList`` of them.
    """
    r = for_audience(r)
    out = [Paragraphs(r.summary)]
    if shows(r.audience, "questions") and r.questions:
        out.append(Heading("Questions for the review meeting", 3))
        out.append(NumberedList(r.questions, "cinb-questions"))
    return out


def scorecard(r: ContractReview) -> list:
    """The KPI scorecard: one row per KPI, then the contract's weighted score.

    Columns: the latest reported value in the review window and its monthly rating (``window_ratings``'
    ``latest_value`` / ``latest_rating``), SLA / target, the SPC variation and assurance icons, the trend verdict,
    compliance over the window (share of reported months meeting the SLA, or the target when there is no SLA, as
    a %), and the CI commitment's status.

    Parameters
    ----------
    r : ContractReview
        Reads ``kpis`` (each ``KpiReview``'s ``name``, ``kpi`` levels and unit, ``window``, ``spc.variation``,
        ``spc.assurance``, ``trend.verdict``, ``commitment``), ``scorecard`` (``score`` 0–100 and ``rating``) and
        ``period``.

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: a ``Table`` (the Rating column coloured by rating) and
        ``Paragraphs`` with the weighted score, or a sentence that no KPI could be rated.
    """
    r = for_audience(r)
    rows = []
    for k in r.kpis:
        w, unit = k.window, k.kpi.get("unit")
        rows.append({
            "KPI": k.name + ("" if k.frequency == "monthly" else f" ({k.frequency})"),
            "Value": _period_cell(k),
            "SLA / target": " / ".join(value_text(k.kpi.get(x), unit, missing=DASH)
                                       for x in ("sla", "target")),
            "Rating": status_word(w),
            "Variation": (f"– Too few points ({k.too_few[0]} of {k.too_few[1]})" if k.too_few
                          else VARIATION_LABEL.get(k.spc.variation, k.spc.variation)),
            "Assurance": ("– Too few points" if k.too_few else "– See suggested rebase" if k.suggested_rebase
                          else ASSURANCE_LABEL.get(k.spc.assurance, k.spc.assurance)),
            "Trend": k.trend.verdict,
            "Compliance": _compliance_cell(k),
            "CI commitment": STATUS_LABEL.get(k.commitment["status"] if k.commitment else None),
        })
    table = Table(pd.DataFrame(rows), caption=f"KPI scorecard, {month_name(r.period)}: the result of the review month "
                                              f"(a rating only for a value reported for this month; otherwise its "
                                              f"status, with the last value reported); compliance is the share of "
                                              f"the values reported for the KPI's due periods in the review window "
                                              f"meeting the SLA (or, with no SLA, the target), weighted by volume "
                                              f"where volumes are given; (n of m): n of the m values reported met it",
                  rating_columns=["Rating"], row_header="KPI")
    score = r.scorecard.get("score")
    text = (f"Weighted score over the review window: {decimal(score)} / 100 ({r.scorecard.get('rating')})."
            if score is not None and pd.notna(score) else "No KPI could be rated over the review window.")
    return [table, Paragraphs([text])]


def _period_cell(k) -> str:
    """The scorecard's "This period" cell: the review month's value, or what there is instead."""
    w, unit = k.window, k.kpi.get("unit")
    if k.status in ("reported", "incomplete"):
        text = value_text(w.get("period_value"), unit)
        row = next((x for x in k.months if str(x["period"]) == str(_review_month(w))), None) if k.months else None
        volume = row.get("volume") if row else None
        if volume is not None and not pd.isna(volume):
            what = k.kpi.get("volume_unit") if isinstance(k.kpi.get("volume_unit"), str) else "items"
            text += f" of {float(volume):,.0f} {what}"
        return text + (" (provisional)" if k.status == "incomplete" else "")
    last = w.get("latest_period")
    if last is None or pd.isna(last):
        return STATUS_WORD.get(k.status, k.status)
    return (f"{STATUS_WORD.get(k.status, k.status)}; last reported {value_text(w.get('latest_value'), unit)}, "
            f"{period_label(last, k.frequency)}")


def _review_month(w: dict):
    """The review month of a KPI's window row (its ``window_end``, else None)."""
    end = w.get("window_end")
    return None if end is None or pd.isna(end) else end


def _compliance_cell(k) -> str:
    """``92% (11 of 12 months)``: the share meeting the SLA (or target), and the count of due periods it rests on."""
    w = k.window
    level = "sla" if pd.notna(k.kpi.get("sla")) else "target"
    share = w.get("compliance_" + level)
    if share is None or pd.isna(share):
        return DASH
    met, rated = int(w.get("periods_met_" + level) or 0), int(w.get("months_reported") or 0)
    weighted = " by volume" if w.get("aggregation_used") == "volume_weighted" else ""
    return f"{percent(share)}{weighted} ({met} of {rated})"


def kpi_details(r: ContractReview) -> list:
    """One part per KPI: its XmR chart, its paragraph and the SPC cautions.

    Parameters
    ----------
    r : ContractReview
        Reads ``kpis``: each ``KpiReview``'s ``name``, ``kpi_id``, ``kpi`` (unit, direction, SLA, target),
        ``spc`` (points and warnings, :func:`cinb.spc.xmr`), ``trajectory``, ``annotations`` and ``paragraph``
        (:func:`cinb.commentary.kpi_paragraph`).

    Returns
    -------
    list
        One :class:`cinb.display.Block` per KPI (class ``cinb-kpi``: a printed page keeps it whole where it fits,
        so two KPIs share an A4 page), holding a level-3 ``Heading`` (anchor ``kpi-<kpi_id>``), a ``Chart``
        (:func:`cinb.charts.xmr_chart`), ``Paragraphs`` and one warning ``Callout`` per SPC warning.
    """
    r = for_audience(r)
    out = []
    for k in r.kpis:
        parts = [Heading(f"{k.name} ({k.kpi_id})", 3, id=f"kpi-{k.kpi_id}"),
                 charts.xmr_chart(
                     k.spc.points, title=f"{k.name}: XmR chart", unit=k.kpi.get("unit"),
                     direction=k.kpi.get("direction"), sla=_num(k.kpi.get("sla")), target=_num(k.kpi.get("target")),
                     trajectory=k.trajectory, annotations=k.annotations, kpi_name=k.name, **_regime_arguments(k)),
                 Paragraphs([k.paragraph])]
        parts += [Callout(w, "warning") for w in spc_cautions(k, r.audience)]
        out.append(Block(*parts, css_class="cinb-kpi"))
    return out


def spc_cautions(k, audience: str = "internal") -> list[str]:
    """The cautions under a KPI's chart, in a reader's words (months, not positions).

    ``k`` is a :class:`cinb.review.KpiReview`. Says (too few points for any verdict is said by the KPI's paragraph)
    when the latest group (since a recorded process change) is short, when a group's limits could not be computed, and,
    in internal packs, a suggested rebase with how to accept it. Returns a list of str.
    """
    out = []
    unit = k.kpi.get("unit")
    groups = k.spc.groups
    idx = k.spc.points.index
    monthly = isinstance(idx, pd.PeriodIndex)
    if k.too_few is None and len(groups) > 1:
        last = groups.iloc[-1]
        since = month_name(idx[int(last["start"])]) if monthly else f"point {int(last['start'])}"
        if int(last["n"]) < SHORT_GROUP:
            n = int(last["n"])
            out.append(f"Since the process change in {since} there {agree(n)} {plural(n, 'point')}: limits from fewer "
                       f"than {SHORT_GROUP} points are provisional, so treat their signals with caution.")
    if len(groups) and pd.isna(groups.iloc[-1]["lpl"]) and k.too_few is None:
        out.append("The latest part of the chart has no two consecutive values, so its limits cannot be computed.")
    s = k.suggested_rebase
    if s is not None and shows(audience, "suggested_rebase"):
        out.append(f"Suggested rebase (not applied): {s['evidence']}. Rebased at {month_name(s['period'])}, the "
                   f"limits would be {value_text(within_bounds(s['lpl'], unit), unit)} to "
                   f"{value_text(within_bounds(s['upl'], unit), unit)}. If the process did change then, record it "
                   f"in the process_changes table ({k.kpi.get('contract_id')}, {k.kpi_id}, {s['period']}, the "
                   f"reason) to rebase the chart.")
    return out


def _num(x):
    return None if x is None or pd.isna(x) else float(x)


def _regime_arguments(k) -> dict:
    """The chart's keyword arguments for a KPI's regime: only those that differ from a plain monthly KPI, so a
    version-1 KPI's chart is drawn exactly as before."""
    args = {}
    if k.frequency != "monthly":
        args["frequency"] = k.frequency
    special = any(x["status"] in ("no_activity", "incomplete") or x.get("note") or
                  (x.get("volume") is not None and not pd.isna(x.get("volume"))) for x in k.months)
    if special:
        args["periods"] = k.months
    unit = k.kpi.get("volume_unit")
    if isinstance(unit, str) and unit:
        args["volume_unit"] = unit
    return args


def commitments(r: ContractReview) -> list:
    """CI commitments (baseline, committed level, due month, expected and actual level, status, forecast) and the
    ratchet proposals.

    Parameters
    ----------
    r : ContractReview
        Reads ``commitments`` (:func:`cinb.commitments.commitment_status`; levels in the KPI's unit, the actual
        level is the mean of the last 3 reported months, the forecast has an 80% prediction interval), ``kpis``
        (``commitment``, ``series``, ``trajectory`` for the charts), ``ratchet_rule`` and ``ratchets``
        (:func:`cinb.commitments.ratchet_proposals`), and ``audience``: a supplier pack has no ratchet proposals
        (the authority's negotiating position, :data:`cinb.audience.INTERNAL_ONLY`).

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: a ``Table`` of commitments and a trajectory ``Chart``
        (:func:`cinb.charts.commitment_chart`) per KPI whose commitment is tracked (or a warning ``Callout`` when
        the commitments frame is empty); then, in internal packs, a ``Heading`` "Ratchet proposals", ``Paragraphs``
        with the rule and a ``Table`` of proposals or a sentence that none qualifies.
    """
    r = for_audience(r)
    c = r.commitments
    out = []
    # A KPI with no commitment at all (no kind) is named in one sentence rather than given a row of dashes.
    none = c[c["kind"].isna()] if len(c) else c
    c = c[c["kind"].notna()] if len(c) else c
    if len(none) and len(c):
        out.append(Paragraphs([f"No CI commitment: {list_and(list(none['name']))}."]))
    if len(c):
        rows = pd.DataFrame({
            "KPI": c["name"],
            "Kind": c["kind"].fillna(NONE),
            "Baseline": [f"{value_text(b, u)} ({p})" if pd.notna(b) else DASH
                         for b, u, p in zip(c["baseline"], c["unit"], c["baseline_period"])],
            "Committed": [level_text(t, u, missing=DASH) for t, u in zip(c["ci_target"], c["unit"])],
            "Due": c["due"].astype(str).replace({"NaT": DASH, "None": DASH}),
            "Expected now": [value_text(v, u, missing=DASH) for v, u in zip(c["expected_now"], c["unit"])],
            "Actual (3-month mean)": [value_text(v, u, missing=DASH)
                                      for v, u in zip(c["actual_now"], c["unit"])],
            "Status": [STATUS_LABEL.get(s, s) for s in c["status"]],
            "Forecast at due date": [
                f"{value_text(f, u)} ({value_text(lo, u)} to {value_text(hi, u)})" if pd.notna(f) else DASH
                for f, lo, hi, u in zip(c["forecast"], c["forecast_low"], c["forecast_high"], c["unit"])],
        })
        out.append(Table(rows, caption="CI commitments: baseline, trajectory, actual and forecast", row_header="KPI"))
        for k in r.kpis:
            if k.commitment is not None and k.commitment.get("status") not in (None, "undefined") \
                    and k.trajectory is not None:
                out.append(charts.commitment_chart(
                    k.series, k.trajectory, None, title=f"{k.name}: commitment trajectory",
                    unit=k.kpi.get("unit"), ci_target=_num(k.commitment.get("ci_target")),
                    due=k.commitment.get("due")))
    else:
        out.append(Callout("No KPI of this contract carries a CI commitment"
                           + (f" ({list_and(list(none['name']))})." if len(none) else "."), "warning"))
    if not shows(r.audience, "ratchets"):
        return out  # the authority's negotiating position (cinb.audience)
    out.append(Heading("Ratchet proposals", 3))
    out.append(Paragraphs([r.ratchet_rule]))
    if len(r.ratchets):
        rt = r.ratchets
        out.append(Table(pd.DataFrame({
            "KPI": rt["name"],
            "Current target": [level_text(v, u) for v, u in zip(rt["target"], rt["unit"])],
            "12-month mean": [value_text(v, u) for v, u in zip(rt["mean"], rt["unit"])],
            "Proposed target": [level_text(v, u) for v, u in zip(rt["proposed_target"], rt["unit"])],
        }), caption="KPIs eligible for a ratchet", row_header="KPI"))
    else:
        out.append(Paragraphs(["No KPI beat its target in every one of the qualifying months."]))
    return out


def initiatives(r: ContractReview) -> list:
    """The supplier's CI plan: initiatives by status, the plan itself, overdue items, benefits, and whether each
    delivered initiative's KPI moved.

    Parameters
    ----------
    r : ContractReview
        Reads ``initiative_summary`` (:func:`cinb.initiatives.initiative_summary`: counts, overdue, benefits in
        GBP), ``initiatives`` (the contract's rows), ``initiative_effects``
        (:func:`cinb.initiatives.initiative_effects`) and ``kpis`` (units).

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: a ``Table`` of counts by status; a ``Table`` of the initiatives
        when there are any; a concern ``Callout`` naming the overdue ones; ``Paragraphs`` with the benefits
        expected and realised; a ``Table`` of before/after means and Mann–Whitney p when any initiative was
        delivered against a KPI.
    """
    s = r.initiative_summary
    out = [Table(pd.DataFrame({"Status": [x.replace("_", " ") for x in s.counts.index],
                               "Initiatives": [int(v) for v in s.counts.values]}),
                 caption="Improvement initiatives by status", row_header="Status")]
    if r.initiatives is not None and len(r.initiatives):
        i = r.initiatives
        out.append(Table(pd.DataFrame({
            "ID": i["initiative_id"], "Title": i["title"], "Status": i["status"].str.replace("_", " "),
            "Raised by": i["raised_by"], "Due": _dates(i["due"]), "Delivered": _dates(i["delivered_on"]),
            "KPI": i["kpi_id"], "Expected benefit": [money(x, missing=DASH) for x in i["expected_benefit_gbp"]],
            "Realised benefit": [money(x, missing=DASH) for x in i["realised_benefit_gbp"]],
        }), caption="The supplier's CI plan", row_header="ID"))
    if len(s.overdue):
        out.append(Callout(f"{plural(len(s.overdue), 'initiative')} {agree(len(s.overdue))} overdue: "
                           + "; ".join(f"{a} '{b}'" for a, b in zip(s.overdue["initiative_id"], s.overdue["title"])),
                           "concern"))
    out.append(Paragraphs([f"Benefits expected {money(s.expected_benefit_gbp)}, realised "
                           f"{money(s.realised_benefit_gbp)}."]))
    e = r.initiative_effects
    if len(e):
        units = {k.kpi["kpi_id"]: k.kpi.get("unit") for k in r.kpis}
        unit = [units.get(k) for k in e["kpi_id"]]
        out.append(Table(pd.DataFrame({
            "Initiative": e["initiative_id"],
            "KPI": e["kpi_name"] if "kpi_name" in e.columns else e["kpi_id"],
            "Delivered": _dates(e["delivered_on"]),
            "Mean before": [value_text(v, u) for v, u in zip(e["mean_before"], unit)],
            "Mean after": [value_text(v, u) for v, u in zip(e["mean_after"], unit)],
            "Months before / after": [f"{int(a)} / {int(b)}" for a, b in zip(e["months_before"], e["months_after"])],
            "Effect": [str(x).replace("_", " ") if isinstance(x, str) and x else DASH for x in e["effect"]],
            "Mann–Whitney p": [decimal(x, 3) for x in e["p_value"]],
        }), caption="Did the KPI move after delivery?", row_header="Initiative"))
    return out


def _source_name(source) -> str:
    """The file (and sheet) a row came from, without the folders of the authority's machine."""
    if not isinstance(source, str) or not source:
        return DASH
    from .load import is_url, safe_url

    return safe_url(source) if is_url(source) else Path(source).name


def _dates(s: pd.Series) -> list[str]:
    return [iso_date(x) for x in s]


def definitions(r: ContractReview) -> list:
    """Definition quality of each KPI and CI commitment: how many of the 10 elements of a clear definition are
    written down, and which are missing.

    Parameters
    ----------
    r : ContractReview
        Reads ``definitions`` (:func:`cinb.definitions.definition_quality`: ``score`` 0–100, ``well_defined``,
        ``missing``) and ``kpis`` (names).

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: ``Paragraphs`` with the number of complete definitions and a
        ``Table`` with one row per KPI.
    """
    d = r.definitions
    names = {k.kpi_id: k.name for k in r.kpis}
    rows = pd.DataFrame({
        "KPI": [names.get(x, x) for x in d["kpi_id"]],
        "Score": [percent_value(s, 0) for s in d["score"]],
        "Well defined": [yes_no(w) for w in d["well_defined"]],
        "Missing": d["missing"].fillna("").replace({"": NOTHING}),
    })
    if "runnable" in d and d["runnable"].any():  # a definition cinb derive runs (see the appendix for its text)
        rows.insert(3, "Runnable definition", [yes_no(x) for x in d["runnable"]])
    share = float(d["well_defined"].mean()) if len(d) else float("nan")
    done = int(d["well_defined"].sum())
    return [Paragraphs([f"{done} of {plural(len(d), 'KPI definition')} {agree(done)} complete "
                        f"({percent(share)}). An incomplete definition is the commonest reason CI outcomes are "
                        f"disputed: agree each missing element with the supplier."]),
            Table(rows, caption="Definition quality of each KPI and CI commitment", row_header="KPI")]


def data_quality(r: ContractReview) -> list:
    """Data quality and evidence: missing and empty returns in the review window, late returns, restatements and,
    in internal packs, the row accounting of the load.

    Parameters
    ----------
    r : ContractReview
        Reads ``kpis`` (``missing_months``, ``not_reported_months``, names, units), ``late_returns`` (received
        more than 15 days after the month end), ``restatements`` (old → new value), ``accounting`` (read = used +
        superseded + rejected) and ``audience``.

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: a ``Table`` of missing data (or ``Paragraphs`` saying there is
        none); a ``Table`` of late returns when any; a ``Table`` of restatements (or ``Paragraphs``); and, for
        internal packs, a ``Table`` of the row accounting.
    """
    r = for_audience(r)
    out = []
    gaps = [(k.name, ", ".join(period_label(x, k.frequency) for x in k.missing_months) or DASH,
             ", ".join(period_label(x, k.frequency) for x in k.not_reported_months) or DASH)
            for k in r.kpis if k.missing_months or k.not_reported_months]
    if gaps:
        out.append(Table(pd.DataFrame(gaps, columns=["KPI", "Periods with no return", "Periods returned empty"]),
                         caption="Missing data in the review window: due periods only (a quarterly KPI's quarters), "
                                 "while the KPI is in force; a period with no activity is not missing",
                         row_header="KPI"))
    else:
        out.append(Paragraphs(["Every KPI has a value, or a return of no activity, for every period due in the "
                               "review window."]))
    quiet = [(k.name, ", ".join(f"{period_label(x['period'], k.frequency)}" + (f" ({x['note']})" if x.get("note")
                                                                               else "")
                                for x in k.months if x["status"] == "no_activity" and x["period"] >= r.window_start))
             for k in r.kpis]
    quiet = [q for q in quiet if q[1]]
    if quiet:
        out.append(Table(pd.DataFrame(quiet, columns=["KPI", "Periods with no activity"]),
                         caption="No activity: nothing to measure (volume 0), so no value, no rating and no chart "
                                 "point; not a missing return", row_header="KPI"))
    names = {k.kpi_id: k.name for k in r.kpis}
    if len(r.late_returns):
        lr = r.late_returns
        out.append(Table(pd.DataFrame({"KPI": [names.get(x, x) for x in lr["kpi_id"]],
                                       "Month": lr["period"].astype(str), "Received": _dates(lr["submitted_on"]),
                                       "Days late": lr["days_late"]}),
                         caption="Late returns (received more than 15 days after the month end)", row_header="KPI"))
    if len(r.restatements):
        rs = r.restatements
        units = {k.kpi_id: k.kpi.get("unit") for k in r.kpis}
        out.append(Table(pd.DataFrame({
            "KPI": [names.get(x, x) for x in rs["kpi_id"]], "Month": rs["period"].astype(str),
            "Old value": [value_text(v, units.get(k)) for v, k in zip(rs["old_value"], rs["kpi_id"])],
            "New value": [value_text(v, units.get(k)) for v, k in zip(rs["new_value"], rs["kpi_id"])],
            "Revision": [f"{int(a)} → {int(b)}" for a, b in zip(rs["old_revision"], rs["new_revision"])],
            "Restated on": _dates(rs["submitted_on"]), "Source": [_source_name(x) for x in rs["source"]],
        }), caption="Restatements (old → new value); the evidence trail keeps every revision", row_header="KPI"))
    else:
        out.append(Paragraphs(["No figure of this contract was restated."]))
    if r.accounting is not None and len(r.accounting) and shows(r.audience, "row_accounting"):
        out.append(Table(r.accounting, caption="Row accounting of the data load (read = used + superseded + "
                                               "rejected)"))
    return out


def public_parameters(parameters: dict | None) -> dict:
    """Parameters as a pack may print them: no password from a database URL, no private keys."""
    from .load import is_url, safe_url

    out = {k: v for k, v in (parameters or {}).items() if not str(k).startswith("_")}
    if is_url(out.get("data")):
        out["data"] = safe_url(out["data"])
    return out


def appendix(r: ContractReview, parameters: dict | None = None) -> list:
    """The appendix: the method notes and a reproducibility stamp.

    The method notes state the rating bands, the scorecard rule, the XmR rules, the trend test, the CI
    commitment rules, the ratchet rule, the service-credit rules, the initiative-effect rule and the late-return
    rule. The stamp gives the data hash, the data source (file name only in supplier packs), for a pack built
    ``as_of`` a store batch the batch it read and when that batch was ingested, the parameters
    (:func:`public_parameters`: no password, no private keys), the parameter files, software versions, the
    Python interpreter that computed the pack (:func:`interpreter`) and the time it was generated (UTC).

    Parameters
    ----------
    r : ContractReview
        Reads ``bands`` (:meth:`cinb.ratings.RatingBands.describe`), ``ratchet_rule``, ``data_hash``, ``source``
        and ``audience``.
    parameters : dict, optional
        The parameters the notebook received; ``_parameter_files`` lists the parameter files used.

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: ``Heading``, ``Paragraphs`` (method notes), ``Heading``,
        ``KeyFacts`` (stamp).
    """
    from .commitments import COMMITMENT_RULES
    from .credits import CREDIT_RULES
    from .initiatives import EFFECT_RULE
    from .ratings import scorecard_rule

    method = [
        "Statutory rating bands (Procurement Act 2023 s.71 scale): " + " ".join(r.bands.describe()),
        "Scorecard: " + " ".join(scorecard_rule()),
        "XmR charts (NHS England 'Making Data Count'): mean ± 2.66 × mean moving range; special causes are a "
        "point outside the limits, a trend of 7 rising or falling points, 2 of 3 points beyond two-thirds of the "
        "way to a limit on the same side, and a run of 7 on one side of the mean, in that order of precedence; "
        "moving ranges are not bridged across missing months. Assurance compares the target with the limits.",
        "Process limits and forecasts are shown within what the quantity can be (0–100% for percentages, zero or "
        "more for counts, durations and money): a computed limit beyond that bound is drawn at the bound; the "
        "figures in pack.json are the limits as computed.",
        "Trends: Mann–Kendall test (two-sided, 5% level) and Theil–Sen slope over the review window.",
        "Periods: a quarterly or annual KPI is due once a quarter or a year, recorded against the period's last "
        "month; the months between are not due, never missing. A KPI counts only while in force (its start and "
        "end periods, within the contract term), and the review window never starts before the contract. A "
        "period with volume 0 and no value had no activity: it is not rated, charted or chased. A provisional "
        "figure (complete = false) is shown but never rated. Only a value reported for the review month is rated "
        "as that month's result; otherwise the scorecard shows the status and the last value reported.",
        "Volumes: where values carry volumes, a window's value is the volume-weighted mean (Σ value × volume ÷ "
        "Σ volume, e.g. incidents within SLA over all incidents) and compliance is weighted the same way, unless "
        "the KPI names another aggregation; a percentage KPI without volumes is rated on the unweighted mean.",
        "CI commitments: " + " ".join(COMMITMENT_RULES),
        "Ratchet: " + r.ratchet_rule,
        "Service credits: " + " ".join(CREDIT_RULES) + " Each line of the credits table names the rule applied.",
        "Initiative effects: " + EFFECT_RULE,
        f"Late return: received more than 15 days after the end of its month.",
        *reconcile_notes(r),
    ]
    versions = _versions()
    shown = record_for_audience({"parameters": public_parameters(parameters),
                                 "files": list((parameters or {}).get("_parameter_files", []) or [])}, r.audience)
    stamp = {
        "Data version of this contract's rows (SHA-256)": r.data_hash,
        "Data source": r.source if shows(r.audience, "paths") else _source_name(r.source),
        "Parameters": json.dumps(shown["parameters"], default=str, sort_keys=True),
        "Parameter files": ", ".join(shown["files"]) or NONE,
        "Software": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "Python interpreter": interpreter(r.audience)["executable"],
        "Generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    as_of = (parameters or {}).get("as_of")
    if as_of is not None:  # a pack rebuilt from a store as the data stood then (cinb run --as-of)
        stamp = {**dict(list(stamp.items())[:2]), "Data as of": _as_of_text(parameters.get("data"), as_of),
                 **dict(list(stamp.items())[2:])}
    return [Heading("Method notes", 3), Paragraphs(method), *definitions_appendix(r),
            Heading("Reproducibility stamp", 3), KeyFacts(stamp)]


def _as_of_text(data, as_of) -> str:
    """``"store batch 3, ingested 2026-11-30T10:00:00+00:00 (as of 3)"``: what a pack's ``as_of`` read."""
    from .errors import UsageError
    from .store import as_of_batch

    try:
        batch = as_of_batch(data, as_of)
    except UsageError:
        return f"as of {as_of}"
    return f"store batch {batch['batch_id']}, ingested {batch['ingested_at']} (as of {as_of})"


def _versions() -> dict[str, str]:
    import matplotlib
    import numpy
    import scipy

    return {"cinb": __version__, "python": platform.python_version(), "pandas": pd.__version__,
            "numpy": numpy.__version__, "scipy": scipy.__version__, "matplotlib": matplotlib.__version__}


def interpreter(audience: str = "internal") -> dict[str, str]:
    """The Python computing this pack (called in the pack's kernel): ``executable``, ``prefix`` and the versions.

    Recorded as ``pack.json`` → ``reproducibility.kernel`` (:func:`emit_pack`) and printed in the appendix's stamp,
    so that a pack says which interpreter and libraries computed it. A supplier pack gets the executable's file
    name only and no prefix, as it gets only the data source's file name: local paths are internal.
    """
    import sys

    internal = audience == "internal"
    facts = {"executable": sys.executable if internal else Path(sys.executable).name}
    if internal:
        facts["prefix"] = sys.prefix
    return facts | _versions()


def emit_pack(data: dict) -> None:
    """Emit the pack's figures as a machine-readable display (the pack writer turns it into ``pack.json``)."""
    from IPython.display import display

    if "parameters" in data:
        data = {**data, "parameters": public_parameters(data["parameters"])}
    payload = json.loads(json.dumps(data, default=str))
    audience = data.get("audience") or (data.get("parameters") or {}).get("audience") or "internal"
    payload.setdefault("reproducibility", {})["kernel"] = interpreter(audience)  # which Python computed it
    payload = pack_for_audience(payload, audience)  # what a supplier may see (cinb.audience.INTERNAL_ONLY)
    display({PACK_MIMETYPE: payload, "text/plain": "(pack figures recorded)"}, raw=True)

"""Plain-English commentary: deterministic sentences, each stating a figure the pack shows, and meeting questions."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from cinb.formatting import (
    capitalised,
    decimal,
    iso_date,
    level_text,
    list_and,
    money,
    month_label,
    plural,
    value_text,
    within_bounds,
)
from cinb.labels import ASSURANCE_SENTENCE, POINT_SENTENCE, RATINGS, RULE_SENTENCE
from cinb.reconcile import meeting_questions as _reconcile_questions
from cinb.reconcile import summary_sentences as _reconcile_sentences
from cinb.regimes import STATUS_LABEL, STATUS_WORD, period_label, status_word

__all__ = [
    "POINT_WORDS", "RULE_WORDS", "ASSURANCE_WORDS", "fmt_value", "money", "plural",
    "kpi_paragraph", "spc_sentences", "annotate", "summary_sentences", "meeting_questions",
]

# The words and number rules live in cinb.labels and cinb.formatting; these names stay importable from here.
#: Point type of the latest point, in a sentence (:data:`cinb.labels.POINT_SENTENCE`).
POINT_WORDS = POINT_SENTENCE
#: Special-cause rule, in a sentence (:data:`cinb.labels.RULE_SENTENCE`).
RULE_WORDS = RULE_SENTENCE
#: Assurance, in a sentence (:data:`cinb.labels.ASSURANCE_SENTENCE`).
ASSURANCE_WORDS = ASSURANCE_SENTENCE
#: A KPI value with its unit in a sentence or table (:func:`cinb.formatting.value_text`).
fmt_value = value_text


#: How a window's combined value is described, by the aggregation used (ratings.window_ratings).
AGGREGATION_PHRASE = {
    "mean": "averaged",
    "median": "had a median of",
    "latest": "ended at",
    "worst": "was at worst",
    "sum": "totalled",
    "volume_weighted": "was, weighted by volume,",
}


def _window_phrase(k) -> str:
    """``over the review window (May–Oct 2026, 5 of 6 months reported) it averaged 97.1% (Good)``."""
    w = k.window
    word = {"monthly": "month", "quarterly": "quarter", "annual": "year"}.get(k.frequency, "month")
    due, got = int(w.get("periods_due") or 0), int(w.get("months_reported") or 0)
    span = ""
    if w.get("window_start") is not None and not pd.isna(w.get("window_start")):
        span = f"{month_label(w['window_start'])} to {month_label(w['window_end'])}, "
    used = w.get("aggregation_used")
    verb = AGGREGATION_PHRASE.get(used, "averaged")
    how = ", an unweighted mean as no volumes are given" if used == "mean" and k.kpi.get("unit") == "%" else ""
    extra = "".join(f", {int(w.get(col) or 0)} {what}" for col, what in
                    (("periods_no_activity", "with no activity"), ("periods_incomplete", "provisional"))
                    if int(w.get(col) or 0))
    return (f"over the review window ({span}{got} of {plural(due, word)} reported{extra}) it {verb} "
            f"{value_text(w.get('value'), k.kpi.get('unit'))} ({w.get('rating')}){how}")


def kpi_paragraph(k) -> str:
    """Two or three sentences on one KPI: the review month's result, variation, assurance, trend, commitment.

    Parameters
    ----------
    k : KpiReview
        One KPI of a :class:`cinb.review.ContractReview`: reads ``name``, ``kpi["unit"]``, ``status`` (the review
        month's status, :data:`cinb.regimes.PERIOD_STATUSES`), ``frequency``, ``window`` (``period_value``,
        ``period_rating``, ``period_note``, ``latest_period``, ``latest_value``, ``latest_rating``, ``value``,
        ``rating``, ``aggregation_used``, ``periods_due``, ``months_reported``), ``spc`` (the
        :class:`cinb.spc.XmrResult`: latest point's variation and rule, limits, assurance — NHS England "Making
        Data Count"), ``trend.sentence`` (Mann–Kendall and Theil–Sen, :mod:`cinb.trends`) and ``commitment``.

    Returns
    -------
    str
        The sentences joined by spaces; values in the KPI's unit as :func:`cinb.formatting.value_text` writes
        them (process limits within the unit's natural bounds, :func:`cinb.formatting.within_bounds`), the words
        of :data:`cinb.labels.POINT_SENTENCE`, ``RULE_SENTENCE`` and ``ASSURANCE_SENTENCE``. A value from an
        earlier period is written as "last reported … in <period>", never as the review month's.
    """
    unit = k.kpi.get("unit")
    w = k.window
    parts = []
    month = month_label(w["window_end"]) if w.get("window_end") is not None and not pd.isna(w.get("window_end")) \
        else None
    last = ""
    if w.get("latest_period") is not None and not pd.isna(w.get("latest_period")):
        last = (f"last reported {value_text(w.get('latest_value'), unit)} "
                f"{'in' if k.frequency == 'monthly' else 'for'} {period_label(w['latest_period'], k.frequency)} "
                f"({w.get('latest_rating')})")
    note = w.get("period_note")
    noted = f" (supplier's note: \u201c{note}\u201d)" if isinstance(note, str) and note.strip() else ""
    status = k.status
    if status == "reported":
        head = (f"{k.name} was {value_text(w.get('period_value'), unit)} "
                f"{'in' if k.frequency == 'monthly' else 'for'} {period_label(w['window_end'], k.frequency)} "
                f"({w.get('period_rating')}){noted}")
    elif status == "incomplete":
        head = (f"{k.name}'s figure for {period_label(w['window_end'], k.frequency)}, "
                f"{value_text(w.get('period_value'), unit)}, is provisional (the period was incomplete when "
                f"measured) and is not rated{noted}" + (f"; {last}" if last else ""))
    elif status == "no_activity":
        head = (f"{k.name} had nothing to measure in {period_label(w['window_end'], k.frequency)} "
                f"(no activity){noted}" + (f"; {last}" if last else ""))
    elif status == "not_due":
        word = {"quarterly": "quarterly", "annual": "annual"}.get(k.frequency, k.frequency)
        every = "yearly" if word == "annual" else word
        head = f"{k.name} is reported {every} and no value is due for the review month" \
            + (f"; {last}" if last else "; it has no value yet")
    elif status in ("not_started", "ended"):
        head = f"{k.name} is {STATUS_LABEL[status]} in the review month" + (f"; {last}" if last else "")
    else:
        head = f"{k.name} has no value for {month or 'the review month'} (not reported){noted}" \
            + (f"; {last}" if last else "")
    if w.get("months_reported"):
        parts.append(f"{head}; {_window_phrase(k)}.")
    else:
        parts.append(f"{head}; it has no reported value in the review window.")
    if w.get("aggregation_note"):
        parts.append(capitalised(w["aggregation_note"]) + ".")
    parts += spc_sentences(k)
    parts.append(k.trend.sentence)
    c = k.commitment
    if c is not None:
        reason = str(c.get("reason") or "").rstrip()
        parts.append(f"CI commitment: {c.get('status')} — {reason}" + ("" if reason.endswith((".", "?", "!")) else "."))
    return " ".join(p for p in parts if p)


def spc_sentences(k) -> list[str]:
    """What the KPI's XmR chart says, in sentences a reader can act on (NHS England "Making Data Count").

    ``k`` is a :class:`cinb.review.KpiReview`. With too few points (``k.too_few``) no variation or assurance
    verdict is given; a recorded process change says since when the limits run; a suggested rebase
    (``k.suggested_rebase``) replaces the assurance verdict of limits that mix an old and a new process. Process
    limits are written within the unit's natural bounds. Returns a list of str (possibly empty).
    """
    unit = k.kpi.get("unit")
    points = k.spc.points.dropna(subset=["value"])
    if not len(points):
        return []
    if k.too_few is not None:
        n, needed = k.too_few
        return [f"There are too few points on the chart for reliable process limits ({n}; at least {needed} are "
                f"needed): the limits are drawn for reference only, and no judgement of variation or of the chance "
                f"of meeting the target is drawn from them yet."]
    out = []
    rule = points["rule"].iloc[-1]
    variation = POINT_WORDS.get(k.spc.variation, k.spc.variation)
    because = f" ({RULE_WORDS[rule]})" if rule in RULE_WORDS else ""
    lpl, upl = within_bounds(k.spc.lpl, unit), within_bounds(k.spc.upl, unit)
    since = ""
    if k.rebase is not None and k.rebase.periods:
        since = (f" since the process change in {month_label(k.rebase.periods[-1])} "
                 f"({k.rebase.reasons[-1]})")
    suggestion = k.suggested_rebase
    if lpl is None or upl is None or pd.isna(lpl) or pd.isna(upl):
        out.append(f"The latest point shows {variation}{because}; there are too few points for process limits "
                   f"yet{since}.")
    elif suggestion is not None:
        out.append(f"The latest point shows {variation}{because}. The process appears to have changed: "
                   f"{suggestion['evidence']}. Limits computed across the change "
                   f"({value_text(lpl, unit)} to {value_text(upl, unit)}) mix the old and the new process, so no "
                   f"judgement of the chance of meeting the target is drawn from them; rebased at "
                   f"{month_label(suggestion['period'])} they would be "
                   f"{value_text(within_bounds(suggestion['lpl'], unit), unit)} to "
                   f"{value_text(within_bounds(suggestion['upl'], unit), unit)} and the process "
                   f"{ASSURANCE_WORDS.get(suggestion['assurance'], ASSURANCE_WORDS[None])}.")
    else:
        out.append(f"The latest point shows {variation}{because}; on current limits{since} "
                   f"({value_text(lpl, unit)} to {value_text(upl, unit)}) the process "
                   f"{ASSURANCE_WORDS.get(k.spc.assurance, ASSURANCE_WORDS[None])}.")
    return out


def annotate(review):
    """Return ``review`` with KPI paragraphs, the executive summary and the meeting questions filled in.

    ``review`` is a :class:`cinb.review.ContractReview`; a new one is returned (``dataclasses.replace``) with
    each KPI's ``paragraph`` (:func:`kpi_paragraph`), ``summary`` (:func:`summary_sentences`) and ``questions``
    (:func:`meeting_questions`) set. The input is not changed. Raises nothing of its own.
    """
    kpis = [replace(k, paragraph=kpi_paragraph(k)) for k in review.kpis]
    review = replace(review, kpis=kpis)
    summary, questions = summary_sentences(review), meeting_questions(review)
    return replace(review, summary=summary, questions=questions)


def summary_sentences(r) -> list[str]:
    """The verdict in sentences, in the order a contract manager reads them.

    ``r`` is a :class:`cinb.review.ContractReview`. Returns a list of sentences (str): ratings of the review
    month, the weighted score (0–100), special-cause concern and improvement in the latest month, KPIs that
    will consistently miss their target, CI commitments off track, met or undefined, the months where the
    supplier's figures and the records disagree (:func:`cinb.reconcile.summary_sentences`), service credits
    (whole pounds) for the month and the contract year, the notice date, overdue initiatives.
    """
    out = []
    month = month_label(r.period)
    results = [status_word(k.window) for k in r.kpis]
    order = [*RATINGS, *STATUS_WORD.values()]
    counts = {w: results.count(w) for w in order if results.count(w)}
    out.append(f"In {month}, of {plural(len(results), 'KPI')}: "
               + ", ".join(f"{n} {w if w in RATINGS else w.lower()}" for w, n in counts.items()) + ".")
    n_months = len(pd.period_range(r.window_start, r.period, freq="M"))
    if n_months < r.window_months:
        out.append(f"The review window is {month_label(r.window_start)} to {month}, {plural(n_months, 'month')}: "
                   f"the contract began in {month_label(r.window_start)}.")
    score = r.scorecard.get("score")
    if score is not None and not pd.isna(score):
        out.append(f"The weighted scorecard over the {n_months}-month "
                   f"review window is {decimal(score)} out of 100 ({r.scorecard.get('rating')}).")
    concern = [k.name for k in r.kpis if k.spc.variation == "special_cause_concern"]
    improve = [k.name for k in r.kpis if k.spc.variation == "special_cause_improvement"]
    if concern:
        out.append(f"Special-cause concern in the latest month: {list_and(concern)}.")
    if improve:
        out.append(f"Special-cause improvement in the latest month: {list_and(improve)}.")
    if not concern and not improve:
        out.append("No KPI shows special-cause variation in the latest month.")
    fail = [k.name for k in r.kpis if k.spc.assurance == "consistent_fail" and k.suggested_rebase is None]
    if fail:
        out.append(f"On current process limits these KPIs will consistently miss their target unless the process "
                   f"changes: {list_and(fail)}.")
    if len(r.commitments):
        c = r.commitments
        off = c[c["status"] == "off track"]
        met = c[c["status"] == "met"]
        has_kind = c["kind"].notna()
        undefined = c[has_kind & (c["status"] == "undefined")]
        tracked = int((has_kind & (c["status"] != "undefined")).sum())
        if tracked:
            out.append(f"{len(off)} of {plural(tracked, 'CI commitment')} "
                       f"{'is' if len(off) == 1 or tracked == 1 else 'are'} off track"
                       + (f" ({list_and(list(off['name']))})" if len(off) else "") + f"; {len(met)} met.")
        if len(undefined):
            out.append(f"{plural(len(undefined), 'CI commitment')} cannot be tracked because "
                       f"{'its' if len(undefined) == 1 else 'their'} definition is incomplete: "
                       f"{list_and(list(undefined['name']))}.")
        if not has_kind.any():
            out.append("No KPI of this contract carries a CI commitment.")
    # The supplier's figures against those derived from the records (cinb.reconcile), when any were derived.
    out.extend(_reconcile_sentences(getattr(r, "reconciliation", None)))
    ym = r.credits_monthly[r.credits_monthly["period"] == r.period]
    due = float(ym["credit_gbp"].sum()) if len(ym) else 0.0
    ytd = r.credits_ytd.get("credits_gbp", 0.0) or 0.0
    if due > 0:
        capped = bool(ym["cap_applied"].any())
        out.append(f"Service credits of {money(due)} are due for {month}"
                   + (" (the cap applies)" if capped else "") + f"; {money(ytd)} so far this contract year.")
    else:
        out.append(f"No service credits are due for {month}; {money(ytd)} so far this contract year.")
    t = r.trigger
    if t.get("notice_passed"):
        out.append(f"The contract ends on {t['end_date']} ({plural(t['months_left'], 'month')} left) and its notice date "
                   f"({t['notice_date']}) has passed: decide on extension, re-procurement or exit now.")
    elif t.get("days_to_notice") is not None and t["days_to_notice"] <= 365:
        out.append(f"The notice date is {t['notice_date']}, {plural(t['days_to_notice'], 'day')} after this month; "
                   f"the contract ends on {t['end_date']}.")
    overdue = r.initiative_summary.overdue
    if len(overdue):
        out.append(f"{plural(len(overdue), 'improvement initiative')} "
                   f"{'is' if len(overdue) == 1 else 'are'} overdue.")
    return out


def meeting_questions(r) -> list[str]:
    """Questions for the supplier review meeting, each tied to a figure in the pack.

    ``r`` is a :class:`cinb.review.ContractReview`. Returns a list of questions (str), possibly empty: one per
    special-cause concern or consistently failing KPI, commitment off track and ratchet proposal, then the
    month's service credit, up to 3 overdue initiatives, the KPIs whose reported figures the records contradict
    (:func:`cinb.reconcile.meeting_questions`), missing returns, restatements and incomplete definitions.
    """
    qs = []
    for k in r.kpis:
        if k.spc.variation == "special_cause_concern":
            qs.append(f"{k.name}: what changed to cause the special-cause concern, and what is the rectification "
                      f"plan and date?")
        elif k.spc.assurance == "consistent_fail" and k.suggested_rebase is None:
            qs.append(f"{k.name}: the process cannot meet its target of "
                      f"{level_text(k.kpi.get('target'), k.kpi.get('unit'))}"
                      f" as it runs; what change to the process will the supplier make?")
    for _, c in r.commitments[r.commitments["status"] == "off track"].iterrows() if len(r.commitments) else []:
        months = c.get("actual_months")
        over = (f", the mean of the last {plural(int(months), 'reported month')}"
                if months is not None and not pd.isna(months) and int(months) > 1 else "")
        qs.append(f"{c['name']}: how will the supplier get back to the committed trajectory "
                  f"({value_text(c['expected_now'], c['unit'])} expected now, {value_text(c['actual_now'], c['unit'])} "
                  f"actual{over}) before {c['due']}?")
    if len(r.ratchets):
        for _, x in r.ratchets.iterrows():
            qs.append(f"{x['name']}: the target was beaten every month for {plural(int(x['months']), 'month')}; propose "
                      f"moving it to {level_text(x['proposed_target'], x['unit'])} under the ratchet clause.")
    ym = r.credits_monthly[r.credits_monthly["period"] == r.period]
    due = float(ym["credit_gbp"].sum()) if len(ym) else 0.0
    if due > 0:
        qs.append(f"Confirm the service credit of {money(due)} for {month_label(r.period)} will be applied to the next "
                  f"invoice.")
    for _, i in r.initiative_summary.overdue.head(3).iterrows():
        qs.append(f"Initiative {i['initiative_id']} '{i['title']}' was due {iso_date(i['due'])}: "
                  f"what is the new date and what is blocking it?")
    qs.extend(_reconcile_questions(getattr(r, "reconciliation", None)))
    missing = [k.name for k in r.kpis if k.missing_months or k.not_reported_months]
    if missing:
        qs.append(f"Returns are missing or empty for {list_and(missing)}: when will the supplier provide them?")
    if len(r.restatements):
        n = len(r.restatements)
        qs.append(f"{plural(n, 'figure')} {'was' if n == 1 else 'were'} restated: what caused "
                  f"{'the' if n == 1 else 'each'} correction?")
    vague = r.definitions[~r.definitions["well_defined"]] if "well_defined" in r.definitions else []
    if len(vague):
        qs.append(f"{plural(len(vague), 'KPI definition')} {'is' if len(vague) == 1 else 'are'} incomplete "
                  f"(see Definition quality): agree the missing elements with the supplier and record the date.")
    return qs

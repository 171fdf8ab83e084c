"""Plain-English commentary: deterministic sentences, each stating a figure the pack shows, and meeting questions."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from cinb.formatting import decimal, iso_date, list_and, money, month_label, plural, value_text
from cinb.labels import ASSURANCE_SENTENCE, POINT_SENTENCE, RATINGS, RULE_SENTENCE

__all__ = [
    "POINT_WORDS", "RULE_WORDS", "ASSURANCE_WORDS", "fmt_value", "money", "plural",
    "kpi_paragraph", "annotate", "summary_sentences", "meeting_questions",
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


def kpi_paragraph(k) -> str:
    """Two or three sentences on one KPI: latest value and rating, variation, assurance, trend, commitment.

    Parameters
    ----------
    k : KpiReview
        One KPI of a :class:`cinb.review.ContractReview`: reads ``name``, ``kpi["unit"]``, ``window``
        (``latest_period``, ``latest_value``, ``latest_rating``, ``value``, ``rating``), ``spc`` (the
        :class:`cinb.spc.XmrResult`: latest point's variation and rule, limits, assurance — NHS England "Making
        Data Count"), ``trend.sentence`` (Mann–Kendall and Theil–Sen, :mod:`cinb.trends`) and ``commitment``.

    Returns
    -------
    str
        The sentences joined by spaces; values in the KPI's unit as :func:`cinb.formatting.value_text` writes
        them, the words of :data:`cinb.labels.POINT_SENTENCE`, ``RULE_SENTENCE`` and ``ASSURANCE_SENTENCE``.
    """
    unit = k.kpi.get("unit")
    w = k.window
    parts = []
    if w.get("latest_period") is not None and not pd.isna(w.get("latest_period")):
        parts.append(f"{k.name} was {value_text(w.get('latest_value'), unit)} in {month_label(w['latest_period'])} "
                     f"({w.get('latest_rating')}); over the review window it averaged "
                     f"{value_text(w.get('value'), unit)} ({w.get('rating')}).")
    else:
        parts.append(f"{k.name} has no reported value in the review window.")
    last = k.spc.points.dropna(subset=["value"])
    if len(last):
        rule = last["rule"].iloc[-1]
        variation = POINT_WORDS.get(k.spc.variation, k.spc.variation)
        because = f" ({RULE_WORDS[rule]})" if rule in RULE_WORDS else ""
        parts.append(f"The latest point shows {variation}{because}; on current limits "
                     f"({value_text(k.spc.lpl, unit)} to {value_text(k.spc.upl, unit)}) the process "
                     f"{ASSURANCE_WORDS.get(k.spc.assurance, ASSURANCE_WORDS[None])}.")
    parts.append(k.trend.sentence)
    c = k.commitment
    if c is not None:
        parts.append(f"CI commitment: {c.get('status')} — {c.get('reason')}")
    return " ".join(p for p in parts if p)


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
    will consistently miss their target, CI commitments off track, met or undefined, service credits (whole
    pounds) for the month and the contract year, the notice date, overdue initiatives.
    """
    out = []
    month = month_label(r.period)
    ratings = [k.window.get("latest_rating") or "Other" for k in r.kpis]
    counts = {w: ratings.count(w) for w in RATINGS if ratings.count(w)}
    out.append(f"In {month}, of {len(ratings)} KPIs: " + ", ".join(f"{n} {w}" for w, n in counts.items()) + ".")
    score = r.scorecard.get("score")
    if score is not None and not pd.isna(score):
        out.append(f"The weighted scorecard over the {len(pd.period_range(r.window_start, r.period, freq='M'))}-month "
                   f"review window is {decimal(score)} out of 100 ({r.scorecard.get('rating')}).")
    concern = [k.name for k in r.kpis if k.spc.variation == "special_cause_concern"]
    improve = [k.name for k in r.kpis if k.spc.variation == "special_cause_improvement"]
    if concern:
        out.append(f"Special-cause concern in the latest month: {list_and(concern)}.")
    if improve:
        out.append(f"Special-cause improvement in the latest month: {list_and(improve)}.")
    if not concern and not improve:
        out.append("No KPI shows special-cause variation in the latest month.")
    fail = [k.name for k in r.kpis if k.spc.assurance == "consistent_fail"]
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
                       f"{'is' if len(off) == 1 else 'are'} off track"
                       + (f" ({list_and(list(off['name']))})" if len(off) else "") + f"; {len(met)} met.")
        if len(undefined):
            out.append(f"{plural(len(undefined), 'CI commitment')} cannot be tracked because "
                       f"{'its' if len(undefined) == 1 else 'their'} definition is incomplete: "
                       f"{list_and(list(undefined['name']))}.")
        if not has_kind.any():
            out.append("No KPI of this contract carries a CI commitment.")
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
        out.append(f"The contract ends on {t['end_date']} ({t['months_left']} months left) and its notice date "
                   f"({t['notice_date']}) has passed: decide on extension, re-procurement or exit now.")
    elif t.get("days_to_notice") is not None and t["days_to_notice"] <= 365:
        out.append(f"The notice date is {t['notice_date']}, {t['days_to_notice']} days after this month; "
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
    month's service credit, up to 3 overdue initiatives, missing returns, restatements and incomplete
    definitions.
    """
    qs = []
    for k in r.kpis:
        if k.spc.variation == "special_cause_concern":
            qs.append(f"{k.name}: what changed to cause the special-cause concern, and what is the rectification "
                      f"plan and date?")
        elif k.spc.assurance == "consistent_fail":
            qs.append(f"{k.name}: the process cannot meet its target of "
                      f"{value_text(k.kpi.get('target'), k.kpi.get('unit'))}"
                      f" as it runs; what change to the process will the supplier make?")
    for _, c in r.commitments[r.commitments["status"] == "off track"].iterrows() if len(r.commitments) else []:
        qs.append(f"{c['name']}: how will the supplier get back to the committed trajectory "
                  f"({value_text(c['expected_now'], c['unit'])} expected now, {value_text(c['actual_now'], c['unit'])} "
                  f"actual) before {c['due']}?")
    if len(r.ratchets):
        for _, x in r.ratchets.iterrows():
            qs.append(f"{x['name']}: the target was beaten every month for {int(x['months'])} months; propose "
                      f"moving it to {value_text(x['proposed_target'], x['unit'])} under the ratchet clause.")
    ym = r.credits_monthly[r.credits_monthly["period"] == r.period]
    due = float(ym["credit_gbp"].sum()) if len(ym) else 0.0
    if due > 0:
        qs.append(f"Confirm the service credit of {money(due)} for {month_label(r.period)} will be applied to the next "
                  f"invoice.")
    for _, i in r.initiative_summary.overdue.head(3).iterrows():
        qs.append(f"Initiative {i['initiative_id']} '{i['title']}' was due {iso_date(i['due'])}: "
                  f"what is the new date and what is blocking it?")
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

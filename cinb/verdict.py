"""The verdict block: what a reader must know about the month before anything else, in a few lines.

A pack opens with its verdict (right after the title on screen, on the first page after the cover in print):

* a contract pack (:func:`contract_verdict`): the review month's KPI results counted by rating (word and symbol)
  and by status (not reported, not due, …), service credits due for the month and for the contract year to date,
  CI commitments off track, KPIs showing special-cause concern, the notice date when it is near, and how many
  questions the authority has for the review meeting (with a link to them);
* a portfolio pack or supplier scorecard (:func:`portfolio_verdict`): the same counts over every contract
  reviewed, then the contracts that need attention first and why.

The figures are plain values (``pack.json``'s ``verdict``, written by ``ContractReview.to_pack`` and
``PortfolioReview.to_pack``); :class:`VerdictBlock` shows them as HTML, so the page and the file hold the same
numbers. Every figure is one the rest of the pack shows in detail: ratings as :func:`cinb.regimes.status_word`
gives them (the scorecard's Rating column), credits as ``cinb.credits.monthly_credits`` and ``year_to_date``
compute them (the Service credits section), commitments as ``cinb.commitments.commitment_status`` (the CI
commitments section), special-cause concern as the XmR chart's latest point (NHS England, *Making Data Count*),
the notice date as ``cinb.review._trigger`` computes it (contract end minus notice period).

The functions read a review's attributes only (like :mod:`cinb.commentary`), so this module sits below
:mod:`cinb.review` and imports nothing from it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from .formatting import agree, day_label, list_and, money, month_label, plural
from .labels import RATING_DISPLAY, RATINGS, RULE_SENTENCE
from .regimes import STATUS_WORD, status_word

__all__ = ["NOTICE_NEAR_DAYS", "ATTENTION_SHOWN", "NOTICES_SHOWN", "QUESTIONS_ANCHOR", "result_counts", "contract_verdict",
           "portfolio_verdict", "VerdictBlock", "contract_block", "portfolio_block"]

#: A notice date within this many days after the end of the review month is "near" (the executive summary
#: names it from the same distance); a notice date that has passed is always shown.
NOTICE_NEAR_DAYS = 365
#: How many contracts needing attention a portfolio verdict lists by name on the page (pack.json lists all).
ATTENTION_SHOWN = 3
#: How many near notice dates a portfolio verdict names on the page (earliest first; pack.json lists all).
NOTICES_SHOWN = 3
#: The id of the "Do the supplier's figures match the records?" heading (cinb.sections_reconcile).
RECORDS_ANCHOR = "reconciliation"
#: The id of the "Questions for the review meeting" heading (cinb.display.Heading's slug of its text).
QUESTIONS_ANCHOR = "questions-for-the-review-meeting"

#: The CSS class of each rating's colours (cinb.display.RATING_STYLES; tests/test_verdict.py checks they agree).
_RATING_CLASS = {
    "Good": "rating-good",
    "Approaching target": "rating-approaching",
    "Requires improvement": "rating-requires-improvement",
    "Inadequate": "rating-inadequate",
    "Other": "rating-other",
}
_ORDER = [*RATINGS, *STATUS_WORD.values()]


def _num(v) -> float:
    """A money figure as a float; None/NaN are 0."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(f) else f


# ------------------------------------------------------------------------------------------------ figures

def result_counts(words: Iterable[str]) -> list[dict[str, Any]]:
    """Count KPI results (rating or status words) in the order a pack lists them: ratings best first, then statuses.

    Returns a list of ``{"result": word, "kind": "rating" | "status", "count": int, "symbol": str | None}``,
    one per word present; ``symbol`` is the rating's symbol as the pack shows it beside the word
    (:data:`cinb.labels.RATING_DISPLAY`) and None for a status.

    >>> [(c["result"], c["count"]) for c in result_counts(["Good", "Not due", "Good", "Inadequate"])]
    [('Good', 2), ('Inadequate', 1), ('Not due', 1)]
    """
    words = list(words)
    present = sorted(dict.fromkeys(words), key=lambda w: _ORDER.index(w) if w in _ORDER else len(_ORDER))
    return [{"result": w, "kind": "rating" if w in RATINGS else "status", "count": words.count(w),
             "symbol": RATING_DISPLAY[w][0] if w in RATING_DISPLAY else None} for w in present]


def _notice(trigger: dict) -> dict[str, Any] | None:
    """The notice date when it has passed or falls within :data:`NOTICE_NEAR_DAYS` days; None otherwise."""
    date, days = trigger.get("notice_date"), trigger.get("days_to_notice")
    if not date or days is None:
        return None
    passed = bool(trigger.get("notice_passed"))
    if not passed and days > NOTICE_NEAR_DAYS:
        return None
    return {"date": date, "days_to_notice": int(days), "passed": passed, "end_date": trigger.get("end_date"),
            "months_left": trigger.get("months_left")}


def contract_verdict(r) -> dict[str, Any]:
    """The verdict of one contract's review month, as plain values (``pack.json``'s ``verdict``).

    Parameters
    ----------
    r : cinb.review.ContractReview
        Reads ``period``, ``kpis`` (each KPI's ``window``, ``spc`` and ``name``), ``commitments``,
        ``credits_monthly``, ``credits_ytd``, ``trigger``, ``questions`` and ``audience``.

    Returns
    -------
    dict
        ``period`` ("YYYY-MM"); ``kpis`` (number of KPIs); ``results`` (:func:`result_counts` of the month's
        results); ``credits``: ``month_gbp`` and ``year_to_date_gbp`` (GBP, rounded to pence), ``cap_applied``
        (the cap cut this month's credit), ``year_start`` ("YYYY-MM", the contract year's first month, None when
        unknown); ``commitments``: ``tracked`` (with a complete definition) and ``off_track`` (list of
        ``{kpi_id, name}``); ``concerns`` (list of ``{kpi_id, name, rule}``: latest point special-cause concern,
        ``rule`` a key of :data:`cinb.labels.RULE_SENTENCE` or None); ``notice`` (see :func:`_notice`: date,
        days_to_notice, passed, end_date, months_left; None unless near or passed); ``records`` (see
        :func:`_records_check`: the supplier's figures against those derived from the records; None when no month
        has both); ``questions`` (number of
        questions for the review meeting; None in a supplier pack, which holds none). Raises nothing of its own.
    """
    ym = r.credits_monthly[r.credits_monthly["period"] == r.period] if len(r.credits_monthly) else r.credits_monthly
    month = _num(ym["credit_gbp"].sum()) if len(ym) else 0.0
    c = r.commitments
    if len(c):
        tracked = int((c["kind"].notna() & (c["status"] != "undefined")).sum())
        off = [{"kpi_id": x["kpi_id"], "name": x["name"]} for _, x in c[c["status"] == "off track"].iterrows()]
    else:
        tracked, off = 0, []
    concerns = []
    for k in r.kpis:
        if k.spc.variation == "special_cause_concern":
            pts = k.spc.points.dropna(subset=["value"])
            rule = pts["rule"].iloc[-1] if len(pts) and "rule" in pts else None
            concerns.append({"kpi_id": k.kpi_id, "name": k.name,
                             "rule": None if rule is None or pd.isna(rule) else str(rule)})
    ytd = r.credits_ytd or {}
    start = ytd.get("year_start")
    return {
        "period": str(r.period),
        "kpis": len(r.kpis),
        "results": result_counts(status_word(k.window) for k in r.kpis),
        "credits": {"month_gbp": round(month, 2), "year_to_date_gbp": round(_num(ytd.get("credits_gbp")), 2),
                    "cap_applied": bool(len(ym) and ym["cap_applied"].fillna(False).astype(bool).any()),
                    "year_start": None if start is None or (not isinstance(start, str) and pd.isna(start))
                    else str(start)},
        "commitments": {"tracked": tracked, "off_track": off},
        "concerns": concerns,
        "notice": _notice(r.trigger or {}),
        "records": _records_check(getattr(r, "reconciliation", None)),
        "questions": len(r.questions) if r.audience == "internal" else None,
    }


def _records_check(rec) -> dict[str, Any] | None:
    """The verdict's check of the supplier's figures against the records (None: no month had both figures).

    ``rec`` is ``ContractReview.reconciliation`` (:func:`cinb.reconcile.reconcile`'s frame): ``compared`` counts
    the complete KPI-months with both figures, ``differ`` lists the flagged ones (``{kpi_id, name, period}``,
    beyond the tolerance), ``incomplete`` the KPI-months not judged because the records were incomplete.
    """
    if rec is None or not len(rec):
        return None
    status = rec["status"].astype(str)
    differ = rec[rec["flagged"].astype(bool)]
    return {"compared": int(status.isin(["agrees", "differs"]).sum()),
            "differ": [{"kpi_id": str(x["kpi_id"]), "name": str(x["name"]), "period": str(x["period"])}
                       for _, x in differ.iterrows()],
            "incomplete": int((status == "incomplete").sum())}


def _records_text(check: dict) -> str:
    """``"3 of 7 KPI-months differ from the records: First-time fix rate (Jul 2026, Sep 2026); …"``."""
    differ = check["differ"]
    if not differ:
        text = f"all {plural(check['compared'], 'KPI-month')} compared agree within the tolerance"
    else:
        by_kpi: dict[str, list[str]] = {}
        for d in differ:
            by_kpi.setdefault(d["name"], []).append(month_label(d["period"]))
        text = (f"{len(differ)} of {plural(check['compared'], 'KPI-month')} "
                f"{agree(len(differ), 'differs', 'differ')} from the records: "
                + "; ".join(f"{name} ({', '.join(months)})" for name, months in by_kpi.items()))
    if check["incomplete"]:
        text += f"; {plural(check['incomplete'], 'KPI-month')} not judged (records incomplete)"
    return text


def _days_to(date, period: pd.Period) -> int:
    """Days from the end of ``period`` to ``date`` (negative once passed), as ``cinb.review._trigger`` counts them."""
    return int((pd.Timestamp(date) - period.end_time.normalize()).days)


def _attention(words: list[str], concerns: int, off_track: int, credit: dict, notice: dict | None) -> list[str]:
    """Why one contract needs attention this month: short reasons, most serious first (empty: none)."""
    reasons = []
    for word in ("Inadequate", "Requires improvement"):
        n = words.count(word)
        if n:
            reasons.append(f"{plural(n, 'KPI')} rated {word}")
    n = words.count(STATUS_WORD["not_reported"])
    if n:
        reasons.append(f"{plural(n, 'KPI')} not reported")
    if concerns:
        reasons.append(plural(concerns, "special-cause concern"))
    if off_track:
        reasons.append(f"{plural(off_track, 'CI commitment')} off track")
    if _num(credit.get("critical_failures")):
        reasons.append(plural(int(_num(credit["critical_failures"])), "critical service failure"))
    if _num(credit.get("month_gbp")):
        reasons.append(f"{money(_num(credit['month_gbp']))} service credits")
    if notice is not None:
        reasons.append(f"notice date {day_label(notice['date'])} passed" if notice["passed"]
                       else f"notice date {day_label(notice['date'])}, in {plural(notice['days_to_notice'], 'day')}")
    return reasons


def _by_contract(frame, column: str = "contract_id") -> dict:
    """Number of rows of ``frame`` per contract id (an empty or missing frame counts nothing)."""
    if frame is None or not len(frame) or column not in frame:
        return {}
    return frame[column].value_counts().to_dict()


def portfolio_verdict(p) -> dict[str, Any]:
    """The verdict of a portfolio pack or supplier scorecard, as plain values (``pack.json``'s ``verdict``).

    Built from the portfolio review's cross-contract tables only, so it holds exactly what the pack's sections
    show in detail.

    Parameters
    ----------
    p : cinb.portfolio.PortfolioReview
        Reads ``period``, ``supplier``, ``ranking`` (contracts, their scores; a contract without data has no
        title), ``rating_detail`` (each KPI's result), ``concerns``, ``off_track``, ``credits`` and ``triggers``
        (contracts ending within ``cinb.portfolio.TRIGGER_HORIZON_MONTHS``: their notice dates).

    Returns
    -------
    dict
        ``period``; ``scope`` ("portfolio" or "supplier"); ``contracts`` (reviewed); ``kpis``; ``results``
        (:func:`result_counts` over every KPI); ``credits`` (``month_gbp`` and ``year_to_date_gbp``: sums over
        contracts, GBP rounded to pence); ``off_track`` and ``concerns`` (counts); ``notices`` (``{contract_id,
        date, days_to_notice, passed, end_date, months_left}`` of each contract whose notice date has passed or
        is within :data:`NOTICE_NEAR_DAYS` days, earliest first); and ``attention``: one ``{rank, contract_id,
        title, supplier, score, overall, reasons}`` per contract with at least one reason, in the order to attend
        to them — lowest weighted score (0–100) first, a contract without a score after those with one, ties by
        contract id. ``rank`` is the contract's place in ``ranking`` (best score first). Raises nothing of its own.
    """
    ranking = p.ranking if p.ranking is not None else pd.DataFrame()
    reviewed = ranking[ranking["title"].notna()] if len(ranking) and "title" in ranking else ranking
    detail = p.rating_detail if p.rating_detail is not None else pd.DataFrame()
    words = {cid: list(g["rating"]) for cid, g in detail.groupby("contract_id", sort=False)} if len(detail) else {}
    concerns, off = _by_contract(p.concerns), _by_contract(p.off_track)
    credits = {row["contract_id"]: row for row in p.credits.to_dict(orient="records")} if len(p.credits) else {}
    notices = {}
    for t in (p.triggers.to_dict(orient="records") if p.triggers is not None and len(p.triggers) else []):
        date = t.get("notice_date")
        if date is None or pd.isna(date):
            continue
        notice = _notice({"notice_date": pd.Timestamp(date).date().isoformat(),
                          "days_to_notice": _days_to(date, p.period), "notice_passed": bool(t.get("notice_passed")),
                          "end_date": pd.Timestamp(t["end_date"]).date().isoformat(),
                          "months_left": t.get("months_left")})
        if notice is not None:
            notices[t["contract_id"]] = notice
    attention = []
    for row in reviewed.to_dict(orient="records"):
        cid = row["contract_id"]
        reasons = _attention(words.get(cid, []), int(concerns.get(cid, 0)), int(off.get(cid, 0)),
                             credits.get(cid, {}), notices.get(cid))
        if not reasons:
            continue
        score = row.get("score")
        score = None if score is None or pd.isna(score) else float(score)
        attention.append({"rank": None if row.get("rank") is None else int(row["rank"]), "contract_id": cid,
                          "title": row.get("title"), "supplier": row.get("supplier"), "score": score,
                          "overall": row.get("overall"), "reasons": reasons})
    attention.sort(key=lambda a: (a["score"] is None, a["score"] if a["score"] is not None else 0.0,
                                  str(a["contract_id"])))
    near = sorted(({"contract_id": cid, **n} for cid, n in notices.items()),
                  key=lambda n: (n["date"], str(n["contract_id"])))
    return {
        "period": str(p.period),
        "scope": "supplier" if p.supplier else "portfolio",
        "contracts": int(len(reviewed)),
        "kpis": int(len(detail)),
        "results": result_counts(detail["rating"] if len(detail) else []),
        "credits": {"month_gbp": round(_num(p.credits["month_gbp"].sum()), 2) if len(p.credits) else 0.0,
                    "year_to_date_gbp": round(_num(p.credits["ytd_gbp"].sum()), 2) if len(p.credits) else 0.0},
        "off_track": int(len(p.off_track)) if p.off_track is not None else 0,
        "concerns": int(len(p.concerns)) if p.concerns is not None else 0,
        "notices": near,
        "attention": attention,
    }


# ------------------------------------------------------------------------------------------------- display

def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _results_html(v: dict) -> str:
    """The month's results as a list: symbol (hidden from screen readers) + count + word; ratings coloured."""
    items = []
    for c in v["results"]:
        if c["kind"] == "rating":
            symbol = RATING_DISPLAY.get(c["result"], ("", ""))[0]
            cls = f'cinb-verdict-result rating {_RATING_CLASS.get(c["result"], "rating-other")}'
            items.append(f'<li class="{cls}"><span aria-hidden="true">{_e(symbol)}</span> '
                         f'<strong>{c["count"]}</strong> {_e(c["result"])}</li>')
        else:
            items.append(f'<li class="cinb-verdict-result cinb-verdict-status"><strong>{c["count"]}</strong> '
                         f'{_e(c["result"].lower())}</li>')
    if not items:
        return '<p class="cinb-verdict-none">No KPI to rate this month.</p>'
    return f'<ul class="cinb-verdict-results">{"".join(items)}</ul>'


def _fact(term: str, value_html: str, flag: bool = False) -> str:
    """One line of the verdict's facts. ``flag`` adds a border to a line that needs action; its words say so
    already (an amount due, a commitment named), so the border is never the only signal."""
    cls = ' class="cinb-verdict-flag"' if flag else ""
    return f"<div{cls}><dt>{_e(term)}</dt><dd>{value_html}</dd></div>"


def _credits_text(credits: dict, month: str) -> str:
    cap = " (the cap applies)" if credits.get("cap_applied") else ""
    since = f" (since {month_label(credits['year_start'])})" if credits.get("year_start") else ""
    return (f"{money(credits['month_gbp'])} due for {month}{cap}; "
            f"{money(credits['year_to_date_gbp'])} contract year to date{since}")


def _notice_text(n: dict) -> str:
    if n["passed"]:
        return f"{day_label(n['date'])}: passed; the contract ends on {day_label(n['end_date'])}"
    return (f"{day_label(n['date'])}, {plural(n['days_to_notice'], 'day')} after this month; "
            f"the contract ends on {day_label(n['end_date'])}")


class VerdictBlock:
    """A verdict (:func:`contract_verdict` or :func:`portfolio_verdict`) as accessible HTML.

    The block is a ``<div class="cinb-verdict">``: a lead sentence, the month's results as a list (each a
    symbol hidden from screen readers, the count and the word: colour is never the only signal), then a
    definition list of the other figures; a line that needs action (its words say why) also has a border.
    Text is escaped. The notebook shows it after a ``## Verdict`` heading.

    Parameters
    ----------
    verdict : dict
        A verdict as the functions above return it.
    kind : {"contract", "portfolio"}
    """

    def __init__(self, verdict: dict, kind: str = "contract"):
        if kind not in ("contract", "portfolio"):
            raise ValueError(f"VerdictBlock kind must be 'contract' or 'portfolio', not {kind!r}")
        self.verdict = verdict
        self.kind = kind

    def to_html(self) -> str:
        """The block's HTML (see the class docstring)."""
        return self._contract() if self.kind == "contract" else self._portfolio()

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.to_html()

    def _contract(self) -> str:
        v = self.verdict
        month = month_label(v["period"])
        lead = f'<p class="cinb-verdict-lead">{_e(month)}: results of {_e(plural(v["kpis"], "KPI"))}</p>'
        facts = [_fact("Service credits", _e(_credits_text(v["credits"], month)), v["credits"]["month_gbp"] > 0)]
        off, tracked = v["commitments"]["off_track"], v["commitments"]["tracked"]
        if tracked or off:
            text = f"{len(off)} of {tracked}" + (f": {list_and([o['name'] for o in off])}" if off else "")
        else:
            text = "none tracked (no KPI has a complete CI commitment)"
        facts.append(_fact("CI commitments off track", _e(text), bool(off)))
        concerns = v["concerns"]
        text = (f"{plural(len(concerns), 'KPI')}: " + "; ".join(
            c["name"] + (f" ({RULE_SENTENCE[c['rule']]})" if c.get("rule") in RULE_SENTENCE else "")
            for c in concerns)) if concerns else "none"
        facts.append(_fact("Special-cause concerns", _e(text), bool(concerns)))
        if v.get("notice"):
            facts.append(_fact("Notice date", _e(_notice_text(v["notice"])), True))
        if v.get("records"):
            facts.append(_fact("Figures against the records",
                               f'<a href="#{RECORDS_ANCHOR}">{_e(_records_text(v["records"]))}</a>',
                               bool(v["records"]["differ"])))
        if v.get("questions") is not None:
            n = v["questions"]
            value = f'<a href="#{QUESTIONS_ANCHOR}">{_e(plural(n, "question"))} to put to the supplier</a>' if n \
                else "none"
            facts.append(_fact("Review meeting", value))
        return (f'<div class="cinb-verdict">{lead}{_results_html(v)}'
                f'<dl class="cinb-verdict-facts">{"".join(facts)}</dl></div>')

    def _portfolio(self) -> str:
        v = self.verdict
        month = month_label(v["period"])
        lead = (f'<p class="cinb-verdict-lead">{_e(month)}: results of {_e(plural(v["kpis"], "KPI"))} '
                f'across {_e(plural(v["contracts"], "contract"))}</p>')
        cr = v["credits"]
        facts = [
            _fact("Service credits", _e(f"{money(cr['month_gbp'])} due for {month}; "
                                        f"{money(cr['year_to_date_gbp'])} contracts' years to date"),
                  cr["month_gbp"] > 0),
            _fact("CI commitments off track", _e(str(v["off_track"])), v["off_track"] > 0),
            _fact("Special-cause concerns", _e(f"{plural(v['concerns'], 'KPI')}" if v["concerns"] else "none"),
                  v["concerns"] > 0),
        ]
        if v["notices"]:
            notices = v["notices"]
            names = [f"{n['contract_id']} ({'passed ' if n['passed'] else ''}{day_label(n['date'])})"
                     for n in notices[:NOTICES_SHOWN]]
            more = len(notices) - NOTICES_SHOWN
            text = f"{plural(len(notices), 'contract')}, earliest first: " + ", ".join(names) + (
                f" and {more} more (see Expiry and notice dates)" if more > 0 else "")
            facts.append(_fact("Notice dates near", _e(text), True))
        att = v["attention"]
        if att:
            rows = "".join(
                f'<li><strong>{_e(a["contract_id"])}</strong> {_e(a["title"] or "")}'
                + (f' ({_e(a["supplier"])})' if v["scope"] == "portfolio" and a.get("supplier") else "")
                + f': {_e("; ".join(a["reasons"]))}</li>' for a in att[:ATTENTION_SHOWN])
            more = len(att) - ATTENTION_SHOWN
            tail = (f'<p class="cinb-verdict-more">{_e(plural(more, "more contract"))} '
                    f'{agree(more, "needs", "need")} attention: see Contract ranking.</p>' if more > 0 else "")
            who = (f'<p class="cinb-verdict-lead">{_e(plural(len(att), "contract"))} '
                   f'{agree(len(att), "needs", "need")} attention, lowest score first:</p>'
                   f'<ol class="cinb-verdict-attention">{rows}</ol>{tail}')
        else:
            who = '<p class="cinb-verdict-lead">No contract needs attention this month.</p>'
        return (f'<div class="cinb-verdict">{lead}{_results_html(v)}'
                f'<dl class="cinb-verdict-facts">{"".join(facts)}</dl>{who}</div>')


def contract_block(r) -> list:
    """The contract pack's verdict cell: ``show(*verdict.contract_block(review))`` (one :class:`VerdictBlock`).

    ``r`` is a :class:`cinb.review.ContractReview` (a supplier view from :func:`cinb.audience.for_audience`
    shows no questions line)."""
    return [VerdictBlock(contract_verdict(r), "contract")]


def portfolio_block(p) -> list:
    """The portfolio pack's or supplier scorecard's verdict cell (one :class:`VerdictBlock`).

    ``p`` is a :class:`cinb.portfolio.PortfolioReview`."""
    return [VerdictBlock(portfolio_verdict(p), "portfolio")]


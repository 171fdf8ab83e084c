"""Sections of the portfolio pack and the supplier scorecard: a PortfolioReview into display objects."""

from __future__ import annotations

import html

import pandas as pd

from . import charts
from .display import Callout, KeyFacts, Paragraphs, Table, _HTMLObject
from .formatting import DASH, NOTHING, agree, decimal, money, percent, plural, value_text
from .labels import RULE_SENTENCE
from .portfolio import TRIGGER_HORIZON_MONTHS, PortfolioReview
from .review import month_name
from .sections import _dates, appendix as _contract_appendix, emit_pack  # noqa: F401 (emit_pack: notebooks)


def overview(r: PortfolioReview, marking: str = "OFFICIAL") -> list:
    """The portfolio (or supplier) at a glance.

    Shows the authority (of the first contract), the supplier (or the number of suppliers), the review month,
    the protective marking, the number of contracts and their total annual value, the KPI ratings of the latest
    reported month, the KPIs with special-cause concern, the CI commitments off track, the service credits this
    month and in the contracts' years to date (GBP), and the data version (first 12 characters of the data hash).

    Parameters
    ----------
    r : PortfolioReview
        Reads ``reviews`` (each contract's ``authority``, ``supplier``, ``annual_value_gbp``), ``supplier``,
        ``period``, ``data_hash`` and :meth:`PortfolioReview.headline` (``ratings``, ``concerns``, ``off_track``,
        ``credits_month_gbp``, ``credits_ytd_gbp``).
    marking : str
        The protective marking, printed as given.

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: one ``KeyFacts``.
    """
    h = r.headline()
    first = r.reviews[0].contract if r.reviews else {}
    facts = {
        "Authority": first.get("authority", DASH),
        "Supplier": r.supplier or f"{len({x.contract['supplier'] for x in r.reviews})} suppliers",
        "Review month": month_name(r.period),
        "Protective marking": marking,
        "Contracts": h["contracts"],
        "Annual value": money(sum(float(x.contract.get("annual_value_gbp") or 0) for x in r.reviews)),
        "KPI ratings this month": ", ".join(f"{n} {w}" for w, n in h["ratings"].items()),
        "KPIs with special-cause concern": h["concerns"],
        "CI commitments off track": h["off_track"],
        "Service credits this month / contracts' years to date": f"{money(h['credits_month_gbp'])} / "
                                                                f"{money(h['credits_ytd_gbp'])}",
        "Data version (every row)": r.data_hash[:12],
    }
    return [KeyFacts(facts)]


def heatmap(r: PortfolioReview) -> list:
    """The latest rating of every KPI of every contract, as a heat map and as a table naming each cell's KPI.

    Parameters
    ----------
    r : PortfolioReview
        Reads ``ratings`` (contract × "KPI 1", "KPI 2", … of rating words), ``rating_detail`` (contract, column,
        KPI, rating) and ``period``.

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: a ``Chart`` (:func:`cinb.charts.rating_heatmap`) and a ``Table``
        (Rating column coloured by rating); ``Paragraphs`` saying no contract has data when ``ratings`` is empty.
    """
    if r.ratings.empty:
        return [Paragraphs(["No contract has data for this month."])]
    chart = charts.rating_heatmap(r.ratings, title=f"Latest KPI ratings by contract, {month_name(r.period)}",
                                  caption="Columns are each contract's KPIs in its own order; the table names them.")
    d = r.rating_detail
    table = Table(pd.DataFrame({"Contract": d["contract_id"], "Column": d["slot"], "KPI": d["kpi"],
                                "Rating": d["rating"]}),
                  caption="Latest rating of every KPI", rating_columns=["Rating"], row_header="Contract")
    return [chart, table]


def ranking(r: PortfolioReview) -> list:
    """Contracts ranked by their weighted scorecard score (0–100) over the review window.

    Parameters
    ----------
    r : PortfolioReview
        Reads ``ranking`` (``rank``, ``contract_id``, ``title``, ``supplier``, ``score``, ``overall``, ``kpis``,
        ``concerns``; contracts with no data up to the month come last with no score).

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: a bar ``Chart`` (:func:`cinb.charts.score_bar`) of the scored
        contracts when any has a score, and a ``Table`` of the ranking (Overall column coloured by rating).
    """
    rk = r.ranking
    out = []
    scored = rk.dropna(subset=["score"])
    if len(scored):
        out.append(charts.score_bar(scored.set_index("contract_id"), title="Weighted scorecard by contract"))
    out.append(Table(pd.DataFrame({
        "Rank": rk["rank"], "Contract": rk["contract_id"], "Title": rk["title"].fillna(DASH),
        "Supplier": rk["supplier"].fillna(DASH),
        "Score": [decimal(s) for s in rk["score"]],
        "Overall": rk["overall"].fillna("Other"), "KPIs": rk["kpis"], "Concerns": rk["concerns"],
    }), caption="Contracts ranked by weighted score over the review window", rating_columns=["Overall"],
        row_header="Contract"))
    return out


def concerns(r: PortfolioReview) -> list:
    """KPIs whose latest point is a special-cause concern (:func:`cinb.spc.xmr`), with the rule that fired.

    Parameters
    ----------
    r : PortfolioReview
        Reads ``concerns`` (``contract_id``, ``supplier``, ``kpi_id``, ``kpi``, ``rule``).

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: ``Paragraphs`` counting the concerns by supplier and a
        ``Table`` of them; a good ``Callout`` when there is none.
    """
    c = r.concerns
    if c.empty:
        return [Callout("No KPI shows special-cause concern in the latest month.", "good")]
    by_supplier = c.groupby("supplier").size().sort_values(ascending=False)
    return [
        Paragraphs([f"{plural(len(c), 'KPI')} across {plural(c['contract_id'].nunique(), 'contract')} "
                    f"{agree(len(c), 'shows', 'show')} special-cause concern; "
                    "by supplier: " + ", ".join(f"{s} ({n})" for s, n in by_supplier.items()) + "."]),
        Table(pd.DataFrame({"Contract": c["contract_id"], "Supplier": c["supplier"], "KPI": c["kpi"],
                            "Signal": [RULE_SENTENCE.get(x, x or DASH) for x in c["rule"]]}),
              caption="KPIs with special-cause concern in the latest month", row_header="Contract"),
    ]


def commitments(r: PortfolioReview) -> list:
    """CI commitments off track across the contracts: expected and actual level now, due month.

    Parameters
    ----------
    r : PortfolioReview
        Reads ``off_track`` (rows of :func:`cinb.commitments.commitment_status` with status "off track", plus
        ``supplier``; levels in the KPI's unit).

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: a ``Table``; a good ``Callout`` when nothing is off track.
    """
    o = r.off_track
    if o.empty:
        return [Callout("No CI commitment is off track.", "good")]
    return [Table(pd.DataFrame({
        "Contract": o["contract_id"], "Supplier": o["supplier"], "KPI": o["name"],
        "Expected now": [value_text(v, u) for v, u in zip(o["expected_now"], o["unit"])],
        "Actual": [value_text(v, u) for v, u in zip(o["actual_now"], o["unit"])],
        "Due": o["due"].astype(str),
    }), caption="CI commitments off track", row_header="Contract")]


def credits(r: PortfolioReview) -> list:
    """Service credits by contract: this month, contract year to date, months the cap bit, critical failures.

    Parameters
    ----------
    r : PortfolioReview
        Reads ``credits`` (``contract_id``, ``supplier``, ``month_gbp``, ``ytd_gbp``, ``cap_hits_ytd``,
        ``critical_failures``; amounts in GBP after the cap, from :func:`cinb.credits.monthly_credits` and
        :func:`cinb.credits.year_to_date`) and ``period``.

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: ``Paragraphs`` with the totals and a ``Table``; ``Paragraphs``
        only when no contract has credit data.
    """
    c = r.credits
    if c.empty:
        return [Paragraphs(["No contract has credit data for this month."])]
    out = [Paragraphs([f"Service credits due for {month_name(r.period)}: {money(c['month_gbp'].sum())}; "
                       f"contracts' years to date: {money(c['ytd_gbp'].sum())}."])]
    out.append(Table(pd.DataFrame({
        "Contract": c["contract_id"], "Supplier": c["supplier"], "This month": [money(x) for x in c["month_gbp"]],
        "Contract year to date": [money(x) for x in c["ytd_gbp"]], "Months the cap bit": c["cap_hits_ytd"],
        "Critical failures this month": c["critical_failures"],
    }), caption="Service credits by contract", row_header="Contract"))
    return out


def triggers(r: PortfolioReview) -> list:
    """Contract trigger points: notice and end dates of the contracts ending within ``TRIGGER_HORIZON_MONTHS``.

    Parameters
    ----------
    r : PortfolioReview
        Reads ``triggers`` (``contract_id``, ``title``, ``supplier``, ``notice_date``, ``end_date``,
        ``months_left``, ``notice_passed``) and ``period`` (the timeline's "today" is the last day of the month).

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: a timeline ``Chart`` (:func:`cinb.charts.timeline`) and a
        ``Table``; ``Paragraphs`` when no contract ends within the horizon.
    """
    t = r.triggers
    if t.empty:
        return [Paragraphs([f"No contract ends in the next {TRIGGER_HORIZON_MONTHS} months."])]
    out = [charts.timeline(t, today=r.period.end_time.normalize(),
                           title=f"Notice and end dates in the next {TRIGGER_HORIZON_MONTHS} months")]
    out.append(Table(pd.DataFrame({
        "Contract": t["contract_id"], "Title": t["title"], "Supplier": t["supplier"],
        "Notice date": _dates(t["notice_date"]), "End date": _dates(t["end_date"]), "Months left": t["months_left"],
        "Notice passed": ["yes" if x else "no" for x in t["notice_passed"]],
    }), caption="Contract trigger points", row_header="Contract"))
    return out


def definitions(r: PortfolioReview) -> list:
    """Definition quality across the portfolio and by contract.

    Parameters
    ----------
    r : PortfolioReview
        Reads ``definition_summary`` (:func:`cinb.definitions.portfolio_definition_quality` as a dict: counts,
        shares 0–1, ``mean_score`` 0–100, ``missing_counts``) and ``definitions``
        (:func:`cinb.definitions.contract_definition_quality`: one row per contract).

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: ``Paragraphs`` with the portfolio figures and the elements most
        often missing (when there is a summary), and a ``Table`` with one row per contract (when there are rows).
    """
    d, s = r.definitions, r.definition_summary
    out = []
    if s:
        missing = sorted(s["missing_counts"].items(), key=lambda kv: -kv[1])
        out.append(Paragraphs([
            f"{s['well_defined']} of {plural(s['kpis'], 'KPI')} across {plural(s['contracts'], 'contract')} "
            f"{agree(s['well_defined'])} completely defined "
            f"({percent(s['share_well_defined'])}); the mean definition score is {s['mean_score']:.0f}%. "
            f"{plural(s['with_commitment'], 'KPI')} {agree(s['with_commitment'], 'carries', 'carry')} a CI "
            f"commitment ({percent(s['share_with_commitment'])}).",
            "Most often missing: " + ", ".join(f"{label} ({plural(n, 'KPI')})" for label, n in missing[:4] if n) + ".",
        ]))
    if len(d):
        out.append(Table(_definition_rows(d), caption="Definition quality by contract", row_header="Contract"))
    return out


def _definition_rows(d: pd.DataFrame) -> pd.DataFrame:
    """One readable row per contract (the analysis frame also has a share per definition element)."""
    def missing(row) -> str:
        if not row["most_missing"] or not row["most_missing_count"]:
            return NOTHING
        n = int(row["most_missing_count"])
        return f"{row['most_missing']} ({n} KPI{'s' if n != 1 else ''})"

    return pd.DataFrame({
        "Contract": d["contract_id"],
        "KPIs": d["kpis"].astype(int),
        "Fully defined": [f"{int(w)} ({percent(sh)})" for w, sh in zip(d["well_defined"], d["share_well_defined"])],
        "Mean score": [f"{v:.0f}%" for v in d["mean_score"]],
        "With CI commitment": d["with_commitment"].astype(int),
        "Most often missing": [missing(row) for _, row in d.iterrows()],
    })


def cpn_readiness(r: PortfolioReview) -> list:
    """What must be fixed before the next Contract Performance Notices (Procurement Act 2023 s.71, Procurement
    Regulations 2024 reg. 39).

    Parameters
    ----------
    r : PortfolioReview
        Reads ``cpn_problems`` (the problems of :func:`cinb.cpn.cpn_rows` over the review window: ``table``,
        ``row``, ``column``, ``value``, ``problem``, ``fix``).

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: ``Paragraphs`` counting the gaps and a ``Table`` of them; a good
        ``Callout`` when there is none.
    """
    p = r.cpn_problems
    if p is None or p.empty:
        return [Callout("Every statutory KPI has data and a target: the Contract Performance Notices can be "
                        "produced with `cinb cpn`.", "good")]
    cols = [c for c in ("table", "row", "column", "value", "problem", "fix") if c in p.columns]
    return [Paragraphs([f"{plural(len(p), 'gap')} to close before the next Contract Performance Notices "
                        "(Procurement Act 2023 s.71, Procurement Regulations 2024 reg. 39)."]),
            Table(p[cols].astype(str), caption="Contract Performance Notice readiness")]


class _Links(_HTMLObject):
    def __init__(self, items):
        self.items = items

    def to_html(self) -> str:
        lis = "".join(f'<li><a href="{html.escape(href, quote=True)}">{html.escape(text)}</a></li>'
                      for href, text in self.items)
        return f'<ul class="cinb-links">{lis}</ul>'


def links(r: PortfolioReview) -> list:
    """Links to each contract's review pack for the month (``<contract_id>/review.html``, relative to this pack).

    Parameters
    ----------
    r : PortfolioReview
        Reads ``reviews`` (each contract's ``contract_id``, ``title``, ``supplier``) and ``supplier`` (a supplier
        scorecard sits one folder deeper, so its links go up two folders instead of one).

    Returns
    -------
    list
        Display objects: ``Paragraphs`` from :mod:`cinb.display` and a list of links (``_Links``, an HTML list
        built on the same base class).
    """
    depth = "../../" if r.supplier else "../"
    items = [(f"{depth}{x.contract['contract_id']}/review.html",
              f"{x.contract['contract_id']} — {x.contract['title']} ({x.contract['supplier']})") for x in r.reviews]
    return [Paragraphs(["Each contract's review pack for this month (HTML; the PDF sits beside it)."]), _Links(items)]


def initiatives(r: PortfolioReview) -> list:
    """Improvement initiatives of every contract: status, due date, expected and realised benefit (GBP).

    Parameters
    ----------
    r : PortfolioReview
        Reads ``initiatives`` (the initiatives rows of the reviewed contracts).

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`: a ``Table``; ``Paragraphs`` when no initiative is recorded.
    """
    i = r.initiatives
    if i is None or i.empty:
        return [Paragraphs(["No improvement initiatives are recorded."])]
    return [Table(pd.DataFrame({
        "Contract": i["contract_id"], "ID": i["initiative_id"], "Title": i["title"],
        "Status": i["status"].str.replace("_", " "), "Due": _dates(i["due"]),
        "Expected benefit": [money(x, missing=DASH) for x in i["expected_benefit_gbp"]],
        "Realised benefit": [money(x, missing=DASH) for x in i["realised_benefit_gbp"]],
    }), caption="Improvement initiatives", row_header="ID")]


def appendix(r: PortfolioReview, parameters: dict | None = None) -> list:
    """The appendix: method notes and reproducibility stamp, as in a contract pack (:func:`cinb.sections.appendix`).

    Parameters
    ----------
    r : PortfolioReview
        Reads ``reviews``: the first contract review supplies the rating bands, ratchet rule, data hash and source
        the appendix prints.
    parameters : dict, optional
        The parameters the notebook received.

    Returns
    -------
    list
        Display objects of :mod:`cinb.display` (see :func:`cinb.sections.appendix`); empty when there is no review.
    """
    if not r.reviews:
        return []
    return _contract_appendix(r.reviews[0], parameters)

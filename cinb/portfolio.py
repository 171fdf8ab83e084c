"""The portfolio (or one supplier's) review for one month: every contract's review plus cross-contract views."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from .cpn import cpn_rows
from .definitions import contract_definition_quality, portfolio_definition_quality
from .labels import RATINGS
from .regimes import STATUS_WORD, status_word
from .review import ContractReview, _plain_dict, _records, as_period, contract_review, month_name

#: How far ahead the expiry and notice timeline looks.
TRIGGER_HORIZON_MONTHS = 18


@dataclass(frozen=True)
class PortfolioReview:
    """Reviews of several contracts for one month and the portfolio-wide tables built from them.

    Built by :func:`portfolio_review`; the comment on each field names where it comes from. A KPI's result is
    :func:`cinb.regimes.status_word` of its window row: its rating when a value was reported for the review
    month, else the month's status ("Not reported", "Not due", "No activity", …) — never an earlier month's
    rating.
    """

    period: pd.Period  # the review month
    reviews: list[ContractReview]  # cinb.review.contract_review(...) of each contract with data up to period
    supplier: str | None  # the supplier of a supplier scorecard; None for the whole portfolio
    audience: str  # "internal" or "supplier"
    ranking: pd.DataFrame  # rank, contract_id, title, supplier, score (0–100), overall, kpis, concerns; by score
    ratings: pd.DataFrame  # contract × KPI slot ("KPI 1", …) latest rating words
    rating_detail: pd.DataFrame  # one row per contract and KPI: contract_id, slot, kpi_id, kpi, rating
    concerns: pd.DataFrame  # KPIs whose latest XmR point is special-cause concern: contract_id, supplier, kpi, rule
    off_track: pd.DataFrame  # rows of cinb.commitments.commitment_status with status "off track", plus supplier
    credits: pd.DataFrame  # per contract: month_gbp, ytd_gbp, cap_hits_ytd, critical_failures (monthly_credits)
    triggers: pd.DataFrame  # ContractReview.trigger of contracts ending by period + TRIGGER_HORIZON_MONTHS, by end
    definitions: pd.DataFrame  # cinb.definitions.contract_definition_quality(all reviews' definitions)
    definition_summary: dict[str, Any]  # cinb.definitions.portfolio_definition_quality(...).to_dict(); {} if none
    cpn_problems: pd.DataFrame  # problems of cinb.cpn.cpn_rows(...) over the review window (default bands)
    initiatives: pd.DataFrame  # the reviewed contracts' initiatives rows, concatenated
    data_hash: str  # portfolio.data_hash: cinb.load.data_hash of the portfolio (or supplier) as loaded
    source: str  # str(portfolio.source): folder, workbook or URL without password

    @property
    def title(self) -> str:
        """The pack's title, e.g. ``"London Borough of X — portfolio review, Oct 2026"``.

        A supplier scorecard is titled ``"<supplier> — supplier scorecard, <month>"``; otherwise the authority
        of the first contract reviewed names it. With no contract reviewed the title starts "Portfolio".
        """
        who = self.supplier or self.reviews[0].contract["authority"] if self.reviews else "Portfolio"
        kind = "supplier scorecard" if self.supplier else "portfolio review"
        return f"{who} — {kind}, {month_name(self.period)}"

    def headline(self) -> dict[str, Any]:
        """The few numbers an index page or an overview needs.

        Returns
        -------
        dict
            ``contracts`` (reviewed), ``ratings`` ({rating word: number of KPIs} of the latest ratings),
            ``concerns`` (KPIs with special-cause concern), ``off_track`` (CI commitments), ``credits_month_gbp``
            and ``credits_ytd_gbp`` (service credits this month and in the contract years to date, GBP, rounded
            to pence).
        """
        counts: dict[str, int] = {}
        for r in self.reviews:
            for k in r.kpis:
                w = status_word(k.window)
                counts[w] = counts.get(w, 0) + 1
        order = [*RATINGS, *STATUS_WORD.values()]
        counts = {w: counts[w] for w in sorted(counts, key=lambda w: order.index(w) if w in order else len(order))}
        return {
            "contracts": len(self.reviews),
            "ratings": counts,
            "concerns": int(len(self.concerns)),
            "off_track": int(len(self.off_track)),
            "credits_month_gbp": round(float(self.credits["month_gbp"].sum()), 2) if len(self.credits) else 0.0,
            "credits_ytd_gbp": round(float(self.credits["ytd_gbp"].sum()), 2) if len(self.credits) else 0.0,
        }

    def to_pack(self) -> dict[str, Any]:
        """The pack's figures as plain JSON-able values: what the portfolio pack's ``pack.json`` holds.

        Returns
        -------
        dict
            ``schema`` ("cinb.portfolio-pack/1"), ``period``, ``supplier``, ``headline`` (:meth:`headline`),
            ``ranking``, ``ratings`` (from ``rating_detail``), ``concerns``, ``off_track``, ``credits``,
            ``triggers`` and ``cpn_problems`` as lists of records, ``definitions`` (``definition_summary``),
            ``reproducibility`` (data hash and source) and ``render`` (title, subtitle, running header). NaN and
            NaT become None, months and dates ISO text.
        """
        return {
            "schema": "cinb.portfolio-pack/1",
            "period": str(self.period),
            "supplier": self.supplier,
            "headline": self.headline(),
            "ranking": _records(self.ranking),
            "ratings": _records(self.rating_detail),
            "concerns": _records(self.concerns),
            "off_track": _records(self.off_track),
            "credits": _records(self.credits),
            "triggers": _records(self.triggers),
            "definitions": _plain_dict(self.definition_summary),
            "cpn_problems": _records(self.cpn_problems),
            "reproducibility": {"data_hash": self.data_hash, "source": self.source},
            "render": {"title": self.title,
                       "subtitle": f"{len(self.reviews)} contracts",
                       "running_header": self.title},
        }


def portfolio_review(portfolio, period, *, window_months: int = 12, audience: str = "internal",
                     ratchet_months: int = 12, ratchet_share: float = 0.5,
                     supplier: str | None = None, bands=None, spc_min_points: int | None = None) -> PortfolioReview:
    """Review every contract of ``portfolio`` for ``period`` and build the cross-contract tables.

    Contracts that had not started by ``period`` or have no data up to it are left out (and named in
    ``PortfolioReview.ranking`` with no score).

    Parameters
    ----------
    portfolio : Portfolio
        A loaded portfolio (:func:`cinb.load.load_portfolio`), or one supplier's part of it
        (``Portfolio.supplier(name)``).
    period : str or Period
        The review month, ``YYYY-MM``.
    window_months, audience, ratchet_months, ratchet_share, bands, spc_min_points
        Passed to :func:`cinb.review.contract_review` for every contract (None: its defaults).
    supplier : str, optional
        The supplier's name for a supplier scorecard (it titles the pack; it does not filter ``portfolio``).

    Returns
    -------
    PortfolioReview

    Raises
    ------
    UsageError
        A malformed month, or an argument :func:`cinb.review.contract_review` refuses.
    """
    p = as_period(period)
    reviews = []
    skipped = []
    for cid in portfolio.contracts["contract_id"]:
        sub = portfolio.contract(cid)
        if sub.measurements.empty or sub.measurements["period"].min() > p:
            skipped.append(cid)
            continue
        reviews.append(contract_review(portfolio, cid, p, window_months=window_months, audience=audience,
                                       ratchet_months=ratchet_months, ratchet_share=ratchet_share, bands=bands,
                                       **({} if spc_min_points is None else {"spc_min_points": spc_min_points})))
    ranking = pd.DataFrame([{
        "contract_id": r.contract["contract_id"], "title": r.contract["title"], "supplier": r.contract["supplier"],
        "score": r.scorecard.get("score"), "overall": r.scorecard.get("rating"),
        "kpis": len(r.kpis),
        "concerns": sum(k.spc.variation == "special_cause_concern" for k in r.kpis),
    } for r in reviews] + [{"contract_id": c, "title": None, "supplier": None, "score": None,
                             "overall": "Other", "kpis": 0, "concerns": 0} for c in skipped])
    if len(ranking):
        ranking = ranking.sort_values("score", ascending=False, na_position="last").reset_index(drop=True)
        ranking.insert(0, "rank", range(1, len(ranking) + 1))
    # KPI ids differ between contracts, so the grid's columns are each contract's KPIs in its own order
    # ("KPI 1", "KPI 2", …); rating_detail names every cell's KPI for the table beside the chart.
    ratings = pd.DataFrame({r.contract["contract_id"]: {f"KPI {i + 1}": status_word(k.window)
                                                         for i, k in enumerate(r.kpis)} for r in reviews}).T
    rating_detail = pd.DataFrame([{
        "contract_id": r.contract["contract_id"], "slot": f"KPI {i + 1}", "kpi_id": k.kpi_id, "kpi": k.name,
        "rating": status_word(k.window),
    } for r in reviews for i, k in enumerate(r.kpis)], columns=["contract_id", "slot", "kpi_id", "kpi", "rating"])
    concerns = pd.DataFrame([{
        "contract_id": r.contract["contract_id"], "supplier": r.contract["supplier"], "kpi_id": k.kpi_id,
        "kpi": k.name, "rule": k.spc.points.dropna(subset=["value"])["rule"].iloc[-1],
    } for r in reviews for k in r.kpis if k.spc.variation == "special_cause_concern"],
        columns=["contract_id", "supplier", "kpi_id", "kpi", "rule"])
    off = [r.commitments.assign(supplier=r.contract["supplier"]) for r in reviews
           if len(r.commitments) and (r.commitments["status"] == "off track").any()]
    off_track = (pd.concat(off)[lambda d: d["status"] == "off track"].reset_index(drop=True) if off
                 else pd.DataFrame(columns=["contract_id", "kpi_id", "name", "expected_now", "actual_now", "gap",
                                            "due", "unit", "supplier"]))
    credits = pd.DataFrame([{
        "contract_id": r.contract["contract_id"], "supplier": r.contract["supplier"],
        "month_gbp": float(r.credits_monthly.loc[r.credits_monthly["period"] == p, "credit_gbp"].sum()),
        "ytd_gbp": float(r.credits_ytd.get("credits_gbp") or 0.0),
        "cap_hits_ytd": int(r.credits_ytd.get("cap_hits") or 0),
        "critical_failures": int(r.credits_monthly.loc[r.credits_monthly["period"] == p, "critical_failures"].sum()),
    } for r in reviews], columns=["contract_id", "supplier", "month_gbp", "ytd_gbp", "cap_hits_ytd",
                                  "critical_failures"])
    horizon_end = (p + TRIGGER_HORIZON_MONTHS).end_time
    triggers = pd.DataFrame([{
        "contract_id": r.contract["contract_id"], "title": r.contract["title"], "supplier": r.contract["supplier"],
        "notice_date": pd.Timestamp(r.trigger["notice_date"]) if r.trigger["notice_date"] else pd.NaT,
        "end_date": pd.Timestamp(r.trigger["end_date"]), "months_left": r.trigger["months_left"],
        "notice_passed": r.trigger["notice_passed"],
    } for r in reviews], columns=["contract_id", "title", "supplier", "notice_date", "end_date", "months_left",
                                  "notice_passed"])
    triggers = triggers[triggers["end_date"] <= horizon_end].sort_values("end_date").reset_index(drop=True)
    dq = pd.concat([r.definitions for r in reviews], ignore_index=True) if reviews else pd.DataFrame()
    dq_summary = portfolio_definition_quality(dq).to_dict() if len(dq) else {}
    start = p - (window_months - 1)
    _, cpn_problems = cpn_rows(portfolio.contracts, portfolio.kpis, portfolio.measurements[
        portfolio.measurements["period"] <= p], start, p)
    inits = pd.concat([r.initiatives for r in reviews], ignore_index=True) if reviews else pd.DataFrame()
    return PortfolioReview(
        period=p, reviews=reviews, supplier=supplier, audience=audience, ranking=ranking, ratings=ratings,
        rating_detail=rating_detail,
        concerns=concerns, off_track=off_track, credits=credits, triggers=triggers,
        definitions=contract_definition_quality(dq) if len(dq) else pd.DataFrame(), definition_summary=dq_summary,
        cpn_problems=cpn_problems, initiatives=inits, data_hash=portfolio.data_hash, source=str(portfolio.source),
    )

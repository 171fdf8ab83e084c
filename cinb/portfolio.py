"""The portfolio (or one supplier's) review for one month: every contract's review plus cross-contract views."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .commitments import ratchet_proposals
from .cpn import cpn_rows
from .definitions import contract_definition_quality, portfolio_definition_quality
from .labels import RATINGS
from .ratings import DEFAULT_BANDS, RatingBands
from .regimes import STATUS_WORD, status_word
from .review import ContractReview, _plain_dict, _records, as_period, contract_review, month_name
from .review_many import LazyReview, portfolio_pass
from .verdict import portfolio_verdict
from .formatting import plural

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
    reviews: list[LazyReview | ContractReview]  # each contract with data up to period: a LazyReview (cinb.review_many:
    #   the pack's parts from the portfolio pass, the rest of contract_review(...) on first use); ContractReviews
    #   from the per-contract reference path (_portfolio_review_per_contract)
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
        for w in self.rating_detail["rating"]:  # status_word(k.window) of every KPI of every review, in order
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
            ``verdict`` (:func:`cinb.verdict.portfolio_verdict`),
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
            "verdict": portfolio_verdict(self),  # the verdict block's figures (cinb.verdict)
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
                       "subtitle": plural(len(self.reviews), "contract"),
                       "running_header": self.title},
        }


def portfolio_review(portfolio, period, *, window_months: int = 12, audience: str = "internal",
                     ratchet_months: int = 12, ratchet_share: float = 0.5,
                     supplier: str | None = None, bands=None, spc_min_points: int | None = None) -> PortfolioReview:
    """Review every contract of ``portfolio`` for ``period`` and build the cross-contract tables.

    Contracts that had not started by ``period`` or have no data up to it are left out (and named in
    ``PortfolioReview.ranking`` with no score). The figures come from one vectorised pass over the whole
    portfolio (:func:`cinb.review_many.portfolio_pass`), the same figures one
    :func:`cinb.review.contract_review` per contract gives (``tests/test_portfolio_pass.py``) in a few seconds
    for a thousand contracts instead of minutes; ``reviews`` holds a :class:`cinb.review_many.LazyReview` per
    contract, which computes the rest of that contract's review only when something asks for it.

    Parameters
    ----------
    portfolio : Portfolio
        A loaded portfolio (:func:`cinb.load.load_portfolio`), or one supplier's part of it
        (``Portfolio.supplier(name)``).
    period : str or Period
        The review month, ``YYYY-MM``.
    window_months, audience, ratchet_months, ratchet_share, bands, spc_min_points
        As for :func:`cinb.review.contract_review` for every contract (None: its defaults).
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
    bands = DEFAULT_BANDS if bands is None else (RatingBands.from_dict(bands) if isinstance(bands, dict) else bands)
    figures = portfolio_pass(portfolio, p, window_months=window_months, bands=bands, audience=audience,
                             **({} if spc_min_points is None else {"spc_min_points": spc_min_points}))
    kwargs = dict(window_months=window_months, audience=audience, ratchet_months=ratchet_months,
                  ratchet_share=ratchet_share,
                  **({} if spc_min_points is None else {"spc_min_points": spc_min_points}))
    c, k, w, s = figures.contracts, figures.kpis, figures.windows, figures.spc
    if len(c):  # the arguments the per-contract reviews would refuse, refused with the same message
        ratchet_proposals(k.iloc[0:0], pd.DataFrame(columns=["contract_id", "kpi_id", "period", "value"]), p,
                          ratchet_months, ratchet_share)
    reviews = [LazyReview(portfolio, figures, cid, kwargs) for cid in c["contract_id"]]
    skipped = figures.skipped
    supplier_of = dict(zip(c["contract_id"], c["supplier"]))
    concern = (s["variation"] == "special_cause_concern").to_numpy(dtype=bool)
    n_concerns = pd.Series(concern, index=k["contract_id"].to_numpy(dtype=object)).groupby(level=0, sort=False).sum()
    n_kpis = k.groupby("contract_id", sort=False).size()
    card = figures.scorecard.set_index("contract_id")
    ranking = pd.DataFrame([{
        "contract_id": cid, "title": title, "supplier": sup,
        "score": card["score"].get(cid) if cid in card.index else None,
        "overall": card["rating"].get(cid) if cid in card.index else None,
        "kpis": int(n_kpis.get(cid, 0)), "concerns": int(n_concerns.get(cid, 0)),
    } for cid, title, sup in zip(c["contract_id"], c["title"], c["supplier"])]
        + [{"contract_id": x, "title": None, "supplier": None, "score": None,
            "overall": "Other", "kpis": 0, "concerns": 0} for x in skipped])
    if len(ranking):
        ranking = ranking.sort_values("score", ascending=False, na_position="last").reset_index(drop=True)
        ranking.insert(0, "rank", range(1, len(ranking) + 1))
    grid: dict = {}
    for cid, slot, word in zip(k["contract_id"], k["slot"], w["result"]):
        grid.setdefault(cid, {})[slot] = word
    ratings = pd.DataFrame({cid: grid.get(cid, {}) for cid in c["contract_id"]}).T
    rating_detail = pd.DataFrame({"contract_id": k["contract_id"].to_numpy(dtype=object),
                                  "slot": k["slot"].to_numpy(dtype=object),
                                  "kpi_id": k["kpi_id"].to_numpy(dtype=object),
                                  "kpi": k["name"].to_numpy(dtype=object),
                                  "rating": w["result"].to_numpy(dtype=object)},
                                 columns=["contract_id", "slot", "kpi_id", "kpi", "rating"])
    concerns = pd.DataFrame({"contract_id": k["contract_id"].to_numpy(dtype=object)[concern],
                             "supplier": [supplier_of[x] for x in k["contract_id"].to_numpy(dtype=object)[concern]],
                             "kpi_id": k["kpi_id"].to_numpy(dtype=object)[concern],
                             "kpi": k["name"].to_numpy(dtype=object)[concern],
                             "rule": s["rule"].to_numpy(dtype=object)[concern]},
                            columns=["contract_id", "supplier", "kpi_id", "kpi", "rule"])
    cm = figures.commitments
    off_rows = (cm["status"] == "off track").to_numpy(dtype=bool) if len(cm) else np.zeros(0, dtype=bool)
    if off_rows.any():
        off_track = cm[off_rows].assign(supplier=[supplier_of[x] for x in cm.loc[off_rows, "contract_id"]])
        off_track = off_track.reset_index(drop=True)
    else:
        off_track = pd.DataFrame(columns=["contract_id", "kpi_id", "name", "expected_now", "actual_now", "gap",
                                          "due", "unit", "supplier"])
    mc = figures.credits_monthly
    this_month = mc[(mc["period"] == p).to_numpy(dtype=bool)].groupby("contract_id", sort=False)
    month_gbp, month_cslf = this_month["credit_gbp"].sum(), this_month["critical_failures"].sum()
    ytd = figures.credits_ytd.set_index("contract_id")
    credits = pd.DataFrame([{
        "contract_id": cid, "supplier": sup,
        "month_gbp": float(month_gbp.get(cid, 0.0)),
        "ytd_gbp": float(ytd["credits_gbp"].get(cid) or 0.0) if cid in ytd.index else 0.0,
        "cap_hits_ytd": int(ytd["cap_hits"].get(cid) or 0) if cid in ytd.index else 0,
        "critical_failures": int(month_cslf.get(cid, 0)),
    } for cid, sup in zip(c["contract_id"], c["supplier"])],
        columns=["contract_id", "supplier", "month_gbp", "ytd_gbp", "cap_hits_ytd", "critical_failures"])
    triggers = _triggers(reviews, p)
    dq = figures.definitions if reviews else pd.DataFrame()
    dq_summary = portfolio_definition_quality(dq).to_dict() if len(dq) else {}
    start = p - (window_months - 1)
    _, cpn_problems = cpn_rows(portfolio.contracts, portfolio.kpis, portfolio.measurements[
        portfolio.measurements["period"] <= p], start, p)
    inits = figures.initiatives if reviews else pd.DataFrame()
    return PortfolioReview(
        period=p, reviews=reviews, supplier=supplier, audience=audience, ranking=ranking, ratings=ratings,
        rating_detail=rating_detail,
        concerns=concerns, off_track=off_track, credits=credits, triggers=triggers,
        definitions=contract_definition_quality(dq) if len(dq) else pd.DataFrame(), definition_summary=dq_summary,
        cpn_problems=cpn_problems, initiatives=inits, data_hash=portfolio.data_hash, source=str(portfolio.source),
    )


def _portfolio_review_per_contract(portfolio, period, *, window_months: int = 12, audience: str = "internal",
                                   ratchet_months: int = 12, ratchet_share: float = 0.5, supplier: str | None = None,
                                   bands=None, spc_min_points: int | None = None) -> PortfolioReview:
    """The reference (slow) path of :func:`portfolio_review`: one whole :func:`cinb.review.contract_review` per
    contract, then the cross-contract tables built from those reviews (about 0.2 s a contract).

    Kept to check the vectorised pass against (``tests/test_portfolio_pass.py``) and as the benchmark's baseline
    (``benchmarks/bench_portfolio.py --baseline``); its ``reviews`` are real :class:`ContractReview` objects.
    Parameters, result and errors are :func:`portfolio_review`'s.
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
    triggers = _triggers(reviews, p)
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


def _triggers(reviews, p: pd.Period) -> pd.DataFrame:
    """Contracts ending within TRIGGER_HORIZON_MONTHS of ``p``, soonest first: each review's ``trigger`` (notice
    and end dates, months left) with its contract's id, title and supplier."""
    horizon_end = (p + TRIGGER_HORIZON_MONTHS).end_time
    triggers = pd.DataFrame([{
        "contract_id": r.contract["contract_id"], "title": r.contract["title"], "supplier": r.contract["supplier"],
        "notice_date": pd.Timestamp(r.trigger["notice_date"]) if r.trigger["notice_date"] else pd.NaT,
        "end_date": pd.Timestamp(r.trigger["end_date"]), "months_left": r.trigger["months_left"],
        "notice_passed": r.trigger["notice_passed"],
    } for r in reviews], columns=["contract_id", "title", "supplier", "notice_date", "end_date", "months_left",
                                  "notice_passed"])
    return triggers[triggers["end_date"] <= horizon_end].sort_values("end_date").reset_index(drop=True)

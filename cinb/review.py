"""One contract's review for one month: every analysis the pack shows, computed once, as plain results.

The notebooks call :func:`contract_review` and display its parts; ``pack.json`` is :meth:`ContractReview.to_pack`,
so the numbers a reader sees and the machine-readable figures are the same numbers.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import commentary as _commentary
from . import spc
from .commitments import commitment_status, expected_level, ratchet_proposals, ratchet_rule
from .credits import credit_lines, monthly_credits, year_to_date
from .definitions import definition_quality, runnable_definitions
from .config import AUDIENCES
from .errors import UsageError
from .periods import month_name, to_month
from .initiatives import InitiativeSummary, initiative_effects, initiative_summary
from .ratings import DEFAULT_BANDS, RatingBands, scorecard, service_levels, window_ratings
from .spc_rebase import MIN_POINTS, RebasePlan, rebase_plan, suggest_rebase, too_few_points
from .labels import RATINGS
from .reconcile import RATE_ON, parse_tolerance, rating_measurements, reconcile, tolerance_text
from .regimes import STATUS_WORD, due_months, kpi_calendar, period_status, status_word
from .trends import TrendSummary, trend_summary
from .verdict import contract_verdict

#: A return received more than this many days after the end of its month counts as late.
LATE_AFTER_DAYS = 15
#: Months of history drawn on each XmR chart.
HISTORY_MONTHS = 36
def as_period(value, what: str = "period") -> pd.Period:
    """A required month (see :func:`cinb.periods.to_month`)."""
    return to_month(value, what)


@dataclass(frozen=True)
class KpiReview:
    """Everything the pack shows for one KPI, built by :func:`contract_review`.

    The comment on each field names the function that computes it. ``meas`` is the contract's measurements
    (highest revision of each month) up to the review month; the *charted months* run from the later of the
    contract's first reported month and ``HISTORY_MONTHS - 1`` months before the review month, to the review
    month; the *review window* is ``ContractReview.window_start`` to ``ContractReview.period``.
    """

    kpi: dict[str, Any]  # the KPI's row of Portfolio.kpis (cinb.load.load_portfolio), every column
    series: pd.Series  # meas values over the charted months (PeriodIndex); NaN: no row or an empty value
    spc: spc.XmrResult  # cinb.spc.xmr(series, improvement=direction, target=kpi["target"]): one group
    trend: TrendSummary  # cinb.trends.trend_summary(series in the review window, kpi direction, unit=kpi unit)
    window: dict[str, Any]  # the KPI's row of cinb.ratings.window_ratings(...) (ContractReview.window_ratings)
    commitment: dict[str, Any] | None  # its row of cinb.commitments.commitment_status(...); None: no commitment
    trajectory: pd.Series | None  # cinb.commitments.expected_level(kpi, charted months, contract); None: none
    ratchet: dict[str, Any] | None  # its row of cinb.commitments.ratchet_proposals(...); None: not eligible
    annotations: list[tuple[pd.Period, str]]  # (month, "Delivered: <title>") of its initiatives, charted months
    missing_months: list[str]  # "YYYY-MM" due months of the KPI's window (in force, from its start) with no row
    not_reported_months: list[str]  # "YYYY-MM" due months of the KPI's window whose row has an empty value
    #   (not counting months with no activity: empty value and volume 0)
    rebase: RebasePlan | None = None  # cinb.spc_rebase.rebase_plan(series months, the KPI's process_changes)
    suggested_rebase: dict[str, Any] | None = None  # cinb.spc_rebase.suggest_rebase(...): a shift not recorded
    too_few: tuple[int, int] | None = None  # cinb.spc_rebase.too_few_points: (values, needed) → no SPC verdict
    status: str = "reported"  # window["period_status"]: the review month's status (cinb.regimes.PERIOD_STATUSES)
    frequency: str = "monthly"  # the KPI's frequency (empty = monthly)
    months: list[dict[str, Any]] = field(default_factory=list)  # per due month charted: period, status, value,
    #   volume, note (every due month of the charted range in force, including those with no point on the chart)
    paragraph: str = ""  # cinb.commentary.kpi_paragraph(self), filled in by cinb.commentary.annotate

    @property
    def kpi_id(self) -> str:
        """The KPI's ``kpi_id`` (unique within its contract)."""
        return self.kpi["kpi_id"]

    @property
    def name(self) -> str:
        """The KPI's ``name`` as the data gives it."""
        return self.kpi["name"]


@dataclass(frozen=True)
class ContractReview:
    """The whole review of one contract for one month (see :func:`contract_review`).

    The comment on each field names the function that computes it, with the arguments
    :func:`contract_review` passes: ``contracts``, ``kpis``, ``initiatives`` and ``history`` are the contract's
    rows of the portfolio (``Portfolio.contract(contract_id)``), ``meas`` its measurements (highest revision of
    each month) up to ``period``. Frames' columns are listed in each function's docstring.
    """

    contract: dict[str, Any]  # the contract's row of Portfolio.contracts, every column (extra ones as text)
    period: pd.Period  # the review month (as_period)
    window_start: pd.Period  # first month of the review window: period - (window_months - 1), or the contract's
    #   first month when it started later (a window never runs before the contract)
    audience: str  # "internal" or "supplier" (cinb.config.AUDIENCES)
    bands: RatingBands  # the rating rules (cinb.ratings.DEFAULT_BANDS unless given)
    kpis: list[KpiReview]  # one per KPI, in the order of the kpis table
    window_ratings: pd.DataFrame  # cinb.ratings.window_ratings(kpis, meas, window_start, period, bands)
    monthly_levels: pd.DataFrame  # cinb.ratings.service_levels(kpis, meas, bands): every month up to period
    scorecard: dict[str, Any]  # the contract's row of cinb.ratings.scorecard(window_ratings, kpis); {} if none
    commitments: pd.DataFrame  # cinb.commitments.commitment_status(kpis, meas, contracts, period)
    ratchets: pd.DataFrame  # cinb.commitments.ratchet_proposals(kpis, meas, period, ratchet_months, share)
    ratchet_rule: str  # cinb.commitments.ratchet_rule(ratchet_months, ratchet_share)
    credit_lines: pd.DataFrame  # cinb.credits.credit_lines(contracts, kpis, meas, bands=credit_bands): per KPI and
    #   month, before pro-rating, failure rules and the cap
    credits_monthly: pd.DataFrame  # cinb.credits.monthly_credits(..., lines=credit_lines, rules=critical_failure_rules)
    credits_ytd: dict[str, Any]  # the contract's row of cinb.credits.year_to_date(credits_monthly, period); {}
    initiatives: pd.DataFrame  # the contract's rows of Portfolio.initiatives
    initiative_summary: InitiativeSummary  # cinb.initiatives.initiative_summary(initiatives, period)
    initiative_effects: pd.DataFrame  # cinb.initiatives.initiative_effects(initiatives, kpis, meas)
    definitions: pd.DataFrame  # cinb.definitions.definition_quality(kpis, runnable_definitions(definitions, source))
    late_returns: pd.DataFrame  # _late_returns(meas, window_start, period): kpi_id, period, submitted_on, days_late
    restatements: pd.DataFrame  # _restatements(history, period): each superseded revision beside the one used
    accounting: pd.DataFrame  # Portfolio.contract(contract_id).accounting: read, used, superseded, rejected
    data_warnings: pd.DataFrame  # Portfolio.contract(contract_id).warnings: the loader's warnings
    trigger: dict[str, Any]  # _trigger(contract, period): start, end and notice dates, months elapsed and left
    data_hash: str  # Portfolio.contract(contract_id).data_hash: cinb.load.data_hash of this contract's rows
    source: str  # str(portfolio.source): folder, workbook or URL without password
    summary: list[str] = field(default_factory=list)  # cinb.commentary.summary_sentences, via annotate
    questions: list[str] = field(default_factory=list)  # cinb.commentary.meeting_questions, via annotate
    window_months: int = 12  # the window length asked for (window_start may be later: see window_start)
    reconciliation: pd.DataFrame = field(default_factory=pd.DataFrame)  # cinb.reconcile.reconcile(kpis, reported
    #   meas, derived rows up to period, tolerance): every KPI and month with both a reported and a derived row
    reconcile_tolerance: str = ""  # cinb.reconcile.tolerance_text for the units of the contract's KPIs
    rate_on: str = "reported"  # which figures the ratings use (cinb.reconcile.RATE_ON)

    @property
    def title(self) -> str:
        """The pack's title, e.g. ``"Service desk — review pack, Oct 2026"`` (contract title, review month)."""
        return f"{self.contract['title']} — review pack, {month_name(self.period)}"

    def to_pack(self) -> dict[str, Any]:
        """The pack's figures as plain JSON-able values (what ``pack.json`` holds)."""
        kpis = []
        for k in self.kpis:
            w = k.window
            kpis.append({
                "kpi_id": k.kpi_id, "name": k.name, "unit": k.kpi.get("unit"), "direction": k.kpi.get("direction"),
                "sla": _plain(k.kpi.get("sla")), "target": _plain(k.kpi.get("target")),
                "latest_period": _plain(w.get("latest_period")), "latest_value": _plain(w.get("latest_value")),
                "latest_rating": w.get("latest_rating"), "window_value": _plain(w.get("value")),
                "window_rating": w.get("rating"), "compliance_sla": _plain(w.get("compliance_sla")),
                "compliance_target": _plain(w.get("compliance_target")),
                "spc": _spc_summary(k), "trend": {"verdict": k.trend.verdict,
                                                  "slope_per_month": _plain(k.trend.slope_per_month),
                                                  "p_value": _plain(k.trend.p_value), "n": k.trend.n},
                "commitment": _plain_dict(k.commitment) if k.commitment else None,
                "ratchet": _plain_dict(k.ratchet) if k.ratchet else None,
                "missing_months": k.missing_months, "not_reported_months": k.not_reported_months,
                "frequency": k.frequency, "period_status": k.status,
                "period_value": _plain(w.get("period_value")), "period_rating": w.get("period_rating"),
                "period_note": w.get("period_note"),
                "window": {"start": _plain(w.get("window_start")), "end": _plain(w.get("window_end")),
                           "periods_due": _plain(w.get("periods_due")),
                           "periods_reported": _plain(w.get("months_reported")),
                           "periods_no_activity": _plain(w.get("periods_no_activity")),
                           "periods_incomplete": _plain(w.get("periods_incomplete")),
                           "aggregation": w.get("aggregation_used"), "volume": _plain(w.get("volume")),
                           "volume_unit": _plain(k.kpi.get("volume_unit")),
                           "periods_met_sla": _plain(w.get("periods_met_sla")),
                           "periods_met_target": _plain(w.get("periods_met_target"))},
                "periods": [_plain_dict(x) for x in k.months],
                "paragraph": k.paragraph,
            })
        ym = self.credits_monthly[self.credits_monthly["period"] == self.period]
        month_credit = float(ym["credit_gbp"].sum()) if len(ym) else 0.0
        return {
            "schema": "cinb.contract-pack/1",
            "contract": _plain_dict(self.contract),
            "period": str(self.period),
            "window": {"start": str(self.window_start), "end": str(self.period), "months_asked": self.window_months,
                       "clipped_to_contract_start": bool(self.window_start > self.period - (self.window_months - 1))},
            "audience": self.audience,
            "headline": self.headline(),
            "verdict": contract_verdict(self),  # the verdict block's figures (cinb.verdict)
            "scorecard": _plain_dict(self.scorecard),
            "kpis": kpis,
            "credits": {"month_gbp": round(month_credit, 2), "year_to_date": _plain_dict(self.credits_ytd),
                        "monthly": _records(self.credits_monthly)},
            "commitments": _records(self.commitments),
            "ratchets": _records(self.ratchets),
            "initiatives": {"counts": {k: int(v) for k, v in self.initiative_summary.counts.items()},
                            "overdue": _records(self.initiative_summary.overdue),
                            "expected_benefit_gbp": _plain(self.initiative_summary.expected_benefit_gbp),
                            "realised_benefit_gbp": _plain(self.initiative_summary.realised_benefit_gbp),
                            "effects": _records(self.initiative_effects)},
            "definitions": _records(self.definitions),
            # The months where the supplier's figure and the records disagree beyond the tolerance (cinb.reconcile).
            "reconciliation": _reconciliation(self.reconciliation),
            "reconciliation_summary": _reconciliation_summary(self),
            "data_quality": {"late_returns": _records(self.late_returns),
                             "restatements": _records(self.restatements),
                             "accounting": _records(self.accounting),
                             "warnings": _records(self.data_warnings)},
            "trigger": _plain_dict(self.trigger),
            "summary": self.summary,
            "questions": self.questions,
            "bands": self.bands.describe(),
            "reproducibility": {"data_hash": self.data_hash,
                                "source": self.source if self.audience == "internal" else Path(self.source).name},
            "render": {"title": self.title, "subtitle": f"{self.contract['supplier']} · {self.contract['authority']}",
                       "running_header": f"{self.contract['contract_id']} · {self.contract['title']}"},
        }

    def headline(self) -> dict[str, Any]:
        """The few numbers an index page or a portfolio view needs."""
        ratings = [status_word(k.window) for k in self.kpis]
        ym = self.credits_monthly[self.credits_monthly["period"] == self.period]
        return {
            "contract_id": self.contract["contract_id"],
            "supplier": self.contract["supplier"],
            "score": _plain(self.scorecard.get("score")),
            "overall": self.scorecard.get("rating"),
            "ratings": {r: ratings.count(r) for r in sorted(dict.fromkeys(ratings), key=_result_order)},
            "concerns": sum(k.spc.variation == "special_cause_concern" for k in self.kpis),
            "off_track": int((self.commitments["status"] == "off track").sum()) if len(self.commitments) else 0,
            "credits_month_gbp": round(float(ym["credit_gbp"].sum()) if len(ym) else 0.0, 2),
            "months_left": self.trigger.get("months_left"),
        }


def contract_review(portfolio, contract_id: str, period, *, window_months: int = 12,
                    bands: RatingBands | dict | None = None, audience: str = "internal",
                    ratchet_months: int = 12, ratchet_share: float = 0.5,
                    history_months: int = HISTORY_MONTHS, spc_min_points: int = MIN_POINTS,
                    reconcile_tolerance=None, rate_on: str = "reported", definitions=None) -> ContractReview:
    """Compute every analysis of one contract for the month ``period``.

    Only data up to and including ``period`` is used, so a past month's pack can be regenerated as it was.

    Parameters
    ----------
    portfolio : Portfolio
        A loaded portfolio (:func:`cinb.load.load_portfolio`).
    contract_id : str
        The contract to review.
    period : str or Period
        The review month, ``YYYY-MM``.
    window_months : int, default 12
        Length of the review window (ratings over a period, compliance, trends, missing and late returns).
    bands : RatingBands or dict, optional
        Rating rules; default :data:`cinb.ratings.DEFAULT_BANDS`.
    audience : {"internal", "supplier"}
        Recorded on the review; sections leave internal-only material out of supplier packs.
    ratchet_months, ratchet_share : int, float
        Passed to :func:`cinb.commitments.ratchet_proposals` (default 12 months, halfway).
    history_months : int, default 36
        Months of history in each KPI's series and XmR chart.
    spc_min_points : int, default :data:`cinb.spc_rebase.MIN_POINTS`
        Fewest values a KPI's chart needs before its limits carry a variation or assurance verdict.
    reconcile_tolerance : str or dict, optional
        How far a derived figure may be from the reported one before the month is flagged
        (:func:`cinb.reconcile.parse_tolerance`; default :data:`cinb.reconcile.DEFAULT_TOLERANCES`).
    rate_on : {"reported", "derived"}, default "reported"
        Which figures the ratings, charts, commitments and credits use: the supplier's (the contract's basis),
        or the figures derived from the records where a KPI and month has one
        (:func:`cinb.reconcile.rating_measurements`).
    definitions : path, dict or Definitions, optional
        The KPI definitions file (``cinb derive``'s YAML); default ``derive.yml`` beside the data when the data
        is a folder holding one (:func:`cinb.definitions.runnable_definitions`). A KPI defined there counts as
        defined in the definition quality, and the appendix prints its definition.

    Returns
    -------
    ContractReview
        Every figure of the pack, with the commentary filled in (:func:`cinb.commentary.annotate`).

    Raises
    ------
    UsageError
        An unknown audience or contract id, a ``window_months`` that is not a whole number ≥ 1, a malformed
        month, a contract with no measurements up to ``period``, a malformed ``reconcile_tolerance`` or an
        unknown ``rate_on``.

    Examples
    --------
    >>> from cinb import load_portfolio, contract_review
    >>> r = contract_review(load_portfolio(), "NB-SD-001", "2026-10")
    >>> r.contract["supplier"]
    'Meridian Service Desk Ltd'
    """
    if audience not in AUDIENCES:
        raise UsageError(f"audience must be one of {', '.join(AUDIENCES)}, not {audience!r}")
    if not isinstance(window_months, (int, np.integer)) or window_months < 1:
        raise UsageError(f"window_months must be a whole number of at least 1, not {window_months!r}")
    bands = DEFAULT_BANDS if bands is None else (RatingBands.from_dict(bands) if isinstance(bands, dict) else bands)
    p = as_period(period)
    sub = portfolio.contract(contract_id)
    contract = sub.contracts.iloc[0].to_dict()
    kpis = sub.kpis.reset_index(drop=True)
    if rate_on not in RATE_ON:
        raise UsageError(f"rate_on must be one of {', '.join(RATE_ON)}, not {rate_on!r}")
    tolerances = parse_tolerance(reconcile_tolerance)
    reported = sub.measurements[sub.measurements["period"] <= p].reset_index(drop=True)
    derived = getattr(sub, "derived", None)  # the authority's figures from records (origin derived), if any
    derived = reported.iloc[0:0] if derived is None or not len(derived) else \
        derived[derived["period"] <= p].reset_index(drop=True)
    meas = rating_measurements(reported, derived, rate_on)
    if meas.empty:
        raise UsageError(f"contract {contract_id} has no measurements up to {p}: choose a later period")
    contract_first = pd.Period(contract["start_date"], "M")
    # A window never runs before the contract: a contract that began in January is reviewed from January.
    start = max(p - (window_months - 1), contract_first)

    levels = service_levels(kpis, meas, bands)
    windows = window_ratings(kpis, meas, start, p, bands, contracts=sub.contracts)
    card = scorecard(windows, kpis)
    card_row = card.iloc[0].to_dict() if len(card) else {}
    commitments = commitment_status(kpis, meas, sub.contracts, p)
    ratchets = ratchet_proposals(kpis, meas, p, months=ratchet_months, share=ratchet_share)
    credit_bands = getattr(sub, "credit_bands", None)
    failure_rules = getattr(sub, "critical_failure_rules", None)
    lines = credit_lines(sub.contracts, kpis, meas, bands=credit_bands)
    monthly = monthly_credits(sub.contracts, kpis, meas, lines=lines, rules=failure_rules)
    ytd = year_to_date(monthly, p)
    inits = sub.initiatives.reset_index(drop=True)
    isum = initiative_summary(inits, p)
    effects = initiative_effects(inits, kpis, meas)
    dq = definition_quality(kpis, runnable_definitions(definitions, portfolio.source))
    calendar = kpi_calendar(kpis, sub.contracts, meas).set_index("kpi_id")
    changes = getattr(sub, "process_changes", None)
    if changes is None or not len(changes):
        changes = pd.DataFrame({"kpi_id": pd.Series(dtype=object), "period": pd.Series(dtype="period[M]"),
                                "reason": pd.Series(dtype=object), "baseline_months": pd.Series(dtype=float)})
    changes = changes[changes["period"] <= p]

    first = max(p - (history_months - 1), meas["period"].min())
    months = pd.period_range(first, p, freq="M")
    kpi_reviews = []
    for _, k in kpis.iterrows():
        kid = k["kpi_id"]
        cal = calendar.loc[kid]
        life = tuple(None if pd.isna(x) else int(x) for x in (cal["life_lo"], cal["life_hi"]))
        rows = meas[meas["kpi_id"] == kid].drop_duplicates("period", keep="last").set_index("period")
        due = due_months(months[0], p, frequency=cal["frequency"], phase=int(cal["phase"]), life=life)
        periods = []
        for month in due:
            row = rows.loc[month].to_dict() if month in rows.index else None
            st = period_status(month, frequency=cal["frequency"], phase=int(cal["phase"]), life=life, row=row)
            periods.append({"period": month, "status": st,
                            "value": None if row is None else row.get("value"),
                            "volume": None if row is None else row.get("volume"),
                            "note": None if row is None else _note(row.get("note"))})
        # The SPC series: due months in force; no-activity and provisional months are not points of the process.
        charted = [x["period"] for x in periods if x["status"] not in ("no_activity", "incomplete")]
        values = [x["value"] if x["status"] == "reported" else np.nan for x in periods
                  if x["status"] not in ("no_activity", "incomplete")]
        series = pd.Series(values, index=pd.PeriodIndex(charted, freq="M"), dtype=float, name="value")
        series.index.name = "period"
        improvement = "increase" if k["direction"] == "higher" else "decrease"
        target = None if pd.isna(k.get("target")) else float(k["target"])
        plan = rebase_plan(series.index, changes[changes["kpi_id"] == kid])
        xmr = spc.xmr(series, improvement=improvement, target=target, rebase_at=plan.positions or None,
                      fix_after=plan.fix_after)
        suggestion = suggest_rebase(series, xmr, improvement=improvement, target=target)
        too_few = too_few_points(xmr, spc_min_points)
        if too_few is not None:
            # Limits from a handful of points carry no verdict: no icon, no sentence, no question on them.
            xmr = dataclasses.replace(xmr, variation=None, assurance=None)
            suggestion = None
        wrow = windows[windows["kpi_id"] == kid].iloc[0].to_dict()
        k_start = wrow.get("window_start")
        window_series = series[series.index >= (k_start if k_start is not None and not pd.isna(k_start)
                                                 else start)]
        trend = trend_summary(window_series, k["direction"], unit=k.get("unit"),
                              period_word=PERIOD_WORD[cal["frequency"]])
        crow = commitments[commitments["kpi_id"] == kid]
        commitment = crow.iloc[0].to_dict() if len(crow) and crow.iloc[0]["kind"] is not None \
            and not pd.isna(crow.iloc[0]["kind"]) else None
        trajectory = None
        if commitment is not None:
            try:
                trajectory = expected_level(k, months, contract)
                if trajectory.notna().sum() == 0:
                    trajectory = None
            except UsageError:
                trajectory = None
        rrow = ratchets[ratchets["kpi_id"] == kid]
        annotations = [(pd.Period(r["delivered_on"], "M"), f"Delivered: {r['title']}")
                       for _, r in inits.iterrows()
                       if r.get("kpi_id") == kid and pd.notna(r.get("delivered_on"))
                       and months[0] <= pd.Period(r["delivered_on"], "M") <= p]
        annotations += [(period, f"Process change: {reason}") for period, reason in zip(plan.periods, plan.reasons)]
        in_window = [x for x in periods if x["period"] >= start]
        unreported = [x["period"] for x in in_window if x["status"] == "not_reported"]
        missing = [str(x) for x in unreported if x not in rows.index]  # no row at all
        not_reported = [str(x) for x in unreported if x in rows.index]  # a row with an empty value
        kpi_reviews.append(KpiReview(
            kpi=k.to_dict(), series=series, spc=xmr, trend=trend, window=wrow, commitment=commitment,
            trajectory=trajectory, ratchet=rrow.iloc[0].to_dict() if len(rrow) else None, annotations=annotations,
            missing_months=missing, not_reported_months=not_reported, status=wrow["period_status"],
            rebase=plan, suggested_rebase=suggestion, too_few=too_few,
            frequency=cal["frequency"], months=periods,
        ))

    late = _late_returns(reported, start, p)  # the supplier's returns, whichever figures are rated
    reconciliation = reconcile(kpis, reported, derived, tolerance=tolerances, end=p)
    restated = _restatements(sub.history, p)
    trigger = _trigger(contract, p)
    warnings = getattr(sub, "warnings", pd.DataFrame())
    review = ContractReview(
        contract=contract, period=p, window_start=start, audience=audience, bands=bands, kpis=kpi_reviews,
        window_ratings=windows, monthly_levels=levels, scorecard=card_row, commitments=commitments,
        ratchets=ratchets, ratchet_rule=ratchet_rule(ratchet_months, ratchet_share), credit_lines=lines,
        credits_monthly=monthly, credits_ytd=ytd.iloc[0].to_dict() if len(ytd) else {}, initiatives=inits,
        initiative_summary=isum, initiative_effects=effects, definitions=dq, late_returns=late,
        restatements=restated, accounting=sub.accounting, data_warnings=warnings, trigger=trigger,
        data_hash=sub.data_hash, source=str(portfolio.source), window_months=int(window_months),
        reconciliation=reconciliation, rate_on=rate_on,
        reconcile_tolerance=tolerance_text(tolerances, [u for u in kpis["unit"].dropna().astype(str)
                                                        if u in set(reconciliation["unit"])]),
    )
    return _commentary.annotate(review)


#: What a KPI's periods are called in sentences, by frequency.
PERIOD_WORD = {"monthly": "month", "quarterly": "quarter", "annual": "year"}


def _result_order(word: str) -> int:
    """Where a KPI result (a rating word or a status word) comes in a count: ratings best first, then statuses."""
    order = [*RATINGS, *STATUS_WORD.values()]
    return order.index(word) if word in order else len(order)


def _note(v) -> str | None:
    """A measurement's note as text, None when empty."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    text = str(v).strip()
    return text or None


def _late_returns(meas: pd.DataFrame, start: pd.Period, end: pd.Period) -> pd.DataFrame:
    m = meas[(meas["period"] >= start) & (meas["period"] <= end) & meas["submitted_on"].notna()].copy()
    due = m["period"].dt.end_time.dt.normalize() + pd.Timedelta(days=LATE_AFTER_DAYS)
    m["days_late"] = (m["submitted_on"] - due).dt.days
    late = m[m["days_late"] > 0]
    return late[["kpi_id", "period", "submitted_on", "days_late"]].reset_index(drop=True)


def _restatements(history: pd.DataFrame, end: pd.Period) -> pd.DataFrame:
    """Each superseded value beside the value that replaced it (old → new), up to ``end``."""
    cols = ["kpi_id", "period", "old_value", "new_value", "old_revision", "new_revision", "submitted_on", "source"]
    if history is None or history.empty or "superseded" not in history:
        return pd.DataFrame(columns=cols)
    h = history[history["period"] <= end]
    if "origin" in h:  # a derived figure is the authority's own, not a restatement of the supplier's
        h = h[(h["origin"] != "derived").to_numpy(dtype=bool)]
    old = h[h["superseded"]]
    if old.empty:
        return pd.DataFrame(columns=cols)
    new = h[~h["superseded"]][["contract_id", "kpi_id", "period", "value", "revision", "submitted_on", "source"]]
    j = old.merge(new, on=["contract_id", "kpi_id", "period"], suffixes=("_old", "_new"))
    out = pd.DataFrame({
        "kpi_id": j["kpi_id"], "period": j["period"], "old_value": j["value_old"], "new_value": j["value_new"],
        "old_revision": j["revision_old"], "new_revision": j["revision_new"],
        "submitted_on": j["submitted_on_new"], "source": j["source_new"],
    })
    return out.sort_values(["kpi_id", "period", "old_revision"]).reset_index(drop=True)


def _trigger(contract: dict, p: pd.Period) -> dict[str, Any]:
    """Contract trigger points: end date, notice date (end − notice period), months elapsed and left."""
    start = pd.Timestamp(contract["start_date"])
    end = pd.Timestamp(contract["end_date"])
    month_end = p.end_time.normalize()
    notice_days = contract.get("notice_period_days")
    notice = end - pd.Timedelta(days=int(notice_days)) if notice_days is not None and not pd.isna(notice_days) \
        else None
    elapsed = (p - pd.Period(start, "M")).n + 1
    left = max((pd.Period(end, "M") - p).n, 0)
    return {
        "start_date": start.date().isoformat(), "end_date": end.date().isoformat(),
        "notice_date": notice.date().isoformat() if notice is not None else None,
        "notice_passed": bool(notice is not None and notice <= month_end),
        "months_elapsed": int(elapsed), "months_left": int(left),
        "days_to_notice": int((notice - month_end).days) if notice is not None else None,
    }


def _spc_summary(k: KpiReview) -> dict[str, Any]:
    """The KPI's ``spc`` block of pack.json: the limits as computed, rebases as months, every group's limits, the
    rebase the data suggest and whether there were too few points for a verdict."""
    out = k.spc.summary()
    idx = k.spc.points.index
    out["rebase_at"] = [str(idx[i]) if isinstance(idx, pd.PeriodIndex) else int(i) for i in k.spc.rebase_at]
    out["rebase_reasons"] = list(k.rebase.reasons) if k.rebase else []
    out["groups"] = [{"from": str(idx[int(g["start"])]) if isinstance(idx, pd.PeriodIndex) else int(g["start"]),
                      "to": str(idx[int(g["end"])]) if isinstance(idx, pd.PeriodIndex) else int(g["end"]),
                      "points": int(g["n"]), "mean": _plain(g["mean"]), "lpl": _plain(g["lpl"]),
                      "upl": _plain(g["upl"])} for _, g in k.spc.groups.iterrows()] if len(idx) else []
    s = k.suggested_rebase
    out["suggested_rebase"] = None if s is None else {
        "period": str(s["period"]), "points": s["points"], "side": s["side"], "mean": _plain(s["mean"]),
        "lpl": _plain(s["lpl"]), "upl": _plain(s["upl"]), "assurance": s["assurance"], "evidence": s["evidence"]}
    out["too_few_points"] = None if k.too_few is None else {"points": k.too_few[0], "needed": k.too_few[1]}
    return out


def _reconciliation(rec: pd.DataFrame) -> list[dict]:
    """``pack.json``'s ``reconciliation``: exactly the flagged months (complete, beyond the tolerance)."""
    if rec is None or not len(rec) or "flagged" not in rec:
        return []
    f = rec[rec["flagged"].astype(bool)]
    def count(v):  # a volume is a whole number of items
        v = _plain(v)
        return int(v) if isinstance(v, float) and v.is_integer() else v

    return [{"kpi_id": r["kpi_id"], "period": str(r["period"]), "reported": _plain(r["reported"]),
             "derived": _plain(r["derived"]), "difference": _plain(round(float(r["difference"]), 6)),
             "reported_volume": count(r["reported_volume"]), "derived_volume": count(r["derived_volume"]),
             "tolerance": r["tolerance"]} for _, r in f.iterrows()]


def _reconciliation_summary(r: "ContractReview") -> dict[str, Any]:
    """How many KPI-months were compared and how they came out; the tolerances; which figures were rated."""
    rec = r.reconciliation
    status = rec["status"].value_counts().to_dict() if rec is not None and len(rec) and "status" in rec else {}
    return {"compared": int(sum(status.values())), "agree": int(status.get("agrees", 0)),
            "differ": int(status.get("differs", 0)), "incomplete": int(status.get("incomplete", 0)),
            "not_comparable": int(status.get("not_reported", 0) + status.get("no_derived_value", 0)),
            "tolerance": r.reconcile_tolerance, "rate_on": r.rate_on}


def _plain(v):
    """A JSON-able scalar: NaN/NaT → None, numpy → Python, Period/Timestamp → ISO text."""
    if v is None:
        return None
    if isinstance(v, (pd.Period,)):
        return str(v)
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.date().isoformat() if v == v.normalize() else v.isoformat()
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(float(v)) or math.isinf(float(v)) else float(v)
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v if isinstance(v, (str, int, list, dict)) else str(v)


def _plain_dict(d: dict | None) -> dict:
    return {str(k): _plain(v) for k, v in (d or {}).items()}


def _records(df: pd.DataFrame | None) -> list[dict]:
    if df is None or len(df) == 0:
        return []
    return [_plain_dict(r) for r in df.to_dict(orient="records")]

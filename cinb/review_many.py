"""Every contract's review figures for one month, computed in one vectorised pass over the whole portfolio.

:func:`cinb.review.contract_review` builds one contract's whole review (every KPI's chart, trend, commentary,
…): about 0.2 s a contract, minutes on a portfolio of a thousand. The portfolio pack needs only part of each
review — the KPI results of the month, the weighted scorecard, the KPIs whose XmR chart ends in special-cause
concern, the CI commitments off track, the service credits, the trigger dates, definition quality and the
initiatives — and each of those is a function of the whole portfolio's frames. :func:`portfolio_pass` computes
them once over every contract, calling the same functions :func:`cinb.review.contract_review` calls
(:func:`cinb.ratings.window_ratings`, :func:`cinb.ratings.scorecard`, :func:`cinb.spc.xmr`,
:func:`cinb.spc_rebase.rebase_plan`, :func:`cinb.commitments.commitment_status`, :func:`cinb.credits.credit_lines`,
:func:`cinb.credits.monthly_credits`, :func:`cinb.credits.year_to_date`,
:func:`cinb.definitions.definition_quality`) on the portfolio's frames instead of one contract's, with the
charted series of every KPI laid out at once in numpy instead of month by month. The figures are the same as
the per-contract reviews' (``tests/test_portfolio_pass.py`` compares them on the sample portfolio and on a
generated one of a few hundred contracts).

:class:`LazyReview` stands for one contract's :class:`cinb.review.ContractReview` in
:attr:`cinb.portfolio.PortfolioReview.reviews`: the contract's row and the review settings at once, anything
else computed by :func:`cinb.review.contract_review` on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from .commitments import ratchet_rule, status_frame, status_rows
from .config import AUDIENCES
from .credits import credit_lines, monthly_credits, year_to_date
from .definitions import definition_quality, runnable_definitions
from .errors import UsageError
from .periods import to_month
from .reconcile import rating_measurements
from .ratings import DEFAULT_BANDS, RatingBands, scorecard, window_ratings
from .regimes import _blank, kpi_calendar, status_word  # _blank: one rule for an empty cell
from .review import _trigger
from .spc import xmr
from .spc_rebase import MIN_POINTS, rebase_plan

__all__ = ["PortfolioPass", "portfolio_pass", "LazyReview", "charted_series"]

#: Months of history on each KPI's XmR chart (as :data:`cinb.review.HISTORY_MONTHS`).
HISTORY_MONTHS = 36


@dataclass(frozen=True)
class PortfolioPass:
    """The review figures of every contract with data up to ``period``, from :func:`portfolio_pass`.

    Frames list the reviewed contracts in the order of ``Portfolio.contracts`` and each contract's KPIs in the
    order of ``Portfolio.kpis``, as :func:`cinb.review.contract_review` would for each contract in turn.
    """

    period: pd.Period  # the review month
    window_months: int  # the review window asked for (a contract's window never starts before the contract)
    bands: RatingBands  # the rating rules
    contracts: pd.DataFrame  # the reviewed contracts' rows of Portfolio.contracts (RangeIndex)
    skipped: list[str]  # contract ids with no measurements up to period (not reviewed)
    kpis: pd.DataFrame  # the reviewed contracts' KPIs (RangeIndex), plus "slot" ("KPI 1", … within the contract)
    windows: pd.DataFrame  # window_ratings rows, one per row of kpis in the same order, plus "result"
    #   (cinb.regimes.status_word: the review month's rating or status)
    scorecard: pd.DataFrame  # cinb.ratings.scorecard(windows, kpis): one row per reviewed contract (by id)
    spc: pd.DataFrame  # one row per row of kpis: n_values (values charted), variation (None below
    #   spc_min_points values, as contract_review), rule (the latest point's rule; None without a value)
    commitments: pd.DataFrame  # cinb.commitments.commitment_status(kpis, meas, contracts, period), kpis order
    commitment_rows: list  # its rows as dicts (cinb.commitments.status_rows), to type one contract's as it would
    credits_monthly: pd.DataFrame  # cinb.credits.monthly_credits(contracts, kpis, meas, bands, rules)
    credits_ytd: pd.DataFrame  # cinb.credits.year_to_date(credits_monthly, period): one row per contract
    definitions: pd.DataFrame  # cinb.definitions.definition_quality(kpis), kpis order (RangeIndex)
    initiatives: pd.DataFrame  # the reviewed contracts' initiatives rows, contract by contract (RangeIndex)
    spans: dict[str, dict]  # per frame name: {contract_id: (first row, row after the last)} (see rows())
    _records: dict = field(default_factory=dict, repr=False)  # records() cache

    def records(self, name: str) -> list[dict]:
        """The rows of ``contracts``, ``kpis`` (without ``slot``), ``windows`` (without ``result``),
        ``scorecard`` or ``credits_ytd`` as dicts (``DataFrame.to_dict("records")``: the values and types
        ``frame.iloc[i].to_dict()`` gives, as :func:`cinb.review.contract_review` takes them), made once."""
        if name not in self._records:
            frame = {"contracts": self.contracts, "kpis": self.kpis.drop(columns="slot"),
                     "windows": self.windows.drop(columns="result"), "scorecard": self.scorecard,
                     "credits_ytd": self.credits_ytd}[name]
            self._records[name] = frame.to_dict("records")
        return self._records[name]

    def rows(self, contract_id: str) -> dict[str, Any]:
        """Where one reviewed contract's rows are: ``contract`` (its row of ``contracts``), ``scorecard`` and
        ``ytd`` (its row of those frames, None when it has none), and ``(start, stop)`` row ranges in ``kpis``
        (also ``windows``, ``spc``, ``commitments`` and ``definitions``), ``monthly`` (``credits_monthly``) and
        ``initiatives`` (empty ranges when it has no such rows)."""
        s = self.spans
        return {"contract": s["contracts"][contract_id][0],
                "scorecard": s["scorecard"].get(contract_id, (None,))[0],
                "ytd": s["ytd"].get(contract_id, (None,))[0],
                **{name: s[name].get(contract_id, (0, 0)) for name in ("kpis", "monthly", "initiatives")}}


def _spans(ids) -> dict[str, tuple[int, int]]:
    """``{id: (start, stop)}`` of each run of equal ids (each id's rows must be together)."""
    ids = np.asarray(ids, dtype=object)
    if not len(ids):
        return {}
    cut = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    lo, hi = np.concatenate(([0], cut)), np.concatenate((cut, [len(ids)]))
    return {ids[a]: (int(a), int(b)) for a, b in zip(lo, hi)}


def _check(audience: str, window_months) -> None:
    """The argument checks of :func:`cinb.review.contract_review`, with its messages."""
    if audience not in AUDIENCES:
        raise UsageError(f"audience must be one of {', '.join(AUDIENCES)}, not {audience!r}")
    if not isinstance(window_months, (int, np.integer)) or window_months < 1:
        raise UsageError(f"window_months must be a whole number of at least 1, not {window_months!r}")


def _by_contract(frame: pd.DataFrame, order: pd.Series) -> pd.DataFrame:
    """``frame``'s rows of the contracts in ``order`` (contract ids), contract by contract, each contract's rows
    in frame order (what concatenating ``Portfolio.contract(id)`` frames gives); RangeIndex."""
    if "contract_id" not in frame or not len(frame):
        return frame.iloc[0:0].reset_index(drop=True)
    rank = pd.Index(order.to_numpy(dtype=object)).get_indexer(frame["contract_id"].to_numpy(dtype=object))
    keep = rank >= 0
    if keep.all() and (len(rank) < 2 or bool((np.diff(rank) >= 0).all())):
        return frame.reset_index(drop=True)  # already contract by contract in that order
    return frame.iloc[np.flatnonzero(keep)[np.argsort(rank[keep], kind="stable")]].reset_index(drop=True)


def charted_series(kpis: pd.DataFrame, meas: pd.DataFrame, calendar: pd.DataFrame, first: np.ndarray,
                   period: pd.Period) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every KPI's XmR series at once, as :func:`cinb.review.contract_review` charts each one.

    A KPI's series runs over its due months (:func:`cinb.regimes.due_months`) from ``first`` (its contract's
    first charted month) to ``period`` within its life span; a month with no activity (empty value, volume 0)
    or a provisional figure (``complete`` false) is left out, a month with no row or an empty value is a gap
    (NaN), a reported month is its value (:func:`cinb.regimes.period_status`, the same rules in the same
    order).

    Parameters
    ----------
    kpis : DataFrame
        ``contract_id, kpi_id``, one row per KPI (RangeIndex).
    meas : DataFrame
        Measurements up to ``period`` (``contract_id, kpi_id, period, value, volume, complete``); of several rows
        of one KPI and month the last counts.
    calendar : DataFrame
        :func:`cinb.regimes.kpi_calendar` of ``kpis`` (same order).
    first : array of int
        Per KPI: the month ordinal its chart starts at (before its life span clips it).
    period : Period
        The review month.

    Returns
    -------
    (offsets, ordinals, values)
        KPI ``i``'s series is ``values[offsets[i]:offsets[i + 1]]`` (float, NaN for a gap) against the month
        ordinals ``ordinals[offsets[i]:offsets[i + 1]]`` (ascending).
    """
    n = len(kpis)
    p = int(period.ordinal)
    lo = calendar["life_lo"].to_numpy(dtype=float)
    hi = calendar["life_hi"].to_numpy(dtype=float)
    a = np.where(np.isnan(lo), first, np.fmax(first, lo)).astype(np.int64)
    b = np.where(np.isnan(hi), p, np.fmin(p, hi)).astype(np.int64)
    length = np.maximum(b - a + 1, 0)
    k_of = np.repeat(np.arange(n), length)
    starts = np.concatenate(([0], np.cumsum(length)[:-1])) if n else np.zeros(0, dtype=np.int64)
    ords = a[k_of] + (np.arange(int(length.sum())) - np.repeat(starts, length))
    step = calendar["step"].to_numpy(dtype=np.int64)
    phase = calendar["phase"].to_numpy(dtype=np.int64)
    due = np.mod(ords - phase[k_of], step[k_of]) == 0
    k_of, ords = k_of[due], ords[due]

    # The KPI's row for each due month: the last of its rows for that month in the measurements' order.
    codes = pd.MultiIndex.from_frame(kpis[["contract_id", "kpi_id"]].astype(object)).get_indexer(
        pd.MultiIndex.from_frame(meas[["contract_id", "kpi_id"]].astype(object))) if len(meas) else \
        np.zeros(0, dtype=np.int64)
    m_ord = meas["period"].array.asi8 if len(meas) else np.zeros(0, dtype=np.int64)
    span = np.int64(1) << 32
    ok = codes >= 0
    m_key = codes[ok].astype(np.int64) * span + (m_ord[ok] - np.int64(np.iinfo(np.int32).min))
    m_rows = np.flatnonzero(ok)
    index = pd.Index(m_key)
    if not index.is_unique:
        last = ~pd.Series(m_key).duplicated(keep="last").to_numpy()
        m_key, m_rows = m_key[last], m_rows[last]
        index = pd.Index(m_key)
    cell = index.get_indexer(k_of.astype(np.int64) * span + (ords - np.int64(np.iinfo(np.int32).min)))
    has_row = cell >= 0
    row = np.where(has_row, m_rows[np.where(has_row, cell, 0)] if len(m_rows) else 0, -1)

    def column(name, kind):
        if name not in meas or not len(meas):
            return np.full(len(row), np.nan if kind == "float" else None, dtype=float if kind == "float" else object)
        src = meas[name]
        if kind == "float":
            vals = pd.to_numeric(src, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            return np.where(has_row, vals[np.where(has_row, row, 0)], np.nan)
        vals = src.to_numpy(dtype=object)
        return np.where(has_row, vals[np.where(has_row, row, 0)], None)

    value = column("value", "float")
    volume = column("volume", "float")
    complete = column("complete", "object")
    incomplete = np.array([c is not None and not _blank(c) and not bool(c) for c in complete], dtype=bool)
    blank = np.isnan(value)
    no_activity = has_row & blank & ~np.isnan(volume) & (volume == 0)
    provisional = has_row & ~blank & incomplete
    keep = ~(no_activity | provisional)
    k_of, ords, value = k_of[keep], ords[keep], value[keep]
    offsets = np.concatenate(([0], np.cumsum(np.bincount(k_of, minlength=n)))).astype(np.int64)
    return offsets, ords, value


def _spc(kpis: pd.DataFrame, offsets, ords, values, changes: pd.DataFrame, min_points: int) -> pd.DataFrame:
    """Per KPI: values charted, the chart's variation (None below ``min_points`` values) and the latest point's
    rule, from :func:`cinb.spc.xmr` with each KPI's recorded process changes (:func:`rebase_plan`)."""
    by_kpi: dict[tuple, pd.DataFrame] = {}
    if changes is not None and len(changes):
        for key, g in changes.groupby(["contract_id", "kpi_id"], sort=False):
            by_kpi[key] = g
    directions = kpis["direction"].to_numpy(dtype=object)
    targets = pd.to_numeric(kpis["target"], errors="coerce").to_numpy(dtype=float) if "target" in kpis \
        else np.full(len(kpis), np.nan)
    cids, kids = kpis["contract_id"].to_numpy(dtype=object), kpis["kpi_id"].to_numpy(dtype=object)
    n_values = np.zeros(len(kpis), dtype=np.int64)
    variation = np.full(len(kpis), None, dtype=object)
    rule = np.full(len(kpis), None, dtype=object)
    for i in range(len(kpis)):
        x = values[offsets[i]:offsets[i + 1]]
        present = np.flatnonzero(~np.isnan(x))
        n_values[i] = len(present)
        mine = by_kpi.get((cids[i], kids[i]))
        if mine is None and (not len(present) or len(present) < min_points):
            continue  # no point with a value, or too few values for a verdict (cinb.spc_rebase.too_few_points)
        improvement = "increase" if directions[i] == "higher" else "decrease"
        target = None if np.isnan(targets[i]) else float(targets[i])
        if mine is not None:
            index = pd.PeriodIndex(pd.arrays.PeriodArray(ords[offsets[i]:offsets[i + 1]], dtype="period[M]"))
            plan = rebase_plan(index, mine)
            r = xmr(x, improvement=improvement, target=target, rebase_at=plan.positions or None,
                    fix_after=plan.fix_after)
        else:
            r = xmr(x, improvement=improvement, target=target)
        if len(present) and len(present) >= min_points:
            variation[i] = r.variation
            rule[i] = r._point_columns["rule"][present[-1]]
    # object columns keep "no verdict" as None, as XmrResult.variation has it (pandas 3 would make it NaN)
    return pd.DataFrame({"n_values": n_values, "variation": pd.Series(variation, dtype=object),
                         "rule": pd.Series(rule, dtype=object)})


def portfolio_pass(portfolio, period, *, window_months: int = 12, bands: RatingBands | dict | None = None,
                   audience: str = "internal", history_months: int = HISTORY_MONTHS,
                   spc_min_points: int = MIN_POINTS, rate_on: str = "reported",
                   definitions=None) -> PortfolioPass:
    """Compute the portfolio pack's figures of every contract at once.

    A contract is reviewed when it has a measurement up to ``period`` (as in :func:`cinb.portfolio.portfolio_review`).
    Each figure is the one :func:`cinb.review.contract_review` gives for the contract with the same arguments:
    the window of a contract that started within ``window_months`` of ``period`` starts with the contract; the
    charts run over ``history_months`` months from the later of that and the contract's first reported month.

    Parameters
    ----------
    portfolio : Portfolio
        A loaded portfolio (:func:`cinb.load.load_portfolio`) or part of one (``Portfolio.supplier(name)``).
    period : str or Period
        The review month, ``YYYY-MM``.
    window_months, bands, audience, history_months, spc_min_points, rate_on, definitions
        As for :func:`cinb.review.contract_review`: the figures rated are
        :func:`cinb.reconcile.rating_measurements` of the reported and derived rows (``rate_on``); definition
        quality counts the KPIs of the definitions file (:func:`cinb.definitions.runnable_definitions`).

    Returns
    -------
    PortfolioPass

    Raises
    ------
    UsageError
        A malformed month, an unknown audience or a ``window_months`` that is not a whole number ≥ 1 (checked
        when there is a contract to review, as the per-contract reviews would), or a contract with data up to
        ``period`` that starts after it.
    """
    p = to_month(period, "period")
    bands = DEFAULT_BANDS if bands is None else (RatingBands.from_dict(bands) if isinstance(bands, dict) else bands)
    contracts = portfolio.contracts
    meas_all = portfolio.measurements
    ids = contracts["contract_id"]
    up_to = meas_all[(meas_all["period"] <= p).to_numpy(dtype=bool)]
    with_data = set(up_to["contract_id"].astype(object))
    reviewed = ids[ids.isin(with_data).to_numpy()].reset_index(drop=True)
    skipped = [c for c in ids if c not in with_data]
    if len(reviewed):
        _check(audience, window_months)
    c = _by_contract(contracts, reviewed)
    k = _by_contract(portfolio.kpis, reviewed)
    derived = getattr(portfolio, "derived", None)
    if derived is not None and len(derived):
        derived = derived[(derived["period"] <= p).to_numpy(dtype=bool)]
    meas = _by_contract(rating_measurements(up_to, derived, rate_on), reviewed)
    first_month = pd.PeriodIndex(pd.to_datetime(c["start_date"]), freq="M") if len(c) else pd.PeriodIndex([],
                                                                                                          freq="M")
    late = [str(x) for x, f in zip(c["contract_id"], first_month) if f > p]
    if late:
        raise UsageError(f"window end {p} is before its start {first_month[0]}; give --from before --to"
                         f" (contract {late[0]} starts after {p})")
    k.insert(len(k.columns), "slot", [f"KPI {i + 1}" for i in k.groupby("contract_id", sort=False).cumcount()]
             if len(k) else pd.Series(dtype=object))

    windows = window_ratings(k.drop(columns="slot"), meas, p - (window_months - 1), p, bands, contracts=c)
    # window_ratings sorts by contract and KPI and counts the months of the window it was asked for: back to
    # the order of kpis, and each contract's own window (it never starts before the contract).
    windows = windows.set_index(["contract_id", "kpi_id"]).reindex(
        pd.MultiIndex.from_frame(k[["contract_id", "kpi_id"]].astype(object))).reset_index()
    c_start = pd.Series(np.fmax(first_month.asi8, (p - (window_months - 1)).ordinal) if len(c) else [],
                        index=c["contract_id"].to_numpy(dtype=object), dtype=np.int64)
    k_start = c_start.reindex(k["contract_id"].to_numpy(dtype=object)).to_numpy(dtype=np.int64)
    windows["months_in_window"] = (p.ordinal - k_start + 1).astype(np.int64)
    windows["result"] = [status_word({"period_status": s, "period_rating": r})
                         for s, r in zip(windows["period_status"], windows["period_rating"])]
    card = scorecard(windows, k)

    # SPC: every KPI's charted series, from the later of (period - history + 1) and its contract's first month
    # with data, to period.
    first_data = meas.groupby("contract_id", sort=False)["period"].min()
    first = np.fmax(first_data.reindex(k["contract_id"].to_numpy(dtype=object)).array.asi8,
                    (p - (history_months - 1)).ordinal) if len(k) else np.zeros(0, dtype=np.int64)
    calendar = kpi_calendar(k, c, meas).reset_index(drop=True)
    offsets, ords, values = charted_series(k, meas, calendar, first, p)
    changes = getattr(portfolio, "process_changes", None)
    if changes is not None and len(changes):
        changes = changes[(changes["period"] <= p).to_numpy(dtype=bool)]
    spc_table = _spc(k, offsets, ords, values, changes, spc_min_points)
    spc_table["frequency"] = calendar["frequency"].to_numpy(dtype=object)

    commitment_rows = status_rows(k.drop(columns="slot"), meas, c, p)
    commitments = status_frame(commitment_rows)
    # The credit schedules are looked up by contract and KPI, so the whole tables serve every contract.
    lines = credit_lines(c, k, meas, bands=getattr(portfolio, "credit_bands", None))
    monthly = monthly_credits(c, k, meas, lines=lines, rules=getattr(portfolio, "critical_failure_rules", None))
    ytd = year_to_date(monthly, p)
    dq = definition_quality(k.drop(columns="slot"), runnable_definitions(definitions, portfolio.source))
    inits = _by_contract(portfolio.initiatives, reviewed)
    spans = {"contracts": _spans(c["contract_id"]), "kpis": _spans(k["contract_id"]),
             "scorecard": _spans(card["contract_id"]), "ytd": _spans(ytd["contract_id"]),
             "monthly": _spans(monthly["contract_id"]), "initiatives": _spans(inits["contract_id"])
             if "contract_id" in inits else {}}
    return PortfolioPass(period=p, window_months=int(window_months), bands=bands, contracts=c, skipped=skipped,
                         kpis=k, windows=windows, scorecard=card, spc=spc_table, commitments=commitments,
                         commitment_rows=commitment_rows,
                         credits_monthly=monthly, credits_ytd=ytd, definitions=dq, initiatives=inits, spans=spans)


class _SpcView:
    """The verdict of a KPI's XmR chart from the pass (``variation``); any other attribute is the full chart's."""

    def __init__(self, owner: "LazyKpi", variation):
        self._owner = owner
        self.variation = variation

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._owner.full.spc, name)


class LazyKpi:
    """One KPI of a :class:`LazyReview`: ``kpi``, ``kpi_id``, ``name``, ``window`` (its row of the portfolio's
    window ratings), ``status``, ``frequency`` and ``spc.variation`` from the pass; any other attribute is the
    :class:`cinb.review.KpiReview`'s (:attr:`full`)."""

    def __init__(self, review: "LazyReview", position: int, kpi: dict[str, Any], window: dict[str, Any],
                 variation, frequency: str):
        self._review = review
        self._position = position
        self.kpi = kpi
        self.window = window
        self.status = window["period_status"]
        self.frequency = frequency
        self.spc = _SpcView(self, variation)

    @property
    def kpi_id(self) -> str:
        """The KPI's ``kpi_id``."""
        return self.kpi["kpi_id"]

    @property
    def name(self) -> str:
        """The KPI's ``name`` as the data gives it."""
        return self.kpi["name"]

    @property
    def full(self):
        """The KPI's :class:`cinb.review.KpiReview` in the contract's full review."""
        return self._review.review.kpis[self._position]

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.full, name)

    def __repr__(self) -> str:
        return f"LazyKpi({self.kpi_id!r})"


class LazyReview:
    """One contract's :class:`cinb.review.ContractReview`, its costly parts computed when first needed.

    From the pass, at once: ``contract`` (the contract's row as a dict), ``period``, ``window_start``,
    ``window_months``, ``audience``, ``bands``, ``ratchet_rule``, ``source``, ``trigger``, and on first use
    ``scorecard``, ``credits_ytd``, ``commitments``, ``initiatives``, ``kpis`` (:class:`LazyKpi`) and
    ``data_hash`` (the contract's, ``Portfolio.contract(id).data_hash``): each the contract's
    :class:`cinb.review.ContractReview` attribute, value and type (``tests/test_portfolio_pass.py``), except that
    in a KPI's ``window`` a missing text may be NaN where the contract's own frame holds None (pandas types a
    text column by all its rows). Any other attribute is the ContractReview's, built by
    :func:`cinb.review.contract_review` with the portfolio review's arguments on first use and kept
    (:attr:`review`).
    """

    def __init__(self, portfolio, figures: PortfolioPass, contract_id: str, kwargs: dict[str, Any]):
        self._portfolio = portfolio
        self._pass = figures
        self._kwargs = kwargs
        rows = figures.rows(contract_id)
        self._rows = rows
        self.contract = dict(figures.records("contracts")[rows["contract"]])
        self.period = figures.period
        self.window_months = figures.window_months
        self.window_start = max(figures.period - (figures.window_months - 1),
                                pd.Period(self.contract["start_date"], "M"))
        self.bands = figures.bands
        self.audience = kwargs.get("audience", "internal")
        self.ratchet_rule = ratchet_rule(kwargs.get("ratchet_months", 12), kwargs.get("ratchet_share", 0.5))
        self.source = str(portfolio.source)
        self.trigger = _trigger(self.contract, figures.period)

    @cached_property
    def scorecard(self) -> dict[str, Any]:
        """The contract's row of :func:`cinb.ratings.scorecard` ({} when it has none)."""
        i = self._rows["scorecard"]
        return {} if i is None else dict(self._pass.records("scorecard")[i])

    @cached_property
    def credits_ytd(self) -> dict[str, Any]:
        """The contract's row of :func:`cinb.credits.year_to_date` ({} when it has none)."""
        i = self._rows["ytd"]
        return {} if i is None else dict(self._pass.records("credits_ytd")[i])

    def _slice(self, frame: pd.DataFrame, name: str) -> pd.DataFrame:
        lo, hi = self._rows[name]
        return frame.iloc[lo:hi].reset_index(drop=True)

    @cached_property
    def commitments(self) -> pd.DataFrame:
        """The contract's :func:`cinb.commitments.commitment_status` (its rows, typed as that types them)."""
        lo, hi = self._rows["kpis"]
        return status_frame(self._pass.commitment_rows[lo:hi])

    @cached_property
    def initiatives(self) -> pd.DataFrame:
        """The contract's rows of ``Portfolio.initiatives``."""
        return self._slice(self._pass.initiatives, "initiatives")

    @cached_property
    def kpis(self) -> list[LazyKpi]:
        """One :class:`LazyKpi` per KPI, in the order of the kpis table."""
        lo, hi = self._rows["kpis"]
        f = self._pass
        kpis, windows = f.records("kpis"), f.records("windows")
        return [LazyKpi(self, i - lo, dict(kpis[i]), dict(windows[i]), f.spc["variation"].iat[i],
                        f.spc["frequency"].iat[i]) for i in range(lo, hi)]

    @cached_property
    def review(self):
        """The contract's whole :class:`cinb.review.ContractReview` (computed once)."""
        from .review import contract_review

        return contract_review(self._portfolio, self.contract["contract_id"], self.period, bands=self.bands,
                               **self._kwargs)

    @cached_property
    def data_hash(self) -> str:
        """The hash of the contract's rows (:func:`cinb.load.data_hash` of ``Portfolio.contract(id)``)."""
        return self._portfolio.contract(self.contract["contract_id"]).data_hash

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.review, name)

    def __repr__(self) -> str:
        return f"LazyReview({self.contract['contract_id']!r}, {str(self.period)!r})"

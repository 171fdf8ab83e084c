"""The vectorised portfolio pass gives the figures of one contract_review per contract (issue 16, part 1).

`portfolio_review` builds its tables from `cinb.review_many.portfolio_pass` (every contract at once);
`cinb.portfolio._portfolio_review_per_contract` is the path it replaced: one whole `contract_review` per
contract, the tables built from those reviews. Both are compared on the sample portfolio and on a generated
portfolio of a few hundred contracts with real shapes (monthly and quarterly KPIs, volumes and months of no
activity, missing months and empty values, provisional figures, restatements, every credit method and cap
period, failure rules, commitments, process changes, initiatives; `benchmarks/bench_portfolio.py`): the
pack.json figures, every table of the PortfolioReview, and each contract's figures that the pass hands to
`PortfolioReview.reviews` against that contract's own ContractReview. On the generated portfolio the per-contract
path runs on 24 contracts chosen to cover every shape (all 300: set CINB_FULL_PORTFOLIO_CHECK=1, minutes).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cinb.load import load_portfolio
from cinb.portfolio import _portfolio_review_per_contract, portfolio_review
from cinb.review import ContractReview, contract_review
from cinb.review_many import LazyKpi, LazyReview, portfolio_pass

ROOT = Path(__file__).resolve().parent.parent
TABLES = ["ranking", "ratings", "rating_detail", "concerns", "off_track", "credits", "triggers", "definitions",
          "cpn_problems", "initiatives"]
#: What a LazyReview has from the pass (the rest comes from contract_review on demand).
FROM_PASS = ["contract", "period", "window_start", "window_months", "audience", "bands", "ratchet_rule", "source",
             "scorecard", "credits_ytd", "trigger"]
FRAMES_FROM_PASS = ["commitments", "initiatives"]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_portfolio", ROOT / "benchmarks" / "bench_portfolio.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _same_value(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    if a is pd.NaT and b is pd.NaT:
        return True
    if a is pd.NA and b is pd.NA:
        return True
    return type(a) is type(b) and bool(a == b)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def _same_dict(a: dict, b: dict, missing_text_as_nan: bool = False) -> None:
    """Same keys in the same order, same values of the same types (NaN equal to NaN); with
    ``missing_text_as_nan`` a None may be NaN (a text column of the whole portfolio's frame holds NaN)."""
    assert list(a) == list(b)
    for key in a:
        if missing_text_as_nan and _missing(a[key]) and _missing(b[key]):
            continue
        assert _same_value(a[key], b[key]), (key, a[key], b[key])


def _compare(fast, slow) -> None:
    """Everything a PortfolioReview holds, fast path against the per-contract path."""
    pack_fast, pack_slow = fast.to_pack(), slow.to_pack()
    assert json.dumps(pack_fast, sort_keys=True, default=str) == json.dumps(pack_slow, sort_keys=True, default=str)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(slow, name), check_exact=True, obj=name)
    assert fast.definition_summary == slow.definition_summary
    assert fast.headline() == slow.headline()
    assert (fast.period, fast.supplier, fast.audience, fast.data_hash, fast.source, fast.title) == \
        (slow.period, slow.supplier, slow.audience, slow.data_hash, slow.source, slow.title)
    assert [r.contract["contract_id"] for r in fast.reviews] == [r.contract["contract_id"] for r in slow.reviews]
    for lazy, full in zip(fast.reviews, slow.reviews):
        assert isinstance(lazy, LazyReview) and isinstance(full, ContractReview)
        _compare_review(lazy, full)


def _compare_review(lazy: LazyReview, full: ContractReview) -> None:
    """A LazyReview's figures from the pass equal the contract's own ContractReview's, value and type."""
    cid = full.contract["contract_id"]
    for name in FROM_PASS:
        mine, theirs = getattr(lazy, name), getattr(full, name)
        if isinstance(theirs, dict):
            _same_dict(mine, theirs)
        else:
            assert mine == theirs, (cid, name)
    for name in FRAMES_FROM_PASS:
        pd.testing.assert_frame_equal(getattr(lazy, name), getattr(full, name), check_exact=True,
                                      obj=f"{cid} {name}")
    assert len(lazy.kpis) == len(full.kpis)
    for mine, theirs in zip(lazy.kpis, full.kpis):
        assert isinstance(mine, LazyKpi)
        _same_dict(mine.kpi, theirs.kpi)
        _same_dict(mine.window, theirs.window, missing_text_as_nan=True)
        assert (mine.kpi_id, mine.name, mine.status, mine.frequency, mine.spc.variation) == \
            (theirs.kpi_id, theirs.name, theirs.status, theirs.frequency, theirs.spc.variation), (cid, mine.kpi_id)


@pytest.mark.parametrize("period,kwargs", [
    ("2026-10", {}),
    ("2025-12", {"window_months": 6, "audience": "supplier", "spc_min_points": 20, "ratchet_months": 6,
                 "ratchet_share": 0.25}),
])
def test_sample_portfolio_pass_equals_per_contract_reviews(sample_portfolio, period, kwargs):
    _compare(portfolio_review(sample_portfolio, period, **kwargs),
             _portfolio_review_per_contract(sample_portfolio, period, **kwargs))


def test_supplier_scorecard_pass_equals_per_contract_reviews(sample_portfolio):
    name = sample_portfolio.contracts["supplier"].iloc[0]
    part = sample_portfolio.supplier(name)
    _compare(portfolio_review(part, "2026-10", supplier=name),
             _portfolio_review_per_contract(part, "2026-10", supplier=name))


def test_lazy_review_computes_the_rest_on_demand(sample_portfolio):
    """Anything the pass does not hold is the contract's own review, computed once when first asked for."""
    r = portfolio_review(sample_portfolio, "2026-10")
    lazy = r.reviews[0]
    assert "review" not in lazy.__dict__  # nothing computed yet
    full = lazy.review
    assert lazy.summary == full.summary and lazy.late_returns is full.late_returns
    assert lazy.kpis[0].series.equals(full.kpis[0].series)
    assert lazy.kpis[0].spc.mean == full.kpis[0].spc.mean or np.isnan(full.kpis[0].spc.mean)
    assert lazy.data_hash == full.data_hash
    assert lazy.to_pack() == full.to_pack()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A generated portfolio of 300 contracts (897 KPIs, ~31,000 measurements), one of them with no KPIs."""
    folder = tmp_path_factory.mktemp("portfolio300")
    counts = _bench().generate(folder, contracts=300, seed=5, empty_contract=True)
    assert counts["contracts"] == 300 and counts["kpis"] == 897
    return load_portfolio(folder)


def test_generated_portfolio_has_the_shapes_the_pass_must_handle(generated):
    k, m = generated.kpis, generated.measurements
    assert set(k["frequency"].dropna()) == {"quarterly"} and k["frequency"].isna().any()
    assert (m["volume"] == 0).any() and m["value"].isna().any() and (m["complete"] == False).any()  # noqa: E712
    assert set(k["credit_method"]) == {"none", "shortfall", "fixed", "banded", "manual"}
    assert set(generated.contracts["service_credit_cap_period"].dropna()) >= {"month", "contract_year",
                                                                               "rolling_12"}
    assert len(generated.process_changes) and len(generated.critical_failure_rules) and len(generated.initiatives)
    assert generated.history["superseded"].any()
    f = portfolio_pass(generated, "2026-10")
    assert f.skipped  # contracts with no data up to the month are left out
    assert (f.spc["variation"] == "special_cause_concern").sum() >= 10
    assert (f.commitments["status"] == "off track").any()
    assert (f.credits_monthly["credit_gbp"] > 0).any() and (f.credits_monthly["cap_applied"]).any()


def _checked_contracts(portfolio, fast, n: int = 24) -> list[str]:
    """Contracts to review one by one: every shape that needs care, then others spread over the portfolio."""
    f = portfolio_pass(portfolio, fast.period)
    reviewed = list(f.contracts["contract_id"])
    m = f.credits_monthly
    hard = [
        set(portfolio.process_changes["contract_id"]), set(portfolio.critical_failure_rules["contract_id"]),
        set(f.kpis.loc[(f.spc["variation"] == "special_cause_concern").to_numpy(), "contract_id"]),
        set(f.commitments.loc[f.commitments["status"] == "off track", "contract_id"]),
        set(m.loc[m["cap_period"] != "month", "contract_id"]), set(m.loc[m["critical_failures"] > 0, "contract_id"]),
        set(f.kpis.loc[(f.windows["period_status"] != "reported").to_numpy(), "contract_id"]),
        set(fast.triggers["contract_id"]), set(f.initiatives["contract_id"]),
        set(f.contracts.loc[pd.to_datetime(f.contracts["start_date"]) > pd.Timestamp("2025-11-01"), "contract_id"]),
    ]
    chosen: list[str] = []
    for group in hard:
        chosen += [c for c in reviewed if c in group and c not in chosen][:2]
    chosen += [c for c in reviewed[::max(len(reviewed) // n, 1)] if c not in chosen]
    return [c for c in reviewed if c in set(chosen[:n])]


def _rows_of(frame: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    return frame[frame["contract_id"].isin(ids).to_numpy()].reset_index(drop=True)


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("contract_id", kind="stable").reset_index(drop=True)


def test_generated_portfolio_pass_equals_per_contract_reviews(generated):
    """The pass over all 300 contracts against one contract_review per contract for 24 of them, chosen to cover
    every shape (process changes, failure rules, concerns, commitments off track, running caps, statuses other
    than reported, trigger dates, initiatives, contracts younger than the window): each table's rows of those
    contracts, and each one's LazyReview against its ContractReview."""
    fast = portfolio_review(generated, "2026-10")
    ids = _checked_contracts(generated, fast)
    assert len(ids) == 24
    slow = _portfolio_review_per_contract(generated._subset(set(ids)), "2026-10")
    assert [r.contract["contract_id"] for r in slow.reviews] == ids
    for name in ["rating_detail", "concerns", "off_track", "credits", "definitions", "initiatives"]:
        pd.testing.assert_frame_equal(_rows_of(getattr(fast, name), ids), getattr(slow, name), check_exact=True,
                                      obj=name)
    # Ranking and triggers are sorted by score and by end date (ties in no set order), so compared by contract;
    # the full-portfolio comparisons above check their order.
    for name, drop in (("ranking", ["rank"]), ("triggers", [])):
        pd.testing.assert_frame_equal(_by_id(_rows_of(getattr(fast, name), ids).drop(columns=drop)),
                                      _by_id(getattr(slow, name).drop(columns=drop)), check_exact=True, obj=name)
    ranking = _rows_of(fast.ranking, ids)
    assert (ranking["rank"].diff().dropna() > 0).all() and ranking["score"].dropna().is_monotonic_decreasing
    grid = fast.ratings.loc[ids].dropna(axis=1, how="all")
    pd.testing.assert_frame_equal(grid, slow.ratings, check_exact=True)
    lazy = {r.contract["contract_id"]: r for r in fast.reviews}
    for full in slow.reviews:
        _compare_review(lazy[full.contract["contract_id"]], full)
    first = fast.reviews[0]
    assert first.to_pack() == contract_review(generated, first.contract["contract_id"], "2026-10").to_pack()


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("CINB_FULL_PORTFOLIO_CHECK"),
                    reason="minutes: one contract_review per contract; set CINB_FULL_PORTFOLIO_CHECK=1 to run")
def test_generated_portfolio_all_contracts(generated):
    """Every contract of the generated portfolio: the whole PortfolioReview, both ways."""
    _compare(portfolio_review(generated, "2026-10"), _portfolio_review_per_contract(generated, "2026-10"))


def test_no_contract_with_data():
    """A month before any data: every contract is skipped, as on the per-contract path."""
    p = load_portfolio(None)
    fast, slow = portfolio_review(p, "2019-01"), _portfolio_review_per_contract(p, "2019-01")
    assert fast.reviews == [] and fast.to_pack() == slow.to_pack()
    assert list(fast.ranking["contract_id"]) == list(p.contracts["contract_id"])


def test_bad_arguments_are_refused_as_by_contract_review(sample_portfolio):
    from cinb.errors import UsageError

    for kwargs, words in [({"audience": "board"}, "audience must be one of"),
                          ({"window_months": 0}, "window_months must be a whole number"),
                          ({"ratchet_share": 1.5}, "share must be in (0, 1]")]:
        with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)")):
            portfolio_review(sample_portfolio, "2026-10", **kwargs)
        with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)")):
            _portfolio_review_per_contract(sample_portfolio, "2026-10", **kwargs)

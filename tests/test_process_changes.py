"""Process changes rebase a KPI's limits in the pack; a sustained shift suggests a rebase; too few points, no verdict.

The rebase case, worked by hand: 20 months at 57–64% against a 90% target, a new process from Jan 2026, then
10 months 91, 98, 92, 97, 93, 98, 94, 95, 95, 93. Rebased at the change the new group has mean 946 / 10 = 94.6
and mean moving range (7+6+5+4+5+4+1+0+2) / 9 = 34 / 9 = 3.778, so limits 94.6 ∓ 2.66 × 3.778 =
84.55 to 104.65; the 90% target lies between them: assurance "inconsistent" (NHS Making Data Count).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cinb import contract_review, load_portfolio
from cinb.sections import scorecard, spc_cautions

FIRST = [57, 60, 58, 62, 59, 61, 64, 57, 60, 63, 58, 61, 59, 62, 60, 64, 57, 61, 63, 59]
LAST = [91, 98, 92, 97, 93, 98, 94, 95, 95, 93]
MONTHS = [str(p) for p in pd.period_range("2024-05", periods=30, freq="M")]


def _portfolio(tmp_path: Path, *, changes: bool, short: bool = False) -> Path:
    folder = tmp_path / ("with" if changes else "without")
    folder.mkdir()
    pd.DataFrame([dict(contract_id="C1", title="Service desk", authority="LB Test", supplier="Supplier Ltd",
                       start_date="2024-05-01", end_date="2029-04-30", annual_value_gbp=1_200_000)]
                 ).to_csv(folder / "contracts.csv", index=False)
    kpis = [dict(contract_id="C1", kpi_id="TRIAGE", name="Tickets triaged within 1 hour", unit="%",
                 direction="higher", target=90)]
    if short:
        kpis.append(dict(contract_id="C1", kpi_id="NEW", name="Knowledge articles reviewed", unit="%",
                         direction="higher", target=95, start_period="2026-05"))
    pd.DataFrame(kpis).to_csv(folder / "kpis.csv", index=False)
    rows = [dict(contract_id="C1", kpi_id="TRIAGE", period=m, value=v) for m, v in zip(MONTHS, FIRST + LAST)]
    if short:
        rows += [dict(contract_id="C1", kpi_id="NEW", period=m, value=v)
                 for m, v in zip(MONTHS[-6:], [70, 72, 69, 71, 70, 72])]
    pd.DataFrame(rows).to_csv(folder / "measurements.csv", index=False)
    if changes:
        pd.DataFrame([dict(contract_id="C1", kpi_id="TRIAGE", period="2026-01",
                           reason="New triage process with a dedicated first-line team")]
                     ).to_csv(folder / "process_changes.csv", index=False)
    return folder


def _kpi(review, kpi_id):
    return next(k for k in review.to_pack()["kpis"] if k["kpi_id"] == kpi_id)


def _all_text(review) -> str:
    return " ".join([*review.summary, *review.questions, *(k.paragraph for k in review.kpis)])


def test_a_recorded_change_rebases_the_limits_in_the_pack(tmp_path):
    p = load_portfolio(_portfolio(tmp_path, changes=True), today="2026-11-20")
    r = contract_review(p, "C1", "2026-10")
    spc = _kpi(r, "TRIAGE")["spc"]
    assert spc["lpl"] == pytest.approx(84.55, abs=0.005) and spc["upl"] == pytest.approx(104.65, abs=0.005)
    assert spc["assurance"] == "inconsistent"
    assert spc["rebase_at"] == ["2026-01"]
    assert spc["rebase_reasons"] == ["New triage process with a dedicated first-line team"]
    assert [g["from"] for g in spc["groups"]] == ["2024-05", "2026-01"] and spc["groups"][1]["points"] == 10
    assert spc["suggested_rebase"] is None
    text = _all_text(r)
    # Nothing in the pack contradicts the rebased limits.
    assert "consistently miss" not in text and "cannot meet its target" not in text
    assert "will hit and miss the target by chance" in text
    assert "since the process change in Jan 2026" in text
    # The chart marks the change with its reason.
    k = r.kpis[0]
    assert (pd.Period("2026-01", "M"), "Process change: New triage process with a dedicated first-line team") \
        in k.annotations
    # The short latest group is explained in a reader's words, not positions.
    cautions = spc_cautions(k)
    assert any("Since the process change in Jan 2026 there are 10 points" in c for c in cautions)
    assert not any("positions" in c for c in cautions)


def test_the_same_data_without_the_table_suggest_the_rebase_without_applying_it(tmp_path):
    p = load_portfolio(_portfolio(tmp_path, changes=False), today="2026-11-20")
    r = contract_review(p, "C1", "2026-10")
    spc = _kpi(r, "TRIAGE")["spc"]
    assert spc["rebase_at"] == []  # not applied
    s = spc["suggested_rebase"]
    assert s["period"] == "2026-01" and s["points"] == 10
    assert s["lpl"] == pytest.approx(84.55, abs=0.005) and s["upl"] == pytest.approx(104.65, abs=0.005)
    assert s["assurance"] == "inconsistent"
    text = _all_text(r)
    assert "consistently miss" not in text and "what change to the process" not in text
    assert "rebased at Jan 2026" in text
    assert any("Suggested rebase (not applied)" in c and "process_changes" in c for c in spc_cautions(r.kpis[0]))
    # Supplier packs leave the analyst's suggestion out.
    assert not any("Suggested rebase" in c for c in spc_cautions(r.kpis[0], "supplier"))


def test_a_kpi_with_six_points_gets_no_icon_no_verdict_no_question(tmp_path):
    p = load_portfolio(_portfolio(tmp_path, changes=True, short=True), today="2026-11-20")
    r = contract_review(p, "C1", "2026-10")
    spc = _kpi(r, "NEW")["spc"]
    assert spc["variation"] is None and spc["assurance"] is None
    assert spc["too_few_points"] == {"points": 6, "needed": 13}
    k = next(k for k in r.kpis if k.kpi_id == "NEW")
    assert "too few points" in k.paragraph and "consistently" not in k.paragraph
    assert not any("Knowledge articles reviewed" in q for q in r.questions)
    assert not any("Knowledge articles reviewed" in s and "consistently miss" in s for s in r.summary)
    table = scorecard(r)[0].df.set_index("KPI")
    assert table.loc["Knowledge articles reviewed", "Variation"] == "– Too few points (6 of 13)"
    assert table.loc["Knowledge articles reviewed", "Assurance"] == "– Too few points"
    # The threshold is a parameter.
    r3 = contract_review(p, "C1", "2026-10", spc_min_points=5)
    assert _kpi(r3, "NEW")["spc"]["assurance"] == "consistent_fail"

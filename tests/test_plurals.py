"""Number agreement in the text packs and the CLI write: "1 initiative is overdue", "of 1 KPI", "2 KPIs show".

Every expected string below is written out by hand for 0, 1 and 2.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pandas as pd
import pytest

from cinb import portfolio_sections, sections
from cinb.formatting import agree, noun_for, plural


@pytest.mark.parametrize("n, kpi, entry, verb, was", [
    (0, "0 KPIs", "0 entries", "are", "were"),
    (1, "1 KPI", "1 entry", "is", "was"),
    (2, "2 KPIs", "2 entries", "are", "were"),
])
def test_helpers(n, kpi, entry, verb, was):
    assert plural(n, "KPI") == kpi
    assert plural(n, "entry", "entries") == entry
    assert agree(n) == verb
    assert agree(n, "was", "were") == was
    assert noun_for(n, "contract") == ("contract" if n == 1 else "contracts")


def _html(objs) -> str:
    return "".join(o.to_html() for o in objs)


@pytest.fixture(scope="module")
def review(sample_portfolio):
    from cinb import contract_review

    return contract_review(sample_portfolio, "NB-SD-001", "2026-10")


@pytest.mark.parametrize("n, expected", [
    (1, "1 initiative is overdue: "),
    (2, "2 initiatives are overdue: "),
])
def test_overdue_initiatives(review, n, expected):
    inits = review.initiatives.head(2)
    overdue = pd.DataFrame({"initiative_id": [f"I-{i}" for i in range(n)], "title": [f"T{i}" for i in range(n)]})
    r = dataclasses.replace(review, initiative_summary=dataclasses.replace(review.initiative_summary,
                                                                          overdue=overdue), initiatives=inits)
    html = _html(sections.initiatives(r))
    assert expected in html
    assert ("initiatives is" not in html) and ("1 initiatives" not in html)


@pytest.mark.parametrize("flags, expected", [
    ([], "0 of 0 KPI definitions are complete"),
    ([True], "1 of 1 KPI definition is complete"),
    ([False], "0 of 1 KPI definition are complete"),
    ([True, False], "1 of 2 KPI definitions is complete"),
    ([True, True], "2 of 2 KPI definitions are complete"),
])
def test_definition_quality_sentence(review, flags, expected):
    d = review.definitions.head(len(flags)).copy()
    d["well_defined"] = flags
    html = _html(sections.definitions(dataclasses.replace(review, definitions=d)))
    assert expected in html


@pytest.mark.parametrize("months_left, days, expected", [
    (1, None, "(1 month left)"),
    (2, None, "(2 months left)"),
    (0, None, "(0 months left)"),
    (5, 1, "1 day after this month"),
    (5, 2, "2 days after this month"),
])
def test_notice_sentences(review, months_left, days, expected):
    from cinb.commentary import summary_sentences

    t = dict(review.trigger, months_left=months_left, notice_passed=days is None,
             days_to_notice=days if days is not None else -10)
    text = " ".join(summary_sentences(dataclasses.replace(review, trigger=t)))
    assert expected in text


@pytest.mark.parametrize("rows, expected", [
    (1, "1 KPI across 1 contract shows special-cause concern"),
    (2, "2 KPIs across 2 contracts show special-cause concern"),
])
def test_portfolio_concerns_sentence(rows, expected):
    c = pd.DataFrame({"contract_id": [f"C{i}" for i in range(rows)], "supplier": ["S"] * rows,
                      "kpi_id": ["K"] * rows, "kpi": ["Availability"] * rows, "rule": ["trend"] * rows})
    assert expected in _html(portfolio_sections.concerns(SimpleNamespace(concerns=c)))


def test_portfolio_definitions_sentence():
    s = {"well_defined": 1, "kpis": 1, "contracts": 1, "share_well_defined": 1.0, "mean_score": 100.0,
         "with_commitment": 1, "share_with_commitment": 1.0, "missing_counts": {"a unit": 1}}
    html = _html(portfolio_sections.definitions(SimpleNamespace(definitions=pd.DataFrame(), definition_summary=s)))
    assert "1 of 1 KPI across 1 contract is completely defined" in html
    assert "1 KPI carries a CI commitment" in html
    assert "a unit (1 KPI)" in html
    s2 = dict(s, well_defined=2, kpis=2, contracts=2, with_commitment=2, missing_counts={"a unit": 2})
    html = _html(portfolio_sections.definitions(SimpleNamespace(definitions=pd.DataFrame(), definition_summary=s2)))
    assert "2 of 2 KPIs across 2 contracts are completely defined" in html
    assert "2 KPIs carry a CI commitment" in html and "a unit (2 KPIs)" in html


@pytest.mark.parametrize("n, expected", [(1, "1 pack in 1.0 s"), (2, "2 packs in 1.0 s")])
def test_batch_summary_line(n, expected):
    from cinb.batch import summary_lines

    results = [SimpleNamespace(kind="contract", status="ok", timings=None) for _ in range(n)]
    batch = SimpleNamespace(results=results, failed=[], seconds=1.0, index_path="i.html", manifest_path="m.json",
                            pdf_backend=None)
    assert expected in summary_lines(batch)

"""The verdict block (cinb.verdict): hand-worked figures, its HTML, pack.json, and its place before the contents."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cinb import display, verdict
from cinb.labels import RATING_DISPLAY
from cinb.render import render_html

P = pd.Period("2026-10", "M")


def _kpi(kid, name, status="reported", rating="Good", variation="common_cause", rule=None):
    points = pd.DataFrame({"value": [1.0, 2.0, np.nan], "rule": [None, rule, None]})
    return SimpleNamespace(kpi_id=kid, name=name, window={"period_status": status, "period_rating": rating},
                           spc=SimpleNamespace(variation=variation, points=points))


def _review(**over):
    """A ContractReview-shaped object with figures worked by hand below."""
    kpis = [
        _kpi("A", "Availability", rating="Good"),
        _kpi("B", "Backlog", rating="Inadequate", variation="special_cause_concern", rule="trend"),
        _kpi("C", "Calls answered", rating="Good"),
        _kpi("D", "Disaster test", status="not_due"),
        _kpi("E", "Emails", status="not_reported"),
    ]
    base = dict(
        period=P, kpis=kpis, audience="internal", questions=["q1?", "q2?", "q3?"],
        # Two lines in the review month (£100.25 + £50) and one the month before (not this month's).
        credits_monthly=pd.DataFrame({"period": [P - 1, P, P], "credit_gbp": [999.0, 100.25, 50.0],
                                      "cap_applied": [False, False, True]}),
        credits_ytd={"credits_gbp": 1149.25, "year_start": pd.Period("2026-04", "M")},
        commitments=pd.DataFrame({"kpi_id": ["A", "B", "C"], "name": ["Availability", "Backlog", "Calls answered"],
                                  "kind": ["trajectory", "trajectory", None],
                                  "status": ["on track", "off track", "undefined"]}),
        trigger={"notice_date": "2027-03-31", "days_to_notice": 151, "notice_passed": False,
                 "end_date": "2027-09-30", "months_left": 11},
        contract={"contract_id": "C1", "title": "Service desk", "supplier": "S Ltd"},
    )
    base.update(over)
    return SimpleNamespace(**base)


def test_result_counts_order_and_symbols():
    got = verdict.result_counts(["Not due", "Good", "Inadequate", "Good", "Not reported", "Approaching target"])
    assert [(c["result"], c["count"], c["kind"], c["symbol"]) for c in got] == [
        ("Good", 2, "rating", "✓"), ("Approaching target", 1, "rating", "◐"), ("Inadequate", 1, "rating", "✗"),
        ("Not reported", 1, "status", None), ("Not due", 1, "status", None)]
    assert verdict.result_counts([]) == []


def test_contract_verdict_hand_worked():
    v = verdict.contract_verdict(_review())
    assert v["period"] == "2026-10" and v["kpis"] == 5
    assert [(c["result"], c["count"]) for c in v["results"]] == [
        ("Good", 2), ("Inadequate", 1), ("Not reported", 1), ("Not due", 1)]
    assert v["credits"] == {"month_gbp": 150.25, "year_to_date_gbp": 1149.25, "cap_applied": True,
                            "year_start": "2026-04"}
    # Two commitments with a kind and a definition (A on track, B off track); C is undefined.
    assert v["commitments"] == {"tracked": 2, "off_track": [{"kpi_id": "B", "name": "Backlog"}]}
    assert v["concerns"] == [{"kpi_id": "B", "name": "Backlog", "rule": "trend"}]
    assert v["notice"] == {"date": "2027-03-31", "days_to_notice": 151, "passed": False,
                           "end_date": "2027-09-30", "months_left": 11}
    assert v["questions"] == 3
    json.dumps(v)  # plain values only


@pytest.mark.parametrize("days, passed, shown", [(365, False, True), (366, False, False), (-5, True, True)])
def test_notice_shown_only_when_near_or_passed(days, passed, shown):
    t = {"notice_date": "2027-03-31", "days_to_notice": days, "notice_passed": passed, "end_date": "2027-09-30",
         "months_left": 11}
    assert (verdict.contract_verdict(_review(trigger=t))["notice"] is not None) is shown


def test_no_notice_date_no_credits_no_commitments():
    v = verdict.contract_verdict(_review(
        trigger={"notice_date": None, "days_to_notice": None, "notice_passed": False},
        credits_monthly=pd.DataFrame({"period": pd.PeriodIndex([], freq="M"), "credit_gbp": [],
                                      "cap_applied": []}),
        credits_ytd={}, commitments=pd.DataFrame(), questions=[]))
    assert v["notice"] is None
    assert v["credits"] == {"month_gbp": 0.0, "year_to_date_gbp": 0.0, "cap_applied": False, "year_start": None}
    assert v["commitments"] == {"tracked": 0, "off_track": []}
    assert v["questions"] == 0
    html = verdict.VerdictBlock(v).to_html()
    assert "£0 due for Oct 2026; £0 contract year to date" in html
    assert "none tracked" in html


def test_supplier_verdict_has_no_questions():
    v = verdict.contract_verdict(_review(audience="supplier"))
    assert v["questions"] is None
    assert "Review meeting" not in verdict.VerdictBlock(v).to_html()


def test_contract_block_html_words_beside_symbols_and_escaped():
    r = _review(kpis=[_kpi("X", "<script>alert(1)</script>", rating="Inadequate",
                           variation="special_cause_concern", rule="outside_limits"),
                      _kpi("Y", "Y", rating="Approaching target")])
    html = verdict.contract_block(r)[0].to_html()
    assert "<script>" not in html and "&lt;script&gt;" in html
    # Every rating: its symbol hidden from screen readers, then the count and the word (colour never alone).
    for word, n in (("Inadequate", 1), ("Approaching target", 1)):
        sym = RATING_DISPLAY[word][0]
        assert f'<span aria-hidden="true">{sym}</span> <strong>{n}</strong> {word}</li>' in html
    assert "£150.25 due for Oct 2026 (the cap applies); £1,149.25 contract year to date (since Apr 2026)" in html
    assert "1 of 2: Backlog" in html
    assert "1 KPI: &lt;script&gt;alert(1)&lt;/script&gt; (a point outside the process limits)" in html
    assert "31 Mar 2027, 151 days after this month; the contract ends on 30 Sep 2027" in html
    assert f'<a href="#{verdict.QUESTIONS_ANCHOR}">3 questions to put to the supplier</a>' in html


def test_rating_classes_and_questions_anchor_match_display():
    assert verdict._RATING_CLASS == {w: s.css_class for w, s in display.RATING_STYLES.items()}
    assert display.Heading("Questions for the review meeting", 3).id == verdict.QUESTIONS_ANCHOR


def _portfolio(contracts, supplier=None):
    """A PortfolioReview-shaped object: its cross-contract tables, as cinb.portfolio builds them.

    ``contracts``: (contract_id, score, [KPI results], concerns, off-track commitments, credit £, notice date).
    """
    ranking = pd.DataFrame([{"contract_id": c, "title": f"Title {c}", "supplier": f"Supplier {c}", "score": score,
                             "overall": "Approaching target", "kpis": len(words)}
                            for c, score, words, *_ in contracts]
                           + [{"contract_id": "C-NODATA", "title": None, "supplier": None, "score": None,
                               "overall": "Other", "kpis": 0}])
    ranking = ranking.sort_values("score", ascending=False, na_position="last").reset_index(drop=True)
    ranking.insert(0, "rank", range(1, len(ranking) + 1))
    detail = pd.DataFrame([{"contract_id": c, "slot": f"KPI {i + 1}", "kpi_id": f"K{i}", "kpi": f"K{i}",
                            "rating": w} for c, _, words, *_ in contracts for i, w in enumerate(words)])
    concerns = pd.DataFrame([{"contract_id": c, "kpi_id": f"K{i}"} for c, _, _, n, *_ in contracts for i in range(n)],
                            columns=["contract_id", "kpi_id"])
    off = pd.DataFrame([{"contract_id": c, "kpi_id": f"K{i}"} for c, _, _, _, n, *_ in contracts for i in range(n)],
                       columns=["contract_id", "kpi_id"])
    credits = pd.DataFrame([{"contract_id": c, "month_gbp": m, "ytd_gbp": 1000.0, "cap_hits_ytd": 0,
                             "critical_failures": 0} for c, _, _, _, _, m, _ in contracts])
    triggers = pd.DataFrame([{"contract_id": c, "notice_date": pd.Timestamp(d), "end_date": pd.Timestamp("2027-09-30"),
                              "months_left": 11, "notice_passed": pd.Timestamp(d) <= P.end_time}
                             for c, *_, d in contracts if d is not None])
    return SimpleNamespace(period=P, supplier=supplier, ranking=ranking, rating_detail=detail, concerns=concerns,
                           off_track=off, credits=credits, triggers=triggers)


def test_portfolio_verdict_attention_lowest_score_first_with_reasons():
    v = verdict.portfolio_verdict(_portfolio([
        # id, score, results, concerns, off track, credit £, notice date
        ("C-A", 70.0, ["Good", "Inadequate", "Not reported"], 1, 1, 150.25, "2027-03-31"),  # 151 days after Oct
        ("C-B", 40.0, ["Good"], 0, 0, 0.0, "2029-01-01"),                                  # nothing to attend to
        ("C-C", 50.0, ["Requires improvement"], 0, 0, 0.0, None),
        ("C-D", None, ["Requires improvement", "Requires improvement", "Not due"], 0, 0, 0.0, "2026-09-01"),
    ]))
    assert [x["contract_id"] for x in v["attention"]] == ["C-C", "C-A", "C-D"]
    assert v["attention"][0]["reasons"] == ["1 KPI rated Requires improvement"]
    assert v["attention"][1]["reasons"] == [
        "1 KPI rated Inadequate", "1 KPI not reported", "1 special-cause concern", "1 CI commitment off track",
        "£150.25 service credits", "notice date 31 Mar 2027, in 151 days"]
    # Notice 1 Sep 2026 is 60 days before the end of Oct 2026: passed.
    assert v["attention"][2]["reasons"] == ["2 KPIs rated Requires improvement", "notice date 1 Sep 2026 passed"]
    assert v["attention"][1]["rank"] == 1 and v["attention"][1]["title"] == "Title C-A"
    assert v["contracts"] == 4 and v["kpis"] == 3 + 1 + 1 + 3
    assert [(c["result"], c["count"]) for c in v["results"]] == [
        ("Good", 2), ("Requires improvement", 3), ("Inadequate", 1), ("Not reported", 1), ("Not due", 1)]
    assert v["credits"] == {"month_gbp": 150.25, "year_to_date_gbp": 4000.0}
    assert v["off_track"] == 1 and v["concerns"] == 1
    assert [(n["contract_id"], n["days_to_notice"], n["passed"]) for n in v["notices"]] == [
        ("C-D", -60, True), ("C-A", 151, False)]
    json.dumps(v)
    html = verdict.VerdictBlock(v, "portfolio").to_html()
    assert "3 contracts need attention, lowest score first:" in html
    listed = html[html.index('<ol class="cinb-verdict-attention">'):]
    assert listed.index("C-C") < listed.index("C-A") < listed.index("C-D")
    assert ("Notice dates near</dt><dd>2 contracts, earliest first: C-D (passed 1 Sep 2026), C-A (31 Mar 2027)"
            in html)
    one = verdict.portfolio_verdict(_portfolio([("C-C", 50.0, ["Inadequate"], 0, 0, 0.0, None)], "S Ltd"))
    assert one["scope"] == "supplier"
    assert "1 contract needs attention" in verdict.VerdictBlock(one, "portfolio").to_html()
    calm = verdict.portfolio_verdict(_portfolio([("C-B", 90.0, ["Good"], 0, 0, 0.0, None)]))
    assert calm["attention"] == [] and "No contract needs attention this month." in verdict.VerdictBlock(
        calm, "portfolio").to_html()


def test_portfolio_verdict_lists_a_few_and_counts_the_rest():
    many = [(f"C-{i}", float(i), ["Inadequate"], 0, 0, 0.0, None) for i in range(verdict.ATTENTION_SHOWN + 2)]
    html = verdict.VerdictBlock(verdict.portfolio_verdict(_portfolio(many)), "portfolio").to_html()
    assert html.count("<li><strong>C-") == verdict.ATTENTION_SHOWN
    assert "2 more contracts need attention: see Contract ranking." in html
    one_more = many[:verdict.ATTENTION_SHOWN + 1]
    html = verdict.VerdictBlock(verdict.portfolio_verdict(_portfolio(one_more)), "portfolio").to_html()
    assert "1 more contract needs attention: see Contract ranking." in html


def _notebook(tag: bool):
    cells = [
        new_markdown_cell("## Verdict"),
        new_code_cell("show(...)", metadata={"tags": ["verdict"]} if tag else {}, outputs=[new_output(
            "display_data", data={"text/html": verdict.contract_block(_review())[0].to_html(),
                                  "text/plain": "<verdict>"})]),
        new_markdown_cell("## Contract at a glance\n\nFacts."),
        # The questions' heading as cinb.sections.executive_summary shows it.
        new_code_cell("show(...)", outputs=[new_output("display_data", data={
            "text/html": display.Heading("Questions for the review meeting", 3).to_html(), "text/plain": "<h>"})]),
    ]
    return nbformat.from_dict(new_notebook(cells=cells))


def test_contents_come_right_after_the_verdict():
    page = render_html(_notebook(True), title="Pack")
    verdict_at, nav_at = page.index('<h2 id="Verdict">'), page.index('<nav class="cinb-toc"')
    assert page.index('<main id="content"') < verdict_at < page.index('class="cinb-verdict"') < nav_at \
        < page.index('<h2 id="Contract-at-a-glance">')
    assert page.count('<nav class="cinb-toc"') == 1 and "cinb-toc-slot" not in page and "cinb:toc" not in page
    # The contents list every section, the verdict first; the link to the questions finds its heading.
    toc = page[nav_at:page.index("</nav>", nav_at)]
    assert re.findall(r'href="#([^"]+)"', toc) == ["Verdict", "Contract-at-a-glance"]
    assert f'<h3 id="{verdict.QUESTIONS_ANCHOR}">' in page


def test_without_a_verdict_cell_the_contents_stay_before_the_content():
    page = render_html(_notebook(False), title="Pack")
    assert page.index('<nav class="cinb-toc"') < page.index('<main id="content"') < page.index('<h2 id="Verdict">')
    assert "cinb:toc" not in page


@pytest.fixture(scope="module")
def sample_review(sample_portfolio):
    from cinb import contract_review

    return contract_review(sample_portfolio, "NB-SD-001", "2026-10")


def test_sample_verdict_matches_pack_and_independent_sums(sample_review):
    r = sample_review
    pack = r.to_pack()
    assert pack["verdict"] == verdict.contract_verdict(r)
    v = pack["verdict"]
    # Independently: the credit lines of the month, the commitments marked off track, the KPIs' own results.
    month = r.credits_monthly.loc[r.credits_monthly["period"] == r.period, "credit_gbp"].sum()
    assert v["credits"]["month_gbp"] == pytest.approx(round(float(month), 2))
    assert v["credits"]["month_gbp"] == pack["credits"]["month_gbp"]
    assert v["credits"]["year_to_date_gbp"] == pytest.approx(round(r.credits_ytd["credits_gbp"], 2))
    assert len(v["commitments"]["off_track"]) == pack["headline"]["off_track"]
    assert {c["result"]: c["count"] for c in v["results"]} == pack["headline"]["ratings"]
    assert sum(c["count"] for c in v["results"]) == len(r.kpis)
    assert v["questions"] == len(r.questions)


def test_sample_portfolio_verdict_agrees_with_its_tables(sample_portfolio):
    from cinb import portfolio_review

    pr = portfolio_review(sample_portfolio, "2026-10")
    v = pr.to_pack()["verdict"]
    assert v == verdict.portfolio_verdict(pr)
    h = pr.headline()
    assert {c["result"]: c["count"] for c in v["results"]} == h["ratings"]
    assert (v["off_track"], v["concerns"]) == (h["off_track"], h["concerns"])
    assert (v["credits"]["month_gbp"], v["credits"]["year_to_date_gbp"]) == (h["credits_month_gbp"],
                                                                               h["credits_ytd_gbp"])
    assert v["contracts"] == h["contracts"]
    scores = [a["score"] for a in v["attention"] if a["score"] is not None]
    assert scores == sorted(scores)


def test_supplier_pack_json_verdict_withholds_the_question_count(sample_portfolio):
    from cinb import contract_review

    r = contract_review(sample_portfolio, "NB-SD-001", "2026-10", audience="supplier")
    assert r.to_pack()["verdict"]["questions"] is None


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["as rendered", "weasyprint"])
def test_pdf_verdict_first_page_after_cover_and_contents_numbered(rendered, tmp_path, backend):
    """Page 1 the cover, page 2 the verdict and then the contents; every contents entry's page number is the first
    page (from page 2) that prints its heading, with the batch's printer and with WeasyPrint."""
    from pypdf import PdfReader

    from cinb.pdf import render_pdf

    folder = rendered["root"] / "NB-SD-001"
    pdf = folder / "review.pdf"
    if backend == "weasyprint":
        pdf = render_pdf((folder / "review.html").read_text(encoding="utf-8"), tmp_path / "w.pdf",
                         backend="weasyprint")
    pages = [p.extract_text() for p in PdfReader(str(pdf)).pages]
    pack = json.loads((folder / "pack.json").read_text(encoding="utf-8"))
    assert "Verdict" not in pages[0]
    second = " ".join(pages[1].split())
    assert second.index("Verdict") < second.index("Service credits") < second.index("Contents")
    v = pack["verdict"]
    for c in v["results"]:
        assert f"{c['count']} {c['result']}" in second
    assert f"£{v['credits']['month_gbp']:,.2f} due for Oct 2026" in second
    entries = []
    lines = [line.strip() for line in pages[1][pages[1].index("Contents"):].splitlines()[1:] if line.strip()]
    for line in lines:  # the contents' entries, up to the first section, which may follow them on the page
        m = re.match(r"^(?:\d+\.\s+)?([A-Z][^.]*?)[ .]+(\d+)$", line)
        if not m or "Page " in line:
            break
        entries.append((m.group(1).strip(), int(m.group(2))))
    assert [t for t, _ in entries][:2] == ["Verdict", "Contract at a glance"], pages[1]
    assert entries[0][1] == 2
    # A heading is a line of its own (a sentence may name a section before it starts).
    for title, number in entries[1:]:
        first = next((i for i, p in enumerate(pages[1:], 2)
                      if any(line.strip() == title for line in p.splitlines())), None)
        assert number == first, (title, number, first)


def test_verdict_names_the_months_where_the_supplier_and_the_records_disagree():
    # Five KPI-months with both figures: two beyond the tolerance (FTF Jul, Sep), two within, one incomplete.
    rec = pd.DataFrame({
        "kpi_id": ["FTF", "FTF", "FTF", "P1", "P1"],
        "name": ["First-time fix", "First-time fix", "First-time fix", "P1 time", "P1 time"],
        "period": pd.PeriodIndex(["2026-07", "2026-08", "2026-09", "2026-09", "2026-10"], freq="M"),
        "status": ["differs", "agrees", "differs", "agrees", "incomplete"],
        "flagged": [True, False, True, False, False],
    })
    v = verdict.contract_verdict(_review(reconciliation=rec))
    assert v["records"] == {"compared": 4, "incomplete": 1, "differ": [
        {"kpi_id": "FTF", "name": "First-time fix", "period": "2026-07"},
        {"kpi_id": "FTF", "name": "First-time fix", "period": "2026-09"}]}
    html = verdict.VerdictBlock(v).to_html()
    assert ('2 of 4 KPI-months differ from the records: First-time fix (Jul 2026, Sep 2026); '
            '1 KPI-month not judged (records incomplete)') in html
    assert 'href="#reconciliation"' in html
    agreeing = verdict.contract_verdict(_review(reconciliation=rec.assign(flagged=False, status="agrees")))
    assert "all 5 KPI-months compared agree within the tolerance" in verdict.VerdictBlock(agreeing).to_html()
    # No derived figures: no line at all.
    assert verdict.contract_verdict(_review())["records"] is None
    assert "records" not in verdict.VerdictBlock(verdict.contract_verdict(_review())).to_html()

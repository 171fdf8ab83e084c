"""Sections of the portfolio pack and the supplier scorecard: a PortfolioReview into display objects."""

from __future__ import annotations

import html

import pandas as pd

from . import charts
from .commentary import RULE_WORDS, fmt_value, money
from .display import Callout, KeyFacts, Paragraphs, Table, _HTMLObject
from .portfolio import TRIGGER_HORIZON_MONTHS, PortfolioReview
from .review import month_name
from .sections import _dates, _pct, appendix as _contract_appendix, emit_pack  # noqa: F401 (emit_pack: notebooks)


def overview(r: PortfolioReview, marking: str = "OFFICIAL") -> list:
    h = r.headline()
    first = r.reviews[0].contract if r.reviews else {}
    facts = {
        "Authority": first.get("authority", "–"),
        "Supplier": r.supplier or f"{len({x.contract['supplier'] for x in r.reviews})} suppliers",
        "Review month": month_name(r.period),
        "Protective marking": marking,
        "Contracts": h["contracts"],
        "Annual value": money(sum(float(x.contract.get("annual_value_gbp") or 0) for x in r.reviews)),
        "KPI ratings this month": ", ".join(f"{n} {w}" for w, n in h["ratings"].items()),
        "KPIs with special-cause concern": h["concerns"],
        "CI commitments off track": h["off_track"],
        "Service credits this month / contract years to date": f"{money(h['credits_month_gbp'])} / "
                                                                f"{money(h['credits_ytd_gbp'])}",
        "Data version": r.data_hash[:12],
    }
    return [KeyFacts(facts)]


def heatmap(r: PortfolioReview) -> list:
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
    rk = r.ranking
    out = []
    scored = rk.dropna(subset=["score"])
    if len(scored):
        out.append(charts.score_bar(scored.set_index("contract_id"), title="Weighted scorecard by contract"))
    out.append(Table(pd.DataFrame({
        "Rank": rk["rank"], "Contract": rk["contract_id"], "Title": rk["title"].fillna("–"),
        "Supplier": rk["supplier"].fillna("–"),
        "Score": [f"{s:.0f}" if pd.notna(s) else "–" for s in rk["score"]],
        "Overall": rk["overall"].fillna("Other"), "KPIs": rk["kpis"], "Concerns": rk["concerns"],
    }), caption="Contracts ranked by weighted score over the review window", rating_columns=["Overall"],
        row_header="Contract"))
    return out


def concerns(r: PortfolioReview) -> list:
    c = r.concerns
    if c.empty:
        return [Callout("No KPI shows special-cause concern in the latest month.", "good")]
    by_supplier = c.groupby("supplier").size().sort_values(ascending=False)
    return [
        Paragraphs([f"{len(c)} KPIs across {c['contract_id'].nunique()} contracts show special-cause concern; "
                    "by supplier: " + ", ".join(f"{s} ({n})" for s, n in by_supplier.items()) + "."]),
        Table(pd.DataFrame({"Contract": c["contract_id"], "Supplier": c["supplier"], "KPI": c["kpi"],
                            "Signal": [RULE_WORDS.get(x, x or "–") for x in c["rule"]]}),
              caption="KPIs with special-cause concern in the latest month", row_header="Contract"),
    ]


def commitments(r: PortfolioReview) -> list:
    o = r.off_track
    if o.empty:
        return [Callout("No CI commitment is off track.", "good")]
    return [Table(pd.DataFrame({
        "Contract": o["contract_id"], "Supplier": o["supplier"], "KPI": o["name"],
        "Expected now": [fmt_value(v, u) for v, u in zip(o["expected_now"], o["unit"])],
        "Actual": [fmt_value(v, u) for v, u in zip(o["actual_now"], o["unit"])],
        "Due": o["due"].astype(str),
    }), caption="CI commitments off track", row_header="Contract")]


def credits(r: PortfolioReview) -> list:
    c = r.credits
    if c.empty:
        return [Paragraphs(["No contract has credit data for this month."])]
    out = [Paragraphs([f"Service credits due for {month_name(r.period)}: {money(c['month_gbp'].sum())}; "
                       f"contract years to date: {money(c['ytd_gbp'].sum())}."])]
    out.append(Table(pd.DataFrame({
        "Contract": c["contract_id"], "Supplier": c["supplier"], "This month": [money(x) for x in c["month_gbp"]],
        "Contract year to date": [money(x) for x in c["ytd_gbp"]], "Months the cap bit": c["cap_hits_ytd"],
        "Critical failures this month": c["critical_failures"],
    }), caption="Service credits by contract", row_header="Contract"))
    return out


def triggers(r: PortfolioReview) -> list:
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
    d, s = r.definitions, r.definition_summary
    out = []
    if s:
        missing = sorted(s["missing_counts"].items(), key=lambda kv: -kv[1])
        out.append(Paragraphs([
            f"{s['well_defined']} of {s['kpis']} KPIs across {s['contracts']} contracts are completely defined "
            f"({_pct(s['share_well_defined'])}); the mean definition score is {s['mean_score']:.0f}%. "
            f"{s['with_commitment']} KPIs carry a CI commitment ({_pct(s['share_with_commitment'])}).",
            "Most often missing: " + ", ".join(f"{label} ({n} KPIs)" for label, n in missing[:4] if n) + ".",
        ]))
    if len(d):
        out.append(Table(_definition_rows(d), caption="Definition quality by contract", row_header="Contract"))
    return out


def _definition_rows(d: pd.DataFrame) -> pd.DataFrame:
    """One readable row per contract (the analysis frame also has a share per definition element)."""
    def missing(row) -> str:
        if not row["most_missing"] or not row["most_missing_count"]:
            return "nothing"
        n = int(row["most_missing_count"])
        return f"{row['most_missing']} ({n} KPI{'s' if n != 1 else ''})"

    return pd.DataFrame({
        "Contract": d["contract_id"],
        "KPIs": d["kpis"].astype(int),
        "Fully defined": [f"{int(w)} ({_pct(sh)})" for w, sh in zip(d["well_defined"], d["share_well_defined"])],
        "Mean score": [f"{v:.0f}%" for v in d["mean_score"]],
        "With CI commitment": d["with_commitment"].astype(int),
        "Most often missing": [missing(row) for _, row in d.iterrows()],
    })


def cpn_readiness(r: PortfolioReview) -> list:
    p = r.cpn_problems
    if p is None or p.empty:
        return [Callout("Every statutory KPI has data and a target: the Contract Performance Notices can be "
                        "produced with `cinb cpn`.", "good")]
    cols = [c for c in ("table", "row", "column", "value", "problem", "fix") if c in p.columns]
    return [Paragraphs([f"{len(p)} gaps to close before the next Contract Performance Notices "
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
    depth = "../../" if r.supplier else "../"
    items = [(f"{depth}{x.contract['contract_id']}/review.html",
              f"{x.contract['contract_id']} — {x.contract['title']} ({x.contract['supplier']})") for x in r.reviews]
    return [Paragraphs(["Each contract's review pack for this month (HTML; the PDF sits beside it)."]), _Links(items)]


def initiatives(r: PortfolioReview) -> list:
    i = r.initiatives
    if i is None or i.empty:
        return [Paragraphs(["No improvement initiatives are recorded."])]
    return [Table(pd.DataFrame({
        "Contract": i["contract_id"], "ID": i["initiative_id"], "Title": i["title"],
        "Status": i["status"].str.replace("_", " "), "Due": _dates(i["due"]),
        "Expected benefit": [money(x) if pd.notna(x) else "–" for x in i["expected_benefit_gbp"]],
        "Realised benefit": [money(x) if pd.notna(x) else "–" for x in i["realised_benefit_gbp"]],
    }), caption="Improvement initiatives", row_header="ID")]


def appendix(r: PortfolioReview, parameters: dict | None = None) -> list:
    if not r.reviews:
        return []
    return _contract_appendix(r.reviews[0], parameters)

"""The service-credits section of a contract pack: the month's lines, the month in words, the year's ledger.

Split from `cinb.sections` (which re-exports `credits`); every figure comes from `cinb.credits` and each line
names the rule of the contract's schedule applied, so a pound in the pack is traceable to its line.
"""

from __future__ import annotations

import pandas as pd

from . import charts
from .display import Callout, Paragraphs, Table
from .formatting import DASH, decimal, money, percent_value, plural, value_text, yes_no
from .review import ContractReview, month_name

__all__ = ["credits"]


def credits(r: ContractReview) -> list:
    """Service credits: the review month's lines per KPI, the month against the cap, the contract year to date and
    the last 12 months.

    Parameters
    ----------
    r : ContractReview
        Reads ``credit_lines`` (:func:`cinb.credits.credit_lines`, credit as % of the monthly charge),
        ``credits_monthly`` (:func:`cinb.credits.monthly_credits`, in GBP after the cap), ``credits_ytd``
        (:func:`cinb.credits.year_to_date`), ``kpis`` (names) and ``period``.

    Returns
    -------
    list
        Display objects of :mod:`cinb.display`, each only when there is something to show: a ``Table`` of the
        month's credit lines; ``Paragraphs`` on the month (before and after the cap, GBP, critical failures) and
        the contract year to date; a warning ``Callout`` when the month is incomplete (a line not reported or not
        computable); a ``Chart`` (:func:`cinb.charts.credits_chart`) of the last 12 months when any credit was due.
    """
    lines = r.credit_lines[r.credit_lines["period"] == r.period]
    names = {k.kpi_id: k.name for k in r.kpis}
    month = r.credits_monthly[r.credits_monthly["period"] == r.period]
    out = []
    if len(lines):
        table = pd.DataFrame({
            "KPI": [names.get(x, x) for x in lines["kpi_id"]],
            "Method": lines["credit_method"],
            "Value": [value_text(v, u) for v, u in zip(lines["value"], lines.get("unit", [None] * len(lines)))],
            "Rule applied": lines["rule"] if "rule" in lines else "",
            "Credit % of charge": [percent_value(v, 2) for v in lines["credit_pct"]],
            "Critical failure": [yes_no(x) for x in lines["critical_failure"]],
            "Note": [(f"{p}" if isinstance(p, str) else "") for p in lines["problem"]],
        })
        out.append(Table(table, caption=f"Service credit lines, {month_name(r.period)}: each KPI's credit as a % of "
                                        f"the month's charge, and the rule of the contract's schedule applied",
                         row_header="KPI"))
    if len(month):
        out.append(Paragraphs(_credit_month_sentences(r, month.iloc[0])))
        m = month.iloc[0]
        if int(m.get("lines_manual", 0) or 0):
            manual = [names.get(x, x) for x in lines.loc[lines["manual"], "kpi_id"]] if "manual" in lines else []
            out.append(Callout(f"Not computed by cinb: {', '.join(manual)} — the contract's credit for "
                               f"{'this KPI' if len(manual) == 1 else 'these KPIs'} depends on terms outside the "
                               f"data and is assessed by hand; the month's total excludes it.", "warning"))
        if int(m["lines_not_reported"]) or int(m["lines_with_problem"]):
            out.append(Callout("Some KPI lines could not be computed this month (not reported or a definition "
                               "problem): the credit shown may be understated.", "warning"))
        ledger = _credit_ledger(r)
        if ledger is not None:
            out.append(ledger)
    recent = r.credits_monthly[r.credits_monthly["period"] > r.period - 12]
    if len(recent) and float(recent["credit_gbp"].sum()) > 0:
        cap_gbp = None
        if len(month) and pd.notna(month.iloc[0]["cap_pct"]) and month.iloc[0].get("cap_period", "month") == "month":
            cap_gbp = float(month.iloc[0]["cap_gbp"])
        out.append(charts.credits_chart(recent.set_index("period")["credit_gbp"], cap_gbp,
                                        title="Service credits per month, last 12 months"))
    return out


_CAP_WORDS = {"month": "of the month's charge", "contract_year": "of the contract year's charges",
              "rolling_12": "of the last 12 months' charges"}


def _credit_month_sentences(r: ContractReview, m) -> list[str]:
    """The month's credit in words: charge (pro-rated), before and after failures and the cap, headroom, year."""
    month = month_name(r.period)
    part = ""
    if pd.notna(m.get("charge_fraction")) and float(m["charge_fraction"]) < 1:
        part = (f" (a part month: {decimal(100 * float(m['charge_fraction']))}% of the month is in the contract "
                f"term, so the charge of {money(m['monthly_charge_gbp'])} is pro-rated)")
    out = [f"{month}: credits of {percent_value(m['raw_pct'], 2)} of the month's charge of {money(m['charge_gbp'])}"
           f"{part}, {money(m['raw_gbp'])} before the cap."]
    n = int(m["critical_failures"])
    if n:
        rule = f" ({m['cslf_rule']})" if isinstance(m.get("cslf_rule"), str) else ""
        out.append(f"{n} Critical Service Level Failure{'s' if n != 1 else ''} this month{rule}."
                   + (f" Under the contract's rule, this month's credits of {money(m['suppressed_gbp'])} do not "
                      f"accrue: the authority's other remedies apply instead." if bool(m.get("suppressed")) else ""))
    if pd.isna(m["cap_pct"]):
        out.append(f"No cap: {money(m['credit_gbp'])} due.")
    else:
        cap = (f"The cap is {percent_value(m['cap_pct'])} {_CAP_WORDS.get(m['cap_period'], '')}, "
               f"{money(m['cap_gbp'])}")
        if m["cap_period"] != "month":
            cap += f", of which {money(m['cap_used_before_gbp'])} was used before this month"
        verdict = (f"{money(m['credit_gbp'])} due, cut by the cap" if bool(m["cap_applied"])
                   else "nothing due" if not float(m["credit_gbp"] or 0) else f"{money(m['credit_gbp'])} due in full")
        left = (f"; the cap was reached this month" if bool(m["cap_reached"]) and float(m["credit_gbp"]) > 0
                else f"; {money(m['headroom_gbp'])} of headroom left" if m["cap_period"] != "month" else "")
        out.append(f"{cap}: {verdict}{left}.")
    y = r.credits_ytd
    suppressed = float(y.get("suppressed_gbp") or 0.0)
    out.append(f"Contract year {y.get('contract_year', '–')} to date: {money(y.get('credits_gbp'))} over "
               f"{plural(int(y.get('months', 0) or 0), 'month')}; the cap cut the credit in "
               f"{plural(int(y.get('cap_hits', 0) or 0), 'month')}; "
               f"{y.get('critical_failures', 0)} Critical Service Level "
               f"Failure{'' if y.get('critical_failures', 0) == 1 else 's'}"
               + (f"; {money(suppressed)} of credits did not accrue because of them" if suppressed else "") + ".")
    return out


def _credit_ledger(r: ContractReview):
    """The contract year's ledger to the review month, when any credit, failure or cap is in it (else None)."""
    y = r.credits_ytd
    if not y:
        return None
    led = r.credits_monthly[(r.credits_monthly["contract_year"] == y.get("contract_year"))
                            & (r.credits_monthly["period"] <= r.period)]
    if not len(led) or not (led["raw_gbp"].fillna(0).sum() > 0 or led["critical_failures"].sum() > 0):
        return None
    frame = pd.DataFrame({
        "Month": [month_name(p) for p in led["period"]],
        "Charge": [money(v) + (" (part month)" if f < 1 else "") for v, f in zip(led["charge_gbp"],
                                                                                 led["charge_fraction"])],
        "Credits before cap": [money(v) for v in led["raw_gbp"]],
        "Critical failures": led["critical_failures"].astype(int),
        "Suppressed": [money(v) if s else DASH for v, s in zip(led["suppressed_gbp"], led["suppressed"])],
        "Cap": [DASH if pd.isna(c) else money(c) for c in led["cap_gbp"]],
        "Due": [money(v) for v in led["credit_gbp"]],
        "Headroom after": [DASH if pd.isna(h) or k == "month" else money(h)
                           for h, k in zip(led["headroom_gbp"], led["cap_period"])],
    })
    # A cap counted month by month leaves no headroom to carry: the column is shown only when some cap runs longer.
    headroom = not (frame["Headroom after"] == DASH).all()
    if not headroom:
        frame = frame.drop(columns="Headroom after")
    return Table(frame, caption=f"Service credit ledger, contract year {y.get('contract_year')} to "
                                f"{month_name(r.period)}: charge (pro-rated in part months), credits before the cap, "
                                f"Critical Service Level Failures and credits they suppressed, the cap for the period "
                                f"it is counted over, credit due" + (" and cap headroom" if headroom else ""),
                 row_header="Month")

"""The supplier's monthly KPI return as an Excel template: write it for a contract and month, read it back.

The workbook has a visible sheet ``Return`` (contract, supplier and month at the top, then one row per KPI
with its name, unit, which way is better, SLA and target, all locked and greyed; the supplier fills the
``Value`` and ``Notes`` columns and the optional ``Submitted on`` date) and a hidden sheet ``_cinb`` carrying
the contract id, the month, the columns and the KPI id of each row, so that reading it back does not depend on
the visible labels. Value cells carry Excel data validation (a decimal, not negative; 0 to 100 for KPIs in %
whose levels are at most 100). A percentage typed with its sign (``98.5%``) is understood.

Version 2 of the data contract (KPI regimes):

* Only the KPIs *due* in the month are listed: a quarterly KPI appears in the last month of its quarters, an
  annual one in the last month of its years (`cinb.regimes`), and a KPI before its ``start_period`` or after its
  ``end_period`` not at all.
* When a KPI of the contract uses a version-2 column (frequency, start_period, end_period, volume_unit,
  aggregation), the return gains, after Notes, a ``Volume`` column for KPIs with a ``volume_unit`` whose header
  names the unit (``Volume (incidents)``: how many items the value was measured over; ``0`` with an empty value
  means no activity) and a ``Complete`` column (``no``: the month's figure is provisional). Value and Notes stay
  in columns G and H, and a contract whose KPIs use none of those columns keeps the version-1 layout, so
  suppliers' returns and habits stay valid.
* Returns written by an earlier cinb (template version 1) are read as before.

Corrections and dates (`cinb.store.ingest` applies these rules when a return restates a month already stored):

* The SLA column is headed by the KPIs' direction: ``SLA (minimum)`` when higher is better, ``SLA (maximum)`` when
  every KPI listed is lower-is-better; in a sheet with both, each lower-is-better KPI's SLA cell reads ``max 4``.
* An empty value cell in a correction keeps the value already stored; :data:`NOT_REPORTED` (``not reported``)
  typed in the value cell withdraws it (the month becomes "not reported"). The value cells accept that text
  (their Excel check warns, and lets it through).
* ``Submitted on`` empty: the return is recorded as received on the day it is ingested, and the ingest says so
  (one warning at cell B5). A date that is not a date or lies in the future is one error at B5, not one per row.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError, UsageError
from .periods import MONTH_RE
from .regimes import is_due, kpi_calendar, period_label, step_of
from .schema import ID_RE, RawTable
from .sources import cell_text

RETURN_SHEET = "Return"
META_SHEET = "_cinb"
TEMPLATE_KIND = "cinb KPI return"
#: 2: the columns are listed in the hidden sheet (Volume and Complete may be there); 1 is read as before.
TEMPLATE_VERSION = 2
_HEADER_ROW = 9
_COLUMNS = ["KPI id", "KPI", "Unit", "Better when", "SLA (minimum)", "Target", "Value", "Notes"]
_VALUE_COL, _NOTES_COL = 7, 8
#: The cell of the date the supplier sends the return (every row of the return gets it).
SUBMITTED_CELL = _SUBMITTED_CELL = "B5"
#: What a value cell says to withdraw a stored value (case and surrounding spaces do not matter). An empty value
#: cell in a correction keeps the stored value instead; see `cinb.store.ingest`.
NOT_REPORTED = "not reported"
#: The SLA column's heading: the SLA is a minimum when higher is better, a maximum when lower is better.
SLA_HEADING = {"higher": "SLA (minimum)", "lower": "SLA (maximum)"}
#: The KPI columns of data contract version 2: a contract using any of them gets the version-2 layout.
_V2_KPI_COLUMNS = ("frequency", "start_period", "end_period", "volume_unit", "aggregation")


def is_not_reported(text) -> bool:
    """True when a value cell's text is the :data:`NOT_REPORTED` marker (any case, spaces around and between
    words ignored); ``text`` is any cell value (None, a number: False)."""
    return isinstance(text, str) and " ".join(text.split()).lower() == NOT_REPORTED


def sla_heading(directions) -> str:
    """The heading of the SLA column for KPIs of these ``directions`` (``higher``/``lower``, one per KPI).

    ``SLA (maximum)`` when every KPI is lower-is-better, else ``SLA (minimum)`` (the SLA cells of any
    lower-is-better KPI in a mixed sheet then read ``max …``: see `write_return_template`).
    """
    directions = [str(d) for d in directions]
    return SLA_HEADING["lower"] if directions and all(d == "lower" for d in directions) else SLA_HEADING["higher"]


def _period(period) -> pd.Period:
    """The month a template covers, from ``YYYY-MM`` text (or a monthly Period); UsageError otherwise."""
    text = str(period)
    try:
        p = pd.Period(text, freq="M")
    except (ValueError, TypeError):
        p = None
    if p is None or not MONTH_RE.fullmatch(text):
        raise UsageError(f"the period must be a month written YYYY-MM (e.g. 2026-10), not {period!r}")
    return p


def write_return_template(portfolio, contract_id: str, period, out_path) -> Path:
    """Write the Excel return for one contract and month.

    Only the KPIs due in ``period`` are listed (see the module notes; a quarterly or annual KPI's name says the
    period its value covers, e.g. ``(Jul–Sep 2026)``); with version-2 KPIs the sheet has ``Volume`` and
    ``Complete`` columns after ``Notes``.

    Parameters
    ----------
    portfolio : Portfolio
        Where the contract's KPIs are defined.
    contract_id : str
    period : str
        The month the return covers, ``YYYY-MM``.
    out_path : str or Path
        The ``.xlsx`` file to write (its folder is created).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    UsageError
        Unknown contract (with close matches), malformed month, contract without KPIs, a month outside the
        contract term, or no KPI due in the month.
    """
    import openpyxl
    from openpyxl.styles import Alignment, Font, PatternFill, Protection
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    per = _period(period)
    one = portfolio.contract(contract_id)
    contract = one.contracts.iloc[0]
    all_kpis = one.kpis.sort_values("kpi_id", kind="stable").reset_index(drop=True)
    if not len(all_kpis):
        raise UsageError(f"contract {contract_id} has no KPIs in {portfolio.source}: nothing to return")
    start, end = contract["start_date"].to_period("M"), contract["end_date"].to_period("M")
    if not start <= per <= end:
        raise UsageError(f"{per} is outside the term of {contract_id} ({start} to {end}); choose a month in the term")
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".xlsx":
        raise UsageError(f"the template is an Excel workbook: give a file name ending in .xlsx, not {out_path.name}")
    kpis = _due_kpis(all_kpis, one, per)
    if not len(kpis):
        raise UsageError(f"no KPI of {contract_id} is due in {per}: quarterly and annual KPIs are due only in the "
                         "last month of their period, and a KPI is not due before its start_period or after its "
                         "end_period; choose another month")
    cols = _layout(all_kpis, kpis)
    cols["names"][4] = sla_heading(kpis["direction"])
    mixed = kpis["direction"].nunique() > 1  # one heading for both: each maximum says so in its cell
    last = get_column_letter(len(cols["names"]))

    grey = PatternFill("solid", fgColor="E7E6E6")
    entry = PatternFill("solid", fgColor="FFF2CC")
    bold = Font(bold=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = RETURN_SHEET

    def put(cell, value):
        ws[cell] = value
        if isinstance(value, str):
            ws[cell].data_type = "s"  # text from the portfolio is never a formula

    put("A1", f"Monthly KPI return: {contract['title']}")
    ws["A1"].font = Font(bold=True, size=14)
    for r, (label, value) in enumerate([("Contract", contract_id), ("Supplier", contract["supplier"]),
                                        ("Month", str(per))], start=2):
        put(f"A{r}", label)
        ws[f"A{r}"].font = bold
        put(f"B{r}", value)
    put("A5", "Submitted on")
    ws["A5"].font = bold
    ws[_SUBMITTED_CELL].number_format = "yyyy-mm-dd"
    ws[_SUBMITTED_CELL].fill = entry
    ws[_SUBMITTED_CELL].protection = Protection(locked=False)
    put("A7", "Fill in the yellow cells only: one value per KPI for the month, in the KPI's unit "
              "(percentages as 98.5 or 98.5%). Leave a value empty if it cannot be reported and say why in Notes. "
              f"Correcting a month already sent: fill in only what changes; an empty value keeps the value sent "
              f"before, and '{NOT_REPORTED}' in the value cell withdraws it. Submitted on: the date you send this "
              "return (left empty, the day it is received is recorded)."
        + (" Volume: how many items the value was measured over (0 and no value: no activity)."
           if cols["volume"] else "")
        + (" Complete: no if the figure is provisional (the month's outcomes are not all known yet)."
           if cols["complete"] else ""))
    ws["A7"].alignment = Alignment(wrap_text=True)
    ws.merge_cells(f"A7:{last}7")
    ws.row_dimensions[7].height = 62 if not cols["complete"] else 78
    for j, name in enumerate(cols["names"], start=1):
        cell = ws.cell(row=_HEADER_ROW, column=j, value=name)
        cell.font = bold
        cell.fill = grey
    complete_dv = None
    if cols["complete"]:
        complete_dv = DataValidation(type="list", formula1='"yes,no"', allow_blank=True, showErrorMessage=True,
                                     errorTitle="Complete", error="yes, no, or leave it empty (empty means yes).",
                                     prompt="no if the figure is provisional; empty means yes", showInputMessage=True)
        ws.add_data_validation(complete_dv)
    for i, k in kpis.iterrows():
        r = _HEADER_ROW + 1 + i
        freq = k.get("frequency")
        name = k["name"] if step_of(freq) == 1 else f"{k['name']} ({period_label(per, freq)})"
        cells = [k["kpi_id"], name, k["unit"], k["direction"],
                 None if pd.isna(k["sla"]) else float(k["sla"]), None if pd.isna(k["target"]) else float(k["target"])]
        for j, v in enumerate(cells, start=1):
            cell = ws.cell(row=r, column=j, value=v)
            if isinstance(v, str):
                cell.data_type = "s"
            cell.fill = grey
        if mixed and k["direction"] == "lower" and cells[4] is not None:
            ws.cell(row=r, column=5).number_format = '"max "General'  # under "SLA (minimum)": this one is a maximum
        counted = cols["volume"] and isinstance(k.get("volume_unit"), str) and k["volume_unit"] != ""
        for j in (cols["value"], cols["notes"], cols["complete"], cols["volume"] if counted else None):
            if j:
                cell = ws.cell(row=r, column=j)
                cell.fill = entry
                cell.protection = Protection(locked=False)
        if cols["volume"] and not counted:
            ws.cell(row=r, column=cols["volume"]).fill = grey  # this KPI counts no items
        ws.cell(row=r, column=cols["value"]).number_format = "General"
        dv = _validation(k)
        ws.add_data_validation(dv)
        dv.add(ws.cell(row=r, column=cols["value"]))
        if counted:
            vdv = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0", allow_blank=True,
                                 showErrorMessage=True, errorTitle="Volume", error=f"A number of {k['volume_unit']}, "
                                 "not negative.", prompt=f"number of {k['volume_unit']} the value was measured over "
                                 "(0 and no value: no activity)", showInputMessage=True)
            ws.add_data_validation(vdv)
            vdv.add(ws.cell(row=r, column=cols["volume"]))
        if complete_dv is not None:
            complete_dv.add(ws.cell(row=r, column=cols["complete"]))
    date_dv = DataValidation(type="date", operator="greaterThan", formula1="36526", allow_blank=True,
                             errorTitle="Date", error="Type the date the return is sent, e.g. 2026-11-10.")
    ws.add_data_validation(date_dv)
    date_dv.add(ws[_SUBMITTED_CELL])
    for j, name in enumerate(cols["names"], start=1):
        width = (14, 44, 9, 12, 14, 10, 12)[j - 1] if j <= 7 else 50 if name == "Notes" else max(12, len(name) + 2)
        ws.column_dimensions[get_column_letter(j)].width = width
    ws.freeze_panes = f"A{_HEADER_ROW + 1}"
    # Protection without a password: it stops accidental edits of the KPI definitions, not a determined user;
    # reading back checks the ids against the hidden sheet anyway.
    ws.protection.sheet = True
    ws.protection.sort = True
    ws.protection.autoFilter = True

    meta = wb.create_sheet(META_SHEET)
    meta.append(["template", TEMPLATE_KIND])
    meta.append(["version", TEMPLATE_VERSION])
    meta.append(["contract_id", contract_id])
    meta.append(["period", str(per)])
    meta.append(["source", portfolio.source])
    meta.append(["data_hash", one.data_hash])
    for key in ("value", "notes", "volume", "complete"):
        if cols[key]:
            meta.append([f"{key}_column", cols[key]])
    meta.append([])
    meta.append(["row", "kpi_id"])
    for i, k in kpis.iterrows():
        meta.append([_HEADER_ROW + 1 + i, k["kpi_id"]])
    for row in meta.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    meta.sheet_state = "hidden"
    meta.protection.sheet = True
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    wb.save(tmp)
    tmp.replace(out_path)  # never a half-written file under the published name
    return out_path


def _due_kpis(kpis: pd.DataFrame, one, per: pd.Period) -> pd.DataFrame:
    """The KPIs due in the month ``per`` and in force then (their recorded months set the quarters and years)."""
    cal = kpi_calendar(kpis, one.contracts, one.measurements)
    o = per.ordinal
    with np.errstate(invalid="ignore"):
        live = ~(cal["life_lo"].to_numpy() > o) & ~(cal["life_hi"].to_numpy() < o)
    due = live & is_due(np.full(len(cal), o), cal["step"].to_numpy(), cal["phase"].to_numpy())
    return kpis[due].reset_index(drop=True)


def _layout(all_kpis: pd.DataFrame, kpis: pd.DataFrame) -> dict:
    """The columns of the sheet: ``names`` (headers) and the 1-based column of value, notes, volume and complete
    (0 when absent). Version-1 layout unless a KPI of the contract uses a version-2 column."""
    v2 = any(c in all_kpis and all_kpis[c].notna().any() and (all_kpis[c].astype(str) != "").any()
             for c in _V2_KPI_COLUMNS)
    if not v2:
        return {"names": list(_COLUMNS), "value": _VALUE_COL, "notes": _NOTES_COL, "volume": 0, "complete": 0}
    # Value and Notes stay in G and H (as in version 1): the new columns come after them.
    names = list(_COLUMNS)
    units = [u for u in dict.fromkeys(kpis["volume_unit"].dropna().astype(str)) if u] if "volume_unit" in kpis else []
    out = {"value": _VALUE_COL, "notes": _NOTES_COL, "volume": 0}
    if units:
        names.append(f"Volume ({' / '.join(units)})")
        out["volume"] = len(names)
    names.append("Complete")
    out["complete"] = len(names)
    out["names"] = names
    return out


def _validation(k):
    """The Excel data validation of a KPI's value cell (``k`` a row of the kpis frame): by unit and levels."""
    from openpyxl.worksheet.datavalidation import DataValidation

    unit = k["unit"]
    levels = [k[c] for c in ("sla", "target", "critical", "baseline", "ci_target") if pd.notna(k[c])]
    if unit == "%" and all(v <= 100 for v in levels):
        dv = DataValidation(type="decimal", operator="between", formula1="0", formula2="100", allow_blank=True)
        dv.error = "A percentage from 0 to 100, e.g. 98.5 (or leave it empty and explain in Notes)."
    elif unit == "score":
        dv = DataValidation(type="decimal", allow_blank=True, operator="between", formula1="-1E+300",
                            formula2="1E+300")
        dv.error = "A number."
    else:
        dv = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0", allow_blank=True)
        dv.error = f"A number of {unit}, not negative."
    dv.error += f" To withdraw a value sent before, write {NOT_REPORTED}."
    # A warning, not a stop: the value cell must accept the NOT_REPORTED marker. cinb checks every value anyway.
    dv.errorStyle = "warning"
    dv.errorTitle = "Value"
    dv.showErrorMessage = True
    dv.prompt = f"{k['name']} ({unit}; {k['direction']} is better)"
    dv.showInputMessage = True
    return dv


def is_return(path) -> bool:
    """True when ``path`` is a workbook written by `write_return_template` (it has the hidden ``_cinb`` sheet).

    ``path`` is a str or Path; any file that cannot be opened as a workbook gives False (never raises).
    """
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True)
    except Exception:
        return False
    try:
        if META_SHEET not in wb.sheetnames:
            return False
        first = next(wb[META_SHEET].iter_rows(max_row=1, values_only=True), ())
        return len(first) >= 2 and first[1] == TEMPLATE_KIND
    finally:
        wb.close()


def _meta(wb, source):
    """The hidden sheet's settings and ``{row: kpi_id}``; UsageError if not a template or from a newer cinb."""
    ws = wb[META_SHEET]
    info, rows, in_rows = {}, {}, False
    for r in ws.iter_rows(values_only=True):
        if not r or r[0] is None:
            continue
        if r[0] == "row":
            in_rows = True
            continue
        if in_rows:
            rows[int(r[0])] = str(r[1])
        else:
            info[str(r[0])] = r[1]
    if info.get("template") != TEMPLATE_KIND:
        raise UsageError(f"{source} is not a cinb return template")
    if int(info.get("version", 0)) > TEMPLATE_VERSION:
        raise UsageError(f"{source} was written by a newer cinb (template version {info.get('version')}); "
                         "upgrade cinb to read it")
    return info, rows


def read_return_table(path, today=None) -> RawTable:
    """The filled return as a raw ``measurements`` table (text cells, spreadsheet row numbers).

    The contract, month and KPI of each row come from the hidden sheet and are checked against the visible
    cells; a value typed as a formula is read as Excel's calculated value. Every row gets the ``Submitted on``
    date (cell B5); when it is empty, the day of ingest (``today``), and the table's ``problems`` hold one
    warning at B5 saying so. A B5 that is not a date, or is in the future, is one error at B5 (in ``problems``,
    reported by the validator; the rows then carry no date).

    Parameters
    ----------
    path : str or Path
        The filled ``.xlsx`` return.
    today : date-like, optional
        The day of ingest (default: today): the submission date when the return gives none, and the latest
        date it may give.

    Returns
    -------
    RawTable
        Table ``measurements``, sheet ``Return``: one row per KPI with ``contract_id, kpi_id, period, value,
        submitted_on, note`` as text (a value in a % cell as ``98.5%``) and ``_row`` its row in the sheet; a
        return with ``Volume`` and ``Complete`` columns adds ``volume`` and ``complete`` after ``value``.

    Raises
    ------
    DataError
        The template was altered (rows moved, ids changed), with the cell to put back.
    UsageError
        The file is not a return template.
    """
    import openpyxl

    path = Path(path)
    source = str(path)
    try:
        wb = openpyxl.load_workbook(path, data_only=False)
        cached = openpyxl.load_workbook(path, data_only=True)
    except Exception as exc:
        raise UsageError(f"{source}: not a readable Excel workbook ({exc})") from None
    if META_SHEET not in wb.sheetnames or RETURN_SHEET not in wb.sheetnames:
        raise UsageError(f"{source} is not a cinb return template (no {META_SHEET!r} or {RETURN_SHEET!r} sheet); "
                         "write one with: cinb supplier-return --contract ID --period YYYY-MM --out FILE.xlsx")
    info, rows = _meta(wb, source)
    ws, wc = wb[RETURN_SHEET], cached[RETURN_SHEET]
    contract_id, period = str(info["contract_id"]), str(info["period"])
    # Version 1 returns have Value in G and Notes in H; version 2 lists its columns in the hidden sheet.
    at = {key: int(info.get(f"{key}_column") or default) for key, default in
          (("value", _VALUE_COL), ("notes", _NOTES_COL), ("volume", 0), ("complete", 0))}
    extra = [(key, kind) for key, kind in (("volume", "number"), ("complete", "bool")) if at[key]]
    problems = []

    def problem(row, column, value, text, fix):
        problems.append({"severity": "error", "source": source, "sheet": RETURN_SHEET, "table": "measurements",
                         "row": row, "column": column, "value": None if value is None else str(value),
                         "problem": text, "fix": fix})

    for cell, want, what in (("B2", contract_id, "contract"), ("B4", period, "month")):
        if str(ws[cell].value) != want:
            problem(int(cell[1:]), f"{what} ({cell})", ws[cell].value, f"the {what} was changed from {want}",
                    f"put back {want}, or write a new template for the other {what}")
    submitted, notes = _submitted_on(ws[_SUBMITTED_CELL].value, today, source)
    out = []
    for r, kpi_id in sorted(rows.items()):
        shown = ws.cell(row=r, column=1).value
        if str(shown) != kpi_id:
            problem(r, "KPI id", shown, f"the row of KPI {kpi_id} was changed or moved",
                    f"put back {kpi_id} in column A of row {r} (do not sort or move rows)")
            continue
        cells = {}
        for key, kind in [("value", "number")] + extra:
            cell = ws.cell(row=r, column=at[key])
            value = cell.value
            if cell.data_type == "f":
                value = wc.cell(row=r, column=at[key]).value
                if value is None:
                    problem(r, key, cell.value, "is a formula with no calculated value",
                            "type the number itself, or open and save the file in Excel" if kind == "number"
                            else "type yes or no, or open and save the file in Excel")
                    break
            cells[key] = cell_text(value, kind, cell.number_format)
        else:
            note = ws.cell(row=r, column=at["notes"]).value
            if ws.cell(row=r, column=at["notes"]).data_type == "f":
                note = wc.cell(row=r, column=at["notes"]).value
            out.append({"contract_id": contract_id, "kpi_id": kpi_id, "period": period, **cells,
                        "submitted_on": submitted, "note": cell_text(note, "text"), "_row": r})
    wb.close()
    cached.close()
    if problems:
        from .problems import PROBLEM_FRAME_COLUMNS

        raise DataError(pd.DataFrame(problems).reindex(columns=PROBLEM_FRAME_COLUMNS),
                        summary=f"{source} cannot be read as a return: {len(problems)} altered cell(s), e.g. "
                                f"sheet {RETURN_SHEET} row {problems[0]['row']}: {problems[0]['problem']}")
    if not ID_RE.fullmatch(contract_id):
        raise UsageError(f"{source}: the hidden sheet names an invalid contract id {contract_id!r}")
    header = ["contract_id", "kpi_id", "period", "value"] + [key for key, _ in extra] + ["submitted_on", "note"]
    frame = pd.DataFrame(out, columns=header + ["_row"])
    for c in frame.columns[:-1]:
        frame[c] = frame[c].astype(str)
    frame["_row"] = frame["_row"].astype("int64")
    return RawTable("measurements", frame, source, RETURN_SHEET, True, notes, header)


def _submitted_on(cell, today, source: str) -> tuple[str, list[dict]]:
    """The ``Submitted on`` date every row of a return gets, and the problem of the date cell (B5), if any.

    ``cell`` is B5's value. Empty: the day of ingest (``today``, default today) with one warning saying so. Not a
    date, or after ``today``: ``''`` (so that the rows carry no date to be refused one by one) and one error at
    B5 naming what to write. Returns ``(YYYY-MM-DD or '', problems)`` with problems as RawTable problem dicts.
    """
    from .cells import parse_date
    from .schema import columns_by_name

    day = pd.Timestamp(today if today is not None else dt.date.today()).normalize()
    where = {"source": source, "sheet": RETURN_SHEET, "table": "measurements", "row": int(_SUBMITTED_CELL[1:]),
             "column": f"submitted_on ({_SUBMITTED_CELL})"}
    text = cell_text(cell, "date")
    if not text:
        return day.strftime("%Y-%m-%d"), [{**where, "severity": "warning", "value": None,
                                           "problem": f"is empty: the return is recorded as received on "
                                                      f"{day:%Y-%m-%d}, the day it was ingested",
                                           "fix": "type the date the return was sent in cell "
                                                  f"{_SUBMITTED_CELL} (YYYY-MM-DD) to record that date instead"}]
    values, issues = parse_date(np.array([text], dtype=object), columns_by_name("measurements")["submitted_on"])
    for mask, problem, fix in issues:
        if mask[0]:
            pick = (lambda x: x[0] if isinstance(x, np.ndarray) else x)
            return "", [{**where, "severity": "error", "value": text, "problem": pick(problem), "fix": pick(fix)}]
    if pd.Timestamp(values[0]) > day:
        return "", [{**where, "severity": "error", "value": text,
                     "problem": f"is in the future (today is {day:%Y-%m-%d})",
                     "fix": f"type the date the return was sent in cell {_SUBMITTED_CELL}: today or earlier"}]
    return text, []


def read_return(path, today=None) -> pd.DataFrame:
    """The rows of a filled return as a measurements frame of text (as typed), with ``source`` and ``row``.

    Values are not validated here: `cinb.store.ingest` validates them against the store's contracts and KPIs.
    Columns: ``contract_id, kpi_id, period, value, submitted_on, note, source, sheet, row`` (empty text as
    NaN), with ``volume`` and ``complete`` after ``value`` for a return that has those columns. ``path`` and ``today`` as for `read_return_table`, which raises DataError (an altered template)
    or UsageError (not a template).
    """
    t = read_return_table(path, today=today)
    f = t.frame.rename(columns={"_row": "row"})
    f.insert(len(f.columns) - 1, "source", t.source)
    f.insert(len(f.columns) - 1, "sheet", t.sheet)
    f = f.replace({"": np.nan})
    return f


def date_cell_warnings(warnings: pd.DataFrame, t: RawTable) -> pd.DataFrame:
    """For a return, the row warnings about ``submitted_on`` (a late return) as one warning at its date cell.

    ``warnings`` is a problems frame (the validator's warnings), ``t`` the raw measurements table read (a return
    when its sheet is ``Return``). Every row of a return carries the date of cell B5, so the validator's warning on
    each row is one fact about one cell: it is reported once, at that cell, naming the KPIs. Returns a problems
    frame; the warnings of other sources are returned as they are.
    """
    if t.sheet != RETURN_SHEET or not len(warnings):
        return warnings
    on_date = ((warnings["column"] == "submitted_on") & (warnings["table"] == "measurements")).to_numpy(dtype=bool)
    if not on_date.any():
        return warnings
    merged = []
    for problem, group in warnings[on_date].groupby("problem", sort=False):
        first = group.iloc[0].to_dict()
        rows = set(int(r) for r in group["row"].dropna())
        kpis = [str(k) for k in t.frame.loc[t.frame["_row"].isin(rows), "kpi_id"]]
        first.update(row=int(_SUBMITTED_CELL[1:]), column=f"submitted_on ({_SUBMITTED_CELL})",
                     problem=f"{problem} (KPIs: {', '.join(kpis)})" if kpis else problem)
        merged.append(first)
    out = pd.concat([warnings[~on_date], pd.DataFrame(merged, columns=warnings.columns)], ignore_index=True)
    return out

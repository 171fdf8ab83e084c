"""The printed appendix "data behind the charts": every figure of every chart's data table, in few pages.

Each chart of a pack carries its data table in a collapsed ``<details>`` (:class:`cinb.display.Chart`); the PDF
prints those tables in an appendix instead. Printed one table per chart they took a third of a contract pack
(five A4 pages of a 6-KPI pack: 36 months of value, mean, limits, point type... per chart). This module prints
the same figures compactly, losing none:

- a column that stays the same over runs of months (an XmR chart's mean and process limits, constant within an
  SPC segment; a rebased KPI has two segments; a credit cap) is stated once per run with its months;
- a text column (point type, signal rule, note, event) is stated once for its most common value, and the months
  that differ are listed, runs of months together;
- the columns that change month by month (values, volumes, trajectories, credits) go into one table with the
  months as rows and one column per chart's series; a series equal, month by month, to one already in that table
  (a commitment chart's "Actual", which is the KPI's value) is not repeated: the chart's note names the column
  that holds it.

A table whose rows are not months, or of fewer than :data:`MIN_ROWS` rows, is printed as it is. The input is the
HTML of the data tables after :class:`cinb.sanitize.PackRewriter`; the output holds only text taken from it
(escaped again) and markup written here.
"""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass, field

from cinb.display import NA_HTML, _fits_half_width

__all__ = ["appendix_html", "MIN_ROWS"]

#: A table of fewer rows is printed as it is (compacting it would save nothing).
MIN_ROWS = 6
#: Series (columns besides the month) in one table of the monthly values: at 7 pt, 12 columns of a figure of up
#: to 9 characters and headers of words up to 11 characters fill the 178 mm of an A4 page's text.
MAX_SERIES = 12
#: A column changing value in at most this many places (per 12 rows) is stated as runs of months.
_RUN_CHANGES_PER_12 = 1

_MONTH = re.compile(r"^[A-Z][a-z]{2} \d{4}$")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"))}
_HIDDEN = re.compile(r'<span class="visually-hidden".*?</span>', re.S)
_EMPTY = frozenset({"", "–", "-", "—"})


@dataclass
class _Table:
    """One chart's data table, as text: ``columns`` after the month column, one row of cells per month."""

    anchor: str
    title: str
    caption: str
    columns: list[str]
    numeric: list[bool]
    months: list[str]
    rows: list[list[str]]
    raw: str
    notes: list[str] = field(default_factory=list)


def _text(inner: str) -> str:
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", "", _HIDDEN.sub("", inner))).split())


def _parse(anchor: str, title: str, table_html: str) -> _Table | None:
    """The table as text, or None when it is not one table with a month in each row's header cell."""
    if table_html.count("<table") != 1:
        return None
    caption = re.search(r"<caption[^>]*>(.*?)</caption>", table_html, re.S)
    head = re.search(r"<thead[^>]*>(.*?)</thead>", table_html, re.S)
    body = re.search(r"<tbody[^>]*>(.*?)</tbody>", table_html, re.S)
    if not (head and body):
        return None
    header = re.findall(r"<th([^>]*)>(.*?)</th>", head.group(1), re.S)
    if len(header) < 2 or head.group(1).count("<tr") != 1:
        return None
    columns = [_text(inner) for _, inner in header[1:]]
    numeric = ['class="num"' in attrs for attrs, _ in header[1:]]
    months, rows = [], []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S):
        cells = re.findall(r"<(t[hd])([^>]*)>(.*?)</\1>", row, re.S)
        if len(cells) != len(header) or cells[0][0] != "th" or not _MONTH.match(_text(cells[0][2])):
            return None
        months.append(_text(cells[0][2]))
        rows.append([_text(inner) for _, _, inner in cells[1:]])
    if len(rows) < MIN_ROWS or len(set(months)) != len(months):
        return None
    return _Table(anchor, title, _text(caption.group(1)) if caption else "", columns, numeric, months, rows,
                  table_html)


def _month_key(month: str) -> tuple[int, int]:
    name, year = month.split()
    return int(year), _MONTHS.get(name, 0)


def _runs(values: list[str]) -> list[tuple[int, int, str]]:
    """Contiguous runs of equal values as (first row, last row, value)."""
    out: list[tuple[int, int, str]] = []
    for i, v in enumerate(values):
        if out and out[-1][2] == v:
            out[-1] = (out[-1][0], i, v)
        else:
            out.append((i, i, v))
    return out


def _span(months: list[str], first: int, last: int) -> str:
    return months[first] if first == last else f"{months[first]} – {months[last]}"


def _number(text: str) -> tuple[float, int] | None:
    """A cell's number and its count of decimals (None for a non-number)."""
    clean = text.replace(",", "").replace("£", "").replace("%", "").strip()
    if not re.fullmatch(r"[-−]?\d+(\.\d+)?", clean):
        return None
    return float(clean.replace("−", "-")), len(clean.partition(".")[2])


def _same_series(a: dict[str, str], b: dict[str, str]) -> bool:
    """Whether series `b` (month → text) repeats `a`: a value for the same months, equal to `a`'s precision."""
    shown = {m: v for m, v in b.items() if v not in _EMPTY}
    if not shown or any(a.get(m, "") in _EMPTY for m in shown):
        return False
    for m, v in shown.items():
        x, y = _number(v), _number(a[m])
        if x is None or y is None:
            if v != a[m]:
                return False
        elif abs(x[0] - y[0]) > 0.5 * 10 ** -min(x[1], y[1]) + 1e-9:
            return False
    return True


def _short(title: str) -> str:
    """A chart's name without its number and kind: "Chart 1: Uptime: XmR chart" → "Uptime"."""
    name = re.sub(r"^Chart \d+:\s*", "", title)
    return name.split(":")[0].strip() or name


def appendix_html(chart_data: list[tuple[str, str, str]]) -> str:
    """The printed appendix: ``<section class="cinb-print-only cinb-appendix">`` (empty string for no chart).

    Parameters
    ----------
    chart_data : list of (anchor id, title, table HTML)
        Each chart's data table as collected by :class:`cinb.sanitize.PackRewriter`, in page order; the title is
        "Chart N: caption". Each chart gets a ``<section id="anchor">`` (the target of the chart's "Data behind
        this chart: appendix" link).

    Returns
    -------
    str
        HTML: one table of the month-by-month series, then each chart's note (its runs and exceptions, and the
        columns of the table that hold its series); a table that cannot be compacted is copied whole.
    """
    if not chart_data:
        return ""
    parsed = [(anchor, title, table, _parse(anchor, title, table)) for anchor, title, table in chart_data]
    series: list[tuple[str, dict[str, str], bool]] = []  # (column header, month → text, numeric)
    notes: dict[str, list[str]] = {}
    for anchor, title, _, t in parsed:
        if t is None:
            continue
        lines = notes.setdefault(anchor, [])
        per_month: list[int] = []
        run_cols: list[int] = []
        text_cols: list[int] = []
        for j, (name, num) in enumerate(zip(t.columns, t.numeric)):
            values = [row[j] for row in t.rows]
            if all(v in _EMPTY for v in values):
                lines.append(f"{name}: no value in any month.")
            elif len(_runs(values)) - 1 <= max(1, _RUN_CHANGES_PER_12 * len(values) // 12):
                run_cols.append(j)
            elif num:
                per_month.append(j)
            else:
                text_cols.append(j)
        lines.extend(_run_lines(t, run_cols))
        lines.extend(_text_lines(t, text_cols))
        tabled = []
        for j in per_month:
            values = dict(zip(t.months, (row[j] for row in t.rows)))
            name = t.columns[j]
            header = _short(title) if name == "Value" else f"{_short(title)}: {name}"
            same = next((h for h, s, _ in series if _same_series(s, values)), None)
            if same is not None:
                lines.append(f"{name}: as the column “{same}” of the table of months above, month by month.")
                continue
            series.append((header, values, True))
            tabled.append(name)
        if tabled:
            lines.append(f"{', '.join(tabled)}: the table of months above, columns headed “{_short(title)}”.")
    parts = ['<section class="cinb-print-only cinb-appendix" aria-labelledby="cinb-appendix">',
             '<h2 id="cinb-appendix">Appendix: data behind the charts</h2>']
    for first in range(0, len(series), MAX_SERIES):  # a table the page's width holds, more if need be
        table = _series_table(series[first:first + MAX_SERIES])
        # A table of few series fits half the page's width: set in two columns, its months running on.
        narrow = " cinb-narrow" if _fits_half_width(table) else ""
        parts.append(f'<div class="cinb-appendix-table{narrow}">{table}</div>')
    # The notes are short: set in three columns. A table copied whole gets the page's width (after the notes).
    if any(t is not None for *_, t in parsed):
        parts.append('<div class="cinb-appendix-notes">')
        for anchor, title, _, t in parsed:
            if t is None:
                continue
            parts.append(f'<section id="{htmllib.escape(anchor)}"><h3>{htmllib.escape(title)}</h3>')
            if t.caption:
                parts.append(f'<p class="cinb-appendix-caption">{htmllib.escape(t.caption)}, '
                             f'{htmllib.escape(_span(t.months, 0, len(t.months) - 1))}:</p>')
            parts.append('<ul>' + "".join(f"<li>{htmllib.escape(x)}</li>" for x in notes[anchor]) + "</ul>")
            parts.append("</section>")
        parts.append("</div>")
    for anchor, title, table, t in parsed:
        if t is None:
            parts.append(f'<section id="{htmllib.escape(anchor)}"><h3>{htmllib.escape(title)}</h3>\n{table}\n'
                         "</section>")
    parts.append("</section>")
    return "\n".join(parts)


def _run_lines(t: _Table, cols: list[int]) -> list[str]:
    """Columns constant over runs of months, grouped by their run boundaries: one line per run of months."""
    groups: dict[tuple, list[int]] = {}
    for j in cols:
        bounds = tuple((a, b) for a, b, _ in _runs([row[j] for row in t.rows]))
        groups.setdefault(bounds, []).append(j)
    lines = []
    for bounds, js in groups.items():
        for a, b in bounds:
            facts = [f"{t.columns[j]} {t.rows[a][j]}" for j in js if t.rows[a][j] not in _EMPTY]
            if facts:  # a run of empty cells says nothing: the months without a value are the other months
                lines.append(f"{_span(t.months, a, b)}: " + ", ".join(facts) + ".")
    return lines


def _text_lines(t: _Table, cols: list[int]) -> list[str]:
    """Text columns: the most common value of each stated once, then the runs of months that differ."""
    if not cols:
        return []
    lines = []
    common = {}
    for j in cols:
        values = [row[j] for row in t.rows]
        top = max(set(values), key=lambda v: (values.count(v), v not in _EMPTY))
        common[j] = top
        if top not in _EMPTY:
            lines.append(f"{t.columns[j]}: {top} unless listed below.")
    states = [tuple((j, row[j]) for j in cols if row[j] != common[j]) for row in t.rows]
    for a, b, state in _runs(states):
        if state:
            facts = [f"{t.columns[j]} {'none' if v in _EMPTY else v}" for j, v in state]
            lines.append(f"{_span(t.months, a, b)}: " + "; ".join(facts) + ".")
    return lines


def _series_table(series: list[tuple[str, dict[str, str], bool]]) -> str:
    months = sorted({m for _, s, _ in series for m, v in s.items() if v not in _EMPTY}, key=_month_key)
    head = "".join(f'<th scope="col">{htmllib.escape(h)}</th>' for h, _, _ in series)
    rows = []
    for m in months:
        cells = []
        for _, s, _ in series:
            v = s.get(m, "")
            cells.append(f'<td class="num">{NA_HTML if v in _EMPTY else htmllib.escape(v)}</td>')
        rows.append(f'<tr><th scope="row">{htmllib.escape(m)}</th>{"".join(cells)}</tr>')
    return ('<table class="cinb-table cinb-appendix-series"><caption>Each chart’s values month by month '
            '(its note below gives its mean, limits, point types and notes; a month without any value is left out)'
            '</caption>'
            f'<thead><tr><th scope="col">Month</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')

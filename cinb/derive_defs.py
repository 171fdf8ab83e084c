"""KPI definitions as data: the YAML file `cinb derive` computes KPIs from, read safely and checked with located
messages.

A definitions file has three parts (the format is documented in ``docs/derive.md``)::

    source:                       # how to read the records
      id: number                  # the record identifier
      latest_by: sys_mod_count    # an audit log: keep each id's row with the highest value
      changed_at: sys_updated_on  # an audit log: when each row was written (orders it; needed for pauses)
      na_values: ["?"]            # more cells that mean "empty"
      timestamps: {opened_at: "%d/%m/%Y %H:%M", resolved_at: null}   # null = ISO 8601
    calendars:
      office: {days: [Mon, Tue, Wed, Thu, Fri], hours: ["09:00", "17:00"], holidays: england-and-wales}
    kpis:
      - {contract_id: C-1, kpi_id: P1_4H, period: opened_at, where: {priority: [1, "1 - Critical"]},
         measure: share, of: {duration: {from: opened_at, to: resolved_at, calendar: office, unit: hours},
                              at_most: 4}}

The file is read by `cinb.yamlfile.read_settings` (PyYAML's safe loader; scalars keep their text as written, so
``09:00`` stays ``"09:00"`` and ``0451`` stays ``"0451"``). Conditions are data — a column equals a value, is one
of a list, compares with ``<, <=, >, >=, ==, !=``, is empty (``null``), or a duration is at most / at least a
limit — never evaluated code.

`load_definitions` returns a `Definitions` or raises `cinb.errors.DataError` carrying one located problem per
mistake (file, line, KPI entry and id, key, value, what is wrong and the fix); `check_columns` checks the columns
named against a records file's header; `definition_text` writes one KPI's definition in words for a pack's
appendix.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .clocks import HOLIDAY_REGIONS, WEEKDAYS, Calendar, parse_clock_time
from .errors import PROBLEM_COLUMNS, DataError, UsageError
from .schema import ID_RE
from .yamlfile import read_settings

__all__ = ["MEASURES", "FREQUENCIES", "OPERATORS", "UNITS", "Definitions", "load_definitions", "check_columns",
           "definition_text", "columns_named"]

MEASURES = ("share", "count", "mean", "median", "percentile")
FREQUENCIES = ("monthly", "quarterly", "annual")
OPERATORS = ("<", "<=", ">", ">=", "==", "!=")
#: Seconds in one unit of a duration; a business-time "day" is instead one working day of the calendar.
UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TOP = ("source", "calendars", "kpis")
_SOURCE = ("id", "latest_by", "changed_at", "na_values", "timestamps")
_CAL = ("days", "hours", "holidays")
_KPI = ("contract_id", "kpi_id", "name", "description", "period", "frequency", "period_ends", "where", "measure",
        "q", "of", "duration", "column")
_DUR = ("from", "to", "calendar", "unit", "pause")
_MEASURE_WORDS = {"share": "share (%)", "count": "count", "mean": "mean", "median": "median",
                  "percentile": "percentile"}


@dataclass(frozen=True)
class Definitions:
    """Validated definitions.

    Attributes
    ----------
    source : dict
        ``id``, ``latest_by``, ``changed_at`` (column names or None), ``na_values`` (tuple of str) and
        ``timestamps`` ({column: strptime format, or None for ISO 8601}).
    calendars : dict of str to Calendar
    kpis : list of dict
        One normalised entry per KPI: ``contract_id``, ``kpi_id``, ``index`` (position in the file), ``name``,
        ``description``, ``period`` (a timestamp column), ``frequency``, ``period_ends`` (1–12: a month in which
        a quarter or year ends), ``measure``, ``q`` (percentile, 0–100], ``where`` and ``of`` (lists of condition
        atoms), ``duration`` (a duration spec) or ``column`` (a numeric column), and ``text`` (`definition_text`).
    label : str
        How the file is named in messages.
    """

    source: dict
    calendars: dict
    kpis: list
    label: str = "definitions"
    lines: dict = field(default_factory=dict, repr=False)


class _Problems:
    """Located problems of a definitions file."""

    def __init__(self, label: str, lines: dict):
        self.label, self.lines, self.rows = label, lines, []
        self.entry_names: dict[int, str] = {}
        # Calendars and timestamp columns already reported as wrong: their users are not reported again.
        self.broken: set[tuple[str, str]] = set()
        self.silent = False  # set when a KPI is invalid only because of an already-reported mistake

    def add(self, path: tuple, value, problem: str, fix: str) -> None:
        line = None
        for n in range(len(path), 0, -1):
            if path[:n] in self.lines:
                line = self.lines[path[:n]]
                break
        where = self.label + (f", line {line}" if line else "")
        keys = list(path)
        if len(keys) >= 2 and keys[0] == "kpis" and isinstance(keys[1], int):
            where += f", kpis entry {keys[1] + 1}" + self.entry_names.get(keys[1], "")
            keys = keys[2:]
        key = ".".join(str(k) if not isinstance(k, int) else f"[{k + 1}]" for k in keys).replace(".[", "[")
        if key:
            where += f", key {key}"
        shown = None if value is None or isinstance(value, (dict, list)) else str(value)
        self.rows.append({"severity": "error", "source": where, "sheet": None, "table": "definitions",
                          "row": None, "column": None, "value": shown, "problem": problem, "fix": fix})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=PROBLEM_COLUMNS)


def _line_map(text: str) -> dict:
    """Key path → line number (1-based) of each mapping key and list item of a YAML document."""
    out: dict = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return out

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                p = path + (str(k.value),)
                out.setdefault(p, k.start_mark.line + 1)
                walk(v, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                out.setdefault(path + (i,), item.start_mark.line + 1)
                walk(item, path + (i,))

    if root is not None:
        walk(root, ())
    return out


def load_definitions(definitions, *, label: str | None = None) -> Definitions:
    """Read and validate definitions: a path to a YAML file or an already-parsed mapping.

    Raises
    ------
    UsageError
        The file does not exist.
    DataError
        The file is not YAML, or any definition is wrong: one located problem per mistake (``problems``).
    """
    lines: dict = {}
    if isinstance(definitions, (str, Path)):
        path = Path(definitions)
        label = label or str(path)
        if not path.is_file():
            raise UsageError(f"{label}: no such file; give the KPI definitions file (YAML) with --definitions")
        try:
            raw = read_settings(path, what=label)
        except UsageError as exc:  # not YAML, not a mapping, a # read as a comment: bad definitions (exit 1)
            p = _Problems(label, {})
            p.add((), None, str(exc).removeprefix(f"{label}: ").removeprefix(f"{label}, "),
                  "correct the YAML (docs/derive.md shows the format)")
            raise DataError(p.frame()) from None
        lines = _line_map(path.read_text(encoding="utf-8"))
    elif isinstance(definitions, dict):
        raw, label = definitions, label or "definitions"
    else:
        raise UsageError(f"definitions must be a path to a YAML file or a mapping, not {type(definitions).__name__}")
    p = _Problems(label, lines)
    defs = _validate(raw, p)
    if p.rows:
        raise DataError(p.frame())
    return Definitions(defs["source"], defs["calendars"], defs["kpis"], label, lines)


def _unknown_keys(d: dict, allowed, path, p: _Problems, what: str) -> None:
    for k in d:
        if k not in allowed:
            near = difflib.get_close_matches(str(k), allowed, n=1)
            p.add(path + (k,), k, f"unknown key in {what}",
                  (f"did you mean {near[0]}? " if near else "") + "the keys are " + ", ".join(allowed))


def _text(v) -> str | None:
    """A scalar as the text a record cell would hold (None stays None)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _number(v) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if x == x and abs(x) != float("inf") else None


def _validate(raw: Any, p: _Problems) -> dict:
    if not isinstance(raw, dict):
        p.add((), None, "the definitions are not a mapping of source:, calendars: and kpis:",
              "write the file as in docs/derive.md")
        return {}
    _unknown_keys(raw, _TOP, (), p, "the definitions")
    source = _source(raw.get("source") or {}, p)
    calendars = _calendars(raw.get("calendars") or {}, p)
    kpis_raw = raw.get("kpis")
    kpis: list[dict] = []
    if not isinstance(kpis_raw, list) or not kpis_raw:
        p.add(("kpis",), None, "no KPI is defined (kpis: must be a list of KPI definitions)",
              "add kpis: with at least one entry (contract_id, kpi_id, period, measure)")
        return {"source": source, "calendars": calendars, "kpis": kpis}
    seen: dict[tuple, int] = {}
    for i, entry in enumerate(kpis_raw):
        if isinstance(entry, dict):
            p.entry_names[i] = f" ({entry.get('contract_id')} {entry.get('kpi_id')})"
        k = _kpi(entry, i, source, calendars, p)
        if k is None:
            continue
        key = (k["contract_id"], k["kpi_id"])
        if key in seen:
            p.add(("kpis", i, "kpi_id"), k["kpi_id"], f"{key[0]} {key[1]} is defined twice (also entry {seen[key] + 1})",
                  "keep one definition per contract and KPI")
            continue
        seen[key] = i
        kpis.append(k)
    return {"source": source, "calendars": calendars, "kpis": kpis}


def _source(s: Any, p: _Problems) -> dict:
    out = {"id": None, "latest_by": None, "changed_at": None, "na_values": (), "timestamps": {}}
    if not isinstance(s, dict):
        p.add(("source",), None, "source: must be a mapping", "write source: {id: ..., timestamps: {...}}")
        return out
    _unknown_keys(s, _SOURCE, ("source",), p, "source")
    for key in ("id", "latest_by", "changed_at"):
        v = s.get(key)
        if v is not None and not isinstance(v, str):
            p.add(("source", key), v, f"{key} must name one column", f"write {key}: COLUMN")
        elif v:
            out[key] = v.strip()
    na = s.get("na_values") or []
    na = [na] if isinstance(na, str) else na
    if not isinstance(na, list):
        p.add(("source", "na_values"), None, "na_values must be a list of cell values",
              'write na_values: ["?", "n/a"]')
    else:
        out["na_values"] = tuple(_text(v) for v in na if v is not None)
    ts = s.get("timestamps") or {}
    if not isinstance(ts, dict):
        p.add(("source", "timestamps"), None, "timestamps must map each time column to its format",
              'write timestamps: {opened_at: "%d/%m/%Y %H:%M", resolved_at: null}')
        ts = {}
    for col, fmt in ts.items():
        if fmt is not None and not _format_ok(fmt):
            p.broken.add(("timestamp", str(col)))
            p.add(("source", "timestamps", col), fmt, f"the format of {col} cannot read a timestamp",
                  'write a strptime format such as "%d/%m/%Y %H:%M" (day/month/year hour:minute), '
                  "or null for ISO 8601 (2026-10-15T09:30)")
        else:
            out["timestamps"][str(col)] = fmt
    if out["changed_at"] and out["changed_at"] not in out["timestamps"]:
        p.add(("source", "changed_at"), out["changed_at"], "changed_at is not a timestamp column",
              f"add {out['changed_at']} to source.timestamps")
    if (out["latest_by"] or out["changed_at"]) and not out["id"]:
        p.add(("source", "id"), None, "an audit log (latest_by or changed_at) needs the record identifier",
              "write id: COLUMN, the column that identifies a ticket")
    return out


def _format_ok(fmt) -> bool:
    """True when ``fmt`` is a strptime format that reads back what it writes and names at least a date."""
    if not isinstance(fmt, str) or "%" not in fmt:
        return False
    sample = datetime(2026, 10, 15, 9, 5, 7)
    try:
        back = datetime.strptime(sample.strftime(fmt), fmt)
    except (ValueError, TypeError):
        return False
    return back.date() == sample.date()


def _calendars(c: Any, p: _Problems) -> dict:
    out: dict[str, Calendar] = {}
    if not isinstance(c, dict):
        p.add(("calendars",), None, "calendars: must map each calendar's name to its days, hours and holidays",
              "write calendars: {office: {days: [Mon, Tue, Wed, Thu, Fri], hours: [\"09:00\", \"17:00\"]}}")
        return out
    for name, spec in c.items():
        path = ("calendars", name)
        if not isinstance(spec, dict):
            p.add(path, None, f"calendar {name} must be a mapping of days, hours and holidays",
                  "write {days: [Mon, Tue, Wed, Thu, Fri], hours: [\"09:00\", \"17:00\"], holidays: england-and-wales}")
            continue
        _unknown_keys(spec, _CAL, path, p, f"calendar {name}")
        days = spec.get("days")
        days = [days] if isinstance(days, str) else days
        ok = True
        if not days or not isinstance(days, list):
            p.add(path + ("days",), None, f"calendar {name} has no working days",
                  "list its working weekdays: days: [Mon, Tue, Wed, Thu, Fri]")
            ok = False
        else:
            norm = [str(d).strip()[:3].title() for d in days]
            bad = [d for d, n in zip(days, norm) if n not in WEEKDAYS]
            if bad:
                p.add(path + ("days",), bad[0], "not a weekday", "write weekdays as Mon, Tue, Wed, Thu, Fri, Sat, Sun")
                ok = False
            days = tuple(d for d in WEEKDAYS if d in norm)
        start, end = 0, 86400
        hours = spec.get("hours")
        if hours is not None:
            parsed = [parse_clock_time(h) for h in hours] if isinstance(hours, list) and len(hours) == 2 else None
            if not parsed or None in parsed or parsed[0] >= parsed[1]:
                p.add(path + ("hours",), None if isinstance(hours, list) else hours,
                      f"calendar {name}'s hours must be an opening and a later closing time",
                      'write hours: ["09:00", "17:00"] (quoted, 24-hour clock; "24:00" is midnight at the end)')
                ok = False
            else:
                start, end = parsed
        regions, extra = [], []
        hol = spec.get("holidays")
        items = [] if hol is None or hol == "none" else hol if isinstance(hol, list) else [hol]
        for h in items:
            text = _text(h) if isinstance(h, (str, int, float)) else None
            if text in HOLIDAY_REGIONS:
                regions.append(text)
                continue
            try:
                day = pd.Timestamp(text) if text and len(text) == 10 else None
            except (ValueError, TypeError):
                day = None
            if day is None:
                p.add(path + ("holidays",), text, "not a public-holiday calendar or an ISO date",
                      "write one of " + ", ".join(HOLIDAY_REGIONS) + ", none, or dates such as 2026-12-24")
                ok = False
            else:
                extra.append(str(day.date()))
        if not ok:
            p.broken.add(("calendar", str(name)))
        else:
            out[str(name)] = Calendar(str(name), days, start, end, tuple(dict.fromkeys(regions)), tuple(extra))
    return out


def _month(v) -> int | None:
    t = _text(v)
    if t is None:
        return None
    if t.isdigit() and 1 <= int(t) <= 12:
        return int(t)
    t3 = t[:3].title()
    return _MONTHS.index(t3) + 1 if t3 in _MONTHS else None


def _kpi(e: Any, i: int, source: dict, calendars: dict, p: _Problems) -> dict | None:
    path = ("kpis", i)
    if not isinstance(e, dict):
        p.add(path, None, "a KPI definition must be a mapping",
              "write {contract_id: ..., kpi_id: ..., period: ..., measure: ...}")
        return None
    n0 = len(p.rows)
    p.silent = False
    _unknown_keys(e, _KPI, path, p, "a KPI definition")
    k: dict[str, Any] = {"index": i, "name": _text(e.get("name")), "description": _text(e.get("description"))}
    for key in ("contract_id", "kpi_id"):
        v = _text(e.get(key))
        if not v or not ID_RE.fullmatch(v):
            p.add(path + (key,), v, f"{key} is missing or not an id",
                  "write the id as in kpis.csv: letters, digits, '.', '_' or '-' (at most 64)")
        k[key] = v
    ts = source["timestamps"]
    period = _text(e.get("period"))
    if not period:
        p.add(path + ("period",), None, "period is missing",
              "name the timestamp whose month a record counts in, e.g. period: opened_at")
    elif ("timestamp", period) in p.broken:
        p.silent = True
    elif period not in ts:
        p.add(path + ("period",), period, "period must be a timestamp column",
              f"add {period} to source.timestamps (with its format, or null for ISO 8601)")
    k["period"] = period
    freq = _text(e.get("frequency")) or "monthly"
    if freq not in FREQUENCIES:
        p.add(path + ("frequency",), freq, "unknown frequency", "write monthly, quarterly or annual")
    k["frequency"] = freq
    ends = e.get("period_ends")
    k["period_ends"] = _month(ends) if ends is not None else 3
    if k["period_ends"] is None:
        p.add(path + ("period_ends",), ends, "not a month",
              "name a month in which the KPI's quarter (or year) ends, e.g. period_ends: Mar (the default)")
    measure = _text(e.get("measure"))
    if measure not in MEASURES:
        near = difflib.get_close_matches(measure or "", MEASURES, n=1)
        p.add(path + ("measure",), measure, "unknown measure" if measure else "measure is missing",
              (f"did you mean {near[0]}? " if near else "") + "write one of " + ", ".join(MEASURES))
    k["measure"] = measure
    q = e.get("q")
    k["q"] = None
    if measure == "percentile":
        qn = _number(q)
        if qn is None or not 0 < qn <= 100:
            p.add(path + ("q",), q, "a percentile needs q, a number above 0 and at most 100",
                  "write q: 90 for the 90th percentile")
        k["q"] = qn
    elif q is not None:
        p.add(path + ("q",), q, "q is only for measure: percentile", "remove q, or write measure: percentile")
    k["where"] = _conditions(e.get("where"), path + ("where",), ts, calendars, source, p, allow_duration=False)
    of = e.get("of")
    k["of"] = None
    if measure == "share" and of is None:
        p.add(path + ("of",), None, "a share needs of: the condition a record must meet",
              "write e.g. of: {reassignment_count: 0}")
    elif measure in ("mean", "median", "percentile") and of is not None:
        p.add(path + ("of",), None, f"of: is for share and count, not {measure}",
              "remove of:, or filter the records with where:")
    elif of is not None:
        k["of"] = _conditions(of, path + ("of",), ts, calendars, source, p, allow_duration=True)
    dur, col = e.get("duration"), _text(e.get("column"))
    k["duration"], k["column"] = None, None
    if measure in ("mean", "median", "percentile"):
        if (dur is None) == (col is None):
            p.add(path + ("duration",), None, f"{measure} needs one value per record: a duration or a column",
                  "write duration: {from: opened_at, to: resolved_at, unit: hours}, or column: NUMERIC_COLUMN")
        elif dur is not None:
            k["duration"] = _duration(dur, path + ("duration",), ts, calendars, source, p)
        else:
            k["column"] = col
    elif measure in MEASURES and (dur is not None or col is not None):
        p.add(path + ("duration" if dur is not None else "column",), col, f"{measure} takes no value per record",
              "a duration limit goes in of: {duration: {...}, at_most: 4}; remove this key")
    if len(p.rows) > n0 or p.silent:
        return None
    k["text"] = definition_text(k, calendars)
    return k


def _duration(d: Any, path: tuple, ts: dict, calendars: dict, source: dict, p: _Problems) -> dict | None:
    if not isinstance(d, dict):
        p.add(path, d, "a duration must be a mapping", "write {from: opened_at, to: resolved_at, unit: hours}")
        return None
    _unknown_keys(d, _DUR, path, p, "a duration")
    out: dict[str, Any] = {}
    for key in ("from", "to"):
        col = _text(d.get(key))
        if ("timestamp", col) in p.broken:
            p.silent = True
        elif not col or col not in ts:
            p.add(path + (key,), col, f"the duration's {key} must be a timestamp column",
                  f"add {col} to source.timestamps" if col else f"write {key}: a timestamp column")
        out[key] = col
    cal = _text(d.get("calendar"))
    if ("calendar", cal) in p.broken:
        p.silent = True
    elif cal is not None and cal not in calendars:
        p.add(path + ("calendar",), cal, "no calendar of that name (or it has mistakes reported above)",
              "define it under calendars:" + (f" or use one of {', '.join(calendars)}" if calendars else ""))
    out["calendar"] = cal
    unit = _text(d.get("unit")) or "hours"
    if unit not in UNITS:
        p.add(path + ("unit",), unit, "unknown unit", "write minutes, hours or days")
    out["unit"] = unit
    pause = d.get("pause")
    out["pause"] = None
    if pause is not None:
        states = pause.get("states") if isinstance(pause, dict) else None
        states = [states] if isinstance(states, str) else states
        if not isinstance(pause, dict) or not _text(pause.get("column")) or not isinstance(states, list) \
                or not states:
            p.add(path + ("pause",), None, "a pause needs the state column and the states that stop the clock",
                  'write pause: {column: incident_state, states: ["Awaiting User Info"]}')
        elif not source.get("changed_at"):
            p.add(path + ("pause",), None, "a pause needs an audit log ordered by the time each row was written",
                  "write source.changed_at: the column with each row's change time (e.g. sys_updated_on)")
        else:
            out["pause"] = {"column": _text(pause["column"]), "states": tuple(_text(s) for s in states)}
    return out


def _conditions(c: Any, path: tuple, ts: dict, calendars: dict, source: dict, p: _Problems, *,
                allow_duration: bool) -> list[dict]:
    """A condition mapping as a list of atoms (all must hold)."""
    if c is None:
        return []
    if not isinstance(c, dict):
        p.add(path, c, "a condition must be a mapping of column: value",
              "write e.g. {priority: [1, 2]} or {reassignment_count: 0}")
        return []
    atoms: list[dict] = []
    if isinstance(c.get("duration"), dict):
        if not allow_duration:
            p.add(path + ("duration",), None, "a duration condition belongs in of:, not where:",
                  "move it to of: {duration: {...}, at_most: ...}")
            return []
        bounds = [b for b in ("at_most", "at_least") if b in c]
        limit = _number(c.get(bounds[0])) if len(bounds) == 1 else None
        if limit is None or limit < 0:
            p.add(path + (bounds[0] if len(bounds) == 1 else "duration",), c.get(bounds[0]) if bounds else None,
                  "a duration condition needs one limit: at_most or at_least, a number ≥ 0",
                  "write at_most: 4 (in the duration's unit)")
        dur = _duration(c["duration"], path + ("duration",), ts, calendars, source, p)
        if dur is not None and limit is not None and limit >= 0:
            atoms.append({"kind": "duration", "duration": dur, "bound": bounds[0], "limit": limit})
        c = {k: v for k, v in c.items() if k not in ("duration", "at_most", "at_least")}
    for col, spec in c.items():
        col = str(col)
        if spec is None:
            atoms.append({"kind": "empty", "column": col, "negate": False})
        elif isinstance(spec, list):
            vals = [_text(v) for v in spec]
            atoms.append({"kind": "in", "column": col, "values": tuple(v for v in vals if v is not None),
                          "with_empty": None in vals})
        elif isinstance(spec, dict):
            for op, v in spec.items():
                if op not in OPERATORS:
                    p.add(path + (col, op), op, "unknown comparison", "write one of " + " ".join(OPERATORS))
                    continue
                if v is None and op in ("==", "!="):
                    atoms.append({"kind": "empty", "column": col, "negate": op == "!="})
                    continue
                if col in ts:
                    try:
                        value = pd.Timestamp(_text(v))
                    except (ValueError, TypeError):
                        value = None
                    if value is None or value is pd.NaT:
                        p.add(path + (col, op), v, f"{col} is a timestamp: the value must be an ISO date or time",
                              "write e.g. 2026-04-01 or 2026-04-01T09:00")
                        continue
                elif op in ("==", "!="):
                    value = _text(v)
                else:
                    value = _number(v)
                    if value is None:
                        p.add(path + (col, op), v, f"{op} compares numbers; this is not a number",
                              "write a plain number such as 4 or 2.5")
                        continue
                atoms.append({"kind": "cmp", "column": col, "op": op, "value": value})
        else:
            atoms.append({"kind": "in", "column": col, "values": (_text(spec),), "with_empty": False})
    return atoms


def columns_named(defs: Definitions) -> list[tuple[tuple, str]]:
    """Every (key path, column) the definitions name, for `check_columns`."""
    out: list[tuple[tuple, str]] = []
    for key in ("id", "latest_by", "changed_at"):
        if defs.source.get(key):
            out.append((("source", key), defs.source[key]))
    for col in defs.source["timestamps"]:
        out.append((("source", "timestamps", col), col))

    def dur_cols(d, path):
        if d and d.get("pause"):
            out.append((path + ("pause", "column"), d["pause"]["column"]))

    for k in defs.kpis:
        base = ("kpis", k["index"])
        for part in ("where", "of"):
            for a in k[part] or []:
                if a["kind"] == "duration":
                    dur_cols(a["duration"], base + (part, "duration"))
                else:
                    out.append((base + (part, a["column"]), a["column"]))
        dur_cols(k["duration"], base + ("duration",))
        if k["column"]:
            out.append((base + ("column",), k["column"]))
    return out


def check_columns(defs: Definitions, columns, records_label: str) -> pd.DataFrame:
    """Problems for each column the definitions name that ``columns`` (the records' header) lacks.

    One problem per (place in the file, column), with the closest header as a suggestion. Returns an empty
    frame when every column exists.
    """
    p = _Problems(defs.label, defs.lines)
    cols = [str(c) for c in columns]
    for k in defs.kpis:
        p.entry_names[k["index"]] = f" ({k['contract_id']} {k['kpi_id']})"
    for path, col in columns_named(defs):
        if col not in cols:
            near = difflib.get_close_matches(col, cols, n=1)
            p.add(path, col, f"no column {col!r} in {records_label}",
                  (f"did you mean {near[0]!r}? " if near else "") + "the columns are: " + ", ".join(cols[:30])
                  + (" …" if len(cols) > 30 else ""))
    return p.frame()


def _atom_text(a: dict, calendars: dict) -> str:
    if a["kind"] == "empty":
        return f"{a['column']} is {'not ' if a['negate'] else ''}empty"
    if a["kind"] == "in":
        vals = [repr(v) if not _number(v) is not None else v for v in a["values"]]
        vals += ["empty"] if a["with_empty"] else []
        return f"{a['column']} is {vals[0]}" if len(vals) == 1 else f"{a['column']} is one of {', '.join(vals)}"
    if a["kind"] == "cmp":
        v = a["value"]
        shown = v.isoformat() if isinstance(v, pd.Timestamp) else (f"{v:g}" if isinstance(v, float) else repr(v))
        return f"{a['column']} {a['op']} {shown}"
    d = a["duration"]
    bound = "at most" if a["bound"] == "at_most" else "at least"
    return f"{_duration_text(d, calendars)} is {bound} {a['limit']:g} {d['unit']}"


def _duration_text(d: dict, calendars: dict) -> str:
    text = f"the time from {d['from']} to {d['to']}"
    cal = d.get("calendar")
    if cal and cal in calendars:
        text += f" in the working hours of calendar {cal} ({calendars[cal].describe()})"
    else:
        text += " (elapsed time)"
    if d.get("pause"):
        text += (f", less the time {d['pause']['column']} was " + " or ".join(repr(s) for s in d["pause"]["states"]))
    return text


def _ordinal(q: float) -> str:
    """90 → 90th, 1 → 1st, 2 → 2nd, 22 → 22nd, 12 → 12th, 99.5 → 99.5th."""
    if not float(q).is_integer():
        return f"{q:g}th"
    n = int(q)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def definition_text(kpi_def: dict, calendars: dict | None = None) -> str:
    """One KPI's definition in words, as printed in a pack's appendix.

    ``kpi_def`` is an entry of `Definitions.kpis` (its ``text`` is this function's result, made when the
    definitions were validated); ``calendars`` resolves calendar names into their days, hours and holidays.
    """
    if calendars is None and kpi_def.get("text"):
        return kpi_def["text"]
    calendars = calendars or {}
    m, k = kpi_def["measure"], kpi_def
    where = " and ".join(_atom_text(a, calendars) for a in k["where"]) or None
    step = {"monthly": "month", "quarterly": "quarter", "annual": "year"}[k["frequency"]]
    scope = f"records whose {k['period']} falls in the {step}" + (f", where {where}" if where else "")
    if k["frequency"] != "monthly":
        scope += f" ({step}s ending in {_MONTHS[k['period_ends'] - 1]}" + (
            ", every third month" if k["frequency"] == "quarterly" else "") + ")"
    if m == "share":
        cond = " and ".join(_atom_text(a, calendars) for a in k["of"])
        text = f"Share (%) of the {scope}, for which {cond}. Volume: the records counted."
        if any(a["kind"] == "duration" for a in k["of"]):
            text += (" A record still open is counted once its running time is past the limit; before that its "
                     "outcome is not known and its period is provisional.")
    elif m == "count":
        cond = " and ".join(_atom_text(a, calendars) for a in k["of"] or [])
        text = f"Count of the {scope}" + (f", for which {cond}" if cond else "") + "."
    else:
        what = (_duration_text(k["duration"], calendars) + f", in {k['duration']['unit']}") if k["duration"] \
            else f"{k['column']}"
        label = f"{_ordinal(k['q'])} percentile" if m == "percentile" else m.capitalize()
        text = f"{label} of {what}, over the {scope}. Volume: the records with a value."
    return text

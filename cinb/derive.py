"""KPIs derived from service-management records: a ticket export (or an audit log) in, measurements out.

`derive` reads the records (CSV or an Excel sheet, or a DataFrame) and the KPI definitions (YAML, see
`cinb.derive_defs` and ``docs/derive.md``), and computes each KPI per month (or quarter, or year) as version-2
measurement rows with ``origin = derived`` — the figures the authority can set beside the supplier's reported ones
(``cinb derive RECORDS --definitions FILE.yml --out MEASUREMENTS.csv``).

The steps, each vectorised over whole columns (no Python loop per record):

1. **Cells.** Surrounding spaces are stripped; an empty cell or one of ``source.na_values`` is empty. Each
   column of ``source.timestamps`` is parsed with its strptime format (``null``: ISO 8601); a cell that does not
   parse is a located problem (row, column, value, the format expected). Times are local UK wall-clock times; an
   ISO time with an offset is converted to Europe/London.
2. **Audit log.** With ``source.changed_at`` (when each row was written), rows written after the as-of time are
   left out (the log as it stood then). With ``source.id``, each id keeps one row: the one with the highest
   ``source.latest_by`` (e.g. ``sys_mod_count``), else the latest ``changed_at``, else the last in the file.
   The time each id spent in a duration's ``pause`` states is measured from *all* its rows, ordered by
   ``changed_at`` (see `cinb.clocks.paused_seconds`), before the log is reduced.
3. **Per KPI.** A record counts in the month of its ``period`` timestamp (for a quarterly or annual KPI, in the
   period ending at the next due month: `cinb.regimes` records such values against the last month of the period).
   Records with no period timestamp, after the as-of time, or not matching ``where`` are left out, each with its
   reason. ``share``: 100 × (records meeting ``of``) / (records whose outcome is known); ``count``: records
   (meeting ``of`` when given); ``mean``, ``median``, ``percentile`` (numpy's linear interpolation, as
   `pandas.Series.quantile`): over each record's duration or numeric column. ``volume``: the records in the
   denominator (for a count, the records counted from).
4. **Incomplete periods.** A period is ``complete = False`` when it had not ended by the as-of time, or when
   records in it have outcomes not yet known: still open (no stop time by the as-of time) and not yet past a
   duration limit, or (for a mean, median or percentile of a duration) still open. The ``note`` says why. A
   record still open but already past an ``at_most`` limit has failed: it is counted.

Durations: ``W(to) − W(from)`` in elapsed or business seconds (`cinb.clocks`), less paused time, in the unit
asked (a business "day" is one working day of the calendar). The as-of time defaults to the latest timestamp in
the records. Row accounting per KPI: read = used + excluded (per reason), like every other input of cinb.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .clocks import business_clock, paused_seconds, seconds_between
from .derive_defs import UNITS, Definitions, check_columns, columns_named, definition_text, load_definitions
from .errors import PROBLEM_COLUMNS, DataError, UsageError

__all__ = ["derive", "DeriveResult", "definition_text", "read_records", "MEASUREMENT_COLUMNS", "write_measurements"]

#: The columns of `DeriveResult.measurements`, in order.
MEASUREMENT_COLUMNS = ["contract_id", "kpi_id", "period", "value", "volume", "complete", "origin", "note"]
_ACCOUNTING_COLUMNS = ["contract_id", "kpi_id", "outcome", "reason", "rows"]


@dataclass(frozen=True)
class DeriveResult:
    """What `derive` computed.

    Attributes
    ----------
    measurements : DataFrame
        Columns `MEASUREMENT_COLUMNS`: ``period`` a ``YYYY-MM`` string (a quarterly or annual KPI's due month),
        ``value`` float (NaN with volume 0: nothing to measure), ``volume`` int, ``complete`` bool, ``origin``
        ``"derived"``, ``note`` text ("" when none). Sorted by contract, KPI and period.
    accounting : DataFrame
        Columns ``contract_id, kpi_id, outcome, reason, rows``: per KPI one ``read`` row, one ``excluded`` row
        per reason and one ``used`` row; read = used + Σ excluded.
    definitions : dict
        (contract_id, kpi_id) → the validated KPI definition (a dict; its ``text`` is `definition_text`).
    problems : DataFrame
        Record problems that were left out rather than raised (``strict=False``), in PROBLEM_COLUMNS.
    as_of : Timestamp
        The as-of time used.
    warnings : list of str
        Definitions that ran but look wrong: a ``where`` that matched no record (every month written with nothing
        to measure), with the values the records hold in the columns it tests.
    """

    measurements: pd.DataFrame
    accounting: pd.DataFrame
    definitions: dict
    problems: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PROBLEM_COLUMNS))
    as_of: pd.Timestamp | None = None
    warnings: list = field(default_factory=list)

    @property
    def texts(self) -> dict:
        """(contract_id, kpi_id) → the plain-text definition the KPI was computed with."""
        return {key: k["text"] for key, k in self.definitions.items()}


# ---------------------------------------------------------------------------------------------------------- reading

def read_records(records, sheet: str | None = None) -> tuple[pd.DataFrame, np.ndarray, str]:
    """The records as a DataFrame, the spreadsheet row number of each (header = 1) and a label for messages.

    ``records``: a CSV path (UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252; comma, semicolon or
    tab separated), an ``.xlsx``/``.xlsm`` path (``sheet``: its name, default the first sheet) or a DataFrame.
    CSV cells are text; blank lines are skipped. Raises UsageError when the file is missing or unreadable, and
    DataError for a CSV row with more cells than the header.
    """
    if isinstance(records, pd.DataFrame):
        frame = records.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        return frame, np.arange(len(frame)) + 2, "the records"
    path = Path(records)
    label = str(path)
    if not path.is_file():
        raise UsageError(f"{label}: no such file; give the records export (CSV or .xlsx)")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            frame = pd.read_excel(path, sheet_name=sheet or 0, dtype=object, engine="openpyxl")
        except ValueError as exc:
            raise UsageError(f"{label}: cannot read sheet {sheet or 1}: {exc}") from None
        except Exception as exc:  # a corrupt workbook: zipfile, openpyxl and XML errors alike
            raise UsageError(f"{label}: not a readable Excel workbook ({type(exc).__name__}: {exc})") from None
        frame.columns = [str(c).strip() for c in frame.columns]
        empty = frame.isna().all(axis=1).to_numpy()
        rows = np.arange(len(frame)) + 2
        return frame[~empty].reset_index(drop=True), rows[~empty], label + (f", sheet {sheet}" if sheet else "")
    if sheet:
        raise UsageError("--sheet is for Excel workbooks; the records are a CSV file")
    head = path.read_bytes()[:4096]
    encoding = "utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    first = head.decode(encoding if encoding != "utf-16" else "utf-16", errors="ignore").splitlines()[:1]
    sep = "," if not first or "," in first[0] else ";" if ";" in first[0] else "\t" if "\t" in first[0] else ","
    kw = dict(dtype=object, keep_default_na=False, na_filter=False, sep=sep, skip_blank_lines=False, engine="c")
    try:
        try:
            frame = pd.read_csv(path, encoding=encoding, **kw)
        except UnicodeDecodeError:
            frame = pd.read_csv(path, encoding="cp1252", **kw)
    except pd.errors.ParserError as exc:
        raise DataError(pd.DataFrame([{
            "severity": "error", "source": label, "table": "records", "problem": f"not a regular CSV table ({exc})",
            "fix": "a row has more cells than the header: check for a separator inside an unquoted cell"}]))
    except pd.errors.EmptyDataError:
        raise DataError(pd.DataFrame([{"severity": "error", "source": label, "table": "records",
                                       "problem": "the file is empty", "fix": "export the records with a header"}]))
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    rows = np.arange(len(frame)) + 2
    blank = np.ones(len(frame), dtype=bool)
    for c in frame.columns:
        blank &= (frame[c].to_numpy() == "")
    if blank.any():
        frame, rows = frame[~blank].reset_index(drop=True), rows[~blank]
    return frame, rows, label


def _loose_names(frame: pd.DataFrame, defs: Definitions) -> pd.DataFrame:
    """Rename headers that match a named column ignoring case, spaces and ``_`` (``Opened At`` → ``opened_at``)."""
    def norm(s):
        return str(s).strip().lower().replace(" ", "_")

    have = {norm(c): c for c in frame.columns}
    ren = {}
    for _, col in columns_named(defs):
        if col not in frame.columns and norm(col) in have:
            ren[have[norm(col)]] = col
    return frame.rename(columns=ren) if ren else frame


def _text(s: pd.Series, na_values) -> np.ndarray:
    """A column's cells as stripped text (an object array); "" for empty, NaN or a ``na_values`` marker.

    The distinct cells are cleaned once and spread back by their codes (`pandas.factorize`), so a column of
    a million cells with a few hundred distinct values costs one hash pass.
    """
    codes, uniq = pd.factorize(s.to_numpy(dtype=object), use_na_sentinel=True)
    u = pd.Series(uniq, dtype=object)
    stripped = u.str.strip()  # text cells; NaN for numbers, dates and other objects (Excel, DataFrames)
    other = stripped.isna().to_numpy()
    clean = stripped.to_numpy(dtype=object, copy=True)
    if other.any():
        clean[other] = u[other].map(_cell).to_numpy(dtype=object)
    if na_values:
        clean[np.isin(clean.astype(str), [str(v) for v in na_values])] = ""
    clean = np.append(clean, "")  # code -1 (a missing cell) takes the last slot
    return clean[codes]


def _cell(v) -> str:
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, (float, np.floating)) and v.is_integer():
        return str(int(v))
    if isinstance(v, (datetime, pd.Timestamp)):
        return pd.Timestamp(v).isoformat()
    return "" if v is None else str(v).strip()


def _times(s: pd.Series, text: np.ndarray, fmt) -> tuple[np.ndarray, np.ndarray]:
    """Parse one timestamp column: (datetime64[ns] array, mask of non-empty cells that did not parse)."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        v = s.dt.tz_convert("Europe/London").dt.tz_localize(None) if s.dt.tz is not None else s
        return v.to_numpy(dtype="datetime64[ns]"), np.zeros(len(s), dtype=bool)
    out = np.full(len(s), np.datetime64("NaT"), dtype="datetime64[ns]")
    todo = text != ""
    if s.dtype == object and not all(isinstance(v, str) for v in s.head(50)):  # Excel date cells, objects
        isdt = s.map(lambda v: isinstance(v, (datetime, date, pd.Timestamp))).to_numpy(dtype=bool)
        if isdt.any():
            out[isdt] = pd.to_datetime(s[isdt]).to_numpy(dtype="datetime64[ns]")
            todo &= ~isdt
    if todo.any():
        codes, uniq = pd.factorize(text[todo])  # each distinct cell parsed once
        cells = pd.Series(uniq, dtype=object)
        try:
            parsed = pd.to_datetime(cells, format=fmt or "ISO8601", errors="coerce")
        except (ValueError, TypeError):  # mixed UTC offsets
            parsed = pd.to_datetime(cells, format=fmt or "ISO8601", errors="coerce", utc=True)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("Europe/London").dt.tz_localize(None)
        out[todo] = parsed.to_numpy(dtype="datetime64[ns]")[codes]
    bad = np.zeros(len(s), dtype=bool)
    bad[todo] = np.isnat(out[todo])
    return out, bad


def _as_of(value, times: dict) -> pd.Timestamp:
    if value is None or (isinstance(value, str) and not value.strip()):
        latest = [t[~np.isnat(t)].max() for t in times.values() if (~np.isnat(t)).any()]
        if not latest:
            raise UsageError("the records hold no timestamp to take the as-of time from; give --as-of")
        return pd.Timestamp(max(latest))
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = pd.NaT
    if ts is pd.NaT:
        raise UsageError(f"--as-of {value!r} is not a timestamp; write e.g. 2026-10-15T09:00 (local UK time)")
    return ts.tz_convert("Europe/London").tz_localize(None) if ts.tz is not None else ts


# ------------------------------------------------------------------------------------------------------ the engine

class _Records:
    """The records' cells, parsed once, and the durations asked for (cached per duration spec)."""

    def __init__(self, text, times, defs, as_of, keep, ids_all, kept_idx):
        self.text, self.times, self.defs, self.as_of = text, times, defs, as_of
        self.keep, self.ids_all, self.idx = keep, ids_all, kept_idx
        self._num: dict = {}
        self._dur: dict = {}
        self._cal: dict = {}

    def col(self, c):
        return self.text[c][self.idx]

    def time(self, c):
        return self.times[c][self.idx]

    def factor(self, c):
        """(codes, distinct cells) of column ``c`` over the kept records: conditions are judged per distinct
        cell and spread back by the codes."""
        key = ("factor", c)
        if key not in self._num:
            self._num[key] = pd.factorize(self.col(c))
        return self._num[key]

    def num(self, c):
        """(numbers, empty, not a number) of column ``c`` over the kept records."""
        if c not in self._num:
            codes, uniq = self.factor(c)
            x = pd.to_numeric(pd.Series(uniq, dtype=object), errors="coerce").to_numpy(dtype=float)
            empty = np.asarray(uniq == "", dtype=bool)
            self._num[c] = (x[codes], empty[codes], (np.isnan(x) & ~empty)[codes])
        return self._num[c]

    def busdaycal(self, name):
        if name not in self._cal:
            cal = self.defs.calendars[name]
            years = [t[~np.isnat(t)] for t in self.times.values()]
            ys = [int(str(a.min())[:4]) for a in years if len(a)] + [int(str(a.max())[:4]) for a in years if len(a)]
            ys.append(self.as_of.year)
            self._cal[name] = (cal, cal.busdaycalendar(min(ys) - 1, max(ys) + 1))
        return self._cal[name]

    def duration(self, d: dict):
        """(value, running, open, bad, reason) of a duration spec over the kept records, in its unit.

        ``value``: the duration of closed records (NaN otherwise); ``running``: the time from ``from`` to the
        as-of time of open ones; ``open``: no stop time by the as-of time; ``bad``: no start, or a stop before
        the start (``reason`` says which, per record).
        """
        key = (d["from"], d["to"], d["calendar"], d["unit"], repr(d["pause"]))
        if key in self._dur:
            return self._dur[key]
        start, stop = self.time(d["from"]), self.time(d["to"])
        as_of = np.datetime64(self.as_of.to_datetime64(), "ns")
        stop = np.where(stop > as_of, np.datetime64("NaT"), stop)  # not yet happened at the as-of time
        cal, bdc = self.busdaycal(d["calendar"]) if d["calendar"] else (None, None)
        if cal is None:
            total = seconds_between(start, stop)
            running = seconds_between(start, np.full(len(start), as_of))
        else:
            w0 = business_clock(start, cal, bdc)
            total = business_clock(stop, cal, bdc) - w0
            running = business_clock(np.array([as_of]), cal, bdc)[0] - w0
        if d["pause"]:
            ids = self.col(self.defs.source["id"])
            until = np.where(np.isnat(stop), as_of, stop)
            pause = paused_seconds(
                self.ids_all[self.keep], self.times[self.defs.source["changed_at"]][self.keep],
                self.text[d["pause"]["column"]][self.keep], d["pause"]["states"],
                pd.Series(start, index=ids), pd.Series(until, index=ids), cal, bdc).to_numpy()
            total, running = total - pause, running - pause
        scale = UNITS[d["unit"]] if (cal is None or d["unit"] != "days") else cal.day_seconds
        no_start = np.isnat(start)
        negative = ~no_start & ~np.isnat(stop) & (total < 0)
        reason = np.full(len(start), "", dtype=object)
        reason[no_start] = f"no {d['from']}"
        reason[negative] = f"{d['to']} before {d['from']}"
        is_open = ~no_start & np.isnat(stop)
        bad = no_start | negative
        total = np.where(bad | is_open, np.nan, total / scale)
        running = np.where(is_open, running / scale, np.nan)
        self._dur[key] = (total, running, is_open, bad, reason)
        return self._dur[key]


_STATE_KNOWN, _STATE_PENDING, _STATE_BAD = 0, 1, 2


def _atom(rec: _Records, a: dict):
    """One condition atom over the kept records: (truth, state 0 known / 1 pending / 2 bad, reason per record)."""
    n = len(rec.idx)
    state = np.zeros(n, dtype=np.int8)
    reason = np.full(n, "", dtype=object)
    kind = a["kind"]
    if kind == "duration":
        total, running, is_open, bad, why = rec.duration(a["duration"])
        limit = a["limit"]
        if a["bound"] == "at_most":
            truth = total <= limit
            decided = is_open & (running > limit)  # still open and already past the limit: failed
        else:
            truth = total >= limit
            decided = is_open & (running >= limit)  # still open and already past the minimum: met
            truth = truth | decided
        state[is_open & ~decided] = _STATE_PENDING
        state[bad] = _STATE_BAD
        reason[bad] = why[bad]
        return truth, state, reason
    col = a["column"]
    if col in rec.defs.source["timestamps"]:
        t = rec.time(col)
        if kind == "empty":
            truth = np.isnat(t) != a["negate"]
            return truth, state, reason
        if kind == "cmp" and isinstance(a["value"], pd.Timestamp):
            v = np.datetime64(a["value"].to_datetime64(), "ns")
            truth = _compare(t, a["op"], v) & ~np.isnat(t)
            state[np.isnat(t)] = _STATE_BAD
            reason[np.isnat(t)] = f"{col} is empty"
            return truth, state, reason
    codes, uniq = rec.factor(col)
    empty = np.asarray(uniq == "", dtype=bool)[codes]
    if kind == "empty":
        return empty != a["negate"], state, reason
    if kind == "in" or (kind == "cmp" and a["op"] in ("==", "!=") and isinstance(a["value"], str)):
        values = a["values"] if kind == "in" else (a["value"],)
        hit = np.array(pd.Series(uniq, dtype=object).isin(list(values)), dtype=bool)
        nums = [float(v) for v in values if _is_number(v)]
        if nums:
            x = pd.to_numeric(pd.Series(uniq, dtype=object), errors="coerce").to_numpy(dtype=float)
            hit |= np.isin(x, nums)
        truth = hit[codes]
        if kind == "in" and a["with_empty"]:
            truth |= empty
        else:  # an empty cell: the outcome is not known (for of:); for where: it simply does not match
            state[empty] = _STATE_BAD
            reason[empty] = f"{col} is empty"
        if kind == "cmp" and a["op"] == "!=":
            truth = ~truth & ~empty
        return truth, state, reason
    x, empty, notnum = rec.num(col)
    truth = _compare(x, a["op"], a["value"]) & ~np.isnan(x)
    state[empty | notnum] = _STATE_BAD
    reason[empty] = f"{col} is empty"
    reason[notnum] = f"{col} is not a number"
    return truth, state, reason


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _compare(x, op, v):
    return {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
            "==": np.equal, "!=": np.not_equal}[op](x, v)


def _conditions(rec: _Records, atoms: list[dict]):
    """All atoms together: (truth, state, reason). Bad beats a known false, which beats pending."""
    n = len(rec.idx)
    truth = np.ones(n, dtype=bool)
    state = np.zeros(n, dtype=np.int8)
    reason = np.full(n, "", dtype=object)
    known_false = np.zeros(n, dtype=bool)
    for a in atoms:
        t, s, r = _atom(rec, a)
        newly_bad = (s == _STATE_BAD) & (state != _STATE_BAD)
        reason[newly_bad] = r[newly_bad]
        state = np.maximum(state, s)
        known_false |= (s == _STATE_KNOWN) & ~t
        truth &= t
    state = np.where((state == _STATE_PENDING) & known_false, _STATE_KNOWN, state).astype(np.int8)
    return truth & (state == _STATE_KNOWN), state, reason


def _period_limit(atoms) -> str | None:
    for a in atoms or []:
        if a["kind"] == "duration":
            word = "limit" if a["bound"] == "at_most" else "minimum"
            return f"{a['limit']:g}-{a['duration']['unit'].rstrip('s')} {word}"
    return None


def _kpi(rec: _Records, k: dict, n_read: int, common: list[tuple[str, int]]):
    """One KPI's measurement rows and accounting rows."""
    as_of = rec.as_of
    excluded: list[tuple[str, int]] = list(common)
    n = len(rec.idx)
    alive = np.ones(n, dtype=bool)

    def drop(mask, why):
        mask = mask & alive
        if isinstance(why, str):
            if mask.any():
                excluded.append((why, int(mask.sum())))
        else:
            for r, c in pd.Series(why[mask]).value_counts(sort=False).items():
                excluded.append((str(r), int(c)))
        alive[mask] = False

    t = rec.time(k["period"])
    drop(np.isnat(t), f"no {k['period']} (no period timestamp)")
    as64 = np.datetime64(as_of.to_datetime64(), "ns")
    drop(t > as64, "after the as-of time")
    where_truth, _, _ = _conditions(rec, k["where"])
    drop(~where_truth, "not matching where")
    m = k["measure"]
    pending = np.zeros(n, dtype=bool)
    if m in ("share", "count") and k["of"]:
        truth, state, reason = _conditions(rec, k["of"])
        drop(state == _STATE_BAD, reason)
        pending = alive & (state == _STATE_PENDING)
        lim = _period_limit(k["of"])
        drop(pending, f"outcome not yet known (still open, not yet past the {lim})" if lim else
             "outcome not yet known")
        values = truth.astype(float)
    elif m == "count":
        values = np.ones(n)
    elif k["duration"]:
        total, _, is_open, bad, why = rec.duration(k["duration"])
        drop(bad, why)
        pending = alive & is_open
        drop(pending, f"still open (no {k['duration']['to']} by the as-of time)")
        values = total
    else:
        x, empty, notnum = rec.num(k["column"])
        drop(empty, f"{k['column']} is empty")
        drop(notnum, f"{k['column']} is not a number")
        values = x
    # Months → due months of the KPI's frequency (recorded against the last month of each period).
    step = {"monthly": 1, "quarterly": 3, "annual": 12}[k["frequency"]]
    phase = (k["period_ends"] - 1) % step
    ok_t = ~np.isnat(t)
    months = np.zeros(n, dtype=np.int64)
    months[ok_t] = t[ok_t].astype("datetime64[M]").astype(np.int64)
    due = months + (phase - months) % step
    span = ok_t & (t <= as64)
    # A quarter or year that ends after the as-of month is not due yet: its value would be recorded against a
    # month still to come, which the data contract refuses. Its records wait for the period's end.
    asof_month = int(np.datetime64(as_of.to_datetime64(), "M").astype(np.int64))
    drop(span & (due > asof_month), f"in a {'quarter' if step == 3 else 'year'} that ends after the as-of month")
    span &= due <= asof_month
    rows = []
    if span.any():
        lo, hi = int(due[span].min()), int(due[span].max())
        codes = due - lo
        size = hi - lo + 1
        used = alive
        vol = np.bincount(codes[used], minlength=size)
        npend = np.bincount(codes[pending], minlength=size)
        if m in ("share", "count"):
            hits = np.bincount(codes[used], weights=values[used], minlength=size)
            val = 100.0 * hits / np.where(vol > 0, vol, 1) if m == "share" else hits
        elif m == "mean":
            val = np.bincount(codes[used], weights=values[used], minlength=size) / np.where(vol > 0, vol, 1)
        else:
            q = 0.5 if m == "median" else k["q"] / 100.0
            g = pd.Series(values[used]).groupby(codes[used]).quantile(q)
            val = np.full(size, np.nan)
            val[g.index.to_numpy()] = g.to_numpy()
        for code in range(0, size, step):
            o = lo + code
            end = pd.Period(ordinal=o + 1, freq="M").start_time  # the period ends when the next month begins
            notes = []
            if as_of < end:
                notes.append(f"period had not ended at {as_of:%Y-%m-%d %H:%M}")
            if npend[code]:
                lim = _period_limit(k["of"]) if m in ("share", "count") else None
                what = "record" if npend[code] == 1 else "records"
                notes.append(f"{npend[code]} {what} still open, not yet past the {lim}" if lim else
                             f"{npend[code]} {what} still open at {as_of:%Y-%m-%d %H:%M}")
            if vol[code]:
                v, volume = float(val[code]), int(vol[code])
            else:  # nothing to measure: volume 0 and no value ("no activity" in the data contract)
                v, volume = np.nan, 0
                notes.append("no records to measure")
            rows.append((k["contract_id"], k["kpi_id"], str(pd.Period(ordinal=o, freq="M")), v, volume,
                         bool(as_of >= end and not npend[code]), "derived", "; ".join(notes)))
    n_used = int(alive.sum())
    acct = [(k["contract_id"], k["kpi_id"], "read", "", n_read)]
    acct += [(k["contract_id"], k["kpi_id"], "excluded", r, c) for r, c in excluded]
    acct.append((k["contract_id"], k["kpi_id"], "used", "", n_used))
    if n_read != n_used + sum(c for _, c in excluded):  # pragma: no cover - a defect, never bad input
        raise AssertionError(f"derive accounting does not balance for {k['contract_id']} {k['kpi_id']}")
    return rows, acct


def derive(records, definitions, *, as_of=None, sheet: str | None = None, strict: bool = True) -> DeriveResult:
    """Compute KPIs from service-management records, as version-2 measurements with ``origin = derived``.

    Parameters
    ----------
    records : path or DataFrame
        A CSV export, an Excel workbook (``sheet``: which sheet, default the first) or a DataFrame; one row per
        ticket, or per change of a ticket (an audit log, with ``source.id`` and ``latest_by``/``changed_at``).
    definitions : path or dict
        The KPI definitions: a YAML file or the parsed mapping (format: ``docs/derive.md``).
    as_of : timestamp-like, optional
        The time the records are taken as of (local UK time); default the latest timestamp in the records.
    strict : bool
        True (default): a timestamp cell that does not parse raises DataError. False: such rows are excluded
        (reason "a timestamp that does not parse") and listed in ``problems``.

    Returns
    -------
    DeriveResult

    Raises
    ------
    UsageError
        A file is missing, or ``as_of`` is not a timestamp.
    DataError
        A definition is wrong, names a column the records lack, or (strict) a timestamp cell does not parse:
        one located problem each.
    """
    defs = load_definitions(definitions)
    frame, rownums, label = read_records(records, sheet)
    frame = _loose_names(frame, defs)
    problems = check_columns(defs, frame.columns, label)
    if len(problems):
        raise DataError(problems)
    n_read = len(frame)
    src = defs.source
    named = dict.fromkeys(c for _, c in columns_named(defs))
    text = {c: _text(frame[c], src["na_values"]) for c in named}
    times, bad_rows, probs = {}, np.zeros(n_read, dtype=bool), []
    for c, fmt in src["timestamps"].items():
        times[c], bad = _times(frame[c], text[c], fmt)
        if bad.any():
            bad_rows |= bad
            for i in np.flatnonzero(bad)[:1000]:
                probs.append({"severity": "error", "source": label, "sheet": None, "table": "records",
                              "row": int(rownums[i]), "column": c, "value": str(text[c][i])[:120],
                              "problem": "the timestamp does not parse" + (f" as {fmt!r}" if fmt else " as ISO 8601"),
                              "fix": (f"write it as {datetime(2026, 10, 15, 9, 30).strftime(fmt)!r} (format {fmt})"
                                      if fmt else "write it as 2026-10-15T09:30, or give its format in "
                                      f"source.timestamps.{c}")})
    problem_frame = pd.DataFrame(probs, columns=PROBLEM_COLUMNS)
    if probs and strict:
        more = int(bad_rows.sum()) - len(probs)
        raise DataError(problem_frame, None if more <= 0 else
                        f"{int(bad_rows.sum()):,} rows have timestamps that do not parse (the first {len(probs):,} "
                        f"are listed); the first: " + _first(problem_frame))
    del frame
    asof = _as_of(as_of, {c: t[~bad_rows] for c, t in times.items()})
    common: list[tuple[str, int]] = []
    keep = ~bad_rows
    if bad_rows.any():
        common.append(("a timestamp that does not parse", int(bad_rows.sum())))
    ids_all = text[src["id"]] if src["id"] else None
    if src["changed_at"]:
        late = keep & (times[src["changed_at"]] > np.datetime64(asof.to_datetime64(), "ns"))
        if late.any():
            common.append(("audit row written after the as-of time", int(late.sum())))
            keep &= ~late
    if ids_all is not None:
        noid = keep & (ids_all == "")
        if noid.any():
            common.append((f"no {src['id']} (no record id)", int(noid.sum())))
            keep &= ~noid
        kept_idx = _latest_rows(ids_all, keep, text, times, src)
        superseded = int(keep.sum()) - len(kept_idx)
        if superseded:
            common.append(("an earlier row of the same id (the latest is kept)", superseded))
    else:
        kept_idx = np.flatnonzero(keep)
    rec = _Records(text, times, defs, asof, keep, ids_all, kept_idx)
    rows, acct, warnings = [], [], []
    for i, k in enumerate(defs.kpis, start=1):
        r, a = _kpi(rec, k, n_read, common)
        rows += r
        acct += a
        warning = _where_matched_nothing(rec, k, i, a, {r for r, _ in common})
        if warning:
            warnings.append(warning)
    out = pd.DataFrame(rows, columns=MEASUREMENT_COLUMNS)
    out = out.astype({"value": float, "volume": "int64", "complete": bool})
    out = out.sort_values(["contract_id", "kpi_id", "period"], kind="stable").reset_index(drop=True)
    return DeriveResult(out, pd.DataFrame(acct, columns=_ACCOUNTING_COLUMNS),
                        {(k["contract_id"], k["kpi_id"]): k for k in defs.kpis}, problem_frame, asof, warnings)


#: How many of a column's distinct values a warning lists.
_VALUES_SHOWN = 8


def _where_matched_nothing(rec: _Records, k: dict, entry: int, acct: list, common: set) -> str | None:
    """A warning when a KPI's ``where`` left out every record that reached it (None otherwise).

    Such a KPI is written as months with nothing to measure (volume 0), which is right when there was truly no
    such record and wrong when the condition is misspelt (``p2`` for ``P2``: matching is exact); the warning lists
    the values the records hold in each column the condition tests, so that the two can be told apart.
    """
    if not k["where"]:
        return None
    before_where = common | {"after the as-of time", f"no {k['period']} (no period timestamp)"}
    unmatched = used = other = 0
    for _, _, outcome, reason, rows in acct:
        if outcome == "used":
            used += rows
        elif outcome == "excluded" and reason == "not matching where":
            unmatched += rows
        elif outcome == "excluded" and reason not in before_where:
            other += rows  # a reason applied after the where (outcome not yet known, an empty duration, …)
    # Nothing used and nothing excluded after the where: the where matched none of the records that reached it.
    if not unmatched or used or other:
        return None
    parts = []
    for a in k["where"]:
        col = a.get("column")
        if col is None or col in rec.defs.source["timestamps"]:
            continue
        _, uniq = rec.factor(col)
        values = sorted({str(v) for v in uniq if str(v) != ""})
        shown = ", ".join(repr(v) for v in values[:_VALUES_SHOWN])
        more = len(values) - _VALUES_SHOWN
        parts.append(f"{col} holds {shown}" + (f" and {more} more" if more > 0 else "") if values
                     else f"{col} is empty in every record")
    return (f"kpis entry {entry} ({k['contract_id']} {k['kpi_id']}): its where matched none of the {unmatched} "
            f"records in its months, so every month is written with nothing to measure (volume 0); values are "
            f"matched exactly, capitals included" + (f": {'; '.join(parts)}" if parts else "")
            + ". Check the condition's values if such records exist.")


def _first(problems: pd.DataFrame) -> str:
    from .errors import format_problem

    return format_problem(problems.iloc[0])


def _latest_rows(ids, keep, text, times, src) -> np.ndarray:
    """Positions of each id's latest row among ``keep``: highest latest_by, else latest changed_at, else last."""
    pos = np.flatnonzero(keep)
    if src["latest_by"]:
        key = pd.to_numeric(pd.Series(text[src["latest_by"]][pos]), errors="coerce").to_numpy(dtype=float)
        key = np.where(np.isnan(key), -np.inf, key)
    elif src["changed_at"]:
        key = times[src["changed_at"]][pos].astype(np.int64).astype(float)
    else:
        key = np.arange(len(pos), dtype=float)
    order = np.lexsort((np.arange(len(pos)), key, pd.factorize(ids[pos])[0]))
    sorted_ids = ids[pos][order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = sorted_ids[1:] != sorted_ids[:-1]
    return np.sort(pos[order[last]])


def write_measurements(measurements: pd.DataFrame, path) -> Path:
    """Write derived measurements as a CSV `cinb validate` reads (``complete`` yes/no, values to 4 decimals)."""
    from .files import atomic_write_text

    out = measurements.copy()
    out["value"] = out["value"].map(lambda v: "" if pd.isna(v) else f"{v:.4f}".rstrip("0").rstrip("."))
    out["complete"] = np.where(out["complete"].to_numpy(dtype=bool), "yes", "no")
    path = Path(path)
    atomic_write_text(path, out.to_csv(index=False, lineterminator="\n"))
    return path


"""Property-based fuzzing of the loaders (hypothesis).

* Random but valid portfolios written as CSV load without error, give back exactly the values written
  (the highest revision of each month winning) and the same frames and data hash whatever the row order.
* Random junk in any cell, header or whole file of a CSV folder, or in cells of a workbook, gives a
  located `DataError` (or a clean load) — never a crash — and the row accounting always balances.

Example counts are kept moderate so the suite stays fast; ``pytest --hypothesis-show-statistics`` prints them.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from cinb.errors import CinbError, DataError
from cinb.load import load_portfolio

from adversarial import corpus  # noqa: E402  (tests/ is on sys.path: conftest.py)

TODAY = "2026-11-01"
# No example database: the runs are reproducible from their seeds and the checkout stays clean.
FUZZ = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Free text a supplier might send: any printable character, commas, quotes, line breaks, accents, emoji.
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from(',"\n\'=@'),
               max_size=30)
IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,11}", fullmatch=True)
UNITS = ("%", "hours", "days", "minutes", "count", "score", "GBP")


def _num(x: float) -> str:
    return repr(float(x))


@st.composite
def portfolios(draw):
    """A valid portfolio as rows of text, and the value each (contract, KPI, month) must load as."""
    cids = draw(st.lists(IDS, min_size=1, max_size=3, unique_by=str.lower))
    contracts = [["contract_id", "title", "authority", "supplier", "start_date", "end_date", "annual_value_gbp",
                  "service_credit_cap_pct", "notice_period_days"]]
    kpis = [["contract_id", "kpi_id", "name", "unit", "direction", "sla", "target", "credit_method", "credit_pct"]]
    meas = [["contract_id", "kpi_id", "period", "value", "revision", "note", "submitted_on"]]
    expected: dict[tuple[str, str, str], float | None] = {}
    for cid in cids:
        start_year = draw(st.integers(2018, 2022))  # 48 months on, still before TODAY
        contracts.append([cid, draw(TEXT.filter(lambda t: t.strip() != "")), "LB Testham",
                          draw(TEXT.filter(lambda t: t.strip() != "")), f"{start_year}-01-01",
                          f"{start_year + 3}-12-31",
                          _num(draw(st.floats(0, 1e9))), draw(st.sampled_from(["", "10", "12.5%"])),
                          str(draw(st.integers(0, 400)))])
        for kid in draw(st.lists(IDS, min_size=1, max_size=3, unique_by=str.lower)):
            unit = draw(st.sampled_from(UNITS))
            hi = 100.0 if unit == "%" else 1000.0
            lo = 1.0 if unit == "%" else (-50.0 if unit == "score" else 0.0)
            sla, target = sorted(draw(st.lists(st.floats(lo, hi), min_size=2, max_size=2)))
            direction = draw(st.sampled_from(["higher", "lower"]))
            if direction == "lower":
                sla, target = target, sla
            method = "shortfall" if unit == "%" and draw(st.booleans()) else draw(st.sampled_from(["none", "fixed"]))
            kpis.append([cid, kid, draw(TEXT.filter(lambda t: t.strip() != "")), unit, direction, _num(sla),
                         _num(target), method, "2" if method == "fixed" else ""])
            months = draw(st.lists(st.integers(0, 47), min_size=0, max_size=8, unique=True))
            for m in months:
                period = f"{start_year + m // 12}-{m % 12 + 1:02d}"
                revisions = draw(st.integers(1, 3))
                for rev in range(1, revisions + 1):
                    # A % value of 1 or less reads as a fraction or a percentage: validation rightly refuses it.
                    value = draw(st.none() | st.floats(lo, hi, exclude_min=unit == "%"))
                    text = "" if value is None else _num(value)
                    meas.append([cid, kid, period, text, str(rev), draw(TEXT), f"{period}-28"])
                    if rev == revisions:
                        expected[(cid, kid, period)] = value
    return {"contracts": contracts, "kpis": kpis, "measurements": meas, "initiatives": None}, expected


def _write(folder: Path, tables, order: dict[str, list[int]] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        if rows is None:
            continue
        body = rows[1:]
        if order and name in order:
            body = [body[i] for i in order[name]]
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows([rows[0], *body])
    return folder


def _no_crash(data, strict: bool):
    try:
        return load_portfolio(str(data), strict=strict, today=TODAY)
    except CinbError:
        raise
    except Exception:  # noqa: BLE001
        import traceback

        pytest.fail(f"the loader crashed:\n{traceback.format_exc()}")


def _balanced(accounting):
    a = accounting.set_index("table")
    assert (a["read"] == a["used"] + a["superseded"] + a["rejected"]).all(), accounting


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame without the columns that say where a row was (its file and spreadsheet row)."""
    return frame.drop(columns=[c for c in ("row", "source") if c in frame]).reset_index(drop=True)


@settings(FUZZ, max_examples=50)
@given(portfolios(), st.randoms(use_true_random=False))
def test_valid_portfolios_load_as_written_whatever_the_row_order(drawn, rnd):
    tables, expected = drawn
    with tempfile.TemporaryDirectory() as tmp:
        a = _no_crash(_write(Path(tmp) / "a", tables), strict=True)
        order = {name: rnd.sample(range(len(rows) - 1), len(rows) - 1)
                 for name, rows in tables.items() if rows is not None}
        b = _no_crash(_write(Path(tmp) / "b", tables, order), strict=True)
    _balanced(a.accounting)
    n_rows = len(tables["measurements"]) - 1
    acc = a.accounting.set_index("table").loc["measurements"]
    assert acc["read"] == n_rows and acc["used"] == len(expected) and acc["rejected"] == 0
    # The winning value of every month is the one written with the highest revision.
    got = {(r.contract_id, r.kpi_id, str(r.period)): (None if pd.isna(r.value) else float(r.value))
           for r in a.measurements.itertuples()}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if value is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
    # Row order changes nothing but the row numbers.
    assert a.data_hash == b.data_hash
    for name in ("contracts", "kpis", "measurements", "history", "initiatives"):
        pd.testing.assert_frame_equal(_comparable(getattr(a, name)), _comparable(getattr(b, name)), obj=name)


CELL_JUNK = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "1e400", "-0", "0x10", "1_000", "١٢٣", "98,5", "98.5%",
                     "%", "£5", "2024-02-30", "2024-13", "0000-00", "9999-12-31", "../x", "a/b", "C-001 ",
                     "\u0421-001", "=1+1", "\x00", "\ufeff", "\u202e", "TRUE", "None", "null", "#N/A", "'", '"']),
    st.integers(-10**30, 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@settings(FUZZ, max_examples=60)
@given(table=st.sampled_from(["contracts", "kpis", "measurements", "initiatives"]), where=st.data(),
       junk=CELL_JUNK)
def test_junk_in_any_cell_is_reported_not_crashed(table, where, junk):
    tables = corpus.base()
    rows = tables[table]
    r = where.draw(st.integers(0, len(rows) - 1), label="row")  # row 0 is the header
    c = where.draw(st.integers(0, len(rows[0]) - 1), label="column")
    rows[r][c] = junk
    with tempfile.TemporaryDirectory() as tmp:
        folder = corpus.write_csv(Path(tmp) / "d", tables)
        p = _no_crash(folder, strict=False)
        _balanced(p.accounting)
        if len(p.problems):
            with pytest.raises(DataError) as info:
                _no_crash(folder, strict=True)
            problems = info.value.problems
            assert problems["table"].notna().all() and problems["source"].notna().all()
            assert problems["problem"].astype(str).str.len().gt(0).all()
        else:
            _no_crash(folder, strict=True)


@settings(FUZZ, max_examples=40)
@given(table=st.sampled_from(["contracts", "kpis", "measurements"]), data=st.binary(max_size=400))
@example(table="contracts", data=b"\n\x00")  # found by this test in CI: pandas saw no column at all
def test_any_bytes_as_a_file_never_crash(table, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = corpus.write_csv(Path(tmp) / "d", corpus.base(), raw={table: data})
        p = _no_crash(folder, strict=False)
        _balanced(p.accounting)


@settings(FUZZ, max_examples=40)
@given(table=st.sampled_from(["contracts", "kpis", "measurements"]), lines=st.data(),
       ending=st.sampled_from(["\n", "\r\n", "\r"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
def test_mangled_line_structure_never_crashes(table, lines, ending, encoding):
    """Cells shifted, rows cut short or doubled, quotes unbalanced, any line ending and encoding."""
    text = corpus.csv_text(corpus.base()[table]).splitlines()
    ops = lines.draw(st.lists(st.tuples(st.sampled_from(["cut", "extend", "dup", "quote", "drop"]),
                                        st.integers(0, len(text) - 1)), max_size=4), label="edits")
    for op, i in ops:
        if not text:
            break
        i %= len(text)  # earlier edits may have changed the number of lines
        if op == "cut":
            text[i] = text[i][: len(text[i]) // 2]
        elif op == "extend":
            text[i] += ",extra,cells"
        elif op == "dup":
            text.insert(i, text[i])
        elif op == "quote":
            text[i] = '"' + text[i]
        elif op == "drop" and len(text) > 1:
            del text[i]
    data = ending.join(text).encode(encoding, errors="replace")
    with tempfile.TemporaryDirectory() as tmp:
        folder = corpus.write_csv(Path(tmp) / "d", corpus.base(), raw={table: data})
        p = _no_crash(folder, strict=False)
        _balanced(p.accounting)


EXCEL_JUNK = st.one_of(
    st.text(max_size=30).filter(lambda t: not t.startswith("=")),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-10**15, 10**15),
    st.booleans(),
    st.datetimes(min_value=pd.Timestamp("1900-03-01").to_pydatetime(),
                 max_value=pd.Timestamp("2100-01-01").to_pydatetime()),
    st.none(),
)


# openpyxl warns when a huge number sits in a date-formatted cell and reads it as an error cell: that is the point.
@pytest.mark.filterwarnings("ignore:Cell .* is marked as a date:UserWarning")
@settings(FUZZ, max_examples=30)
@given(table=st.sampled_from(["contracts", "kpis", "measurements"]), where=st.data(), junk=EXCEL_JUNK,
       fmt=st.sampled_from(["General", "0.0%", "yyyy-mm-dd", "@", "0.00"]))
def test_junk_cells_in_a_workbook_never_crash(table, where, junk, fmt):
    import openpyxl.cell.cell

    tables = corpus.base()
    r = where.draw(st.integers(2, len(tables[table])), label="row")
    c = where.draw(st.integers(1, len(tables[table][0])), label="column")
    assume(not (isinstance(junk, str) and openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE.search(junk)))

    def spoil(wb):
        cell = wb[table].cell(row=r, column=c)
        cell.value = junk
        cell.number_format = fmt

    with tempfile.TemporaryDirectory() as tmp:
        path = corpus.write_xlsx(Path(tmp) / "book.xlsx", tables, spoil)
        p = _no_crash(path, strict=False)
        _balanced(p.accounting)
        if len(p.problems):
            assert p.problems["sheet"].notna().any() and p.problems["row"].notna().any()

"""Validation: the bad-input corpus in CSV, Excel and SQLite, and the rules worked by hand on small inputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cinb.errors import PROBLEM_COLUMNS, CinbError, DataError, format_problem
from cinb.load import load_portfolio
from cinb.schema import Column
from cinb.validate import close_matches, parse_date, parse_number, parse_period

TODAY = "2026-11-26"
_spec = importlib.util.spec_from_file_location("corpus", Path(__file__).parent / "bad_inputs" / "corpus.py")
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)

EXPECTED = corpus.expected()
CASES = sorted({e["case"] for e in EXPECTED})
PARAMS = [(case, fmt) for case in CASES
          for fmt in next(e["formats"] for e in EXPECTED if e["case"] == case).split()]


def _matches(problems: pd.DataFrame, e: dict) -> pd.DataFrame:
    """Rows of ``problems`` at the expected place saying the expected words."""
    p = problems
    m = (p["severity"] == e["severity"]) & (p["table"] == e["table"])
    if e["row"]:
        m &= p["row"].astype("float").eq(float(e["row"])).fillna(False)
    else:
        m &= p["row"].isna()
    if e["column"]:
        m &= p["column"].astype(object).eq(e["column"])
    value = p["value"].astype(object).map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else v)
    m &= value.eq(e["value"])
    m &= p["problem"].astype(str).str.contains(e["problem"], regex=False)
    m &= p["fix"].astype(str).str.contains(e["fix"], regex=False)
    return p[m.to_numpy(dtype=bool)]


def _balanced(acc: pd.DataFrame) -> bool:
    return bool((acc["read"] == acc["used"] + acc["superseded"] + acc["rejected"]).all())


@pytest.mark.parametrize("case,fmt", PARAMS, ids=[f"{c}-{f}" for c, f in PARAMS])
def test_corpus_problem_is_located(case, fmt, tmp_path):
    src = corpus.build(fmt, corpus.case_tables(case), tmp_path)
    p = load_portfolio(src, strict=False, today=TODAY)
    assert _balanced(p.accounting), p.accounting
    found_all = pd.concat([p.problems, p.warnings], ignore_index=True)
    for e in (x for x in EXPECTED if x["case"] == case):
        hits = _matches(found_all, e)
        assert len(hits), f"{case}/{fmt}: expected {e} in\n{found_all[PROBLEM_COLUMNS].to_string()}"
        hit = hits.iloc[0]
        # Where: the file (and sheet) a user opens.
        if fmt == "csv":
            if e["table"] and hit["source"]:
                assert str(hit["source"]).endswith(f"{e['table']}.csv")
            assert hit["sheet"] is None or pd.isna(hit["sheet"])
        elif fmt == "excel":
            assert str(hit["source"]).endswith("portfolio.xlsx")
            assert hit["sheet"] == e["table"]
        else:
            assert str(hit["source"]).startswith("sqlite:///")
        text = format_problem(hit)
        if e["row"]:
            assert f"row {e['row']}" in text
        if e["value"]:
            assert repr(e["value"]) in text
        if e["column"]:
            assert f"column {e['column']}" in text
    errors = [e for e in EXPECTED if e["case"] == case and e["severity"] == "error"]
    if errors:
        with pytest.raises(DataError) as info:
            load_portfolio(src, today=TODAY)
        assert len(_matches(info.value.problems.assign(contract_id=None), errors[0]))
        assert isinstance(info.value, CinbError)
        assert "Traceback" not in str(info.value)
        # Every row an error points at is rejected and counted, never used.
        rows_with_errors = {(x["table"], float(x["row"])) for x in errors if x["row"] and x["row"] != "1"}
        for table, _ in rows_with_errors:
            assert int(p.accounting.set_index("table").loc[table, "rejected"]) >= 1
    else:
        load_portfolio(src, today=TODAY)  # warnings never stop a strict load


def test_corpus_has_every_kind_of_problem_the_issue_lists():
    kinds = {"missing_required_column", "number_is_text", "date_not_iso", "period_not_a_month",
             "percent_fraction_ambiguous", "decimal_comma", "unknown_contract", "unknown_kpi", "duplicate_key",
             "period_before_term", "negative_hours", "negative_gbp", "direction_invalid", "unit_unknown",
             "id_with_path", "nan_text", "period_in_future", "missing_month", "late_return"}
    assert kinds <= set(CASES)


def test_base_portfolio_is_clean():
    p = load_portfolio(str(corpus.BASE), today=TODAY)
    assert len(p.warnings) == 0 and len(p.problems) == 0
    assert p.accounting.set_index("table")["read"].to_dict() == {
        "contracts": 2, "kpis": 3, "measurements": 19, "initiatives": 2, "process_changes": 0, "credit_bands": 0,
        "critical_failure_rules": 0}


def test_rows_with_errors_are_left_out_and_the_rest_kept(tmp_path):
    # Two bad measurement rows (3 and 15) out of 19: 16 used + 1 superseded + 2 rejected.
    tables = corpus.case_tables()
    text = tables["measurements"].decode().splitlines()
    text[2] = text[2].replace(",72,", ",seventy-two,")
    text[14] = text[14].replace(",99.7,", ",99,7,").replace("99,7,", '"99,7",')
    tables["measurements"] = ("\n".join(text) + "\n").encode()
    p = load_portfolio(corpus.build("csv", tables, tmp_path), strict=False, today=TODAY)
    acc = p.accounting.set_index("table").loc["measurements"]
    assert (acc["read"], acc["used"], acc["superseded"], acc["rejected"]) == (19, 16, 1, 2)
    assert sorted(p.problems["row"].astype(int)) == [3, 15]
    assert not ((p.history["row"] == 3) | (p.history["row"] == 15)).any()


def test_strict_error_carries_every_problem_as_a_frame(tmp_path):
    tables = corpus.case_tables()
    text = tables["contracts"].decode().replace("2024-01-01", "01/01/2024").replace("600000", "-600000")
    tables["contracts"] = text.encode()
    with pytest.raises(DataError) as info:
        load_portfolio(corpus.build("csv", tables, tmp_path), today=TODAY)
    problems = info.value.problems
    assert list(problems.columns) == PROBLEM_COLUMNS
    assert {("start_date", 2), ("annual_value_gbp", 3)} <= set(zip(problems["column"], problems["row"].astype(int)))
    assert info.value.accounting is not None
    assert "contracts.csv, row 2, column start_date" in str(info.value)


# --- the rules, by hand -------------------------------------------------------------------------------------

PCT = Column("value", "number", pct_sign=True)


@pytest.mark.parametrize("text,value,pct", [("98.5", 98.5, False), ("98.5%", 98.5, True), ("98.5 %", 98.5, True),
                                            ("-3", -3.0, False), ("1e3", 1000.0, False), (".5", 0.5, False),
                                            ("", np.nan, False)])
def test_number_accepts_plain_decimals_and_percent_sign(text, value, pct):
    values, has_pct, issues = parse_number(np.array([text], dtype=object), PCT)
    assert issues == []
    assert (np.isnan(values[0]) and np.isnan(value)) or values[0] == value
    assert bool(has_pct[0]) is pct


@pytest.mark.parametrize("text,words", [("98,5", "decimal comma"), ("1,200,000", "uses a thousands separator"),
                                        ("1,234", "thousands separator or a decimal comma"),
                                        ("nan", "not a finite number"), ("Infinity", "not a finite number"),
                                        ("1e999", "too large"), ("12 hours", "not a number"),
                                        ("#DIV/0!", "Excel error marker"), ("N/A", "'not available' marker"),
                                        ("£12", "currency sign")])
def test_number_rejects_what_is_ambiguous_or_not_a_number(text, words):
    values, _, issues = parse_number(np.array(["1", text], dtype=object), PCT)
    assert len(issues) == 1
    mask, problem, fix = issues[0]
    assert list(mask) == [False, True]
    assert words in problem[1]
    assert np.isnan(values[1]) and values[0] == 1.0


def test_percent_sign_rejected_where_not_a_percentage():
    _, _, issues = parse_number(np.array(["5%"], dtype=object), Column("annual_value_gbp", "number"))
    assert issues and "not a percentage" in issues[0][1]


def test_period_and_date_parsing():
    periods, issues = parse_period(np.array(["2026-10", "2026-10-15", "", "2026-1", "2026-00", "2026-02-30"],
                                            dtype=object), Column("period", "period"))
    assert [str(p) if not pd.isna(p) else None for p in periods] == ["2026-10", "2026-10", None, None, None, None]
    bad = np.zeros(6, dtype=bool)
    for mask, _, _ in issues:
        bad |= mask
    assert list(bad) == [False, False, False, True, True, True]
    dates, issues = parse_date(np.array(["2024-02-29", "2023-02-29", "2026-10-31 13:45", "31/10/2026"],
                                        dtype=object), Column("d", "date"))
    assert str(dates[0])[:10] == "2024-02-29" and pd.isna(dates[1])
    assert str(dates[2])[:19] == "2026-10-31T00:00:00"  # the time of day is dropped
    fixes = [f for m, _, f in issues if m[3]][0]
    assert "2026-10-31" in fixes[3]


def _with_measurement(tmp_path, value, *, target="99.9", sla="99.5"):
    tables = corpus.case_tables()
    k = tables["kpis"].decode().replace("99.5,99.9", f"{sla},{target}")
    tables["kpis"] = k.encode()
    m = tables["measurements"].decode().replace("C-002,AVAIL,2025-01,99.95,", f"C-002,AVAIL,2025-01,{value},")
    tables["measurements"] = m.encode()
    return load_portfolio(corpus.build("csv", tables, tmp_path), strict=False, today=TODAY)


def _avail_jan(p):
    m = p.measurements
    row = m[(m["kpi_id"] == "AVAIL") & (m["period"] == pd.Period("2025-01", "M"))]
    return row["value"].tolist()


def test_percent_written_with_or_without_sign_is_the_same(tmp_path):
    assert _avail_jan(_with_measurement(tmp_path / "a", "99.95")) == [99.95]
    assert _avail_jan(_with_measurement(tmp_path / "b", "99.95%")) == [99.95]


def test_fraction_for_percent_kpi_is_ambiguous_when_target_above_one(tmp_path):
    p = _with_measurement(tmp_path, "0.985")
    assert _avail_jan(p) == []
    assert "ambiguous" in p.problems.iloc[0]["problem"]
    assert "98.5" in p.problems.iloc[0]["fix"] and "0.985%" in p.problems.iloc[0]["fix"]


def test_fraction_with_percent_sign_is_taken_as_written(tmp_path):
    assert _avail_jan(_with_measurement(tmp_path, "0.985%")) == [0.985]


def test_small_percent_accepted_when_target_is_small(tmp_path):
    # An error-rate KPI with a 0.5 % target: 0.3 means 0.3 %, there is nothing to disambiguate.
    p = _with_measurement(tmp_path, "0.3", target="0.5", sla="0.8")
    assert _avail_jan(p) == [0.3] and len(p.problems) == 0


def test_choices_ignore_case_and_are_written_canonically(tmp_path):
    tables = corpus.case_tables()
    tables["kpis"] = tables["kpis"].decode().replace(",hours,lower,", ",Hours,LOWER,").encode()
    p = load_portfolio(corpus.build("csv", tables, tmp_path), today=TODAY)
    row = p.kpis.set_index("kpi_id").loc["P1"]
    assert (row["unit"], row["direction"]) == ("hours", "lower")


def test_highest_revision_wins_whatever_the_row_order(tmp_path):
    tables = corpus.case_tables()
    lines = tables["measurements"].decode().splitlines()
    header, body = lines[0], lines[1:]
    tables["measurements"] = ("\n".join([header] + body[::-1]) + "\n").encode()
    p = load_portfolio(corpus.build("csv", tables, tmp_path), today=TODAY)
    m = p.measurements.set_index(["kpi_id", "period"])
    assert m.loc[("FTF", pd.Period("2025-03", "M")), "value"] == 73.9
    assert m.loc[("FTF", pd.Period("2025-03", "M")), "revision"] == 2
    h = p.history
    old = h[(h["kpi_id"] == "FTF") & (h["period"] == pd.Period("2025-03", "M")) & h["superseded"]]
    assert old["value"].tolist() == [73.5]


def test_missing_revision_means_first(tmp_path):
    tables = corpus.case_tables()
    lines = tables["measurements"].decode().splitlines()
    cut = [",".join(line.split(",")[:5] + line.split(",")[6:]) for line in lines[:-1]]  # drop revision column
    tables["measurements"] = ("\n".join(cut) + "\n").encode()
    p = load_portfolio(corpus.build("csv", tables, tmp_path), today=TODAY)
    assert set(p.measurements["revision"]) == {1}


def test_column_names_ignore_case_and_spaces_and_extra_columns_are_kept(tmp_path):
    tables = corpus.case_tables()
    c = tables["contracts"].decode().splitlines()
    c[0] = c[0].replace("contract_id", " Contract ID ").replace("title", "TITLE") + ",local_ref"
    c[1:] = [line + ",X1" for line in c[1:]]
    tables["contracts"] = ("\n".join(c) + "\n").encode()
    p = load_portfolio(corpus.build("csv", tables, tmp_path), today=TODAY)
    assert p.contracts["contract_id"].tolist() == ["C-001", "C-002"]
    assert p.contracts["local_ref"].tolist() == ["X1", "X1"]


def test_close_matches():
    assert close_matches("NB-SD-01", ["NB-SD-001", "NB-GIS-011", "NB-TEL-010"]) == ["NB-SD-001"]
    assert close_matches("kestrel", ["Kestrel Cloud Hosting Ltd", "Meridian Ltd"]) == ["Kestrel Cloud Hosting Ltd"]
    assert close_matches("zzz", ["C-001"]) == []


# --- fuzzing ----------------------------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_cells = st.one_of(st.text(max_size=12), st.sampled_from(["98.5%", "0.5", "-1", "2025-13", "1e400", "nan", "",
                                                           "C-001", "P1", "2025-02", " 7 ", "1,5", "£3"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.tuples(_cells, _cells, _cells, _cells), min_size=1, max_size=6))
def test_fuzzed_measurement_cells_never_crash_and_always_balance(tmp_path_factory, values):
    import csv
    import io

    rows = list(csv.reader(io.StringIO(corpus.case_tables()["measurements"].decode())))
    for i, (cid, kid, period, value) in enumerate(values, start=1):
        rows[i][0], rows[i][1], rows[i][2], rows[i][3] = cid, kid, period, value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    tables = corpus.case_tables()
    tables["measurements"] = out.getvalue().encode("utf-8", errors="surrogatepass")
    tmp = tmp_path_factory.mktemp("fuzz")
    try:
        p = load_portfolio(corpus.build("csv", tables, tmp), strict=False, today=TODAY)
    except CinbError:
        return
    assert _balanced(p.accounting)
    assert set(p.problems["severity"]) <= {"error"} and set(p.warnings["severity"]) <= {"warning"}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_results_do_not_depend_on_row_order(tmp_path_factory, seed):
    rng = np.random.default_rng(seed)
    tables = corpus.case_tables()
    for name in ("contracts", "kpis", "measurements", "initiatives"):
        lines = tables[name].decode().splitlines()
        body = [lines[1:][i] for i in rng.permutation(len(lines) - 1)]
        tables[name] = ("\n".join([lines[0]] + body) + "\n").encode()
    p = load_portfolio(corpus.build("csv", tables, tmp_path_factory.mktemp("order")), today=TODAY)
    base = load_portfolio(str(corpus.BASE), today=TODAY)
    assert p.data_hash == base.data_hash
    for name in ("contracts", "kpis", "measurements", "history", "initiatives"):
        pd.testing.assert_frame_equal(getattr(p, name).drop(columns=["source", "row"], errors="ignore"),
                                      getattr(base, name).drop(columns=["source", "row"], errors="ignore"))


def test_dates_and_months_before_1900_are_refused_with_a_fix():
    """0000-01-01 is a real-looking ISO date that Python's datetime cannot hold; years from 1900 to 9999 are kept."""
    dates, issues = parse_date(np.array(["0000-01-01", "1899-12-31", "1900-01-01", "9999-12-31", "0024-05-01"],
                                        dtype=object), Column("start_date", "date"))
    assert pd.isna(dates[0]) and pd.isna(dates[1]) and pd.isna(dates[4])
    assert str(dates[2])[:10] == "1900-01-01" and str(dates[3])[:10] == "9999-12-31"
    (mask, problem, fix), = issues
    assert list(mask) == [True, True, False, False, True]
    assert "before 1900" in problem and "four-digit year" in fix
    periods, issues = parse_period(np.array(["0000-01", "1900-01", "0001-12-31"], dtype=object),
                                   Column("period", "period"))
    assert [str(p) if not pd.isna(p) else None for p in periods] == [None, "1900-01", None]
    assert list(issues[0][0]) == [True, False, True] and "before 1900" in issues[0][1]


def test_year_zero_in_a_file_is_a_located_error(tmp_path):
    tables = corpus.case_tables()
    tables["contracts"] = tables["contracts"].replace(b"2024-01-01,2027-12-31", b"0000-01-01,2027-12-31")
    tables["kpis"] = tables["kpis"].replace(b"2024-01-15", b"0001-01-15")
    with pytest.raises(DataError) as info:
        load_portfolio(corpus.build("csv", tables, tmp_path), today=TODAY)
    p = info.value.problems
    got = {(r["table"], r["row"], r["column"], r["value"]) for _, r in p.iterrows()}
    assert ("contracts", 2, "start_date", "0000-01-01") in got
    assert ("kpis", 2, "agreed_with_supplier", "0001-01-15") in got
    assert p["problem"].str.contains("before 1900").sum() == 2

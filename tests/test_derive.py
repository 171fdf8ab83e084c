"""cinb derive: KPIs computed from records — audit logs, pauses, incomplete periods, quarterly KPIs, and monthly
shares, medians and counts equal to a plain pandas computation on a realistic synthetic export."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cinb.derive import MEASUREMENT_COLUMNS, derive, definition_text, write_measurements

OFFICE = {"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "hours": ["09:00", "17:00"], "holidays": "england-and-wales"}


def _one(result, kpi, period):
    m = result.measurements
    row = m[(m["kpi_id"] == kpi) & (m["period"] == period)]
    assert len(row) == 1, m
    return row.iloc[0]


def _reasons(result, kpi):
    a = result.accounting
    a = a[a["kpi_id"] == kpi]
    return {(r.outcome, r.reason): r.rows for r in a.itertuples()}


# ------------------------------------------------------------------------------------------ hand-worked examples

def test_audit_log_reduced_to_its_last_row_per_id():
    # INC1 was logged as priority 3, then raised to 1 (sys_mod_count 2) and resolved; INC2 was priority 1 then
    # lowered to 2. Only the latest row of each id counts, whatever the file order.
    log = pd.DataFrame({
        "number": ["INC1", "INC2", "INC1", "INC2", "INC3"],
        "sys_mod_count": ["2", "0", "0", "1", "0"],
        "priority": ["1", "1", "3", "2", "1"],
        "opened_at": ["2026-10-01T10:00"] * 5,
        "resolved_at": ["2026-10-01T11:00", "", "", "2026-10-02T10:00", "2026-10-01T12:00"],
    })
    defs = {"source": {"id": "number", "latest_by": "sys_mod_count",
                       "timestamps": {"opened_at": None, "resolved_at": None}},
            "kpis": [{"contract_id": "C-1", "kpi_id": "P1", "period": "opened_at", "measure": "count",
                      "where": {"priority": 1}},
                     {"contract_id": "C-1", "kpi_id": "MED", "period": "opened_at", "measure": "median",
                      "duration": {"from": "opened_at", "to": "resolved_at", "unit": "hours"}}]}
    r = derive(log, defs, as_of="2026-11-01")
    p1 = _one(r, "P1", "2026-10")
    assert (p1["value"], p1["volume"], p1["complete"]) == (2.0, 2, True)  # INC1 and INC3, not INC2
    assert _reasons(r, "P1")[("excluded", "an earlier row of the same id (the latest is kept)")] == 2
    assert _reasons(r, "P1")[("read", "")] == 5 and _reasons(r, "P1")[("used", "")] == 2
    # Median of INC1 1 h, INC2 24 h, INC3 2 h (the latest rows' resolution times) = 2 h.
    assert _one(r, "MED", "2026-10")["value"] == pytest.approx(2.0)


def test_paused_time_is_excluded_from_an_sla_clock():
    # A 4-business-hour target. INC1: Monday 09:00 -> 15:00 is 6 h, of which 3.5 h awaiting the user: 2.5 h, met.
    # INC2: 09:00 -> 15:00 with 1 h awaiting the user: 5 h, missed.
    rows = [
        ("INC1", "2026-10-05 09:00", "New", "2026-10-05 09:00", ""),
        ("INC1", "2026-10-05 10:00", "Awaiting User Info", "2026-10-05 09:00", ""),
        ("INC1", "2026-10-05 12:30", "In Progress", "2026-10-05 09:00", ""),
        ("INC1", "2026-10-05 14:00", "Awaiting User Info", "2026-10-05 09:00", ""),
        ("INC1", "2026-10-05 15:00", "Resolved", "2026-10-05 09:00", "2026-10-05 15:00"),
        ("INC2", "2026-10-05 09:00", "New", "2026-10-05 09:00", ""),
        ("INC2", "2026-10-05 13:00", "Awaiting User Info", "2026-10-05 09:00", ""),
        ("INC2", "2026-10-05 14:00", "In Progress", "2026-10-05 09:00", ""),
        ("INC2", "2026-10-05 15:00", "Resolved", "2026-10-05 09:00", "2026-10-05 15:00"),
    ]
    log = pd.DataFrame(rows, columns=["number", "sys_updated_on", "incident_state", "opened_at", "resolved_at"])
    dur = {"from": "opened_at", "to": "resolved_at", "calendar": "office", "unit": "hours",
           "pause": {"column": "incident_state", "states": ["Awaiting User Info"]}}
    defs = {"source": {"id": "number", "changed_at": "sys_updated_on",
                       "timestamps": {"sys_updated_on": None, "opened_at": None, "resolved_at": None}},
            "calendars": {"office": OFFICE},
            "kpis": [{"contract_id": "C-1", "kpi_id": "P1_4H", "period": "opened_at", "measure": "share",
                      "of": {"duration": dur, "at_most": 4}},
                     {"contract_id": "C-1", "kpi_id": "MEAN", "period": "opened_at", "measure": "mean",
                      "duration": dur}]}
    r = derive(log.sample(frac=1, random_state=1), defs, as_of="2026-11-01")
    assert _one(r, "P1_4H", "2026-10")["value"] == pytest.approx(50.0)
    assert _one(r, "MEAN", "2026-10")["value"] == pytest.approx((2.5 + 5.0) / 2)
    # Without the pause both took 6 h.
    del dur["pause"]
    r = derive(log, defs, as_of="2026-11-01")
    assert _one(r, "MEAN", "2026-10")["value"] == pytest.approx(6.0)
    assert _one(r, "P1_4H", "2026-10")["value"] == pytest.approx(0.0)


def _incomplete_case():
    records = pd.DataFrame({
        "number": ["A", "B", "C", "D"],
        "opened_at": ["2026-10-01T10:00", "2026-10-07T10:00", "2026-10-15T08:00", "2026-10-14T10:00"],
        "resolved_at": ["2026-10-01T11:00", "2026-10-07T16:00", "", ""],
    })
    defs = {"source": {"id": "number", "timestamps": {"opened_at": None, "resolved_at": None}},
            "calendars": {"office": OFFICE},
            "kpis": [{"contract_id": "C-1", "kpi_id": "R4", "period": "opened_at", "measure": "share",
                      "of": {"duration": {"from": "opened_at", "to": "resolved_at", "calendar": "office",
                                          "unit": "hours"}, "at_most": 4}}]}
    return records, defs


def test_a_period_is_incomplete_at_an_as_of_inside_it_and_complete_after():
    records, defs = _incomplete_case()
    # At 15 October 09:00: A met (1 h), B missed (6 h), D open for 7 business hours (past the limit: missed),
    # C open for 0 business hours (not yet past it: outcome unknown).
    r = derive(records, defs, as_of="2026-10-15T09:00")
    row = _one(r, "R4", "2026-10")
    assert not row["complete"]
    assert row["note"] == ("period had not ended at 2026-10-15 09:00; 1 record still open, not yet past the "
                           "4-hour limit")
    assert (row["value"], row["volume"]) == (pytest.approx(100 / 3), 3)
    assert _reasons(r, "R4")[("excluded", "outcome not yet known (still open, not yet past the 4-hour limit)")] == 1
    # After the month, C has been open 4 h 00 of business time by 15 Oct 13:00 and more since: missed.
    r = derive(records, defs, as_of="2026-11-02T09:00")
    row = _one(r, "R4", "2026-10")
    assert row["complete"] and row["note"] == ""
    assert (row["value"], row["volume"]) == (pytest.approx(25.0), 4)
    # C opened Friday 30 October 16:30: by Monday 2 November 10:00 it has run 0.5 h + 1 h of business time, within
    # its limit. The month is over, but with an outcome not yet known it stays provisional, with only that reason.
    records.loc[2, "opened_at"] = "2026-10-30T16:30"
    r = derive(records, defs, as_of="2026-11-02T10:00")
    row = _one(r, "R4", "2026-10")
    assert not row["complete"] and row["note"] == "1 record still open, not yet past the 4-hour limit"


def test_records_resolved_after_the_as_of_time_are_open_at_it():
    records, defs = _incomplete_case()
    defs["kpis"].append({"contract_id": "C-1", "kpi_id": "MED", "period": "opened_at", "measure": "median",
                         "duration": {"from": "opened_at", "to": "resolved_at", "unit": "hours"}})
    r = derive(records, defs, as_of="2026-10-07T12:00")  # B resolved at 16:00: not yet
    row = _one(r, "MED", "2026-10")
    assert (row["value"], row["volume"]) == (1.0, 1)
    assert "1 record still open at 2026-10-07 12:00" in row["note"]
    assert _reasons(r, "MED")[("excluded", "after the as-of time")] == 2  # C and D opened later


def test_quarterly_kpi_is_written_at_its_due_months():
    opened = pd.date_range("2026-01-10", "2026-09-20", freq="7D")
    records = pd.DataFrame({"number": [f"I{i}" for i in range(len(opened))],
                            "opened_at": opened.strftime("%Y-%m-%dT%H:%M")})
    defs = {"source": {"id": "number", "timestamps": {"opened_at": None}},
            "kpis": [{"contract_id": "C-1", "kpi_id": "Q", "period": "opened_at", "measure": "count",
                      "frequency": "quarterly"},
                     {"contract_id": "C-1", "kpi_id": "QJ", "period": "opened_at", "measure": "count",
                      "frequency": "quarterly", "period_ends": "Jan"}]}
    r = derive(records, defs, as_of="2026-10-05")
    q = r.measurements[r.measurements["kpi_id"] == "Q"]
    months = opened.to_period("M")
    want = [(f"2026-{m:02d}", int(((months.month > m - 3) & (months.month <= m)).sum())) for m in (3, 6, 9)]
    assert list(zip(q["period"], q["volume"])) == want
    assert q["complete"].all()
    qj = r.measurements[r.measurements["kpi_id"] == "QJ"]
    assert list(qj["period"]) == ["2026-01", "2026-04", "2026-07", "2026-10"]
    assert list(qj["complete"]) == [True, True, True, False]
    assert qj["note"].iloc[-1] == "period had not ended at 2026-10-05 00:00"
    # On 15 August the quarter July-September is due in September, a month still to come: its records wait.
    r = derive(records, defs, as_of="2026-08-15")
    assert list(r.measurements.loc[r.measurements["kpi_id"] == "Q", "period"]) == ["2026-03", "2026-06"]
    assert _reasons(r, "Q")[("excluded", "in a quarter that ends after the as-of month")] == int(
        ((opened >= "2026-07-01") & (opened <= "2026-08-15")).sum())


# ---------------------------------------------------------------------------- against a plain pandas computation

def synthetic_export(n: int = 6000, seed: int = 11) -> pd.DataFrame:
    """A ServiceNow-like incident export: several priorities, 6 % still open, day-first opening times."""
    rng = np.random.default_rng(seed)
    opened = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.uniform(0, 300 * 86400, n), unit="s")
    opened = opened.floor("min")
    prio = rng.choice(["1 - Critical", "2 - High", "3 - Moderate", "4 - Low"], n, p=[0.04, 0.16, 0.45, 0.35])
    hours = rng.gamma(1.6, np.select([prio == "1 - Critical", prio == "2 - High"], [2.0, 6.0], 14.0))
    resolved = (opened + pd.to_timedelta(hours, unit="h")).floor("min")
    res_text = pd.Series(resolved.strftime("%Y-%m-%d %H:%M:%S"))
    res_text[rng.random(n) < 0.06] = ""
    reassign = rng.choice(["0", "1", "2", "3"], n, p=[0.68, 0.2, 0.08, 0.04]).astype(object)
    reassign[rng.random(n) < 0.01] = "?"
    return pd.DataFrame({"number": [f"INC{i:07d}" for i in range(n)], "priority": prio,
                         "opened_at": opened.strftime("%d/%m/%Y %H:%M"), "resolved_at": res_text,
                         "reassignment_count": reassign, "short_description": "Printer, \"3rd floor\""})


SYNTH_DEFS = {
    "source": {"id": "number", "na_values": ["?"],
               "timestamps": {"opened_at": "%d/%m/%Y %H:%M", "resolved_at": None}},
    "calendars": {"office": OFFICE},
    "kpis": [
        {"contract_id": "C-1", "kpi_id": "FTF", "period": "resolved_at", "measure": "share",
         "of": {"reassignment_count": 0}},
        {"contract_id": "C-1", "kpi_id": "P12_MED", "period": "resolved_at", "measure": "median",
         "where": {"priority": ["1 - Critical", "2 - High"]},
         "duration": {"from": "opened_at", "to": "resolved_at", "unit": "hours"}},
        {"contract_id": "C-1", "kpi_id": "P90", "period": "resolved_at", "measure": "percentile", "q": 90,
         "duration": {"from": "opened_at", "to": "resolved_at", "unit": "minutes"}},
        {"contract_id": "C-1", "kpi_id": "MEAN", "period": "resolved_at", "measure": "mean",
         "where": {"priority": "3 - Moderate"},
         "duration": {"from": "opened_at", "to": "resolved_at", "unit": "days"}},
        {"contract_id": "C-1", "kpi_id": "VOL", "period": "opened_at", "measure": "count"},
        {"contract_id": "C-1", "kpi_id": "LOWREASSIGN", "period": "opened_at", "measure": "share",
         "of": {"reassignment_count": {"<=": 1}}},
    ],
}


def test_monthly_shares_medians_and_counts_equal_a_pandas_computation(tmp_path):
    export = synthetic_export()
    path = tmp_path / "incidents.csv"
    export.to_csv(path, index=False)
    r = derive(path, SYNTH_DEFS, as_of="2026-12-01")
    assert list(r.measurements.columns) == MEASUREMENT_COLUMNS
    m = r.measurements.set_index(["kpi_id", "period"])

    d = pd.read_csv(path, dtype=str, keep_default_na=False)
    d["opened"] = pd.to_datetime(d["opened_at"], format="%d/%m/%Y %H:%M")
    d["resolved"] = pd.to_datetime(d["resolved_at"].replace("", None))
    d["hours"] = (d["resolved"] - d["opened"]).dt.total_seconds() / 3600
    d["rmonth"] = d["resolved"].dt.strftime("%Y-%m")
    d["omonth"] = d["opened"].dt.strftime("%Y-%m")
    closed = d[d["resolved"].notna()]

    known = closed[closed["reassignment_count"] != "?"]
    ftf = known.groupby("rmonth")["reassignment_count"].agg(lambda s: 100 * (s == "0").mean())
    n_ftf = known.groupby("rmonth").size()
    for month, value in ftf.items():
        assert m.loc[("FTF", month), "value"] == pytest.approx(value)
        assert m.loc[("FTF", month), "volume"] == n_ftf[month]

    p12 = closed[closed["priority"].isin(["1 - Critical", "2 - High"])].groupby("rmonth")["hours"]
    for month, value in p12.median().items():
        assert m.loc[("P12_MED", month), "value"] == pytest.approx(value)
        assert m.loc[("P12_MED", month), "volume"] == p12.size()[month]
    for month, value in closed.groupby("rmonth")["hours"].quantile(0.9).items():
        assert m.loc[("P90", month), "value"] == pytest.approx(value * 60)
    for month, value in closed[closed["priority"] == "3 - Moderate"].groupby("rmonth")["hours"].mean().items():
        assert m.loc[("MEAN", month), "value"] == pytest.approx(value / 24)
    vol = d.groupby("omonth").size()
    assert m.xs("VOL")["value"].to_dict() == {k: float(v) for k, v in vol.items()}
    low = d[d["reassignment_count"] != "?"].groupby("omonth")["reassignment_count"].agg(
        lambda s: 100 * (s.astype(int) <= 1).mean())
    for month, value in low.items():
        assert m.loc[("LOWREASSIGN", month), "value"] == pytest.approx(value)

    # Every row read is accounted for, and the open tickets are excluded with their reason.
    acc = r.accounting
    for _, g in acc.groupby("kpi_id"):
        read = g.loc[g["outcome"] == "read", "rows"].sum()
        assert read == len(export) == g.loc[g["outcome"] != "read", "rows"].sum()
    assert _reasons(r, "FTF")[("excluded", "no resolved_at (no period timestamp)")] == int(d["resolved"].isna().sum())
    assert _reasons(r, "FTF")[("excluded", "reassignment_count is empty")] == int(
        (closed["reassignment_count"] == "?").sum())


def test_business_hours_share_equals_a_day_by_day_reference():
    from tests.test_clocks import _reference_business_seconds

    from cinb.clocks import holiday_dates

    export = synthetic_export(800, seed=5)
    defs = {"source": SYNTH_DEFS["source"], "calendars": {"office": OFFICE},
            "kpis": [{"contract_id": "C-1", "kpi_id": "B8", "period": "resolved_at", "measure": "share",
                      "of": {"duration": {"from": "opened_at", "to": "resolved_at", "calendar": "office",
                                          "unit": "hours"}, "at_most": 8}}]}
    r = derive(export, defs, as_of="2026-12-01")
    cal_hols = set(holiday_dates(("england-and-wales",), 2025, 2027).astype(str))
    from cinb.clocks import Calendar

    cal = Calendar("office", start=9 * 3600, end=17 * 3600, regions=("england-and-wales",))
    d = export[export["resolved_at"] != ""].copy()
    d["opened"] = pd.to_datetime(d["opened_at"], format="%d/%m/%Y %H:%M")
    d["resolved"] = pd.to_datetime(d["resolved_at"])
    d["bh"] = [_reference_business_seconds(a.to_pydatetime(), b.to_pydatetime(), cal, cal_hols) / 3600
               for a, b in zip(d["opened"], d["resolved"])]
    want = d.groupby(d["resolved"].dt.strftime("%Y-%m"))["bh"].agg(lambda s: 100 * (s <= 8).mean())
    got = r.measurements.set_index("period")["value"]
    for month, value in want.items():
        assert got[month] == pytest.approx(value)


# ----------------------------------------------------------------------------------- output the data contract takes

def test_derived_rows_are_accepted_beside_the_suppliers(tmp_path):
    from cinb.load import load_portfolio
    from cinb.sources import sample_dir

    folder = tmp_path / "portfolio"
    shutil.copytree(sample_dir(), folder)
    export = synthetic_export(3000, seed=3)
    defs = {"source": SYNTH_DEFS["source"], "kpis": [
        {"contract_id": "NB-SD-001", "kpi_id": "FTF", "period": "resolved_at", "measure": "share",
         "of": {"reassignment_count": 0}},
        {"contract_id": "NB-SD-001", "kpi_id": "P1RES", "period": "resolved_at", "measure": "mean",
         "where": {"priority": "1 - Critical"}, "duration": {"from": "opened_at", "to": "resolved_at"}}]}
    r = derive(export, defs, as_of="2026-10-20T12:00")
    out = write_measurements(r.measurements, tmp_path / "derived.csv")
    derived = list(csv.DictReader(out.open()))
    assert {row["complete"] for row in derived} == {"yes", "no"}
    sample = pd.read_csv(folder / "measurements.csv", dtype=str, keep_default_na=False)
    sample = sample[sample["origin"] != "derived"]  # the sample's own derived rows give way to these
    sample.to_csv(folder / "measurements.csv", index=False)
    header = list(sample.columns)
    with (folder / "measurements.csv").open("a", newline="") as f:
        w = csv.DictWriter(f, header)
        for row in derived:
            w.writerow({c: row.get(c, "") for c in header})
    p = load_portfolio(folder)
    assert len(p.problems) == 0
    got = p.derived[p.derived["contract_id"] == "NB-SD-001"]
    assert len(got) == len(derived)
    oct_ftf = got[(got["kpi_id"] == "FTF") & (got["period"].astype(str) == "2026-10")].iloc[0]
    assert oct_ftf["value"] == pytest.approx(_one(r, "FTF", "2026-10")["value"], abs=1e-4)
    assert not bool(oct_ftf["complete"])


def test_excel_records_and_definition_text(tmp_path):
    export = synthetic_export(300, seed=2)
    path = tmp_path / "export.xlsx"
    with pd.ExcelWriter(path) as xl:
        pd.DataFrame({"note": ["other sheet"]}).to_excel(xl, sheet_name="About", index=False)
        export.to_excel(xl, sheet_name="Incidents", index=False)
    r_xl = derive(path, SYNTH_DEFS, as_of="2026-12-01", sheet="Incidents")
    r_df = derive(export, SYNTH_DEFS, as_of="2026-12-01")
    pd.testing.assert_frame_equal(r_xl.measurements, r_df.measurements)
    text = definition_text(r_df.definitions[("C-1", "P12_MED")])
    assert text == ("Median of the time from opened_at to resolved_at (elapsed time), in hours, over the records "
                    "whose resolved_at falls in the month, where priority is one of '1 - Critical', '2 - High'. "
                    "Volume: the records with a value.")
    assert r_df.texts[("C-1", "FTF")].startswith("Share (%) of the records whose resolved_at falls in the month")
    assert r_df.texts[("C-1", "P90")].startswith(
        "90th percentile of the time from opened_at to resolved_at (elapsed time), in minutes")


def test_default_as_of_is_the_latest_timestamp(tmp_path):
    records, defs = _incomplete_case()
    r = derive(records, defs)
    assert r.as_of == pd.Timestamp("2026-10-15T08:00")
    assert Path(write_measurements(r.measurements, tmp_path / "m.csv")).read_text().startswith(
        "contract_id,kpi_id,period,value,volume,complete,origin,note\n")


def test_unparseable_rows_can_be_left_out_with_their_reason_and_offsets_become_uk_time():
    records = pd.DataFrame({"number": ["A", "B", "C"],
                            # 23:30 UTC on 31 July is 00:30 on 1 August in London (BST): an August ticket.
                            "opened_at": ["2026-07-31T23:30:00Z", "last tuesday", "2026-07-10T10:00:00+01:00"]})
    defs = {"source": {"id": "number", "timestamps": {"opened_at": None}},
            "kpis": [{"contract_id": "C-1", "kpi_id": "VOL", "period": "opened_at", "measure": "count"}]}
    r = derive(records, defs, as_of="2026-09-01", strict=False)
    assert r.measurements[["period", "value"]].values.tolist() == [["2026-07", 1.0], ["2026-08", 1.0]]
    assert _reasons(r, "VOL")[("excluded", "a timestamp that does not parse")] == 1
    assert r.problems[["row", "column", "value"]].values.tolist() == [[3, "opened_at", "last tuesday"]]
    from cinb.errors import DataError

    with pytest.raises(DataError, match="row 3, column opened_at: value 'last tuesday'"):
        derive(records, defs, as_of="2026-09-01")

"""``cinb derive`` on the command line: bad definitions and bad records each give one located message and exit 1;
usage problems exit 2; a good run writes measurements and the row accounting."""

from __future__ import annotations

import textwrap

import pytest

from cinb.cli import main

RECORDS = """number,priority,opened_at,resolved_at,reassignment_count
INC1,1,01/10/2026 10:00,2026-10-01T12:00,0
INC2,1 - Critical,02/10/2026 16:00,2026-10-05T11:00,1
INC3,2,03/10/2026 10:00,,0
"""

GOOD = """\
source:
  id: number
  timestamps: {opened_at: "%d/%m/%Y %H:%M", resolved_at: null}
calendars:
  office: {days: [Mon, Tue, Wed, Thu, Fri], hours: ["09:00", "17:00"], holidays: england-and-wales}
kpis:
  - {contract_id: C-1, kpi_id: P1_4H, period: opened_at, where: {priority: [1, "1 - Critical"]},
     measure: share, of: {duration: {from: opened_at, to: resolved_at, calendar: office, unit: hours}, at_most: 4}}
  - {contract_id: C-1, kpi_id: FTF, period: resolved_at, measure: share, of: {reassignment_count: 0}}
  - {contract_id: C-1, kpi_id: P1_MED, period: resolved_at, measure: median,
     duration: {from: opened_at, to: resolved_at, unit: hours}}
  - {contract_id: C-1, kpi_id: VOL, period: opened_at, measure: count}
"""


def _run(tmp_path, capsys, definitions: str, records: str = RECORDS, *extra):
    (tmp_path / "records.csv").write_text(records, encoding="utf-8")
    (tmp_path / "kpis.yml").write_text(definitions, encoding="utf-8")
    code = main(["derive", str(tmp_path / "records.csv"), "--definitions", str(tmp_path / "kpis.yml"),
                 "--out", str(tmp_path / "out.csv"), *extra])
    out, err = capsys.readouterr()
    return code, out, err.strip().splitlines()


def test_good_definitions_write_measurements(tmp_path, capsys):
    code, out, err = _run(tmp_path, capsys, GOOD, RECORDS, "--as-of", "2026-11-01T00:00")
    assert code == 0, err
    assert "4 measurement rows for 4 KPIs written to" in out
    assert "read = used + excluded" in out
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "contract_id,kpi_id,period,value,volume,complete,origin,note"
    # P1_4H: INC1 2 business hours (met), INC2 Fri 16:00 -> Mon 11:00 = 3 h (met): 100 % of 2.
    assert "C-1,P1_4H,2026-10,100,2,yes,derived," in lines
    assert "C-1,VOL,2026-10,3,3,yes,derived," in lines


@pytest.mark.parametrize("broken, where, says", [
    # an unknown column, with the closest one suggested
    (GOOD.replace("where: {priority:", "where: {priorty:"),
     "kpis.yml, line 7, kpis entry 1 (C-1 P1_4H), key where.priorty: value 'priorty'",
     "no column 'priorty' in"),
    # an unknown measure
    (GOOD.replace("measure: count", "measure: avg"),
     "kpis.yml, line 12, kpis entry 4 (C-1 VOL), key measure: value 'avg'", "unknown measure"),
    # a calendar with no working days
    (GOOD.replace("days: [Mon, Tue, Wed, Thu, Fri]", "days: []"),
     "kpis.yml, line 5, key calendars.office.days", "calendar office has no working days"),
    # a timestamp format that cannot read a timestamp
    (GOOD.replace('"%d/%m/%Y %H:%M"', '"day-month-year"'),
     "kpis.yml, line 3, key source.timestamps.opened_at: value 'day-month-year'", "cannot read a timestamp"),
])
def test_each_bad_definition_is_one_located_message(tmp_path, capsys, broken, where, says):
    code, out, err = _run(tmp_path, capsys, broken)
    assert code == 1
    assert len(err) == 1, err
    assert where in err[0] and says in err[0]
    assert not (tmp_path / "out.csv").exists()


def test_a_record_timestamp_that_does_not_parse_is_located(tmp_path, capsys):
    code, out, err = _run(tmp_path, capsys, GOOD, RECORDS.replace("02/10/2026 16:00", "2026-10-02 16:00"))
    assert code == 1
    assert len(err) == 1, err
    assert "records.csv, row 3, column opened_at: value '2026-10-02 16:00': the timestamp does not parse as " \
           "'%d/%m/%Y %H:%M'" in err[0]
    assert "write it as '15/10/2026 09:30'" in err[0]


def test_several_problems_are_each_listed(tmp_path, capsys):
    broken = GOOD.replace("measure: count", "measure: avg").replace("days: [Mon, Tue, Wed, Thu, Fri]", "days: []")
    code, out, err = _run(tmp_path, capsys, broken)
    assert code == 1
    assert err[0].startswith("cinb: 2 problems in the input data")
    assert len(err) == 3 and "no working days" in err[1] and "unknown measure" in err[2]


def test_unsafe_yaml_is_refused_without_running_anything(tmp_path, capsys):
    marker = tmp_path / "ran"
    code, out, err = _run(tmp_path, capsys, f"kpis: !!python/object/apply:os.system ['touch {marker}']\n")
    assert code == 1 and not marker.exists()
    assert "not valid YAML" in err[0]


def test_usage_problems_exit_2(tmp_path, capsys):
    (tmp_path / "kpis.yml").write_text(GOOD)
    assert main(["derive", str(tmp_path / "nothing.csv"), "--definitions", str(tmp_path / "kpis.yml"),
                 "--out", str(tmp_path / "o.csv")]) == 2
    assert "nothing.csv: no such file" in capsys.readouterr().err
    (tmp_path / "r.csv").write_text(RECORDS)
    assert main(["derive", str(tmp_path / "r.csv"), "--definitions", str(tmp_path / "kpis.yml"),
                 "--out", str(tmp_path / "o.csv"), "--as-of", "next tuesday"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["derive", str(tmp_path / "r.csv"), "--out", str(tmp_path / "o.csv")])
    assert exc.value.code == 2


def test_definition_checks_in_words(tmp_path, capsys):
    broken = textwrap.dedent("""\
        source: {timestamps: {opened_at: null}}
        kpis:
          - {contract_id: C-1, kpi_id: A, period: closed_at, measure: share}
          - {contract_id: C-1, kpi_id: B, period: opened_at, measure: percentile}
          - {contract_id: C-1, kpi_id: C, period: opened_at, measure: count, where: {priority: {"=<": 2}}}
          - {contract_id: C-1, kpi_id: D, period: opened_at, measure: share,
             of: {duration: {from: opened_at, to: opened_at, calendar: nowhere}, at_most: 4}}
        """)
    code, out, err = _run(tmp_path, capsys, broken, "opened_at,priority\n2026-10-01T10:00,1\n")
    assert code == 1
    text = "\n".join(err)
    assert "kpis entry 1 (C-1 A), key period: value 'closed_at': period must be a timestamp column" in text
    assert "kpis entry 1 (C-1 A), key of: a share needs of:" in text
    assert "kpis entry 2 (C-1 B), key q: a percentile needs q" in text
    assert "kpis entry 3 (C-1 C), key where.priority.=<: value '=<': unknown comparison" in text
    assert "kpis entry 4 (C-1 D), key of.duration.calendar: value 'nowhere': no calendar of that name" in text


def test_a_where_that_matches_nothing_is_written_but_warned(tmp_path, capsys):
    # "1 - critical" (lower case) matches no record: values are matched exactly. The months are still written
    # (volume 0, nothing to measure: that can be true), but the warning names the values the column holds.
    code, out, err = _run(tmp_path, capsys, GOOD.replace('[1, "1 - Critical"]', '"1 - critical"'), RECORDS,
                          "--as-of", "2026-11-01T00:00")
    assert code == 0, err
    assert "C-1,P1_4H,2026-10,,0,yes,derived,no records to measure" in (tmp_path / "out.csv").read_text()
    warnings = [line for line in err if line.startswith("warning:")]
    assert len(warnings) == 1, err
    assert ("kpis entry 1 (C-1 P1_4H): its where matched none of the 3 records in its months" in warnings[0]
            and "capitals included: priority holds '1', '1 - Critical', '2'" in warnings[0])
    # The good definitions give no warning.
    code, out, err = _run(tmp_path, capsys, GOOD, RECORDS, "--as-of", "2026-11-01T00:00")
    assert code == 0 and not [line for line in err if line.startswith("warning:")]

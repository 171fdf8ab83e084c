"""The data layer's structure: one month parser, and the names callers import still importable.

(The import-cycle and layer checks of the whole package are in test_architecture.py.)
"""

from __future__ import annotations

import pytest

from cinb.errors import UsageError
from cinb.periods import MONTH_RE, parse_month


@pytest.mark.parametrize("text, expected", [("2026-10", "2026-10"), (" 2026-01 ", "2026-01"), ("1999-12", "1999-12")])
def test_parse_month_returns_the_month_stripped(text, expected):
    assert parse_month(text) == expected
    assert MONTH_RE.match(expected)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "2026-10-01", "Oct 2026", "", None, 202610])
def test_parse_month_refuses_anything_else(text):
    with pytest.raises(UsageError) as err:
        parse_month(text)
    assert str(err.value) == f"period {text!r} is not a month in the form YYYY-MM (for example 2026-10)"


def test_month_cells_and_user_months_share_one_definition():
    from cinb import cells, periods

    assert cells._PERIOD_RE == periods.MONTH_OR_DATE_PATTERN
    assert cells._PERIOD_RE.startswith(periods.MONTH_PATTERN)


def test_names_callers_import_from_load_and_validate_are_still_there():
    from cinb import load, validate

    for name in ("load_portfolio", "Portfolio", "save_portfolio", "restatements", "data_hash", "read_raw",
                 "sample_dir", "is_url", "safe_url", "engine_for", "cell_text", "plain_records",
                 "raw_from_records", "read_sql", "read_excel", "read_csv_folder", "read_csv_table", "EXCEL_SUFFIXES"):
        assert hasattr(load, name), name
    for name in ("validate", "Validated", "close_matches", "did_you_mean", "empty_problems", "empty_frame",
                 "parse_number", "parse_int", "parse_date", "parse_period", "parse_choice", "parse_bool",
                 "parse_agreed", "parse_id", "LATE_AFTER_DAYS", "PROBLEM_FRAME_COLUMNS", "MIN_YEAR"):
        assert hasattr(validate, name), name


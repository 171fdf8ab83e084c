"""cinb.formatting: the one place numbers, money, percentages, months and missing values are written.

The expected strings are those the packs have always printed (each rule was moved here unchanged from the
module that used it), so a change here is a change to every pack.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cinb import formatting as F

NAN = float("nan")


@pytest.mark.parametrize("value, unit, text", [
    (98.25, "%", "98.2%"),          # 1 decimal from 10 up (round half to even), % straight after the number
    (9.999, "%", "10%"),
    (4.5, "hours", "4.5 hours"),    # any other unit after a space
    (10.05, "days", "10.1 days"),
    (0.52, "GBP", "£0.52"),         # pounds and pence, never trimmed
    (1234.5, "GBP", "£1,234.50"),
    (3, "count", "3"),              # no unit word for count, score or no unit
    (72.0, "score", "72"),
    (-0.001, None, "-0"),
    (None, "%", "not reported"),
    (NAN, "%", "not reported"),
])
def test_value_text_is_the_sentence_and_table_rule(value, unit, text):
    assert F.value_text(value, unit) == text


def test_value_text_missing_word_can_be_a_dash_for_tables():
    assert F.value_text(None, "%", missing=F.DASH) == "–"
    assert F.value_text(98.0, "%", missing=F.DASH) == "98%"


@pytest.mark.parametrize("value, unit, apart, text", [
    (97.996, "%", (98.0,), "97.996%"),       # 2 places would print "98%" next to "target 98%"
    (97.99999, "%", (98.0,), "97.99999%"),
    (98.0, "%", (98.0,), "98%"),             # equal to the level: no need to differ
    (1234.5, "GBP", (), "£1,234.5"),         # trimmed, unlike value_text
    (3, "count", (), "3 count"),             # the unit word is kept, unlike value_text
    (95.0, "%", (NAN,), "95%"),
    (None, "%", (), "none"),
])
def test_value_text_apart_is_the_cpn_basis_rule(value, unit, apart, text):
    assert F.value_text_apart(value, unit, apart_from=apart) == text


@pytest.mark.parametrize("value, text", [
    (92.5, "92.5"), (-0.001, "0"), (1234.567, "1,234.57"), (0.0, "0"), (NAN, "n/a"), (float("inf"), "n/a"),
    (None, "n/a"),
])
def test_reason_number(value, text):
    assert F.reason_number(value) == text


@pytest.mark.parametrize("value, text", [
    (0.123456, "0.123"), (1234.5, "1234.5"), (0.00001234, "0.000012"), (0, "0"), (-2.5, "-2.5"), (NAN, "n/a"),
])
def test_sig_figs(value, text):
    assert F.sig_figs(value) == text


@pytest.mark.parametrize("args, text", [
    ((98.25, "%"), "98.2"), ((1234.4, "GBP"), "£1,234"), ((3.14159, None, 2), "3.14"), ((None,), "not available"),
    ((NAN, "GBP"), "not available"),
])
def test_chart_number(args, text):
    assert F.chart_number(*args) == text


def test_money_and_short_money():
    assert F.money(1234.5) == "£1,234.50" and F.money(16.5) == "£16.50" and F.money(1500.0) == "£1,500"
    assert F.money(None) == F.money(NAN) == "£0"  # a sum of credits with none is no money
    assert F.money(None, missing=F.DASH) == "–"
    assert [F.money_short(v) for v in (950, 1500, 12345, 1_234_567, 0)] == ["£950", "£1.5k", "£12k", "£1.2m", "£0"]
    assert F.pence(1234.5) == "1,234.50"


def test_percentages_and_p_values():
    assert F.percent(0.716) == "72%" and F.percent(None) == F.percent(NAN) == "–"
    assert F.percent_value(1.5, 2) == "1.50%" and F.percent_value(1.5) == "1.5%" and F.percent_value(NAN) == "–"
    assert F.decimal(71.6) == "72" and F.decimal(0.04321, 3) == "0.043" and F.decimal(None) == "–"
    assert F.p_value_text(0.0004) == "p < 0.001" and F.p_value_text(0.0432) == "p = 0.043"


def test_months_and_days():
    assert F.month_label(pd.Period("2026-10", "M")) == F.month_label("2026-10") == "Oct 2026"
    assert F.day_label("2026-10-01") == "1 Oct 2026"
    assert F.day_label_short(pd.Timestamp("2026-10-01")) == "1 Oct 26"
    assert F.datetime_label("2026-10-01 14:05") == "1 Oct 2026 14:05"
    assert F.iso_date(pd.Timestamp("2026-10-01")) == "2026-10-01" and F.iso_date(pd.NaT) == "–"


@pytest.mark.parametrize("value, text", [
    (True, "Yes"), (np.bool_(False), "No"), (pd.Period("2026-10", "M"), "Oct 2026"),
    (pd.Period("2026Q3", "Q"), "2026Q3"), (dt.date(2026, 10, 1), "1 Oct 2026"),
    (pd.Timestamp("2026-10-01 14:05"), "1 Oct 2026 14:05"), (1234567, "1,234,567"), (np.int64(5), "5"),
    (3.5, "3.5"), (3.14159, "3.14"), ("x<y", "x<y"),
])
def test_cell_text(value, text):
    assert F.cell_text(value) == text


def test_words():
    assert F.plural(1, "KPI") == "1 KPI" and F.plural(2, "KPI") == "2 KPIs"
    assert [F.list_and(x) for x in ([], ["A"], ["A", "B"], ["A", "B", "C"])] == ["", "A", "A and B", "A, B and C"]
    assert F.yes_no(True) == "yes" and F.yes_no(0) == "no"
    assert F.capitalised(F.NOT_REPORTED) == "Not reported"


def test_missing_words_are_distinct_and_defined_once():
    words = [F.NOT_REPORTED, F.NOT_AVAILABLE, F.NOT_APPLICABLE, F.NONE, F.NOT_GIVEN, F.NOTHING, F.DASH]
    assert len(set(words)) == len(words)
    assert F.is_missing(None) and F.is_missing(NAN) and F.is_missing(pd.NaT) and F.is_missing(pd.NA)
    assert not F.is_missing([None]) and not F.is_missing("") and not F.is_missing(0)


def test_formatting_and_labels_sit_at_the_bottom():
    """They may import the standard library, numpy/pandas and cinb.errors, nothing else of cinb."""
    root = Path(F.__file__).parent
    for name in ("formatting", "labels"):
        tree = ast.parse((root / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = ("." * node.level) + (node.module or "")
                assert not (mod.startswith(".") or mod.startswith("cinb")) or mod in ("cinb.errors", ".errors"), mod
                assert mod.split(".")[0] in ("", "__future__", "datetime", "decimal", "math", "numbers", "collections",
                                             "numpy", "pandas", "cinb"), mod
            elif isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] in ("datetime", "math", "numbers", "numpy", "pandas")
                           for a in node.names)

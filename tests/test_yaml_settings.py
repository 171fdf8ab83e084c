"""Settings files keep text as written: YAML 1.1 never turns an identifier, period or marking into a number."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cinb import api
from cinb.batch import BatchResult
from cinb.batchfile import load_definition
from cinb.config import DEFAULTS, TYPED_SETTINGS, load_parameter_files
from cinb.errors import UsageError
from cinb.pack import PackResult
from cinb.yamlfile import read_settings

PERIOD = "2026-10"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_unquoted_ids_stay_as_written(tmp_path):
    # YAML 1.1 reads 0451 and 0123 as the octal numbers 297 and 83.
    d = load_definition(_write(tmp_path / "b.yml", "contracts: [0451, 0123]\nperiod: 2026-10\nkinds: contract\n"))
    assert d.options["contracts"] == ["0451", "0123"]
    assert d.options["period"] == "2026-10"


def test_text_parameters_keep_their_text_and_numbers_stay_numbers(tmp_path):
    folder = tmp_path / "parameters"
    folder.mkdir()
    _write(folder / "a.yml", "marking: 0451\naudience: internal\nwindow_months: 6\nratchet_share: 0.25\n"
                             "data: 2026-10-01\n")
    merged, _ = load_parameter_files(folder)
    assert merged == {"marking": "0451", "audience": "internal", "window_months": 6, "ratchet_share": 0.25,
                      "data": "2026-10-01"}


def test_yes_is_text_for_a_marking_and_a_boolean_for_force(tmp_path):
    d = load_definition(_write(tmp_path / "b.yml", "marking: yes\nforce: yes\n"))
    assert d.parameters["marking"] == "yes" and d.options["force"] is True


def test_a_colour_read_as_a_comment_is_refused_with_quote_it(tmp_path):
    path = _write(tmp_path / "brand.yml", "marking: OFFICIAL\nbrand_accent: #1D70B8\n")
    with pytest.raises(UsageError) as exc:
        read_settings(path)
    text = str(exc.value)
    assert str(path) in text and "line 2" in text and "brand_accent" in text and "quote it" in text
    assert '"#1D70B8"' in text


def test_an_ordinary_comment_after_an_empty_value_is_fine(tmp_path):
    assert read_settings(_write(tmp_path / "c.yml", "data:   # the sample portfolio\n")) == {"data": None}


def test_every_number_or_boolean_parameter_is_read_typed():
    for name, default in DEFAULTS.items():
        if isinstance(default, (bool, int, float)) or name in ("jobs",):
            assert name in TYPED_SETTINGS, f"{name} has a numeric default: add it to TYPED_SETTINGS"
        elif isinstance(default, str):
            assert name not in TYPED_SETTINGS


def test_a_batch_definition_selects_contracts_with_leading_zeros(tmp_path, monkeypatch):
    # A portfolio whose contract ids are 0451 and 0123; the batch must select exactly those two.
    src = Path(__file__).resolve().parent.parent / "cinb" / "data" / "sample"
    data = tmp_path / "data"
    data.mkdir()
    rename = {"NB-SD-001": "0451", "NB-HOST-002": "0123"}
    for table in ("contracts", "kpis", "measurements", "initiatives"):
        frame = pd.read_csv(src / f"{table}.csv", dtype=str, keep_default_na=False)
        frame["contract_id"] = frame["contract_id"].replace(rename)
        frame.to_csv(data / f"{table}.csv", index=False)
    config = _write(tmp_path / "october.yml", f"period: {PERIOD}\ncontracts: [0451, 0123]\nkinds: contract\n"
                                              f"formats: html\ndata: {data}\n")
    seen = {}

    def fake_run_batch(specs, out, **kw):
        seen["keys"] = [s.key for s in specs]
        return BatchResult(PERIOD, Path(out), [PackResult(s.key, "contract", s.subject, "ok") for s in specs], 0.1)

    monkeypatch.setattr("cinb.batch.run_batch", fake_run_batch)
    monkeypatch.setenv("CINB_PARAMETERS", str(tmp_path / "none"))
    api.run_month(config=config, out=tmp_path / "r")
    assert seen["keys"] == ["0451", "0123"]


@pytest.mark.parametrize("written", ["012", "0x0C", "1:30"])
def test_a_number_yaml_would_read_in_another_base_is_refused(tmp_path, written):
    path = _write(tmp_path / "n.yml", f"window_months: {written}\n")
    with pytest.raises(UsageError, match=rf"line 1: window_months: {written} is not a plain whole number"):
        read_settings(path, typed={"window_months"})


def test_plain_numbers_are_read_as_numbers(tmp_path):
    path = _write(tmp_path / "n.yml", "window_months: 12\nratchet_share: 0.5\ntimeout: 90\n")
    assert read_settings(path, typed={"window_months", "ratchet_share", "timeout"}) == {
        "window_months": 12, "ratchet_share": 0.5, "timeout": 90}

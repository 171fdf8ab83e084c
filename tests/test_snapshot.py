"""The batch's snapshot of a portfolio (cinb.snapshot) gives each pack exactly what loading the data would."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from cinb.errors import UsageError
from cinb.fingerprint import data_fingerprint
from cinb.load import load_portfolio
from cinb.pack import PackSpec
from cinb.snapshot import FRAMES, read_snapshot, write_snapshot

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from bench_batch import write_portfolio  # noqa: E402


def _same(got, expected) -> None:
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name), obj=name)
    assert (got.data_hash, got.source, got.as_of) == (expected.data_hash, expected.source, expected.as_of)


@pytest.fixture(scope="module")
def sample():
    return load_portfolio()


@pytest.fixture(scope="module")
def snap(sample, tmp_path_factory):
    return write_snapshot(sample, tmp_path_factory.mktemp("snap") / "snapshot")


def test_every_frame_of_a_portfolio_is_in_the_snapshot(sample):
    frames = {name for name, value in vars(sample).items() if isinstance(value, pd.DataFrame)}
    assert frames == set(FRAMES)


def test_the_whole_snapshot_is_the_portfolio(sample, snap):
    _same(read_snapshot(snap), sample)


def test_a_contract_read_equals_the_contract_of_the_loaded_portfolio(sample, snap):
    for cid in sample.contract_ids:
        part = read_snapshot(snap, contract_id=cid)
        _same(part, sample.contract(cid))
        assert set(part.measurements["contract_id"]) == {cid}  # no other contract's rows reach the kernel
        # The review slices again: the slice of the slice is the same (the pack prints this data hash).
        assert part.contract(cid).data_hash == sample.contract(cid).data_hash


def test_a_supplier_read_equals_the_supplier_of_the_loaded_portfolio(sample, snap):
    for name in sorted(set(sample.contracts["supplier"])):
        _same(read_snapshot(snap, supplier=f"  {name.upper()} "), sample.supplier(name))


def test_an_unknown_contract_or_supplier_is_named_with_close_matches(snap):
    with pytest.raises(UsageError, match="did you mean 'NB-SD-001'"):
        read_snapshot(snap, contract_id="NB-SD-01")
    with pytest.raises(UsageError, match="no supplier"):
        read_snapshot(snap, supplier="Nobody Ltd")


def test_a_missing_or_foreign_snapshot_says_what_to_do(tmp_path, snap):
    with pytest.raises(UsageError, match="snapshot=None"):
        read_snapshot(tmp_path / "gone")
    other = tmp_path / "other"
    other.mkdir()
    meta = json.loads((Path(snap) / "snapshot.json").read_text())
    (other / "snapshot.json").write_text(json.dumps(dict(meta, version=99)))
    with pytest.raises(UsageError, match="version 99"):
        read_snapshot(other)


def test_a_large_portfolio_round_trips_and_a_contract_read_skips_other_rows(tmp_path):
    ids = write_portfolio(tmp_path / "data", 300)
    big = load_portfolio(tmp_path / "data")
    snap = write_snapshot(big, tmp_path / "snap")
    for cid in (ids[0], ids[150], ids[-1]):
        _same(read_snapshot(snap, contract_id=cid), big.contract(cid))
    _same(read_snapshot(snap), big)
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(Path(snap) / "measurements.parquet").metadata
    assert meta.num_row_groups > 10  # clustered by contract: a filtered read skips most row groups


def test_text_columns_keep_object_dtype_and_none(sample, snap):
    got = read_snapshot(snap)
    for col in ("sheet", "value"):
        assert got.warnings[col].dtype == object
        assert got.warnings[col].map(lambda v: v is None or isinstance(v, str)).all()


def test_fingerprints_follow_only_the_rows_a_pack_reads(sample):
    spec = lambda kind, subject: PackSpec(kind, subject, "2026-10", {})  # noqa: E731
    cid = "NB-SD-001"
    changed = sample.measurements.copy()
    row = changed.index[changed["contract_id"] == "NB-HOST-002"][0]
    changed.loc[row, "value"] = changed.loc[row, "value"] + 1
    from dataclasses import replace

    other = replace(sample, measurements=changed)
    assert data_fingerprint(spec("contract", cid), sample) == data_fingerprint(spec("contract", cid), other)
    assert data_fingerprint(spec("contract", "NB-HOST-002"), sample) != \
        data_fingerprint(spec("contract", "NB-HOST-002"), other)
    assert data_fingerprint(spec("portfolio", None), sample) != data_fingerprint(spec("portfolio", None), other)
    with pytest.raises(UsageError, match="no contract"):
        data_fingerprint(spec("contract", "NB-XX-999"), sample)

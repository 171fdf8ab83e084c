"""The append-only store: ingest batches, data versions (as_of), whole-return rejection, PostgreSQL."""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import uuid
from pathlib import Path

import pandas as pd
import pytest

from cinb.errors import DataError, UsageError
from cinb.load import engine_for, load_portfolio, restatements
from cinb.store import BATCHES, batches, ingest, store_url

TODAY = "2026-11-26"
_spec = importlib.util.spec_from_file_location("corpus", Path(__file__).parent / "bad_inputs" / "corpus.py")
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)
FRAMES = ("contracts", "kpis", "measurements", "history", "initiatives")


def _same(a, b):
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True, obj=name)
    assert a.data_hash == b.data_hash


def _restatement(tmp_path, name="restated", value="74.8", revision="3", period="2025-03"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "measurements.csv").write_text(
        "contract_id,kpi_id,period,value,submitted_on,revision,note\n"
        f"C-001,FTF,{period},{value},2025-06-01,{revision},second correction\n", encoding="utf-8")
    return folder


@pytest.fixture
def store(tmp_path):
    return tmp_path / "store.sqlite"


def test_ingest_then_load_gives_the_same_portfolio(store):
    base = load_portfolio(str(corpus.BASE), today=TODAY)
    r = ingest(str(corpus.BASE), store, today=TODAY)
    assert r.batch_id == 1
    assert r.appended == {"contracts": 2, "kpis": 3, "measurements": 19, "initiatives": 2, "process_changes": 0,
                          "credit_bands": 0, "critical_failure_rules": 0}
    again = load_portfolio(store_url(store), today=TODAY)
    _same(base, again)
    # The evidence trail points at the file and row each measurement came from, not at the store.
    assert again.history["source"].str.endswith("measurements.csv").all()
    assert again.history["row"].tolist() == base.history["row"].tolist()


def test_ingesting_a_loaded_portfolio_is_the_same_as_its_files(store):
    base = load_portfolio(str(corpus.BASE), today=TODAY)
    ingest(base, store, today=TODAY)
    _same(base, load_portfolio(store_url(store), today=TODAY))


def test_as_of_reproduces_each_data_version(store, tmp_path):
    first = load_portfolio(str(corpus.BASE), today=TODAY)
    ingest(str(corpus.BASE), store, today=TODAY)
    r2 = ingest(_restatement(tmp_path), store, today=TODAY)
    assert (r2.batch_id, r2.appended["measurements"]) == (2, 1)
    now = load_portfolio(store_url(store), today=TODAY)
    m = now.measurements.set_index(["kpi_id", "period"])
    assert m.loc[("FTF", pd.Period("2025-03", "M")), "value"] == 74.8
    r = restatements(now)
    assert r[["old_value", "new_value"]].values.tolist() == [[73.5, 73.9], [73.9, 74.8]]
    assert r.iloc[1]["source"].endswith("measurements.csv") and "restated" in r.iloc[1]["source"]
    # By batch id and by timestamp: exactly as it was after batch 1.
    _same(first, load_portfolio(store_url(store), as_of=1, today=TODAY))
    when = batches(store).iloc[0]["ingested_at"]
    _same(first, load_portfolio(store_url(store), as_of=when, today=TODAY))
    assert load_portfolio(store_url(store), as_of="2", today=TODAY).data_hash == now.data_hash
    with pytest.raises(UsageError, match="no batch 9; its batches are 1 to 2"):
        load_portfolio(store_url(store), as_of=9)
    with pytest.raises(UsageError, match="had no data at"):
        load_portfolio(store_url(store), as_of="2001-01-01")


def test_a_return_with_any_error_is_rejected_whole(store, tmp_path):
    ingest(str(corpus.BASE), store, today=TODAY)
    before = _counts(store)
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "measurements.csv").write_text(
        "contract_id,kpi_id,period,value,submitted_on,revision,note\n"
        "C-001,FTF,2025-07,77,2025-08-04,1,\n"
        "C-001,P1,2025-07,\"3,5\",2025-08-04,1,\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        ingest(folder, store, today=TODAY)
    assert "rejected whole" in str(info.value) and "nothing was appended" in str(info.value)
    row = info.value.problems.iloc[0]
    assert (row["row"], row["column"], row["value"]) == (3, "value", "3,5")
    assert _counts(store) == before  # the good row was not appended either


def test_same_revision_again_is_a_duplicate_and_no_revision_means_next(store, tmp_path):
    ingest(str(corpus.BASE), store, today=TODAY)
    with pytest.raises(DataError) as info:
        ingest(_restatement(tmp_path, "again", revision="2"), store, today=TODAY)
    row = info.value.problems.iloc[0]
    assert "already stored" in row["problem"] and "send revision 3" in row["fix"]
    r = ingest(_restatement(tmp_path, "next", revision=""), store, today=TODAY)
    assert r.appended["measurements"] == 1
    h = load_portfolio(store_url(store), today=TODAY).history
    assert h[(h["kpi_id"] == "FTF") & (h["period"] == pd.Period("2025-03", "M"))]["revision"].tolist() == [1, 2, 3]


def test_repeating_a_return_is_refused(store, tmp_path):
    ingest(str(corpus.BASE), store, today=TODAY)
    ingest(_restatement(tmp_path, "once", revision=""), store, today=TODAY)
    with pytest.raises(UsageError, match="repeats values already in"):
        ingest(_restatement(tmp_path, "twice", revision=""), store, today=TODAY)


def test_the_store_refuses_updates_and_deletes(store):
    ingest(str(corpus.BASE), store, today=TODAY)
    con = sqlite3.connect(store)
    try:
        for sql in ("UPDATE measurements SET value = 0", "DELETE FROM measurements",
                    f"DELETE FROM {BATCHES}", "UPDATE contracts SET title = 'x'"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                con.execute(sql)
    finally:
        con.close()


def test_returns_for_unknown_contracts_point_at_the_fix(store, tmp_path):
    with pytest.raises(DataError) as info:
        ingest(_restatement(tmp_path), store, today=TODAY)
    assert "ingest the portfolio's definitions first" in info.value.problems.iloc[0]["fix"]
    assert not _counts(store)["measurements"]
    # With --data, the definitions come along in the same batch.
    r = ingest(_restatement(tmp_path, "with_ref"), store, reference=str(corpus.BASE), today=TODAY)
    assert r.appended == {"contracts": 1, "kpis": 2, "measurements": 1, "initiatives": 0, "process_changes": 0,
                          "credit_bands": 0, "critical_failure_rules": 0}
    p = load_portfolio(store_url(store), today=TODAY)
    assert p.contracts["contract_id"].tolist() == ["C-001"]


def test_a_plain_database_is_not_written_into(tmp_path):
    url = corpus.build_sqlite(corpus.case_tables(), tmp_path / "plain.db")
    with pytest.raises(UsageError, match="not a cinb store"):
        ingest(str(corpus.BASE), url, today=TODAY)


def test_a_new_contract_definition_supersedes_the_stored_one(store, tmp_path):
    ingest(str(corpus.BASE), store, today=TODAY)
    folder = tmp_path / "renewal"
    folder.mkdir()
    text = (corpus.BASE / "contracts.csv").read_text().replace("2026-12-31", "2028-12-31")
    (folder / "contracts.csv").write_text(text)
    ingest(folder, store, today=TODAY)
    p = load_portfolio(store_url(store), today=TODAY)
    assert str(p.contract("C-002").contracts.loc[0, "end_date"].date()) == "2028-12-31"
    old = load_portfolio(store_url(store), as_of=1, today=TODAY)
    assert str(old.contract("C-002").contracts.loc[0, "end_date"].date()) == "2026-12-31"


def _counts(store: Path) -> dict:
    con = sqlite3.connect(store)
    try:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return {t: (con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] if t in names else 0)
                for t in ("contracts", "kpis", "measurements", "initiatives", BATCHES)}
    finally:
        con.close()


# --- PostgreSQL ----------------------------------------------------------------------------------------------

PG_URL = os.environ.get("CINB_TEST_POSTGRES_URL")


@pytest.fixture
def pg_url():
    """A fresh schema on the test server, dropped afterwards (the URL's database must let the user create one)."""
    if not PG_URL:
        pytest.skip("PostgreSQL tests need CINB_TEST_POSTGRES_URL (e.g. postgresql://cinb@127.0.0.1:55432/cinb_test)")
    import sqlalchemy as sa

    schema = f"cinb_test_{uuid.uuid4().hex[:8]}"
    engine = engine_for(PG_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    engine.dispose()


@pytest.mark.postgres
def test_postgres_tables_load_like_csv(pg_url):
    base = load_portfolio(str(corpus.BASE), today=TODAY)
    from cinb.load import save_portfolio

    save_portfolio(base, pg_url)
    p = load_portfolio(pg_url, today=TODAY)
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(base, name).drop(columns=["source", "row"], errors="ignore"),
                                      getattr(p, name).drop(columns=["source", "row"], errors="ignore"),
                                      check_exact=True, obj=name)
    assert p.source.startswith("postgresql")


def test_urls_in_messages_hide_passwords():
    from cinb.load import safe_url

    assert safe_url("postgresql://cinb:s3cret@db.example:5432/cinb") == "postgresql://cinb:***@db.example:5432/cinb"


@pytest.mark.postgres
def test_postgres_store_ingest_as_of_and_append_only(pg_url, tmp_path):
    import sqlalchemy as sa

    first = load_portfolio(str(corpus.BASE), today=TODAY)
    ingest(str(corpus.BASE), pg_url, today=TODAY)
    ingest(_restatement(tmp_path), pg_url, today=TODAY)
    _same(first, load_portfolio(pg_url, as_of=1, today=TODAY))
    assert len(load_portfolio(pg_url, today=TODAY).history) == len(first.history) + 1
    engine = engine_for(pg_url)
    try:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM measurements")
    finally:
        engine.dispose()
    with pytest.raises(DataError):
        bad = tmp_path / "bad"
        bad.mkdir()
        (bad / "measurements.csv").write_text("contract_id,kpi_id,period,value\nC-001,FTF,2025-07,abc\n")
        ingest(bad, pg_url, today=TODAY)
    assert len(batches(pg_url)) == 2


def test_a_store_made_before_new_columns_gains_them_and_keeps_their_values(tmp_path):
    # A store created by an earlier cinb has no supplier_email column: ingesting must not drop the value.
    import sqlalchemy as sa

    from cinb.load import load_portfolio, save_portfolio
    from cinb.store import ingest

    store = tmp_path / "old.sqlite"
    ingest(None, store)  # the sample portfolio
    engine = sa.create_engine(f"sqlite:///{store}")
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER IF EXISTS cinb_no_update_contracts"))
        conn.execute(sa.text("ALTER TABLE contracts DROP COLUMN supplier_email"))
    engine.dispose()
    data = tmp_path / "data"
    portfolio = load_portfolio(None)
    for frame in (portfolio.contracts, portfolio.kpis, portfolio.history, portfolio.measurements,
                  portfolio.initiatives):
        frame["contract_id"] = frame["contract_id"] + "-NEW"  # new contracts: nothing already stored
    portfolio.contracts["supplier_email"] = "contracts@example.org"
    save_portfolio(portfolio, data)
    ingest(data, store)
    stored = load_portfolio(f"sqlite:///{store}").contracts.set_index("contract_id")["supplier_email"]
    assert set(stored[stored.index.str.endswith("-NEW")]) == {"contracts@example.org"}
    assert stored[~stored.index.str.endswith("-NEW")].isna().all()

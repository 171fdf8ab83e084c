"""Append-only store of validated returns (SQLite by default, PostgreSQL by URL): every data version kept."""

BATCHES = "cinb_batches"


def read_store_tables(conn, label, as_of=None):
    raise NotImplementedError

"""The embedded database's connection settings: what durability and speed rest on."""

from __future__ import annotations

import pytest
from django.db import connection


@pytest.mark.django_db
def test_every_sqlite_connection_is_durable_and_sized_for_batches() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's connection settings")
    with connection.cursor() as cursor:
        pragmas = {
            name: cursor.execute(f"PRAGMA {name}").fetchone()[0]
            for name in (
                "journal_mode",
                "synchronous",
                "foreign_keys",
                "cache_size",
                "wal_autocheckpoint",
            )
        }
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL: a committed transfer survives a power cut.
        "foreign_keys": 1,
        "cache_size": -65536,  # KiB: 64 MB, the pages of a batch of 1,000 and their parents.
        "wal_autocheckpoint": 10_000,
    }

"""Suite-wide fixtures (the data directory is set by the ``tests.data_dir`` plugin)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper
from django.utils import translation

from bankmall.ledger import guards


@pytest.fixture
def requires_postgres() -> None:
    """Skip unless the configured database is PostgreSQL (set DATABASE_URL to run these)."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: set DATABASE_URL=postgresql://root@127.0.0.1:5432/test "
            "(the server-backed run in .ci/run does)"
        )


@pytest.fixture(autouse=True)
def _default_language() -> None:
    """Every test starts in the default language: a request made in Chinese leaves zh-hans
    active in the thread (LocaleMiddleware activates, nothing deactivates), and tests that
    call translated domain code directly would otherwise depend on the order they run in."""
    translation.deactivate()


@pytest.fixture(autouse=True, scope="session")
def _ledger_guards_lifted_for_flushes() -> Iterator[None]:
    """Django empties a SQLite test database with ``DELETE FROM`` and a PostgreSQL one with
    ``TRUNCATE``, and the ledger's triggers refuse both: each SQLite flush drops them first and
    creates them again after, each PostgreSQL flush disables the truncate triggers and enables
    them again after, in the flush's transaction."""
    sqlite_flush = SQLiteWrapper.ops_class.sql_flush
    postgres_flush = PostgresOperations.sql_flush

    def sqlite_sql_flush(self: Any, style: Any, tables: Any, **options: Any) -> list[str]:
        statements = sqlite_flush(self, style, tables, **options)
        if not statements:
            return statements
        return [*guards.SQLITE_UNGUARDS_SQL, *statements, *guards.SQLITE_GUARDS_SQL]

    def postgres_sql_flush(self: Any, style: Any, tables: Any, **options: Any) -> list[str]:
        statements = postgres_flush(self, style, tables, **options)
        if not statements:
            return statements
        guarded = [pair for pair in guards.POSTGRES_TRUNCATE_GUARDS if pair[0] in tables]
        return [
            *(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}" for table, trigger in guarded),
            *statements,
            *(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}" for table, trigger in guarded),
        ]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SQLiteWrapper.ops_class, "sql_flush", sqlite_sql_flush)
        patch.setattr(PostgresOperations, "sql_flush", postgres_sql_flush)
        yield

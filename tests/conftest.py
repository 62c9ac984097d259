"""Suite-wide fixtures (the data directory is set by the ``tests.data_dir`` plugin)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
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
    """Django empties a SQLite test database with ``DELETE FROM`` (PostgreSQL's with
    TRUNCATE, which row triggers do not see), and the ledger's triggers refuse to delete its
    rows: each flush drops them first and creates them again after, in its transaction."""
    operations = SQLiteWrapper.ops_class
    original = operations.sql_flush

    def sql_flush(self: Any, style: Any, tables: Any, **options: Any) -> list[str]:
        statements = original(self, style, tables, **options)
        if not statements:
            return statements
        return [*guards.SQLITE_UNGUARDS_SQL, *statements, *guards.SQLITE_GUARDS_SQL]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(operations, "sql_flush", sql_flush)
        yield

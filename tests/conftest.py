"""Suite-wide fixtures (the data directory is set by the ``tests.data_dir`` plugin)."""

from __future__ import annotations

import pytest
from django.db import connection


@pytest.fixture
def requires_postgres() -> None:
    """Skip unless the configured database is PostgreSQL (set DATABASE_URL to run these)."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: set DATABASE_URL=postgresql://root@127.0.0.1:5432/test "
            "(the server-backed run in .ci/run does)"
        )

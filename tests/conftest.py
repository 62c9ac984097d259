"""Suite-wide fixtures (the data directory is set by the ``tests.data_dir`` plugin)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import translation


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

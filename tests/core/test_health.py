"""The health check answers as API.md fixes it."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client


@pytest.mark.django_db
def test_healthz_reports_ok_database_and_version(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": connection.vendor,
        "version": settings.VERSION,
    }
    assert response.json()["database"] in {"sqlite", "postgresql"}


@pytest.mark.django_db
def test_healthz_refuses_post(client: Client) -> None:
    response = client.post("/healthz")

    assert response.status_code == 405

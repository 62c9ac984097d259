"""The idle-timeout warning's endpoints: a status poll that does not extend the session, and
"stay signed in", which does."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.test import Client

from bankmall.security.actions import LAST_ACTIVITY_SESSION_KEY
from bankmall.security.models import LoginEvent
from tests.signed_in import make_user, sign_in

pytestmark = pytest.mark.django_db

STATUS = "/security/session/status"
KEEP_ALIVE = "/security/session/keep-alive"


def _idle_for(client: Client, seconds: float) -> None:
    session = client.session
    session[LAST_ACTIVITY_SESSION_KEY] = time.time() - seconds
    session.save()


def _last_activity(client: Client) -> float:
    return float(client.session[LAST_ACTIVITY_SESSION_KEY])


def test_the_status_says_how_long_is_left_without_extending_the_session(
    settings: Any,
) -> None:
    settings.SESSION_IDLE_SECONDS = {"customer": 600, "merchant": 600, "staff": 600}
    client = sign_in(Client(), make_user("li.lei"))
    _idle_for(client, 100)
    before = _last_activity(client)

    response = client.get(STATUS)

    body = response.json()
    assert response.status_code == 200
    assert body["signed_in"] is True
    assert 490 <= body["seconds_left"] <= 500  # The machine may be slow, never generous.
    assert _last_activity(client) == before


def test_staying_signed_in_restarts_the_idle_timer(settings: Any) -> None:
    settings.SESSION_IDLE_SECONDS = {"customer": 600, "merchant": 600, "staff": 600}
    client = sign_in(Client(), make_user("li.lei"))
    _idle_for(client, 590)

    response = client.post(KEEP_ALIVE)

    assert response.status_code == 200
    assert response.json()["signed_in"] is True
    assert response.json()["seconds_left"] >= 595
    assert time.time() - _last_activity(client) < 5
    assert client.get(STATUS).json()["seconds_left"] >= 595


def test_after_the_idle_limit_the_status_ends_the_session(settings: Any) -> None:
    settings.SESSION_IDLE_SECONDS = {"customer": 60, "merchant": 60, "staff": 60}
    client = sign_in(Client(), make_user("li.lei"))
    _idle_for(client, 61)

    status = client.get(STATUS)
    keep_alive = client.post(KEEP_ALIVE)
    login = client.get("/login/")

    assert status.json() == {"signed_in": False}
    assert keep_alive.status_code == 302
    assert LoginEvent.objects.filter(outcome=LoginEvent.Outcome.TIMED_OUT).count() == 1
    assert "signed out after a period of inactivity" in login.content.decode()


def test_keep_alive_needs_a_csrf_token_and_a_signed_in_user() -> None:
    strict = Client(enforce_csrf_checks=True)
    sign_in(strict, make_user("li.lei"))

    without_token = strict.post(KEEP_ALIVE)
    anonymous = Client().post(KEEP_ALIVE)
    visitor_status = Client().get(STATUS)

    assert without_token.status_code == 403
    assert anonymous.status_code == 302
    assert visitor_status.json() == {"signed_in": False}


def test_signed_in_pages_carry_the_warning_settings_and_script_but_no_inline_script(
    settings: Any,
) -> None:
    settings.SESSION_IDLE_SECONDS = {"customer": 600, "merchant": 1800, "staff": 900}
    settings.SESSION_TIMEOUT_WARNING_SECONDS = 60
    client = sign_in(Client(), make_user("li.lei"))

    html = client.get("/security/").content.decode()
    visitor = Client().get("/").content.decode()

    assert 'data-session-idle-seconds="600"' in html
    assert 'data-session-warning-seconds="60"' in html
    assert 'data-session-keep-alive-url="/security/session/keep-alive"' in html
    assert '<dialog id="session-timeout-warning"' in html
    assert "/static/web/session.js" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "data-session-idle-seconds" not in visitor
    assert "session.js" not in visitor

"""Bearer tokens at /api/v1/auth/token, refresh and revoke (API.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from bankmall.security.models import ApiToken, UserKind
from tests.signed_in import PASSWORD, current_code, make_user

pytestmark = pytest.mark.django_db


def _post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(f"/api/v1{path}", body, content_type="application/json")


def _token(client: Client, username: str, otp: str | None) -> Any:
    return _post(client, "/auth/token", {"username": username, "password": PASSWORD, "otp": otp})


def test_password_and_otp_give_a_bearer_token_that_identifies_the_caller(client: Client) -> None:
    user = make_user("li.lei")

    response = _token(client, "li.lei", current_code(user))
    body = response.json()
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")

    assert response.status_code == 200
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert me.json() == {"id": user.public_id, "username": "li.lei", "kind": "customer"}
    stored = ApiToken.objects.get()
    assert body["access_token"] not in (stored.access_hash, stored.refresh_hash)


def test_wrong_otp_and_wrong_password_get_the_same_generic_401(client: Client) -> None:
    make_user("li.lei")

    answers = [
        _token(client, "li.lei", "12345678"),
        _post(client, "/auth/token", {"username": "li.lei", "password": "nope", "otp": None}),
        _post(client, "/auth/token", {"username": "ghost", "password": "nope", "otp": None}),
        _post(client, "/auth/token", {"username": "ghost", "password": "nope", "otp": "123456"}),
    ]

    assert {answer.status_code for answer in answers} == {401}
    assert {answer.json()["code"] for answer in answers} == {"invalid_credentials"}
    assert {answer["Content-Type"] for answer in answers} == {"application/problem+json"}
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("otp", [None, "", "  "])
def test_the_right_password_without_a_code_asks_for_the_code(
    client: Client, otp: str | None
) -> None:
    make_user("li.lei")

    response = _token(client, "li.lei", otp)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "otp_required"
    assert not ApiToken.objects.exists()


def test_a_wrong_password_without_a_code_stays_generic_and_still_locks_out(
    client: Client,
) -> None:
    user = make_user("li.lei")
    answers = [
        _post(client, "/auth/token", {"username": "li.lei", "password": "nope"}) for _ in range(5)
    ]

    locked = _token(client, "li.lei", current_code(user))

    # The fifth failure is the one that locks: it already answers 429.
    assert [answer.json()["code"] for answer in answers[:4]] == ["invalid_credentials"] * 4
    assert locked.status_code == 429
    assert locked.json()["code"] == "sign_in_locked"


def test_the_token_endpoint_locks_out_after_repeated_failures(client: Client) -> None:
    user = make_user("li.lei")
    for _ in range(5):
        _post(client, "/auth/token", {"username": "li.lei", "password": "nope", "otp": None})

    response = _token(client, "li.lei", current_code(user))

    assert response.status_code == 429
    assert response.json()["code"] == "sign_in_locked"
    assert int(response["Retry-After"]) > 0
    assert not ApiToken.objects.exists()


def test_staff_get_no_api_tokens(client: Client) -> None:
    user = make_user("ops.he", kind=UserKind.STAFF, roles=("teller",))

    response = _token(client, "ops.he", current_code(user))

    assert response.status_code == 401
    assert not ApiToken.objects.exists()


def test_refresh_gives_a_new_pair_and_the_old_one_stops_working(client: Client) -> None:
    user = make_user("li.lei")
    first = _token(client, "li.lei", current_code(user)).json()

    refreshed = _post(client, "/auth/refresh", {"refresh_token": first["refresh_token"]})
    old_access = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {first['access_token']}")
    new_access = client.get(
        "/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access_token']}"
    )

    assert refreshed.status_code == 200
    assert old_access.status_code == 401
    assert new_access.status_code == 200


def test_reusing_a_refresh_token_revokes_every_token_of_the_user(client: Client) -> None:
    user = make_user("li.lei")
    first = _token(client, "li.lei", current_code(user)).json()
    second = _post(client, "/auth/refresh", {"refresh_token": first["refresh_token"]}).json()

    replay = _post(client, "/auth/refresh", {"refresh_token": first["refresh_token"]})
    after = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {second['access_token']}")

    assert replay.status_code == 401
    assert after.status_code == 401
    assert not ApiToken.objects.filter(revoked_at__isnull=True).exists()


def test_revoked_and_expired_access_tokens_are_refused(client: Client) -> None:
    user = make_user("li.lei")
    revoked = _token(client, "li.lei", current_code(user)).json()
    from bankmall.security.models import Authenticator

    Authenticator.objects.filter(user=user).update(last_t=-1)
    expired = _token(client, "li.lei", current_code(user)).json()
    newest = ApiToken.objects.order_by("-pk")[0]
    ApiToken.objects.filter(pk=newest.pk).update(
        access_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    revoke = _post(client, "/auth/revoke", {"token": revoked["access_token"]})
    unknown = _post(client, "/auth/revoke", {"token": "bma_not-a-token"})

    assert (revoke.status_code, unknown.status_code) == (204, 204)
    for body in (revoked, expired):
        response = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
        assert response.status_code == 401
        assert response.json()["code"] == "authentication_required"


def test_a_session_without_csrf_cannot_use_cookie_auth_for_writes(client: Client) -> None:
    from tests.signed_in import sign_in

    csrf_client = Client(enforce_csrf_checks=True)
    sign_in(csrf_client, make_user("li.lei"))

    response = _post(csrf_client, "/auth/step-up", {"challenge_id": "stp_x", "otp": "123456"})

    assert response.status_code in {401, 403}
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("username", ["li\x00lei", "li\nlei", "\x7f"])
def test_a_username_with_control_characters_is_refused_and_nothing_is_recorded(
    client: Client, username: str
) -> None:
    response = _token(client, username, None)

    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")
    assert not AccessAttempt.objects.exists()
    assert not ApiToken.objects.exists()

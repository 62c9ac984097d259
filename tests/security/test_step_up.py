"""Step-up: protected actions need a fresh one-time code on the same session or token."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone

from bankmall.core.problems import problem_body
from bankmall.security.errors import InvalidOneTimeCode, StepUpRequired
from bankmall.security.models import ApiToken, Authenticator, StepUpChallenge, User
from bankmall.security.stepup import confirm_step_up, credential_of, require_step_up
from tests.signed_in import PASSWORD, current_code, make_user, sign_in

pytestmark = pytest.mark.django_db


def _request_for(client: Client) -> Any:
    request = RequestFactory().get("/somewhere")
    request.user = User.objects.get(pk=client.session["_auth_user_id"])
    request.session = client.session
    return request


def test_a_protected_action_asks_for_a_code_then_passes_once_confirmed(client: Client) -> None:
    user = make_user("li.lei")
    sign_in(client, user)
    request = _request_for(client)

    with pytest.raises(StepUpRequired) as caught:
        require_step_up(request, "banking.add_payee")
    challenge_id = caught.value.extra["challenge_id"]
    body = problem_body(None, caught.value)
    confirm_step_up(user, challenge_id, credential=credential_of(request), otp=current_code(user))

    assert body["status"] == 401
    assert body["code"] == "step_up_required"
    assert body["challenge_id"] == challenge_id
    require_step_up(request, "banking.add_payee")  # Passes now: no StepUpRequired.
    with pytest.raises(StepUpRequired):
        require_step_up(request, "banking.change_phone")


def test_a_wrong_code_confirms_nothing(client: Client) -> None:
    user = make_user("li.lei")
    sign_in(client, user)
    request = _request_for(client)
    with pytest.raises(StepUpRequired) as caught:
        require_step_up(request, "banking.add_payee")

    with pytest.raises(InvalidOneTimeCode):
        confirm_step_up(
            user, caught.value.extra["challenge_id"], credential=credential_of(request), otp="999"
        )

    assert StepUpChallenge.objects.get().confirmed_at is None


def test_a_confirmation_expires(client: Client) -> None:
    user = make_user("li.lei")
    sign_in(client, user)
    request = _request_for(client)
    with pytest.raises(StepUpRequired) as caught:
        require_step_up(request, "banking.add_payee")
    confirm_step_up(
        user,
        caught.value.extra["challenge_id"],
        credential=credential_of(request),
        otp=current_code(user),
    )
    StepUpChallenge.objects.update(confirmed_at=timezone.now() - dt.timedelta(minutes=6))

    with pytest.raises(StepUpRequired):
        require_step_up(request, "banking.add_payee")


def test_the_step_up_page_confirms_and_returns(client: Client) -> None:
    user = make_user("li.lei")
    sign_in(client, user)
    with pytest.raises(StepUpRequired) as caught:
        require_step_up(_request_for(client), "banking.add_payee")
    url = f"/security/step-up/{caught.value.extra['challenge_id']}/?next=/security/sessions/"

    page = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-CN")
    response = client.post(url, {"code": current_code(user)})

    assert "确认是您本人" in page.content.decode()
    assert response.status_code == 302
    assert response["Location"] == "/security/sessions/"
    assert StepUpChallenge.objects.get().confirmed_at is not None


def test_a_wrong_code_on_the_step_up_page_says_the_code_was_wrong(client: Client) -> None:
    user = make_user("li.lei")
    sign_in(client, user)
    with pytest.raises(StepUpRequired) as caught:
        require_step_up(_request_for(client), "banking.add_payee")
    url = f"/security/step-up/{caught.value.extra['challenge_id']}/"

    response = client.post(url, {"code": "000000"})

    text = response.content.decode()
    assert response.status_code == 200
    assert "That code is not correct. Check the app and try again." in text
    assert "username" not in text.lower()
    assert StepUpChallenge.objects.get().confirmed_at is None


def test_another_users_challenge_is_not_found(client: Client) -> None:
    owner = make_user("li.lei")
    other = Client()
    sign_in(client, owner)
    sign_in(other, make_user("han.meimei"))
    with pytest.raises(StepUpRequired) as caught:
        require_step_up(_request_for(client), "banking.add_payee")

    page = other.get(f"/security/step-up/{caught.value.extra['challenge_id']}/")
    guessed = other.get("/security/step-up/stp_00000000000000000000000000/")

    assert page.status_code == 404
    assert guessed.status_code == 404


def test_the_api_confirms_a_challenge_for_the_same_token(client: Client) -> None:
    user = make_user("li.lei")
    tokens = client.post(
        "/api/v1/auth/token",
        {"username": "li.lei", "password": PASSWORD, "otp": current_code(user)},
        content_type="application/json",
    ).json()
    challenge = StepUpChallenge.objects.create(
        user=user,
        credential="token:" + ApiToken.objects.get().public_id,
        purpose="banking.transfer",
        created_at=timezone.now(),
    )
    Authenticator.objects.filter(user=user).update(last_t=-1)

    response = client.post(
        "/api/v1/auth/step-up",
        {"challenge_id": challenge.public_id, "otp": current_code(user)},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}",
    )

    assert response.status_code == 200
    assert response.json()["purpose"] == "banking.transfer"

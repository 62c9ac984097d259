"""The two-factor page: authenticators and backup codes, behind a step-up, never left empty."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp

from bankmall.core.models import AuditRecord, OutboxEvent
from bankmall.security.actions import _replace_backup_codes
from bankmall.security.models import Authenticator, BackupCode, StepUpChallenge, User, UserKind
from bankmall.security.stepup import credential_of
from tests.signed_in import PASSWORD, authenticator, current_code, make_user, sign_in

pytestmark = pytest.mark.django_db

PAGE = "/security/two-factor/"
ADD = "/security/two-factor/authenticators/new/"


def _stepped_up(client: Client, user: User) -> Client:
    """The client's session confirmed a code for two-factor changes just now."""
    StepUpChallenge.objects.create(
        user=user,
        credential=credential_of(SimpleNamespace(session=client.session)),  # type: ignore[arg-type]
        purpose="security.two_factor",
        created_at=timezone.now(),
        confirmed_at=timezone.now(),
    )
    return client


def _signed_in(username: str, **kwargs: Any) -> tuple[Client, User]:
    user = make_user(username, **kwargs)
    client = sign_in(Client(), user)
    return _stepped_up(client, user), user


def _code_for(device: Authenticator) -> str:
    return f"{totp(device.bin_key, step=device.step):06d}"


def _forget_failures(device: Authenticator) -> None:
    """A failed code throttles the device for a second; the test does not wait it out."""
    Authenticator.objects.filter(pk=device.pk).update(throttling_failure_count=0)


def _audit_actions() -> list[str]:
    return list(AuditRecord.objects.order_by("sequence").values_list("action", flat=True))


def test_the_page_needs_a_fresh_step_up_and_comes_back_after_it() -> None:
    user = make_user("li.lei")
    client = sign_in(Client(), user)

    first = client.get(PAGE)
    challenge_url = first["Location"]
    confirmed = client.post(challenge_url, {"code": current_code(user)})
    page = client.get(PAGE)

    assert first.status_code == 302
    assert challenge_url.startswith("/security/step-up/stp_")
    cancel = '<a href="/security/" class="secondary" role="button">'
    assert cancel in client.get(challenge_url).content.decode()
    assert confirmed["Location"] == PAGE
    assert page.status_code == 200


def test_the_page_lists_authenticators_and_backup_codes_left() -> None:
    client, user = _signed_in("li.lei")
    _replace_backup_codes(user)
    BackupCode.objects.filter(pk=BackupCode.objects.first().pk).delete()  # type: ignore[union-attr]
    Authenticator.objects.filter(user=user).update(last_used_at=timezone.now())

    page = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en")
    chinese = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="zh-CN")

    text = page.content.decode()
    assert page.status_code == 200
    assert authenticator(user).public_id in text
    assert "You have 9 unused backup codes." in text
    assert authenticator(user).key not in text
    assert "双重验证登录" in chinese.content.decode()


def test_adding_an_authenticator_needs_its_first_code_and_is_audited() -> None:
    client, user = _signed_in("li.lei")
    form = client.get(ADD)
    pending = Authenticator.objects.get(user=user, confirmed=False)

    wrong = client.post(ADD, {"device": pending.public_id, "name": "tablet", "code": "000000"})
    _forget_failures(pending)
    right = client.post(
        ADD, {"device": pending.public_id, "name": "tablet", "code": _code_for(pending)}
    )

    assert form.status_code == 200
    assert "<svg" in form.content.decode()
    assert "That code is not correct" in wrong.content.decode()
    assert right.status_code == 302
    assert right["Location"] == PAGE
    assert Authenticator.objects.filter(user=user, confirmed=True).count() == 2
    assert Authenticator.objects.get(pk=pending.pk).name == "tablet"
    assert _audit_actions()[-1] == "security.authenticator_added"
    assert OutboxEvent.objects.filter(event_type="security.two_factor_changed").count() == 1


def test_replacing_removes_the_old_authenticator_only_once_the_new_one_works() -> None:
    client, user = _signed_in("li.lei")
    old = authenticator(user)
    url = f"{ADD}?replaces={old.public_id}"
    client.get(url)
    pending = Authenticator.objects.get(user=user, confirmed=False)
    body = {"device": pending.public_id, "name": "new phone", "replaces": old.public_id}

    wrong = client.post(url, {**body, "code": "000000"})
    old_still_there = Authenticator.objects.filter(pk=old.pk).exists()
    _forget_failures(pending)
    right = client.post(url, {**body, "code": _code_for(pending)})

    assert wrong.status_code == 200
    assert old_still_there
    assert right.status_code == 302
    assert list(Authenticator.objects.filter(user=user).values_list("pk", flat=True)) == [
        pending.pk
    ]
    assert _audit_actions()[-1] == "security.authenticator_replaced"


def test_the_only_authenticator_of_a_user_who_needs_two_factors_cannot_be_removed() -> None:
    client, user = _signed_in("li.lei")
    device = authenticator(user)
    audit_before = AuditRecord.objects.count()

    response = client.post(f"/security/two-factor/authenticators/{device.public_id}/remove")

    assert response.status_code == 302
    assert Authenticator.objects.filter(pk=device.pk).exists()
    assert AuditRecord.objects.count() == audit_before
    assert "only authenticator" in client.get(PAGE).content.decode()


def test_a_second_authenticator_can_be_removed() -> None:
    client, user = _signed_in("li.lei")
    spare = Authenticator.objects.create(user=user, name="spare", key="00" * 20, confirmed=True)

    response = client.post(f"/security/two-factor/authenticators/{spare.public_id}/remove")

    assert response.status_code == 302
    assert not Authenticator.objects.filter(pk=spare.pk).exists()
    assert Authenticator.objects.filter(user=user).count() == 1
    assert _audit_actions()[-1] == "security.authenticator_removed"


def test_another_users_authenticator_is_not_found() -> None:
    client, _user = _signed_in("li.lei")
    other = make_user("han.meimei")
    theirs = authenticator(other)

    remove = client.post(f"/security/two-factor/authenticators/{theirs.public_id}/remove")
    replace = client.get(f"{ADD}?replaces={theirs.public_id}")
    guessed = client.post("/security/two-factor/authenticators/mfa_0000/remove")

    assert remove.status_code == 404
    assert replace.status_code == 404
    assert guessed.status_code == 404
    assert Authenticator.objects.filter(pk=theirs.pk).exists()


def test_another_users_pending_authenticator_cannot_be_confirmed() -> None:
    client, _user = _signed_in("li.lei")
    other_client, other = _signed_in("han.meimei")
    other_client.get(ADD)
    theirs = Authenticator.objects.get(user=other, confirmed=False)

    response = client.post(ADD, {"device": theirs.public_id, "name": "x", "code": "123456"})

    assert response.status_code == 404
    assert not Authenticator.objects.get(pk=theirs.pk).confirmed


def test_new_backup_codes_are_shown_once_and_the_old_ones_stop_working() -> None:
    client, user = _signed_in("li.lei")
    old_codes = _replace_backup_codes(user)

    response = client.post("/security/two-factor/backup-codes")
    shown = client.get(response["Location"])
    again = client.get(response["Location"])

    new_codes = shown.context["codes"]
    assert response.status_code == 302
    assert len(new_codes) == 10
    assert set(new_codes).isdisjoint(old_codes)
    assert again.context["codes"] == []
    assert _audit_actions()[-1] == "security.backup_codes_regenerated"
    login = Client()
    login.post("/login/", {"username": "li.lei", "password": PASSWORD})
    assert login.post("/login/verify/", {"code": old_codes[0]}).status_code == 200


def test_a_post_without_a_step_up_goes_to_the_step_up_and_changes_nothing() -> None:
    user = make_user("li.lei")
    client = sign_in(Client(), user)
    codes = _replace_backup_codes(user)

    response = client.post("/security/two-factor/backup-codes")

    assert response.status_code == 302
    assert response["Location"].startswith("/security/step-up/")
    assert "?next=%2Fsecurity%2Ftwo-factor%2F&cancel=%2Fsecurity%2F" in response["Location"]
    assert BackupCode.objects.count() == len(codes)


def test_the_security_hub_links_every_security_page() -> None:
    client = sign_in(Client(), make_user("li.lei"))

    page = client.get("/security/")

    text = page.content.decode()
    assert page.status_code == 200
    for link in (
        "/security/two-factor/",
        "/security/sessions/",
        "/security/privacy/#consents",
        "/security/privacy/#your-data",
        "#api-tokens",
    ):
        assert f'href="{link}' in text or link in text, link
    assert 'id="security-menu"' in text


def test_staff_get_the_security_menu_without_api_tokens() -> None:
    client = sign_in(Client(), make_user("ops.he", kind=UserKind.STAFF, roles=("teller",)))

    page = client.get("/security/")

    assert page.status_code == 200
    assert 'id="api-tokens"' not in page.content.decode()
    assert 'id="security-menu"' in page.content.decode()


def test_anonymous_pages_have_no_security_menu(client: Client) -> None:
    assert 'id="security-menu"' not in client.get("/").content.decode()


def test_replacing_keeps_this_session_signed_in_and_ends_sessions_of_the_old_device() -> None:
    client, user = _signed_in("li.lei")
    elsewhere = sign_in(Client(), user)
    old = authenticator(user)
    url = f"{ADD}?replaces={old.public_id}"
    client.get(url)
    pending = Authenticator.objects.get(user=user, confirmed=False)

    client.post(
        url,
        {
            "device": pending.public_id,
            "name": "new phone",
            "replaces": old.public_id,
            "code": _code_for(pending),
        },
    )

    assert client.get("/security/").status_code == 200
    assert elsewhere.get("/security/").status_code == 302


def test_removing_the_device_this_session_used_keeps_the_session_signed_in() -> None:
    client, user = _signed_in("li.lei")
    used = authenticator(user)
    Authenticator.objects.create(user=user, name="spare", key="00" * 20, confirmed=True)

    response = client.post(f"/security/two-factor/authenticators/{used.public_id}/remove")

    assert response.status_code == 302
    assert not Authenticator.objects.filter(pk=used.pk).exists()
    assert client.get("/security/").status_code == 200


def test_new_backup_codes_keep_a_session_that_signed_in_with_a_backup_code() -> None:
    user = make_user("li.lei")
    code = _replace_backup_codes(user)[0]
    client = Client()
    client.post("/login/", {"username": "li.lei", "password": PASSWORD})
    client.post("/login/verify/", {"code": code})
    _stepped_up(client, user)

    response = client.post("/security/two-factor/backup-codes")

    assert response.status_code == 302
    assert response["Location"].startswith("/security/backup-codes/")
    assert client.get("/security/").status_code == 200


def test_an_authenticators_name_is_labelled_as_a_things_name_in_chinese() -> None:
    client, _user = _signed_in("li.lei")

    page = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "<th>名称</th>" in page
    assert "姓名" not in page

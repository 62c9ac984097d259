"""Sign-in pages: password then one-time code, enrolment, lockout, sessions, sign-out."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from bankmall.core.models import AuditRecord, OutboxEvent
from bankmall.security.models import (
    Authenticator,
    BackupCode,
    LoginEvent,
    User,
    UserKind,
    UserSession,
    backup_code_hash,
)
from tests.signed_in import PASSWORD, current_code, make_user, sign_in

pytestmark = pytest.mark.django_db

GENERIC = "The username, password or code is not correct."


def _password_step(client: Client, username: str, password: str = PASSWORD, next_url: str = ""):  # type: ignore[no-untyped-def]
    url = "/login/" + (f"?next={next_url}" if next_url else "")
    return client.post(url, {"username": username, "password": password})


def test_password_alone_does_not_sign_in_a_user_with_two_factors(client: Client) -> None:
    make_user("li.lei")

    response = _password_step(client, "li.lei")

    assert response.status_code == 302
    assert response["Location"] == "/login/verify/"
    assert "_auth_user_id" not in client.session
    assert client.get("/security/sessions/").status_code == 302


def test_password_and_code_sign_in_and_record_the_login(client: Client) -> None:
    user = make_user("li.lei")
    _password_step(client, "li.lei", next_url="/security/sessions/")

    response = client.post("/login/verify/", {"code": current_code(user)})

    assert response.status_code == 302
    assert response["Location"] == "/security/sessions/"
    assert client.get("/security/sessions/").status_code == 200
    assert LoginEvent.objects.filter(user=user, outcome="succeeded").count() == 1
    assert UserSession.objects.filter(user=user, ended_at__isnull=True).count() == 1
    assert AuditRecord.objects.filter(action="security.signed_in", target=user.public_id).exists()
    assert OutboxEvent.objects.filter(event_type="security.signed_in").count() == 1


def test_merchant_users_land_on_a_page_they_may_see(client: Client) -> None:
    user = make_user("shop.he", kind=UserKind.MERCHANT)
    _password_step(client, "shop.he")

    response = client.post("/login/verify/", {"code": current_code(user)})

    assert response["Location"] == "/security/"
    assert client.get(response["Location"]).status_code == 200


def test_staff_land_on_the_back_office(client: Client) -> None:
    user = make_user("ops.he", kind=UserKind.STAFF, roles=("teller",))
    _password_step(client, "ops.he")

    response = client.post("/login/verify/", {"code": current_code(user)})

    assert response["Location"] == "/backoffice/"


def test_a_wrong_code_signs_nobody_in(client: Client) -> None:
    user = make_user("li.lei")
    _password_step(client, "li.lei")
    wrong = "000000" if current_code(user) != "000000" else "111111"

    response = client.post("/login/verify/", {"code": wrong})

    assert response.status_code == 200
    assert GENERIC in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not LoginEvent.objects.filter(outcome="succeeded").exists()


def test_wrong_password_and_unknown_user_get_the_same_answer(client: Client) -> None:
    make_user("li.lei")

    wrong_password = _password_step(client, "li.lei", password="not the password")
    unknown_user = _password_step(client, "nobody.here", password="not the password")

    assert wrong_password.status_code == unknown_user.status_code == 200
    assert GENERIC in wrong_password.content.decode()
    assert GENERIC in unknown_user.content.decode()


def test_repeated_failures_lock_the_username_even_with_the_right_password(client: Client) -> None:
    make_user("li.lei")
    for _ in range(5):
        _password_step(client, "li.lei", password="not the password")

    response = _password_step(client, "li.lei")

    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert response.get("Location") is None
    assert "security.pending_user" not in client.session


def test_wrong_codes_count_towards_the_lockout(client: Client) -> None:
    user = make_user("li.lei")
    _password_step(client, "li.lei")
    for _ in range(5):
        client.post("/login/verify/", {"code": "12345678"})

    response = client.post("/login/verify/", {"code": current_code(user)})

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_backup_code_signs_in_once(client: Client) -> None:
    user = make_user("li.lei")
    from bankmall.security.actions import _replace_backup_codes

    code = _replace_backup_codes(user)[0]
    _password_step(client, "li.lei")
    first = client.post("/login/verify/", {"code": code})
    client.post("/logout/")
    _password_step(client, "li.lei")
    second = client.post("/login/verify/", {"code": code})

    assert first.status_code == 302
    assert second.status_code == 200
    assert not BackupCode.objects.filter(code_hash=backup_code_hash(code)).exists()
    assert BackupCode.objects.count() == 9


def test_first_sign_in_enrols_an_authenticator_with_qr_code_and_backup_codes(
    client: Client,
) -> None:
    User.objects.create_user(
        username="new.staff", password=PASSWORD, kind=UserKind.STAFF, is_staff=True
    )
    _password_step(client, "new.staff")

    page = client.get("/login/enrol/")
    device = Authenticator.objects.get(user__username="new.staff", confirmed=False)
    code = current_code_of(device)
    confirmed = client.post("/login/enrol/", {"code": code})
    codes_page = client.get(confirmed["Location"])

    assert page.status_code == 200
    assert "<svg" in page.content.decode()
    assert "<script" not in page.content.decode().split("<main", 1)[1]
    assert confirmed.status_code == 302
    assert confirmed["Location"].startswith("/security/backup-codes/")
    assert len(codes_page.context["codes"]) == 10
    assert Authenticator.objects.get(pk=device.pk).confirmed is True
    assert client.get("/security/backup-codes/").context["codes"] == []


def current_code_of(device: Authenticator) -> str:
    from django_otp.oath import totp

    return f"{totp(device.bin_key, step=device.step):06d}"


def test_enrolment_is_refused_without_a_pending_password_step(client: Client) -> None:
    response = client.get("/login/enrol/")

    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert not Authenticator.objects.exists()


def test_sign_in_pages_are_translated(client: Client) -> None:
    response = client.get("/login/", HTTP_ACCEPT_LANGUAGE="zh-CN")

    assert "登录" in response.content.decode()


def test_logout_needs_post_and_ends_the_session(client: Client) -> None:
    user = make_user("li.lei")
    _password_step(client, "li.lei")
    client.post("/login/verify/", {"code": current_code(user)})

    refused = client.get("/logout/")
    response = client.post("/logout/")

    assert refused.status_code == 405
    assert response.status_code == 302
    assert client.get("/security/sessions/").status_code == 302
    assert UserSession.objects.get(user=user).ended_at is not None


def test_sign_out_everywhere_ends_other_browsers(client: Client) -> None:
    user = make_user("li.lei")
    other = Client()
    for browser in (client, other):
        _password_step(browser, "li.lei")
        browser.post("/login/verify/", {"code": current_code(user)})
        Authenticator.objects.filter(user=user).update(last_t=-1)  # the same code again

    response = client.post("/security/sign-out-everywhere/", follow=True)

    assert response.redirect_chain == [("/login/", 302)]
    assert "You are signed out on every device." in response.content.decode()
    assert other.get("/security/sessions/").status_code == 302
    assert client.get("/security/sessions/").status_code == 302
    assert not UserSession.objects.filter(user=user, ended_at__isnull=True).exists()


def test_idle_sessions_time_out(client: Client, settings: object) -> None:
    user = make_user("li.lei")
    sign_in(client, user)
    client.get("/security/sessions/")
    session = client.session
    session["security.last_activity"] -= 601
    session.save()

    response = client.get("/security/sessions/")

    assert response.status_code == 302
    assert LoginEvent.objects.filter(user=user, outcome="timed_out").count() == 1
    assert "signed out after a period of inactivity" in client.get("/login/").content.decode()


def test_password_reset_link_works_once(client: Client) -> None:
    user = make_user("li.lei")
    client.post("/password-reset/", {"email": "li.lei@example.com"})
    link = next(line for line in mail.outbox[0].body.splitlines() if "/password-reset/" in line)
    path = link.split("testserver", 1)[1]

    form_page = client.get(path, follow=True)
    done = client.post(
        form_page.redirect_chain[-1][0],
        {
            "new_password1": "a fresh long passphrase 7",
            "new_password2": "a fresh long passphrase 7",
        },
    )
    reused = client.get(path, follow=True)

    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a fresh long passphrase 7")
    assert reused.context["validlink"] is False
    assert AuditRecord.objects.filter(action="security.password_reset").count() == 1


def test_password_reset_answers_the_same_for_unknown_addresses(client: Client) -> None:
    response = client.post("/password-reset/", {"email": "nobody@example.com"})

    assert response.status_code == 302
    assert response["Location"] == "/password-reset/sent/"
    assert mail.outbox == []


def test_admin_login_goes_through_two_factor_sign_in(client: Client) -> None:
    response = client.get("/admin/login/?next=/admin/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=%2Fadmin%2F"


def test_admin_refuses_staff_without_a_verified_second_factor(client: Client) -> None:
    client.force_login(make_user("ops.he", kind=UserKind.STAFF, roles=("administrator",)))

    response = client.get("/admin/")

    assert response.status_code == 302


def test_demo_logins_sign_in_with_their_printed_authenticator_secrets(client: Client) -> None:
    import base64

    from django_otp.oath import totp

    from bankmall import seed

    logins = seed._seed_staff(lambda step, done, total: None)
    teller = next(login for login in logins if login.role == "teller")
    assert teller.totp_secret is not None
    code = f"{totp(base64.b32decode(teller.totp_secret)):06d}"

    client.post("/login/", {"username": teller.username, "password": teller.password})
    response = client.post("/login/verify/", {"code": code})

    assert response.status_code == 302
    assert response["Location"] == "/backoffice/"
    assert client.get("/backoffice/").status_code == 200

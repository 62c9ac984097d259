"""Pages render in English and Simplified Chinese with local assets and strict headers."""

from __future__ import annotations

import logging
import re

import pytest
from django.conf import settings
from django.test import Client

from bankmall.core import i18n

pytestmark = pytest.mark.django_db


def test_home_page_renders_in_english_by_default(client: Client) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert '<html lang="en"' in response.content.decode()
    assert "Your bank, your mall" in response.content.decode()


def test_home_page_renders_in_chinese_for_a_chinese_browser(client: Client) -> None:
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")

    assert '<html lang="zh-hans"' in response.content.decode()
    assert "您的银行，您的商城" in response.content.decode()


def test_language_switch_remembers_the_choice(client: Client) -> None:
    switch = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    response = client.get("/")

    assert switch.status_code == 302
    assert "您的银行，您的商城" in response.content.decode()


def test_pages_load_only_local_assets(client: Client) -> None:
    html = client.get("/").content.decode()

    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources
    assert all(source.startswith("/") for source in sources), sources
    assert "<script>" not in html


@pytest.mark.parametrize(
    "asset",
    [
        "/static/vendor/htmx-2.0.11.min.js",
        "/static/vendor/pico-2.1.1.min.css",
        "/static/web/bankmall.js",
    ],
)
def test_vendored_assets_are_served_locally(client: Client, asset: str) -> None:
    response = client.get(asset)

    assert response.status_code == 200
    assert b"".join(response.streaming_content)  # type: ignore[attr-defined]


def test_pages_carry_a_strict_content_security_policy(client: Client) -> None:
    response = client.get("/")

    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_unknown_page_is_a_friendly_html_404(client: Client) -> None:
    response = client.get("/no/such/page", HTTP_ACCEPT_LANGUAGE="zh-CN")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "找不到该页面" in response.content.decode()


def test_every_page_string_has_a_chinese_translation_and_catalogues_are_compiled() -> None:
    assert i18n.check() == []


def test_settings_default_to_cny_and_both_languages() -> None:
    assert settings.DEFAULT_CURRENCY == "CNY"
    assert [code for code, _ in settings.LANGUAGES] == ["en", "zh-hans"]


def test_an_expired_form_gets_a_translated_page_that_says_what_to_do() -> None:
    client = Client(enforce_csrf_checks=True)

    english = client.post("/security/sign-out-everywhere/")
    chinese = client.post("/security/sign-out-everywhere/", HTTP_ACCEPT_LANGUAGE="zh-CN")

    assert english.status_code == 403
    assert "Reload the page and send the form again" in english.content.decode()
    assert 'href="/login/"' in english.content.decode()
    assert chinese.status_code == 403
    assert "重新加载页面" in chinese.content.decode()


def test_an_api_call_without_a_csrf_token_gets_a_problem() -> None:
    client = Client(enforce_csrf_checks=True)
    client.cookies["bankmall_session"] = "x"

    response = client.post("/api/v1/auth/step-up", {}, content_type="application/json")

    assert response["Content-Type"] == "application/problem+json"
    assert response.status_code in {401, 403}


def test_a_wrong_method_on_a_page_gets_a_small_translated_page(client: Client) -> None:
    english = client.get("/logout/")
    chinese = client.get("/logout/", HTTP_ACCEPT_LANGUAGE="zh-CN")

    assert english.status_code == 405
    assert english["Allow"] == "POST"
    assert english["Content-Type"].startswith("text/html")
    assert "does not accept that kind of request" in english.content.decode()
    assert chinese.status_code == 405
    assert "不接受这种请求" in chinese.content.decode()


def test_a_wrong_method_in_the_api_gets_a_problem(client: Client) -> None:
    response = client.get("/api/v1/auth/token")

    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "method_not_allowed"


def test_a_refused_page_logs_one_warning_line_with_the_request_id(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.signed_in import make_user, sign_in

    sign_in(client, make_user("li.lei"))

    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/backoffice/approvals/", HTTP_X_REQUEST_ID="req-forbidden-1")

    records = [record for record in caplog.records if record.name == "django.request"]
    assert response.status_code == 403
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert records[0].exc_info is None
    assert records[0].getMessage() == "Forbidden: /backoffice/approvals/ (request req-forbidden-1)"

"""Pages render in English and Simplified Chinese with local assets and strict headers."""

from __future__ import annotations

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

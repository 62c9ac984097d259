"""The idle-timeout warning in a real browser: warn, stay signed in, then time out."""

from __future__ import annotations

from typing import Any

import pytest

from bankmall.security.models import User
from tests.signed_in import PASSWORD, current_code, make_user
from tests.web.test_browser import CHROMIUM, browser, page  # noqa: F401 - shared fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM}"),
]

WARNING = "#session-timeout-warning"


def _sign_in(browser_page: Any, url: str, user: User) -> None:
    """Open ``url``, which asks for the sign-in, and pass both steps as ``user``."""
    browser_page.goto(url)
    browser_page.fill("#id_username", user.username)
    browser_page.fill("#id_password", PASSWORD)
    browser_page.click("main button[type=submit]")
    browser_page.fill("#id_code", current_code(user))
    browser_page.click("main button[type=submit]")


def test_the_warning_keeps_the_session_alive_and_the_timeout_returns_to_sign_in(
    live_server: Any,
    page: Any,  # noqa: F811 - the shared fixture imported above
    settings: Any,
) -> None:
    settings.SESSION_IDLE_SECONDS = {"customer": 8, "merchant": 8, "staff": 8}
    settings.SESSION_TIMEOUT_WARNING_SECONDS = 5
    user = make_user("zhang.wei")
    base = live_server.url
    _sign_in(page, f"{base}/security/", user)
    page.locator("h1", has_text="Security").wait_for()

    # About 3 seconds in, the warning counts down; "Stay signed in" restarts the timer.
    page.locator(f"{WARNING}[open]").wait_for(timeout=6_000)
    assert int(page.locator("[data-session-countdown]").inner_text()) <= 5
    page.click("#session-stay-signed-in")
    page.locator(f"{WARNING}:not([open])").wait_for(state="attached", timeout=3_000)
    assert page.url == f"{base}/security/"

    # The warning comes back; left alone, the page goes to the sign-in page when time is up.
    page.locator(f"{WARNING}[open]").wait_for(timeout=6_000)
    page.wait_for_url(f"{base}/login/?next=%2Fsecurity%2F", timeout=10_000)
    assert "signed out after a period of inactivity" in page.locator("main").inner_text()


def test_replace_the_authenticator_and_make_new_backup_codes_from_the_security_menu(
    live_server: Any,
    page: Any,  # noqa: F811 - the shared fixture imported above
) -> None:
    import base64

    from django_otp.oath import totp

    from bankmall.security.models import Authenticator
    from tests.signed_in import allow_code_reuse

    user = make_user("ops.chen", kind="staff", roles=("teller",))
    old = Authenticator.objects.get(user=user)
    base = live_server.url
    _sign_in(page, f"{base}/login/", user)
    page.locator("h1", has_text="Back office").wait_for()

    page.click("#security-menu summary")
    page.click("#security-menu >> text=Two-factor sign-in")
    page.locator("h1", has_text="Confirm it is you").wait_for()
    allow_code_reuse(user)
    page.fill("#id_code", current_code(user))
    page.click("main button[type=submit]")
    page.locator("h1", has_text="Two-factor sign-in").wait_for()

    page.click(f"tr[data-device='{old.public_id}'] >> text=Replace")
    secret = page.locator("code.secret").inner_text().replace(" ", "")
    page.fill("#id_name", "new phone")
    page.fill("#id_code", f"{totp(base64.b32decode(secret)):06d}")
    page.click("main button[type=submit]")
    page.locator(".notice", has_text="Authenticator replaced.").wait_for()
    assert page.locator("#authenticators tbody tr").count() == 1
    assert "new phone" in page.locator("#authenticators").inner_text()
    assert not Authenticator.objects.filter(pk=old.pk).exists()

    page.click("text=Make new backup codes")
    assert page.locator("ul.backup-codes li").count() == 10
    page.click("main a[role=button]")
    assert "You have 10 unused backup codes." in page.locator("#backup-codes-left").inner_text()

"""The idle-timeout warning in a real browser: warn, stay signed in, then time out."""

from __future__ import annotations

from typing import Any

import pytest

from tests.signed_in import PASSWORD, current_code, make_user
from tests.web.test_browser import CHROMIUM, browser, page  # noqa: F401 - shared fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM}"),
]

WARNING = "#session-timeout-warning"


def test_the_warning_keeps_the_session_alive_and_the_timeout_returns_to_sign_in(
    live_server: Any,
    page: Any,  # noqa: F811 - the shared fixture imported above
    settings: Any,
) -> None:
    settings.SESSION_IDLE_SECONDS = {"customer": 8, "merchant": 8, "staff": 8}
    settings.SESSION_TIMEOUT_WARNING_SECONDS = 5
    user = make_user("zhang.wei")
    base = live_server.url
    page.goto(f"{base}/security/")
    page.fill("#id_username", "zhang.wei")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.fill("#id_code", current_code(user))
    page.click("main button[type=submit]")
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

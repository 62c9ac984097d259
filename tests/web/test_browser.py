"""Pages in a real browser: Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
    ),
]

if CHROMIUM.exists():
    from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; the ORM is not used from the
    # test thread while it runs, only from the live server's threads.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()
    if previous is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    context.close()
    assert problems == [], problems


def test_home_page_switches_to_chinese_and_back(live_server: object, page: Page) -> None:
    page.goto(f"{live_server.url}/")  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Your bank, your mall"

    page.select_option("#language-select", "zh-hans")
    page.wait_for_url(f"{live_server.url}/")  # type: ignore[attr-defined]
    page.locator("h1", has_text="您的银行，您的商城").wait_for()
    assert page.locator("html").get_attribute("lang") == "zh-hans"

    page.select_option("#language-select", "en")
    page.locator("h1", has_text="Your bank, your mall").wait_for()


def test_vendored_styles_and_scripts_load_without_csp_violations(
    live_server: object, page: Page
) -> None:
    page.goto(f"{live_server.url}/")  # type: ignore[attr-defined]

    assert page.evaluate("typeof window.htmx") == "object"
    assert page.evaluate("document.documentElement.classList.contains('js')") is True
    brand_colour = page.evaluate(
        "getComputedStyle(document.querySelector('.site-header')).borderBottomColor"
    )
    assert brand_colour == "rgb(179, 38, 30)"


def test_api_docs_render_from_local_assets(live_server: object, page: Page) -> None:
    page.goto(f"{live_server.url}/api/v1/docs")  # type: ignore[attr-defined]

    page.locator(".swagger-ui .information-container").wait_for(timeout=15_000)
    assert "bankmall API" in page.locator(".swagger-ui .title").inner_text()


def test_staff_sign_in_and_see_the_dashboard_chart(live_server: object, page: Page) -> None:
    from bankmall.security.models import UserKind
    from tests.signed_in import PASSWORD, current_code, make_user

    user = make_user("ops.chen", kind=UserKind.STAFF, roles=("teller",))
    page.goto(f"{live_server.url}/backoffice/")  # type: ignore[attr-defined]
    page.fill("#id_username", "ops.chen")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.fill("#id_code", current_code(user))
    page.click("main button[type=submit]")

    page.locator("svg.chart").wait_for()
    assert page.locator("svg.chart rect").count() == 14
    assert page.locator("h1").inner_text() == "Back office"


def test_first_sign_in_enrols_an_authenticator_from_the_qr_page(
    live_server: object, page: Page
) -> None:
    import base64

    from django.contrib.auth.models import Group
    from django_otp.oath import totp

    from bankmall.security.models import User, UserKind
    from tests.signed_in import PASSWORD

    staff = User.objects.create_user(
        username="ops.new", password=PASSWORD, kind=UserKind.STAFF, is_staff=True
    )
    staff.groups.set(Group.objects.filter(name="teller"))
    page.goto(f"{live_server.url}/login/")  # type: ignore[attr-defined]
    page.fill("#id_username", "ops.new")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")

    assert page.locator("figure.qr-code svg").count() == 1
    secret = page.locator("code.secret").inner_text().replace(" ", "")
    page.fill("#id_code", f"{totp(base64.b32decode(secret)):06d}")
    page.click("main button[type=submit]")

    assert page.locator("ul.backup-codes li").count() == 10
    page.click("main a[role=button]")
    page.locator("svg.chart").wait_for()
    assert page.url.endswith("/backoffice/")

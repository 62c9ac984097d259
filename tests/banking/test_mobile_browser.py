"""The net bank and the back office on a 375 x 812 phone, in English and Chinese.

No page may scroll sideways: wide tables stack into label/value cards or scroll inside their
own box, forms take the full width and the site menu folds behind a "Menu" button. Set
``SCREENSHOT_DIR`` to keep a screenshot of every page for a person to look at.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from bankmall.banking import actions
from bankmall.banking.models import Channel, DepositAccount
from bankmall.core.money import Money
from bankmall.security.approvals import propose
from bankmall.security.models import UserKind
from tests.banking.conftest import OpenAccount, new_customer
from tests.signed_in import make_user, sign_in
from tests.web.test_browser import CHROMIUM, browser  # noqa: F401 - shared fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM}"),
]

PHONE: dict[str, Any] = {
    "viewport": {"width": 375, "height": 812},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
SCREENSHOTS = Path(os.environ["SCREENSHOT_DIR"]) if os.environ.get("SCREENSHOT_DIR") else None


@pytest.fixture
def phone(browser: Any, live_server: Any) -> Iterator[Callable[[Any, str], Any]]:  # noqa: F811
    """Open a phone-sized page holding the session of a user (password and code done); every
    context is closed afterwards, so no page keeps polling the live server."""
    contexts: list[Any] = []

    def open_page(user: Any, language: str) -> Any:
        client = sign_in(Client(), user)
        context = browser.new_context(locale="en-US", **PHONE)
        contexts.append(context)
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": live_server.url,
                },
                {"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url},
            ]
        )
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def assert_fits(page: Any, name: str) -> None:
    """The page is no wider than the phone; keep a screenshot when asked to."""
    if SCREENSHOTS is not None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    width = page.evaluate("document.scrollingElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert viewport == 375
    assert width <= viewport, f"{name}: the page is {width} px wide on a {viewport} px screen"


@pytest.fixture
def bank(open_account: OpenAccount) -> dict[str, Any]:
    customer_user = make_user("li.na")
    customer = new_customer(user_id=customer_user.pk)
    source = open_account(customer, balance_minor=12_345_678)
    payee = open_account()
    for index in range(25):
        made = actions.transfer(
            customer=customer,
            order=actions.TransferOrder(
                from_account_id=source.public_id,
                to_account_number=payee.number,
                amount=Money(1_000 + index, "CNY"),
                reference=f"水电费 utilities bill number {index} for the flat on 长安街",
            ),
            idempotency_key=f"mobile-{index}",
            channel=Channel.NET_BANK,
            actor="test",
        )
    teller = make_user("ops.liu", kind=UserKind.STAFF, roles=("teller",))
    propose(
        action_type="banking.set_account_limit",
        parameters={
            "account_id": source.public_id,
            "channel": "net_bank",
            "per_transaction_minor": 1_234_567,
            "daily_minor": 5_000_000,
        },
        reason="Customer asked for a higher limit",
        maker=teller,
    )
    return {
        "customer_user": customer_user,
        "teller": teller,
        "source": source,
        "transfer": made,
    }


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_net_bank_pages_fit_a_phone(
    live_server: Any,
    phone: Callable[[Any, str], Any],
    bank: dict[str, Any],
    language: str,
) -> None:
    page = phone(bank["customer_user"], language)
    source: DepositAccount = bank["source"]
    base = live_server.url
    pages = {
        "overview": "/bank/",
        "history": f"/bank/accounts/{source.public_id}/",
        "transfer": "/bank/transfers/new/",
        "receipt": f"/bank/transfers/{bank['transfer'].public_id}/",
        "payees": "/bank/payees/",
        "standing": "/bank/standing/",
        "cards": "/bank/cards/",
        "problems": "/problems/",
    }
    for name, path in pages.items():
        page.goto(base + path)
        assert_fits(page, f"bank-{name}-{language}")

    page.goto(f"{base}/bank/accounts/{source.public_id}/")
    entry = page.locator("table.history tbody tr").first
    assert entry.evaluate("row => getComputedStyle(row).display") == "grid"
    date, amount = (
        entry.locator("td.date").bounding_box(),
        entry.locator("td.amount").bounding_box(),
    )
    assert date is not None
    assert amount is not None
    assert amount["x"] > date["x"] + date["width"]  # one card: date left, amount right
    assert page.locator("table.history thead").evaluate("head => head.offsetHeight") <= 1

    page.goto(f"{base}/bank/transfers/new/")
    field = page.locator("#id_amount").bounding_box()
    assert field is not None
    assert field["width"] >= 375 - 80  # full width, less the page's margins


def test_the_site_menu_folds_behind_a_button_on_a_phone(
    live_server: Any,
    phone: Callable[[Any, str], Any],
    bank: dict[str, Any],
) -> None:
    page = phone(bank["customer_user"], "en")
    page.goto(f"{live_server.url}/bank/")
    menu = page.locator("#site-menu")
    toggle = page.locator("[data-menu-toggle]")
    assert menu.is_hidden()
    assert toggle.get_attribute("aria-expanded") == "false"

    toggle.click()

    assert menu.is_visible()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert page.locator("#site-menu #language-select").is_visible()
    assert_fits(page, "bank-menu-open-en")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_back_office_pages_fit_a_phone(
    live_server: Any,
    phone: Callable[[Any, str], Any],
    bank: dict[str, Any],
    language: str,
) -> None:
    page = phone(bank["teller"], language)
    source: DepositAccount = bank["source"]
    base = live_server.url
    pages = {
        "dashboard": "/backoffice/",
        "customers": f"/backoffice/banking/customers/?q={source.number}",
        "customer": f"/backoffice/banking/customers/{source.customer.public_id}/",
        "approvals": "/backoffice/approvals/",
    }
    for name, path in pages.items():
        page.goto(base + path)
        assert_fits(page, f"backoffice-{name}-{language}")

    page.goto(f"{base}/backoffice/banking/customers/?q={source.number}")
    first_cell = page.locator("#customer-results tbody tr").first.locator("td").first
    label = first_cell.evaluate("cell => getComputedStyle(cell, '::before').content")
    header = page.locator("#customer-results thead th").first.text_content() or ""
    assert label.strip('"') == header.strip()  # each value is labelled with its column
    assert header.strip() == {"en": "Customer name", "zh-hans": "客户名称"}[language]

    page.goto(f"{base}/backoffice/approvals/")
    page.locator("#approval-requests a").first.click()
    page.locator("dd.parameter").first.wait_for()
    assert_fits(page, f"backoffice-approval-{language}")
    assert "¥12,345.67" in page.locator("dl.details").inner_text()

"""The net bank in a real browser: TOTP sign-in, a transfer with a one-time code, a statement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bankmall.banking import queries
from bankmall.banking.models import Transfer
from bankmall.security.models import Authenticator
from tests.banking.conftest import OpenAccount, new_customer
from tests.signed_in import PASSWORD, current_code, make_user
from tests.web.test_browser import CHROMIUM, browser, page  # noqa: F401 - shared fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM}"),
]


def test_sign_in_transfer_with_a_code_and_download_a_statement(
    live_server: Any,
    page: Any,  # noqa: F811 - the shared fixture imported above
    open_account: OpenAccount,
) -> None:
    user = make_user("zhang.wei")
    source = open_account(new_customer(user_id=user.pk), balance_minor=2_000_000)
    payee = open_account()
    base = live_server.url

    page.goto(f"{base}/bank/")
    page.fill("#id_username", "zhang.wei")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.fill("#id_code", current_code(user))
    page.click("main button[type=submit]")
    page.locator("h1", has_text="My accounts").wait_for()
    assert "20,000.00" in page.locator(".balance").first.inner_text()

    page.click("text=Transfer money")
    page.select_option("#id_from_account", source.public_id)
    page.fill("#id_to_account_number", payee.number)
    page.fill("#id_amount", "6000.00")
    page.fill("#id_reference", "学费 tuition")
    page.click("#transfer-continue")
    page.locator("h1", has_text="Confirm the transfer").wait_for()
    page.click("#confirm-transfer")

    page.locator("h1", has_text="Confirm it is you").wait_for()
    Authenticator.objects.filter(user=user).update(last_t=-1)
    page.fill("#id_code", current_code(user))
    page.click("main button[type=submit]")
    page.locator("h1", has_text="Confirm the transfer").wait_for()
    page.click("#confirm-transfer")

    page.locator("h1", has_text="Transfer receipt").wait_for()
    assert page.locator("#transfer-id").inner_text() == Transfer.objects.get().public_id
    assert queries.account_balance(payee).balance.amount_minor == 600_000

    page.click("text=Back to the account")
    page.select_option("#id_statement_format", "csv")
    with page.expect_download() as download_info:
        page.click("text=Download statement")
    download = download_info.value
    assert download.suggested_filename.startswith(f"statement-{source.number}-")
    content = Path(download.path()).read_text(encoding="utf-8-sig")
    assert "学费 tuition" in content
    assert "14000.00" in content

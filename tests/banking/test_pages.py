"""The net bank pages: overview, history, statements, transfer with confirmation and step-up."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from bankmall.banking import actions, queries
from bankmall.banking.models import DepositAccount, Transfer
from bankmall.core.money import Money
from bankmall.security.models import User
from tests.banking.conftest import OpenAccount, new_customer
from tests.signed_in import make_user, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def wang(client: Client, open_account: OpenAccount) -> tuple[Client, User, DepositAccount]:
    user = make_user("wang")
    account = open_account(new_customer(user_id=user.pk), balance_minor=1_000_000)
    return sign_in(client, user), user, account


def balance(account: DepositAccount) -> int:
    return queries.account_balance(account).balance.amount_minor


def start_transfer(client: Client, source: DepositAccount, to: str, amount: str) -> Any:
    return client.post(
        "/bank/transfers/new/",
        {
            "from_account": source.public_id,
            "to_account_number": to,
            "amount": amount,
            "reference": "房租",
        },
    )


def test_the_net_bank_needs_a_signed_in_customer(client: Client) -> None:
    response = client.get("/bank/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_overview_shows_each_account_with_its_balances(wang: Any) -> None:
    client, _user, account = wang
    page = client.get("/bank/").content.decode()
    assert account.number[-4:] in page
    assert "10,000.00" in page


def test_the_overview_speaks_chinese(wang: Any) -> None:
    client, _user, _account = wang
    page = client.get("/bank/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "我的账户" in page


def test_another_customers_account_page_is_not_found(wang: Any, open_account: OpenAccount) -> None:
    client, _user, _account = wang
    theirs = open_account()
    assert client.get(f"/bank/accounts/{theirs.public_id}/").status_code == 404
    assert client.get(f"/bank/accounts/{theirs.public_id}/statement/").status_code == 404


def test_a_transfer_is_entered_confirmed_and_receipted(
    wang: Any, open_account: OpenAccount
) -> None:
    client, _user, source = wang
    payee = open_account()
    entered = start_transfer(client, source, payee.number, "12.34")
    assert entered.status_code == 302
    confirm_url = entered["Location"]
    assert "12.34" in client.get(confirm_url).content.decode()
    assert balance(source) == 1_000_000

    done = client.post(confirm_url)
    again = client.post(confirm_url)

    assert done.status_code == again.status_code == 302
    assert done["Location"] == again["Location"]
    receipt = client.get(done["Location"]).content.decode()
    assert Transfer.objects.get().public_id in receipt
    assert re.search(r'class="submitted-at">\d{4}-\d\d-\d\d \d\d:\d\d CST<', receipt)
    assert (balance(source), balance(payee)) == (1_000_000 - 1_234, 1_234)


def test_a_large_transfer_asks_for_a_one_time_code_first(
    wang: Any, open_account: OpenAccount
) -> None:
    client, _user, source = wang
    payee = open_account()
    confirm_url = start_transfer(client, source, payee.number, "6000.00")["Location"]
    response = client.post(confirm_url)
    assert response.status_code == 302
    assert response["Location"].startswith("/security/step-up/")
    assert balance(source) == 1_000_000


def test_insufficient_funds_is_shown_and_nothing_moves(
    wang: Any, open_account: OpenAccount, settings: Any
) -> None:
    settings.BANKING_STEP_UP_AMOUNT_MINOR = 10**12
    client, _user, source = wang
    payee = open_account()
    confirm_url = start_transfer(client, source, payee.number, "10000.01")["Location"]
    response = client.post(confirm_url)
    assert response.status_code == 409
    assert "Insufficient funds" in response.content.decode()
    assert (balance(source), Transfer.objects.count()) == (1_000_000, 0)


def test_history_is_searchable(wang: Any, open_account: OpenAccount) -> None:
    client, _user, source = wang
    payee = open_account()
    client.post(start_transfer(client, source, payee.number, "1.00")["Location"])
    page = client.get(f"/bank/accounts/{source.public_id}/", {"q": "房租"}).content.decode()
    missing = client.get(f"/bank/accounts/{source.public_id}/", {"q": "nothing"}).content
    assert "房租" in page
    assert "Salary" not in page
    assert "房租".encode() not in missing


def test_statements_download_and_a_bad_period_is_explained(wang: Any) -> None:
    client, _user, source = wang
    today = timezone.localdate().isoformat()
    url = f"/bank/accounts/{source.public_id}/statement/"
    pdf = client.get(url, {"period_start": today, "period_end": today, "statement_format": "pdf"})
    bad = client.get(
        url, {"period_start": today, "period_end": "2000-01-01", "statement_format": "pdf"}
    )
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert bad.status_code == 422
    assert "starts after it ends" in bad.content.decode()


def test_a_customer_user_without_accounts_sees_an_empty_overview(client: Client) -> None:
    sign_in(client, make_user("newcomer"))
    response = client.get("/bank/")
    assert response.status_code == 200
    assert "You have no accounts yet." in response.content.decode()


def test_the_statement_form_offers_this_month_as_iso_dates(wang: Any) -> None:
    client, _user, source = wang
    page = client.get(f"/bank/accounts/{source.public_id}/").content.decode()
    today = timezone.localdate()
    assert f'value="{today.replace(day=1).isoformat()}"' in page
    assert f'value="{today.isoformat()}"' in page


def test_the_banks_own_accounts_are_named_in_the_readers_language(
    wang: Any, open_account: OpenAccount
) -> None:
    client, _user, account = wang
    actions.teller_cash(
        account=account, amount=Money(50_000, "CNY"), is_deposit=True, reference="S-1", actor="t"
    )
    path = f"/bank/accounts/{account.public_id}/"

    english = client.get(path, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    chinese = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    overview = client.get("/bank/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert '<td class="counterparty">Cash at the branch</td>' in english
    assert '<td class="counterparty">网点现金</td>' in chinese
    assert '<small class="counterparty">网点现金</small>' in overview

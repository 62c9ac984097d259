"""Net-bank history shows each entry's public id and finds an entry by it (exact match)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from bankmall.banking import actions
from bankmall.banking.models import Channel, DepositAccount, Transfer
from bankmall.core.ids import new_id
from bankmall.core.money import Money
from tests.banking.conftest import OpenAccount, new_customer
from tests.signed_in import make_user, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(client: Client, open_account: OpenAccount) -> tuple[Client, DepositAccount, Transfer]:
    """A funded account (one incoming payment, ``ent_…``) that paid rent (``trf_…``)."""
    user = make_user("wang")
    account = open_account(new_customer(user_id=user.pk), balance_minor=1_000_000)
    rent = actions.transfer(
        customer=account.customer,
        order=actions.TransferOrder(
            from_account_id=account.public_id,
            to_account_number=open_account().number,
            amount=Money(120_000, "CNY"),
            reference="房租",
        ),
        idempotency_key="rent",
        channel=Channel.NET_BANK,
        actor="test",
    )
    return sign_in(client, user), account, rent


def shown_ids(page: str) -> list[str]:
    return re.findall(r'<td class="entry-id"><code>([a-z]{3}_[0-9a-z]{26})</code></td>', page)


def search(client: Client, account: DepositAccount, query: str, **headers: Any) -> str:
    response = client.get(f"/bank/accounts/{account.public_id}/", {"q": query}, **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_each_entry_shows_its_public_id(history: Any) -> None:
    client, account, rent = history

    ids = shown_ids(client.get(f"/bank/accounts/{account.public_id}/").content.decode())

    assert len(ids) == 2
    assert ids[0] == rent.public_id  # newest first: the transfer's id, as on its receipt
    assert ids[1].startswith("ent_")  # the incoming payment
    assert rent.ledger_transfer_id not in " ".join(ids)


def test_an_id_finds_exactly_its_entry(history: Any) -> None:
    client, account, rent = history
    funding_id = shown_ids(client.get(f"/bank/accounts/{account.public_id}/").content.decode())[1]

    by_transfer = search(client, account, rent.public_id)
    by_entry = search(client, account, f"  {funding_id.upper()} ")

    assert shown_ids(by_transfer) == [rent.public_id]
    assert shown_ids(by_entry) == [funding_id]
    assert 'role="alert"' not in by_transfer


def test_an_unknown_id_says_no_entry_has_it(history: Any) -> None:
    client, account, _rent = history
    unknown = new_id("trf")

    page = search(client, account, unknown)

    assert shown_ids(page) == []
    assert f"No entry of this account has the id {unknown}." in page
    assert 'aria-invalid="true"' in page


def test_another_accounts_transfer_id_is_not_found_here(
    history: Any, open_account: OpenAccount
) -> None:
    client, account, rent = history
    other = open_account(account.customer)  # the same customer's other account

    page = search(client, other, rent.public_id)

    assert shown_ids(page) == []
    assert "No entry of this account has the id" in page


def test_a_malformed_id_is_explained(history: Any) -> None:
    client, account, rent = history

    page = search(client, account, rent.public_id[:-1])

    assert shown_ids(page) == []
    assert "is not an entry id" in page
    assert "trf_, cau_ or ent_ followed by 26 letters and digits" in page


def test_id_search_messages_are_in_chinese_on_a_chinese_page(history: Any) -> None:
    client, account, _rent = history

    unknown = search(client, account, new_id("ent"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    malformed = search(client, account, "cau_123", HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert "本账户没有编号为" in unknown
    assert "不是有效的流水号" in malformed
    assert "流水号" in unknown  # the column header


def test_a_text_search_still_matches_descriptions(history: Any) -> None:
    client, account, rent = history

    page = search(client, account, "房租")

    assert shown_ids(page) == [rent.public_id]
    assert 'role="alert"' not in page

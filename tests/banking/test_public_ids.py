"""One public id per transfer: receipt, history, statements and the API agree; ledger ids stay
internal."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from lxml import etree

from bankmall.banking import actions, queries, statements
from bankmall.banking.bank import bank_identity
from bankmall.banking.models import Transfer
from bankmall.core.errors import InvalidInput
from bankmall.core.ids import is_valid_id
from bankmall.ledger import queries as ledger
from tests.banking.conftest import OpenAccount, new_customer
from tests.banking.test_api import Caller, body
from tests.banking.test_transfers import send
from tests.signed_in import make_user

pytestmark = pytest.mark.django_db


def _statement_files(account: Any) -> tuple[str, bytes]:
    today = actions.business_date()
    statement = queries.statement_for(account, start=today, end=today, owner_name="张伟")
    csv_text = statements.render_csv(statement).decode("utf-8-sig")
    camt = statements.render_camt053(statement, bank=bank_identity())
    return csv_text, camt


def test_a_transfer_has_the_receipt_id_in_history_statements_and_for_the_payee(
    open_account: OpenAccount,
) -> None:
    source, payee = open_account(balance_minor=10_000), open_account()
    made = send(source, payee.number, 2_500)
    ledger_id = made.ledger_transfer_id
    payer_entry = queries.account_entries(source).data[-1]
    payee_entry = queries.account_entries(payee).data[-1]
    assert payer_entry.id == payee_entry.id == made.public_id
    for account in (source, payee):
        csv_text, camt = _statement_files(account)
        assert made.public_id in csv_text
        assert ledger_id not in csv_text
        assert ledger_id.encode() not in camt
        document = etree.fromstring(camt)
        references = document.xpath("//*[local-name()='NtryRef']/text()")
        assert made.public_id in references


def test_other_postings_get_a_stable_entry_id_that_is_not_the_ledgers(
    open_account: OpenAccount,
) -> None:
    account = open_account(balance_minor=5_000)  # an incoming payment
    (entry,) = queries.account_entries(account).data
    (view,) = ledger.account_history(account.ledger_account_id).data
    assert is_valid_id("ent", entry.id)
    assert entry.id != view.id
    assert queries.account_entries(account).data[0].id == entry.id


def test_history_pages_by_public_ids_and_refuses_foreign_cursors(
    open_account: OpenAccount,
) -> None:
    source, payee = open_account(balance_minor=10_000), open_account()
    first = send(source, payee.number, 100, key="a")
    second = send(source, payee.number, 200, key="b")
    page = queries.account_entries(source, limit=2)
    assert page.has_more
    assert page.next_cursor == first.public_id
    rest = queries.account_entries(source, limit=2, starting_after=page.next_cursor)
    assert [entry.id for entry in rest.data] == [second.public_id]
    funding = queries.account_entries(source, limit=1)
    assert [e.id for e in queries.account_entries(source, starting_after=funding.data[0].id).data]
    other = open_account(balance_minor=1)
    foreign = queries.account_entries(other).data[0].id
    with pytest.raises(InvalidInput):
        queries.account_entries(source, starting_after=foreign)
    unrelated = send(other, payee.number, 1, key="c")
    with pytest.raises(InvalidInput):
        queries.account_entries(source, starting_after=unrelated.public_id)


def test_the_api_shows_the_transfer_id_in_the_history_and_never_a_ledger_id(
    client: Client, open_account: OpenAccount
) -> None:
    user = make_user("alice")
    account = open_account(new_customer(user_id=user.pk), balance_minor=1_000_000)
    caller = Caller(client, user)
    payee = open_account()
    made = caller.transfer(body(account, payee.number, 1_234)).json()
    history = caller.get(f"/accounts/{account.public_id}/transactions").json()
    assert history["data"][-1]["id"] == made["id"]
    ledger_id = Transfer.objects.get(public_id=made["id"]).ledger_transfer_id
    assert ledger_id not in str(history)
    paged = caller.get(f"/accounts/{account.public_id}/transactions", limit="1").json()
    after = caller.get(
        f"/accounts/{account.public_id}/transactions", starting_after=paged["next_cursor"]
    ).json()
    assert [row["id"] for row in after["data"]] == [made["id"]]
    bad = caller.get(f"/accounts/{account.public_id}/transactions", starting_after="trf_x")
    assert bad.status_code == 422
    assert bad.headers["Content-Type"].startswith("application/problem+json")

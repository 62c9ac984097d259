"""Confirmation of payee for accounts of this bank, and payee names encrypted at rest."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection

from bankmall.banking import actions, queries
from bankmall.banking.errors import PayeeAccountInvalid, PayeeNameCloseMatch, PayeeNameMismatch
from bankmall.banking.identifiers import make_account_number
from bankmall.banking.models import Customer, Payee, Transfer
from bankmall.core.models import AuditRecord
from bankmall.ledger.models import Transfer as LedgerTransfer
from bankmall.security.crypto import decrypt
from bankmall.security.masking import mask_text
from tests.banking.conftest import OpenAccount
from tests.banking.test_transfers import balances, send

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("entered", "holder", "outcome"),
    [
        ("张伟", "张伟", "match"),
        (" 张 伟 ", "张伟", "match"),
        ("ＺＨＡＮＧ wei", "Zhang Wei", "match"),
        ("zhang-wei", "Zhang Wei", "match"),
        ("Zhang Wie", "Zhang Wei", "close"),
        ("Zhang We", "Zhang Wei", "close"),
        ("张晓伟", "张小伟", "close"),
        ("李娜", "张伟", "mismatch"),
        ("", "张伟", "mismatch"),
        ("John Smith", "Zhang Wei", "mismatch"),
    ],
)
def test_names_are_compared_normalised(entered: str, holder: str, outcome: str) -> None:
    assert queries.name_match(entered, holder) == outcome


def _rename(customer: Customer, name: str) -> None:
    customer.legal_name = name
    customer.save(update_fields=["legal_name", "legal_name_index"])


def test_a_transfer_with_the_holders_name_goes_through(open_account: OpenAccount) -> None:
    source, payee = open_account(balance_minor=10_000), open_account()
    _rename(payee.customer, "王 芳")
    made = send(source, payee.number, 100, to_name="王芳")
    assert balances(source, payee) == [9_900, 100]
    assert made.to_name == "王芳"


def test_a_close_name_is_refused_with_the_masked_holder_name_and_moves_nothing(
    open_account: OpenAccount,
) -> None:
    source, payee = open_account(balance_minor=10_000), open_account()
    _rename(payee.customer, "Zhang Wei")
    before = LedgerTransfer.objects.count()
    with pytest.raises(PayeeNameCloseMatch) as failure:
        send(source, payee.number, 100, to_name="Zhang Wie")
    assert failure.value.extra == {"account_name": mask_text("Zhang Wei")}
    assert mask_text("Zhang Wei") in failure.value.detail
    assert "Zhang Wei" not in failure.value.detail
    assert LedgerTransfer.objects.count() == before
    assert not Transfer.objects.exists()
    assert balances(source, payee) == [10_000, 0]


def test_a_wrong_name_is_refused_and_moves_nothing(open_account: OpenAccount) -> None:
    source, payee = open_account(balance_minor=10_000), open_account()
    _rename(payee.customer, "张伟")
    with pytest.raises(PayeeNameMismatch):
        send(source, payee.number, 100, to_name="李娜")
    assert not Transfer.objects.exists()
    assert balances(source, payee) == [10_000, 0]


def test_a_payee_of_this_bank_must_exist_and_carry_the_holders_name(
    open_account: OpenAccount,
) -> None:
    mine, theirs = open_account(), open_account()
    _rename(theirs.customer, "张伟")
    add = {"customer": mine.customer, "bank_code": "", "actor": "test"}
    with pytest.raises(PayeeNameMismatch):
        actions.add_payee(name="李娜", account_number=theirs.number, **add)
    unknown = make_account_number(branch=9, serial=9)
    with pytest.raises(PayeeAccountInvalid):
        actions.add_payee(name="张伟", account_number=unknown, **add)
    assert not Payee.objects.exists()
    assert not AuditRecord.objects.filter(action="banking.payee_added").exists()
    saved = actions.add_payee(name="张 伟", account_number=theirs.number, **add)
    assert saved.name == "张 伟"


def _raw_to_name(transfer: Transfer) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_name FROM banking_transfer WHERE id = %s", [transfer.pk])
        (value,) = cursor.fetchone()
    return str(value)


def test_an_interbank_payee_name_is_stored_encrypted(open_account: OpenAccount) -> None:
    source = open_account(balance_minor=10_000)
    made = send(source, "6222020200112233445", 4_000, to_name="李娜", to_bank_code="102100099996")
    stored = _raw_to_name(made)
    assert "李娜" not in stored
    assert decrypt(stored, context="banking.transfer.to_name") == "李娜"
    assert Transfer.objects.get(pk=made.pk).to_name == "李娜"


def test_the_migration_encrypts_names_stored_in_clear_once(open_account: OpenAccount) -> None:
    source = open_account(balance_minor=10_000)
    made = send(source, "6222020200112233445", 4_000, to_name="李娜", to_bank_code="102100099996")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE banking_transfer SET to_name = %s WHERE id = %s", ["李娜", made.pk])
    migration = importlib.import_module(
        "bankmall.banking.migrations.0009_transfer_to_name_encrypted"
    )

    class Apps:
        @staticmethod
        def get_model(app: str, model: str) -> type[Transfer]:
            return Transfer

    class Editor:
        connection = connection

    migration.encrypt_names(Apps, Editor)
    once = _raw_to_name(made)
    migration.encrypt_names(Apps, Editor)  # already encrypted rows are left alone
    assert _raw_to_name(made) == once
    assert "李娜" not in once
    assert Transfer.objects.get(pk=made.pk).to_name == "李娜"

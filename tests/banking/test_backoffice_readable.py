"""Back office pages speak to people: formatted money, names and masked numbers, confirmed
KYC decisions with reasons, and instants with their time zone."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from bankmall.banking import actions
from bankmall.banking.identifiers import mask_account_number
from bankmall.banking.models import (
    Channel,
    ClearingBatch,
    Customer,
    CustomerKind,
    DepositAccount,
    KycStatus,
)
from bankmall.core.actions import run_end_of_day
from bankmall.core.models import AuditRecord
from bankmall.core.money import Money
from bankmall.security.models import ApprovalRequest, UserKind
from tests.banking.conftest import OpenAccount, new_customer
from tests.signed_in import make_user, sign_in

pytestmark = pytest.mark.django_db

TIME_WITH_ZONE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d CST")


def staff(client: Client, name: str, role: str) -> Client:
    return sign_in(client, make_user(name, kind=UserKind.STAFF, roles=(role,)))


def propose_limits(client: Client, account: DepositAccount) -> ApprovalRequest:
    client.post(
        f"/backoffice/banking/accounts/{account.public_id}/limit",
        {
            "channel": "net_bank",
            "per_transaction": "12345.67",
            "daily": "50000",
            "reason": "VIP customer",
        },
    )
    return ApprovalRequest.objects.get()


def test_an_approval_request_shows_money_names_and_masked_numbers_not_raw_parameters(
    client: Client, open_account: OpenAccount
) -> None:
    account = open_account()
    staff(client, "t1", "teller")
    request = propose_limits(client, account)

    page = client.get(f"/backoffice/approvals/{request.public_id}/").content.decode()

    details = page.split('<details class="technical">')[0]
    assert "¥12,345.67" in details
    assert "¥50,000.00" in details
    assert mask_account_number(account.number) in details
    assert account.customer.masked_name in details
    assert "Net bank" in details
    assert account.public_id not in details
    assert "1234567" not in details
    assert TIME_WITH_ZONE.search(details)


def test_the_approvals_list_summarises_each_request_in_chinese(
    client: Client, open_account: OpenAccount
) -> None:
    account = open_account()
    staff(client, "t1", "teller")
    propose_limits(client, account)

    page = client.get("/backoffice/approvals/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "每笔: ¥50,000.00 → ¥12,345.67" in page  # the limit now, then the proposed one
    assert mask_account_number(account.number) in page
    assert TIME_WITH_ZONE.search(page)


def test_account_limits_on_the_customer_page_are_formatted_money(
    client: Client, open_account: OpenAccount
) -> None:
    account = open_account()
    limit = account.limits.get(channel="net_bank")
    staff(client, "t1", "teller")

    page = client.get(f"/backoffice/banking/customers/{account.customer.public_id}/")

    html = page.content.decode()
    assert f"¥{limit.daily_minor // 100:,}.00" in html
    assert f">{limit.daily_minor}<" not in html


def test_kyc_decisions_are_confirmed_on_a_page_that_shows_who_is_decided(
    client: Client, open_account: OpenAccount
) -> None:
    customer = open_account().customer
    staff(client, "k1", "kyc_reviewer")

    page = client.get(
        f"/backoffice/banking/kyc/{customer.public_id}/decide", {"decision": "reject"}
    ).content.decode()

    assert customer.masked_name in page
    assert 'name="note"' in page
    assert Customer.objects.get(pk=customer.pk).kyc_status == KycStatus.PENDING


def test_a_rejection_without_a_reason_changes_nothing(
    client: Client, open_account: OpenAccount
) -> None:
    customer = open_account().customer
    staff(client, "k1", "kyc_reviewer")
    audited = AuditRecord.objects.count()

    response = client.post(
        f"/backoffice/banking/kyc/{customer.public_id}/decide", {"decision": "reject", "note": " "}
    )

    assert response.status_code == 422
    assert "at least 5 characters" in response.content.decode()
    unchanged = Customer.objects.get(pk=customer.pk)
    assert (unchanged.kyc_status, unchanged.kyc_review_note) == (KycStatus.PENDING, "")
    assert AuditRecord.objects.count() == audited


def test_a_rejection_reason_is_stored_audited_and_shown_to_reviewers(
    client: Client, open_account: OpenAccount
) -> None:
    customer = open_account().customer
    staff(client, "k1", "kyc_reviewer")

    client.post(
        f"/backoffice/banking/kyc/{customer.public_id}/decide",
        {"decision": "reject", "note": "ID card photo is unreadable"},
    )

    rejected = Customer.objects.get(pk=customer.pk)
    assert rejected.kyc_status == KycStatus.REJECTED
    assert rejected.kyc_review_note == "ID card photo is unreadable"
    assert AuditRecord.objects.filter(
        action="banking.kyc_reviewed", target=customer.public_id
    ).exists()
    queue = client.get("/backoffice/banking/kyc/").content.decode()
    decided = queue.split('id="kyc-decided"')[1]
    assert "ID card photo is unreadable" in decided
    assert "k1" in decided
    assert TIME_WITH_ZONE.search(decided)


def test_a_refused_decision_is_explained_in_the_page_language(
    client: Client, open_account: OpenAccount
) -> None:
    customer = open_account().customer
    staff(client, "k1", "kyc_reviewer")
    url = f"/backoffice/banking/kyc/{customer.public_id}/decide"
    client.post(url, {"decision": "verify"})

    chinese = client.post(url, {"decision": "verify"}, HTTP_ACCEPT_LANGUAGE="zh-hans", follow=True)
    english = client.post(url, {"decision": "verify"}, HTTP_ACCEPT_LANGUAGE="en", follow=True)

    assert "请求与当前状态冲突" in chinese.content.decode()
    assert "The customer&#x27;s KYC is verified, not pending." in english.content.decode()


def pay_other_bank(source: DepositAccount, amount_minor: int, key: str) -> None:
    actions.transfer(
        customer=source.customer,
        order=actions.TransferOrder(
            from_account_id=source.public_id,
            to_account_number="6222020200112233445",
            amount=Money(amount_minor, source.currency),
            to_name="李娜",
            to_bank_code="102100099996",
        ),
        idempotency_key=key,
        channel=Channel.NET_BANK,
        actor="test",
    )


def test_a_clearing_batchs_control_sum_is_formatted_money(
    client: Client, open_account: OpenAccount
) -> None:
    source = open_account(balance_minor=10_000_000)
    pay_other_bank(source, 1_234_500, "k1")
    pay_other_bank(source, 50, "k2")
    run_end_of_day(actor="test")
    staff(client, "s1", "settlement_officer")

    html = client.get("/backoffice/banking/clearing/").content.decode()

    assert ClearingBatch.objects.get().control_sum == "12345.50"
    assert "¥12,345.50" in html
    assert "12345.50" not in html


def test_a_clearing_batch_in_two_currencies_shows_one_amount_per_currency(
    client: Client, open_account: OpenAccount
) -> None:
    pay_other_bank(open_account(balance_minor=1_000_000), 10_000, "k1")
    pay_other_bank(open_account(balance_minor=1_000_000, currency="USD"), 2_550, "k2")
    run_end_of_day(actor="test")
    staff(client, "s1", "settlement_officer")

    html = client.get("/backoffice/banking/clearing/", HTTP_ACCEPT_LANGUAGE="zh-hans")

    text = html.content.decode()
    assert "¥100.00" in text
    assert "US$25.50" in text
    assert "125.50" not in text  # the file's control sum adds both currencies


@pytest.mark.parametrize(("language", "label"), [("en", "Customer name"), ("zh-hans", "客户名称")])
def test_the_kyc_pages_label_names_for_companies_and_persons_alike(
    client: Client, open_account: OpenAccount, language: str, label: str
) -> None:
    """The rule: a page that can show a company labels the name 'Customer name' (客户名称),
    never a person's name (姓名). The KYC queue, its decided list and the decide page all
    show companies (the queue has a Type column), so none of them says 姓名."""
    person = open_account().customer
    company = new_customer(CustomerKind.COMPANY)
    staff(client, "k1", "kyc_reviewer")
    actions.review_kyc(customer=person, approve=True, actor="test")

    queue = client.get("/backoffice/banking/kyc/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    decide = client.get(
        f"/backoffice/banking/kyc/{company.public_id}/decide",
        {"decision": "verify"},
        HTTP_ACCEPT_LANGUAGE=language,
    ).content.decode()

    pending, decided = queue.split('id="kyc-decided"')
    assert company.public_id in pending
    assert person.public_id in decided
    assert f'<th scope="col">{label}</th>' in pending
    assert f'<th scope="col">{label}</th>' in decided
    assert f'data-label="{label}"' in pending
    assert f'data-label="{label}"' in decided
    assert f"<dt>{label}</dt>" in decide
    assert "姓名" not in queue
    assert "姓名" not in decide


@pytest.mark.parametrize(("language", "label"), [("en", "Customer name"), ("zh-hans", "客户名称")])
def test_the_customer_list_labels_names_for_companies_and_persons_alike(
    client: Client, open_account: OpenAccount, language: str, label: str
) -> None:
    """Companies are listed with persons, so the column is no person's name (姓名)."""
    company = new_customer(CustomerKind.COMPANY)
    account = open_account(company)
    staff(client, "t1", "teller")

    page = client.get(
        "/backoffice/banking/customers/", {"q": account.number}, HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()

    assert company.public_id in page
    assert f'<th scope="col">{label}</th>' in page
    assert f'data-label="{label}"' in page
    assert "姓名" not in page

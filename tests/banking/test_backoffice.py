"""Back office: customer search, KYC queue, teller cash and freezing with maker-checker."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from bankmall.backoffice.banking_views import INCOMING_BYTES_MAX
from bankmall.banking import queries
from bankmall.banking.models import Customer, DepositAccount, KycStatus
from bankmall.ledger import queries as ledger
from bankmall.ledger.models import Transfer
from bankmall.security.approvals import decide
from bankmall.security.models import ApprovalRequest, UserKind
from tests.banking.conftest import OpenAccount
from tests.banking.test_payment_files import camt054, incoming_pain001
from tests.signed_in import make_user, sign_in

pytestmark = pytest.mark.django_db


def staff(client: Client, name: str, role: str) -> Client:
    return sign_in(client, make_user(name, kind=UserKind.STAFF, roles=(role,)))


def balance(account: DepositAccount) -> int:
    return queries.account_balance(account).balance.amount_minor


def test_customers_are_found_by_account_number_id_number_or_name_and_shown_masked(
    client: Client, open_account: OpenAccount
) -> None:
    account = open_account()
    customer = account.customer
    staff(client, "t1", "teller")
    personal = {customer.national_id, customer.legal_name}
    for query in (account.number, customer.national_id, customer.legal_name):
        page = client.get("/backoffice/banking/customers/", {"q": query}).content.decode()
        assert customer.public_id in page, query
        assert customer.masked_national_id in page
        for value in personal - {query}:  # only what staff typed is echoed back
            assert value not in page
    missing = client.get("/backoffice/banking/customers/", {"q": "110101199001011234"})
    assert customer.public_id not in missing.content.decode()


def test_the_kyc_reviewer_verifies_a_pending_customer(
    client: Client, open_account: OpenAccount
) -> None:
    customer = open_account().customer
    staff(client, "k1", "kyc_reviewer")
    assert customer.public_id in client.get("/backoffice/banking/kyc/").content.decode()
    client.post(f"/backoffice/banking/kyc/{customer.public_id}/decide", {"decision": "verify"})
    assert Customer.objects.get(pk=customer.pk).kyc_status == KycStatus.VERIFIED


def test_a_teller_may_not_review_kyc(client: Client, open_account: OpenAccount) -> None:
    customer = open_account().customer
    staff(client, "t1", "teller")
    response = client.post(
        f"/backoffice/banking/kyc/{customer.public_id}/decide", {"decision": "verify"}
    )
    assert response.status_code == 403
    assert Customer.objects.get(pk=customer.pk).kyc_status == KycStatus.PENDING


def cash(client: Client, account: DepositAccount, amount: str, slip: str) -> Any:
    return client.post(
        f"/backoffice/banking/accounts/{account.public_id}/cash",
        {"direction": "deposit", "amount": amount, "reference": slip, "reason": "counter"},
    )


def test_small_cash_is_booked_at_once_and_once_per_slip(
    client: Client, open_account: OpenAccount
) -> None:
    account = open_account()
    staff(client, "t1", "teller")
    cash(client, account, "100.00", "SLIP-1")
    cash(client, account, "100.00", "SLIP-1")
    assert balance(account) == 10_000
    assert not ApprovalRequest.objects.exists()


def test_large_cash_waits_for_a_second_member_of_staff(
    client: Client, open_account: OpenAccount
) -> None:
    account = open_account()
    staff(client, "t1", "teller")
    cash(client, account, "60000.00", "SLIP-2")
    request = ApprovalRequest.objects.get()
    assert balance(account) == 0

    checker = make_user("boss", kind=UserKind.STAFF, roles=("administrator",))
    decide(request_id=request.public_id, checker=checker, approve=True)

    assert balance(account) == 6_000_000


def test_freezing_is_proposed_then_approved_and_blocks_the_ledger_account(
    client: Client, open_account: OpenAccount
) -> None:
    account = open_account(balance_minor=100)
    staff(client, "t1", "teller")
    client.post(
        f"/backoffice/banking/accounts/{account.public_id}/status",
        {"status": "frozen", "reason": "court order 42"},
    )
    assert DepositAccount.objects.get(pk=account.pk).status == "active"
    checker = make_user("boss", kind=UserKind.STAFF, roles=("administrator",))
    decide(request_id=ApprovalRequest.objects.get().public_id, checker=checker, approve=True)
    assert DepositAccount.objects.get(pk=account.pk).status == "frozen"
    assert ledger.get_account(account.ledger_account_id).status == "frozen"


def upload(client: Client, data: bytes, **headers: str) -> Any:
    return client.post(
        "/backoffice/banking/clearing/",
        {"document": SimpleUploadedFile("camt054.xml", data, content_type="application/xml")},
        **headers,
    )


def test_an_incoming_camt054_is_booked_from_the_back_office(
    client: Client, open_account: OpenAccount
) -> None:
    first, second = open_account(), open_account()
    staff(client, "s1", "settlement_officer")
    upload(client, camt054(creditor1=first.number, creditor2=second.number))
    assert (balance(first), balance(second)) == (120_050, 300)


def test_a_bad_incoming_file_lists_its_problems_and_books_nothing(
    client: Client, open_account: OpenAccount
) -> None:
    first, second = open_account(), open_account()
    staff(client, "s1", "settlement_officer")
    page = upload(client, camt054(creditor1=first.number, creditor2="88010001000000009999"))
    assert "Ntfctn[1]/Ntry[2]/NtryDtls/TxDtls[1]/RltdPties/CdtrAcct" in page.content.decode()
    assert (balance(first), balance(second)) == (0, 0)


def test_a_teller_cannot_book_clearing_files(client: Client, open_account: OpenAccount) -> None:
    first = open_account()
    staff(client, "t1", "teller")
    assert upload(client, camt054(creditor1=first.number)).status_code == 403
    assert balance(first) == 0


def test_an_incoming_pain001_is_booked_from_the_back_office(
    client: Client, open_account: OpenAccount
) -> None:
    account = open_account()
    staff(client, "s1", "settlement_officer")

    upload(client, incoming_pain001("03", creditor=account.number))

    assert balance(account) == 50_000


def pain001_breaking_its_schema(creditor: str) -> bytes:
    """A pain.001 the bank's own checks accept whose group header lacks its creation time."""
    return re.sub(rb"<CreDtTm>[^<]*</CreDtTm>", b"", incoming_pain001(creditor=creditor))


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", ("Nothing was booked: the file has 1 problem, listed below.", "line 7", "Schema: ")),
        ("zh-hans", ("未入账：文件有 1 个问题，见下方列表。", "第 7 行", "XML 架构：")),
    ],
)
def test_a_pain001_that_breaks_its_schema_is_refused_by_line_and_books_nothing(
    client: Client, open_account: OpenAccount, language: str, expected: tuple[str, str, str]
) -> None:
    headline, where, label = expected
    account = open_account()
    staff(client, "s1", "settlement_officer")

    page = upload(
        client, pain001_breaking_its_schema(account.number), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()

    assert headline in page
    assert (
        f"<code>{where}</code>: {label}Element &#x27;NbOfTxs&#x27;: This element is not expected."
        in page
    )
    assert balance(account) == 0


@pytest.mark.parametrize(
    ("language", "headline", "problem"),
    [
        (
            "en",
            "Nothing was booked: the file has 1 problem, listed below.",
            "The file is larger than 20 MiB.",
        ),
        ("zh-hans", "未入账：文件有 1 个问题，见下方列表。", "文件超过 20 MiB。"),
    ],
)
def test_a_file_over_20_mib_is_refused_at_the_form_in_the_page_language(
    client: Client, open_account: OpenAccount, language: str, headline: str, problem: str
) -> None:
    account = open_account()
    staff(client, "s1", "settlement_officer")
    document = incoming_pain001(creditor=account.number)
    too_large = document + b" " * (INCOMING_BYTES_MAX + 1 - len(document))

    page = upload(client, too_large, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert headline in page
    label = {"en": "file", "zh-hans": "文件"}[language]
    assert f'<ul class="field-errors"><li><code>{label}</code>: {problem}</li></ul>' in page
    assert balance(account) == 0


DOCUMENT_TYPE_DECLARATION = (
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]>'
    b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">&x;</Document>'
)
# Each refusal while reading a file: the file, then what the English and the Chinese page say
# about it. Quoted element names, message types and the XML parser's own words stay as they are.
CAMT053 = b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>'
PAIN001_08 = b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.08"/>'
EMPTY_CAMT054 = b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"/>'
REFUSED_FILES: list[tuple[bytes, tuple[str, str], tuple[str, str]]] = [
    (b" \n", ("file", "Empty."), ("文件", "内容为空。")),
    (
        b"<Document",
        ("file", "The file is not well-formed XML: Couldn"),
        ("文件", "文件不是格式正确的 XML：Couldn"),
    ),
    (
        DOCUMENT_TYPE_DECLARATION,
        ("file", "Document type declarations are not accepted."),
        ("文件", "不接受文档类型声明（DTD）。"),
    ),
    (
        b"<Statement/>",
        ("file", "The root is not an ISO 20022 Document."),
        ("文件", "根元素不是 ISO 20022 Document。"),
    ),
    (
        CAMT053,
        ("file", "camt.053.001.08 files are not accepted here; send camt.054 or pain.001."),
        ("文件", "此处不接受 camt.053.001.08 文件；请发送 camt.054 或 pain.001 文件。"),
    ),
    (
        PAIN001_08,
        (
            "file",
            "pain.001.001.08 files are not accepted here; send pain.001 in version 03, 09, 10, 11.",
        ),
        ("文件", "此处不接受 pain.001.001.08 文件；请发送版本为 03, 09, 10, 11 的 pain.001 文件。"),
    ),
    (
        EMPTY_CAMT054,
        ("Document", "BkToCstmrDbtCdtNtfctn is missing."),
        ("Document", "缺少 BkToCstmrDbtCdtNtfctn。"),
    ),
]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("refusal", REFUSED_FILES)
def test_a_file_refused_while_reading_it_is_explained_in_the_page_language_and_books_nothing(
    client: Client,
    open_account: OpenAccount,
    language: str,
    refusal: tuple[bytes, tuple[str, str], tuple[str, str]],
) -> None:
    open_account(balance_minor=10_000)
    staff(client, "s1", "settlement_officer")
    data, shown, other = refusal
    transfers = Transfer.objects.count()

    page = upload(client, data, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    headline = "Nothing was booked: the file has"
    if language == "zh-hans":
        shown, other, headline = other, shown, "未入账：文件有"
    assert headline in page
    assert f"<li><code>{shown[0]}</code>: {shown[1]}" in page
    assert other[1] not in page
    assert Transfer.objects.count() == transfers


# An incoming file whose creditor account or currency is wrong: the account-number and currency
# messages come from the shared validators and read in the page's language.
WRONG_CREDITORS: list[tuple[tuple[str, str], tuple[str, str]]] = [
    (
        ("88010001000000009999", "CNY"),
        ("The account number&#x27;s check digits do not match.", "账号的校验位不符。"),
    ),
    (("8801000100", "CNY"), ("An account number has 20 digits.", "账号为 20 位数字。")),
    (("62220001000000000100", "CNY"), ("Not an account number of this bank.", "不是本行的账号。")),
    (
        ("", "ABC"),
        (
            "&#x27;ABC&#x27; is not an ISO 4217 currency code",
            "&#x27;ABC&#x27; 不是 ISO 4217 货币代码",
        ),
    ),
]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize(("wrong", "messages"), WRONG_CREDITORS)
def test_a_wrong_account_number_or_currency_in_a_file_reads_in_the_page_language(
    client: Client,
    open_account: OpenAccount,
    language: str,
    wrong: tuple[str, str],
    messages: tuple[str, str],
) -> None:
    creditor, currency = wrong
    first, second = open_account(), open_account()
    staff(client, "s1", "settlement_officer")
    data = camt054(creditor1=first.number, creditor2=creditor or second.number).replace(
        b'<Amt Ccy="CNY">1200.50', f'<Amt Ccy="{currency}">1200.50'.encode()
    )

    page = upload(client, data, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    shown, other = messages if language == "en" else messages[::-1]
    assert shown in page
    assert other not in page
    assert (balance(first), balance(second)) == (0, 0)

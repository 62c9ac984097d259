"""Account statements for a date range: ISO 20022 camt.053, CSV and PDF.

The input is a plain ``Statement`` (account, opening and closing balance, entries), so the
renderers do not care where the numbers come from; ``queries.statement_for`` builds one from the
ledger. A ``Statement`` refuses data that does not add up: the opening balance plus the credits
minus the debits must equal the closing balance, every entry must fall inside the period and be
in the account's currency.

Formats:

- ``render_camt053``: ``camt.053.001.08`` XML, validated against the official XSD before it is
  returned (the account is identified by its 20-digit number under ``Othr``, China uses no IBAN).
- ``render_csv``: UTF-8 with a byte-order mark (so Excel opens Chinese text correctly), one row
  per entry between an opening-balance row and a closing-balance row; amounts are plain decimals
  in major units; text cells that a spreadsheet would run as a formula are quoted with ``'``.
- ``render_pdf``: A4 via reportlab, text in the built-in CID font ``STSong-Light`` so Chinese
  renders (and extracts) without shipping a font file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final
from xml.sax.saxutils import escape

from django.utils import timezone, translation
from django.utils.translation import gettext as _
from lxml import etree
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.pdfmetrics import registerFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from bankmall.banking import iso20022 as iso
from bankmall.banking.bank import BankIdentity
from bankmall.banking.errors import StatementInvalid
from bankmall.banking.identifiers import format_account_number
from bankmall.core.errors import FieldError
from bankmall.core.money import Money

CSV_BOM: Final = "\ufeff"
FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
CJK_FONT: Final = "STSong-Light"
FORMATS: Final = ("camt053", "csv", "pdf")
CONTENT_TYPES: Final = {
    "camt053": "application/xml",
    "csv": "text/csv; charset=utf-8",
    "pdf": "application/pdf",
}
EXTENSIONS: Final = {"camt053": "xml", "csv": "csv", "pdf": "pdf"}


@dataclass(frozen=True, slots=True)
class StatementAccount:
    """The account a statement is for."""

    number: str
    currency: str
    owner_name: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class StatementEntry:
    """One booked movement: a positive ``amount`` that is a credit or a debit to the account.

    ``entry_id`` is the entry's public id (``queries.entry_public_id``: the transfer's
    ``trf_…`` as on its receipt; at most 35 characters, ISO 20022 Max35Text);
    ``kind`` a short bank transaction code (``TRANSFER``, ``CASH``, ``INTEREST``, ``FEE``…).
    """

    entry_id: str
    booking_date: dt.date
    value_date: dt.date
    amount: Money
    is_credit: bool
    description: str
    kind: str = "TRANSFER"
    counterparty_name: str = ""
    counterparty_account: str = ""
    reference: str = ""

    @property
    def signed(self) -> Money:
        return self.amount if self.is_credit else -self.amount


@dataclass(frozen=True, slots=True)
class StatementLine:
    """An entry with the account's balance right after it."""

    entry: StatementEntry
    balance: Money


@dataclass(frozen=True, slots=True)
class Statement:
    """An account's movements between two business dates, both included.

    Guarantees: ``opening_balance + credits - debits == closing_balance``; every entry is in
    ``account.currency``, has a positive amount and a booking date inside the period.
    """

    statement_id: str
    account: StatementAccount
    period_start: dt.date
    period_end: dt.date
    opening_balance: Money
    closing_balance: Money
    entries: tuple[StatementEntry, ...]
    created_at: dt.datetime

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise StatementInvalid(problems[0].message, errors=problems)

    def _problems(self) -> Iterator[FieldError]:
        currency = self.account.currency
        if not 1 <= len(self.statement_id) <= 35:  # noqa: PLR2004 - ISO 20022 Max35Text
            yield FieldError("statement_id", "A statement id has 1 to 35 characters.")
        if self.period_start > self.period_end:
            yield FieldError("period", "The period starts after it ends.")
        if self.created_at.tzinfo is None:
            yield FieldError("created_at", "The creation time needs a time zone.")
        for name in ("opening_balance", "closing_balance"):
            if getattr(self, name).currency != currency:
                yield FieldError(name, f"The balance is not in {currency}.")
        for index, entry in enumerate(self.entries):
            where = f"entries[{index}]"
            if entry.amount.currency != currency:
                yield FieldError(f"{where}.amount", f"The entry is not in {currency}.")
            elif not entry.amount.is_positive:
                yield FieldError(f"{where}.amount", "An entry amount is positive.")
            if not self.period_start <= entry.booking_date <= self.period_end:
                yield FieldError(f"{where}.booking_date", "The entry is outside the period.")
            if not 1 <= len(entry.entry_id) <= 35:  # noqa: PLR2004
                yield FieldError(f"{where}.entry_id", "An entry id has 1 to 35 characters.")
        if self.opening_balance.currency == currency and not any(
            entry.amount.currency != currency for entry in self.entries
        ):
            expected = self.opening_balance.amount_minor + sum(
                entry.signed.amount_minor for entry in self.entries
            )
            if expected != self.closing_balance.amount_minor:
                yield FieldError(
                    "closing_balance",
                    "The opening balance plus the entries does not equal the closing balance.",
                )

    # ------------------------------------------------------------ totals

    def lines(self) -> list[StatementLine]:
        """Entries in order with the running balance after each."""
        balance = self.opening_balance
        result = []
        for entry in self.entries:
            balance = balance + entry.signed
            result.append(StatementLine(entry=entry, balance=balance))
        return result

    @property
    def total_credits(self) -> Money:
        return Money(
            sum(entry.amount.amount_minor for entry in self.entries if entry.is_credit),
            self.account.currency,
        )

    @property
    def total_debits(self) -> Money:
        return Money(
            sum(entry.amount.amount_minor for entry in self.entries if not entry.is_credit),
            self.account.currency,
        )

    @property
    def credit_count(self) -> int:
        return sum(1 for entry in self.entries if entry.is_credit)

    @property
    def debit_count(self) -> int:
        return len(self.entries) - self.credit_count

    def filename(self, statement_format: str) -> str:
        """``statement-<account>-<from>-<to>.<ext>`` for downloads."""
        return (
            f"statement-{self.account.number}-{self.period_start:%Y%m%d}-"
            f"{self.period_end:%Y%m%d}.{EXTENSIONS[statement_format]}"
        )


# ---------------------------------------------------------------- camt.053


def _credit_debit(amount: Money) -> str:
    return "DBIT" if amount.amount_minor < 0 else "CRDT"


def _period_bounds(statement: Statement) -> tuple[dt.datetime, dt.datetime]:
    zone = timezone.get_default_timezone()
    start = dt.datetime.combine(statement.period_start, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(statement.period_end, dt.time(23, 59, 59), tzinfo=zone)
    return start, end


def _camt_balance(parent: etree._Element, code: str, amount: Money, day: dt.date) -> None:
    balance = iso.sub(parent, "Bal")
    iso.sub(iso.sub(iso.sub(balance, "Tp"), "CdOrPrtry"), "Cd", code)
    iso.sub(balance, "Amt", iso.amount_text(amount), Ccy=amount.currency)
    iso.sub(balance, "CdtDbtInd", _credit_debit(amount))
    iso.sub(iso.sub(balance, "Dt"), "Dt", day.isoformat())


def _camt_account(parent: etree._Element, tag: str, number: str) -> etree._Element:
    account = iso.sub(parent, tag)
    iso.sub(iso.sub(iso.sub(account, "Id"), "Othr"), "Id", iso.max_text(number, 34))
    return account


def _camt_summary(parent: etree._Element, statement: Statement) -> None:
    summary = iso.sub(parent, "TxsSummry")
    net = statement.total_credits - statement.total_debits
    total = iso.sub(summary, "TtlNtries")
    iso.sub(total, "NbOfNtries", str(len(statement.entries)))
    iso.sub(
        total,
        "Sum",
        iso.amount_text(statement.total_credits + statement.total_debits),
    )
    net_element = iso.sub(total, "TtlNetNtry")
    iso.sub(net_element, "Amt", iso.amount_text(net))
    iso.sub(net_element, "CdtDbtInd", _credit_debit(net))
    for tag, count, amount in (
        ("TtlCdtNtries", statement.credit_count, statement.total_credits),
        ("TtlDbtNtries", statement.debit_count, statement.total_debits),
    ):
        element = iso.sub(summary, tag)
        iso.sub(element, "NbOfNtries", str(count))
        iso.sub(element, "Sum", iso.amount_text(amount))


def _camt_entry(parent: etree._Element, entry: StatementEntry, bank: BankIdentity) -> None:
    element = iso.sub(parent, "Ntry")
    iso.sub(element, "NtryRef", entry.entry_id)
    iso.sub(element, "Amt", iso.amount_text(entry.amount), Ccy=entry.amount.currency)
    iso.sub(element, "CdtDbtInd", "CRDT" if entry.is_credit else "DBIT")
    iso.sub(iso.sub(element, "Sts"), "Cd", "BOOK")
    iso.sub(iso.sub(element, "BookgDt"), "Dt", entry.booking_date.isoformat())
    iso.sub(iso.sub(element, "ValDt"), "Dt", entry.value_date.isoformat())
    iso.sub(element, "AcctSvcrRef", entry.entry_id)
    code = iso.sub(iso.sub(element, "BkTxCd"), "Prtry")
    iso.sub(code, "Cd", iso.max_text(entry.kind, 35))
    iso.sub(code, "Issr", iso.max_text(bank.name, 35))
    details = iso.sub(iso.sub(element, "NtryDtls"), "TxDtls")
    references = iso.sub(details, "Refs")
    iso.sub(references, "AcctSvcrRef", entry.entry_id)
    iso.sub(references, "EndToEndId", iso.max_text(entry.reference or "NOTPROVIDED", 35))
    if entry.counterparty_name or entry.counterparty_account:
        parties = iso.sub(details, "RltdPties")
        party_tag, account_tag = ("Dbtr", "DbtrAcct") if entry.is_credit else ("Cdtr", "CdtrAcct")
        if entry.counterparty_name:
            party = iso.sub(iso.sub(parties, party_tag), "Pty")
            iso.sub(party, "Nm", iso.max_text(entry.counterparty_name, 140))
        if entry.counterparty_account:
            _camt_account(parties, account_tag, entry.counterparty_account)
    if entry.description:
        iso.sub(iso.sub(details, "RmtInf"), "Ustrd", iso.max_text(entry.description, 140))


def render_camt053(statement: Statement, *, bank: BankIdentity) -> bytes:
    """The statement as ``camt.053.001.08`` XML, validated against the official schema."""
    root = iso.document(iso.CAMT053)
    message = iso.sub(root, "BkToCstmrStmt")
    header = iso.sub(message, "GrpHdr")
    iso.sub(header, "MsgId", statement.statement_id)
    iso.sub(header, "CreDtTm", iso.datetime_text(statement.created_at))
    body = iso.sub(message, "Stmt")
    iso.sub(body, "Id", statement.statement_id)
    iso.sub(body, "CreDtTm", iso.datetime_text(statement.created_at))
    period = iso.sub(body, "FrToDt")
    start, end = _period_bounds(statement)
    iso.sub(period, "FrDtTm", iso.datetime_text(start))
    iso.sub(period, "ToDtTm", iso.datetime_text(end))
    account = _camt_account(body, "Acct", statement.account.number)
    iso.sub(account, "Ccy", statement.account.currency)
    if statement.account.name:
        iso.sub(account, "Nm", iso.max_text(statement.account.name, 70))
    iso.sub(iso.sub(account, "Ownr"), "Nm", iso.max_text(statement.account.owner_name, 140))
    iso.sub(iso.sub(iso.sub(account, "Svcr"), "FinInstnId"), "BICFI", bank.bic)
    _camt_balance(body, "OPBD", statement.opening_balance, statement.period_start)
    _camt_balance(body, "CLBD", statement.closing_balance, statement.period_end)
    _camt_summary(body, statement)
    for entry in statement.entries:
        _camt_entry(body, entry, bank)
    return iso.serialise(root, message=iso.CAMT053)


# ---------------------------------------------------------------- CSV


def _safe_cell(text: str) -> str:
    """Quote text a spreadsheet would otherwise evaluate as a formula (CSV injection)."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _major(amount: Money) -> str:
    return format(amount.to_decimal(), "f")


def _csv_header() -> list[str]:
    return [
        _("Booking date"),
        _("Value date"),
        _("Entry"),
        _("Description"),
        _("Counterparty"),
        _("Counterparty account"),
        _("Reference"),
        _("Debit"),
        _("Credit"),
        _("Balance"),
        _("Currency"),
    ]


def render_csv(statement: Statement, *, language: str = "en") -> bytes:
    """The statement as UTF-8 CSV with a BOM: opening row, one row per entry, closing row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    currency = statement.account.currency
    with translation.override(language):
        writer.writerow(_csv_header())
        opening = [statement.period_start.isoformat(), "", "", _("Opening balance")]
        writer.writerow([*opening, "", "", "", "", "", _major(statement.opening_balance), currency])
        for line in statement.lines():
            entry = line.entry
            debit = "" if entry.is_credit else _major(entry.amount)
            credit = _major(entry.amount) if entry.is_credit else ""
            writer.writerow(
                [
                    entry.booking_date.isoformat(),
                    entry.value_date.isoformat(),
                    entry.entry_id,
                    _safe_cell(entry.description),
                    _safe_cell(entry.counterparty_name),
                    entry.counterparty_account,
                    _safe_cell(entry.reference),
                    debit,
                    credit,
                    _major(line.balance),
                    currency,
                ]
            )
        closing = [statement.period_end.isoformat(), "", "", _("Closing balance")]
        writer.writerow([*closing, "", "", "", "", "", _major(statement.closing_balance), currency])
    return (CSV_BOM + buffer.getvalue()).encode("utf-8")


# ---------------------------------------------------------------- PDF


def _pdf_styles() -> dict[str, ParagraphStyle]:
    registerFont(UnicodeCIDFont(CJK_FONT))
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontName=CJK_FONT, fontSize=16),
        "text": ParagraphStyle("text", parent=base["Normal"], fontName=CJK_FONT, fontSize=9),
        "cell": ParagraphStyle("cell", parent=base["Normal"], fontName=CJK_FONT, fontSize=7.5),
    }


def _pdf_summary(statement: Statement, bank: BankIdentity, locale: str) -> list[list[str]]:
    return [
        [_("Bank"), bank.name],
        [_("Account holder"), statement.account.owner_name],
        [_("Account number"), format_account_number(statement.account.number)],
        [_("Currency"), statement.account.currency],
        [_("Period"), f"{statement.period_start.isoformat()} – {statement.period_end.isoformat()}"],
        [_("Opening balance"), statement.opening_balance.format(locale)],
        [
            _("Credits"),
            f"{statement.total_credits.format(locale)} ({statement.credit_count})",
        ],
        [_("Debits"), f"{statement.total_debits.format(locale)} ({statement.debit_count})"],
        [_("Closing balance"), statement.closing_balance.format(locale)],
    ]


def _pdf_entries(
    statement: Statement, styles: dict[str, ParagraphStyle], locale: str
) -> list[list[object]]:
    rows: list[list[object]] = [
        [
            _("Booking date"),
            _("Description"),
            _("Counterparty"),
            _("Debit"),
            _("Credit"),
            _("Balance"),
        ]
    ]
    for line in statement.lines():
        entry = line.entry
        amount = entry.amount.format(locale)
        rows.append(
            [
                entry.booking_date.isoformat(),
                Paragraph(escape(entry.description), styles["cell"]),
                Paragraph(escape(entry.counterparty_name), styles["cell"]),
                "" if entry.is_credit else amount,
                amount if entry.is_credit else "",
                line.balance.format(locale),
            ]
        )
    return rows


def _pdf_footer(canvas: Canvas, document: SimpleDocTemplate) -> None:
    canvas.saveState()
    canvas.setFont(CJK_FONT, 7)
    canvas.drawRightString(document.pagesize[0] - 15 * mm, 10 * mm, str(canvas.getPageNumber()))
    canvas.restoreState()


def render_pdf(statement: Statement, *, bank: BankIdentity, language: str = "en") -> bytes:
    """The statement as an A4 PDF; Chinese text uses reportlab's built-in CID font."""
    buffer = io.BytesIO()
    with translation.override(language):
        styles = _pdf_styles()
        document = SimpleDocTemplate(
            buffer,
            pagesize=A4,
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=15 * mm,
            bottomMargin=18 * mm,
            title=_("Account statement"),
            author=bank.name,
            invariant=True,
        )
        grid = TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), CJK_FONT, 7.5),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                ("ALIGN", (3, 1), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
        summary = Table(_pdf_summary(statement, bank, language), hAlign="LEFT")
        summary.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), CJK_FONT, 9)]))
        widths = [22 * mm, 58 * mm, 35 * mm, 22 * mm, 22 * mm, 21 * mm]
        entries = Table(_pdf_entries(statement, styles, language), colWidths=widths, repeatRows=1)
        entries.setStyle(grid)
        story = [
            Paragraph(escape(_("Account statement")), styles["title"]),
            summary,
            Spacer(1, 6 * mm),
            entries
            if statement.entries
            else Paragraph(escape(_("No entries in this period.")), styles["text"]),
        ]
        document.build(story, onFirstPage=_pdf_footer, onLaterPages=_pdf_footer)
    return buffer.getvalue()


def render(
    statement: Statement, statement_format: str, *, bank: BankIdentity, language: str = "en"
) -> bytes:
    """Render in ``camt053``, ``csv`` or ``pdf``; any other format is a ``StatementInvalid``."""
    if statement_format == "camt053":
        return render_camt053(statement, bank=bank)
    if statement_format == "csv":
        return render_csv(statement, language=language)
    if statement_format == "pdf":
        return render_pdf(statement, bank=bank, language=language)
    message = f"The format must be one of {', '.join(FORMATS)}."
    raise StatementInvalid(message, errors=[FieldError("format", message)])

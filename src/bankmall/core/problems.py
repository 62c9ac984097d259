"""RFC 9457 problem details: one renderer for the API, Django's error handlers and tests."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any, Final

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from bankmall.core.errors import BankmallError, FieldError, InternalError, problem_slug

PROBLEM_CONTENT_TYPE: Final = "application/problem+json"
logger = logging.getLogger(__name__)


def problem_type_uri(request: HttpRequest | None, code: str) -> str:
    """The absolute URI of the page that documents ``code`` (``…/problems/insufficient-funds``)."""
    path = f"/problems/{problem_slug(code)}"
    if settings.PROBLEM_BASE_URL:
        return settings.PROBLEM_BASE_URL.rstrip("/") + path
    if request is None:
        return path
    return request.build_absolute_uri(path)


def problem_body(request: HttpRequest | None, error: BankmallError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": problem_type_uri(request, error.code),
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
    }
    if error.errors:
        body["errors"] = [{"field": item.field, "message": item.message} for item in error.errors]
    request_id = getattr(request, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    for key, value in error.extra.items():
        body.setdefault(key, value)
    return body


def problem_response(
    request: HttpRequest | None,
    error: BankmallError,
    *,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    """Render ``error`` as ``application/problem+json`` with its status."""
    response = HttpResponse(
        json.dumps(problem_body(request, error), ensure_ascii=False),
        status=error.status,
        content_type=PROBLEM_CONTENT_TYPE,
        headers=dict(headers or {}),
    )
    if error.status == HTTPStatus.UNAUTHORIZED:
        response.setdefault("WWW-Authenticate", 'Bearer realm="bankmall"')
    return response


#: pydantic's messages by error type, in the request's language (pydantic's own are English
#: only); ``%(name)s`` takes the error's context. A type not listed keeps pydantic's message,
#: and a custom error (such as ``core.text``'s ``control_characters``) its own, translated one.
_PYDANTIC_MESSAGES: Final[dict[str, Promise]] = {
    "missing": _("This field is required."),
    "extra_forbidden": _("This field is not expected here."),
    "string_type": _("Enter text."),
    "string_unicode": _("This contains a character that is not allowed."),
    "string_too_short": _("Enter at least %(min_length)s characters."),
    "string_too_long": _("Enter at most %(max_length)s characters."),
    "string_pattern_mismatch": _("Enter a value in the expected format."),
    "int_type": _("Enter a whole number."),
    "int_parsing": _("Enter a whole number."),
    "int_from_float": _("Enter a whole number."),
    "float_type": _("Enter a number."),
    "float_parsing": _("Enter a number."),
    "decimal_type": _("Enter a number."),
    "decimal_parsing": _("Enter a number."),
    "bool_type": _("Enter true or false."),
    "bool_parsing": _("Enter true or false."),
    "greater_than": _("Enter a value greater than %(gt)s."),
    "greater_than_equal": _("Enter a value of at least %(ge)s."),
    "less_than": _("Enter a value less than %(lt)s."),
    "less_than_equal": _("Enter a value of at most %(le)s."),
    "too_short": _("Give at least %(min_length)s items."),
    "too_long": _("Give at most %(max_length)s items."),
    "enum": _("Choose one of %(expected)s."),
    "literal_error": _("Choose one of %(expected)s."),
    "date_type": _("Enter a date (YYYY-MM-DD)."),
    "date_parsing": _("Enter a date (YYYY-MM-DD)."),
    "date_from_datetime_parsing": _("Enter a date (YYYY-MM-DD)."),
    "datetime_type": _("Enter a date and time (ISO 8601, e.g. 2026-11-28T09:30:00+08:00)."),
    "datetime_parsing": _("Enter a date and time (ISO 8601, e.g. 2026-11-28T09:30:00+08:00)."),
    "datetime_from_date_parsing": _(
        "Enter a date and time (ISO 8601, e.g. 2026-11-28T09:30:00+08:00)."
    ),
    "uuid_type": _("Enter a UUID."),
    "uuid_parsing": _("Enter a UUID."),
    "list_type": _("Enter a list."),
    "dict_type": _("Enter an object."),
    "model_type": _("Enter an object."),
    "model_attributes_type": _("Enter an object."),
    "json_invalid": _("The request body is not valid JSON."),
}


def _pydantic_message(item: Mapping[str, Any]) -> str:
    """``item``'s message in the request's language (``_PYDANTIC_MESSAGES``)."""
    kind = str(item.get("type", ""))
    context = item.get("ctx") or {}
    if kind == "value_error" and context.get("error") is not None:
        # A validator's own ValueError, translated where it was raised: without pydantic's
        # English "Value error, " in front of it.
        return str(context["error"])
    message = _PYDANTIC_MESSAGES.get(kind)
    if message is None:
        return str(item.get("msg", "Invalid value"))
    try:
        return str(message) % {key: str(value) for key, value in context.items()}
    except (KeyError, TypeError, ValueError):  # A context without the name the text uses.
        return str(item.get("msg", "Invalid value"))


def field_errors_from_pydantic(items: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """Turn Ninja/pydantic error dicts into ``FieldError`` with dotted field paths and messages
    in the request's language.

    The location's first element is where the value came from (``body``, ``query``, ``path``,
    ``header``); for a body, the second is the Python parameter name, which clients never see.
    """
    errors = []
    for item in items:
        location = [str(part) for part in item.get("loc", ())]
        if location and location[0] == "body":
            location = location[2:] if len(location) > 1 else []
        elif location:
            location = location[1:]
        errors.append(
            FieldError(field=".".join(location) or "body", message=_pydantic_message(item))
        )
    return errors


def internal_error_response(request: HttpRequest | None, exc: BaseException) -> HttpResponse:
    """Log a bug with its traceback and answer 500 without internal details."""
    logger.error("unhandled error", exc_info=exc)
    return problem_response(
        request, InternalError("The server failed to complete the request; it has been logged.")
    )

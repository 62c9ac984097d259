"""RFC 9457 problem details: one renderer for the API, Django's error handlers and tests."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any, Final

from django.conf import settings
from django.http import HttpRequest, HttpResponse

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


def field_errors_from_pydantic(items: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """Turn Ninja/pydantic error dicts into ``FieldError`` with dotted field paths.

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
        message = str(item.get("msg", "Invalid value"))
        errors.append(FieldError(field=".".join(location) or "body", message=message))
    return errors


def internal_error_response(request: HttpRequest | None, exc: BaseException) -> HttpResponse:
    """Log a bug with its traceback and answer 500 without internal details."""
    logger.error("unhandled error", exc_info=exc)
    return problem_response(
        request, InternalError("The server failed to complete the request; it has been logged.")
    )

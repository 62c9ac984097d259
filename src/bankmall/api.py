"""The HTTP API at /api/v1/: one NinjaAPI, every app's router, problem+json for every error."""

from __future__ import annotations

import math
from http import HTTPStatus
from typing import Any, Final

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError
from ninja.errors import AuthorizationError as NinjaAuthorizationError
from ninja.openapi.schema import OpenAPISchema
from ninja.throttling import AnonRateThrottle, AuthRateThrottle

from bankmall.banking.api import router as banking_router
from bankmall.core import errors
from bankmall.core.api import router as core_router
from bankmall.core.problems import (
    PROBLEM_CONTENT_TYPE,
    field_errors_from_pydantic,
    internal_error_response,
    problem_response,
)
from bankmall.core.schemas import ProblemSchema
from bankmall.core.text import JSON_PATTERNS, TextKind
from bankmall.security.api import router as security_router


class BankmallAPI(NinjaAPI):
    """NinjaAPI whose OpenAPI document tells the truth about errors.

    Every error response is served as ``application/problem+json``; every operation that takes
    input documents the ``422`` it answers when that input is invalid; every string path and
    query parameter carries the single-line pattern ``core.middleware.TextGuardMiddleware``
    holds it to.
    """

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        document = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = document.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("ProblemSchema", _problem_component(components))
        for path_item in document.get("paths", {}).values():
            for operation in path_item.values():
                _document_problems(operation)
                _document_text_rule(operation)
        return document


def _problem_component(components: dict[str, Any]) -> dict[str, Any]:
    schema = ProblemSchema.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    return schema


_PROBLEM_REF: Final = {"$ref": "#/components/schemas/ProblemSchema"}


def _document_text_rule(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") not in {"path", "query"}:
            continue
        schema = parameter.get("schema", {})
        for candidate in [schema, *schema.get("anyOf", [])]:
            is_free_text = candidate.get("type") == "string" and not (
                {"enum", "format", "pattern"} & set(candidate)
            )
            if is_free_text:
                candidate["pattern"] = JSON_PATTERNS[TextKind.SINGLE_LINE]


def _document_problems(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
    statuses = {str(status) for status in responses}
    if takes_input and str(HTTPStatus.UNPROCESSABLE_ENTITY.value) not in statuses:
        responses[HTTPStatus.UNPROCESSABLE_ENTITY.value] = {
            "description": "The request is not valid"
        }
    for status, response in responses.items():
        if not str(status).isdigit() or int(status) < HTTPStatus.BAD_REQUEST:
            continue
        content = response.pop("content", {})
        schema = content.get("application/json", {}).get("schema", _PROBLEM_REF)
        response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": schema}}


api = BankmallAPI(
    title="bankmall API",
    version=settings.VERSION,
    description=(
        "The bankmall HTTP API. Money is `{amount, currency}` in integer minor units; errors are "
        "RFC 9457 problem details with a stable `code` (listed at `/problems/`); lists are "
        "cursor-paginated; money-moving POSTs require an `Idempotency-Key` header."
    ),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
    throttle=[
        AnonRateThrottle(settings.API_RATE_ANONYMOUS),
        AuthRateThrottle(settings.API_RATE_AUTHENTICATED),
    ],
)
api.add_router("/", core_router)
api.add_router("/", security_router)
api.add_router("/", banking_router)


def install_problem_handlers(target: NinjaAPI) -> None:
    """Make every error raised under ``target`` an RFC 9457 problem+json response."""
    # Ninja's stub types the handler's exception as "instance or class"; ours take instances.
    target.add_exception_handler(errors.BankmallError, _domain_error)  # type: ignore[arg-type]
    target.add_exception_handler(ValidationError, _validation_error)  # type: ignore[arg-type]
    target.add_exception_handler(Http404, _not_found)  # type: ignore[arg-type]
    target.add_exception_handler(HttpError, _http_error)  # type: ignore[arg-type]
    target.add_exception_handler(Exception, _unexpected)  # type: ignore[arg-type]


def _domain_error(request: HttpRequest, exc: errors.BankmallError) -> HttpResponse:
    if exc.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return internal_error_response(request, exc)
    return problem_response(request, exc)


def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    field_errors = field_errors_from_pydantic(exc.errors)
    return problem_response(
        request,
        errors.InvalidInput(
            "; ".join(f"{item.field}: {item.message}" for item in field_errors) or None,
            errors=field_errors,
        ),
    )


def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem_response(request, errors.NotFound())


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    error: errors.BankmallError
    headers: dict[str, str] = {}
    if isinstance(exc, AuthenticationError) or exc.status_code == HTTPStatus.UNAUTHORIZED:
        error = errors.AuthenticationRequired()
    elif isinstance(exc, NinjaAuthorizationError) or exc.status_code == HTTPStatus.FORBIDDEN:
        error = errors.PermissionDenied()
    elif isinstance(exc, Throttled) or exc.status_code == HTTPStatus.TOO_MANY_REQUESTS:
        error = errors.RateLimited()
        wait = getattr(exc, "wait", None)
        headers["Retry-After"] = str(max(1, math.ceil(wait or 1)))
    elif exc.status_code == HTTPStatus.NOT_FOUND:
        error = errors.NotFound()
    elif exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        error = errors.MethodNotAllowed()
    elif exc.status_code < HTTPStatus.INTERNAL_SERVER_ERROR:
        error = errors.MalformedRequest(str(exc.message))
    else:
        return internal_error_response(request, exc)
    return problem_response(request, error, headers=headers)


def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    return internal_error_response(request, exc)


install_problem_handlers(api)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document as served at /api/v1/openapi.json."""
    return dict(api.get_openapi_schema(path_prefix="/api/v1/"))

"""Request-wide middleware: request ids with audit context, security headers, problem+json
under /api/, and the text guard on path and query parameters."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Final

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.ipv6 import clean_ipv6_address
from django.utils.translation import gettext

from bankmall.core import errors
from bankmall.core.audit import audit_context
from bankmall.core.problems import PROBLEM_CONTENT_TYPE, problem_response
from bankmall.core.text import refusal_message, request_parameter_problems

_REQUEST_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")

_POLICY_HEAD: Final = ["default-src 'self'", "script-src 'self'"]
_POLICY_TAIL: Final = [
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
]
CONTENT_SECURITY_POLICY: Final = "; ".join([*_POLICY_HEAD, "style-src 'self'", *_POLICY_TAIL])
# Swagger UI sets inline style attributes; its page alone may use inline styles (never scripts).
DOCS_CONTENT_SECURITY_POLICY: Final = "; ".join(
    [*_POLICY_HEAD, "style-src 'self' 'unsafe-inline'", *_POLICY_TAIL]
)
DOCS_PATH: Final = "/api/v1/docs"


def _client_ip(request: HttpRequest) -> str | None:
    address = request.META.get("REMOTE_ADDR") or None
    if address and ":" in address:
        return clean_ipv6_address(address)
    return address


def _actor_of(request: HttpRequest) -> Callable[[], str]:
    def resolve() -> str:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}"
        return "anonymous"

    return resolve


class RequestIdMiddleware:
    """Give every request an id (kept from a well-formed ``X-Request-ID``) and audit context."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_PATTERN.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        with audit_context(
            actor=_actor_of(request), request_id=request_id, ip_address=_client_ip(request)
        ):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class SecurityHeadersMiddleware:
    """A strict Content-Security-Policy (no inline scripts) and related headers on every page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = (
            DOCS_CONTENT_SECURITY_POLICY if request.path == DOCS_PATH else CONTENT_SECURITY_POLICY
        )
        response.setdefault("Content-Security-Policy", policy)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


_STATUS_PROBLEMS: Final[dict[int, type[errors.BankmallError]]] = {
    400: errors.MalformedRequest,
    401: errors.AuthenticationRequired,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    429: errors.RateLimited,
}


class ApiProblemMiddleware:
    """Under ``/api/``, turn any error response not already problem+json into one.

    Django and Ninja answer some failures before our handlers run (a method the route does
    not allow, a CSRF failure); clients must still get the documented problem format.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/api/") or response.status_code < 400:  # noqa: PLR2004
            return response
        if response.get("Content-Type", "").startswith(PROBLEM_CONTENT_TYPE):
            return response
        problem = _STATUS_PROBLEMS.get(response.status_code, errors.InternalError)
        replacement = problem_response(request, problem())
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replacement[header] = response[header]
        return replacement


class TextGuardMiddleware:
    """Refuse a request whose path or query parameters hold a control character (NUL above
    all, which PostgreSQL cannot take: a lookup by such an id would answer 500).

    Runs before the view (``process_view``, so path parameters are known by name): under
    ``/api/`` it answers 422 problem+json naming each refused parameter, elsewhere a 400 page
    that says why. Every route, including one added later and the Django admin's, is covered.
    The rule is ``core.text``'s single-line rule.

    Under ``/api/`` a query parameter given more than once is refused too (422): no API
    parameter is a list, and Django would silently keep the last value.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: tuple[object, ...],
        view_kwargs: dict[str, object],
    ) -> HttpResponse | None:
        problems = request_parameter_problems(view_kwargs, request.GET)
        is_api = request.path.startswith("/api/")
        if is_api:
            problems += [
                errors.FieldError(name, gettext("Give this parameter once."))
                for name, values in request.GET.lists()
                if len(values) > 1 and not any(item.field == name for item in problems)
            ]
        if not problems:
            return None
        if is_api:
            detail = "; ".join(f"{item.field}: {item.message}" for item in problems)
            return problem_response(request, errors.InvalidInput(detail, errors=problems))
        context = {"status": 400, "message": refusal_message()}
        return render(request, "web/error.html", context, status=400)

"""Who may do what: the default-deny helpers every page and API operation uses.

Pages: ``staff_view(permission)`` for the back office, ``principal_view(*kinds)`` for the net
bank, the merchant portal and other signed-in pages. API operations: ``api_auth`` resolves the
caller (bearer token or verified session), ``staff_operation(permission)`` and
``principal_operation(*kinds)`` check it. A view without one of these is a bug that the
authorisation matrix test reports.

Answers: no (or an unverified) sign-in → the login page (pages) or 401 (API); signed in but
the wrong kind or missing permission → 403. Another party's object → 404 (``access_*`` helpers
in each app).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from ninja.security import APIKeyCookie, HttpBearer

from bankmall.core.errors import AuthenticationRequired, PermissionDenied
from bankmall.security.models import User, UserKind

P = ParamSpec("P")
R = TypeVar("R")
STAFF_BASE_PERMISSION = "security.access_backoffice"


def is_fully_signed_in(user: Any) -> bool:
    """True for an active user whose sign-in passed every factor their kind requires."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.kind in settings.TOTP_REQUIRED_KINDS:
        is_verified = getattr(user, "is_verified", None)
        return bool(is_verified and is_verified())
    return True


def may_use_staff_permission(user: User, permission: str) -> bool:
    return (
        user.kind == UserKind.STAFF
        and user.has_perm(STAFF_BASE_PERMISSION)
        and user.has_perm(permission)
    )


ViewFunction = Callable[Concatenate[HttpRequest, P], HttpResponseBase]


def staff_view(permission: str) -> Callable[[ViewFunction[P]], ViewFunction[P]]:
    """Allow a back-office page only to verified staff holding ``permission``."""

    def decorate(view: ViewFunction[P]) -> ViewFunction[P]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            if not is_fully_signed_in(request.user):
                return redirect_to_login(request.get_full_path())
            if not may_use_staff_permission(request.user, permission):  # type: ignore[arg-type]
                raise DjangoPermissionDenied(permission)
            return view(request, *args, **kwargs)

        wrapper.access_rule = f"staff:{permission}"  # type: ignore[attr-defined]
        return cast("ViewFunction[P]", wrapper)

    return decorate


def merchant_view(permission: str) -> Callable[[ViewFunction[P]], ViewFunction[P]]:
    """Allow a merchant-portal page only to verified merchant users whose role holds
    ``permission`` (``security.merchant_operate`` …). The page still checks that the object
    belongs to the user's own merchant (404 otherwise)."""

    def decorate(view: ViewFunction[P]) -> ViewFunction[P]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            if not is_fully_signed_in(request.user):
                return redirect_to_login(request.get_full_path())
            user: User = request.user  # type: ignore[assignment]
            if user.kind != UserKind.MERCHANT or not user.has_perm(permission):
                raise DjangoPermissionDenied(permission)
            return view(request, *args, **kwargs)

        wrapper.access_rule = f"merchant:{permission}"  # type: ignore[attr-defined]
        return cast("ViewFunction[P]", wrapper)

    return decorate


def principal_view(*kinds: str) -> Callable[[ViewFunction[P]], ViewFunction[P]]:
    """Allow a page only to fully signed-in principals of the given kinds (any if none)."""

    def decorate(view: ViewFunction[P]) -> ViewFunction[P]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            if not is_fully_signed_in(request.user):
                return redirect_to_login(request.get_full_path())
            if kinds and request.user.kind not in kinds:  # type: ignore[union-attr]
                raise DjangoPermissionDenied("kind")
            return view(request, *args, **kwargs)

        wrapper.access_rule = "principal:" + ",".join(kinds or ("any",))  # type: ignore[attr-defined]
        return cast("ViewFunction[P]", wrapper)

    return decorate


def public_view(view: Callable[P, R]) -> Callable[P, R]:
    """Mark a page as open to everyone (the matrix test still checks it)."""
    view.access_rule = "public"  # type: ignore[attr-defined]
    return view


# ------------------------------------------------------------------ API


class BearerTokenAuth(HttpBearer):
    """``Authorization: Bearer <access token>`` from ``/api/v1/auth/token``."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        from bankmall.security.tokens import user_for_access_token  # noqa: PLC0415

        return user_for_access_token(request, token)


class VerifiedSessionAuth(APIKeyCookie):
    """The browser's session, when fully signed in; CSRF-checked like any cookie auth."""

    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user = request.user
        if is_fully_signed_in(user):
            return user  # type: ignore[return-value]
        return None


api_auth = [BearerTokenAuth(), VerifiedSessionAuth()]


def _api_user(request: HttpRequest) -> User:
    user = getattr(request, "auth", None)
    if not isinstance(user, User):
        raise AuthenticationRequired()
    return user


def _keep_signature(wrapper: Callable[..., Any], operation: Callable[..., Any]) -> None:
    # Ninja resolves string annotations in the wrapper's module, not the operation's: hand it
    # the operation's signature with the annotations already evaluated.
    wrapper.__signature__ = inspect.signature(operation, eval_str=True)  # type: ignore[attr-defined]


def principal_operation(*kinds: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Allow an API operation (with ``auth=api_auth``) to principals of ``kinds`` only."""

    def decorate(operation: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(operation)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            user = _api_user(args[0])  # type: ignore[arg-type]
            if kinds and user.kind not in kinds:
                raise PermissionDenied()
            return operation(*args, **kwargs)

        _keep_signature(wrapper, operation)

        wrapper.access_rule = "principal:" + ",".join(kinds or ("any",))  # type: ignore[attr-defined]
        return wrapper

    return decorate


def staff_operation(permission: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Allow an API operation (with ``auth=api_auth``) only to staff holding ``permission``."""

    def decorate(operation: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(operation)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            user = _api_user(args[0])  # type: ignore[arg-type]
            if not may_use_staff_permission(user, permission):
                raise PermissionDenied()
            return operation(*args, **kwargs)

        _keep_signature(wrapper, operation)

        wrapper.access_rule = f"staff:{permission}"  # type: ignore[attr-defined]
        return wrapper

    return decorate


def acting_user(request: HttpRequest) -> User:
    """The user a request acts for, after ``api_auth`` or one of the page decorators."""
    user = getattr(request, "auth", None) or request.user
    assert isinstance(user, User), "acting_user called on a view without access checks"
    return user

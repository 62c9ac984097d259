"""Template context every page gets."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from bankmall.security.access import is_fully_signed_in
from bankmall.security.middleware import idle_limit_seconds


def site(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    signed_in = is_fully_signed_in(user)
    return {
        "bankmall_version": settings.VERSION,
        "bankmall_is_production": settings.IS_PRODUCTION,
        # The idle-timeout warning (web/session.js) runs on pages of signed-in users only.
        "session_idle_seconds": idle_limit_seconds(user.kind) if signed_in else None,  # type: ignore[union-attr]
        "session_warning_seconds": settings.SESSION_TIMEOUT_WARNING_SECONDS,
    }

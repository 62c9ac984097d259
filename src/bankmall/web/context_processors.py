"""Template context every page gets."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, object]:
    return {
        "bankmall_version": settings.VERSION,
        "bankmall_is_production": settings.IS_PRODUCTION,
    }

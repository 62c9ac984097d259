"""Idle timeout: a signed-in session unused for longer than its kind allows is ended.

Every request of a signed-in user counts as activity, except the session-status poll of the
timeout warning (``PASSIVE_PATH_NAMES``): asking how long is left must not extend the session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Final

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from bankmall.security.actions import LAST_ACTIVITY_SESSION_KEY, sign_out
from bankmall.security.models import LoginEvent, User, UserSession

TIMED_OUT_SESSION_KEY: Final = "security.timed_out"
LAST_SEEN_RESOLUTION: Final = dt.timedelta(minutes=1)
PASSIVE_PATH_NAMES: Final = ("security-session-status",)


def idle_limit_seconds(kind: str) -> int:
    """How long a session of this kind of principal may stay unused."""
    limits: dict[str, int] = settings.SESSION_IDLE_SECONDS
    return limits.get(kind, min(limits.values()))


def idle_seconds_left(request: HttpRequest, user: User) -> float:
    """Seconds until this signed-in session times out (at most the kind's limit)."""
    last = request.session.get(LAST_ACTIVITY_SESSION_KEY)
    limit = idle_limit_seconds(user.kind)
    if last is None:
        return float(limit)
    return max(0.0, limit - (timezone.now().timestamp() - float(last)))


class IdleTimeoutMiddleware:
    """Sign out a session idle longer than ``SESSION_IDLE_SECONDS[kind]``; else note activity.

    The session row's ``last_seen_at`` is written at most once a minute, so a busy page does
    not write on every request.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if isinstance(user, User) and user.is_authenticated:
            self._check(request, user)
        return self.get_response(request)

    def _check(self, request: HttpRequest, user: User) -> None:
        now = timezone.now()
        if idle_seconds_left(request, user) <= 0:
            sign_out(request, outcome=LoginEvent.Outcome.TIMED_OUT)
            request.session[TIMED_OUT_SESSION_KEY] = True
            return
        if request.path in {reverse(name) for name in PASSIVE_PATH_NAMES}:
            return
        request.session[LAST_ACTIVITY_SESSION_KEY] = now.timestamp()
        UserSession.objects.filter(
            session_key=request.session.session_key,
            ended_at__isnull=True,
            last_seen_at__lt=now - LAST_SEEN_RESOLUTION,
        ).update(last_seen_at=now)

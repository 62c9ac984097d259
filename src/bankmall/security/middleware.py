"""Idle timeout: a signed-in session unused for longer than its kind allows is ended."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Final

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from bankmall.security.actions import LAST_ACTIVITY_SESSION_KEY, sign_out
from bankmall.security.models import LoginEvent, User, UserSession

TIMED_OUT_SESSION_KEY: Final = "security.timed_out"
LAST_SEEN_RESOLUTION: Final = dt.timedelta(minutes=1)


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
        last = request.session.get(LAST_ACTIVITY_SESSION_KEY)
        limit = settings.SESSION_IDLE_SECONDS.get(
            user.kind, min(settings.SESSION_IDLE_SECONDS.values())
        )
        if last is not None and now.timestamp() - float(last) > limit:
            sign_out(request, outcome=LoginEvent.Outcome.TIMED_OUT)
            request.session[TIMED_OUT_SESSION_KEY] = True
            return
        request.session[LAST_ACTIVITY_SESSION_KEY] = now.timestamp()
        UserSession.objects.filter(
            session_key=request.session.session_key,
            ended_at__isnull=True,
            last_seen_at__lt=now - LAST_SEEN_RESOLUTION,
        ).update(last_seen_at=now)

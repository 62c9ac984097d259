"""Logging filters."""

from __future__ import annotations

import logging
from http import HTTPStatus


class QuietPermissionDenied(logging.Filter):
    """``django.request`` logs a refused request (403) with the exception's traceback.

    A refusal is an expected answer, not a fault: keep one WARNING line naming the path and
    the request id (the ``X-Request-ID`` the client saw), without the traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) != HTTPStatus.FORBIDDEN:
            return True
        request = getattr(record, "request", None)
        path = getattr(request, "path", "?")
        request_id = getattr(request, "request_id", "-")
        record.msg = "Forbidden: %s (request %s)"
        record.args = (path, request_id)
        record.levelno = logging.WARNING
        record.levelname = logging.getLevelName(logging.WARNING)
        record.exc_info = None
        record.exc_text = None
        return True

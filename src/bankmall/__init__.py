"""bankmall: a commercial bank's own e-commerce system."""

from __future__ import annotations

# Load the Celery application with Django, so that tasks queued from any process (app server,
# shell, command) go to the configured broker rather than Celery's built-in default.
from bankmall.jobs import app as celery_app

__all__ = ["celery_app"]

"""The Celery application: background and scheduled jobs.

The broker comes from ``CELERY_BROKER_URL`` (RabbitMQ ``amqp://…`` or Redis ``redis://…`` in
production). Without it, an embedded broker keeps the queue as files in the data directory, so
the demo runs jobs with no extra server. ``bankmall worker --beat`` runs a worker and the
schedule. A worker sets its long-lived objects aside from the garbage collector once it is
ready (``core.heap``), as ``bankmall serve``'s workers do.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bankmall.settings")

app = Celery("bankmall")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _freeze_when_ready(**_kwargs: Any) -> None:
    from bankmall.core.heap import freeze_long_lived  # noqa: PLC0415

    freeze_long_lived()

"""The Celery application: background and scheduled jobs.

The broker comes from ``CELERY_BROKER_URL`` (RabbitMQ ``amqp://…`` or Redis ``redis://…`` in
production). Without it, an embedded broker keeps the queue as files in the data directory, so
the demo runs jobs with no extra server. ``bankmall worker --beat`` runs a worker and the
schedule.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bankmall.settings")

app = Celery("bankmall")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

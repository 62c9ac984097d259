"""The Celery application: background and scheduled jobs.

The broker comes from ``CELERY_BROKER_URL`` (RabbitMQ ``amqp://…`` or Redis ``redis://…`` in
production). Without it, an embedded broker keeps the queue as files in the data directory, so
the demo runs jobs with no extra server. ``bankmall worker --beat`` runs a worker and the
schedule. A worker sets its long-lived objects aside from the garbage collector once it is
ready (``core.heap``), as ``bankmall serve``'s workers do.

Celery runs the embedded schedule (``--beat``) in a child process and, on shutdown, only signals
it, so a worker could exit while its schedule was still writing its state. ``stop_children``
waits for it, so a stopped worker leaves no process behind.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from typing import Any

from billiard.process import active_children
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


def stop_children(timeout: float) -> int:
    """Wait about ``timeout`` seconds in all for this process's children to end, then kill the rest.

    Returns how many had to be killed. The worker's embedded schedule is such a child: Celery
    sends it SIGTERM when the worker stops but does not wait for it.
    """
    deadline = time.monotonic() + timeout
    killed = 0
    for child in active_children():
        child.join(math.ceil(max(0.0, deadline - time.monotonic())))  # Whole seconds, as typed.
        if child.is_alive() and child.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGKILL)  # billiard's processes have no kill().
            child.join()
            killed += 1
    return killed

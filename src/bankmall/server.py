"""Run the WSGI application under gunicorn from inside the ``bankmall`` command."""

from __future__ import annotations

import os
from typing import Any

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """The application, loaded in each worker process with everything it keeps: the
        URL configuration and the views it names (which Django would otherwise import on the
        first request), then the process's long-lived objects are frozen (``core.heap``)."""
        from django.urls import get_resolver  # noqa: PLC0415

        from bankmall.core.heap import freeze_long_lived  # noqa: PLC0415
        from bankmall.wsgi import application  # noqa: PLC0415

        get_resolver().url_patterns  # noqa: B018 (imports every view module)
        freeze_long_lived()
        return application


def run_server(*, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until SIGINT or SIGTERM; gunicorn finishes in-flight requests before exiting."""
    server = _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "graceful_timeout": 10,
            "timeout": 60,
            "accesslog": "-",
            "errorlog": "-",
            "loglevel": "info",
            "proc_name": "bankmall",
        }
    )
    master_pid = os.getpid()
    try:
        server.run()
    except SystemExit as stop:
        # Gunicorn's arbiter ends with sys.exit(); a clean stop of the master returns to the
        # caller. Forked worker processes exit the same way and must really exit.
        if os.getpid() != master_pid or stop.code not in {0, None}:
            raise

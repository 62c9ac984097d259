from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "bankmall.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from bankmall.core.audit import verify_chain
        from bankmall.core.integrity import register_check

        register_check("audit_chain", lambda: verify_chain().problems)

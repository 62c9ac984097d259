from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles_after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    # Runs after each app's permissions are created, so roles pick up later apps' permissions.
    from bankmall.security.sync import sync_roles

    sync_roles(using=kwargs.get("using", "default"))


class SecurityConfig(AppConfig):
    name = "bankmall.security"
    label = "security"
    verbose_name = "Security"

    def ready(self) -> None:
        import bankmall.security.checks  # noqa: F401  (registers the deploy checks)
        from bankmall.core.eod import register_eod_step
        from bankmall.core.integrity import register_check
        from bankmall.security.approval_actions import register
        from bankmall.security.privacy import purge_expired_records
        from bankmall.security.rotation import field_encryption_problems

        register()
        register_check("field_encryption", field_encryption_problems)
        register_eod_step(
            "security.purge_expired_records",
            purge_expired_records,
            order=500,
            description="Delete sign-in records past the retention period and stale tokens.",
        )

        post_migrate.connect(_sync_roles_after_migrate, dispatch_uid="bankmall-sync-roles")

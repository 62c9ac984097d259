"""System checks: production needs its field-encryption keys (``check --deploy``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register


@register(Tags.security, deploy=True)
def field_keys_configured(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if not settings.IS_PRODUCTION:
        return []
    missing = [
        name
        for name in ("FIELD_ENCRYPTION_KEYS", "FIELD_ENCRYPTION_ACTIVE_KEY", "BLIND_INDEX_KEY")
        if not getattr(settings, name)
    ]
    if not missing:
        return []
    return [
        Error(
            f"{', '.join(missing)} must be set in production: personal data is encrypted "
            "with keys from the environment",
            id="bankmall.security.E001",
        )
    ]

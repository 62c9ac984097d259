"""Model field helpers shared by every app."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import models

from bankmall.core.ids import ID_MAX_LENGTH, new_id


def public_id_field(prefix: str, **kwargs: Any) -> models.CharField[str, str]:
    """A unique, indexed, non-editable opaque id column (``cus_…``) generated on insert."""
    return models.CharField(
        max_length=ID_MAX_LENGTH,
        unique=True,
        editable=False,
        default=partial(new_id, prefix),
        **kwargs,
    )

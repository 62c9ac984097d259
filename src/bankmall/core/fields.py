"""Model field helpers shared by every app."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import models

from bankmall.core.ids import ID_MAX_LENGTH, new_id


def public_id_field(
    prefix: str, *, unique: bool = True, **kwargs: Any
) -> models.CharField[str, str]:
    """A unique, indexed, non-editable opaque id column (``cus_…``) generated on insert.

    ``unique=False`` is for write-heavy tables that declare ``UniqueConstraint(fields=
    ["public_id"])`` in their ``Meta`` instead: the same unique index, without the second
    ``varchar_pattern_ops`` index Django adds beside a unique field on PostgreSQL for ``LIKE``
    lookups no one makes on an opaque id (one index entry less per inserted row).
    """
    return models.CharField(
        max_length=ID_MAX_LENGTH,
        unique=unique,
        editable=False,
        default=partial(new_id, prefix),
        **kwargs,
    )

"""Canonical JSON: one byte string per value, so digests and signatures are reproducible."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from typing import Any

from bankmall.core.money import Money


def to_jsonable(value: Any) -> Any:
    """Turn money, decimals, dates and containers into plain JSON values.

    ``Money`` becomes ``{"amount": int, "currency": str}`` (API.md), ``Decimal`` a string
    (never a float), aware datetimes RFC 3339 UTC strings and dates ``YYYY-MM-DD``.
    """
    kind = type(value)
    # The common shapes first, by exact type: this runs for every audit record and event.
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict or kind is list:
        return _container_to_jsonable(value)
    return _scalar_to_jsonable(value)


def _scalar_to_jsonable(value: Any) -> Any:
    if isinstance(value, Money):
        return {"amount": value.amount_minor, "currency": value.currency}
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        raise TypeError("floats are not allowed in canonical JSON; use int or Decimal")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetimes are not allowed; store UTC")
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return _container_to_jsonable(value)


def _container_to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable here")


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same value always gives the same bytes."""
    return json.dumps(
        to_jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def digest(value: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``value``; empty string for ``None``."""
    if value is None:
        return ""
    return hashlib.sha256(canonical_json(value)).hexdigest()

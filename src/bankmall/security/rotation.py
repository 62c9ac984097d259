"""Key rotation: re-encrypt every encrypted column under the active key, in batches.

Every model field that is an ``EncryptedTextField`` is found through the app registry, so a
later app's encrypted columns rotate without registering anything. Rows already under the
active key are skipped, so an interrupted rotation simply runs again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models, transaction

from bankmall.core.audit import record_audit
from bankmall.security.crypto import (
    DecryptionFailed,
    EncryptedTextField,
    add_generated_key,
    decrypt,
    encrypt,
    key_id_of,
    key_ring,
)

Progress = Callable[[int, int], None]
BATCH_SIZE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class RotationReport:
    new_key_id: str
    rewritten: int
    checked: int


def encrypted_columns() -> Iterator[tuple[type[models.Model], EncryptedTextField]]:
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                yield model, field


def _names(model: type[models.Model], field: EncryptedTextField) -> tuple[str, str, str]:
    # Identifiers come from model metadata, quoted by the backend; never from input.
    quote = connection.ops.quote_name
    assert model._meta.pk is not None
    return quote(model._meta.db_table), quote(field.column), quote(model._meta.pk.column)


def _raw_rows(model: type[models.Model], field: EncryptedTextField) -> list[tuple[object, str]]:
    table, column, pk = _names(model, field)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {pk}, {column} FROM {table} WHERE {column} <> ''")  # noqa: S608
        return list(cursor.fetchall())


def _rewrite(
    model: type[models.Model], field: EncryptedTextField, pk: Any, old: str, new: str
) -> None:
    # Raw SQL: the ORM would encrypt the already encrypted value again. The old value in the
    # WHERE clause makes a concurrent change win instead of being overwritten.
    table, column, pk_column = _names(model, field)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column} = %s WHERE {pk_column} = %s AND {column} = %s",  # noqa: S608
            [new, pk, old],
        )


def rotate_keys(*, new_key: bool, batch_size: int, progress: Progress) -> RotationReport:
    """Optionally add a fresh key, then re-encrypt every value not under the active key.

    Effects: rewritten ciphertexts (plaintexts unchanged), one audit record
    ``security.keys_rotated`` with counts only. ``progress(done, total)`` is called per batch.
    """
    assert 1 <= batch_size <= BATCH_SIZE_MAX
    if new_key:
        add_generated_key()
    ring = key_ring()
    stale: list[tuple[type[models.Model], EncryptedTextField, object, str]] = []
    checked = 0
    for model, field in encrypted_columns():
        for pk, stored in _raw_rows(model, field):
            checked += 1
            if key_id_of(stored) != ring.active_key_id:
                stale.append((model, field, pk, stored))
    total = len(stale)
    for start in range(0, total, batch_size):
        with transaction.atomic():
            for model, field, pk, stored in stale[start : start + batch_size]:
                context = field.encryption_context
                plain = decrypt(stored, context=context, ring=ring)
                _rewrite(model, field, pk, stored, encrypt(plain, context=context, ring=ring))
        progress(min(start + batch_size, total), total)
    with transaction.atomic():
        record_audit(
            "security.keys_rotated",
            details={"active_key": ring.active_key_id, "rewritten": total, "checked": checked},
        )
    if total == 0:
        progress(0, 0)
    return RotationReport(new_key_id=ring.active_key_id, rewritten=total, checked=checked)


@dataclass(frozen=True, slots=True)
class KeyUsage:
    active_key_id: str
    values_per_key: dict[str, int]


def key_usage() -> KeyUsage:
    """How many stored values each key encrypted (for ``bankmall keys status``)."""
    counts: dict[str, int] = {}
    for model, field in encrypted_columns():
        for _pk, stored in _raw_rows(model, field):
            key_id = key_id_of(stored)
            counts[key_id] = counts.get(key_id, 0) + 1
    return KeyUsage(active_key_id=key_ring().active_key_id, values_per_key=counts)


PROBLEMS_MAX = 20


def field_encryption_problems() -> list[str]:
    """Integrity check: every encrypted value names a key the ring holds and decrypts.

    Run by ``bankmall check``: a missing key means data that can no longer be read, which must
    be found before the last backup holding that key expires.
    """
    try:
        ring = key_ring()
    except ImproperlyConfigured as error:
        return [str(error)]
    problems: list[str] = []
    for model, field in encrypted_columns():
        for pk, stored in _raw_rows(model, field):
            try:
                decrypt(stored, context=field.encryption_context, ring=ring)
            except DecryptionFailed as error:
                problems.append(f"{field.encryption_context} row {pk}: {error}")
                if len(problems) >= PROBLEMS_MAX:
                    return problems
    return problems

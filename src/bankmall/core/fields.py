"""Model field helpers shared by every app."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Final

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

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


if TYPE_CHECKING:
    _BigInteger = models.BigIntegerField[int, int]
    _BigAuto = models.BigAutoField[int, int]
else:
    _BigInteger = models.BigIntegerField  # Not subscriptable at run time.
    _BigAuto = models.BigAutoField


class AppendOnlyIdField(_BigAuto):
    """The ``id`` of a table whose rows are never deleted: on SQLite a plain rowid, not
    ``AUTOINCREMENT``.

    ``AUTOINCREMENT`` keeps each table's largest id in ``sqlite_sequence``: every insert reads
    that row and writes it back, so a transaction inserting into such tables commits one more
    page (a ledger transfer writes three of them: the transfer, its event, its audit record).
    Without it SQLite gives a new row the largest id plus one, the same ids in the same order;
    the two differ only after the row with the largest id is deleted (``AUTOINCREMENT`` never
    reuses its id), which never happens to these tables' rows. PostgreSQL: unchanged (an
    identity column).
    """

    def db_type_suffix(self, connection: BaseDatabaseWrapper) -> str | None:
        if connection.vendor == "sqlite":
            return None
        suffix: str | None = connection.data_types_suffix.get(self.get_internal_type())
        return suffix  # What Field.db_type_suffix returns.


class MinorUnitsField(_BigInteger):
    """An amount in integer minor units that the database keeps ``>= minimum`` (0 or 1).

    On PostgreSQL the column's type is a domain over ``bigint`` carrying the check
    (``bankmall_minor_nonneg`` or ``bankmall_minor_positive``, created by ledger migration
    0007); elsewhere it is ``bigint`` with a column CHECK. The same rule, at a different
    price: PostgreSQL parses and plans a table's CHECK constraints anew for every statement
    that writes the table, whereas a domain's check is kept planned in its type cache. On
    the ledger's one-statement transfer that was ~15 % of the server's work.
    """

    DOMAINS: Final = {0: "bankmall_minor_nonneg", 1: "bankmall_minor_positive"}

    def __init__(self, *args: Any, minimum: int = 0, **kwargs: Any) -> None:
        if minimum not in self.DOMAINS:
            raise ValueError("MinorUnitsField minimum must be 0 or 1")
        self.minimum = minimum
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.minimum:
            kwargs["minimum"] = self.minimum
        return name, path, args, kwargs

    def db_type(self, connection: BaseDatabaseWrapper) -> str | None:
        if connection.vendor == "postgresql":
            return self.DOMAINS[self.minimum]
        return super().db_type(connection)

    def db_check(self, connection: BaseDatabaseWrapper) -> str | None:
        if connection.vendor == "postgresql":
            return None  # The domain checks.
        return f'"{self.column}" >= {self.minimum}'

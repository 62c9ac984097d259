"""The double-entry ledger's two tables: accounts and immutable transfers.

The posting path writes these tables with a few raw SQL statements (see ``posting.py``); the
models define the schema, the migrations and the ORM reads.
"""

from __future__ import annotations

from typing import Final

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from bankmall.core.fields import AppendOnlyIdField, MinorUnitsField, public_id_field

KEY_MAX_LENGTH = 128
CLIENT_MAX_LENGTH = 64
CODE_MAX_LENGTH = 128
CREDIT_SHARDS_MAX = 64


class AccountKind(models.TextChoices):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"


class AccountStatus(models.TextChoices):
    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"


class TransferKind(models.TextChoices):
    """What a transfer row does to its accounts' totals.

    ``single`` posts at once; ``pending`` reserves; ``post``, ``void`` and ``expire`` resolve one
    pending transfer (``pending_id``). A reversal is a ``single`` transfer with ``reverses_id``.
    """

    SINGLE = "single"
    PENDING = "pending"
    POST = "post"
    VOID = "void"
    EXPIRE = "expire"


#: The rule on the attributes an account is created with, over its row's columns: at most one
#: limit flag; ``credit_shards`` at most 64 and never with ``credits_must_not_exceed_debits``.
ACCOUNT_FLAGS_RULE: Final = (
    f"credit_shards <= {CREDIT_SHARDS_MAX}"
    " AND NOT (credit_shards > 0 AND credits_must_not_exceed_debits)"
    " AND NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)"
)


class CreditShardsField(models.SmallIntegerField):  # type: ignore[type-arg]
    """``credit_shards``, carrying ``ACCOUNT_FLAGS_RULE`` for the database to enforce.

    Not a CHECK constraint on PostgreSQL, which parses and plans a table's CHECK constraints
    anew for every statement that writes the table (every transfer updates two accounts): a
    trigger that fires only when an account is created or these columns are named in an
    ``UPDATE`` (migration 0008). On SQLite, where checks cost nothing per statement, the rule
    is this column's CHECK (a column's CHECK may name other columns, and being part of the
    column it survives the table rebuilds of Django's SQLite migrations).
    """

    def db_check(self, connection: BaseDatabaseWrapper) -> str | None:
        if connection.vendor == "postgresql":
            return None  # The trigger enforces it.
        return ACCOUNT_FLAGS_RULE


class Account(models.Model):
    """A ledger account with four running totals.

    Guarantees:
    - ``debits_posted_minor``, ``credits_posted_minor``, ``debits_pending_minor`` and
      ``credits_pending_minor`` always equal the sums of the account's transfers (checked by
      ``bankmall check``) and are never negative.
    - With ``debits_must_not_exceed_credits``, ``debits_posted + debits_pending <=
      credits_posted + overdraft_limit_minor`` holds after every committed transaction; with
      ``credits_must_not_exceed_debits`` the mirror inequality holds.
    - ``code``, ``currency`` and ``credit_shards`` never change; accounts are never deleted
      (a trigger refuses it on both databases, ``guards.py``).
    - With ``credit_shards`` N > 0 (a designated hot account), posted credits of ``single``
      transfers may be kept in its N ``AccountShard`` rows instead of ``credits_posted_minor``:
      the account's credits posted are the row's plus the sum of its shards'. Every reader of
      the totals adds them.
    """

    public_id = public_id_field("lac")
    code = models.CharField(max_length=CODE_MAX_LENGTH, unique=True)
    currency = models.CharField(max_length=3)
    kind = models.CharField(max_length=16, choices=AccountKind.choices)
    debits_must_not_exceed_credits = models.BooleanField(default=False)
    credits_must_not_exceed_debits = models.BooleanField(default=False)
    overdraft_limit_minor = MinorUnitsField(default=0)
    status = models.CharField(
        max_length=16, choices=AccountStatus.choices, default=AccountStatus.ACTIVE
    )
    debits_posted_minor = MinorUnitsField(default=0)
    credits_posted_minor = MinorUnitsField(default=0)
    debits_pending_minor = MinorUnitsField(default=0)
    credits_pending_minor = MinorUnitsField(default=0)
    name = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField()
    #: 0: not sharded; N (1 to 64): posted credits go to one of N ``AccountShard`` rows. Set
    #: once by ``create_accounts`` (which checks the range); no CHECK constraint, which
    #: PostgreSQL would parse and plan again for every statement that updates an account.
    credit_shards = CreditShardsField(
        default=0, validators=[MinValueValidator(0), MaxValueValidator(64)]
    )

    def __str__(self) -> str:
        return f"{self.code} ({self.currency})"


class AccountShard(models.Model):
    """Posted credits of a hot account, kept apart so concurrent credits lock different rows.

    Guarantees:
    - A sharded account has exactly one row per shard number ``0 … credit_shards - 1``,
      created with it, never deleted.
    - ``credits_posted_minor`` only grows (only posted credits are kept here) and is never
      negative; the account's credits posted are its own plus the sum of its shards'.
    - ``status`` equals the account's: freezing, unfreezing and closing update the account row
      and then every shard row in one transaction, so a credit (which reads the status under
      its shard row's lock) serialises with a status change as it would on the account row.
    """

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="shards", db_index=False
    )
    shard = models.SmallIntegerField(validators=[MinValueValidator(0)])  # 0 … credit_shards - 1
    credits_posted_minor = MinorUnitsField(default=0)
    status = models.CharField(
        max_length=16, choices=AccountStatus.choices, default=AccountStatus.ACTIVE
    )

    class Meta:
        constraints = [
            # Also the index of every lookup by account.
            models.UniqueConstraint(fields=["account", "shard"], name="ledger_accountshard_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} shard {self.shard}"


class Transfer(models.Model):
    """One immutable movement between two accounts of the same currency.

    Guarantees:
    - Rows are never updated or deleted; a mistake is corrected by a reversing transfer. The
      database refuses both on PostgreSQL and SQLite (triggers, ``guards.py``; migrations 0004,
      0006, 0010). A later migration that makes Django's SQLite schema editor rebuild this
      table or ``ledger_account`` (most ``AlterField`` operations) drops their triggers and
      must create them again (``guards.SQLITE_GUARDS_SQL``); ``bankmall check`` names a
      missing one.
    - ``(client, key)`` is unique: a client's retry with the same key never posts twice.
    - ``pending_id`` is unique: a pending transfer is resolved (posted, voided or expired) at
      most once.
    - ``amount_minor > 0``; the debit and credit accounts differ and share ``currency``.
    """

    id = AppendOnlyIdField(primary_key=True)
    public_id = public_id_field("trf", unique=False)  # unique by Meta.constraints
    client = models.CharField(max_length=CLIENT_MAX_LENGTH)
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    request_digest = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=TransferKind.choices)
    # The composite indexes below serve these foreign keys; a second single-column index each
    # would only slow inserts. No database-level constraint: every writer takes the ids from
    # ledger_account in the same statement or transaction, accounts are never deleted (a
    # trigger refuses it, migrations 0004 and 0010), and ``queries.invariant_problems``
    # names any transfer whose account is missing. The constraint's check of every inserted
    # transfer at commit cost about a quarter of the server's time for a batch.
    debit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    credit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    amount_minor = MinorUnitsField(minimum=1)
    currency = models.CharField(max_length=3)
    code = models.CharField(max_length=64, blank=True, default="")
    reference = models.CharField(max_length=128, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    value_date = models.DateField()
    # No database-level constraint either: Django's deferred constraint queued a trigger event
    # for every inserted transfer and fired it at commit, even with the column empty (most
    # rows). The only writer, the transactional path, reads the referenced transfer in the same
    # transaction; transfers are never deleted (a trigger refuses it, migrations 0006 and
    # 0010); ``queries.invariant_problems`` names a transfer whose reference is missing.
    pending = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="resolutions",
        db_index=False,
        db_constraint=False,
    )
    reverses = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
        db_index=False,
        db_constraint=False,
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["public_id"], name="ledger_transfer_public_id"),
            models.UniqueConstraint(fields=["client", "key"], name="ledger_transfer_client_key"),
            # Partial, so the many rows without a pending transfer add nothing to the index.
            models.UniqueConstraint(
                fields=["pending"],
                condition=models.Q(pending__isnull=False),
                name="ledger_transfer_resolved_once",
            ),
            models.CheckConstraint(
                condition=~models.Q(debit_account=models.F("credit_account")),
                name="ledger_transfer_accounts_differ",
            ),
        ]
        indexes = [
            models.Index(fields=["debit_account", "id"], name="ledger_transfer_debit_idx"),
            models.Index(fields=["credit_account", "id"], name="ledger_transfer_credit_idx"),
            models.Index(
                fields=["reverses"],
                name="ledger_transfer_reverses_idx",
                condition=models.Q(reverses__isnull=False),
            ),
            models.Index(
                fields=["expires_at"],
                name="ledger_transfer_expiry_idx",
                condition=models.Q(kind="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.kind} {self.amount_minor} {self.currency}"

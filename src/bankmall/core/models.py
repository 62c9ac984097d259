"""Tables every app relies on: the transactional outbox and the hash-chained audit log."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models

from bankmall.core.fields import AppendOnlyIdField, public_id_field


class OutboxEvent(models.Model):
    """A domain event written in the same transaction as the change it announces.

    Guarantees: a row exists if and only if the transaction that recorded it committed; rows
    are never updated except ``published_at`` and ``publish_attempts`` by the relay; events of
    one aggregate keep their insertion order (``id``).
    """

    id = AppendOnlyIdField(primary_key=True)
    public_id = public_id_field("evt", unique=False)  # unique by Meta.constraints
    event_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=64, blank=True, default="")
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)
    # Not a PositiveIntegerField: its CHECK constraint would be parsed and planned again by
    # PostgreSQL for every statement that inserts an event (the hot path's). Only the relay
    # writes it, counting up from 0.
    publish_attempts = models.IntegerField(default=0, validators=[MinValueValidator(0)])

    class Meta:
        # No index by aggregate: nothing here reads events by aggregate (consumers keep their
        # own views), and every index is one more entry per committed transaction.
        constraints = [models.UniqueConstraint(fields=["public_id"], name="outbox_public_id")]
        indexes = [
            models.Index(
                fields=["id"],
                name="outbox_unpublished_idx",
                condition=models.Q(published_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.event_type}"


class AuditRecord(models.Model):
    """One entry of the tamper-evident audit log.

    Guarantees: the log is a small number of independent hash chains ("lanes", so that
    concurrent transactions do not queue behind one lock); within a lane ``sequence`` runs
    1, 2, 3 … without gaps and in commit order; ``record_hash`` is the HMAC-SHA256 (keyed with
    ``AUDIT_CHAIN_KEY``) of ``previous_hash`` and this record's canonical fields (the lane
    number included for lanes after the first), so editing, deleting or inserting a row breaks
    its lane, and each lane's head in ``AuditChainHead`` exposes a truncated tail. ``id``
    orders records across lanes by the time they were written. Rows are append-only.
    """

    id = AppendOnlyIdField(primary_key=True)
    # Not Positive…Field, whose CHECK constraint PostgreSQL parses again for every statement
    # that appends a record; lanes are numbered from 1 by ``current_lane`` only.
    lane = models.SmallIntegerField(default=1, validators=[MinValueValidator(1)])
    sequence = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    actor = models.CharField(max_length=128)
    action = models.CharField(max_length=100)
    target = models.CharField(max_length=128, blank=True, default="")
    before_digest = models.CharField(max_length=64, blank=True, default="")
    after_digest = models.CharField(max_length=64, blank=True, default="")
    details = models.JSONField(default=dict)
    request_id = models.CharField(max_length=64, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    previous_hash = models.CharField(max_length=64)
    record_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lane", "sequence"], name="audit_lane_sequence"),
        ]
        indexes = [
            models.Index(fields=["target", "id"], name="audit_target_idx"),
            models.Index(fields=["actor", "id"], name="audit_actor_idx"),
            # Pattern operators on PostgreSQL, so that the back office's action-prefix search
            # (``LIKE 'x%'``) is an index range: with a non-C collation a plain b-tree serves
            # only equality. SQLite ignores the operator class.
            models.Index(
                fields=["action", "id"],
                name="audit_action_idx",
                opclasses=["varchar_pattern_ops", "int8_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.lane}.{self.sequence} {self.action} by {self.actor}"


class AuditChainHead(models.Model):
    """One row per lane of the audit log, naming the lane's last record.

    Constraint: ``id`` is the lane number (1 … ``AUDIT_LANES``); locking a lane's row
    serialises the appends to that lane. Rows are created when a lane is first used.
    """

    # Not Positive…Field: see ``AuditRecord.lane``.
    id = models.SmallIntegerField(primary_key=True, validators=[MinValueValidator(1)])
    sequence = models.BigIntegerField(default=0)
    record_hash = models.CharField(max_length=64, default="")

    def __str__(self) -> str:
        return f"audit lane {self.id} head #{self.sequence}"


class AuditRelayCursor(models.Model):
    """How far the event relay has read one lane of the audit log (``core/relay.py``).

    Guarantees: ``sequence`` is the last record of the lane that the relay has handled (every
    event it announced acknowledged by the broker); it only moves forward, one relay at a time
    (the row is locked for the round). ``failed_attempts`` counts the rounds in a row that
    could not publish the lane's next event; it is reset when the cursor moves. Rows are
    created by the relay when it first reads a lane.
    """

    # Not Positive…Field: see ``AuditRecord.lane``.
    lane = models.SmallIntegerField(primary_key=True, validators=[MinValueValidator(1)])
    sequence = models.BigIntegerField(default=0)
    published_events = models.BigIntegerField(default=0)
    failed_attempts = models.IntegerField(default=0)
    moved_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"audit lane {self.lane} relayed to #{self.sequence}"


class IntegrityRun(models.Model):
    """One run of every integrity check (``bankmall check`` or the nightly job).

    Guarantees: written only after the run finished; ``results`` holds each check's name and
    problems; ``passed`` is true exactly when no check reported a problem. Rows are append-only.
    """

    public_id = public_id_field("chk")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    passed = models.BooleanField()
    results = models.JSONField(default=list)
    triggered_by = models.CharField(max_length=128)

    class Meta:
        indexes = [models.Index(fields=["-finished_at"], name="integrity_recent_idx")]

    def __str__(self) -> str:
        return f"{self.public_id} {'passed' if self.passed else 'FAILED'}"


class BusinessDayStatus(models.TextChoices):
    OPEN = "open", "open"
    CLOSED = "closed", "closed"


class BusinessDay(models.Model):
    """A business date of the bank: open until its end of day has run every step.

    Guarantees: at most one day is open, and it is the day after the latest closed one; days
    close in date order and never reopen.
    """

    business_date = models.DateField(unique=True)
    status = models.CharField(
        max_length=10, choices=BusinessDayStatus.choices, default=BusinessDayStatus.OPEN
    )
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="open"),
                name="one_open_business_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.business_date} {self.status}"


class EodStepStatus(models.TextChoices):
    DONE = "done", "done"
    FAILED = "failed", "failed"


class EodStepRun(models.Model):
    """The outcome of one end-of-day step for one business date.

    Guarantees: ``done`` is written in the same transaction as the step's work, so a done row
    means the work is committed and will not run again for that date; a ``failed`` row holds the
    last error and the number of attempts, and is replaced by ``done`` when a rerun succeeds.
    """

    business_date = models.DateField()
    step = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=EodStepStatus.choices)
    summary = models.JSONField(default=dict)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["business_date", "step"], name="one_run_per_step_day")
        ]
        indexes = [models.Index(fields=["-finished_at"], name="eod_recent_idx")]

    def __str__(self) -> str:
        return f"{self.business_date} {self.step} {self.status}"

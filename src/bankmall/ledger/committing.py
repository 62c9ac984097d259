"""Committing prepared transfer rows: one transaction, idempotent replay, the audit record."""

from __future__ import annotations

import datetime as dt
from typing import Final

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.utils import timezone

from bankmall.core.audit import record_audit
from bankmall.core.errors import Conflict, IdempotencyKeyReused
from bankmall.ledger import contents, fastpath, posting, queries, sqlitepath
from bankmall.ledger.values import TransferView

REPLAY_ATTEMPTS_MAX: Final = 4


def commit_rows(
    rows: list[posting.Row], *, client: str, actor: str | None, now: dt.datetime | None = None
) -> list[TransferView]:
    """Post prepared rows in one transaction, replaying idempotently when keys exist."""
    results: dict[int, TransferView] = {}
    remaining = rows
    # One write of its own, if the batch allows it. The connection is looked up once and
    # handed down: each ``connections[alias]`` costs ~10k instructions (an AttributeError and
    # a RuntimeError inside asgiref's Local), once per step of a write before.
    database = connections[DEFAULT_DB_ALIAS]
    path = fastpath if database.vendor == "postgresql" else sqlitepath
    if path.applies(rows, database):
        moment = now or timezone.now()
        set_expiry(rows, moment)
        if path.try_post(rows, client=client, actor=actor, now=moment, database=database):
            return posting.views_of(rows, client=client, now=moment)
    for _attempt in range(REPLAY_ATTEMPTS_MAX):
        moment = now or timezone.now()
        set_expiry(remaining, moment)
        try:
            with transaction.atomic():
                posting.post_batch(remaining, client=client, now=moment)
                record_batch(remaining, client=client, actor=actor, now=moment)
        except posting.KeysExist:
            remaining = _without_replayed(remaining, client=client, results=results)
            if not remaining:
                break
            continue
        except IntegrityError:
            # Only a concurrent post, void or expiry of the same pending transfer gets here
            # (the unique resolution or a pending total would go negative); the next attempt
            # sees it committed and fails with the precise error code.
            if not any(row.pending_pk is not None for row in remaining):
                raise
            continue
        views = posting.views_of(remaining, client=client, now=moment)
        for row, view in zip(remaining, views, strict=True):
            results[row.index] = view
        break
    else:
        raise Conflict("the batch kept meeting concurrent requests with its keys; retry it")
    return [results[index] for index in sorted(results)]


def set_expiry(rows: list[posting.Row], now: dt.datetime) -> None:
    for row in rows:
        request = row.request
        if request is not None and request.pending and request.timeout_seconds:
            row.expires_at = now + dt.timedelta(seconds=request.timeout_seconds)


def _without_replayed(
    rows: list[posting.Row], *, client: str, results: dict[int, TransferView]
) -> list[posting.Row]:
    """Answer rows whose key exists from the stored transfer; return the rows still to post."""
    stored = queries.transfers_by_keys(client, [row.key for row in rows])
    remaining = []
    for row in rows:
        found = stored.get(row.key)
        if found is None:
            remaining.append(row)
            continue
        digest, view = found
        if digest != row.digest:
            raise posting.fail(
                IdempotencyKeyReused, row, f"key {row.key!r} was used for a different transfer"
            )
        results[row.index] = view
    return remaining


def record_batch(
    rows: list[posting.Row], *, client: str, actor: str | None, now: dt.datetime
) -> None:
    """The batch's audit record, which announces its event, in the caller's transaction;
    ``now``: the rows' ``created_at``."""
    target, after, details = posting.audit_content(rows, client=client, now=now)
    record_audit(contents.BATCH_ACTION, target=target, after=after, details=details, actor=actor)

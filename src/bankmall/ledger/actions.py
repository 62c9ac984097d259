"""Every state change of the ledger. See docs/ledger.md for the model and the guarantees.

Public API:
- ``create_accounts(specs, *, actor)``: idempotent by account code.
- ``create_transfers(requests, *, client, actor)``: one linked batch, all or nothing, idempotent
  per ``(client, key)``.
- ``expire_pending_transfers(*, now, limit, actor)``: release reservations whose timeout passed.
- ``freeze_account``, ``unfreeze_account``, ``close_account``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any, Final

from django.db import IntegrityError, transaction
from django.utils import timezone

from bankmall.core.audit import record_audit
from bankmall.core.errors import Conflict, FieldError, InvalidInput
from bankmall.core.money import currency_info
from bankmall.core.outbox import announce
from bankmall.ledger import coalescing, errors, posting, queries
from bankmall.ledger.committing import commit_rows
from bankmall.ledger.models import (
    CREDIT_SHARDS_MAX,
    Account,
    AccountKind,
    AccountShard,
    AccountStatus,
)
from bankmall.ledger.values import (
    TEXT_MAX_LENGTH,
    AccountSpec,
    AccountView,
    TransferRequest,
    TransferView,
)

__all__ = [
    "AccountSpec",
    "TransferRequest",
    "close_account",
    "create_accounts",
    "create_transfers",
    "expire_pending_transfers",
    "freeze_account",
    "submit_transfers",
    "unfreeze_account",
]

EXPIRE_BATCH_MAX: Final = 1_000
EXPIRY_CLIENT: Final = "ledger.expiry"
ACCOUNT_BATCH_MAX: Final = 1_000
NAME_MAX_LENGTH: Final = 200
_SPEC_FIELDS: Final = tuple(field.name for field in dataclasses.fields(AccountSpec))
_STATUS_ACTIONS: Final = {
    AccountStatus.FROZEN: "ledger.account_frozen",
    AccountStatus.ACTIVE: "ledger.account_unfrozen",
    AccountStatus.CLOSED: "ledger.account_closed",
}


# ------------------------------------------------------------------ transfers


def create_transfers(
    requests: Sequence[TransferRequest], *, client: str, actor: str | None = None
) -> list[TransferView]:
    """Apply ``requests`` as one linked batch: every transfer is written, or none is.

    Preconditions: 1 to 8,190 requests, each of one shape (see ``TransferRequest``), keys unique
    within the batch. ``client`` names the calling service; keys are unique per client and
    kept forever, so a retry at any later time is safe.

    Effects: the transfers, each account's four totals (once per account, however many
    transfers touch it) and one audit record ``ledger.transfers_created`` that announces the
    event ``ledger.transfers_created`` (``outbox.announce``), all in one transaction (joining
    the caller's, if any).
    A request whose key exists with the same content returns the original transfer unchanged.

    Errors (nothing is written; ``extra`` names ``transfer_index`` and ``key``):
    ``batch_size_invalid``, ``validation_error``, ``duplicate_key_in_batch``,
    ``amount_must_be_positive``, ``accounts_must_be_different``, ``account_not_found``,
    ``currency_mismatch``, ``account_frozen``, ``account_closed``, ``insufficient_funds``,
    ``credit_limit_exceeded``, ``pending_transfer_not_found``, ``transfer_not_pending``,
    ``pending_transfer_already_posted``, ``pending_transfer_already_voided``,
    ``pending_transfer_expired``, ``pending_amount_exceeded``, ``transfer_not_found``,
    ``transfer_not_reversible``, ``reversal_exceeds_original``, ``idempotency_key_reused``.
    """
    posting.check_batch(requests, client)
    rows = [posting.prepare(index, request) for index, request in enumerate(requests)]
    posting.check_duplicate_keys(rows)
    return commit_rows(rows, client=client, actor=actor)


def submit_transfers(
    requests: Sequence[TransferRequest], *, client: str, actor: str | None = None
) -> list[TransferView]:
    """``create_transfers`` for concurrent callers in one process: group commit.

    The batch is handed to the process's ledger writer thread, which commits it together with
    the batches other threads submitted meanwhile (one transaction, one audit record, one
    event) and returns this caller's own result or raises its own error. Same preconditions,
    effects, errors and idempotency as ``create_transfers``; it cannot join the caller's
    transaction, so calling it inside ``transaction.atomic()`` is a programming error.
    """
    return coalescing.submit(requests, client=client, actor=actor)


def expire_pending_transfers(
    *, now: dt.datetime | None = None, limit: int = EXPIRE_BATCH_MAX, actor: str | None = None
) -> list[TransferView]:
    """Write an ``expire`` transfer for each pending transfer whose timeout has passed.

    Effects: releases the pending amounts from both accounts' pending totals, at most ``limit`` (1
    to 1,000) per call, with one audit record that announces the event. A pending transfer posted or
    voided concurrently is left to that action. Returns the ``expire`` transfers written.
    """
    moment = now or timezone.now()
    bounded = max(1, min(limit, EXPIRE_BATCH_MAX))
    rows = [
        posting.Row(
            index=index,
            key=f"expire:{public_id}",
            kind="expire",
            debit_ref="",
            credit_ref="",
            amount_minor=0,
            currency="",
            digest=hashlib.sha256(f"expire:{public_id}".encode()).hexdigest(),
            request=None,
            reference_id=public_id,
        )
        for index, public_id in enumerate(queries.expired_pending_ids(now=moment, limit=bounded))
    ]
    for _attempt in range(len(rows) + 1):
        if not rows:
            return []
        try:
            return commit_rows(rows, client=EXPIRY_CLIENT, actor=actor, now=moment)
        except (errors.PendingTransferAlreadyPosted, errors.PendingTransferAlreadyVoided) as error:
            rows = [row for row in rows if row.index != error.extra["transfer_index"]]
    return []


# ------------------------------------------------------------------ accounts


def create_accounts(specs: Sequence[AccountSpec], *, actor: str | None = None) -> list[AccountView]:
    """Create accounts; an account whose code exists with the same attributes is returned.

    Preconditions: 1 to 1,000 specs with distinct codes (1 to 128 characters), an ISO 4217
    currency with minor units, a kind of ``asset``, ``liability``, ``equity``, ``income`` or
    ``expense``, at most one limit flag, ``overdraft_limit_minor >= 0``, ``credit_shards`` 0 to
    64 and 0 with ``credits_must_not_exceed_debits``.

    Effects: the new accounts with zero totals (and their shard rows), one audit record
    ``ledger.accounts_created`` that announces the event ``ledger.accounts_created`` (only
    when something was created).

    Errors (nothing is written): ``validation_error``, ``unknown_currency``,
    ``account_code_conflict`` (the code exists with other attributes).
    """
    _check_specs(specs)
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return _create_accounts(specs, actor=actor)
        except IntegrityError:
            # Another caller created one of the codes first; the second pass finds it.
            continue
    raise Conflict("accounts with these codes are being created concurrently; retry")


def _create_accounts(specs: Sequence[AccountSpec], *, actor: str | None) -> list[AccountView]:
    existing = {
        account.code: account
        for account in queries.accounts().filter(code__in=[s.code for s in specs])
    }
    now = timezone.now()
    created = []
    for spec in specs:
        account = existing.get(spec.code)
        if account is None:
            created.append(_new_account(spec, now))
        elif _attributes(account) != _spec_attributes(spec):
            raise errors.AccountCodeConflict(
                f"account {spec.code!r} exists with other attributes",
                extra={"code": spec.code, "account_id": account.public_id},
            )
    if created:
        Account.objects.bulk_create(created)
        AccountShard.objects.bulk_create(
            AccountShard(account=account, shard=shard)
            for account in created
            for shard in range(account.credit_shards)
        )
        ids = [account.public_id for account in created]
        record_audit(
            "ledger.accounts_created",
            target=ids[0],
            after=[_attributes(account) for account in created],
            details=announce(
                {"count": len(ids)},
                "ledger.accounts_created",
                aggregate_id=ids[0],
                payload={"account_ids": ids},
            ),
            actor=actor,
        )
    by_code = {account.code: account for account in [*existing.values(), *created]}
    return [queries.account_view(by_code[spec.code]) for spec in specs]


def _new_account(spec: AccountSpec, now: dt.datetime) -> Account:
    return Account(
        code=spec.code,
        currency=spec.currency,
        kind=spec.kind,
        debits_must_not_exceed_credits=spec.debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=spec.credits_must_not_exceed_debits,
        overdraft_limit_minor=spec.overdraft_limit_minor,
        name=spec.name,
        created_at=now,
        credit_shards=spec.credit_shards,
    )


def _attributes(account: Account) -> dict[str, Any]:
    return {name: getattr(account, name) for name in _SPEC_FIELDS}


def _spec_attributes(spec: AccountSpec) -> dict[str, Any]:
    return dataclasses.asdict(spec)


def _check_specs(specs: Sequence[AccountSpec]) -> None:
    if not 1 <= len(specs) <= ACCOUNT_BATCH_MAX:
        raise InvalidInput(errors=[FieldError("accounts", f"1 to {ACCOUNT_BATCH_MAX} accounts")])
    problems: list[FieldError] = []
    codes: set[str] = set()
    for index, spec in enumerate(specs):
        problems.extend(_spec_problems(index, spec, codes))
        codes.add(spec.code)
    if problems:
        raise InvalidInput(problems[0].message, errors=problems)
    for spec in specs:
        currency_info(spec.currency)


def _spec_problems(index: int, spec: AccountSpec, codes: set[str]) -> list[FieldError]:
    problems = []
    if not spec.code or len(spec.code) > TEXT_MAX_LENGTH or spec.code.startswith("lac_"):
        problems.append(FieldError(f"accounts.{index}.code", "1 to 128 characters, not lac_…"))
    if spec.code in codes:
        problems.append(FieldError(f"accounts.{index}.code", "appears twice in the request"))
    if spec.kind not in AccountKind.values:
        problems.append(FieldError(f"accounts.{index}.kind", f"one of {AccountKind.values}"))
    if spec.debits_must_not_exceed_credits and spec.credits_must_not_exceed_debits:
        problems.append(FieldError(f"accounts.{index}.flags", "at most one limit flag"))
    if type(spec.overdraft_limit_minor) is not int or spec.overdraft_limit_minor < 0:
        problems.append(FieldError(f"accounts.{index}.overdraft_limit_minor", "an int >= 0"))
    if len(spec.name) > NAME_MAX_LENGTH:
        problems.append(FieldError(f"accounts.{index}.name", "at most 200 characters"))
    shards = spec.credit_shards
    if type(shards) is not int or not 0 <= shards <= CREDIT_SHARDS_MAX:
        problems.append(
            FieldError(f"accounts.{index}.credit_shards", f"an int from 0 to {CREDIT_SHARDS_MAX}")
        )
    elif shards and spec.credits_must_not_exceed_debits:
        # A credit to a shard does not lock the account row, so nothing could stop credits
        # from breaking that limit.
        problems.append(
            FieldError(
                f"accounts.{index}.credit_shards",
                "not with credits_must_not_exceed_debits (credits to shards are not checked"
                " against a limit)",
            )
        )
    return problems


def freeze_account(account_id: str, *, reason: str, actor: str | None = None) -> AccountView:
    """Freeze an active account: no transfer may debit or credit it (voids still release).

    Errors: ``account_not_found``, ``account_closed``.
    """
    return _set_status(account_id, AccountStatus.FROZEN, reason=reason, actor=actor)


def unfreeze_account(account_id: str, *, reason: str, actor: str | None = None) -> AccountView:
    """Make a frozen account active again. Errors: ``account_not_found``, ``account_closed``."""
    return _set_status(account_id, AccountStatus.ACTIVE, reason=reason, actor=actor)


def close_account(account_id: str, *, reason: str, actor: str | None = None) -> AccountView:
    """Close an account for good. It must have equal debits and credits and nothing pending.

    Errors: ``account_not_found``, ``account_closed``, ``account_balance_not_zero``.
    """
    return _set_status(account_id, AccountStatus.CLOSED, reason=reason, actor=actor)


def _set_status(
    account_id: str, status: AccountStatus, *, reason: str, actor: str | None
) -> AccountView:
    with transaction.atomic():
        account = Account.objects.select_for_update().filter(public_id=account_id).first()
        if account is None:
            raise errors.AccountNotFound(f"no account {account_id}")
        if account.status == AccountStatus.CLOSED:
            raise errors.AccountClosed(f"{account_id} is closed")
        # The shard rows after the account row, in shard order (the order of every path):
        # credits in flight on a shard finish first, later ones see the new status.
        in_shards = _lock_shards(account)
        if status == AccountStatus.CLOSED and _has_balance(account, in_shards):
            raise errors.AccountBalanceNotZero(f"{account_id} has a balance or pending amounts")
        # After this point the operation must succeed.
        before = account.status
        Account.objects.filter(pk=account.pk).update(status=status)
        if account.credit_shards:
            AccountShard.objects.filter(account=account).update(status=status)
        account.status = status
        record_audit(
            _STATUS_ACTIONS[status],
            target=account_id,
            before={"status": before},
            after={"status": str(status)},
            details=announce(
                {"reason": reason[:TEXT_MAX_LENGTH]},
                "ledger.account_status_changed",
                aggregate_id=account_id,
                payload={"status": str(status), "previous_status": before},
            ),
            actor=actor,
        )
    return queries.account_view(account)


def _lock_shards(account: Account) -> int:
    """Lock ``account``'s shard rows in shard order; the sum of their credits."""
    if not account.credit_shards:
        return 0
    locked = (
        AccountShard.objects.select_for_update()
        .filter(account=account)
        .order_by("shard")
        .values_list("credits_posted_minor", flat=True)
    )
    return sum(locked)


def _has_balance(account: Account, in_shards: int) -> bool:
    credits_posted = account.credits_posted_minor + in_shards
    return (
        account.debits_posted_minor != credits_posted
        or account.debits_pending_minor != 0
        or account.credits_pending_minor != 0
    )

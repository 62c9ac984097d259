"""A hypothesis state machine: random accounts (one of them a sharded hot account), transfers,
batches, holds, posts, voids, expiries, reversals and freezes, checked against a model and the
invariants after every step."""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from bankmall.core.errors import BankmallError
from bankmall.ledger import actions, fastpath, posting, queries, sqlitepath
from bankmall.ledger.actions import AccountSpec, TransferRequest, create_accounts, create_transfers
from bankmall.ledger.values import TransferView
from tests.ledger.conftest import cny

pytestmark = pytest.mark.django_db

_names = itertools.count(1)
FUNDING = 1_000
TIMEOUT_SECONDS = 3_600
amounts = st.integers(min_value=1, max_value=400)


@dataclass
class ModelAccount:
    limited: bool
    totals: list[int] = field(default_factory=lambda: [0, 0, 0, 0])

    def breaks_limit(self) -> bool:
        debits_posted, credits_posted, debits_pending, _ = self.totals
        return self.limited and debits_posted + debits_pending > credits_posted


@dataclass
class ModelPending:
    debit: str
    credit: str
    amount: int
    state: str = "pending"
    has_timeout: bool = False


class LedgerMachine(RuleBasedStateMachine):
    accounts = Bundle("accounts")
    pendings = Bundle("pendings")
    posted = Bundle("posted")

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[str, ModelAccount] = {}
        self.holds: dict[str, ModelPending] = {}
        self.reversible: dict[str, tuple[str, str, int]] = {}
        self.frozen: set[str] = set()
        self.run = next(_names)
        self.bank = ""

    @initialize(target=accounts)
    def open_bank_and_hot_account(self) -> str:
        """The bank, and a designated hot account: its posted credits go to its shards, its
        debits are limited by its credits in the row and the shards together."""
        (bank,) = create_accounts(
            [AccountSpec(code=f"equity:sm{self.run}", currency="CNY", kind="equity")]
        )
        self.bank = bank.id
        self.model[bank.id] = ModelAccount(limited=False)
        return self._open(limited=True, credit_shards=4)

    def _key(self) -> str:
        return f"sm{self.run}:{next(_names)}"

    # -------------------------------------------------------------- moves

    def _apply(self, moves: list[tuple[str, str, str, int]]) -> bool:
        """Apply (kind, debit, credit, amount) moves to a copy; commit them if no limit breaks
        and no account is frozen."""
        if any(ref in self.frozen for _kind, *refs, _amount in moves for ref in refs):
            return False
        trial = {ref: list(account.totals) for ref, account in self.model.items()}
        for kind, debit, credit, amount in moves:
            slot = 0 if kind == "single" else 2
            trial[debit][slot] += amount
            trial[credit][slot + 1] += amount
        broken = any(
            ModelAccount(self.model[ref].limited, totals).breaks_limit()
            for ref, totals in trial.items()
        )
        if not broken:
            for ref, totals in trial.items():
                self.model[ref].totals = totals
        return not broken

    @rule(target=accounts, limited=st.booleans())
    def open_account(self, limited: bool) -> str:
        return self._open(limited=limited, credit_shards=0)

    def _open(self, *, limited: bool, credit_shards: int) -> str:
        (account,) = create_accounts(
            [
                AccountSpec(
                    code=f"liability:sm{self.run}:{next(_names)}",
                    currency="CNY",
                    kind="liability",
                    debits_must_not_exceed_credits=limited,
                    credit_shards=credit_shards,
                )
            ]
        )
        self.model[account.id] = ModelAccount(limited=limited)
        create_transfers(
            [
                TransferRequest(
                    key=self._key(),
                    debit_account=self.bank,
                    credit_account=account.id,
                    amount=cny(FUNDING),
                )
            ],
            client="sm",
        )
        self.model[self.bank].totals[0] += FUNDING
        self.model[account.id].totals[1] += FUNDING
        return account.id

    @rule(target=posted, debit=accounts, credit=accounts, amount=amounts)
    def transfer(self, debit: str, credit: str, amount: int) -> str:
        if debit == credit:
            return ""
        expected_ok = self._apply([("single", debit, credit, amount)])
        request = TransferRequest(
            key=self._key(), debit_account=debit, credit_account=credit, amount=cny(amount)
        )
        result = self._call([request], expected_ok)
        if result:
            self.reversible[result[0]] = (debit, credit, amount)
            return result[0]
        return ""

    @rule(
        moves=st.lists(st.tuples(accounts, accounts, amounts), min_size=1, max_size=5),
    )
    def linked_batch(self, moves: list[tuple[str, str, int]]) -> None:
        moves = [(d, c, a) for d, c, a in moves if d != c]
        if not moves:
            return
        expected_ok = self._apply([("single", d, c, a) for d, c, a in moves])
        requests = [
            TransferRequest(key=self._key(), debit_account=d, credit_account=c, amount=cny(a))
            for d, c, a in moves
        ]
        self._call(requests, expected_ok)

    @rule(target=pendings, debit=accounts, credit=accounts, amount=amounts, timed=st.booleans())
    def hold(self, debit: str, credit: str, amount: int, timed: bool) -> str:
        if debit == credit:
            return ""
        expected_ok = self._apply([("pending", debit, credit, amount)])
        request = TransferRequest(
            key=self._key(),
            debit_account=debit,
            credit_account=credit,
            amount=cny(amount),
            pending=True,
            timeout_seconds=TIMEOUT_SECONDS if timed else 0,
        )
        result = self._call([request], expected_ok)
        if not result:
            return ""
        self.holds[result[0]] = ModelPending(debit, credit, amount, has_timeout=timed)
        return result[0]

    @rule(hold_id=pendings, share=st.integers(min_value=1, max_value=100))
    def post(self, hold_id: str, share: int) -> None:
        if not hold_id:
            return
        held = self.holds[hold_id]
        amount = max(1, held.amount * share // 100)
        request = TransferRequest(key=self._key(), post_pending=hold_id, amount=cny(amount))
        if held.state != "pending" or {held.debit, held.credit} & self.frozen:
            self._call([request], expected_ok=False)
            return
        self._call([request], expected_ok=True)
        self._release(held)
        self.model[held.debit].totals[0] += amount
        self.model[held.credit].totals[1] += amount
        held.state = "posted"

    @rule(hold_id=pendings)
    def void(self, hold_id: str) -> None:
        if not hold_id:
            return
        held = self.holds[hold_id]
        request = TransferRequest(key=self._key(), void_pending=hold_id)
        self._call([request], expected_ok=held.state == "pending")
        if held.state == "pending":
            self._release(held)
            held.state = "voided"

    @rule()
    def expire(self) -> None:
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2 * TIMEOUT_SECONDS)
        actions.expire_pending_transfers(now=later)
        for held in self.holds.values():
            if held.has_timeout and held.state == "pending":
                self._release(held)
                held.state = "expired"

    @rule(original=posted, share=st.integers(min_value=1, max_value=100))
    def reverse(self, original: str, share: int) -> None:
        if not original:
            return
        debit, credit, amount = self.reversible[original]
        part = max(1, amount * share // 100)
        expected_ok = part <= amount and self._apply([("single", credit, debit, part)])
        request = TransferRequest(key=self._key(), reverses=original, amount=cny(part))
        if self._call([request], expected_ok):
            self.reversible[original] = (debit, credit, amount - part)

    @rule(account=accounts)
    def freeze_or_unfreeze(self, account: str) -> None:
        if account in self.frozen:
            actions.unfreeze_account(account, reason="sm")
            self.frozen.discard(account)
        else:
            actions.freeze_account(account, reason="sm")
            self.frozen.add(account)

    def _release(self, held: ModelPending) -> None:
        self.model[held.debit].totals[2] -= held.amount
        self.model[held.credit].totals[3] -= held.amount

    def _call(self, requests: list[TransferRequest], expected_ok: bool) -> list[str]:
        try:
            results = create_transfers(requests, client="sm")
        except BankmallError:
            assert not expected_ok
            return []
        assert expected_ok
        return [result.id for result in results]

    # -------------------------------------------------------------- checks

    @invariant()
    def totals_match_the_model(self) -> None:
        stored = {
            account.public_id: [
                account.debits_posted_minor,
                account.credits_posted_minor + queries.shard_credits(account),
                account.debits_pending_minor,
                account.credits_pending_minor,
            ]
            for account in queries.accounts().filter(public_id__in=list(self.model))
        }
        assert stored == {ref: account.totals for ref, account in self.model.items()}

    @invariant()
    def invariants_hold(self) -> None:
        assert queries.invariant_problems() == []


_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_the_ledger_matches_its_model_under_random_operations() -> None:
    # Inside the test's transaction: every call takes the transactional path.
    run_state_machine_as_test(LedgerMachine, settings=_SETTINGS)


@pytest.mark.django_db(transaction=True)
def test_the_one_statement_path_matches_the_model_under_random_operations(
    requires_postgres: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Outside any transaction on PostgreSQL, new movements take the one-statement write
    # (fastpath.py) and everything else the transactional path: the same model, the same
    # invariants after every step, whichever path each call took.
    committed = []
    original = fastpath.try_post

    def counting(rows: list[posting.Row], **kwargs: Any) -> bool:
        done = original(rows, **kwargs)
        committed.append(done)
        return done

    monkeypatch.setattr(fastpath, "try_post", counting)
    run_state_machine_as_test(LedgerMachine, settings=_SETTINGS)

    assert any(committed), "the one-statement path never committed"


@pytest.mark.django_db(transaction=True)
def test_sqlites_own_write_path_matches_the_model_under_random_operations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Outside any transaction on SQLite (a file database), new movements take sqlitepath's
    # own BEGIN IMMEDIATE write and everything else the transactional path: the same model,
    # the same invariants after every step, whichever path each call took.
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's own write path")
    written: list[bool] = []
    by_sqlitepath: list[bool] = []  # Per accepted batch of new movements: committed there?
    write, commit_rows = sqlitepath._write, actions.commit_rows

    def counting_write(cursor: sqlite3.Cursor, prepared: Any) -> bool:
        done = write(cursor, prepared)
        written.append(done)
        return done

    def counting_commit(rows: list[posting.Row], **kwargs: Any) -> list[TransferView]:
        before = written.count(True)
        views = commit_rows(rows, **kwargs)
        if posting.are_new_movements(rows):
            by_sqlitepath.append(written.count(True) == before + 1)
        return views

    monkeypatch.setattr(sqlitepath, "_write", counting_write)
    monkeypatch.setattr(actions, "commit_rows", counting_commit)
    run_state_machine_as_test(LedgerMachine, settings=_SETTINGS)

    # Every accepted batch of new movements (each account's funding, transfers, linked
    # batches, holds) was committed by SQLite's own path; what it refused (a limit, a frozen
    # account) fell through to the transactional path, which named the error the model expected.
    assert len(by_sqlitepath) >= _SETTINGS.max_examples
    assert all(by_sqlitepath)

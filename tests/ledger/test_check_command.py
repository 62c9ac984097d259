"""``bankmall check`` runs the ledger invariants and the transfers' tamper evidence, and fails
on one line after tampering."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import _env, bankmall

pytestmark = pytest.mark.slow

_MAKE_TRANSFER = """
import django, os
django.setup()
from django.db import transaction
from bankmall.core.money import Money
from bankmall.ledger.actions import AccountSpec, TransferRequest, create_accounts, create_transfers
bank, alice = create_accounts([
    AccountSpec(code="equity:bank", currency="CNY", kind="equity"),
    AccountSpec(code="liability:customer:alice", currency="CNY", kind="liability",
                debits_must_not_exceed_credits=True),
])
create_transfers([TransferRequest(key="seed", debit_account=bank.id, credit_account=alice.id,
                                  amount=Money(500, "CNY"))], client="test")
print(bank.id)
"""


def _checked_ledger(tmp_path: Path, script: str) -> str:
    """A migrated data directory with what ``script`` wrote, passing ``bankmall check``; the
    script's output."""
    assert bankmall("migrate", data_dir=tmp_path).returncode == 0
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=_env(BANKMALL_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="bankmall.settings"),
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert bankmall("check", data_dir=tmp_path).returncode == 0
    return run.stdout.strip()


def test_check_fails_with_one_line_after_a_transfer_row_is_tampered_with(tmp_path: Path) -> None:
    bank_id = _checked_ledger(tmp_path, _MAKE_TRANSFER)
    with sqlite3.connect(tmp_path / "bankmall.sqlite3") as db:
        # A trigger refuses the update: someone with the database file drops it first.
        db.execute("DROP TRIGGER ledger_transfer_never_updated")
        db.execute("UPDATE ledger_transfer SET amount_minor = 499 WHERE key = 'seed'")

    result = bankmall("check", data_dir=tmp_path)

    assert result.returncode == 1
    assert result.stderr == (
        "bankmall: error: integrity check ledger_invariants failed: "
        f"ledger account {bank_id}: stored totals 500/0/0/0 differ from the sums of its"
        " transfers 499/0/0/0\n"
    )


@pytest.mark.parametrize(
    "assignment", ["reference = 'edited'", 'metadata = \'{"description": "edited"}\'']
)
def test_check_fails_with_one_line_after_a_transfers_text_is_edited_behind_the_trigger(
    tmp_path: Path, assignment: str
) -> None:
    """The totals still match; the batch's audit record no longer does."""
    _checked_ledger(tmp_path, _MAKE_TRANSFER)
    with sqlite3.connect(tmp_path / "bankmall.sqlite3") as db:
        # As someone with the database file would: drop the trigger, edit, put it back.
        (trigger,) = db.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'ledger_transfer_never_updated'"
        ).fetchone()
        db.execute("DROP TRIGGER ledger_transfer_never_updated")
        db.execute(f"UPDATE ledger_transfer SET {assignment} WHERE key = 'seed'")  # noqa: S608
        db.execute(trigger)
        (transfer_id,) = db.execute(
            "SELECT public_id FROM ledger_transfer WHERE key = 'seed'"
        ).fetchone()
        (sequence,) = db.execute(
            "SELECT sequence FROM core_auditrecord WHERE target = ?", (transfer_id,)
        ).fetchone()

    result = bankmall("check", data_dir=tmp_path)

    assert result.returncode == 1
    assert "ledger_invariants: ok\n" in result.stdout
    assert result.stderr == (
        "bankmall: error: integrity check ledger_transfer_contents failed: ledger transfer"
        f" batch {transfer_id} (audit record #{sequence}): its transfers differ from what its"
        " audit record sealed (a transfer was changed, added or removed)\n"
    )


def test_the_database_refuses_to_edit_a_transfer_and_check_names_a_missing_trigger(
    tmp_path: Path,
) -> None:
    _checked_ledger(tmp_path, _MAKE_TRANSFER)
    with sqlite3.connect(tmp_path / "bankmall.sqlite3") as db:
        with pytest.raises(sqlite3.IntegrityError, match="ledger transfers are never updated"):
            db.execute("UPDATE ledger_transfer SET reference = 'edited' WHERE key = 'seed'")
        db.execute("DROP TRIGGER ledger_account_never_deleted")

    result = bankmall("check", data_dir=tmp_path)

    assert result.returncode == 1
    assert result.stderr == (
        "bankmall: error: integrity check ledger_invariants failed: ledger table ledger_account"
        " lacks its guard trigger ledger_account_never_deleted: its rows can be changed or"
        " deleted (see docs/ledger.md, Guarantees)\n"
    )


_MAKE_SHARDED = """
import django
django.setup()
from bankmall.core.money import Money
from bankmall.ledger.actions import AccountSpec, TransferRequest, create_accounts, create_transfers
bank, merchant = create_accounts([
    AccountSpec(code="equity:bank", currency="CNY", kind="equity"),
    AccountSpec(code="liability:merchant", currency="CNY", kind="liability", credit_shards=4),
])
create_transfers([TransferRequest(key="sale", debit_account=bank.id, credit_account=merchant.id,
                                  amount=Money(500, "CNY"))], client="test")
print(merchant.id)
"""


def test_check_fails_with_one_line_after_a_shard_row_is_tampered_with(tmp_path: Path) -> None:
    merchant_id = _checked_ledger(tmp_path, _MAKE_SHARDED)
    with sqlite3.connect(tmp_path / "bankmall.sqlite3") as db:
        db.execute("UPDATE ledger_accountshard SET status = 'frozen' WHERE shard = 3")

    result = bankmall("check", data_dir=tmp_path)

    assert result.returncode == 1
    assert result.stderr == (
        "bankmall: error: integrity check ledger_invariants failed: "
        f"ledger account {merchant_id}: its shard rows differ from its credit shards or its"
        " status\n"
    )

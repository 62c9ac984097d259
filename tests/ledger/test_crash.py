"""A process killed (SIGKILL) in the middle of a large linked batch leaves all of it or none."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from bankmall.ledger import queries
from bankmall.ledger.models import Transfer
from tests.ledger.conftest import open_account, transfer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BATCH = 5_000
ROOT = Path(__file__).resolve().parents[2]

_WRITER = """
import sys, time
import django
django.setup()
from django.db import transaction
from bankmall.core.money import Money
from bankmall.ledger.actions import TransferRequest, create_transfers
debit, credits, size, hold = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4]
requests = [
    TransferRequest(key=f"crash-{n}", debit_account=debit, credit_account=credits[n % len(credits)],
                    amount=Money(1, "CNY"))
    for n in range(size)
]
print("starting", flush=True)
with transaction.atomic():
    create_transfers(requests, client="crash")
    print("written", flush=True)
    if hold == "hold":
        time.sleep(120)
print("committed", flush=True)
"""


def _database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        host = settings["HOST"] or "127.0.0.1"
        return (
            f"postgresql://{settings['USER']}@{host}:{settings['PORT'] or 5432}/{settings['NAME']}"
        )
    name = str(settings["NAME"])
    if "memory" in name:
        pytest.skip("the crash test needs a database file another process can open")
    return f"sqlite:///{name}"


def _start_writer(
    debit: str, credit_ids: list[str], hold: str, tmp_path: Path
) -> subprocess.Popen[str]:
    environment = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "BANKMALL_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "bankmall.settings",
        "PYTHONPATH": str(ROOT / "src"),
    }
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, debit, ",".join(credit_ids), str(BATCH), hold],
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    )


def _wait_for(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdout is not None
    for received in process.stdout:
        if received.strip() == line:
            return
    pytest.fail(f"the writer ended before printing {line!r} (exit {process.wait()})")


def _reap(process: subprocess.Popen[str]) -> None:
    process.wait(timeout=60)
    assert process.stdout is not None
    process.stdout.close()


def _accounts() -> tuple[str, list[str]]:
    bank = open_account("equity:bank", kind="equity", no_overdraft=False)
    merchants = [open_account(f"liability:merchant:{n}", no_overdraft=False) for n in range(50)]
    transfer(bank.id, merchants[0].id, 1)
    return bank.id, [m.id for m in merchants]


def test_a_batch_killed_after_its_writes_but_before_commit_leaves_nothing(tmp_path: Path) -> None:
    bank, merchants = _accounts()
    writer = _start_writer(bank, merchants, "hold", tmp_path)
    _wait_for(writer, "written")

    writer.send_signal(signal.SIGKILL)
    _reap(writer)

    assert Transfer.objects.count() == 1
    assert queries.balance(bank).posted.amount_minor == -1
    assert queries.invariant_problems() == []


def test_a_batch_killed_at_a_random_moment_leaves_all_or_nothing(tmp_path: Path) -> None:
    bank, merchants = _accounts()
    writer = _start_writer(bank, merchants, "commit", tmp_path)
    _wait_for(writer, "starting")

    # Somewhere between preparing the batch and just after its commit.
    try:
        writer.wait(timeout=random.uniform(0.0, 0.5))
    except subprocess.TimeoutExpired:
        writer.send_signal(signal.SIGKILL)
    _reap(writer)

    written = Transfer.objects.filter(client="crash").count()
    assert written in {0, BATCH}
    assert queries.balance(bank).posted.amount_minor == -1 - written
    assert queries.invariant_problems() == []

"""A process killed (SIGKILL) in the middle of a large linked batch leaves all of it or none."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from bankmall.core.audit import verify_chain
from bankmall.ledger import queries
from bankmall.ledger.models import Transfer
from tests.ledger.conftest import open_account, transfer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BATCH = 5_000
ROOT = Path(__file__).resolve().parents[2]
#: The writers' application name on PostgreSQL, to find their server processes.
WRITER_NAME = "bankmall-crash-writer"
#: Killed writers per path: half after they enter the path, half after they start its write,
#: each at another moment.
KILLS = 6

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


#: The same batch, sent outside any transaction: it takes the database's one-write path
#: (sqlitepath's BEGIN IMMEDIATE write on SQLite, fastpath's one statement on PostgreSQL). The
#: writer prints when it enters that path ("fast path") and its write ("writing": the
#: transaction under SQLite's lock, the statement sent to PostgreSQL), with their durations and
#: what the path returned, so the test knows the path was taken and when to kill it.
_FAST_WRITER = """
import sys, time
import django
django.setup()
from django.db import connection
from bankmall.core.money import Money
from bankmall.ledger import fastpath, sqlitepath
from bankmall.ledger.actions import TransferRequest, create_transfers
debit, credits, size, prefix = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4]
path, write_name = (
    (fastpath, "_execute") if connection.vendor == "postgresql" else (sqlitepath, "_write")
)
try_post, write = path.try_post, getattr(path, write_name)

def reporting_try_post(rows, **kwargs):
    print("fast path", flush=True)
    started = time.monotonic()
    done = try_post(rows, **kwargs)
    print(f"fast path {'committed' if done else 'refused'} {time.monotonic() - started:.6f}",
          flush=True)
    return done

def reporting_write(*args):
    print("writing", flush=True)
    started = time.monotonic()
    result = write(*args)
    print(f"written {time.monotonic() - started:.6f}", flush=True)
    return result

path.try_post = reporting_try_post
setattr(path, write_name, reporting_write)
requests = [
    TransferRequest(key=f"{prefix}-{n}", debit_account=debit,
                    credit_account=credits[n % len(credits)], amount=Money(1, "CNY"))
    for n in range(size)
]
create_transfers(requests, client="crash")
print("committed", flush=True)
"""


def _database_url() -> str:
    database = connection.settings_dict
    if connection.vendor == "postgresql":
        host = database["HOST"] or "127.0.0.1"
        return (
            f"postgresql://{database['USER']}@{host}:{database['PORT'] or 5432}/{database['NAME']}"
        )
    name = str(database["NAME"])
    if "memory" in name:
        pytest.skip("the crash test needs a database file another process can open")
    return f"sqlite:///{name}"


def _start_writer(
    debit: str, credit_ids: list[str], option: str, tmp_path: Path, script: str = _WRITER
) -> subprocess.Popen[str]:
    """``script`` in a new process on the test database; ``option`` is its last argument."""
    environment = {
        **os.environ,
        "PGAPPNAME": WRITER_NAME,
        # The writers' audit records are chained with the key this process verifies with.
        "AUDIT_CHAIN_KEY": settings.AUDIT_CHAIN_KEY,
        "DATABASE_URL": _database_url(),
        "BANKMALL_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "bankmall.settings",
        "PYTHONPATH": str(ROOT / "src"),
    }
    return subprocess.Popen(
        [sys.executable, "-c", script, debit, ",".join(credit_ids), str(BATCH), option],
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


def _output(process: subprocess.Popen[str]) -> list[str]:
    """Every line the process printed after the ones already read; waits for its end."""
    assert process.stdout is not None
    lines = [line.strip() for line in process.stdout]
    _reap(process)
    return lines


def _wait_for_writers_to_end() -> None:
    """On PostgreSQL, until the killed writers' server processes have ended: a statement a
    writer sent runs on after the writer is gone (and in autocommit, commits)."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + 60
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = %s",
                [WRITER_NAME],
            )
            (running,) = cursor.fetchone()
        if running == 0:
            return
        assert time.monotonic() < deadline, "a killed writer's server process never ended"
        time.sleep(0.05)


def _fast_write(bank: str, merchants: list[str], prefix: str, tmp_path: Path) -> dict[str, float]:
    """One batch through the one-write path, to its end: the seconds from each mark the writer
    prints ("fast path", "writing") to the end of what it marks."""
    writer = _start_writer(bank, merchants, prefix, tmp_path, _FAST_WRITER)
    _wait_for(writer, "fast path")
    lines = _output(writer)
    assert [line.rsplit(" ", 1)[0] for line in lines] == [
        "writing",
        "written",
        "fast path committed",
        "committed",
    ]
    return {"writing": float(lines[1].split()[-1]), "fast path": float(lines[2].split()[-1])}


def test_a_batch_killed_inside_the_one_write_path_leaves_all_or_nothing(tmp_path: Path) -> None:
    # Outside any transaction the batch takes SQLite's own BEGIN IMMEDIATE write (in the batch
    # queue: 5,000 transfers) or PostgreSQL's one statement. Writers are killed at moments
    # spread over the time the path took, and over the time its write took (SQLite's lock
    # held, PostgreSQL's statement sent), up to a little after they end.
    bank, merchants = _accounts()
    seconds = _fast_write(bank, merchants, "timed", tmp_path)
    written = {"timed": BATCH}

    for kill in range(KILLS):
        prefix = f"killed{kill}"
        mark = ("fast path", "writing")[kill % 2]
        writer = _start_writer(bank, merchants, prefix, tmp_path, _FAST_WRITER)
        _wait_for(writer, mark)
        slice_seconds = 1.25 * seconds[mark] / (KILLS // 2)
        try:
            writer.wait(timeout=random.uniform(kill // 2, kill // 2 + 1) * slice_seconds)
        except subprocess.TimeoutExpired:
            writer.send_signal(signal.SIGKILL)
        assert "fast path refused" not in _output(writer)
        _wait_for_writers_to_end()
        batch = Transfer.objects.filter(client="crash", key__startswith=f"{prefix}-")
        written[prefix] = batch.count()

        assert written[prefix] in {0, BATCH}
        assert queries.balance(bank).posted.amount_minor == -1 - sum(written.values())
        assert queries.invariant_problems() == []

    # The killed writers left no lock behind: the next batch takes the same path and commits.
    _fast_write(bank, merchants, "after", tmp_path)
    written["after"] = BATCH
    assert Transfer.objects.filter(client="crash").count() == sum(written.values())
    assert queries.balance(bank).posted.amount_minor == -1 - sum(written.values())
    assert queries.invariant_problems() == []
    report = verify_chain()
    assert report.is_intact, report.problems

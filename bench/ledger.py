"""Ledger throughput against the database's own limit; prints JSON, the last line a summary.

    python bench/ledger.py --database-url postgresql://root@127.0.0.1:5432/postgres --seconds 30
    python bench/ledger.py --database-url sqlite:///tmp/bench.sqlite3 --seconds 30

PostgreSQL: a database ``bench_ledger_<pid>`` is created on the server named by the URL (and
dropped at the end); the baseline is ``pgbench`` TPC-B-like (``-i -s 16``, then ``-M prepared
-c 8 -j 2 -T <seconds>``) in that database. SQLite: the file named by the URL (or a temporary
one) holds the ledger, and the baseline is a plain ``sqlite3`` script running the same tpcb-like
statements (WAL, ``synchronous=FULL``) with 8 callers in a file beside it. The baseline runs
right before the workloads and again right after them, for ``--seconds`` each: every ratio is to
the mean of the two, and ``baseline_drift`` (after / before) shows how far the machine moved in
between. ``--rounds N`` runs the workloads N times, each round between two baseline runs (N + 1
in all), and gives each figure as its median over the rounds, with every round's ratios listed
(``single_ratio_rounds`` …): on a host whose speed moves from one minute to the next, a figure
near its target is only decided by several rounds.

Workloads, each for ``--seconds``, all through the public actions (the audit record with its
event, idempotency keys and pending totals included):
- ``single``: 8 callers, one transfer per ``create_transfers`` call and transaction, as
  ``bankmall serve`` runs them by default: 2 processes of 4 threads (pgbench's ``-c 8 -j 2``
  likewise serves its 8 connections from 2 threads);
- ``single_processes``: the same from 8 single-threaded processes (``single`` until the tenth
  session, kept for comparison with earlier figures);
- ``single_coalesced``: 8 caller threads, one transfer per call through ``submit_transfers``,
  which commits concurrent calls together (group commit);
- ``batched``: linked batches of 1,000 transfers per call and transaction;
- ``hot_single`` / ``hot_coalesced`` / ``hot_batched``: the same, with 80 % of transfers
  crediting one merchant account. The merchant is a designated hot account with
  ``credit_shards=16`` (docs/ledger.md, "Hot accounts"): a bank designates its clearing and
  big-merchant accounts, whose incoming payments would otherwise all queue on one row lock, so
  its posted credits go to 16 shard rows and writers on different connections do not wait for
  one another.
``batched`` and ``hot_batched``, whose rates are compared, run in alternating halves (``batched``,
``hot_batched``, ``batched``, ``hot_batched``) so both meet tables of about the same size.
The ledger invariants are checked after every workload; a failed check voids its figure.

CPU: around every baseline run and workload the harness also reads how much CPU time the
machine spent (Linux's ``/proc``: every core's busy time, and how much of it PostgreSQL's own
processes took), per transfer and per baseline transaction. ``single_cpu_ratio`` and
``batched_cpu_ratio`` are the baseline's CPU per transaction over the ledger's per transfer:
the ratio the throughput figures tend to where both sides are bound by the CPU (a fast commit),
whatever the disk; where the baseline waits on its commits (a slow disk), the throughput
ratios stand above them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

CALLERS = 8
BATCH_CALLERS_USED = [0]
COALESCING_PROCESSES = 2
#: ``bankmall serve``'s default worker processes (of 4 threads each: 8 callers).
SERVE_PROCESSES: Final = 2
BATCH_SIZE = 1_000
CUSTOMERS = 10_000
#: Transfers crediting the hot merchant in the hot workloads: 4 in 5, drawn exactly.
HOT_SHARE: Final = Fraction(4, 5)
#: Each transfer's amount: 1 to this many minor units, uniformly.
AMOUNT_MAX_MINOR: Final = 10_000
PGBENCH_SCALE = 16
SQLITE_BRANCHES = 16
FUNDING_MINOR = 10**12
#: The hot merchant's credit shards: more than the callers, so each connection's shard
#: (chosen by its audit lane) is its own.
HOT_CREDIT_SHARDS = 16


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ CPU spent

#: The kernel's clock ticks a second, the unit of ``/proc``'s CPU times.
_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: CPU spent by each measured run, by name ("baseline" and each workload's): (busy seconds of
#: every core, of which PostgreSQL's processes, of which the kernel's, units of work:
#: transactions or transfers).
CPU_SPENT: Final[dict[str, list[tuple[float, float, float, float]]]] = {}


def _cpu_sample() -> tuple[float, float, float] | None:
    """(busy seconds of every core so far, seconds of PostgreSQL's processes so far, busy
    seconds in the kernel so far), or ``None`` where there is no ``/proc``. Busy is
    ``/proc/stat``'s user, nice, system, irq and softirq time (not idle, I/O wait or another
    guest's steal); the kernel's is its system, irq and softirq time: system calls, context
    switches, the network and the disk — what a workload of many round trips spends more
    of on a host where they are dear. PostgreSQL's is each live ``postgres`` process's time and
    its reaped children's (a backend that ended is counted in the postmaster's), so backends
    that come and go within a run are counted."""
    try:
        with Path("/proc/stat").open(encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = map(int, fields[1:8])
    server = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue  # Ended meanwhile.
        name_end = text.rfind(")")
        if text[text.find("(") + 1 : name_end] != "postgres":
            continue
        # After the name: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
        server += sum(map(int, text[name_end + 2 :].split()[11:15]))
    kernel = system + irq + softirq
    return (user + nice + kernel) / _CLOCK_TICKS, server / _CLOCK_TICKS, kernel / _CLOCK_TICKS


def _record_cpu(name: str, before: tuple[float, float, float] | None, units: float) -> None:
    """Add what the machine spent since ``before`` (``_cpu_sample``) on ``units`` of ``name``."""
    after = _cpu_sample()
    if before is None or after is None or units <= 0:
        return
    spent = (after[0] - before[0], after[1] - before[1], after[2] - before[2], units)
    CPU_SPENT.setdefault(name, []).append(spent)


def _cpu_figures(name: str) -> tuple[float | None, float | None, float | None]:
    """(µs of CPU per unit of ``name``'s runs, the share of it PostgreSQL's processes took, the
    share of it the kernel's)."""
    runs = CPU_SPENT.get(name)
    if not runs:
        return None, None, None
    busy = sum(run[0] for run in runs)
    units = sum(run[3] for run in runs)
    if busy <= 0:
        return round(busy / units * 1e6, 1), None, None
    server, kernel = (round(sum(run[part] for run in runs) / busy, 3) for part in (1, 2))
    return round(busy / units * 1e6, 1), server, kernel


# ------------------------------------------------------------------ databases


def _pg_url(url: str, database: str) -> str:
    parts = urlparse(url)
    return urlunparse(parts._replace(path=f"/{database}"))


def _psql(url: str, sql: str) -> None:
    subprocess.run(
        ["psql", _pg_url(url, "postgres"), "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
    )


def _pgbench_init(url: str) -> None:
    _log(f"pgbench -i -s {PGBENCH_SCALE}")
    subprocess.run(
        ["pgbench", "-i", "-s", str(PGBENCH_SCALE), "-q", url], check=True, capture_output=True
    )


def _pgbench(url: str, seconds: int) -> float:
    _psql(url, "CHECKPOINT")  # Each measurement starts right after a checkpoint (see _vacuum).
    _log(f"pgbench -M prepared -c 8 -j 2 -T {seconds}")
    before = _cpu_sample()
    result = subprocess.run(
        ["pgbench", "-M", "prepared", "-c", "8", "-j", "2", "-T", str(seconds), url],
        check=True,
        capture_output=True,
        text=True,
    )
    match = re.search(r"tps = ([0-9.]+)", result.stdout)
    if match is None:
        raise RuntimeError(f"no tps in pgbench output: {result.stdout}")
    processed = re.search(r"number of transactions actually processed: ([0-9]+)", result.stdout)
    _record_cpu("baseline", before, float(processed.group(1)) if processed else 0.0)
    return float(match.group(1))


def _sqlite_baseline_init(path: Path) -> None:
    """The tpcb-like tables, in a plain sqlite3 file of their own."""
    accounts = 100_000 * SQLITE_BRANCHES
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(
            "CREATE TABLE branches (bid INTEGER PRIMARY KEY, bbalance INTEGER, filler TEXT);"
            "CREATE TABLE tellers (tid INTEGER PRIMARY KEY, bid INTEGER, tbalance INTEGER,"
            " filler TEXT);"
            "CREATE TABLE accounts (aid INTEGER PRIMARY KEY, bid INTEGER, abalance INTEGER,"
            " filler TEXT);"
            "CREATE TABLE history (tid INTEGER, bid INTEGER, aid INTEGER, delta INTEGER,"
            " mtime TEXT, filler TEXT);"
        )
        db.executemany(
            "INSERT INTO branches VALUES (?, 0, '')",
            [(b,) for b in range(1, SQLITE_BRANCHES + 1)],
        )
        db.executemany(
            "INSERT INTO tellers VALUES (?, ?, 0, '')",
            [(t, (t - 1) // 10 + 1) for t in range(1, 10 * SQLITE_BRANCHES + 1)],
        )
        db.executemany(
            "INSERT INTO accounts VALUES (?, ?, 0, '')",
            ((a, (a - 1) // 100_000 + 1) for a in range(1, accounts + 1)),
        )


def _sqlite_baseline(path: Path, seconds: int) -> float:
    """The tpcb-like transaction of pgbench, in plain sqlite3 with 8 caller processes."""
    _log(f"sqlite3 tpcb-like, 8 callers, {seconds}s")
    accounts = 100_000 * SQLITE_BRANCHES
    before = _cpu_sample()
    tps = _run_processes(_sqlite_tpcb_caller, (str(path), accounts), seconds, CALLERS)[0]
    _record_cpu("baseline", before, tps * seconds)
    return tps


def _sqlite_tpcb_caller(args: tuple[str, int], deadline: float, results: Any) -> None:
    path, accounts = args
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA synchronous=FULL")
    count, latencies = 0, []
    while time.monotonic() < deadline:
        aid = random.randint(1, accounts)
        tid = random.randint(1, 10 * SQLITE_BRANCHES)
        bid = random.randint(1, SQLITE_BRANCHES)
        delta = random.randint(-5000, 5000)
        started = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE accounts SET abalance = abalance + ? WHERE aid = ?", (delta, aid))
        db.execute("SELECT abalance FROM accounts WHERE aid = ?", (aid,)).fetchone()
        db.execute("UPDATE tellers SET tbalance = tbalance + ? WHERE tid = ?", (delta, tid))
        db.execute("UPDATE branches SET bbalance = bbalance + ? WHERE bid = ?", (delta, bid))
        db.execute(
            "INSERT INTO history (tid, bid, aid, delta, mtime) VALUES (?, ?, ?, ?,"
            " CURRENT_TIMESTAMP)",
            (tid, bid, aid, delta),
        )
        db.execute("COMMIT")
        latencies.append(time.perf_counter() - started)
        count += 1
    results.put((count, latencies))


# ------------------------------------------------------------------ harness


def _run_processes(
    target: Callable[[Any, float, Any], None], args: Any, seconds: float, callers: int
) -> tuple[float, list[float]]:
    """Run ``callers`` forked processes from a shared start to a shared deadline ``seconds``
    later; return (per second, latencies). Each process waits for the start (forking and the
    rest of the setup happen before it), so every call counted was made inside the window the
    count is divided by. (Until the tenth session the callers began at once and the count was
    divided by ``seconds`` although they ran about one second longer: the ledger's and the
    SQLite script's rates read ~3 % high in 30-second runs; pgbench's, measured by itself, not.)"""
    from django.conf import settings  # noqa: PLC0415

    if settings.configured:
        from django.db import connections  # noqa: PLC0415

        # Forked callers must open their own connections, never share the parent's.
        connections.close_all()
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    started = time.monotonic() + 1.0
    deadline = started + seconds
    processes = [
        context.Process(target=_from, args=(started, target, args, deadline, results))
        for _ in range(callers)
    ]
    for process in processes:
        process.start()
    collected = [results.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    total = sum(count for count, _ in collected)
    latencies = [value for _, values in collected for value in values]
    return total / max(seconds, 1e-9), latencies


def _from(
    started: float,
    target: Callable[[Any, float, Any], None],
    args: Any,
    deadline: float,
    results: Any,
) -> None:
    """A caller process: wait for the shared start, then run ``target`` until ``deadline``.

    Like a ``bankmall serve`` worker once it has loaded the application, every caller (the
    baseline's too, alike) sets the process's long-lived objects aside from the garbage
    collector first (``core.heap``)."""
    from django.conf import settings  # noqa: PLC0415

    if settings.configured:
        from bankmall.core.heap import freeze_long_lived  # noqa: PLC0415

        freeze_long_lived()
    time.sleep(max(0.0, started - time.monotonic()))
    target(args, deadline, results)


def _run_threads(
    target: Callable[[Any, float, Any], None],
    args: Any,
    seconds: float,
    callers: int,
    processes: int | None = None,
) -> tuple[float, list[float]]:
    """``callers`` threads split over ``processes`` forked processes (the shape of ``bankmall
    serve``: a few worker processes with several threads each; ``COALESCING_PROCESSES`` when
    not given)."""
    processes = processes or COALESCING_PROCESSES
    per_process = max(1, callers // processes)
    return _run_processes(_threads_in_process, (target, args, per_process), seconds, processes)


def _threads_in_process(packed: Any, deadline: float, results: Any) -> None:
    import queue  # noqa: PLC0415

    target, args, count = packed
    inner: queue.Queue[tuple[int, list[float]]] = queue.Queue()
    threads = [threading.Thread(target=target, args=(args, deadline, inner)) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    collected = [inner.get() for _ in threads]
    results.put(
        (sum(n for n, _ in collected), [value for _, values in collected for value in values])
    )


# ------------------------------------------------------------------ ledger workloads


def _setup_ledger() -> dict[str, Any]:
    from bankmall.core.money import Money  # noqa: PLC0415
    from bankmall.ledger.actions import (  # noqa: PLC0415
        AccountSpec,
        TransferRequest,
        create_accounts,
        create_transfers,
    )

    _log(f"creating {CUSTOMERS} funded accounts")
    (bank, hot) = create_accounts(
        [
            AccountSpec(code="equity:bench:bank", currency="CNY", kind="equity"),
            AccountSpec(
                code="liability:bench:merchant",
                currency="CNY",
                kind="liability",
                credit_shards=HOT_CREDIT_SHARDS,
            ),
        ]
    )
    customers: list[str] = []
    for start in range(0, CUSTOMERS, 1_000):
        specs = [
            AccountSpec(
                code=f"liability:bench:customer:{n}",
                currency="CNY",
                kind="liability",
                debits_must_not_exceed_credits=True,
            )
            for n in range(start, min(start + 1_000, CUSTOMERS))
        ]
        accounts = create_accounts(specs)
        customers.extend(account.id for account in accounts)
        create_transfers(
            [
                TransferRequest(
                    key=f"fund:{account.id}",
                    debit_account=bank.id,
                    credit_account=account.id,
                    amount=Money(FUNDING_MINOR, "CNY"),
                )
                for account in accounts
            ],
            client="bench",
        )
    _vacuum()
    return {"customers": customers, "hot": hot.id}


def _vacuum() -> None:
    """VACUUM ANALYZE the ledger's tables before each workload, as pgbench vacuums its own
    before every run (and gathers statistics after ``-i``). A production server's autovacuum
    does this continuously; this machine's PostgreSQL runs with ``autovacuum = off``, where
    every workload would otherwise start on the dead row versions the ones before it left
    (the ledger's prepared statements are also planned from the statistics there are).
    Needs a superuser or the ``pg_checkpoint`` role on PostgreSQL, like ``pgbench -i``'s
    database creation needs its rights."""
    from django.db import connection  # noqa: PLC0415

    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute("ANALYZE")
            return
        cursor.execute("VACUUM ANALYZE")
        # And a checkpoint, as before pgbench's run: after one, the first change to each page
        # writes the whole page to the WAL, so a workload that started late in a checkpoint
        # cycle would be measured cheaper or dearer than one that started early.
        cursor.execute("CHECKPOINT")


def _requests(
    accounts: dict[str, Any], count: int, *, hot: bool, tag: str, rng: random.Random
) -> list[Any]:
    """``count`` transfers between two distinct random customers (on hot workloads, crediting
    the hot merchant instead with ``HOT_SHARE``), each of 1 to ``AMOUNT_MAX_MINOR`` minor units.

    A client's real request objects, but the harness's own choices cost little: one random
    number per transfer holds them all (the ordered pair of customers, the amount and, when
    hot, whether the merchant is credited). ``rng.sample``, ``rng.randint`` and ``rng.random``
    were 30 % of the requests' cost, which pgbench's C client never pays."""
    from bankmall.core.money import Money  # noqa: PLC0415
    from bankmall.ledger.actions import TransferRequest  # noqa: PLC0415

    customers = accounts["customers"]
    merchant = accounts["hot"]
    others = len(customers) - 1
    pairs = len(customers) * others
    # Of every ``shares`` equally likely outcomes, ``to_merchant`` credit the merchant.
    shares, to_merchant = (HOT_SHARE.denominator, HOT_SHARE.numerator) if hot else (1, 0)
    draws = pairs * AMOUNT_MAX_MINOR * shares
    bits = draws.bit_length()
    made = []
    for n in range(count):
        draw = rng.getrandbits(bits)
        while draw >= draws:  # Rejected draws keep every outcome equally likely.
            draw = rng.getrandbits(bits)
        draw, share = divmod(draw, shares)
        amount_minor, pair = divmod(draw, pairs)
        debit_index, credit_index = divmod(pair, others)
        if credit_index >= debit_index:  # Never the debit account itself.
            credit_index += 1
        made.append(
            TransferRequest(
                key=f"{tag}:{n}",
                debit_account=customers[debit_index],
                credit_account=merchant if share < to_merchant else customers[credit_index],
                amount=Money(amount_minor + 1, "CNY"),
                code="bench",
            )
        )
    return made


def _ledger_caller(
    args: tuple[dict[str, Any], str, int, bool], deadline: float, results: Any
) -> None:
    from bankmall.ledger.actions import create_transfers  # noqa: PLC0415

    accounts, name, batch_size, hot = args
    rng = random.Random()
    tag = f"{name}:{os.getpid()}:{threading.get_ident()}"
    count, latencies, round_number = 0, [], 0
    while time.monotonic() < deadline:
        requests = _requests(accounts, batch_size, hot=hot, tag=f"{tag}:{round_number}", rng=rng)
        started = time.perf_counter()
        create_transfers(requests, client="bench", actor="bench")
        latencies.append(time.perf_counter() - started)
        count += batch_size
        round_number += 1
    results.put((count, latencies))


def _coalesced_caller(
    args: tuple[dict[str, Any], str, bool], deadline: float, results: Any
) -> None:
    from django.db import connection  # noqa: PLC0415

    from bankmall.ledger.actions import submit_transfers  # noqa: PLC0415

    accounts, name, hot = args
    rng = random.Random()
    tag = f"{name}:{os.getpid()}:{threading.get_ident()}"
    count, latencies = 0, []
    while time.monotonic() < deadline:
        (request,) = _requests(accounts, 1, hot=hot, tag=f"{tag}:{count}", rng=rng)
        started = time.perf_counter()
        submit_transfers([request], client="bench", actor="bench")
        latencies.append(time.perf_counter() - started)
        count += 1
    connection.close()
    results.put((count, latencies))


def _invariants_ok() -> bool:
    from bankmall.ledger.queries import invariant_problems  # noqa: PLC0415

    problems = invariant_problems()
    for problem in problems:
        _log(f"INVARIANT BROKEN: {problem}")
    return not problems


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 3)


WORKLOADS: Final = (
    "single",
    "single_coalesced",
    "batched",
    "hot_single",
    "hot_coalesced",
    "hot_batched",
    "single_processes",
)


#: The two batched workloads, run in alternating halves (``_schedule``).
ALTERNATED: Final = ("batched", "hot_batched")


def _schedule(names: list[str], seconds: int) -> list[tuple[str, float]]:
    """(workload, seconds) in the order run. ``batched`` and ``hot_batched`` are compared with
    each other, so they run in alternating halves on tables of about the same size (run one
    after the other, the second always met tables one workload larger, which on SQLite moved
    their ratio by up to 0.3); every other workload runs whole, in ``WORKLOADS`` order."""
    if not all(name in names for name in ALTERNATED):
        return [(name, float(seconds)) for name in names]
    half = seconds / 2
    order: list[tuple[str, float]] = []
    for name in names:
        if name == ALTERNATED[0]:
            order += [(alternated, half) for _ in range(2) for alternated in ALTERNATED]
        elif name not in ALTERNATED:
            order.append((name, float(seconds)))
    return order


def _warm_up(accounts: dict[str, Any]) -> None:
    """The callers start as a worker that has served for a while: on PostgreSQL its process
    remembers the ids of the accounts it writes to (``fastpath.remember_accounts``). Forked
    from here, each caller process inherits them. Until the twelfth session every caller
    learned each account on its first write to it, one more round trip for that write, which
    with 10,000 customers touched most of a process's first ~10,000 calls (measured on a new
    process, 4,000 calls one after another: 203 µs of Python and 352 µs of server CPU a call
    while it learned the accounts, 86 and 237 µs when it knew them)."""
    from django.db import connection  # noqa: PLC0415

    known = list(accounts.get("customers", ()))
    if "hot" in accounts:
        known.append(accounts["hot"])
    if known and connection.vendor == "postgresql":
        from bankmall.ledger.fastpath import remember_accounts  # noqa: PLC0415

        remember_accounts(known)


def _workloads(
    accounts: dict[str, Any], seconds: int, batch_callers: int, only: frozenset[str]
) -> dict[str, Any]:
    BATCH_CALLERS_USED[0] = batch_callers
    runs: dict[str, Callable[[float, str], tuple[float, list[float]]]] = {
        "single": lambda length, tag: _run_threads(
            _ledger_caller, (accounts, tag, 1, False), length, CALLERS, SERVE_PROCESSES
        ),
        "single_processes": lambda length, tag: _run_processes(
            _ledger_caller, (accounts, tag, 1, False), length, CALLERS
        ),
        "single_coalesced": lambda length, tag: _run_threads(
            _coalesced_caller, (accounts, tag, False), length, CALLERS
        ),
        "batched": lambda length, tag: _run_processes(
            _ledger_caller, (accounts, tag, BATCH_SIZE, False), length, batch_callers
        ),
        "hot_single": lambda length, tag: _run_threads(
            _ledger_caller, (accounts, tag, 1, True), length, CALLERS, SERVE_PROCESSES
        ),
        "hot_coalesced": lambda length, tag: _run_threads(
            _coalesced_caller, (accounts, tag, True), length, CALLERS
        ),
        "hot_batched": lambda length, tag: _run_processes(
            _ledger_caller, (accounts, tag, BATCH_SIZE, True), length, batch_callers
        ),
    }
    _warm_up(accounts)
    names = [name for name in WORKLOADS if not only or name in only]
    done: dict[str, tuple[float, float, list[float], bool]] = {}  # count, time, latencies, ok
    for part, (name, time_part) in enumerate(_schedule(names, seconds)):
        _vacuum()
        _log(f"ledger workload {name} for {time_part:g}s")
        before = _cpu_sample()
        tps, latencies = runs[name](time_part, f"{name}{part}")
        _record_cpu(name, before, tps * time_part)
        count, elapsed, previous, ok = done.get(name, (0.0, 0.0, [], True))
        done[name] = (
            count + tps * time_part,
            elapsed + time_part,
            previous + latencies,
            ok and _invariants_ok(),
        )
    figures: dict[str, Any] = {}
    for name in names:
        count, elapsed, latencies, ok = done[name]
        # A broken invariant voids every figure of the workload: a wrong ledger has no speed.
        figures[name] = {
            "tps": round(count / elapsed, 1) if ok else None,
            "latency_ms_p50": _percentile(latencies, 0.50) if ok else None,
            "latency_ms_p99": _percentile(latencies, 0.99) if ok else None,
            "invariants_ok": ok,
        }
        _log(json.dumps({name: figures[name]}))
    return figures


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return round(value / base, 3)


def _summary(
    database: str, baselines: tuple[float, float], figures: dict[str, Any]
) -> dict[str, Any]:
    """The summary line. ``baselines``: the baseline's tps right before the workloads and right
    after them; every ratio is to their mean, and ``baseline_drift`` (after / before) says how
    far the machine itself moved meanwhile (this host's disk alone moves by ±20 % from one
    minute to the next, so a ratio is only as good as the drift is small)."""
    before, after = baselines
    baseline = (before + after) / 2
    tps: dict[str, Any] = {name: figure["tps"] for name, figure in figures.items()}
    tps = {name: tps.get(name) for name in WORKLOADS}
    latency = {name: figures.get(name, {}) for name in WORKLOADS}
    baseline_cpu, baseline_share, baseline_kernel = _cpu_figures("baseline")
    single_cpu, single_share, single_kernel = _cpu_figures("single")
    batched_cpu, batched_share, batched_kernel = _cpu_figures("batched")
    return {
        "database": database,
        "baseline_tps": round(baseline, 1),
        "baseline_tps_before": round(before, 1),
        "baseline_tps_after": round(after, 1),
        "baseline_drift": _ratio(after, before),
        "single_tps": tps["single"],
        "single_ratio": _ratio(tps["single"], baseline),
        "single_processes_tps": tps["single_processes"],
        "single_processes_ratio": _ratio(tps["single_processes"], baseline),
        "single_coalesced_tps": tps["single_coalesced"],
        "single_coalesced_ratio": _ratio(tps["single_coalesced"], baseline),
        "batched_tps": tps["batched"],
        "batched_ratio": _ratio(tps["batched"], baseline),
        "hot_tps": tps["hot_single"],
        "hot_ratio": _ratio(tps["hot_single"], baseline),
        "hot_coalesced_tps": tps["hot_coalesced"],
        "hot_coalesced_ratio": _ratio(tps["hot_coalesced"], baseline),
        "hot_batched_tps": tps["hot_batched"],
        "hot_ratio_to_batched": _ratio(tps["hot_batched"], tps["batched"]),
        "latency_ms_p50": latency["single"].get("latency_ms_p50"),
        "latency_ms_p99": latency["single"].get("latency_ms_p99"),
        "coalesced_latency_ms_p50": latency["single_coalesced"].get("latency_ms_p50"),
        "coalesced_latency_ms_p99": latency["single_coalesced"].get("latency_ms_p99"),
        "batched_latency_ms_p50": latency["batched"].get("latency_ms_p50"),
        # CPU per baseline transaction and per transfer (µs, all cores), PostgreSQL's share.
        "baseline_cpu_us": baseline_cpu,
        "single_cpu_us": single_cpu,
        "batched_cpu_us": batched_cpu,
        "baseline_server_cpu_share": baseline_share if database == "postgresql" else None,
        "single_server_cpu_share": single_share if database == "postgresql" else None,
        "batched_server_cpu_share": batched_share if database == "postgresql" else None,
        # The kernel's share of it: round trips' system calls and switches (all databases).
        "baseline_kernel_cpu_share": baseline_kernel,
        "single_kernel_cpu_share": single_kernel,
        "batched_kernel_cpu_share": batched_kernel,
        "single_cpu_ratio": _ratio(baseline_cpu, single_cpu),
        "batched_cpu_ratio": _ratio(baseline_cpu, batched_cpu),
        "invariants_ok": all(figure["invariants_ok"] for figure in figures.values()),
        "callers": CALLERS,
        "batch_size": BATCH_SIZE,
        "batch_callers": BATCH_CALLERS_USED[0],
        "coalescing_processes": COALESCING_PROCESSES,
        "cpus": os.cpu_count(),
    }


#: The issue's targets: (summary key, label, target) per database.
TARGETS: Final = {
    "postgresql": (
        ("single_ratio", "single", 0.8),
        ("batched_ratio", "batched", 10.0),
        ("hot_ratio", "hot single", 0.5),
        ("hot_ratio_to_batched", "hot batched", 1.0),
    ),
    "sqlite": (
        ("single_ratio", "single", 0.7),
        ("batched_ratio", "batched", 15.0),
        ("hot_ratio_to_batched", "hot batched", 1.0),
    ),
}


def chart(summary: dict[str, Any]) -> str:
    """An SVG bar chart of this run's figures as a percentage of their targets (100 = met)."""
    from bankmall.core.charts import Point, bar_chart  # noqa: PLC0415

    database = str(summary["database"])
    points = [
        Point(f"{label} {summary[key]}/{target}", round(100 * summary[key] / target))
        for key, label, target in TARGETS[database]
        if summary.get(key) is not None
    ]
    title = f"Ledger on {database}: each figure as % of its target (100 = met)"
    description = "; ".join(f"{point.label}: {point.value} %" for point in points)
    return str(bar_chart(points, title=title, description=description))


#: The summary's figures that are also listed round by round (``<name>_rounds``).
ROUND_LISTED: Final = (
    "single_ratio",
    "single_processes_ratio",
    "single_coalesced_ratio",
    "batched_ratio",
    "hot_ratio",
    "hot_coalesced_ratio",
    "hot_ratio_to_batched",
)
#: The summary's figures that are a median over the rounds (by how their names end).
_ROUND_MEDIAN_ENDINGS: Final = ("_tps", "_ratio", "_ratio_to_batched", "_ms_p50", "_ms_p99")


def _rounds(
    baseline: Callable[[], float],
    workloads: Callable[[], dict[str, Any]],
    args: argparse.Namespace,
) -> tuple[list[float], list[dict[str, Any]]]:
    """The baseline, then ``args.rounds`` times the workloads and the baseline again: each
    round's workloads run between the two baseline runs its ratios are to."""
    baselines = [baseline()]
    rounds: list[dict[str, Any]] = []
    for number in range(1, args.rounds + 1):
        if args.rounds > 1:
            _log(f"round {number} of {args.rounds}")
        rounds.append(workloads())
        baselines.append(baseline())
    return baselines, rounds


def _ledger_rounds(
    url: str,
    work_dir: Path,
    args: argparse.Namespace,
    only: frozenset[str],
    *,
    close_connections: bool,
) -> Callable[[], dict[str, Any]]:
    """One round of the ledger's workloads, as ``_rounds`` calls it: the first call starts
    Django on ``url`` and funds the accounts, every call runs the workloads on them.
    ``close_connections``: close Django's connections after each round, so the baseline that
    follows has the server to itself (PostgreSQL)."""
    accounts: dict[str, Any] = {}

    def workloads() -> dict[str, Any]:
        if not accounts:
            _start_django(url, work_dir)
            accounts.update(_setup_ledger())
        figures = _workloads(accounts, args.seconds, args.batch_callers, only)
        if close_connections:
            from django.db import connections  # noqa: PLC0415

            connections.close_all()
        return figures

    return workloads


def _median_or_none(values: list[Any], digits: int) -> Any:
    """The median, or ``None`` if any round has none (a broken invariant voids the figure)."""
    if any(value is None for value in values):
        return None
    return round(statistics.median(values), digits)


def _summary_of_rounds(
    database: str, baselines: list[float], rounds: list[dict[str, Any]]
) -> dict[str, Any]:
    """The summary line of one or more rounds. One round: ``_summary`` of it. Several: each
    throughput, ratio and latency is the median of the rounds' (each round's ratios to the mean
    of the baselines right before and after it), ``<name>_rounds`` lists every round's ratio,
    the baseline's before and after are the first and last runs, the CPU figures are over every
    run (``CPU_SPENT``), and the invariants must have held in every round."""
    summaries = [
        _summary(database, (before, after), figures)
        for before, after, figures in zip(baselines, baselines[1:], rounds, strict=False)
    ]
    if len(summaries) == 1:
        return {**summaries[0], "rounds": 1}
    combined = dict(summaries[0])
    for key, value in summaries[0].items():
        if key.endswith(_ROUND_MEDIAN_ENDINGS) and not isinstance(value, bool):
            digits = 1 if key.endswith("_tps") else 3  # As ``_summary`` rounds them.
            combined[key] = _median_or_none([summary[key] for summary in summaries], digits)
    before, after = baselines[0], baselines[-1]
    combined["baseline_tps_before"] = round(before, 1)
    combined["baseline_tps_after"] = round(after, 1)
    combined["baseline_drift"] = _ratio(after, before)
    combined["invariants_ok"] = all(summary["invariants_ok"] for summary in summaries)
    combined["rounds"] = len(summaries)
    combined["baseline_tps_rounds"] = [round(baseline, 1) for baseline in baselines]
    for key in ROUND_LISTED:
        combined[f"{key}_rounds"] = [summary[key] for summary in summaries]
    return combined


def _run_result(
    database: str, baselines: list[float], rounds: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "workloads": rounds[0] if len(rounds) == 1 else rounds,
        "summary": _summary_of_rounds(database, baselines, rounds),
    }


def _start_django(url: str, data_dir: Path) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["BANKMALL_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bankmall.settings"
    import django  # noqa: PLC0415
    from django.core.management import call_command  # noqa: PLC0415

    django.setup()
    call_command("migrate", verbosity=0)


def _configure(args: argparse.Namespace, *, batch_callers: int, coalescing_processes: int) -> None:
    # The harness and the forked callers read these module settings.
    global COALESCING_PROCESSES, CUSTOMERS, PGBENCH_SCALE, SQLITE_BRANCHES  # noqa: PLW0603
    args.batch_callers = args.batch_callers or batch_callers
    COALESCING_PROCESSES = args.coalescing_processes or coalescing_processes
    CUSTOMERS = args.customers
    PGBENCH_SCALE = SQLITE_BRANCHES = args.scale


def _run_postgresql(
    args: argparse.Namespace, url: str, work_dir: Path, only: frozenset[str]
) -> dict[str, Any]:
    """pgbench, the workloads and pgbench again, in a database of their own (dropped after)."""
    database = f"bench_ledger_{os.getpid()}"
    _psql(url, f"CREATE DATABASE {database}")
    _configure(args, batch_callers=2, coalescing_processes=2)
    bench_url = _pg_url(url, database)
    workloads = _ledger_rounds(bench_url, work_dir, args, only, close_connections=True)
    try:
        _pgbench_init(bench_url)
        baselines, rounds = _rounds(lambda: _pgbench(bench_url, args.seconds), workloads, args)
    finally:
        _psql(url, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    return _run_result("postgresql", baselines, rounds)


def _run_sqlite(
    args: argparse.Namespace, url: str, work_dir: Path, only: frozenset[str]
) -> dict[str, Any]:
    """The tpcb-like script, the workloads and the script again, in files beside the ledger's."""
    _configure(args, batch_callers=2, coalescing_processes=1)
    path = Path(urlparse(url).path)
    tpcb = path.parent / f"tpcb-{os.getpid()}.sqlite3"
    workloads = _ledger_rounds(url, work_dir, args, only, close_connections=False)
    try:
        _sqlite_baseline_init(tpcb)
        baselines, rounds = _rounds(lambda: _sqlite_baseline(tpcb, args.seconds), workloads, args)
    finally:
        for leftover in (tpcb, Path(f"{tpcb}-wal"), Path(f"{tpcb}-shm")):
            leftover.unlink(missing_ok=True)
    return _run_result("sqlite", baselines, rounds)


def main(argv: list[str] | None = None) -> int:
    from bankmall.cli import positive_int  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument(
        "--scale", type=int, default=16, help="pgbench -s (and the SQLite baseline's size)"
    )
    parser.add_argument(
        "--customers", type=int, default=CUSTOMERS, help="funded customer accounts (10,000)"
    )
    parser.add_argument(
        "--batch-callers",
        type=int,
        default=0,
        help="callers sending batches (default: 2; on SQLite they take turns at the write lock"
        " through the batch queue, one building its batch while the other writes)",
    )
    parser.add_argument(
        "--coalescing-processes",
        type=int,
        default=0,
        help="processes sharing the 8 group-commit callers (default: 2 on PostgreSQL, the shape"
        " of 'bankmall serve'; 1 on SQLite, one writer)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated workloads to run (default: all; a partial run is for development,"
        " its summary leaves the others out)",
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=1,
        help="run the workloads this many times, each between two baseline runs; the summary"
        " gives each figure's median over the rounds and lists every round's ratios",
    )
    parser.add_argument(
        "--chart", type=Path, help="also write this run's figures against the targets as SVG"
    )
    args = parser.parse_args(argv)
    only = frozenset(name for name in args.only.split(",") if name)
    work_dir = Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    url = args.database_url or f"sqlite:///{work_dir / 'ledger.sqlite3'}"
    try:
        if url.startswith(("postgres://", "postgresql://")):
            run = _run_postgresql(args, url, work_dir, only)
        else:
            run = _run_sqlite(args, url, work_dir, only)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    summary = run["summary"]
    print(json.dumps({"workloads": run["workloads"]}))
    print(json.dumps(summary))
    if args.chart:
        args.chart.write_text(chart(summary) + "\n", encoding="utf-8")
    return 0 if summary["invariants_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

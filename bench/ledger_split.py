"""The CPU of a ledger write, split between the caller and its backend; prints JSON.

    python bench/ledger_split.py --database-url postgresql://root@127.0.0.1:5432/postgres
    python bench/ledger_split.py --database-url postgresql://… --against ../other-checkout
    python bench/ledger_split.py --batch 1000 --calls 40

One caller process calls ``create_transfers`` back to back on one connection (no other
caller: nothing waits on a lock or on another's commit), one transfer a call or ``--batch``
transfers a call, and reads, per transfer, its own CPU time (``time.process_time``) and its
backend's (``/proc/<pid>/stat``, the backend's ``pg_backend_pid()``). ``bench/ledger.py``
measures throughput with 8 callers; this says where a transfer's CPU goes, which is what a
change to the write path changes. The requests are made before the clock starts (the
harness's cost is not counted), and the caller knows the accounts beforehand, as
``bench/ledger.py``'s callers do (``fastpath.remember_accounts``).

With ``--against``, a second checkout's ``src`` is measured the same way in a database of its
own, the two alternating round by round (this checkout, the other, this one …), so both meet the
machine in the same minutes; the summary gives each side's median per transfer and the other's
over this one's. Each side's database is created on the server named by the URL, set up by that
side's own migrations and accounts (``bench/ledger.py``'s 10,000 funded customers), and dropped
at the end. PostgreSQL only, on Linux (``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import ledger as harness  # noqa: E402

#: Transfers written before the clock starts: at least 3 calls, and at least this many
#: transfers (300 one-transfer calls, 3 batches of 1,000).
WARM_UP_TRANSFERS = 300
WARM_UP_CALLS_MIN = 3
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Set in a worker's environment: the ``src`` of the side it measures.
SIDE_SOURCE = "BANKMALL_SPLIT_SRC"


def _backend_seconds(pid: int) -> float:
    text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    fields = text[text.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime


def side_source(src: str) -> str:
    """Put a side's ``src`` first on the import path and return the ``bankmall`` package
    imported from it.

    First, not just on ``PYTHONPATH``: importing the harness (``bench/ledger.py``) puts this
    checkout's ``src`` at the head of ``sys.path``, so until the fourteenth session a worker of
    the other side imported this checkout's code and ``--against`` compared this checkout with
    itself. The worker reports the file it imported and ``main`` refuses a run whose worker
    did not import the side's own."""
    sys.path.insert(0, src)
    import bankmall  # noqa: PLC0415

    return str(Path(bankmall.__file__).resolve())


def _worker(
    url: str, data_dir: str, *, setup: bool, calls: int, batch: int, tag: str
) -> dict[str, Any]:
    """In a process of the side's own ``src``: set the database up, or measure ``calls``."""
    source = side_source(os.environ[SIDE_SOURCE])
    os.environ["DATABASE_URL"] = url
    os.environ["BANKMALL_DATA_DIR"] = data_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "bankmall.settings"
    import django  # noqa: PLC0415

    django.setup()
    if setup:
        from django.core.management import call_command  # noqa: PLC0415

        call_command("migrate", verbosity=0)
        harness._setup_ledger()
        return {"source": source}
    from django.db import connection  # noqa: PLC0415

    from bankmall.core.heap import freeze_long_lived  # noqa: PLC0415
    from bankmall.ledger.actions import create_transfers  # noqa: PLC0415
    from bankmall.ledger.models import Account  # noqa: PLC0415

    accounts = {
        "customers": list(
            Account.objects.filter(code__startswith="liability:bench:customer:")
            .order_by("id")
            .values_list("public_id", flat=True)
        ),
        "hot": Account.objects.get(code="liability:bench:merchant").public_id,
    }
    rng = random.Random(tag)
    warm_up = max(WARM_UP_CALLS_MIN, -(-WARM_UP_TRANSFERS // batch))
    requests = harness._requests(accounts, (warm_up + calls) * batch, hot=False, tag=tag, rng=rng)
    batches = [requests[start : start + batch] for start in range(0, len(requests), batch)]
    harness._warm_up(accounts)
    freeze_long_lived()  # As a ``bankmall serve`` worker once it is ready (``core.heap``).
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    for transfers in batches[:warm_up]:
        create_transfers(transfers, client="bench", actor="bench")
    client, server = time.process_time(), _backend_seconds(backend)
    for transfers in batches[warm_up:]:
        create_transfers(transfers, client="bench", actor="bench")
    client, server = time.process_time() - client, _backend_seconds(backend) - server
    transfers_measured = calls * batch
    return {
        "source": source,
        "client_us": client / transfers_measured * 1e6,
        "server_us": server / transfers_measured * 1e6,
    }


def _run_worker(
    side: Path, url: str, data_dir: Path, *, setup: bool, calls: int, batch: int, tag: str
) -> Any:
    command = [
        sys.executable,
        __file__,
        url,
        "--data-dir",
        str(data_dir),
        "--calls",
        str(calls),
        "--batch",
        str(batch),
        "--tag",
        tag,
    ]
    if setup:
        command.append("--setup")
    # ``side_source`` puts the side's src first on the worker's import path.
    environment = {**os.environ, SIDE_SOURCE: str(side / "src")}
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"ledger_split: the worker of {side} failed:\n{done.stderr[-2000:]}")
    return own_result(side, json.loads(done.stdout.strip().splitlines()[-1]))


def own_result(side: Path, result: dict[str, Any]) -> dict[str, Any]:
    """A worker's ``result`` without its ``source``, or one line and exit 1 if the worker did
    not import ``side``'s own code."""
    source = Path(result.pop("source"))
    if not source.is_relative_to((side / "src").resolve()):
        raise SystemExit(f"ledger_split: the worker of {side} imported {source}, not its own code")
    return result


def _median(runs: list[dict[str, float]], key: str) -> float:
    return round(statistics.median(run[key] for run in runs), 1)


def _quotient(other: float, this: float) -> float | None:
    """``other / this``; None where ``this`` is 0 (a run too short for /proc's 10 ms ticks)."""
    return round(other / this, 3) if this else None


def _summary(
    runs: dict[str, list[dict[str, float]]], *, calls: int, batch: int, rounds: int
) -> dict[str, Any]:
    """Each side's median CPU per transfer and, with two sides, the other's over this one's."""
    summary: dict[str, Any] = {"calls": calls, "batch": batch, "rounds": rounds}
    for name, side_runs in runs.items():
        summary[f"{name}_client_us"] = _median(side_runs, "client_us")
        summary[f"{name}_server_us"] = _median(side_runs, "server_us")
    if "other" in runs:
        for part in ("client", "server"):
            summary[f"other_{part}_ratio"] = _quotient(
                summary[f"other_{part}_us"], summary[f"this_{part}_us"]
            )
        summary["other_total_ratio"] = _quotient(
            summary["other_client_us"] + summary["other_server_us"],
            summary["this_client_us"] + summary["this_server_us"],
        )
    return summary


def _worker_main(argv: list[str]) -> int:
    """A worker of one side (``_run_worker``): its arguments, then ``_worker``'s result as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--setup", action="store_true")
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)
    result = _worker(
        args.url,
        args.data_dir,
        setup=args.setup,
        calls=args.calls,
        batch=args.batch,
        tag=args.tag,
    )
    print(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    if SIDE_SOURCE in os.environ:
        # A worker imports nothing of bankmall before ``side_source`` puts its side first.
        return _worker_main(sys.argv[1:] if argv is None else argv)
    from bankmall.cli import positive_int  # noqa: PLC0415
    from bankmall.ledger.values import BATCH_MAX  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://root@127.0.0.1:5432/postgres")
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    parser.add_argument(
        "--calls", type=positive_int, default=3_000, help="measured calls per round"
    )
    parser.add_argument(
        "--batch",
        type=positive_int,
        default=1,
        help=f"transfers per call, 1 to {BATCH_MAX:,} (default 1)",
    )
    parser.add_argument("--rounds", type=positive_int, default=3)
    args = parser.parse_args(argv)
    if args.batch > BATCH_MAX:
        parser.error(f"--batch: at most {BATCH_MAX:,} transfers a call")
    if not args.database_url.startswith("postgres"):
        parser.error("PostgreSQL only: the backend's CPU is read from /proc")
    sides = {"this": ROOT}
    if args.against is not None:
        if not (args.against / "src" / "bankmall").is_dir():
            parser.error(f"{args.against} is not a bankmall checkout")
        sides["other"] = args.against.resolve()
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"ledger_split_{os.getpid()}"  # noqa: S108
    urls = {
        name: harness._pg_url(args.database_url, f"bench_split_{os.getpid()}_{name}")
        for name in sides
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    try:
        for name, side in sides.items():
            harness._psql(args.database_url, f"CREATE DATABASE bench_split_{os.getpid()}_{name}")
            (work / name).mkdir(parents=True, exist_ok=True)
            harness._log(f"setting up {name} ({side})")
            _run_worker(side, urls[name], work / name, setup=True, calls=0, batch=1, tag="")
        for round_number in range(args.rounds):
            for name, side in sides.items():
                run = _run_worker(
                    side,
                    urls[name],
                    work / name,
                    setup=False,
                    calls=args.calls,
                    batch=args.batch,
                    tag=f"split:{round_number}",
                )
                harness._log(f"round {round_number + 1} {name}: {json.dumps(run)}")
                runs[name].append(run)
    finally:
        for name in sides:
            harness._psql(
                args.database_url,
                f"DROP DATABASE IF EXISTS bench_split_{os.getpid()}_{name} WITH (FORCE)",
            )
    summary = _summary(runs, calls=args.calls, batch=args.batch, rounds=args.rounds)
    print(json.dumps({"runs": runs}))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

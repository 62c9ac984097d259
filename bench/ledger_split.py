"""The CPU of a one-transfer write, split between the caller and its backend; prints JSON.

    python bench/ledger_split.py --database-url postgresql://root@127.0.0.1:5432/postgres
    python bench/ledger_split.py --database-url postgresql://… --against ../other-checkout

One caller process calls ``create_transfers([one])`` back to back on one connection (no other
caller: nothing waits on a lock or on another's commit) and reads, per transfer, its own CPU
time (``time.process_time``) and its backend's (``/proc/<pid>/stat``, the backend's
``pg_backend_pid()``). ``bench/ledger.py`` measures throughput with 8 callers; this says where
one transfer's CPU goes, which is what a change to the write path changes.

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

WARM_UP_CALLS = 300
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _backend_seconds(pid: int) -> float:
    text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    fields = text[text.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime


def _worker(url: str, data_dir: str, *, setup: bool, calls: int, tag: str) -> dict[str, Any]:
    """In a process of the side's own ``src``: set the database up, or measure ``calls``."""
    os.environ["DATABASE_URL"] = url
    os.environ["BANKMALL_DATA_DIR"] = data_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "bankmall.settings"
    import django  # noqa: PLC0415

    django.setup()
    if setup:
        from django.core.management import call_command  # noqa: PLC0415

        call_command("migrate", verbosity=0)
        harness._setup_ledger()
        return {}
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
    requests = harness._requests(accounts, WARM_UP_CALLS + calls, hot=False, tag=tag, rng=rng)
    freeze_long_lived()  # As a ``bankmall serve`` worker once it is ready (``core.heap``).
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    for request in requests[:WARM_UP_CALLS]:
        create_transfers([request], client="bench", actor="bench")
    client, server = time.process_time(), _backend_seconds(backend)
    for request in requests[WARM_UP_CALLS:]:
        create_transfers([request], client="bench", actor="bench")
    client, server = time.process_time() - client, _backend_seconds(backend) - server
    return {"client_us": client / calls * 1e6, "server_us": server / calls * 1e6}


def _run_worker(side: Path, url: str, data_dir: Path, *, setup: bool, calls: int, tag: str) -> Any:
    command = [
        sys.executable,
        __file__,
        "--worker",
        url,
        "--data-dir",
        str(data_dir),
        "--calls",
        str(calls),
        "--tag",
        tag,
    ]
    if setup:
        command.append("--setup")
    environment = {**os.environ, "PYTHONPATH": str(side / "src")}
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"ledger_split: the worker of {side} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(runs: list[dict[str, float]], key: str) -> float:
    return round(statistics.median(run[key] for run in runs), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://root@127.0.0.1:5432/postgres")
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    parser.add_argument("--calls", type=int, default=3_000, help="measured calls per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(
            json.dumps(
                _worker(
                    args.worker, args.data_dir, setup=args.setup, calls=args.calls, tag=args.tag
                )
            )
        )
        return 0
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
            _run_worker(side, urls[name], work / name, setup=True, calls=0, tag="")
        for round_number in range(args.rounds):
            for name, side in sides.items():
                run = _run_worker(
                    side,
                    urls[name],
                    work / name,
                    setup=False,
                    calls=args.calls,
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
    summary: dict[str, Any] = {"calls": args.calls, "rounds": args.rounds}
    for name in sides:
        summary[f"{name}_client_us"] = _median(runs[name], "client_us")
        summary[f"{name}_server_us"] = _median(runs[name], "server_us")
    if "other" in sides:
        for part in ("client", "server"):
            summary[f"other_{part}_ratio"] = round(
                summary[f"other_{part}_us"] / summary[f"this_{part}_us"], 3
            )
        total = {
            name: summary[f"{name}_client_us"] + summary[f"{name}_server_us"] for name in sides
        }
        summary["other_total_ratio"] = round(total["other"] / total["this"], 3)
    print(json.dumps({"runs": runs}))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""PostgreSQL's work per ledger transfer against pgbench's per transaction, counted; prints JSON.

    python bench/ledger_cost.py          # needs PostgreSQL's server programs and valgrind

``bench/ledger.py`` measures transfers a second, which on a shared virtual machine move by
±20 % between identical runs. This counts what does not move: the machine instructions the
PostgreSQL backend executes (``valgrind --tool=callgrind``, the same count for the same work
whatever else the machine is doing), for the ledger's writes and, in the same run on the same
server, for pgbench's TPC-B-like transaction. It starts a private server in a temporary
directory (``initdb``; as the ``postgres`` user when run as root), prepares the ledger's tables
with funded accounts and pgbench's tables natively, then restarts the server under callgrind
and measures, each on a new connection:

- ``pgbench -M prepared -c 1 -t N``: instructions per TPC-B-like transaction;
- ``create_transfers`` of one transfer, N times: instructions per transfer (``single``);
- ``create_transfers`` of 1,000 transfers, N times: instructions per transfer (``batched``).

Each figure is the difference between a long and a short run divided by the difference in
transfers, so connecting and the first statement's planning cancel out. The ratios are
pgbench's instructions per transaction over the ledger's per transfer: the share of
pgbench's rate the ledger could reach if both were bound by the server's CPU alone (the
client's work and waiting for the disk are not counted). The last line is the summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import runpy
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

#: (short, long) runs: transactions for pgbench, calls for the ledger.
PGBENCH_RUNS: Final = (20, 220)
SINGLE_RUNS: Final = (20, 220)
BATCH_RUNS: Final = (2, 7)
BATCH_SIZE: Final = 1_000
_STARTUP_SECONDS: Final = 120


def per_unit(short: int, long: int, units: int) -> float:
    """Instructions per unit of work from a short and a long run that differ by ``units``."""
    if units <= 0 or long <= short:
        raise ValueError("the long run must do more work than the short one")
    return (long - short) / units


def callgrind_total(text: str) -> int | None:
    """The instruction total of a finished callgrind output file, ``None`` while it runs."""
    for line in text.splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    return None


def summary(pgbench: float, single: float, batched: float) -> dict[str, Any]:
    return {
        "pgbench_instructions_per_txn": round(pgbench),
        "single_instructions_per_transfer": round(single),
        "batched_instructions_per_transfer": round(batched),
        "single_cost_ratio": round(pgbench / single, 3),
        "batched_cost_ratio": round(pgbench / batched, 3),
    }


# ------------------------------------------------------------------ the private server


def _bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if found:
        return found[-1].parent
    which = shutil.which("postgres")
    if which is None:
        raise SystemExit("ledger_cost: PostgreSQL's server programs (postgres, initdb) not found")
    return Path(which).parent


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its programs as ``postgres`` then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """A throwaway PostgreSQL cluster in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = _free_port()
        self.bindir = _bindir()
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"postgresql://root@127.0.0.1:{self.port}/ledger"

    def create(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        subprocess.run(
            _as_server_user(
                [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "root", "--auth=trust"]
            ),
            check=True,
            capture_output=True,
        )
        settings = (
            f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{self.directory}'\nautovacuum = off\n"
            "shared_buffers = 128MB\n"
            # No checkpoint of its own during a count: the first change of each page after
            # one writes the whole page to the WAL, which would land in one run or the other.
            "checkpoint_timeout = '1h'\nmax_wal_size = '8GB'\n"
        )
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(settings)

    def start(self, *, callgrind_dir: Path | None = None) -> None:
        command = [str(self.bindir / "postgres"), "-D", str(self.data)]
        if callgrind_dir is not None:
            command = [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={callgrind_dir}/cg.%p",
                *command,
            ]
        log = (self.directory / "server.log").open("ab")
        self.process = subprocess.Popen(_as_server_user(command), stdout=log, stderr=log)
        deadline = time.monotonic() + _STARTUP_SECONDS
        while time.monotonic() < deadline:
            ready = subprocess.run(
                ["pg_isready", "-h", "127.0.0.1", "-p", str(self.port)],
                check=False,
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            time.sleep(1)
        raise SystemExit("ledger_cost: the private PostgreSQL server did not start")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()  # SIGTERM: PostgreSQL's smart shutdown.
        try:
            self.process.wait(timeout=_STARTUP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def psql(self, database: str, sql: str) -> None:
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "root", "-d", database],
            input=sql.encode(),
            check=True,
            capture_output=True,
        )


def _new_backends_total(
    callgrind_dir: Path, before: set[Path], run: list[str], *, backends: int
) -> int:
    """Run ``run``, then the instruction total of the ``backends`` it connected to (pgbench
    opens one to inspect the tables besides its client's; that one costs the same in every
    run). Callgrind writes a backend's file when the backend exits, which takes a while."""
    done = subprocess.run(run, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"ledger_cost: {run[0]} failed: {done.stderr.strip()[-2000:]}")
    deadline = time.monotonic() + _STARTUP_SECONDS
    seen: list[int | None] = []
    while time.monotonic() < deadline:
        time.sleep(2)  # Callgrind writes a backend's file when it exits: until none is new.
        totals = [
            callgrind_total(path.read_text()) for path in set(callgrind_dir.iterdir()) - before
        ]
        if totals and None not in totals and totals == seen:
            return sum(total for total in totals if total is not None)
        seen = totals
    raise SystemExit("ledger_cost: the backends' instruction counts did not appear")


# ------------------------------------------------------------------ the ledger's side


def _django(url: str, data_dir: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["BANKMALL_DATA_DIR"] = data_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "bankmall.settings"
    import django  # noqa: PLC0415

    django.setup()


def _prepare(url: str, data_dir: str) -> None:
    """Migrate and create ``bench/ledger.py``'s funded accounts (natively, before callgrind)."""
    harness = runpy.run_path(str(Path(__file__).with_name("ledger.py")))
    harness["_start_django"](url, Path(data_dir))
    harness["_setup_ledger"]()


def _work(url: str, data_dir: str, calls: int, size: int) -> None:
    """``calls`` calls of ``create_transfers`` with ``size`` transfers each, on one
    connection; the accounts' ids are remembered first, as a running process has them."""
    _django(url, data_dir)
    from bankmall.core.money import Money  # noqa: PLC0415
    from bankmall.ledger import queries  # noqa: PLC0415
    from bankmall.ledger.actions import TransferRequest, create_transfers  # noqa: PLC0415

    customers = list(
        queries.accounts()
        .filter(code__startswith="liability:bench:customer:")
        .values_list("public_id", flat=True)
    )
    for start in range(0, len(customers), 1_000):  # One write per account: remembered after.
        chunk = customers[start : start + 1_000]
        create_transfers(
            [
                TransferRequest(
                    key=f"warm:{os.getpid()}:{debit}",
                    debit_account=debit,
                    credit_account=credit,
                    amount=Money(1, "CNY"),
                )
                for debit, credit in zip(chunk, chunk[1:] + chunk[:1], strict=True)
            ],
            client="cost",
        )
    harness = runpy.run_path(str(Path(__file__).with_name("ledger.py")))
    rng = random.Random(calls)
    for call in range(calls):
        requests = harness["_requests"](
            {"customers": customers, "hot": ""},
            size,
            hot=False,
            tag=f"{os.getpid()}:{call}",
            rng=rng,
        )
        create_transfers(requests, client="cost", actor="cost")


def _run(*, client: bool, keep: bool = False) -> dict[str, float]:
    """Prepare a private server natively, restart it under callgrind, count; the figures."""
    directory = Path(tempfile.mkdtemp(prefix="bench-ledger-cost-"))
    directory.chmod(0o755)
    server = Server(directory)
    callgrind_dir = directory / "callgrind"
    try:
        server.create()
        server.start()
        server.psql("postgres", "CREATE DATABASE ledger; CREATE DATABASE pgbench;")
        pgbench_url = ["-h", "127.0.0.1", "-p", str(server.port), "-U", "root"]
        subprocess.run(
            ["pgbench", *pgbench_url, "-i", "-s", "1", "-q", "pgbench"],
            check=True,
            capture_output=True,
        )
        app_dir = directory / "app"
        app_dir.mkdir()
        subprocess.run(
            [sys.executable, __file__, "--prepare", server.url, str(app_dir)],
            check=True,
            capture_output=True,
        )
        server.stop()
        callgrind_dir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(callgrind_dir, "postgres")
        server.start(callgrind_dir=callgrind_dir)
        for database in ("pgbench", "ledger"):  # Each database's first backend writes its
            # relation cache file, which every later one reads: connect once before measuring.
            warm = ["psql", *pgbench_url, "-d", database, "-c", "SELECT 1"]
            _new_backends_total(callgrind_dir, set(callgrind_dir.iterdir()), warm, backends=1)
        figures: dict[str, float] = {}
        client_dir = directory / "client"
        client_dir.mkdir()

        def command(name: str, calls: int) -> list[str]:
            if name == "pgbench":
                return [
                    "pgbench",
                    *pgbench_url,
                    "-M",
                    "prepared",
                    "-c",
                    "1",
                    "-t",
                    str(calls),
                    "pgbench",
                ]
            size = BATCH_SIZE if name == "batched" else 1
            counted = (
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={client_dir}/py.%p"]
                if client
                else []
            )
            return [
                *counted,
                sys.executable,
                __file__,
                "--work",
                server.url,
                str(app_dir),
                str(calls),
                str(size),
            ]

        for name, runs in (
            ("pgbench", PGBENCH_RUNS),
            ("single", SINGLE_RUNS),
            ("batched", BATCH_RUNS),
        ):
            counts, clients = [], []
            for calls in runs:
                # Every run starts right after a checkpoint (the first change of each page
                # after one writes the whole page to the WAL), and a ledger run from a vacuumed
                # database: otherwise the long run would also prune the dead row versions the
                # short run left on every account page (its warm-up touches them all), which
                # the short run never pays. pgbench vacuums its own tables before each run.
                database = "pgbench" if name == "pgbench" else "ledger"
                vacuum = () if name == "pgbench" else ("-c", "VACUUM (PARALLEL 0)")
                _new_backends_total(
                    callgrind_dir,
                    set(callgrind_dir.iterdir()),
                    ["psql", *pgbench_url, "-d", database, *vacuum, "-c", "CHECKPOINT"],
                    backends=1,
                )
                before, before_client = set(callgrind_dir.iterdir()), set(client_dir.iterdir())
                counts.append(
                    _new_backends_total(
                        callgrind_dir,
                        before,
                        command(name, calls),
                        backends=2 if name == "pgbench" else 1,
                    )
                )
                clients += [
                    callgrind_total(path.read_text())
                    for path in set(client_dir.iterdir()) - before_client
                ]
            units = (runs[1] - runs[0]) * (BATCH_SIZE if name == "batched" else 1)
            figures[name] = per_unit(counts[0], counts[1], units)
            print(json.dumps({name: round(figures[name]), "instructions": counts}), flush=True)
            if len(clients) == len(runs) and None not in clients:
                figures[f"{name}_client"] = per_unit(clients[0] or 0, clients[1] or 0, units)
                print(json.dumps({f"{name}_client": round(figures[f"{name}_client"])}), flush=True)
    finally:
        server.stop()
        if keep:
            print(f"ledger_cost: callgrind files kept in {callgrind_dir}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--prepare", nargs=2, metavar=("URL", "DATA_DIR"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--work", nargs=4, metavar=("URL", "DATA_DIR", "CALLS", "SIZE"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--client",
        action="store_true",
        help="also count the Python client's instructions per transfer (callgrind on the"
        " calling process too; about 10 more minutes)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the private cluster's directory with the backends' callgrind files (each"
        " run's, for callgrind_annotate) instead of removing it",
    )
    args = parser.parse_args(argv)
    if args.prepare:
        _prepare(*args.prepare)
        return 0
    if args.work:
        url, data_dir, calls, size = args.work
        _work(url, data_dir, int(calls), int(size))
        return 0
    if shutil.which("valgrind") is None:
        print("ledger_cost: valgrind is needed (apt-get install valgrind)", file=sys.stderr)
        return 2
    figures = _run(client=args.client, keep=args.keep)
    result = summary(figures["pgbench"], figures["single"], figures["batched"])
    for name in ("single", "batched"):
        if f"{name}_client" in figures:
            result[f"{name}_client_instructions_per_transfer"] = round(figures[f"{name}_client"])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

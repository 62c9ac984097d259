"""How fast the ledger's own SQLite statements can go, against the tpcb-like script; prints JSON.

    python bench/sqlite_ceiling.py --seconds 20

``bench/ledger.py`` measures the whole call. This measures only what runs while the ledger holds
SQLite's write lock — ``sqlitepath._write``: the account updates, the transfers' inserts, the
event, the audit record and ``COMMIT`` — in one process that calls ``create_transfers`` one
call after another (no other writer: its page cache is never dropped, nothing waits for the
lock). SQLite has one writer, so no design that keeps these statements can commit faster than
one such transaction after another: ``1 / (time under the lock)`` is the ceiling of any caller
count, any process layout and any amount of Python removed, for this schema and this work.

In the same run, as ``bench/ledger.py`` does: the plain ``sqlite3`` tpcb-like script with 8
callers, right before and right after; ratios are to the mean of the two. The last line is the
summary: ``ceiling_single_ratio`` (one transfer per transaction) and ``ceiling_batched_ratio``
(batches of 1,000), each against the issue's targets (0.7 and 15).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import runpy
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

HARNESS: Final = Path(__file__).with_name("ledger.py")
TARGETS: Final = {"single": 0.7, "batched": 15.0}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _under_the_lock(
    harness: dict[str, Any], accounts: dict[str, Any], size: int, seconds: float
) -> dict[str, Any]:
    """Call ``create_transfers`` with ``size`` transfers, one call after another, for ``seconds``;
    time each call and the part of it that held the write lock."""
    from bankmall.ledger import sqlitepath  # noqa: PLC0415
    from bankmall.ledger.actions import create_transfers  # noqa: PLC0415

    held: list[float] = []
    write: Callable[..., bool] = sqlitepath._write  # What is measured.

    def timed(*args: Any) -> bool:
        started = time.perf_counter()
        try:
            return write(*args)
        finally:
            held.append(time.perf_counter() - started)

    rng = random.Random(size)
    calls: list[float] = []
    sqlitepath._write = timed
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            requests = harness["_requests"](
                accounts, size, hot=False, tag=f"ceiling:{size}:{len(calls)}", rng=rng
            )
            started = time.perf_counter()
            create_transfers(requests, client="bench", actor="bench")
            calls.append(time.perf_counter() - started)
    finally:
        sqlitepath._write = write
    if len(held) != len(calls):
        raise RuntimeError("a call did not take SQLite's own write path")
    held_mean = statistics.fmean(held)
    return {
        "calls": len(calls),
        "transfers_per_call": size,
        "held_ms_mean": round(held_mean * 1000, 3),
        "held_ms_p50": round(statistics.median(held) * 1000, 3),
        "call_ms_mean": round(statistics.fmean(calls) * 1000, 3),
        "ceiling_tps": round(size / held_mean, 1),
        "sequential_tps": round(size / statistics.fmean(calls), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument(
        "--chart", type=Path, help="also write the calls and the ceilings against the targets (SVG)"
    )
    args = parser.parse_args(argv)
    harness = runpy.run_path(str(HARNESS))
    harness["_setup_ledger"].__globals__["CUSTOMERS"] = args.customers
    work_dir = Path(tempfile.mkdtemp(prefix="bench-ceiling-"))
    tpcb = work_dir / "tpcb.sqlite3"
    try:
        harness["_sqlite_baseline_init"](tpcb)
        before = harness["_sqlite_baseline"](tpcb, args.seconds)
        harness["_start_django"](f"sqlite:///{work_dir / 'ledger.sqlite3'}", work_dir)
        accounts = harness["_setup_ledger"]()
        figures = {}
        for name, size in (("single", 1), ("batched", 1_000)):
            harness["_vacuum"]()
            _log(f"{name}: one call after another for {args.seconds}s, timing the write lock")
            figures[name] = _under_the_lock(harness, accounts, size, args.seconds)
            _log(json.dumps({name: figures[name]}))
        from django.db import connections  # noqa: PLC0415

        connections.close_all()
        after = harness["_sqlite_baseline"](tpcb, args.seconds)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    baseline = (before + after) / 2
    summary: dict[str, Any] = {
        "database": "sqlite",
        "baseline_tps": round(baseline, 1),
        "baseline_tps_before": round(before, 1),
        "baseline_tps_after": round(after, 1),
        "baseline_drift": round(after / before, 3),
    }
    for name, figure in figures.items():
        ratio = round(figure["ceiling_tps"] / baseline, 3)
        summary[f"ceiling_{name}_tps"] = figure["ceiling_tps"]
        summary[f"ceiling_{name}_ratio"] = ratio
        summary[f"{name}_held_ms_mean"] = figure["held_ms_mean"]
        summary[f"sequential_{name}_ratio"] = round(figure["sequential_tps"] / baseline, 3)
        summary[f"ceiling_{name}_reaches_target"] = ratio >= TARGETS[name]
    summary["cpus"] = os.cpu_count()
    print(json.dumps({"figures": figures}))
    print(json.dumps(summary))
    if args.chart:
        args.chart.write_text(chart(summary) + "\n", encoding="utf-8")
    return 0


def chart(summary: dict[str, Any]) -> str:
    """Bars of what the calls reached and of the ceiling, each as % of its target (100 = met)."""
    from bankmall.core.charts import Point, bar_chart  # noqa: PLC0415

    points = []
    for name, target in TARGETS.items():
        for kind, key in (
            ("calls", f"sequential_{name}_ratio"),
            ("ceiling", f"ceiling_{name}_ratio"),
        ):
            ratio = summary[key]
            points.append(Point(f"{name} {kind} {ratio}/{target}", round(100 * ratio / target)))
    title = "Ledger on SQLite: the calls and the write lock's ceiling, % of target (100 = met)"
    description = "; ".join(f"{point.label}: {point.value} %" for point in points)
    return str(bar_chart(points, title=title, description=description))


if __name__ == "__main__":
    sys.exit(main())

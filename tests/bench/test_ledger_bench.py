"""The README's benchmark command runs and ends with the summary the issue asks for."""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.bench.runs import run_bench

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "database",
    "baseline_tps",
    "single_tps",
    "single_ratio",
    "batched_tps",
    "batched_ratio",
    "hot_tps",
    "hot_ratio_to_batched",
    "latency_ms_p50",
    "latency_ms_p99",
    "invariants_ok",
}


def test_a_short_sqlite_run_prints_the_summary_last(tmp_path: Path) -> None:
    result = run_bench(
        "ledger.py",
        "--database-url",
        f"sqlite:///{tmp_path / 'bench.sqlite3'}",
        "--seconds",
        "1",
        "--scale",
        "1",
        "--customers",
        "100",
        "--chart",
        str(tmp_path / "chart.svg"),
    )

    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) >= KEYS
    assert summary["database"] == "sqlite"
    chart = (tmp_path / "chart.svg").read_text(encoding="utf-8")
    assert chart.startswith("<svg")
    assert "each figure as % of its target (100 = met)" in chart
    percent = round(100 * summary["single_ratio"] / 0.7)
    assert f"single {summary['single_ratio']}/0.7: {percent} %" in chart
    assert summary["invariants_ok"] is True
    # The baseline ran before and after the workloads; the ratios are to the mean of the two.
    before, after = summary["baseline_tps_before"], summary["baseline_tps_after"]
    assert before > 0
    assert after > 0
    # (Within rounding: the summary shows each figure rounded, computed from the exact ones.)
    assert summary["baseline_tps"] == pytest.approx((before + after) / 2, abs=0.1)
    assert summary["baseline_drift"] == pytest.approx(after / before, abs=0.002)
    assert summary["single_ratio"] == pytest.approx(
        summary["single_tps"] / summary["baseline_tps"], abs=0.002
    )
    assert summary["single_tps"] > 0
    assert summary["batched_tps"] > 0


def _bench_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_ledger", ROOT / "bench" / "ledger.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_two_batched_workloads_run_in_alternating_halves() -> None:
    # Compared with each other, they run on tables of about the same size.
    bench = _bench_module()

    assert bench._schedule(list(bench.WORKLOADS), 30) == [
        ("single", 30.0),
        ("single_coalesced", 30.0),
        ("batched", 15.0),
        ("hot_batched", 15.0),
        ("batched", 15.0),
        ("hot_batched", 15.0),
        ("hot_single", 30.0),
        ("hot_coalesced", 30.0),
        ("single_processes", 30.0),
    ]
    assert bench._schedule(["batched", "hot_single"], 10) == [
        ("batched", 10.0),
        ("hot_single", 10.0),
    ]


def test_requests_pair_distinct_customers_evenly_and_credit_the_merchant_four_in_five() -> None:
    # Drawn from a seeded generator, so the counts below are the same on every run.
    bench = _bench_module()
    customers = [f"lac_customer{n}" for n in range(4)]
    accounts = {"customers": customers, "hot": "lac_merchant"}

    plain = bench._requests(accounts, 12_000, hot=False, tag="p", rng=random.Random(7))
    hot = bench._requests(accounts, 10_000, hot=True, tag="h", rng=random.Random(8))

    pairs = Counter((request.debit_account, request.credit_account) for request in plain)
    assert set(pairs) == {(debit, credit) for debit in customers for credit in customers} - {
        (customer, customer) for customer in customers
    }
    assert all(900 <= count <= 1_100 for count in pairs.values())  # 1,000 expected per pair.
    amounts = [request.amount.amount_minor for request in plain]
    assert 1 <= min(amounts) <= 5
    assert 9_996 <= max(amounts) <= 10_000
    assert 4_900 <= statistics.mean(amounts) <= 5_100
    assert {request.amount.currency for request in plain} == {"CNY"}
    assert [request.key for request in plain[:2]] == ["p:0", "p:1"]
    to_merchant = sum(request.credit_account == "lac_merchant" for request in hot)
    assert 7_850 <= to_merchant <= 8_150
    assert {request.debit_account for request in hot} == set(customers)
    assert all(request.debit_account != request.credit_account for request in hot)


def test_a_broken_invariant_voids_the_workloads_figures_and_the_summary_says_so() -> None:
    bench = _bench_module()
    checks = iter([True, False, True, True, True, True, True, True, True])
    bench._vacuum = lambda: None
    bench._run_processes = lambda *args: (100.0, [0.001, 0.002, 0.003])
    bench._run_threads = lambda *args: (200.0, [0.004])
    bench._invariants_ok = lambda: next(checks)

    figures = bench._workloads({}, 2, 2, frozenset())
    summary = bench._summary("sqlite", (50.0, 50.0), figures)

    # The second run (single_coalesced) found a broken invariant: its figures are void.
    assert figures["single_coalesced"] == {
        "tps": None,
        "latency_ms_p50": None,
        "latency_ms_p99": None,
        "invariants_ok": False,
    }
    # ``single`` runs in threads (bankmall serve's shape), ``single_processes`` in processes.
    assert figures["single"]["tps"] == 200.0
    assert figures["single"]["latency_ms_p50"] == 4.0
    assert figures["single_processes"]["tps"] == 100.0
    assert figures["single_processes"]["latency_ms_p50"] == 2.0
    assert summary["single_coalesced_tps"] is None
    assert summary["single_coalesced_ratio"] is None
    assert summary["coalesced_latency_ms_p50"] is None
    assert summary["single_ratio"] == 4.0
    assert summary["single_processes_ratio"] == 2.0
    assert summary["invariants_ok"] is False


def _tick(_args: Any, deadline: float, results: Any) -> None:
    """A caller that makes one 10 ms call after another until the deadline."""
    count = 0
    while time.monotonic() < deadline:
        time.sleep(0.01)
        count += 1
    results.put((count, []))


def test_callers_are_counted_only_inside_the_window_the_rate_is_divided_by() -> None:
    """Forked callers wait for a shared start: two callers of ~100 calls a second each make
    ~200 a second, not ~200 × (seconds + 1) / seconds as when they began at once."""
    bench = _bench_module()

    rate, _latencies = bench._run_processes(_tick, None, 0.5, 2)

    assert 120 <= rate <= 205


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs Linux's /proc")
def test_the_cpu_sample_counts_the_machines_busy_time() -> None:
    bench = _bench_module()
    before = bench._cpu_sample()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass  # Busy: 0.3 s of this process's CPU.
    after = bench._cpu_sample()

    assert before is not None
    assert after is not None
    assert after[0] - before[0] >= 0.25
    assert after[1] >= before[1] >= 0.0
    # The kernel's time is part of the busy time; spinning in user space adds little to it.
    assert 0.0 <= after[2] - before[2] <= after[0] - before[0]


def test_the_summary_gives_cpu_per_unit_and_the_cpu_ratios() -> None:
    bench = _bench_module()
    bench.CPU_SPENT.clear()
    bench.CPU_SPENT.update(
        {
            # 200 µs, half the server's, 60 % the kernel's.
            "baseline": [(1.0, 0.5, 0.6, 5_000.0), (1.0, 0.5, 0.6, 5_000.0)],
            "single": [(4.0, 2.4, 1.0, 10_000.0)],  # 400 µs
            "batched": [(1.0, 0.7, 0.05, 20_000.0)],  # 50 µs
        }
    )
    figures = {
        name: {"tps": 1.0, "latency_ms_p50": 1.0, "latency_ms_p99": 1.0, "invariants_ok": True}
        for name in ("single", "batched")
    }

    summary = bench._summary("postgresql", (100.0, 100.0), figures)

    assert summary["baseline_cpu_us"] == 200.0
    assert summary["single_cpu_us"] == 400.0
    assert summary["batched_cpu_us"] == 50.0
    assert summary["baseline_server_cpu_share"] == 0.5
    assert summary["single_server_cpu_share"] == 0.6
    assert summary["baseline_kernel_cpu_share"] == 0.6
    assert summary["single_kernel_cpu_share"] == 0.25
    assert summary["batched_kernel_cpu_share"] == 0.05
    assert summary["single_cpu_ratio"] == 0.5
    assert summary["batched_cpu_ratio"] == 4.0
    sqlite = bench._summary("sqlite", (100.0, 100.0), figures)
    assert sqlite["single_server_cpu_share"] is None
    assert sqlite["single_kernel_cpu_share"] == 0.25


def _figures(single_tps: float | None, batched_tps: float) -> dict[str, Any]:
    ok = single_tps is not None
    return {
        "single": {
            "tps": single_tps,
            "latency_ms_p50": 1.0 if ok else None,
            "latency_ms_p99": 2.0 if ok else None,
            "invariants_ok": ok,
        },
        "batched": {
            "tps": batched_tps,
            "latency_ms_p50": 30.0,
            "latency_ms_p99": 60.0,
            "invariants_ok": True,
        },
    }


def test_rounds_run_each_between_two_baselines_and_the_summary_takes_medians() -> None:
    bench = _bench_module()
    bench.CPU_SPENT.clear()
    order: list[str] = []
    baselines = iter([100.0, 120.0, 80.0, 100.0])
    rounds_figures = iter([_figures(80.0, 900.0), _figures(99.0, 1_100.0), _figures(90.0, 900.0)])

    def baseline() -> float:
        order.append("baseline")
        return next(baselines)

    def workloads() -> dict[str, Any]:
        order.append("workloads")
        return next(rounds_figures)

    measured, rounds = bench._rounds(baseline, workloads, argparse.Namespace(rounds=3))
    summary = bench._summary_of_rounds("postgresql", measured, rounds)

    assert order == ["baseline", "workloads"] * 3 + ["baseline"]
    # Each round's ratio is to the mean of the baselines around it: 110, 100, 90.
    assert summary["single_ratio_rounds"] == [0.727, 0.99, 1.0]
    assert summary["batched_ratio_rounds"] == [8.182, 11.0, 10.0]
    assert summary["single_ratio"] == 0.99
    assert summary["batched_ratio"] == 10.0
    assert summary["single_tps"] == 90.0
    assert summary["baseline_tps"] == 100.0
    assert summary["baseline_tps_before"] == 100.0
    assert summary["baseline_tps_after"] == 100.0
    assert summary["baseline_drift"] == 1.0
    assert summary["rounds"] == 3
    assert summary["baseline_tps_rounds"] == [100.0, 120.0, 80.0, 100.0]
    assert summary["invariants_ok"] is True
    assert summary["single_coalesced_ratio"] is None  # Not run: no figure, in any round.


def test_a_broken_invariant_in_any_round_voids_the_figure_over_the_rounds() -> None:
    bench = _bench_module()
    bench.CPU_SPENT.clear()
    rounds = [_figures(80.0, 900.0), _figures(None, 1_000.0)]

    summary = bench._summary_of_rounds("sqlite", [100.0, 100.0, 100.0], rounds)

    assert summary["single_ratio"] is None
    assert summary["single_ratio_rounds"] == [0.8, None]
    assert summary["batched_ratio"] == 9.5
    assert summary["invariants_ok"] is False


def test_one_round_is_the_plain_summary() -> None:
    bench = _bench_module()
    bench.CPU_SPENT.clear()
    figures = _figures(80.0, 900.0)

    summary = bench._summary_of_rounds("sqlite", [90.0, 110.0], [figures])

    assert summary == {**bench._summary("sqlite", (90.0, 110.0), figures), "rounds": 1}
    assert "single_ratio_rounds" not in summary


def test_rounds_must_be_at_least_one() -> None:
    result = run_bench("ledger.py", "--rounds", "0")

    assert result.returncode == 2
    assert "must be at least 1, not 0" in result.stderr

"""The instruction-count benchmark's arithmetic (the run itself needs valgrind and several
minutes: `python bench/ledger_cost.py`, docs/performance.md)."""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module() -> Any:
    return SimpleNamespace(**runpy.run_path(str(ROOT / "bench" / "ledger_cost.py")))


def test_the_cost_of_a_unit_is_the_difference_of_a_long_and_a_short_run() -> None:
    cost = _module()
    assert cost.per_unit(1_000_000, 3_000_000, 200) == 10_000
    with pytest.raises(ValueError, match="more work"):
        cost.per_unit(3_000_000, 1_000_000, 200)
    with pytest.raises(ValueError, match="more work"):
        cost.per_unit(1_000_000, 3_000_000, 0)


def test_a_callgrind_file_has_a_total_only_when_finished() -> None:
    cost = _module()
    running = "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\nevents: Ir\n"
    assert cost.callgrind_total(running) is None
    assert cost.callgrind_total(running + "fn=main\n5 10\nsummary: 123456\ntotals: 123456\n") == (
        123456
    )


def test_the_summary_states_each_cost_as_a_share_of_pgbench_s() -> None:
    summary = _module().summary(300_000.0, 900_000.0, 150_000.0)
    assert summary == {
        "pgbench_instructions_per_txn": 300_000,
        "single_instructions_per_transfer": 900_000,
        "batched_instructions_per_transfer": 150_000,
        "single_cost_ratio": 0.333,
        "batched_cost_ratio": 2.0,
    }

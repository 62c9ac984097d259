"""bench/sqlite_ceiling.py runs and ends with its summary: the write lock's ceiling against the
tpcb-like script measured in the same run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.runs import run_bench

pytestmark = pytest.mark.slow


def test_a_short_run_prints_the_ceilings_last(tmp_path: Path) -> None:
    chart = tmp_path / "ceiling.svg"
    result = run_bench(
        "sqlite_ceiling.py", "--seconds", "1", "--customers", "100", "--chart", str(chart)
    )

    assert result.returncode == 0, result.stderr[-2000:]
    *_, figures_line, summary_line = result.stdout.strip().splitlines()
    figures = json.loads(figures_line)["figures"]
    summary = json.loads(summary_line)
    assert summary["database"] == "sqlite"
    assert summary["baseline_tps_before"] > 0
    assert summary["baseline_tps_after"] > 0
    for name, size in (("single", 1), ("batched", 1_000)):
        figure = figures[name]
        assert figure["transfers_per_call"] == size
        assert figure["calls"] > 0
        # The lock is held for part of each call: the ceiling is above what the calls reached.
        assert figure["held_ms_mean"] < figure["call_ms_mean"]
        assert figure["ceiling_tps"] > figure["sequential_tps"] > 0
        assert summary[f"ceiling_{name}_ratio"] == pytest.approx(
            figure["ceiling_tps"] / summary["baseline_tps"], abs=0.002
        )
        assert isinstance(summary[f"ceiling_{name}_reaches_target"], bool)
    drawn = chart.read_text(encoding="utf-8")
    assert drawn.startswith("<svg")
    ratio = summary["ceiling_batched_ratio"]
    assert f"batched ceiling {ratio}/15.0: {round(100 * ratio / 15)} %" in drawn

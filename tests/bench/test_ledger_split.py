"""The CPU-split benchmark (`python bench/ledger_split.py`, README "Benchmarks"): its workers
measure their own side's code, its arguments, its summary."""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.bench.runs import ROOT, run_bench


def _module() -> Any:
    return SimpleNamespace(**runpy.run_path(str(ROOT / "bench" / "ledger_split.py")))


def _imported_bankmall(code: str, src: Path) -> str:
    """What a fresh interpreter that loads the bench as a worker of ``src``'s side imports."""
    environment = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); {code}"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_a_worker_imports_its_own_sides_code_though_the_harness_puts_this_checkouts_first(
    tmp_path: Path,
) -> None:
    other = tmp_path / "other" / "src"
    (other / "bankmall").mkdir(parents=True)
    (other / "bankmall" / "__init__.py").write_text("", encoding="utf-8")

    # The harness's import puts this checkout's src ahead of PYTHONPATH: the former worker's
    # plain import measured this checkout on both sides.
    shadowed = _imported_bankmall("import ledger_split, bankmall; print(bankmall.__file__)", other)
    assert Path(shadowed).resolve() == (ROOT / "src" / "bankmall" / "__init__.py").resolve()

    source = _imported_bankmall(
        f"import ledger_split; print(ledger_split.side_source({str(other)!r}))", other
    )
    assert Path(source) == (other / "bankmall" / "__init__.py").resolve()


def test_a_run_whose_worker_imported_another_checkouts_code_is_refused(tmp_path: Path) -> None:
    split = _module()
    side = tmp_path / "other"
    (side / "src" / "bankmall").mkdir(parents=True)
    own = {"source": str(side / "src" / "bankmall" / "__init__.py"), "client_us": 1.0}
    assert split.own_result(side, own) == {"client_us": 1.0}

    foreign = {"source": str(ROOT / "src" / "bankmall" / "__init__.py"), "client_us": 1.0}
    with pytest.raises(SystemExit, match=r"imported .*, not its own code"):
        split.own_result(side, foreign)


def test_a_ratio_to_a_figure_too_small_to_measure_is_none() -> None:
    runs = {
        "this": [{"client_us": 10.0, "server_us": 0.0}],
        "other": [{"client_us": 5.0, "server_us": 0.0}],
    }
    summary = _module()._summary(runs, calls=1, batch=1, rounds=1)
    assert (summary["other_client_ratio"], summary["other_server_ratio"]) == (0.5, None)
    assert summary["other_total_ratio"] == 0.5


def test_the_summary_gives_each_sides_median_and_the_others_ratio() -> None:
    runs = {
        "this": [
            {"client_us": 10.0, "server_us": 20.0},
            {"client_us": 12.0, "server_us": 30.0},
            {"client_us": 11.0, "server_us": 25.0},
        ],
        "other": [
            {"client_us": 5.5, "server_us": 25.0},
            {"client_us": 5.0, "server_us": 20.0},
            {"client_us": 6.0, "server_us": 30.0},
        ],
    }
    summary = _module()._summary(runs, calls=40, batch=1_000, rounds=3)
    assert summary == {
        "calls": 40,
        "batch": 1_000,
        "rounds": 3,
        "this_client_us": 11.0,
        "this_server_us": 25.0,
        "other_client_us": 5.5,
        "other_server_us": 25.0,
        "other_client_ratio": 0.5,
        "other_server_ratio": 1.0,
        "other_total_ratio": 0.847,
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--batch", "0"], "argument --batch: must be at least 1, not 0"),
        (["--batch", "8191"], "--batch: at most 8,190 transfers a call"),
        (["--calls", "x"], "argument --calls: 'x' is not a whole number"),
        (["--database-url", "sqlite:///x.sqlite3"], "PostgreSQL only"),
    ],
)
def test_bad_arguments_are_refused_on_one_line(arguments: list[str], message: str) -> None:
    result = run_bench("ledger_split.py", *arguments)
    assert result.returncode == 2
    assert message in result.stderr.splitlines()[-1]
    assert result.stdout == ""


def test_a_batched_run_against_another_checkout_measures_both_sides(
    requires_postgres: None, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    shutil.copytree(ROOT / "src", other / "src", ignore=shutil.ignore_patterns("__pycache__"))

    result = run_bench(
        "ledger_split.py",
        "--database-url",
        os.environ["DATABASE_URL"],
        "--against",
        str(other),
        "--batch",
        "50",
        "--calls",
        "4",
        "--rounds",
        "1",
    )

    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.splitlines()[-1])
    assert (summary["calls"], summary["batch"], summary["rounds"]) == (4, 50, 1)
    for side in ("this", "other"):
        assert summary[f"{side}_client_us"] > 0
        # The backend's CPU comes in /proc's 10 ms ticks: 200 transfers may read 0.
        assert summary[f"{side}_server_us"] >= 0
    assert summary["other_total_ratio"] > 0
    assert (
        "bench_split_"
        not in subprocess.run(
            ["psql", os.environ["DATABASE_URL"], "-Atc", "SELECT datname FROM pg_database"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    )

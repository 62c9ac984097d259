"""Running a benchmark script as its README command does, in a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """``python bench/<script> <arguments>``, without the test run's database settings (the
    script chooses its own database)."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "BANKMALL_DATA_DIR", "DJANGO_SETTINGS_MODULE"}
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )

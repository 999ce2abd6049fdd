"""bench/routing.py still runs (small N), so the benchmark cannot rot unnoticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "routing.py"


def test_routing_benchmark_runs_and_prints_rates_next_to_its_baseline() -> None:
    args = ["--agents", "5", "--tickets", "50", "--decisions", "20"]
    result = subprocess.run(
        [sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "baseline: one indexed UPDATE per commit" in result.stdout
    assert "maild: RoundRobin.place per commit" in result.stdout
    assert "peak RSS" in result.stdout

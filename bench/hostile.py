"""Hostile mail (issue 12, items 2 and 3): seconds and peak RSS per MB of each input, through
`maild inspect` and through the pipeline (`maild ingest`), each run in a child process.

Seconds are the child's CPU time (user + system, from `os.wait4`: wall time on a loaded machine
says more about the neighbours) and its peak RSS, each next to a same-run baseline: the same
command on a small ordinary mail, which is what starting maild costs. Targets: under 1 s per
MB and under 10x the input's size in RSS, both above the baseline (DESIGN §3).

    .venv/bin/python bench/hostile.py [--scale 1.0] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.hostile_mail import BOUNDED_MEMORY, LINEAR_TIME  # noqa: E402
from tests.support import write_config  # noqa: E402

MAILD = str(ROOT / ".venv" / "bin" / "maild")
_MEASURED_BYTES = 2_000_000
_MAX_COPIES = 10
# An ordinary mail, with one encoded-word in a charset nobody knows: the first guess at a
# charset loads the detector's codecs and tables (2.7 MB, once per process), which would
# otherwise be billed to whichever input guesses first. tests/ingest/peak_rss.py warms up so.
BASELINE = (
    b"From: carol@customer.example\r\nTo: support@example.com\r\n"
    b"Subject: =?x-0?q?=E9?= baseline\r\n"
    b"Message-ID: <baseline@customer.example>\r\n\r\nHello, my printer is broken.\r\n"
)


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float
    outcome: str


def run_child(args: list[str]) -> Run:
    """One maild command in a child process: its CPU time, peak RSS and last output line."""
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert child.stdout is not None
    output = child.stdout.read()
    _pid, _status, usage = os.wait4(child.pid, 0)
    child.returncode = 0  # reaped by wait4
    seconds = usage.ru_utime + usage.ru_stime
    lines = output.decode("utf-8", "replace").strip().splitlines()
    return Run(seconds, usage.ru_maxrss / 1024, _outcome(lines[-1] if lines else ""))


def _outcome(line: str) -> str:
    for key in ('"outcome": "', '"kind": "', '"rejected": "'):
        if key in line:
            return line.split(key, 1)[1].split('"', 1)[0][:40]
    return line[:40]


def measure(config: Path, paths: list[Path]) -> tuple[Run, Run]:
    base = [MAILD, "--config", str(config)]
    inspect = run_child([*base, "inspect", "--json", *map(str, paths)])
    ingest = run_child([*base, "ingest", "--quiet", *map(str, paths)])
    return inspect, ingest


def write_copies(directory: Path, name: str, raw: bytes) -> list[Path]:
    """Copies of the input with their own Message-IDs (so ingest processes each): one for
    memory, and enough to time for at least `_MEASURED_BYTES` per child, so that start-up
    noise weighs less."""
    count = 1 + max(1, min(_MAX_COPIES, -(-_MEASURED_BYTES // len(raw))))
    paths = []
    for index in range(count):
        path = directory / f"{name}-{index}.eml"
        path.write_bytes(raw.replace(b"@attacker.example>", b"-%d@attacker.example>" % index, 1))
        paths.append(path)
    return paths


def baseline(config: Path, directory: Path) -> tuple[Run, Run]:
    """The cheaper of three runs on an ordinary mail, per command and per figure. Each run has
    a Message-ID of its own: a second run of the same file would be a duplicate, which skips
    the ticket, the autoresponse and their templates, and would set the bar too low."""
    runs = []
    for index in range(3):
        path = directory / f"baseline-{index}.eml"
        path.write_bytes(BASELINE.replace(b"<baseline@", b"<baseline-%d@" % index))
        runs.append(measure(config, [path]))
    return _cheapest([r[0] for r in runs]), _cheapest([r[1] for r in runs])


def _cheapest(runs: list[Run]) -> Run:
    return Run(min(r.seconds for r in runs), min(r.peak_mb for r in runs), runs[0].outcome)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = the issue's sizes")
    parser.add_argument("--only", nargs="*", default=[], metavar="NAME")
    args = parser.parse_args()
    inputs = {**LINEAR_TIME, **BOUNDED_MEMORY}
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        config = write_config(work, f"sqlite:///{work / 'maild.db'}")
        subprocess.run([MAILD, "--config", str(config), "init"], check=True, capture_output=True)
        bases = baseline(config, work)
        for command, base in zip(("inspect", "ingest"), bases, strict=True):
            print(f"baseline {command}: {base.peak_mb:.0f} MB RSS, {base.seconds:.2f} s CPU")
        print("s: CPU seconds of one child for all copies, s/MB above the baseline;")
        print("RSS MB: peak of one child for one copy, x size: above the baseline per input size")
        header = f"{'input':<18} {'MB':>6} {'copies':>6}  {'command':<8} {'s':>6} {'s/MB':>6} "
        print(header + f"{'RSS MB':>7} {'x size':>7}  outcome")
        for name in args.only or list(inputs):
            # Memory of one copy of its own (an import's session grows with its batch), then
            # time over the others: a copy ingested twice is a duplicate, not processed.
            first, *paths = write_copies(work, name, inputs[name](args.scale))
            size_mb = first.stat().st_size / 1e6
            single = measure(config, [first])
            timed = measure(config, paths) if paths else single
            for command, run, one, base in zip(
                ("inspect", "ingest"), timed, single, bases, strict=True
            ):
                times = max(one.peak_mb - base.peak_mb, 0) / size_mb
                per_mb = max(run.seconds - base.seconds, 0) / (size_mb * (len(paths) or 1))
                print(
                    f"{name:<18} {size_mb:>6.2f} {len(paths) or 1:>6}  {command:<8} "
                    f"{run.seconds:>6.2f} {per_mb:>6.2f} {one.peak_mb:>7.0f} {times:>7.1f}  "
                    f"{one.outcome}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())

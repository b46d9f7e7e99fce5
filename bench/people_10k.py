"""A people CSV of 10,000 rows: the time until the first file is finished, and peak memory.

Writes a two-practice series and a 10,000-row people file (seeded names, some repeated, some
non-ASCII), starts ``meditate batch`` on it, waits for the first finished MP3, reads the
batch's peak RSS (VmHWM) and ends it with SIGTERM (which must leave nothing partial).

    .venv/bin/python bench/people_10k.py [ROWS] [--engine fake|espeak]
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_inputs(d: Path, rows: int, seed: int = 11) -> tuple[Path, Path]:
    rng = random.Random(seed)
    (d / "scripts" / "series").mkdir(parents=True)
    for i in (1, 2):
        (d / "scripts" / f"p{i}.md").write_text(
            f"---\ntitle: Practice {i} for {{{{ name }}}}\nvariables:\n  name:\n---\n"
            f"Hello {{{{ name }}}}, welcome.\n\n[pause 2s-20s]\n\nRest now, {{{{ name }}}}.\n", encoding="utf-8")
    series = d / "scripts" / "series" / "s.yaml"
    series.write_text("title: Ten Thousand\npractices:\n  - {script: p1, length: 20s}\n  - {script: p2}\n",
                      encoding="utf-8")
    first = ["Sam", "Ana", "José", "Zoë", "Li", "Noor", "Kai", "Ilse", "Omar", "Maya"]
    people = d / "people.csv"
    with people.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name"])
        for n in range(rows):
            w.writerow([f"{rng.choice(first)} {n // 3}"])      # every name three times: folder names dedupe
    return series, people


def vm_hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("rows", nargs="?", type=int, default=10_000)
    ap.add_argument("--engine", default="fake")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        series, people = write_inputs(d, a.rows)
        env = dict(os.environ, XDG_CACHE_HOME=str(d / "cache"), MEDITATE_ENGINE=a.engine, PYTHONPATH=str(ROOT))
        out = d / "out"
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", "from generator.cli import main; main()", "batch", str(series),
                                 "--people", str(people), "-o", str(out), "-q"], env=env, cwd=d,
                                stderr=subprocess.PIPE, text=True)
        first, peak = None, 0
        while proc.poll() is None:
            peak = max(peak, vm_hwm(proc.pid))
            if any(out.glob("*/*.mp3")):
                first = time.monotonic() - t0
                break
            time.sleep(0.05)
        peak = max(peak, vm_hwm(proc.pid)) if proc.poll() is None else peak
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        parts = [p for p in d.rglob("*") if ".part" in p.name]
        print(f"{a.rows} rows, engine {a.engine}: first file after {first:.2f} s; batch peak RSS {peak / 1024:.0f} MB; "
              f"SIGTERM -> exit {proc.returncode}, {len(parts)} partial files {[p.name for p in parts]}; "
              f"stderr: {err.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

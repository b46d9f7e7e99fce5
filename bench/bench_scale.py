"""A slice of a big batch, measured: wall time, audio-hours per wall-hour, peak memory, disk per listener.

    python bench/bench_scale.py --listeners 10 --engine fake --format mp3 -j 2 --out /tmp/scale-fake

Renders the 7-day series (scripts/series/seven-days-of-self-compassion.yaml, 75 minutes a listener)
for N listeners named from a seeded list, with a fresh speech cache (a new node's), as a real
``meditate batch`` subprocess. Memory is the summed RSS of the batch's whole process tree
(workers, ffmpeg, Piper), sampled every 0.2 s, and the largest single process's. The machine's
load average before and after is printed beside the figures: on a shared machine they mean
little without it. One JSON line per run goes to stdout (and --results FILE).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERIES = ROOT / "scripts" / "series" / "seven-days-of-self-compassion.yaml"
NAMES = ["Ann", "Bo", "Cy", "Dee", "Eve", "Fay", "Gus", "Hal", "Ida", "Jo", "Kai", "Lea", "Max", "Noor", "Oli",
         "Pia", "Quinn", "Rui", "Sam", "Tia", "Uma", "Vic", "Wen", "Xia", "Yara", "Zed"]


def tree_rss(pid: int) -> tuple[int, int]:
    """(summed RSS, largest RSS) in bytes over ``pid`` and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
        rss[int(d)] = pages * page
    total = big = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        big = max(big, rss.get(p, 0))
        todo += children.get(p, [])
    return total, big


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--listeners", type=int, default=10)
    ap.add_argument("--engine", choices=["fake", "real"], default="fake")
    ap.add_argument("--format", default="mp3")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cache", type=Path, help="speech cache folder (default: a fresh one)")
    ap.add_argument("--results", type=Path)
    a = ap.parse_args()
    rng = random.Random(13)
    names = [f"{rng.choice(NAMES)} {i}" for i in range(a.listeners)]
    a.out.mkdir(parents=True, exist_ok=True)
    csv = a.out / "listeners.csv"
    csv.write_text("name\n" + "".join(n + "\n" for n in names), encoding="utf-8")
    env = dict(os.environ, XDG_CACHE_HOME=str(a.cache or tempfile.mkdtemp(prefix="meditate-cache-")))
    if a.engine == "fake":
        env["MEDITATE_ENGINE"] = "fake"
    else:
        env.pop("MEDITATE_ENGINE", None)
    load0 = os.getloadavg()
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", "from generator.cli import main; main()", "batch", str(SERIES),
                             "--people", str(csv), "-o", str(a.out / "out"), "--format", a.format,
                             "-j", str(a.jobs), "-q"], env=env, cwd=ROOT)
    peak = big = 0
    while proc.poll() is None:
        total, one = tree_rss(proc.pid)
        peak, big = max(peak, total), max(big, one)
        time.sleep(0.2)
    wall = time.monotonic() - t0
    load1 = os.getloadavg()
    audio = 0.0
    per_listener = []
    for folder in sorted((a.out / "out").iterdir()):
        man = json.loads((folder / ".meditate-batch.json").read_text(encoding="utf-8"))["files"]
        audio += sum(e["duration"] for e in man.values())
        per_listener.append(sum(p.stat().st_size for p in folder.iterdir() if p.is_file()))
    res = {"engine": a.engine, "format": a.format, "jobs": a.jobs, "listeners": a.listeners,
           "files": sum(1 for _ in (a.out / "out").rglob(f"*.{a.format}")), "exit": proc.returncode,
           "wall_s": round(wall, 1), "audio_h": round(audio / 3600, 2),
           "audio_h_per_wall_h": round(audio / wall, 1), "peak_tree_rss_mb": round(peak / 2**20),
           "peak_process_rss_mb": round(big / 2**20),
           "disk_per_listener_mb": round(sum(per_listener) / len(per_listener) / 1e6, 2),
           "disk_per_listener_max_mb": round(max(per_listener) / 1e6, 2),
           "load_before": [round(x, 1) for x in load0], "load_after": [round(x, 1) for x in load1],
           "cpus": os.cpu_count()}
    line = json.dumps(res)
    print(line)
    if a.results:
        with open(a.results, "a", encoding="utf-8") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()

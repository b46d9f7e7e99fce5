"""CPU cost of the ambience beds (a plain script, not a test).

    .venv/bin/python bench/bench_beds.py [--minutes 3] [--beds white,pink] [--src DIR]

For each procedural bed, in a fresh process (so imports, tile caches and peak
memory do not leak between beds):

* ``import``: wall seconds to import ``generator.audio.ambience`` (and whether it
  pulled in scipy);
* ``first``: wall seconds for ``make_bed`` plus rendering the first 1 s chunk,
  i.e. construction and building the noise tiles the first block needs;
* ``CPU / 20 min``: ``time.process_time()`` of rendering ``--minutes`` of audio
  in 1 s chunks after that (and a 0.5 s pause, so OpenBLAS threads spinning
  after the import have stopped), extrapolated to 20 minutes;
* ``wall / 20 min``: the same in wall time (above CPU when the machine is busy,
  below when BLAS uses a second core);
* ``peak +MB``: peak RSS of the process minus its RSS after the import (tile
  builds need ~32 MB of FFT buffers for a moment); ``held +MB``: the RSS at the
  end minus that (tiles and caches held while rendering).

Then, in this process, the wall time of building one noise tile of each kind.
``--src DIR`` imports ``generator`` from DIR instead of this checkout (e.g. a
``git archive`` of an older commit, to measure "before").
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BEDS = ("white", "pink", "brown", "ocean", "drone", "bowl-drone")
R = 44100


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def one(name: str, minutes: float) -> dict:
    """Measure one bed in this (fresh) process."""
    t0 = time.perf_counter()
    import generator.audio.ambience as amb

    t_import = time.perf_counter() - t0
    scipy_mods = sorted(m for m in sys.modules if m.startswith("scipy"))
    rss0 = _rss_mb("VmRSS")
    t0 = time.perf_counter()
    bed = amb.make_bed(name, R, seed=0)
    bed.render(0, R)
    t_first = time.perf_counter() - t0
    time.sleep(0.5)  # let BLAS threads woken by the import or construction go back to sleep
    total = int(minutes * 60 * R)
    c0, w0 = time.process_time(), time.perf_counter()
    for s in range(R, R + total, R):
        bed.render(s, R)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    scale = 20 * 60 * R / total
    return {"name": name, "import": t_import, "scipy": len(scipy_mods), "first": t_first,
            "cpu20": cpu * scale, "wall20": wall * scale,
            "rss": _rss_mb("VmHWM") - rss0, "now": _rss_mb("VmRSS") - rss0, "builds": amb.TILES.builds if hasattr(amb, "TILES") else getattr(amb, "tile_builds", None)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--beds", default=",".join(BEDS))
    ap.add_argument("--src", default=ROOT, help="directory holding the generator package")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    sys.path.insert(0, os.path.abspath(a.src))
    if a.one:
        print(json.dumps(one(a.one, a.minutes)))
        return

    print(f"generator from {os.path.abspath(a.src)}; {a.minutes:g} min per bed in 1 s chunks, "
          f"extrapolated to 20 min; {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print(f"{'bed':<11} {'import s':>8} {'scipy':>5} {'first s':>7} {'CPU/20min':>9} {'wall/20min':>10} "
          f"{'peak +MB':>8} {'held +MB':>8} {'tiles':>5}")
    for name in a.beds.split(","):
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", name, "--minutes", str(a.minutes),
                              "--src", a.src], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:<11} {r['import']:8.2f} {r['scipy']:>5} {r['first']:7.3f} {r['cpu20']:9.3f} "
              f"{r['wall20']:10.3f} {r['rss']:8.1f} {r['now']:8.1f} {'-' if r['builds'] is None else r['builds']:>5}")

    import generator.audio.ambience as amb

    if hasattr(amb, "_build_tile"):
        for kind in ("white", "pink", "brown", "ocean-body", "ocean-wash"):
            amb.tile_power(kind, R)  # as a bed's construction would
            t0 = time.perf_counter()
            amb._build_tile(kind, 12345, 0, R)
            print(f"tile build {kind:<10} {time.perf_counter() - t0:.3f} s (wall)")


if __name__ == "__main__":
    main()

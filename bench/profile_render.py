"""Profile one warm render of a generated practice with cProfile (in-process).

    .venv/bin/python bench/profile_render.py [--minutes 20] [--top 30] [--keep DIR]

Generates the benchmark practice (bench/practice.py), warms a private speech
cache with ``meditate plan``, then renders it under cProfile (timer: process CPU time, so waiting on the ffmpeg pipe
and other users of the machine do not count) and prints the top
functions by cumulative and by own time, plus peak RSS after import and at the end.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import practice  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--keep", default=None, help="folder for the script, cache and output (default: temporary)")
    args = ap.parse_args()
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="meditate-prof-"))
    tmp.mkdir(parents=True, exist_ok=True)
    os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
    script = tmp / f"p{args.minutes:g}.md"
    script.write_text(practice.to_markdown(practice.build(args.minutes, seed=1, ambience="ocean")), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "generator.cli", "plan", str(script)], check=True,
                   stdout=subprocess.DEVNULL, cwd=str(HERE.parent))
    print(f"peak RSS before import: {rss_mb():.0f} MB")
    import generator.yielding

    from generator.pipeline import RenderOptions, render

    generator.yielding.MIX_NICE = 0     # mix in place: cProfile only sees the thread it runs on

    print(f"peak RSS after importing generator.pipeline: {rss_mb():.0f} MB")
    prof = cProfile.Profile(time.process_time)   # CPU attribution: robust on a shared machine
    t0, c0 = time.perf_counter(), time.process_time()
    prof.enable()
    render(script, tmp / "out.mp3", RenderOptions())
    prof.disable()
    print(f"render: wall {time.perf_counter() - t0:.1f} s, this process CPU {time.process_time() - c0:.1f} s "
          f"(ffmpeg runs apart), peak RSS {rss_mb():.0f} MB")
    st = pstats.Stats(prof)
    st.sort_stats("cumulative").print_stats(args.top)
    st.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())

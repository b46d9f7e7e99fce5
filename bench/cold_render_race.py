"""Two cold renders side by side, each with its own empty cache, several rounds.

Issue 11: a second thread once took dsp.sosfilt's fallback while the first was
still loading scipy's filter kernel, and one render in six rounds ended with an
ImportError traceback. This runs the same race and counts tracebacks.

    .venv/bin/python bench/cold_render_race.py [ROUNDS]      (default 20)
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ["scripts/heart-centred-awareness.md", "scripts/the-compassionate-self.md"]
MEDITATE = str(Path(sys.executable).with_name("meditate"))


def one_round(tmp: Path, n: int) -> list[tuple[str, int, str]]:
    procs = []
    for s in SCRIPTS:
        cache = tmp / f"cache-{n}-{Path(s).stem}"
        cache.mkdir()
        env = dict(os.environ, XDG_CACHE_HOME=str(cache))
        env.pop("MEDITATE_ENGINE", None)
        out = tmp / f"{n}-{Path(s).stem}.mp3"
        procs.append((s, subprocess.Popen([MEDITATE, "render", s, "-o", str(out), "-q"], cwd=ROOT, env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    return [(s, p.wait(), p.communicate()[1]) for s, p in procs]


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        for n in range(rounds):
            t0 = time.monotonic()
            results = one_round(Path(d), n)
            for s, rc, err in results:
                if rc != 0 or "Traceback" in err:
                    bad += 1
                    print(f"round {n}: {s} exit {rc}\n{err}")
            print(f"round {n + 1}/{rounds}: exits {[rc for _, rc, _ in results]} in {time.monotonic() - t0:.1f} s",
                  flush=True)
    print(f"{bad} failed renders of {2 * rounds}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

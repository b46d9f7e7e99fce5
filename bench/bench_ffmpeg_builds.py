"""Encode time and output of the bundled ffmpeg against another build (a plain script, not a test).

    .venv/bin/python bench/bench_ffmpeg_builds.py [--other /usr/bin/ffmpeg] [--minutes 20] [--repeat 3]

Material: a shipped practice (reset-for-a-hard-moment: voice, pink bed, chimes)
rendered with the fake engine and decoded, repeated to ``--minutes`` of stereo.
Each round encodes it with :class:`generator.output.encode.Encoder` (the renderer's
LAME settings) once with each ffmpeg, alternating, so both see the same load.
Printed per build: the best and worst wall time, ffmpeg's CPU time (user+sys of
the child), the output size, and whether the two builds' bytes and decoded
samples agree.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generator import ffmpeg as ffmpeg_mod  # noqa: E402
from generator.output.encode import Encoder, decode  # noqa: E402


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def encode_with(exe: str, x: np.ndarray, out: Path) -> tuple[float, float]:
    os.environ["MEDITATE_FFMPEG"] = exe
    ffmpeg_mod.ffmpeg_exe.cache_clear()
    cpu0, t0 = children_cpu(), time.perf_counter()
    with Encoder(out, channels=2) as enc:
        for i in range(0, x.shape[0], 65536):
            enc.write(x[i:i + 65536])
    return time.perf_counter() - t0, children_cpu() - cpu0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--other", default="/usr/bin/ffmpeg")
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import imageio_ffmpeg

    builds = {"bundled": imageio_ffmpeg.get_ffmpeg_exe(), "other": args.other}
    for name, exe in builds.items():
        version = subprocess.run([exe, "-version"], capture_output=True, text=True).stdout.splitlines()[0]
        print(f"{name}: {version}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, MEDITATE_ENGINE="fake", XDG_CACHE_HOME=str(tmp / "cache"))
        src = tmp / "practice.wav"
        subprocess.run([str(Path(sys.executable).with_name("meditate")), "render",
                        str(ROOT / "scripts" / "reset-for-a-hard-moment.md"), "-o", str(src), "-q"],
                       env=env, check=True)
        one = decode(src).samples
        n = int(args.minutes * 60 * 44100)
        x = np.tile(one, (-(-n // one.shape[0]), 1))[:n]
        print(f"material: {n / 44100 / 60:.1f} min stereo; load average before: {os.getloadavg()[0]:.1f}")
        times = {k: [] for k in builds}
        for r in range(args.repeat):
            for name, exe in (builds.items() if r % 2 == 0 else reversed(builds.items())):
                wall, cpu = encode_with(exe, x, tmp / f"{name}.mp3")
                times[name].append((wall, cpu))
        for name, t in times.items():
            walls, cpus = [w for w, _ in t], [c for _, c in t]
            print(f"{name:8s} wall best {min(walls):6.2f} s  worst {max(walls):6.2f} s   "
                  f"ffmpeg CPU best {min(cpus):6.2f} s  worst {max(cpus):6.2f} s   "
                  f"size {(tmp / f'{name}.mp3').stat().st_size} B")
        a, b = (tmp / "bundled.mp3").read_bytes(), (tmp / "other.mp3").read_bytes()
        da, db = decode(tmp / "bundled.mp3").samples, decode(tmp / "other.mp3").samples
        m = min(da.shape[0], db.shape[0])
        print(f"same bytes: {a == b}; decoded lengths {da.shape[0]} / {db.shape[0]}; "
              f"largest sample difference {np.abs(da[:m] - db[:m]).max():.4f}")
        print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

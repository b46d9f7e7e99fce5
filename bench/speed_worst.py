"""Render / encode-alone on the speed goal's worst cases, warm and cold, side by side.

    .venv/bin/python bench/speed_worst.py [--repeats 2] [--only 60m-none,1m] [--engine fake] [--keep DIR]

Issue 10's goal: a warm render at most 1.3x ffmpeg encoding the same PCM alone,
cold at most 1.5x, on every bed and speech share. The cases are the shapes
that came out worst in the corpus (bench/run_corpus.py), written by
bench/corpus.py (cases 24, 1, 46, 43, 0) with the espeak voice:

* ``60m-none``: 60 minutes, no bed (mono), 39 % speech: the most limiting;
* ``1m``: 1 minute, white bed: the fixed costs (start-up, the excerpt's round trip);
* ``5m-tonal``: 5.5 minutes over the bowl-drone bed;
* ``20m-noise``: 16.4 minutes over brown noise;
* ``20m-silent``: 20 minutes, 5 % speech, pink bed: mostly silence.

For each case: a cold render (fresh speech cache), then ``--repeats`` rounds of
a warm render and ffmpeg alone encoding the render's own PCM (decoded once to
s16le in a file) with the render's LAME settings, interleaved, so both see the
same load. The ratio is of the medians; beside it the ratio of CPU seconds
(user + system of the render and its ffmpeg processes, against ffmpeg alone),
which drifts less with the load, and shows the work beyond encoding. ffmpeg is started through a wrapper
that counts its processes (one LAME encoder per mixing pass, plus the excerpt's
round trip). The warm floor is what a render that did nothing but start
Python, import its modules and encode in series would score; the cold floor
adds the time to speak every clip (``meditate plan`` on an empty cache less
the same plan warm), which must all be spoken before the level of the single
mixing pass is known. The load average is printed at the start and the end: on a busy
machine the ratios drift, compare them only within one run.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import corpus  # noqa: E402
from generator.ffmpeg import ffmpeg_exe  # noqa: E402
from generator.output.encode import VBR_QUALITY  # noqa: E402

MEDITATE = str(Path(sys.executable).parent / "meditate")
CASES = {name: corpus.corpus()[i] for name, i in
         (("60m-none", 24), ("1m", 1), ("5m-tonal", 46), ("20m-noise", 43), ("20m-silent", 0))}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def wrapper(folder: Path, log: Path) -> Path:
    w = folder / "ffmpeg-counting"
    w.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{ffmpeg_exe()}" "$@"\n')
    w.chmod(0o755)
    return w


def timed(cmd: list, **kw) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the process and every descendant it waited for)."""
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    wall = time.perf_counter() - t
    d = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (d.ru_utime - c.ru_utime) + (d.ru_stime - c.ru_stime)


def render(script: Path, out: Path, args: list, env: dict, log: Path) -> tuple[float, float, int, int]:
    """Wall and CPU seconds, mixing passes (encoders writing the output), ffmpeg processes in all."""
    log.write_text("")
    wall, cpu = timed([MEDITATE, "render", str(script), "-o", str(out), "-q", *args], env=env)
    lines = log.read_text().splitlines()
    part = f".{out.name}.part-"
    return wall, cpu, sum(part in line for line in lines), len(lines)


def encode_alone(pcm: Path, channels: int, bitrate: int | None, tmp: Path) -> tuple[float, float]:
    lame = ["-b:a", f"{bitrate}k"] if bitrate else ["-q:a", str(VBR_QUALITY[channels])]
    return timed([ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", "-f", "s16le", "-ar", "44100",
                  "-ac", str(channels), "-i", str(pcm), "-map_metadata", "-1", "-c:a", "libmp3lame", *lame,
                  "-write_xing", "1", "-f", "mp3", str(tmp / "alone.mp3")])


def start_up(n: int) -> float:
    """Median wall seconds of a Python process importing what ``meditate render`` imports: a cost
    every render pays before its first sample, which encoding alone does not."""
    code = "import generator.cli, generator.pipeline, generator.normalize, generator.output.tags"
    return statistics.median(timed([sys.executable, "-c", code])[0] for _ in range(n))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--only", help="comma-separated case names: " + ", ".join(CASES))
    ap.add_argument("--engine", help="force an engine (fake: a quick check of the harness)")
    ap.add_argument("--keep", help="work in this folder (kept) instead of a temporary one")
    a = ap.parse_args()
    names = a.only.split(",") if a.only else list(CASES)
    tmp = Path(a.keep or tempfile.mkdtemp(prefix="meditate-speed-"))
    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / "ffmpeg.log"
    env = dict(os.environ, MEDITATE_FFMPEG=str(wrapper(tmp, log)))
    if a.engine:
        env["MEDITATE_ENGINE"] = a.engine
    print(f"load average at start: {load()} ({os.cpu_count()} cores); repeats {a.repeats}", flush=True)
    floor = start_up(a.repeats + 1)
    print(f"start-up floor: {floor:.2f} s (Python and the imports a render needs, before any work)", flush=True)
    rows = []
    t0 = time.perf_counter()
    for name in names:
        case = CASES[name]
        script, out, args = corpus.write_practice(case, tmp / name)
        cache = tmp / name / "cache"
        shutil.rmtree(cache, ignore_errors=True)
        env_case = dict(env, XDG_CACHE_HOME=str(cache), MEDITATE_CACHE=str(cache))
        synth = cache.with_name("cache-plan")
        shutil.rmtree(synth, ignore_errors=True)
        plan = [MEDITATE, "plan", str(script), "-q"]
        env_plan = dict(env_case, XDG_CACHE_HOME=str(synth))
        speak = timed(plan, env=env_plan)[0] - timed(plan, env=env_plan)[0]    # cold plan - warm plan
        shutil.rmtree(synth, ignore_errors=True)
        cold, cold_cpu, passes, procs = render(script, out, args, env_case, log)
        channels = 1 if case.bed == "none" else 2
        pcm = tmp / "pcm.s16"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(out), "-f", "s16le", "-ac", str(channels),
                        "-ar", "44100", str(pcm)], check=True)
        warm, alone = [], []
        for _ in range(a.repeats):
            w, w_cpu, passes, procs = render(script, out, args, env_case, log)
            warm.append((w, w_cpu))
            alone.append(encode_alone(pcm, channels, case.bitrate, tmp))
        pcm.unlink()
        w, w_cpu = (statistics.median(x) for x in zip(*warm))
        enc, enc_cpu = (statistics.median(x) for x in zip(*alone))
        row = (name, case.minutes, w, enc, cold, w_cpu / enc_cpu, passes, procs, (floor + enc) / enc,
               (floor + speak + enc) / enc)
        rows.append(row)
        print(f"{name:<11} warm {w:6.2f} s  alone {enc:6.2f} s  warm/alone {w / enc:4.2f}x  "
              f"cold/alone {cold / enc:4.2f}x  CPU warm/alone {w_cpu / enc_cpu:4.2f}x  passes {passes}  "
              f"ffmpeg processes {procs}  floor {(floor + enc) / enc:4.2f}x  speaking {speak:5.2f} s  cold floor {(floor + speak + enc) / enc:4.2f}x  load {load()}", flush=True)
    print(f"\nload average at end: {load()}; {time.perf_counter() - t0:.0f} s in all\n")
    print("| case | minutes | warm render | encode alone | warm / alone | cold / alone | CPU warm / alone | passes "
          "| ffmpeg processes | warm floor | cold floor |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, minutes, w, enc, cold, cpu, passes, procs, fl, cfl in rows:
        print(f"| {name} | {minutes:g} | {w:.2f} s | {enc:.2f} s | {w / enc:.2f}x | {cold / enc:.2f}x | {cpu:.2f}x "
              f"| {passes} | {procs} | {fl:.2f}x | {cfl:.2f}x |")
    worst = max(rows, key=lambda r: r[2] / r[3])
    print(f"\nworst warm: {worst[0]} {worst[2] / worst[3]:.2f}x (goal <= 1.3x); worst cold: "
          f"{max(r[4] / r[3] for r in rows):.2f}x (goal <= 1.5x)")
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

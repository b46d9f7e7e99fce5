"""Render the seeded corpus (bench/corpus.py) and measure every file from the outside.

    .venv/bin/python bench/run_corpus.py [--n 48] [--seed 1] [--only 0,5] [--engine fake]
                                         [--no-timing] [--results bench/RESULTS.md] [--keep DIR]

For every case: ``meditate render`` in a subprocess (the real espeak voice
unless ``--engine``), a fresh speech cache for the run, so a case's first render
is cold. ffmpeg is started through a wrapper that logs each invocation, so the
mixing passes of an MP3 render are counted from the outside (one LAME encoder
per pass; a WAV is written without ffmpeg, so for WAV the count is the one the
render prints). The decoded file is measured with ffmpeg's ``ebur128=peak=true``.

Timing (unless ``--no-timing``): for every bed, and for the sparsest and the
densest practice, an MP3 case is rendered again (warm cache) and ffmpeg alone
encodes the same PCM (the render's output decoded to s16le in a file) with the
same LAME settings; the two are run back to back and the ratio reported, with
the cold (first) render's ratio beside it.

The table goes into RESULTS.md between the ``corpus`` markers (replacing it).
"""
from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import corpus  # noqa: E402
from generator.output.encode import VBR_QUALITY  # noqa: E402
from generator.ffmpeg import ffmpeg_exe  # noqa: E402
from generator.audio.loudness import measure_file  # noqa: E402

VENV_BIN = Path(sys.executable).parent
MEDITATE = str(VENV_BIN / "meditate")
TARGET = -16.0
BEGIN, END = "<!-- corpus:begin -->", "<!-- corpus:end -->"
PASSES_RE = re.compile(r"(\d+) mixing passes")


def _wrapper(folder: Path, log: Path) -> Path:
    w = folder / "ffmpeg-counting"
    w.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{ffmpeg_exe()}" "$@"\n')
    w.chmod(0o755)
    return w


CUE_RE = re.compile(r"(\d+):(\d+):([\d.]+) --> (\d+):(\d+):([\d.]+)")


def spoken_share(vtt: Path, minutes: float) -> float:
    """The share of the practice that is speech, from its transcript's cue times."""
    total = 0.0
    for m in CUE_RE.finditer(vtt.read_text()):
        h0, m0, s0, h1, m1, s1 = (float(x) for x in m.groups())
        total += (h1 * 3600 + m1 * 60 + s1) - (h0 * 3600 + m0 * 60 + s0)
    return total / (minutes * 60)


def render(case, script, out, args, env, log: Path):
    log.write_text("")
    t = time.perf_counter()
    proc = subprocess.run([MEDITATE, "render", str(script), "-o", str(out), *args], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{case.name}: render failed: {proc.stderr.strip()}")
    # the encoders writing the output's temporary .part file (not the excerpt's round trip)
    part = f".{out.name}.part-"
    encoders = sum("libmp3lame" in line and part in line for line in log.read_text().splitlines())
    said = PASSES_RE.search(proc.stdout)
    passes = encoders if case.fmt != "wav" else (int(said.group(1)) if said else 1)
    return wall, passes, proc.stdout.strip()


def encode_alone(case, out: Path, tmp: Path) -> float:
    """ffmpeg alone encoding the render's own PCM with the render's LAME settings (best of 2)."""
    pcm = tmp / "pcm.s16"
    ch = 1 if case.bed == "none" else 2
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(out), "-f", "s16le", "-ac", str(ch),
                    "-ar", "44100", str(pcm)], check=True)
    lame = ["-b:a", f"{case.bitrate}k"] if case.bitrate else ["-q:a", str(VBR_QUALITY[ch])]
    best = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", "-f", "s16le", "-ar", "44100",
                        "-ac", str(ch), "-i", str(pcm), "-map_metadata", "-1", "-c:a", "libmp3lame", *lame,
                        "-write_xing", "1", "-f", "mp3", str(tmp / "alone.mp3")], check=True)
        best = min(best, time.perf_counter() - t)
    pcm.unlink()
    return best


def timing_cases(cases):
    mp3 = [c for c in cases if c.fmt != "wav"]
    pick = {}
    for bed in corpus.BEDS:
        on_bed = [c for c in mp3 if c.bed == bed]
        if on_bed:
            pick[f"bed {bed}"] = max(on_bed, key=lambda c: c.minutes)
    pick["sparsest"] = min(mp3, key=lambda c: c.speech_share)
    pick["densest"] = max(mp3, key=lambda c: c.speech_share)
    return pick


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", help="comma-separated case indices")
    ap.add_argument("--engine", help="force an engine (fake: quick check of the harness)")
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--keep", help="render into this folder (kept) instead of a temporary one")
    a = ap.parse_args()

    cases = corpus.corpus(a.seed, a.n)
    if a.only:
        keep = {int(x) for x in a.only.split(",")}
        cases = [c for c in cases if c.index in keep]
    with tempfile.TemporaryDirectory(prefix="meditate-corpus-") as tmpd:
        tmp = Path(tmpd)
        folder = Path(a.keep) if a.keep else tmp / "corpus"
        log = tmp / "ffmpeg.log"
        env = dict(os.environ, XDG_CACHE_HOME=str(tmp / "cache"), MEDITATE_FFMPEG=str(_wrapper(tmp, log)))
        if a.engine:
            env["MEDITATE_ENGINE"] = a.engine
        rows, firsts, failed = [], {}, []
        t0 = time.perf_counter()
        for case in cases:
            script, out, args = corpus.write_practice(case, folder)
            try:
                wall, passes, said = render(case, script, out, args, env, log)
            except RuntimeError as e:
                failed.append(str(e))
                print(e, flush=True)
                continue
            i, tp = measure_file(out)
            firsts[case.index] = (script, out, args, wall)
            share = spoken_share(out.with_suffix(".vtt"), case.minutes)
            rows.append((case, i, tp, passes, wall, share))
            print(f"{case.name:<40} speech {share:4.0%} I {i:6.1f}  TP {tp:5.1f}  passes {passes}  {wall:6.1f} s"
                  f"   {said.split('  ')[2] if said.count('  ') >= 2 else said}",
                  flush=True)
        total = time.perf_counter() - t0
        timing = []
        if not a.no_timing:
            for label, case in timing_cases([c for c in cases if c.index in firsts]).items():
                script, out, args, cold = firsts[case.index]
                warm, _, _ = render(case, script, out, args, env, log)
                alone = encode_alone(case, out, tmp)
                timing.append((label, case, warm, alone, cold))
                print(f"{label:<14} {case.name:<40} warm {warm:6.1f} s  alone {alone:6.1f} s  "
                      f"ratio {warm / alone:4.2f}  cold ratio {cold / alone:4.2f}", flush=True)
    table = report(rows, timing, total, a, failed)
    print(table)
    if not a.only and not a.engine:
        path = Path(a.results)
        text = path.read_text() if path.exists() else ""
        block = f"{BEGIN}\n{table}\n{END}"
        if BEGIN in text:
            text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        path.write_text(text)


def report(rows, timing, total, a, failed) -> str:
    load = os.getloadavg()
    off = [abs(r[1] - TARGET) for r in rows]
    worst_i = max(rows, key=lambda r: abs(r[1] - TARGET))
    worst_tp = max(rows, key=lambda r: r[2])
    hist = Counter(r[3] for r in rows)
    minutes = sum(c.minutes for c, *_ in rows)
    lines = [
        f"## Corpus: loudness, true peak and mixing passes ({len(rows)} practices, seed {a.seed})",
        "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, `bench/run_corpus.py` "
        f"({'engine ' + a.engine if a.engine else 'espeak voice'}), {minutes:.0f} minutes of audio rendered "
        f"in {total / 60:.1f} min; load average at the end {load[0]:.1f}/{load[1]:.1f} on 2 cores"
        ". Measured by ffmpeg's `ebur128=peak=true` on the decoded files; "
        "passes = LAME encoders started per render (counted by an ffmpeg wrapper; WAV: the render's own count).",
        "",
        "| measure | worst | typical (median) | goal |",
        "| --- | --- | --- | --- |",
        f"| \\|I - target\\| | {abs(worst_i[1] - TARGET):.1f} LU ({worst_i[0].name}) | "
        f"{sorted(off)[len(off) // 2]:.1f} LU | <= 0.5 (aim 0.3) |",
        f"| true peak | {worst_tp[2]:.1f} dBTP ({worst_tp[0].name}) | "
        f"{sorted(r[2] for r in rows)[len(rows) // 2]:.1f} dBTP | <= -1.0 |",
        f"| single-pass renders | {hist.get(1, 0)} of {len(rows)} ({100 * hist.get(1, 0) / len(rows):.0f} %) | | >= 95 % |",
        "",
        "Mixing passes: " + ", ".join(f"{k} pass{'es' if k > 1 else ''}: {v}" for k, v in sorted(hist.items())),
        "",
    ]
    if timing:
        lines += ["| case | practice | warm render | encode alone | warm / alone | cold / alone |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for label, c, warm, alone, cold in timing:
            lines.append(f"| {label} | {c.name} | {warm:.1f} s | {alone:.1f} s | {warm / alone:.2f}x | "
                         f"{cold / alone:.2f}x |")
        lines.append("")
    lines += [f"Renders that failed: {len(failed)}", *(f"- {f}" for f in failed), ""]
    lines += ["<details><summary>every render</summary>", "",
              "| practice | speech | bed level | cues | bell | I (LUFS) | TP (dBTP) | passes | render (cold) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c, i, tp, p, wall, share in rows:
        fmt = c.fmt + (f" {c.bitrate}k" if c.bitrate else "")
        lines.append(f"| {c.name} ({fmt}) | {share:.0%} | {c.level} | {c.cues} | {c.bell} | {i:.1f} | {tp:.1f} | "
                     f"{p} | {wall:.1f} s |")
    lines += ["", "</details>"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

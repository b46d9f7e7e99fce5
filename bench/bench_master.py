"""Benchmark of the mastering chain against the MP3 encoder (a plain script, not a test).

    .venv/bin/python bench/bench_master.py [--minutes 10] [--channels 2] [--repeat 1]

Material: speech-like stereo (band-passed noise with syllable and phrase
envelopes at about -20 dBFS RMS, long pauses, a soft bed at about -45 dBFS) with
a loud burst every 15 s that is well over the ceiling. Everything is streamed
in 65536-sample chunks, as the renderer does.

Printed times (seconds):

* ``Limiter``: unity gain, so only the bursts are limited (mostly quiet input).
* ``Master -16 LUFS``: gain to -16 LUFS first (as the renderer does), so speech
  peaks sit near the ceiling and the limiter works on most phrases.
* ``LoudnessMeter`` with and without true peak (``true_peak=False`` is the
  analysis pass), and on the mastered output (the renderer's check meter).
* ``ffmpeg encode``: :class:`generator.output.encode.Encoder` writing an MP3 of the
  same audio (wall time; ffmpeg runs in its own process, its CPU time is
  printed too).

CPU seconds are ``time.process_time()`` of this process (the minimum over
``--repeat`` runs); the machine may be shared, so prefer them over wall time.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
from scipy.signal import butter, sosfilt

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from generator.output.encode import Encoder  # noqa: E402
from generator.audio.loudness import LoudnessMeter  # noqa: E402
from generator.audio.master import Limiter, Master, mastering_gain  # noqa: E402

RATE = 44100
CHUNK = 65536


def material(minutes: float, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * RATE)
    out = np.empty((n, channels), dtype=np.float32)
    speech_sos = butter(4, [120, 5000], "bandpass", fs=RATE, output="sos")
    bed_sos = butter(2, 400, "lowpass", fs=RATE, output="sos")
    zi_s = np.zeros((speech_sos.shape[0], 2, channels))
    zi_b = np.zeros((bed_sos.shape[0], 2, channels))
    step = 10 * RATE
    for a in range(0, n, step):
        b = min(n, a + step)
        t = np.arange(a, b) / RATE
        sp, zi_s = sosfilt(speech_sos, rng.standard_normal((b - a, channels)), axis=0, zi=zi_s)
        bed, zi_b = sosfilt(bed_sos, rng.standard_normal((b - a, channels)), axis=0, zi=zi_b)
        # ~4 syllables/s, phrases of ~6 s then ~4 s of silence
        env = np.abs(np.sin(2 * np.pi * 2 * t)) ** 1.5 * ((t % 10.0) < 6.0)
        x = 0.12 * sp * env[:, None] + 0.01 * bed
        # a loud 40 ms burst every 15 s (well over the ceiling)
        ph = t % 15.0
        burst = (ph > 7.0) & (ph < 7.04)
        if burst.any():
            k = np.flatnonzero(burst)
            x[k] += 1.6 * np.hanning(k.size)[:, None] * sp[k] / (np.abs(sp[k]).max() + 1e-9)
        out[a:b] = x
    return out[:, 0].copy() if channels == 1 else out


def chunks(x):
    for i in range(0, x.shape[0], CHUNK):
        yield x[i:i + CHUNK]


def timed(fn, repeat):
    best_cpu, best_wall, result = None, None, None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        result = fn()
        c, w = time.process_time() - c0, time.perf_counter() - w0
        best_cpu = c if best_cpu is None else min(best_cpu, c)
        best_wall = w if best_wall is None else min(best_wall, w)
    return best_cpu, best_wall, result


def run_proc(proc, x):
    n = 0
    for c in chunks(x):
        n += len(proc.process(c))
    n += len(proc.flush())
    assert n == x.shape[0]


def run_meter(x, channels, **kw):
    try:
        m = LoudnessMeter(RATE, channels, **kw)
    except TypeError:
        return None  # older LoudnessMeter without the flag
    for c in chunks(x):
        m.feed(c)
    tp = m.true_peak_dbtp() if kw.get("true_peak", True) else m.sample_peak_dbfs()
    return m.integrated_lufs(), tp


def mastered(x, channels, gain):
    m = Master(RATE, channels, gain=gain, ceiling_dbtp=-1.0)
    out = [m.process(c) for c in chunks(x)]
    out.append(m.flush())
    return np.concatenate(out, axis=0)


def encode(x, channels, path):
    t0 = os.times()
    with Encoder(path, RATE, channels) as enc:
        for c in chunks(x):
            enc.write(c)
    t1 = os.times()
    return (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--channels", type=int, default=2, choices=(1, 2))
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)
    ch = args.channels

    t0 = time.perf_counter()
    x = material(args.minutes, ch)
    print(f"material: {args.minutes:g} min, {ch} ch, generated in {time.perf_counter() - t0:.1f} s")

    rows = []
    cpu, wall, res = timed(lambda: run_meter(x, ch), args.repeat)
    lufs, tp = res
    rows.append(("LoudnessMeter (true peak)", cpu, wall, f"{lufs:.2f} LUFS, {tp:.2f} dBTP"))
    cpu, wall, res = timed(lambda: run_meter(x, ch, true_peak=False), args.repeat)
    if res is None:
        rows.append(("LoudnessMeter (true_peak=False)", None, None, "n/a (no such flag)"))
    else:
        rows.append(("LoudnessMeter (true_peak=False)", cpu, wall, f"{res[0]:.2f} LUFS, {res[1]:.2f} dBFS sample peak"))
    gain = mastering_gain(lufs, -16.0)

    cpu, wall, _ = timed(lambda: run_proc(Limiter(RATE, ch, ceiling_dbtp=-1.0), x), args.repeat)
    rows.append(("Limiter, unity gain", cpu, wall, ""))
    cpu, wall, _ = timed(lambda: run_proc(Master(RATE, ch, gain=gain, ceiling_dbtp=-1.0), x), args.repeat)
    rows.append((f"Master, gain {20 * np.log10(gain):+.1f} dB to -16 LUFS", cpu, wall, ""))

    y = mastered(x, ch, gain)
    cpu, wall, res = timed(lambda: run_meter(y, ch), args.repeat)
    rows.append(("LoudnessMeter on mastered (check)", cpu, wall, f"{res[0]:.2f} LUFS, {res[1]:.2f} dBTP"))

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.mp3")
        child = []
        cpu, wall, _ = timed(lambda: child.append(encode(y, ch, path)), args.repeat)
        rows.append(("ffmpeg MP3 encode (Encoder)", cpu, wall, f"ffmpeg CPU {min(child):.2f} s"))

    w = max(len(r[0]) for r in rows)
    print(f"{'':{w}}  {'CPU s':>7}  {'wall s':>7}")
    for name, cpu, wall, note in rows:
        c = f"{cpu:7.2f}" if cpu is not None else "    n/a"
        wl = f"{wall:7.2f}" if wall is not None else "    n/a"
        print(f"{name:{w}}  {c}  {wl}  {note}")


if __name__ == "__main__":
    main()

"""Deterministic test signals for the loudness / mastering / encoding tests.

Beside tests/signals.py (the measures); import as ``from tests.master_signals import …``.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.signal import butter, sosfilt

FS = 44100


def speech_like(seconds: float, channels: int = 1, rate: int = FS, seed: int = 0, level: float = 0.05,
                burst_gain: float = 1.5) -> np.ndarray:
    """Noise shaped like speech: band 120 Hz-5 kHz, ~4 syllables/s, phrase pauses,
    plus short louder 'plosive' bursts band-limited to 10 kHz (like TTS output, which
    has nothing near Nyquist). Crest factor is well above broadcast speech, so a
    limiter has real work to do."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    x = sosfilt(butter(4, [120, 5000], "bandpass", fs=rate, output="sos"), rng.standard_normal((n, channels)), axis=0)
    env = np.abs(np.sin(2 * np.pi * 2 * t)) ** 1.5 * (np.sin(2 * np.pi * 0.2 * t) > -0.4)
    x *= env[:, None]
    imp = np.zeros(n)
    imp[rng.integers(0, n, max(1, int(seconds * 1.5)))] = 1.0
    bursts = np.convolve(imp, np.hanning(200), mode="same")[:, None] * rng.standard_normal((n, channels)) * burst_gain
    bursts = sosfilt(butter(6, 10000, "lowpass", fs=rate, output="sos"), bursts, axis=0)
    y = (level * (x + bursts)).astype(np.float32)
    return y[:, 0].copy() if channels == 1 else y


def sine(freq: float, seconds: float, amp: float = 0.5, rate: int = FS, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def sine_bursts(freq: float = 1000.0, seconds: float = 10.0, amp: float = 0.3, period: float = 2.0,
                rate: int = FS) -> np.ndarray:
    """Tone on for half of every ``period`` seconds, silence otherwise."""
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t) * ((t % period) < period / 2)).astype(np.float32)


def noise_with_gaps(seconds: float = 12.0, channels: int = 1, amp: float = 0.05, rate: int = FS,
                    seed: int = 1) -> np.ndarray:
    """White noise, silent for the last third of every 3 s (exercises both gates)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    x = rng.standard_normal((n, channels)) * amp
    t = np.arange(n) / rate
    x[(t % 3.0) > 2.0] = 0.0
    x = x.astype(np.float32)
    return x[:, 0].copy() if channels == 1 else x


def feed_in_chunks(fn, x: np.ndarray, sizes) -> list:
    """Call ``fn`` on consecutive slices of ``x`` cycling through ``sizes``; returns results."""
    out, i, j = [], 0, 0
    sizes = list(sizes)
    while i < x.shape[0]:
        s = sizes[j % len(sizes)]
        out.append(fn(x[i:i + s]))
        i += s
        j += 1
    return out


def quiet_and_hot(seconds: float = 12.0, channels: int = 2, seed: int = 21) -> np.ndarray:
    """A practice in miniature: soft speech (never near the ceiling), silences, and
    every 3 s a phrase 24 dB hotter that the limiter must catch (with inter-sample
    peaks from an fs/4 tone on the last channel)."""
    x = speech_like(seconds, channels, seed=seed, level=0.03)
    n = x.shape[0]
    t = np.arange(n) / FS
    ph = t % 3.0
    hot = (ph > 1.0) & (ph < 1.6)
    x2 = x if x.ndim == 2 else x[:, None]
    x2[hot] *= 16.0
    x2[(ph > 2.2) & (ph < 2.9)] = 0.0  # digital silence
    tone = 0.9 * np.sin(2 * np.pi * np.arange(n) / 4 + np.pi / 4) * ((ph > 1.7) & (ph < 1.75))
    x2[:, -1] += tone.astype(np.float32)
    return x


def reference_limiter(x: np.ndarray, rate: int = FS, ceiling_dbtp: float = -1.0, lookahead_ms: float = 5.0,
                      release_ms: float = 80.0, hold_ms: float = 1.0, margin_db: float = 0.1) -> np.ndarray:
    """Sample-by-sample implementation of the algorithm in generator.audio.master's docstring
    (slow; independent of its chunking, screening and vectorisation)."""
    from generator.audio.loudness import TP_HALF, interpolated_abs_peaks
    x2 = (x[:, None] if x.ndim == 1 else x).astype(np.float64)
    n = x2.shape[0]
    L = max(1, int(round(lookahead_ms * rate / 1000.0)))
    hold = max(0, int(round(hold_ms * rate / 1000.0)))
    thr_db = ceiling_dbtp - margin_db
    k = 1.0 / (release_ms / 1000.0 * rate)
    pre = L + hold + 64  # zeros before (incl. the limiter's virtual lookahead samples)
    post = L + 64
    z = np.concatenate([np.zeros((pre, x2.shape[1])), x2, np.zeros((post, x2.shape[1]))])
    zp = np.concatenate([np.zeros((TP_HALF - 1, z.shape[1])), z, np.zeros((TP_HALF, z.shape[1]))])
    peak = np.max([interpolated_abs_peaks(zp[:, c]) for c in range(z.shape[1])], axis=0)  # per position of z
    with np.errstate(divide="ignore"):
        need = np.where(peak > 10 ** (thr_db / 20), np.maximum(20 * np.log10(peak) - thr_db, 0.0), 0.0)
    m = z.shape[0]
    held = np.zeros(m)
    for i in np.flatnonzero(need):
        lo, hi = max(0, i - L), min(m, i + hold + 2)  # held[p] covers need[p-hold-1 .. p+L]
        held[lo:hi] = np.maximum(held[lo:hi], need[i])
    rel = np.zeros(m)
    r, d = 0.0, math.exp(-k)
    for p in range(m):
        r = max(held[p], r * d)
        rel[p] = r if r >= 1e-3 else 0.0
    cs = np.concatenate([[0.0], np.cumsum(rel)])
    smooth = np.zeros(m)
    for p in range(m):
        smooth[p] = (cs[p + 1] - cs[max(0, p - L)]) / (L + 1)
    gain = 10.0 ** (-smooth[pre:pre + n] / 20.0)
    y = x2 * gain[:, None]
    return (y[:, 0] if x.ndim == 1 else y).astype(np.float32)

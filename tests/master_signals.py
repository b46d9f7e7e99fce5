"""Deterministic test signals for the loudness / mastering / encoding tests.

Kept separate from tests/signals.py (owned by another test suite).
"""
from __future__ import annotations

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

"""Small signal-measurement helpers shared by the audio tests.

All take numpy arrays (mono ``(n,)`` or multi-channel ``(n, ch)``) and compute in
float64. Import as ``from tests.signals import rms, db, ...``.
"""
from __future__ import annotations

import numpy as np


def rms(x, axis=None):
    """Root mean square (over everything, or along ``axis``: ``rms(st, axis=0)`` per channel)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return 0.0 if axis is None else np.zeros(np.delete(x.shape, axis))
    return np.sqrt(np.mean(x * x, axis=axis))


def db(x, floor: float = 1e-12):
    """dBFS of an amplitude: a scalar -> 20 log10 |x|; an array -> dB of its RMS."""
    if np.ndim(x) == 0:
        return 20 * np.log10(max(abs(float(x)), floor))
    return 20 * np.log10(max(float(rms(x)), floor))


def peak(x) -> float:
    x = np.asarray(x)
    return float(np.max(np.abs(x))) if x.size else 0.0


def max_jump(x) -> float:
    """Largest sample-to-sample step (a click detector), over all channels."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.max(np.abs(np.diff(x, axis=0)))) if x.shape[0] > 1 else 0.0


def dominant_freq(x, rate: int, fmin: float = 20.0, fmax: float | None = None) -> float:
    """Frequency (Hz) of the strongest spectral peak of mono ``x`` in [fmin, fmax].

    Hann window, 8x zero padding and parabolic interpolation on the log
    magnitude, so a 0.2 s window resolves well under 1 Hz for a steady tone.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim > 1:
        x = x.mean(axis=1)
    n = x.shape[0]
    nfft = 1 << int(np.ceil(np.log2(max(n, 2) * 8)))
    spec = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(n), nfft))
    freqs = np.fft.rfftfreq(nfft, 1.0 / rate)
    lo = int(np.searchsorted(freqs, fmin))
    hi = int(np.searchsorted(freqs, fmax if fmax else rate / 2, side="right"))
    i = lo + int(np.argmax(spec[lo:hi]))
    if 0 < i < spec.size - 1:
        a, b, c = np.log(spec[i - 1:i + 2] + 1e-30)
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
        return float((i + shift) * rate / nfft)
    return float(freqs[i])


def spectral_peaks(x, rate: int, count: int = 5, fmin: float = 20.0, min_sep: float = 30.0):
    """The ``count`` strongest spectral peaks (Hz, ascending), at least ``min_sep`` Hz apart."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim > 1:
        x = x.mean(axis=1)
    nfft = 1 << int(np.ceil(np.log2(x.shape[0] * 2)))
    spec = np.abs(np.fft.rfft(x * np.hanning(x.shape[0]), nfft))
    freqs = np.fft.rfftfreq(nfft, 1.0 / rate)
    spec[freqs < fmin] = 0
    found = []
    for i in np.argsort(spec)[::-1]:
        if all(abs(freqs[i] - f) >= min_sep for f in found):
            found.append(float(freqs[i]))
            if len(found) == count:
                break
    return sorted(found)


def frame_rms(x, rate: int, frame: float = 0.05) -> np.ndarray:
    """RMS envelope in consecutive frames of ``frame`` seconds (channels averaged)."""
    x = np.asarray(x, dtype=np.float64)
    x2 = np.mean(x * x, axis=1) if x.ndim > 1 else x * x
    m = max(1, int(round(frame * rate)))
    k = x2.shape[0] // m
    return np.sqrt(x2[:k * m].reshape(k, m).mean(axis=1))


def octave_band_db(x, rate: int, centers, density: bool = False, nperseg: int = 16384) -> np.ndarray:
    """Level (dB) in each octave band [c/sqrt2, c*sqrt2) of mono ``x`` (channels averaged in power).

    ``density=False``: band power (what an octave-band analyser shows; pink is flat,
    white rises 3 dB/octave). ``density=True``: mean power spectral density in the
    band (white is flat, pink falls 3 dB/octave, brown 6 dB/octave). Welch PSD.
    """
    from scipy.signal import welch

    x = np.asarray(x, dtype=np.float64)
    f, p = welch(x, fs=rate, nperseg=min(nperseg, x.shape[0]), axis=0)
    if p.ndim > 1:
        p = p.mean(axis=1)
    df = f[1] - f[0]
    out = []
    for c in centers:
        sel = (f >= c / np.sqrt(2)) & (f < c * np.sqrt(2))
        val = p[sel].mean() if density else p[sel].sum() * df
        out.append(10 * np.log10(max(val, 1e-30)))
    return np.array(out)


def slope_per_octave(levels_db, centers) -> float:
    """Least-squares slope (dB per octave) of levels against log2(center)."""
    return float(np.polyfit(np.log2(np.asarray(centers, dtype=float)), np.asarray(levels_db), 1)[0])

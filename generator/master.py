"""Mastering: a static gain to the loudness target, then a true-peak limiter.

Everything is chunked and vectorised (numpy/scipy, no per-sample Python loop)
so an hour-long practice streams through in constant memory.

Limiter algorithm, per sample ``n`` (all channels share one gain, so the
stereo image never shifts):

1. ``peak[n]``: the max over channels of ``|x[n]|`` and the three 4x-oversampled
   inter-sample values after it (see :func:`generator.loudness.interpolated_abs_peaks`),
   so the limiter reacts to TRUE peaks, not only sample peaks.
2. ``need[n] = max(0, dB(peak[n]) - threshold)`` with ``threshold = ceiling - margin``.
3. ``held[n] = max(need[n-hold-1 .. n+lookahead])`` (``scipy.ndimage.maximum_filter1d``):
   the reduction starts ``lookahead`` samples before each peak.
4. Release: ``rel[n] = max(held[n], rel[n-1] * exp(-1/(release*rate)))``, an
   exponential (in dB) release. It is computed without a loop as a cumulative
   maximum in the log domain, with the state carried across chunks. Reductions
   that decayed below 0.001 dB are snapped to exactly 0.
5. ``smooth[n] = mean(rel[n-lookahead .. n])``: a moving average, so the gain
   ramps down over the lookahead instead of stepping. Every term of the average
   is >= ``need[n]`` (each window in step 3 covers ``n``), hence
   ``smooth[n] >= need[n]`` and the ceiling holds.
6. ``out[n] = x[n] * 10**(-smooth[n]/20)``. Where nothing needs limiting the
   gain is exactly 1.0, so the samples pass through bit-exact.

The output is aligned with the input: :meth:`Limiter.process` returns the
samples it can already finalise (it holds back ``lookahead + 32`` samples),
:meth:`Limiter.flush` returns the rest, and the total output length always
equals the total input length.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import maximum_filter1d

from .errors import AudioError
from .loudness import TP_HALF, interpolated_abs_peaks

_SNAP_DB = 1e-3


def mastering_gain(measured_lufs: float, target_lufs: float) -> float:
    """Linear gain that moves ``measured_lufs`` to ``target_lufs`` (1.0 for silence)."""
    if measured_lufs is None or not math.isfinite(measured_lufs):
        return 1.0
    return float(10.0 ** ((target_lufs - measured_lufs) / 20.0))


class Limiter:
    """Chunked look-ahead true-peak limiter; see the module docstring."""

    def __init__(self, rate: int = 44100, channels: int = 1, ceiling_dbtp: float = -1.0,
                 lookahead_ms: float = 5.0, release_ms: float = 80.0, hold_ms: float = 1.0,
                 margin_db: float = 0.1):
        if channels < 1:
            raise AudioError(f"bad channel count {channels}")
        self.rate = int(rate)
        self.channels = int(channels)
        self.ceiling_dbtp = float(ceiling_dbtp)
        self.threshold_db = self.ceiling_dbtp - float(margin_db)
        self._thr = 10.0 ** (self.threshold_db / 20.0)
        self.lookahead = max(1, int(round(lookahead_ms * self.rate / 1000.0)))
        self.hold = max(0, int(round(hold_ms * self.rate / 1000.0)))
        self._k = 1.0 / max(1e-9, release_ms / 1000.0 * self.rate)  # log-decay per sample
        # samples held back: lookahead for the max window, TP_HALF for the interpolator
        self.latency = self.lookahead + TP_HALF
        # left context needed before the first unfinished sample
        self._left = self.hold + TP_HALF
        # The stream is processed as if `lookahead` zero samples preceded it, so
        # the moving average already ramps down for a peak in the first samples;
        # those virtual samples are dropped from the output.
        self._buf = np.zeros((self._left + self.lookahead, self.channels), dtype=np.float32)
        self._drop = self.lookahead
        self._emitted = 0  # internal samples finalised (including the virtual ones)
        self._received = 0
        self._rel_prev = 0.0  # release state (dB) at the last emitted sample
        self._hist = np.zeros(self.lookahead, dtype=np.float64)  # rel[] of the last `lookahead` samples
        self._finished = False
        self.max_reduction_db = 0.0
        self._mono_in = None

    # ------------------------------------------------------------------------------
    def _as_2d(self, chunk: np.ndarray) -> np.ndarray:
        a = np.asarray(chunk, dtype=np.float32)
        mono = a.ndim == 1
        if mono:
            a = a[:, None]
        if a.ndim != 2 or a.shape[1] != self.channels:
            raise AudioError(f"limiter expects {self.channels} channel(s), got shape {np.shape(chunk)}")
        if self._mono_in is None:
            self._mono_in = mono
        return a

    def _shape_out(self, out: np.ndarray) -> np.ndarray:
        if self._mono_in or (self._mono_in is None and self.channels == 1):
            return out[:, 0]
        return out

    def process(self, chunk: np.ndarray) -> np.ndarray:
        if self._finished:
            raise AudioError("limiter: process() after flush()")
        x = self._as_2d(chunk)
        self._received += x.shape[0]
        self._buf = np.concatenate([self._buf, x], axis=0)
        return self._shape_out(self._trim(self._run()))

    def _trim(self, out: np.ndarray) -> np.ndarray:
        if self._drop:
            k = min(self._drop, out.shape[0])
            self._drop -= k
            out = out[k:]
        return out

    def flush(self) -> np.ndarray:
        """Return the held-back tail; total output length == total input length."""
        if self._finished:
            return self._shape_out(np.zeros((0, self.channels), dtype=np.float32))
        self._finished = True
        pad = np.zeros((self.latency, self.channels), dtype=np.float32)
        self._buf = np.concatenate([self._buf, pad], axis=0)
        return self._shape_out(self._trim(self._run()))

    # ------------------------------------------------------------------------------
    def _run(self) -> np.ndarray:
        L, left = self.lookahead, self._left
        avail = self._buf.shape[0] - left  # samples at/after the first unfinished one
        N = avail - self.latency  # samples we can finalise now
        if N <= 0:
            return np.zeros((0, self.channels), dtype=np.float32)
        buf = self._buf
        # 1. per-position peak (sample + inter-sample) for positions [a - hold - 1, a + N + L)
        #    interpolated_abs_peaks(ext)[k] is position k + TP_HALF - 1 of ext
        start = left - self.hold - TP_HALF  # = 0 (buffer keeps exactly this context)
        ext = buf[start:]
        peak = None
        for c in range(self.channels):
            m = interpolated_abs_peaks(ext[:, c])
            peak = m if peak is None else np.maximum(peak, m)
        # peak[k] ~ position (a - hold - 1) + k ; we need k in [0, hold + 1 + N + L)
        W = self.hold + 1 + L + 1  # window [n-hold-1, n+L]
        peak = peak[: N + W - 1]
        over = peak > self._thr
        if not over.any() and self._rel_prev == 0.0 and not self._hist.any():
            out = buf[left:left + N].copy()
            self._advance(N, np.zeros(0))
            return out
        with np.errstate(divide="ignore"):
            need = np.where(over, 20.0 * np.log10(np.maximum(peak, 1e-30)) - self.threshold_db, 0.0)
        # 3. hold/lookahead max: held[i] = max(need[i .. i+W-1]) for i in [0, N)
        held = maximum_filter1d(need, size=W, mode="constant", cval=0.0)[W // 2: W // 2 + N]
        # 4. exponential release via cumulative max in the log domain
        idx = np.arange(N, dtype=np.float64) * self._k
        with np.errstate(divide="ignore"):
            lg = np.log(held) + idx
            prev = math.log(self._rel_prev) - self._k if self._rel_prev > 0 else -np.inf
        lg[0] = max(lg[0], prev)
        np.maximum.accumulate(lg, out=lg)
        rel = np.exp(lg - idx)
        rel[rel < _SNAP_DB] = 0.0
        # 5. moving average over [n-L, n]
        full = np.concatenate([self._hist, rel])
        cs = np.concatenate([[0.0], np.cumsum(full)])
        smooth = (cs[L + 1:] - cs[:-L - 1]) / (L + 1)
        smooth[smooth < 1e-12] = 0.0
        if smooth.size:
            self.max_reduction_db = max(self.max_reduction_db, float(smooth.max()))
        gain = np.power(10.0, -smooth / 20.0).astype(np.float32)
        out = buf[left:left + N] * gain[:, None]
        self._advance(N, rel)
        return out

    def _advance(self, N: int, rel: np.ndarray) -> None:
        L = self.lookahead
        if rel.size == 0:
            rel = np.zeros(N)
        self._rel_prev = float(rel[-1])
        if N >= L:
            self._hist = rel[-L:].copy()
        else:
            self._hist = np.concatenate([self._hist[N:], rel])
        self._emitted += N
        self._buf = self._buf[N:]


class Master:
    """Gain (to the loudness target) followed by the true-peak limiter."""

    def __init__(self, rate: int = 44100, channels: int = 1, gain: float = 1.0, ceiling_dbtp: float = -1.0,
                 **limiter_kw):
        self.gain = np.float32(gain)
        self.limiter = Limiter(rate, channels, ceiling_dbtp=ceiling_dbtp, **limiter_kw)

    def process(self, chunk: np.ndarray) -> np.ndarray:
        return self.limiter.process(np.asarray(chunk, dtype=np.float32) * self.gain)

    def flush(self) -> np.ndarray:
        return self.limiter.flush()

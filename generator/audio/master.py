"""Mastering: a static gain to the loudness target, then a true-peak limiter.

Everything is chunked and vectorised (numpy/scipy, no per-sample Python loop)
so an hour-long practice streams through in constant memory.

Limiter algorithm, per sample ``n`` (all channels share one gain, so the
stereo image never shifts):

1. ``peak[n]``: the max over channels of ``|x[n]|`` and the three 4x-oversampled
   inter-sample values after it (see :func:`generator.audio.loudness.interpolated_abs_peaks`),
   so the limiter reacts to TRUE peaks, not only sample peaks. Only ``peak > threshold``
   matters, and :func:`generator.audio.loudness.true_peak_over` finds exactly those
   positions without interpolating the quiet parts: a region whose sample peak is
   below ``threshold / TP_BOUND`` (about 9 dB under it) is skipped outright, the rest
   is screened with an FFT interpolation and only near-threshold positions are
   interpolated exactly. The result is bit-identical to evaluating every position.
2. ``need[n] = max(0, dB(peak[n]) - threshold)`` with ``threshold = ceiling - margin``.
3. ``held[n] = max(need[n-hold-1 .. n+lookahead])`` (``dsp.sliding_max``):
   the reduction starts ``lookahead`` samples before each peak.
4. Release: ``rel[n] = max(held[n], rel[n-1] * exp(-1/(release*rate)))``, an
   exponential (in dB) release, computed without a loop as a cumulative maximum in
   the log domain (``key[m] = log(held[m]) + m*k``). The log-domain origin is reset
   every 2**16 samples of the stream (not per chunk), so every value depends only
   on the stream, never on the chunking. Reductions below 0.001 dB are snapped to 0.
5. ``smooth[n] = mean(rel[n-lookahead .. n])``: a moving average (a fixed tree of
   pairwise sums, again independent of chunking), so the gain ramps down over the
   lookahead instead of stepping. Every term of the average is >= ``need[n]``
   (each window in step 3 covers ``n``), hence ``smooth[n] >= need[n]`` and the
   ceiling holds.
6. ``out[n] = x[n] * 10**(-smooth[n]/20)``. Where nothing needs limiting the
   gain is exactly 1.0, so the samples pass through bit-exact.

Steps 3-6 run only on the span of each chunk where a reduction is held, releasing
or being averaged; elsewhere the input is copied. The output is bit-identical for
any chunking, and to the reference path ``Limiter(..., fast=False)`` that
interpolates every position.

The output is aligned with the input: :meth:`Limiter.process` returns the
samples it can already finalise (it holds back ``lookahead + 32`` samples),
:meth:`Limiter.flush` returns the rest, and the total output length always
equals the total input length.
"""
from __future__ import annotations

import math

import numpy as np

from .dsp import sliding_max
from ..errors import AudioError
from .loudness import TP_HALF, TP_TAPS, true_peak_over

_SNAP_DB = 1e-3
_RESET_DB = 5e-4  # a release decayed below this stays snapped to 0: its state can be dropped
_FRAME = 1 << 16  # stream positions per log-domain origin of the release (step 4)
_NEG_DB_TO_LN = -math.log(10.0) / 20.0  # 10**(-dB/20) == exp(dB * _NEG_DB_TO_LN)


def mastering_gain(measured_lufs: float, target_lufs: float) -> float:
    """Linear gain that moves ``measured_lufs`` to ``target_lufs`` (1.0 for silence)."""
    if measured_lufs is None or not math.isfinite(measured_lufs):
        return 1.0
    return float(10.0 ** ((target_lufs - measured_lufs) / 20.0))


def _window_sums(r: np.ndarray, w: int) -> np.ndarray:
    """``out[j] = sum(r[j:j+w])`` for ``j in [0, len(r) - w]``.

    Computed as a fixed tree of pairwise sums (power-of-two partial sums per set bit
    of ``w``), so each value depends only on its own window: the same for any chunking
    (unlike a running cumulative sum) and more accurate.
    """
    n_out = r.shape[0] - w + 1
    if n_out <= 0:
        return np.zeros(0, dtype=r.dtype)
    total = None
    off = 0
    part = r  # part[j] = sum(r[j:j+size])
    size = 1
    while True:
        if w & size:
            seg = part[off:off + n_out]
            total = seg.copy() if total is None else total + seg
            off += size
        if 2 * size > w:
            break
        part = part[:-size] + part[size:]
        size *= 2
    return total


class Limiter:
    """Chunked look-ahead true-peak limiter; see the module docstring.

    ``fast=False`` is the reference path: it interpolates every position instead of
    skipping the provably quiet ones (same output, bit for bit; for tests).
    """

    def __init__(self, rate: int = 44100, channels: int = 1, ceiling_dbtp: float = -1.0,
                 lookahead_ms: float = 5.0, release_ms: float = 80.0, hold_ms: float = 1.0,
                 margin_db: float = 0.1, fast: bool = True):
        if channels < 1:
            raise AudioError(f"bad channel count {channels}")
        self.rate = int(rate)
        self.channels = int(channels)
        self.fast = bool(fast)
        self.ceiling_dbtp = float(ceiling_dbtp)
        self.threshold_db = self.ceiling_dbtp - float(margin_db)
        self._thr = 10.0 ** (self.threshold_db / 20.0)
        self.lookahead = max(1, int(round(lookahead_ms * self.rate / 1000.0)))
        self.hold = max(0, int(round(hold_ms * self.rate / 1000.0)))
        self._k = 1.0 / max(1e-9, release_ms / 1000.0 * self.rate)  # log-decay per sample
        self._kshift = _FRAME * self._k  # log-domain origin moves by this every _FRAME samples
        self._W = self.hold + 1 + self.lookahead + 1  # held[n] window [n-hold-1, n+lookahead]
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
        # release state: running max of log(held[m]) + (m - origin) * k, origin = key_frame * _FRAME
        self._key = -math.inf
        self._key_frame = 0
        self._hist = np.zeros(self.lookahead, dtype=np.float64)  # rel[] of the last `lookahead` samples
        self._hist_nz = False
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
        L, left, W = self.lookahead, self._left, self._W
        avail = self._buf.shape[0] - left  # samples at/after the first unfinished one
        N = avail - self.latency  # samples we can finalise now
        if N <= 0:
            return np.zeros((0, self.channels), dtype=np.float32)
        buf = self._buf
        out = buf[left:left + N].copy()
        # 1.-2. need[i] for positions (a - hold - 1) + i, i in [0, N + W - 1); the buffer
        # starts TP_HALF samples before the first of them (true_peak_over output k is
        # buffer position k + TP_HALF - 1).
        P = N + W - 1
        pos, val = true_peak_over(buf[:P + TP_TAPS - 1], self._thr, exact=not self.fast)
        active = self._key > -math.inf or self._hist_nz
        if pos.size == 0 and not active:
            self._advance(N)
            return out  # nothing held, releasing or averaged: gain exactly 1
        need = np.zeros(P, dtype=np.float64)
        if pos.size:
            need[pos] = np.maximum(20.0 * np.log10(val) - self.threshold_db, 0.0)
        nz = np.flatnonzero(need)
        if nz.size == 0 and not active:
            self._advance(N)
            return out
        # held[i] > 0 exactly for i in [j - W + 1, j] around each nonzero need[j]
        s = 0 if active else max(0, int(nz[0]) - W + 1)
        last = min(N - 1, int(nz[-1])) if nz.size else -1
        # the span ends once the release has decayed below _RESET_DB and the moving
        # average has passed it: gain 1 from there on (checked below)
        hmax = float(need[nz].max()) if nz.size else 0.0
        hmax = max(hmax, self._carried_release(self._emitted)) * 1.01
        d = int(math.ceil(math.log(hmax / _RESET_DB) / self._k)) + 2 if hmax > _RESET_DB else 0
        e = min(N, last + 1 + d + L + 1)
        while True:
            n_s = e - s
            # 3. hold/lookahead max: held[i] = max(need[i .. i+W-1])
            held = sliding_max(need[s:e + W - 1], W)[:n_s]
            # 4. release
            raw, key, key_frame = self._release(held, self._emitted + s)
            rel = raw.copy()
            rel[rel < _SNAP_DB] = 0.0
            done = raw[-1] < _RESET_DB and not rel[-(L + 1):].any()
            if e == N or done:
                break
            e = N  # estimate too short (cannot happen; stay exact anyway)
        # 5. moving average over [n-L, n]; before s every rel is 0 (s > 0 only when idle)
        r = np.concatenate([self._hist if s == 0 else np.zeros(L), rel])
        smooth = _window_sums(r, L + 1) / (L + 1)
        smooth[smooth < 1e-12] = 0.0
        self.max_reduction_db = max(self.max_reduction_db, float(smooth.max()))
        # 6. gain
        gain = np.exp(smooth * _NEG_DB_TO_LN).astype(np.float32)
        out[s:e] *= gain[:, None]
        # state at the end of the chunk
        if done:
            # decayed below _RESET_DB with nothing held after it: every later rel from
            # this state is < _SNAP_DB, i.e. 0, so dropping the state changes nothing
            self._key, self._hist, self._hist_nz = -math.inf, np.zeros(L), False
        else:
            self._key, self._key_frame = key, key_frame
            self._hist = r[-L:].copy()
            self._hist_nz = bool(self._hist.any())
        self._advance(N)
        return out

    def _carried_release(self, t: int) -> float:
        """The release state carried into internal position ``t`` (dB, before snapping)."""
        if self._key == -math.inf:
            return 0.0
        f = t // _FRAME
        lg = self._key - (f - self._key_frame) * self._kshift - (t - f * _FRAME) * self._k
        return math.exp(min(lg, 700.0))

    def _release(self, held: np.ndarray, t0: int):
        """rel[i] = max(held[i], rel[i-1] * exp(-k)) for internal positions t0 + i."""
        key, kf = self._key, self._key_frame
        out = np.empty(held.shape[0], dtype=np.float64)
        with np.errstate(divide="ignore"):
            lh = np.log(held)
        i = 0
        while i < held.shape[0]:
            t = t0 + i
            f = t // _FRAME
            if key == -math.inf:
                kf = f
            while kf < f:
                key -= self._kshift  # same arithmetic for any chunking
                kf += 1
            u0 = t - f * _FRAME
            n = min(held.shape[0] - i, _FRAME - u0)
            idx = np.arange(u0, u0 + n, dtype=np.float64) * self._k
            lg = lh[i:i + n] + idx
            if key > lg[0]:
                lg[0] = key
            np.maximum.accumulate(lg, out=lg)
            key = float(lg[-1])
            out[i:i + n] = np.exp(lg - idx)
            i += n
        return out, key, kf

    def _advance(self, N: int) -> None:
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

"""Streaming loudness (ITU-R BS.1770-4 / EBU R128) and true-peak metering.

The renderer feeds the practice chunk by chunk; memory stays constant apart from
one float per 100 ms of audio (the gating sums), i.e. ~290 KB for an hour.

* K-weighting: the BS.1770 pre-filter (high shelf) and RLB high-pass, their
  analogue prototypes recomputed for the sample rate (the same parametrisation
  libebur128 uses; at 48 kHz it reproduces the coefficients printed in the
  standard). Filter state is carried across chunks.
* Gating: 400 ms blocks with 75 % overlap are built from 100 ms mean-square
  sums; absolute gate -70 LUFS, relative gate -10 LU.
* Channel weighting: 1.0 for the first two (and centre) channels. Mono counts
  as ONE channel (not dual-mono), like ffmpeg's ``ebur128`` and pyloudnorm.
* True peak: 4x oversampling with a 64-tap-per-phase Kaiser-windowed sinc
  polyphase interpolator; the last samples of each chunk are kept so peaks that
  straddle chunk boundaries are found exactly as in one-shot processing.

:func:`measure_file` is an independent cross-check that runs ffmpeg's
``ebur128`` filter on a file.
"""
from __future__ import annotations

import functools
import math
import os
import re
import subprocess
import tempfile

import numpy as np
from numpy.fft import irfft, rfft

from .dsp import sosfilt

from ..errors import AudioError
from ..ffmpeg import ffmpeg_exe

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0

# ---------------------------------------------------------------------------
# True-peak interpolator (shared with generator.audio.master)
# ---------------------------------------------------------------------------
TP_OVERSAMPLE = 4
TP_TAPS = 64  # per phase; the interpolator looks TP_TAPS//2 samples each way
TP_HALF = TP_TAPS // 2


def _design_tp_phases(taps: int = TP_TAPS, beta: float = 9.0) -> np.ndarray:
    """Fractional-delay kernels for positions n + p/4, p = 1..3, shape (3, taps).

    ``y_p[n] = sum_j x[n - j] * w_p[j]`` for ``j in [-taps/2, taps/2)``; the kernel
    array is indexed ``K[i] = w_p[i - taps/2]`` so that ``np.convolve(x, K)[q]`` is
    the interpolated value at ``n = q - taps/2``. Each phase has unity DC gain.
    """
    j = np.arange(-taps // 2, taps // 2, dtype=np.float64)
    out = []
    for p in range(1, TP_OVERSAMPLE):
        t = j + p / TP_OVERSAMPLE
        x = t / (taps / 2 + 0.5)
        win = np.i0(beta * np.sqrt(np.clip(1.0 - x * x, 0.0, None))) / np.i0(beta)
        h = np.sinc(t) * win
        out.append(h / h.sum())
    return np.asarray(out)


TP_PHASES = _design_tp_phases()


def interpolated_abs_peaks(ext: np.ndarray) -> np.ndarray:
    """Per-position max |x| over the sample and its 3 inter-sample points.

    ``ext`` is a 1-D float array. Returns an array ``m`` of length
    ``len(ext) - TP_TAPS + 1`` where ``m[k]`` covers position ``n = k + TP_HALF - 1``
    of ``ext``: ``max(|x[n]|, |x(n+1/4)|, |x(n+1/2)|, |x(n+3/4)|)``.

    This is the exact (direct-form, float64) reference. Every value depends only
    on the 64 input samples around its position, never on where ``ext`` starts or
    ends, so computing any sub-range gives bit-identical values; the screening
    below relies on that.
    """
    n_out = ext.shape[0] - TP_TAPS + 1
    if n_out <= 0:
        return np.zeros(0, dtype=np.float64)
    x = ext.astype(np.float64, copy=False)
    m = np.abs(x[TP_HALF - 1:TP_HALF - 1 + n_out])
    for k in TP_PHASES:
        np.maximum(m, np.abs(np.convolve(x, k, mode="valid")), out=m)
    return m


# ---------------------------------------------------------------------------
# Fast screening for the true-peak interpolator
# ---------------------------------------------------------------------------
# Stage 1, sample-peak bound: an interpolated value is sum_j x[n-j] w_p[j] over the
# 64 taps of one phase, so |value| <= max|x over its 64-sample support| * sum_j |w_p[j]|.
# TP_BOUND is that tap sum for the worst phase (the half-sample one, ~2.80 = +8.95 dB:
# a sign-alternating input that matches the kernel's signs reaches it). The float64
# dot product adds at most ~64 ulp, covered by the 1e-6 factor.
TP_BOUND = float(np.abs(TP_PHASES).sum(axis=1).max())
_BOUND_FACTOR = TP_BOUND * (1.0 + 1e-6)
_BLK = 32  # screening block (output positions); a block's support spans 3 blocks of input
# Stage 2, FFT screen: blocks that fail the bound are interpolated approximately with
# a float32 overlap-save FFT convolution. Its error is below ~3e-4 * frame max|x| even
# by the pessimistic worst-case estimate (measured: ~1e-6); positions within
# _FFT_MARGIN * frame max|x| of the level are re-computed exactly (stage 3), with
# interpolated_abs_peaks on short runs.
_FFT_N = 2048
_FFT_HOP = 62 * _BLK  # 1984 outputs per frame; input 1984 + 63 = 2047 <= _FFT_N
_FFT_MARGIN = 1e-2
_FFT_MIN_OUTPUTS = 2048  # fewer unsafe outputs than this: compute them exactly directly
_RUN_GAP = 64  # merge candidate runs closer than this (fewer np.convolve calls)


@functools.lru_cache(maxsize=1)
def _tp_spectra() -> np.ndarray:
    """The interpolator's phases in the FFT screen's frequency domain (computed once per process; read-only)."""
    spectra = rfft(TP_PHASES, _FFT_N, axis=1).astype(np.complex64)
    spectra.flags.writeable = False
    return spectra


def _abs_max_channels(ext: np.ndarray) -> np.ndarray:
    # (a reduction along the short last axis is ~30x slower than this)
    a = np.abs(ext[:, 0])
    for c in range(1, ext.shape[1]):
        np.maximum(a, np.abs(ext[:, c]), out=a)
    return a


def _block_bounds(amax: np.ndarray, n_out: int) -> np.ndarray:
    """Upper bound of every computed interpolated value in each block of 32 outputs."""
    nb = -(-n_out // _BLK)
    pad = np.zeros((nb + 2) * _BLK, dtype=amax.dtype)
    pad[:amax.shape[0]] = amax  # len(amax) = n_out + 63 <= (nb + 2) * 32
    bm = pad.reshape(nb + 2, _BLK).max(axis=1).astype(np.float64)
    # outputs [32b, 32b + 32) read ext[32b, 32b + 95): blocks b, b+1, b+2
    return np.maximum(np.maximum(bm[:-2], bm[1:-1]), bm[2:]) * _BOUND_FACTOR


def _runs(mask: np.ndarray, gap: int = _RUN_GAP) -> list:
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    br = np.flatnonzero(np.diff(idx) > gap)
    starts = np.concatenate([idx[:1], idx[br + 1]])
    ends = np.concatenate([idx[br], idx[-1:]]) + 1
    return list(zip(starts.tolist(), ends.tolist()))


def _block_runs(blocks: np.ndarray, n_out: int) -> list:
    return [(a * _BLK, min(n_out, b * _BLK)) for a, b in _runs(blocks, gap=1)]


def _fft_screen(ext: np.ndarray, frames: np.ndarray, amax: np.ndarray):
    """Approximate interpolated peaks (max over channels) for whole FFT frames.

    Returns ``(approx, margin)``: ``approx[i, j]`` (float32) for output
    ``frames[i] * _FFT_HOP + j`` (it includes the exact ``|x[n]|``), and ``margin[i]``
    with ``|approx - exact| < margin`` in that frame. Outputs past the end are junk.
    """
    C = ext.shape[1]
    need = int(frames[-1]) * _FFT_HOP + _FFT_N
    xt = np.zeros((C, max(need, ext.shape[0])), dtype=np.float32)
    xt[:, :ext.shape[0]] = ext.T
    win = np.lib.stride_tricks.sliding_window_view(xt, _FFT_N, axis=1)
    seg = win[:, frames * _FFT_HOP]  # (C, nf, F)
    X = rfft(seg, axis=-1)
    Y = irfft(X[:, :, None, :] * _tp_spectra()[None, None], n=_FFT_N, axis=-1)
    Y = np.abs(Y[..., TP_TAPS - 1:TP_TAPS - 1 + _FFT_HOP])  # (C, nf, 3, H)
    v = Y[:, :, 0]
    for p in range(1, Y.shape[2]):
        np.maximum(v, Y[:, :, p], out=v)
    for c in range(1, C):
        np.maximum(v[0], v[c], out=v[0])
    v = v[0]
    amax_p = np.zeros(need, dtype=np.float32)
    m = min(need, amax.shape[0])
    amax_p[:m] = amax[:m]
    aw = np.lib.stride_tricks.sliding_window_view(amax_p, _FFT_N)[frames * _FFT_HOP]  # (nf, F)
    np.maximum(v, aw[:, TP_HALF - 1:TP_HALF - 1 + _FFT_HOP], out=v)
    margin = aw.max(axis=1).astype(np.float64) * _FFT_MARGIN + 1e-30
    return v, margin


def _above(v: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """``v > floor`` per frame row, never missing a value above the float64 ``floor``."""
    f32 = (np.asarray(floor, dtype=np.float64) * (1.0 - 1e-6)).astype(np.float32)
    return v > f32[:, None]


def _screen_frames(unsafe: np.ndarray):
    """Frames (indices) of _FFT_HOP outputs that contain an unsafe block."""
    per = _FFT_HOP // _BLK
    nf = -(-unsafe.size // per)
    fu = np.zeros(nf * per, dtype=bool)
    fu[:unsafe.size] = unsafe
    return nf, np.flatnonzero(fu.reshape(nf, per).any(axis=1))


def _exact_on_runs(ext: np.ndarray, runs: list) -> tuple[np.ndarray, np.ndarray]:
    """Exact peaks (max over channels) on output runs ``(a, b)``: ``(positions, values)``.

    The runs' inputs are laid end to end and interpolated in one go per channel (a few
    calls instead of a few per run); the outputs that straddle two runs are dropped, and
    every kept one depends only on its own 64 samples, so it is the same as per run."""
    if not runs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    ab = np.asarray(runs, dtype=np.int64)
    a, lengths = ab[:, 0], ab[:, 1] - ab[:, 0]
    seg_starts = np.concatenate(([0], np.cumsum(lengths + TP_TAPS - 1)[:-1]))
    out_starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    k = np.arange(int(lengths.sum()))
    pos = k + np.repeat(a - out_starts, lengths)          # the run's output positions in ``ext``
    at = k + np.repeat(seg_starts - out_starts, lengths)  # where they are in the joined outputs
    m = None
    for c in range(ext.shape[1]):
        joined = np.concatenate([ext[x:y + TP_TAPS - 1, c] for x, y in runs])
        mc = interpolated_abs_peaks(joined)[at]
        m = mc if m is None else np.maximum(m, mc)
    return pos, m


def _runs_to_check(ext: np.ndarray, n_out: int, level: float, raise_to_screen: bool = False) -> list:
    """Runs ``(a, b)`` of output positions whose exact interpolated peak may exceed ``level``:
    the sample-peak bound rules out quiet blocks, then (when many are left) the FFT screen.
    ``raise_to_screen``: first raise ``level`` to the best value the screen proves some position
    reaches (for a maximum, nothing below that matters)."""
    amax = _abs_max_channels(ext)
    unsafe = _block_bounds(amax, n_out) > level
    if not unsafe.any():
        return []
    if int(unsafe.sum()) * _BLK < _FFT_MIN_OUTPUTS:
        return _block_runs(unsafe, n_out)
    nf, frames = _screen_frames(unsafe)
    v, margin = _fft_screen(ext, frames, amax)
    last_valid = n_out - int(frames[-1]) * _FFT_HOP
    if last_valid < _FFT_HOP:
        v[-1, last_valid:] = 0.0  # past the end
    if raise_to_screen:
        # some exact value is > v - margin; only values above the best such bound matter
        level = max(level, float((v.max(axis=1).astype(np.float64) - margin).max()))
    mask = np.zeros(nf * _FFT_HOP, dtype=bool)
    mask.reshape(nf, _FFT_HOP)[frames] = _above(v, level - margin)
    return _runs(mask[:n_out])


def true_peak_over(ext: np.ndarray, level: float, exact: bool = False):
    """Positions whose exact interpolated peak exceeds ``level``.

    ``ext`` is ``(n, channels)``; outputs are the ``n - 63`` positions of
    :func:`interpolated_abs_peaks` (max over channels). Returns ``(pos, peak)``,
    the sorted positions ``k`` with ``peak > level`` and their exact peaks, bit-identical
    to evaluating :func:`interpolated_abs_peaks` everywhere (``exact=True`` does
    that, as a reference). Quiet regions are skipped by the sample-peak bound,
    the rest is screened with an FFT interpolation first.
    """
    n_out = ext.shape[0] - TP_TAPS + 1
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))
    if n_out <= 0:
        return empty
    runs = [(0, n_out)] if exact else _runs_to_check(ext, n_out, level)
    if not runs:
        return empty
    pos, m = _exact_on_runs(ext, runs)
    over = m > level
    return pos[over], m[over]


def max_interpolated_peak(ext: np.ndarray, known: float = 0.0, exact: bool = False) -> float:
    """``max(known, M)`` with ``M`` the maximum of :func:`interpolated_abs_peaks` over
    all positions and channels of ``ext`` (``(n, channels)``), bit-identical to the
    full evaluation (``exact=True``). Positions that provably cannot exceed the
    running maximum are never interpolated exactly.
    """
    n_out = ext.shape[0] - TP_TAPS + 1
    if n_out <= 0:
        return known
    runs = [(0, n_out)] if exact else _runs_to_check(ext, n_out, known, raise_to_screen=True)
    _, m = _exact_on_runs(ext, runs)
    return max(known, float(m.max())) if m.size else known


def db(x: float) -> float:
    return 20.0 * math.log10(x) if x > 0 else float("-inf")


# ---------------------------------------------------------------------------
# K-weighting
# ---------------------------------------------------------------------------
def k_weighting_sos(rate: float) -> np.ndarray:
    """BS.1770 K-weighting as two second-order sections for ``rate``."""
    # Stage 1: high shelf (head acoustics)
    f0 = 1681.974450955533
    G = 3.999843853973347
    Q = 0.7071752369554196
    K = math.tan(math.pi * f0 / rate)
    Vh = 10.0 ** (G / 20.0)
    Vb = Vh ** 0.4996667741545416
    a0 = 1.0 + K / Q + K * K
    b1 = [(Vh + Vb * K / Q + K * K) / a0, 2.0 * (K * K - Vh) / a0, (Vh - Vb * K / Q + K * K) / a0]
    a1 = [1.0, 2.0 * (K * K - 1.0) / a0, (1.0 - K / Q + K * K) / a0]
    # Stage 2: RLB high-pass
    f0 = 38.13547087602444
    Q = 0.5003270373238773
    K = math.tan(math.pi * f0 / rate)
    d = 1.0 + K / Q + K * K
    b2 = [1.0, -2.0, 1.0]
    a2 = [1.0, 2.0 * (K * K - 1.0) / d, (1.0 - K / Q + K * K) / d]
    return np.array([b1 + a1, b2 + a2], dtype=np.float64)


def _as_2d(chunk: np.ndarray, channels: int) -> np.ndarray:
    a = np.asarray(chunk)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] != channels:
        raise AudioError(f"expected {channels}-channel audio, got shape {np.shape(chunk)}")
    return a


def block_energies_from_segments(seg: np.ndarray, rate: int) -> np.ndarray:
    """Mean square (channel-weighted, K-weighted) of every complete 400 ms block from 100 ms
    segment energies; linear in them, so stems' blocks add like their segments."""
    s = np.asarray(seg, dtype=np.float64)
    if s.ndim != 1:
        raise AudioError(f"segment energies must be 1-D, got shape {s.shape}")
    if s.size < 4:
        return np.zeros(0)
    blocks = s[:-3] + s[1:-2] + s[2:-1] + s[3:]
    k = np.arange(3, s.size, dtype=np.int64)
    ends = ((k + 1) * int(rate)) // 10  # segment k ends at ((k + 1) * rate) // 10
    starts = ((k - 3) * int(rate)) // 10
    return blocks / (ends - starts).astype(np.float64)


def block_loudness_from_segments(seg: np.ndarray, rate: int) -> np.ndarray:
    """Loudness (LUFS) of every complete 400 ms block from 100 ms segment energies."""
    z = block_energies_from_segments(seg, rate)
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(z)


_ABSOLUTE_GATE_Z = 10.0 ** ((ABSOLUTE_GATE_LUFS + 0.691) / 10.0)


def gated_loudness(z: np.ndarray, relative_db: float = 0.0) -> float:
    """Gated integrated loudness (BS.1770-4) of blocks' mean squares ``z``; ``relative_db``
    moves the relative gate (0: the standard's)."""
    if z.size == 0:
        return float("-inf")
    audible = z >= _ABSOLUTE_GATE_Z
    if not audible.any():
        return float("-inf")
    gamma = z[audible].mean() * 10.0 ** ((RELATIVE_GATE_LU + relative_db) / 10.0)
    keep = z[(z > gamma) & (z > _ABSOLUTE_GATE_Z)]
    if not keep.size:
        return float("-inf")
    return -0.691 + 10.0 * math.log10(keep.mean())


def integrated_from_segments(seg: np.ndarray, rate: int) -> float:
    """Gated integrated loudness (BS.1770-4) from 100 ms segment energies.

    ``seg[k]`` is the channel-weighted sum of squared K-weighted samples of the
    k-th 100 ms segment (:meth:`LoudnessMeter.segment_energies`). Energies add, so
    stems measured separately combine as ``g**2 * voice + bed`` (same length,
    uncorrelated or not: cross terms are the only thing left out).
    """
    return gated_loudness(block_energies_from_segments(seg, rate))


class LoudnessMeter:
    """Integrated loudness, true peak and sample peak of a chunked stream.

    ``true_peak=False`` skips the (4x-oversampled) true-peak detection; the
    sample peak is still tracked and :meth:`true_peak` raises :class:`AudioError`.
    ``exact_true_peak=True`` interpolates every position instead of only those
    the screen cannot rule out: the same numbers, several times slower (the
    reference the screen is tested against).
    """

    CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)

    def __init__(self, rate: int = 44100, channels: int = 1, true_peak: bool = True, exact_true_peak: bool = False):
        if channels < 1 or channels > len(self.CHANNEL_WEIGHTS):
            raise AudioError(f"LoudnessMeter supports 1..5 channels, got {channels}")
        self.rate = int(rate)
        self.channels = int(channels)
        self.measures_true_peak = bool(true_peak)
        self._sos = k_weighting_sos(self.rate)
        self._zi = np.zeros((self.channels, self._sos.shape[0], 2))   # filter state, per channel
        self._w = np.asarray(self.CHANNEL_WEIGHTS[: self.channels])
        self._pos = 0  # samples fed
        self._seg_sums: list[float] = []  # completed 100 ms weighted sums of squares
        self._seg_acc = 0.0  # running sum of the current 100 ms segment
        self._sample_peak = 0.0
        self._tp_peak = 0.0
        self._tp_tail = np.zeros((TP_TAPS - 1, self.channels))
        self._exact_tp = bool(exact_true_peak)  # interpolate every position: the screen's reference

    # -- feeding -----------------------------------------------------------------
    def _seg_end(self, k: int) -> int:
        """Sample index where 100 ms segment k ends (exact for any integer rate)."""
        return ((k + 1) * self.rate) // 10

    def feed(self, chunk: np.ndarray) -> None:
        x = _as_2d(chunk, self.channels).astype(np.float64)
        n = x.shape[0]
        if n == 0:
            return
        # peaks
        chunk_peak = self._sample_peak_chunk(x)
        self._sample_peak = max(self._sample_peak, chunk_peak)
        if self.measures_true_peak:
            ext = np.concatenate([self._tp_tail, x], axis=0)
            # only positions that could raise the reported max(true peak, sample peak)
            # are interpolated exactly; the result is identical to evaluating all of them
            known = max(self._tp_peak, self._sample_peak)
            self._tp_peak = max(self._tp_peak, max_interpolated_peak(ext, known, exact=self._exact_tp))
            self._tp_tail = ext[-(TP_TAPS - 1):]
        # loudness (silence after the filter has settled contributes exactly nothing: skip the filter;
        # pauses without a bed are most of a practice's analysis pass)
        if chunk_peak == 0.0 and not np.any(np.abs(self._zi) > 1e-15):
            e = np.zeros(n)
            self._zi[:] = 0.0
        else:
            y = np.ascontiguousarray(x.T)              # (channels, n), filtered in place
            sosfilt(self._sos, y, self._zi)
            y *= y
            e = y[0]                                    # weighted energy per sample (no BLAS: see cli)
            for c in range(1, self.channels):
                e += y[c] if self._w[c] == 1.0 else self._w[c] * y[c]
        start = self._pos
        end = start + n
        k = len(self._seg_sums)
        cuts = []
        b = self._seg_end(k)
        while b <= end:
            cuts.append(b - start)
            k += 1
            b = self._seg_end(k)
        if cuts:
            # sums over [0, c0), [c0, c1), ..., [c_last, n) (the last one unfinished)
            tail_done = cuts[-1] == n
            starts = [0] + (cuts[:-1] if tail_done else cuts)
            seg = np.add.reduceat(e, starts)
            rest = 0.0 if tail_done else float(seg[-1])
            seg = seg if tail_done else seg[:-1]
            seg[0] += self._seg_acc
            self._seg_sums.extend(seg.tolist())
            self._seg_acc = rest
        else:
            self._seg_acc += float(e.sum())
        self._pos = end

    @staticmethod
    def _sample_peak_chunk(x: np.ndarray) -> float:
        return float(np.max(np.abs(x))) if x.size else 0.0

    # -- results -----------------------------------------------------------------
    @property
    def samples_fed(self) -> int:
        return self._pos

    def segment_energies(self) -> np.ndarray:
        """Channel-weighted K-filtered energy (sum of squares) of every complete 100 ms
        segment so far; segment k covers samples ``[k * rate // 10, (k + 1) * rate // 10)``.
        Feed to :func:`integrated_from_segments` (after combining stems if needed)."""
        return np.asarray(self._seg_sums, dtype=np.float64)

    def block_loudness(self) -> np.ndarray:
        """Loudness (LUFS) of every complete 400 ms block, 100 ms apart."""
        return block_loudness_from_segments(self.segment_energies(), self.rate)

    def integrated_lufs(self) -> float:
        return integrated_from_segments(self.segment_energies(), self.rate)

    def true_peak(self) -> float:
        """Linear 4x-oversampled peak, including the interpolation past the last sample."""
        if not self.measures_true_peak:
            raise AudioError("this LoudnessMeter was created with true_peak=False")
        ext = np.concatenate([self._tp_tail, np.zeros((TP_HALF, self.channels))], axis=0)
        peak = max_interpolated_peak(ext, self._tp_peak, exact=True)
        return max(peak, self._sample_peak)

    def true_peak_dbtp(self) -> float:
        return db(self.true_peak())

    def sample_peak_dbfs(self) -> float:
        return db(self._sample_peak)


def measure(samples: np.ndarray, rate: int = 44100) -> tuple[float, float]:
    """One-shot helper: ``(integrated LUFS, true peak dBTP)`` of an array."""
    ch = 1 if np.ndim(samples) == 1 else int(np.shape(samples)[1])
    m = LoudnessMeter(rate, ch)
    m.feed(samples)
    return m.integrated_lufs(), m.true_peak_dbtp()


# ---------------------------------------------------------------------------
# ffmpeg cross-check
# ---------------------------------------------------------------------------
_I_RE = re.compile(r"^\s*I:\s*(-?[\d.]+|-inf|inf|nan)\s*LUFS", re.M)
_PEAK_RE = re.compile(r"True peak:\s*\n\s*Peak:\s*(-?[\d.]+|-inf|inf|nan)\s*dBFS", re.M)


def _parse_float(s: str) -> float:
    return float(s)


def measure_file(path) -> tuple[float, float]:
    """Integrated LUFS and true peak (dBTP) of a file, measured by ffmpeg's ebur128.

    ffmpeg resamples to 48 kHz for the loudness and to 192 kHz for the true peak
    and prints values rounded to 0.1 dB, so expect agreement within ~0.1-0.2 dB.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioError("file not found", path=path)
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-i", path,
           "-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-"]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        last = text.strip().splitlines()[-1] if text.strip() else f"exit code {proc.returncode}"
        raise AudioError(f"ffmpeg ebur128 failed: {last}", path=path)
    summary = text[text.rfind("Summary:"):] if "Summary:" in text else ""
    mi = _I_RE.search(summary)
    mp = _PEAK_RE.search(summary)
    if not mi or not mp:
        raise AudioError("could not parse ffmpeg ebur128 summary", path=path)
    return _parse_float(mi.group(1)), _parse_float(mp.group(1))

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

import math
import os
import re
import subprocess
import tempfile

import numpy as np
from scipy.signal import sosfilt

from .errors import AudioError
from .ffmpeg import ffmpeg_exe

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0

# ---------------------------------------------------------------------------
# True-peak interpolator (shared with generator.master)
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
    """
    n_out = ext.shape[0] - TP_TAPS + 1
    if n_out <= 0:
        return np.zeros(0, dtype=np.float64)
    x = ext.astype(np.float64, copy=False)
    m = np.abs(x[TP_HALF - 1:TP_HALF - 1 + n_out])
    for k in TP_PHASES:
        np.maximum(m, np.abs(np.convolve(x, k, mode="valid")), out=m)
    return m


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


class LoudnessMeter:
    """Integrated loudness, true peak and sample peak of a chunked stream."""

    CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)

    def __init__(self, rate: int = 44100, channels: int = 1):
        if channels < 1 or channels > len(self.CHANNEL_WEIGHTS):
            raise AudioError(f"LoudnessMeter supports 1..5 channels, got {channels}")
        self.rate = int(rate)
        self.channels = int(channels)
        self._sos = k_weighting_sos(self.rate)
        self._zi = np.zeros((self._sos.shape[0], 2, self.channels))
        self._w = np.asarray(self.CHANNEL_WEIGHTS[: self.channels])
        self._pos = 0  # samples fed
        self._seg_sums: list[float] = []  # completed 100 ms weighted sums of squares
        self._seg_acc = 0.0  # running sum of the current 100 ms segment
        self._sample_peak = 0.0
        self._tp_peak = 0.0
        self._tp_tail = np.zeros((TP_TAPS - 1, self.channels))

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
        self._sample_peak = max(self._sample_peak, float(np.max(np.abs(x))))
        ext = np.concatenate([self._tp_tail, x], axis=0)
        for c in range(self.channels):
            m = interpolated_abs_peaks(ext[:, c])
            if m.size:
                self._tp_peak = max(self._tp_peak, float(m.max()))
        self._tp_tail = ext[-(TP_TAPS - 1):]
        # loudness
        y, self._zi = sosfilt(self._sos, x, axis=0, zi=self._zi)
        e = (y * y) @ self._w  # weighted energy per sample
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
            cs = np.concatenate([[0.0], np.cumsum(e)])
            idx = np.asarray(cuts)
            seg = cs[idx] - cs[np.concatenate([[0], idx[:-1]])]
            seg[0] += self._seg_acc
            self._seg_sums.extend(seg.tolist())
            self._seg_acc = float(cs[-1] - cs[idx[-1]])
        else:
            self._seg_acc += float(e.sum())
        self._pos = end

    # -- results -----------------------------------------------------------------
    @property
    def samples_fed(self) -> int:
        return self._pos

    def block_loudness(self) -> np.ndarray:
        """Loudness (LUFS) of every complete 400 ms block, 100 ms apart."""
        s = np.asarray(self._seg_sums, dtype=np.float64)
        if s.size < 4:
            return np.zeros(0)
        blocks = s[:-3] + s[1:-2] + s[2:-1] + s[3:]
        ends = np.array([self._seg_end(k) for k in range(3, s.size)], dtype=np.float64)
        starts = np.array([self._seg_end(k - 4) if k >= 4 else 0 for k in range(3, s.size)], dtype=np.float64)
        z = blocks / (ends - starts)
        with np.errstate(divide="ignore"):
            return -0.691 + 10.0 * np.log10(z)

    def integrated_lufs(self) -> float:
        lj = self.block_loudness()
        if lj.size == 0:
            return float("-inf")
        z = 10.0 ** ((lj + 0.691) / 10.0)
        abs_gated = lj >= ABSOLUTE_GATE_LUFS
        if not abs_gated.any():
            return float("-inf")
        gamma_r = -0.691 + 10.0 * math.log10(z[abs_gated].mean()) + RELATIVE_GATE_LU
        keep = (lj > gamma_r) & (lj > ABSOLUTE_GATE_LUFS)
        if not keep.any():
            return float("-inf")
        return -0.691 + 10.0 * math.log10(z[keep].mean())

    def true_peak(self) -> float:
        """Linear 4x-oversampled peak, including the interpolation past the last sample."""
        peak = self._tp_peak
        ext = np.concatenate([self._tp_tail, np.zeros((TP_HALF, self.channels))], axis=0)
        for c in range(self.channels):
            m = interpolated_abs_peaks(ext[:, c])
            if m.size:
                peak = max(peak, float(m.max()))
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

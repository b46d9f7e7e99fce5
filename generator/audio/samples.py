"""The one audio type that flows through the pipeline, and the few conversions on it.

Samples are float32 in [-1, 1], shape ``(n,)`` for mono or ``(n, channels)``.
int16 appears in exactly one place: :func:`to_int16`, used by the encoder.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import gcd

import numpy as np

SAMPLE_RATE = 44100


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self):
        if self.samples.dtype != np.float32:
            object.__setattr__(self, "samples", self.samples.astype(np.float32))

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def channels(self) -> int:
        return 1 if self.samples.ndim == 1 else int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def resampled(self, rate: int = SAMPLE_RATE) -> "Audio":
        """Band-limited polyphase resampling (numpy, scipy's ``resample_poly``
        design), exact output length ``round(frames * rate / sample_rate)``."""
        if rate == self.sample_rate:
            return self
        g = gcd(rate, self.sample_rate)
        up, down = rate // g, self.sample_rate // g
        want = int(round(self.frames * rate / self.sample_rate))
        return Audio(resample_poly(self.samples, up, down, want), rate)

    def mono(self) -> "Audio":
        if self.samples.ndim == 1:
            return self
        return Audio(self.samples.mean(axis=1), self.sample_rate)


def seconds_to_samples(seconds: float, rate: int = SAMPLE_RATE) -> int:
    """The one rounding rule for turning time into sample positions."""
    return int(round(seconds * rate))


def from_int16(data: np.ndarray, rate: int) -> Audio:
    return Audio(data.astype(np.float32) / 32768.0, rate)


def to_int16(samples: np.ndarray) -> np.ndarray:
    """The only float->int16 conversion in the product (clip, scale, round)."""
    return np.round(np.clip(samples, -1.0, 32767 / 32768) * 32768.0).astype(np.int16)


def fade_edges(samples: np.ndarray, rate: int, ms: float = 5.0) -> np.ndarray:
    """Raised-cosine ramps on both ends so no clip or cue edge clicks."""
    n = min(int(rate * ms / 1000), samples.shape[0] // 2)
    if n <= 0:
        return samples
    out = samples.copy()
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n, dtype=np.float64))).astype(np.float32)
    if out.ndim == 2:
        ramp = ramp[:, None]
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out


# --- polyphase resampling ---------------------------------------------------------
#
# scipy.signal.resample_poly's default design, in numpy (importing scipy.signal
# costs about 1 s and 75 MB per process). With ``up``/``down`` coprime and
# ``max_rate = max(up, down)``, the filter is a Kaiser-windowed (beta 5) sinc with
# cutoff ``1/max_rate`` of Nyquist, ``2 * 10 * max_rate + 1`` taps, unit DC gain,
# times ``up``. scipy runs it as upfirdn and then drops its group delay; worked
# through, output ``i`` is
#
#     y[i] = sum_j h[i * down + half - j * up] * x[j]        (x = 0 outside the clip)
#
# i.e. only the taps of phase ``(i * down + half) % up`` meet input samples, and
# those are ``K = ceil(len(h) / up)`` consecutive inputs ending at
# ``(i * down + half) // up``. Outputs are computed a slice at a time with the
# float64 input of that slice only, so temporaries stay around a megabyte.

_SLICE = 65536          # outputs per slice (rounded to whole periods of `up`)


@lru_cache(maxsize=16)
def _design(up: int, down: int):
    """The filter split by output position ``q`` within a period of ``up`` outputs.

    Returns ``coeffs`` (up, taps): the taps output ``q`` applies, in input order;
    ``starts`` (up,): the first input output ``q`` reads, relative to the first one
    output 0 reads (outputs ``q + r * up`` read ``down * r`` further on); ``first``:
    the input output 0 reads, relative to ``o0 // up * down`` for a period at ``o0``;
    and ``taps``."""
    max_rate = max(up, down)
    half = 10 * max_rate
    n = 2 * half + 1
    fc = 1.0 / max_rate
    m = np.arange(n) - half
    h = fc * np.sinc(fc * m) * np.kaiser(n, 5.0)
    h[(m % max_rate == 0) & (m != 0)] = 0.0         # the sinc's zeros exactly (sin(pi k) is ~1e-17)
    h *= up / h.sum()                               # firwin's unit DC gain, then * up
    taps = -(-n // up)
    padded = np.zeros(taps * up)
    padded[:n] = h
    phases = padded.reshape(taps, up).T[:, ::-1]    # phases[p, j]: tap on input b - (taps-1) + j
    q = np.arange(up)
    v = q * down + half
    coeffs = np.ascontiguousarray(phases[v % up])
    starts = v // up - half // up
    coeffs.setflags(write=False)
    starts.setflags(write=False)
    return coeffs, starts, half // up - (taps - 1), taps


def resample_poly(x: np.ndarray, up: int, down: int, n_out: int | None = None) -> np.ndarray:
    """``scipy.signal.resample_poly(x, up, down, axis=0)`` (default Kaiser design,
    zero padding) along axis 0, as float32, computed in float64. ``n_out`` outputs,
    default scipy's ``ceil(len(x) * up / down)``; fewer are its first ``n_out``."""
    g = gcd(up, down)
    up, down = up // g, down // g
    x = np.asarray(x)
    n_in = x.shape[0]
    if n_out is None:
        n_out = -(-n_in * up // down)
    x2 = x.reshape(n_in, int(np.prod(x.shape[1:])))
    out = np.empty((n_out, x2.shape[1]), dtype=np.float32)
    if n_out:
        if up == down:
            out[: min(n_in, n_out)] = x2[:n_out]
            out[n_in:] = 0.0
        else:
            _polyphase(x2, up, down, out)
    return out.reshape((n_out,) + x.shape[1:])


def _polyphase(x: np.ndarray, up: int, down: int, out: np.ndarray) -> None:
    coeffs, starts, first, taps = _design(up, down)
    n_in, n_out = x.shape[0], out.shape[0]
    # Few phases with overlapping windows: one vector pass per tap over all the
    # outputs of a phase. Otherwise one matrix-vector product per phase on a
    # strided view of the input (BLAS when the windows don't overlap, down >= taps).
    per_tap = down < taps and up <= 16
    period = max(-(-_SLICE // up), 512) * up     # >= 512 rows per phase: few calls per slice
    span = -(-((period // up + 1) * down + taps) // down) * down    # inputs one slice reaches
    xs = np.empty(span)
    # xs de-interleaved for the tap loop's contiguous reads: comps[m, t] = xs[t * down + m]
    comps = xs.reshape(1, -1) if down == 1 else np.empty((down, span // down))
    acc = np.empty(period // up + 1)
    tmp = np.empty_like(acc)
    windows = np.lib.stride_tricks.sliding_window_view(xs, taps)    # windows[t] = xs[t:t + taps]
    nonzero = [np.flatnonzero(row).tolist() for row in coeffs] if per_tap else None
    for o0 in range(0, n_out, period):
        n_blk = min(period, n_out - o0)
        lo = o0 // up * down + first                # first input of this slice
        a, b = max(lo, 0), min(lo + span, n_in)
        for c in range(x.shape[1]):
            if b > a:
                xs[:a - lo] = 0.0
                xs[a - lo:b - lo] = x[a:b, c]
                xs[b - lo:] = 0.0
            else:
                xs[:] = 0.0
            if per_tap and down > 1:
                comps[...] = xs.reshape(-1, down).T
            for q in range(min(up, n_blk)):
                rows = -(-(n_blk - q) // up)
                s = int(starts[q])
                if per_tap:
                    y = acc[:rows]
                    t = tmp[:rows]
                    for k, j in enumerate(nonzero[q]):        # e.g. up=2: one phase is 1 tap
                        m, t0 = (s + j) % down, (s + j) // down
                        np.multiply(comps[m, t0:t0 + rows], coeffs[q, j], out=y if k == 0 else t)
                        if k:
                            y += t
                else:
                    y = windows[s:s + (rows - 1) * down + 1:down] @ coeffs[q]
                out[o0 + q:o0 + n_blk:up, c] = y

"""The one audio type that flows through the pipeline, and the few conversions on it.

Samples are float32 in [-1, 1], shape ``(n,)`` for mono or ``(n, channels)``.
int16 appears in exactly one place: :func:`to_int16`, used by the encoder.
"""
from __future__ import annotations

from dataclasses import dataclass
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
        """Band-limited polyphase resampling (scipy), exact output length."""
        if rate == self.sample_rate:
            return self
        from scipy.signal import resample_poly

        g = gcd(rate, self.sample_rate)
        up, down = rate // g, self.sample_rate // g
        out = resample_poly(self.samples, up, down, axis=0).astype(np.float32)
        want = int(round(self.frames * rate / self.sample_rate))
        if out.shape[0] > want:
            out = out[:want]
        elif out.shape[0] < want:
            pad = [(0, want - out.shape[0])] + [(0, 0)] * (out.ndim - 1)
            out = np.pad(out, pad)
        return Audio(out, rate)

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

"""A deterministic stand-in engine for exact-timing tests and fast checks.

Its "speech" is band-limited noise with a syllable-rate envelope: it has the level,
spectrum and pauses of speech, and a length that follows the words and the rate,
so pacing and length fitting behave as with a real voice, in microseconds.
"""
from __future__ import annotations

import hashlib

import numpy as np

from ..audio.samples import Audio
from ..script.profiles import VoiceProfile

RATE = 22050


def fake_duration(text: str, profile: VoiceProfile) -> float:
    words = max(1, len(text.split()))
    sentences = sum(text.count(c) for c in ".!?;")
    return words * 60.0 / profile.rate + 0.25 * sentences + 0.3


def one_pole(x: np.ndarray, a: float, block: int = 64) -> np.ndarray:
    """``scipy.signal.lfilter([1 - a], [1, -a], x)`` for 1-D float64 ``x``, from rest:
    ``y[n] = (1 - a) x[n] + a y[n - 1]``, in numpy (no scipy.signal import).

    The signal is cut into blocks of ``block`` samples. Each block's response from
    rest is one matrix product with the lower-triangular ``(1 - a) a^(j - k)``;
    the state carried into block ``i`` is the previous block's last output ``s``,
    which adds ``a^(j + 1) s`` to its sample ``j``. Only that carry (one number per
    block) is a Python loop. Equal to lfilter up to rounding (~1e-15 relative).
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    nb = -(-n // block)
    xb = np.zeros(nb * block)
    xb[:n] = x
    xb = xb.reshape(nb, block)
    lag = np.arange(block)[:, None] - np.arange(block)[None, :]           # j - k
    step = np.where(lag >= 0, (1 - a) * a ** np.maximum(lag, 0), 0.0)     # step[j, k]
    z = xb @ step.T                                                       # responses from rest
    carry = np.empty(nb)
    s, a_block = 0.0, a ** block
    for i, last in enumerate(z[:, -1].tolist()):
        carry[i] = s
        s = a_block * s + last
    z += carry[:, None] * a ** np.arange(1, block + 1)[None, :]
    return z.reshape(-1)[:n]


class FakeEngine:
    name = "fake"
    concurrency = 1     # it counts its calls (tests read them in order); and it is microseconds a clip

    def __init__(self, rate: int = RATE):
        self.rate = rate
        self.calls = 0
        self.spoken: list[tuple[str, str | None]] = []   # (text, language) of every call, for tests

    def synthesize(self, text: str, profile: VoiceProfile) -> Audio:
        self.calls += 1
        self.spoken.append((text, profile.language))
        n = int(round(fake_duration(text, profile) * self.rate))
        seed = int.from_bytes(hashlib.sha256(f"{text}|{profile.key()}".encode()).digest()[:4], "little")
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal(n)
        # crude vocal band: difference of two one-pole lowpasses (~200 Hz .. ~3 kHz)
        a_hi, a_lo = np.exp(-2 * np.pi * 3000 / self.rate), np.exp(-2 * np.pi * 200 / self.rate)
        band = one_pole(noise, a_hi) - one_pole(noise, a_lo)
        t = np.arange(n) / self.rate
        syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t) ** 2
        edge = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.05)
        sig = band * syllables * edge
        sig = sig / (np.max(np.abs(sig)) + 1e-12) * 0.6 * profile.volume
        # 0.1 s of silence each side, like a real engine's lead-in and end pause
        pad = np.zeros(int(0.1 * self.rate))
        return Audio(np.concatenate([pad, sig, pad]).astype(np.float32), self.rate)

    def voices(self) -> list[tuple[str, str]]:
        return [("fake", "deterministic test voice")]

    def close(self) -> None:
        pass

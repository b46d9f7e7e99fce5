"""The numpy polyphase resampler (``Audio.resampled``) against scipy's ``resample_poly``,
its exact lengths, its frequency response, and that it leaves ``scipy.signal`` unloaded."""
from __future__ import annotations

import json
import subprocess
import sys
from math import gcd
from pathlib import Path

import numpy as np
import pytest

from generator.audio.samples import Audio, resample_poly

REPO = Path(__file__).resolve().parent.parent

# (input rate, output rate): the ratios 2/1, 1/2, 441/480 (= 147/160), 441/160, 3/2
RATES = [(22050, 44100), (44100, 22050), (48000, 44100), (16000, 44100), (32000, 48000)]


def scipy_resampled(x: np.ndarray, sr: int, rate: int) -> np.ndarray:
    """What ``Audio.resampled`` returned when it called scipy: resample_poly, cut/padded."""
    from scipy.signal import resample_poly as ref

    g = gcd(sr, rate)
    out = ref(x, rate // g, sr // g, axis=0).astype(np.float32)
    want = int(round(x.shape[0] * rate / sr))
    if out.shape[0] > want:
        out = out[:want]
    elif out.shape[0] < want:
        out = np.pad(out, [(0, want - out.shape[0])] + [(0, 0)] * (out.ndim - 1))
    return out


def noise(sr: int, seconds: float, channels: int) -> np.ndarray:
    rng = np.random.default_rng(sr + channels)
    shape = (int(seconds * sr),) if channels == 1 else (int(seconds * sr), channels)
    return np.clip(0.3 * rng.standard_normal(shape), -1, 1).astype(np.float32)


def sweep(sr: int, seconds: float, channels: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    f0, f1 = 20.0, 0.49 * sr                       # up to just below the input's Nyquist
    x = 0.9 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) / (2 * seconds) * t ** 2))
    if channels == 2:
        x = np.stack([x, -0.5 * x[::-1]], axis=1)
    return x.astype(np.float32)


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("signal", [noise, sweep])
@pytest.mark.parametrize("sr,rate", RATES)
def test_matches_scipy(sr, rate, signal, channels):
    # 6 s: more outputs than one slice for every ratio, so slice seams are covered
    x = signal(sr, 6.0, channels)
    y = Audio(x, sr).resampled(rate)
    ref = scipy_resampled(x, sr, rate)
    assert y.sample_rate == rate
    assert y.samples.dtype == np.float32
    assert y.samples.shape == ref.shape
    assert np.max(np.abs(y.samples - ref)) < 1e-5


@pytest.mark.parametrize("up,down", [(2, 1), (1, 2), (441, 480), (441, 160), (3, 2), (1, 3), (7, 3)])
def test_resample_poly_default_length_matches_scipy(up, down):
    from scipy.signal import resample_poly as ref

    x = noise(10000, 0.5, 2)
    y = resample_poly(x, up, down)
    r = ref(x.astype(np.float64), up, down, axis=0)
    assert y.shape == r.shape and y.dtype == np.float32
    assert np.max(np.abs(y - r)) < 1e-6             # float64 inside: only float32 rounding


@pytest.mark.parametrize("n", [0, 1, 2, 3, 1001])
@pytest.mark.parametrize("sr,rate", RATES + [(44100, 48000), (48000, 16000), (22050, 16000)])
def test_exact_lengths(n, sr, rate):
    want = int(round(n * rate / sr))
    rng = np.random.default_rng(n)
    for shape in [(n,), (n, 2)]:
        x = (0.3 * rng.standard_normal(shape)).astype(np.float32)
        y = Audio(x, sr).resampled(rate)
        assert y.samples.shape == (want,) + shape[1:]
        assert y.samples.dtype == np.float32
        if n:
            assert np.max(np.abs(y.samples - scipy_resampled(x, sr, rate)), initial=0.0) < 1e-5


def test_same_rate_is_self():
    a = Audio(np.zeros(10, np.float32), 22050)
    assert a.resampled(22050) is a


def tone(f: float, sr: int, amp: float = 0.5, seconds: float = 1.0) -> Audio:
    t = np.arange(int(seconds * sr)) / sr
    return Audio((amp * np.sin(2 * np.pi * f * t)).astype(np.float32), sr)


def middle(y: np.ndarray, rate: int) -> np.ndarray:
    """The steady middle half second, away from the filter's edge transients."""
    return y[int(0.25 * rate):int(0.75 * rate)].astype(np.float64)


def amplitude(y: np.ndarray, rate: int, f: float) -> float:
    """Least-squares amplitude of the ``f`` Hz component of the middle."""
    m = middle(y, rate)
    t = np.arange(m.size) / rate
    basis = np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)], axis=1)
    c, *_ = np.linalg.lstsq(basis, m, rcond=None)
    return float(np.hypot(*c))


def db(a: float) -> float:
    return 20 * np.log10(a)


def test_1khz_tone_upsampled_keeps_amplitude_and_frequency():
    y = tone(1000, 22050).resampled(44100).samples
    assert abs(db(amplitude(y, 44100, 1000) / 0.5)) < 0.05
    m = middle(y, 44100)
    spectrum = np.abs(np.fft.rfft(m * np.hanning(m.size)))
    peak = np.argmax(spectrum) * 44100 / m.size
    assert abs(peak - 1000) <= 44100 / m.size
    # nothing else in there: the residual after the tone is tiny
    assert db(np.sqrt(np.mean(m ** 2)) * np.sqrt(2) / 0.5) == pytest.approx(0.0, abs=0.05)


def test_10khz_tone_48k_to_44k1_keeps_amplitude():
    y = tone(10000, 48000).resampled(44100).samples
    assert abs(db(amplitude(y, 44100, 10000) / 0.5)) < 0.05


def test_15khz_tone_removed_when_downsampling_to_16k():
    # 15 kHz is above the 8 kHz Nyquist of 16 kHz; unfiltered it would alias to 1 kHz
    y = tone(15000, 48000).resampled(16000).samples
    rms = np.sqrt(np.mean(middle(y, 16000) ** 2)) * np.sqrt(2)
    assert db(rms / 0.5) < -60


def test_fake_engine_filter_matches_lfilter():
    from scipy.signal import lfilter

    from generator.engines.fake import one_pole

    rng = np.random.default_rng(3)
    for n in [0, 1, 63, 64, 65, 50001]:
        x = rng.standard_normal(n)
        for rate in (22050, 16000):
            for f in (3000, 200):
                a = np.exp(-2 * np.pi * f / rate)
                ref = lfilter([1 - a], [1, -a], x)
                y = one_pole(x, a)
                assert y.shape == ref.shape
                if n:
                    assert np.max(np.abs(y - ref)) <= 1e-12 * np.max(np.abs(ref))


def test_render_path_leaves_scipy_signal_unloaded():
    code = """
import json, sys
import numpy as np
from generator.audio.samples import Audio
from generator.engines.fake import FakeEngine
from generator.script.profiles import VoiceProfile
x = np.random.default_rng(0).standard_normal(22050).astype(np.float32) * 0.1
y = Audio(x, 22050).resampled(44100)
z = Audio(np.stack([x, x], axis=1), 48000).resampled(44100)
clip = FakeEngine().synthesize("Breathe in slowly, and out.", VoiceProfile())
w = clip.resampled(44100)
print(json.dumps({"loaded": "scipy.signal" in sys.modules,
                  "frames": [y.frames, z.frames, w.frames, clip.frames]}))
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["loaded"] is False
    assert out["frames"][:2] == [44100, round(22050 * 44100 / 48000)]
    assert out["frames"][2] == 2 * out["frames"][3]

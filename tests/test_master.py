"""Look-ahead true-peak limiter and the mastering chain, checked by two independent meters."""
from __future__ import annotations

import math

import numpy as np
import pytest

from generator.audio import fade_edges
from generator.encode import Encoder, decode
from generator.errors import AudioError
from generator.loudness import LoudnessMeter, measure, measure_file
from generator.master import Limiter, Master, mastering_gain

from master_signals import FS, feed_in_chunks, sine, speech_like


def run(proc, x, sizes):
    outs = feed_in_chunks(proc.process, x, sizes)
    outs.append(proc.flush())
    return np.concatenate(outs, axis=0)


def hot_stereo(seconds=4.0, seed=5):
    """Speech-like material 12 dB too hot, plus an fs/4 inter-sample-peak tone on the right."""
    x = speech_like(seconds, 2, seed=seed, level=0.4)
    n = np.arange(x.shape[0])
    tone = 0.9 * np.sin(2 * np.pi * n / 4 + np.pi / 4) * (n > x.shape[0] // 2)
    x[:, 1] += fade_edges(tone.astype(np.float32), FS, 10)
    return x


def tp_db(x):
    return measure(x)[1]


def test_mastering_gain():
    assert mastering_gain(-26.0, -16.0) == pytest.approx(10 ** 0.5)
    assert mastering_gain(-16.0, -16.0) == 1.0
    assert mastering_gain(float("-inf"), -16.0) == 1.0


@pytest.mark.parametrize("sizes", [[FS], [4410], [1, 7, 333, 10000, 99]])
def test_true_peak_under_ceiling_and_exact_length(sizes):
    x = hot_stereo()
    assert tp_db(x) > 5.0
    lim = Limiter(FS, 2, ceiling_dbtp=-1.0)
    y = run(lim, x, sizes)
    assert y.shape == x.shape and y.dtype == np.float32
    assert tp_db(y) <= -1.0
    assert 20 * math.log10(np.abs(y).max()) <= -1.0
    assert lim.max_reduction_db > 5.0


def test_chunking_does_not_change_the_output():
    x = hot_stereo(3.0, seed=8)
    a = run(Limiter(FS, 2), x, [x.shape[0]])
    b = run(Limiter(FS, 2), x, [1, 2, 3, 1000, 4410, 17])
    np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)


def test_inter_sample_peaks_are_limited_not_just_sample_peaks():
    # samples at 0.84 (-1.5 dBFS) but the true peak is +1.5 dBTP
    n = np.arange(FS)
    x = fade_edges((1.19 * np.sin(2 * np.pi * n / 4 + np.pi / 4)).astype(np.float32), FS, 20)
    assert 20 * math.log10(np.abs(x).max()) < -1.0 < tp_db(x)
    y = run(Limiter(FS, 1, ceiling_dbtp=-1.0), x, [5000])
    assert tp_db(y) <= -1.0
    assert tp_db(y) > -1.5  # and it is not over-limited


def test_ffmpeg_agrees_true_peak_is_under_ceiling(tmp_path):
    x = hot_stereo(4.0, seed=6)
    y = run(Limiter(FS, 2, ceiling_dbtp=-1.0), x, [FS])
    path = tmp_path / "limited.wav"
    with Encoder(path, channels=2) as enc:
        enc.write(y)
    _, f_tp = measure_file(path)
    assert f_tp <= -1.0  # ffmpeg's own 192 kHz true-peak meter (0.1 dB resolution)
    _, our_tp = measure(decode(path).samples)
    assert our_tp <= -1.0  # still true after int16 quantisation


def test_transparent_below_threshold_bit_exact_and_mono_shape():
    rng = np.random.default_rng(0)
    x = np.clip(rng.standard_normal(3 * FS) * 0.1, -0.8, 0.8).astype(np.float32)  # peaks < -1.9 dBTP
    assert tp_db(x) < -1.2
    lim = Limiter(FS, 1)
    y = run(lim, x, [1000, 3, 44100])
    assert y.shape == x.shape
    assert np.array_equal(y, x)
    assert lim.max_reduction_db == 0.0


def test_gain_recovers_and_is_exact_away_from_a_peak():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(4 * FS) * 0.05).astype(np.float32)
    x[FS] = 1.0  # one over at 1.0 s
    lim = Limiter(FS, 1, ceiling_dbtp=-1.0, lookahead_ms=5, release_ms=80)
    y = run(lim, x, [4096])
    assert tp_db(y) <= -1.0
    pre = FS - lim.lookahead - lim.hold - 40  # before the look-ahead ramp and the interpolator reach
    assert np.array_equal(y[:pre], x[:pre])
    assert np.array_equal(y[2 * FS:], x[2 * FS:])  # released completely well within 1 s
    # the reduction ramps smoothly: no step larger than the lookahead average allows
    g = y[pre:2 * FS] / np.where(x[pre:2 * FS] == 0, 1, x[pre:2 * FS])
    assert np.all(g <= 1.0 + 1e-6) and np.all(g > 0)
    assert np.max(np.abs(np.diff(20 * np.log10(g)))) < 0.2


def test_output_is_aligned_with_input():
    x = hot_stereo(2.0, seed=2)
    y = run(Limiter(FS, 2), x, [777])
    # limited output is the input times a positive gain <= 1, sample by sample (no delay)
    mask = np.abs(x) > 1e-3
    ratio = y[mask] / x[mask]
    assert np.all(ratio > 0) and np.all(ratio <= 1.0 + 1e-6)


def test_shape_errors_and_flush_twice():
    lim = Limiter(FS, 2)
    with pytest.raises(AudioError):
        lim.process(np.zeros(100, np.float32))
    out = lim.process(np.zeros((10, 2), np.float32))
    rest = lim.flush()
    assert out.shape[0] + rest.shape[0] == 10
    assert lim.flush().shape == (0, 2)
    with pytest.raises(AudioError):
        lim.process(np.zeros((10, 2), np.float32))


@pytest.mark.parametrize("channels", [1, 2])
def test_full_loop_to_minus_16_lufs(tmp_path, channels):
    """Pass 1 measures, pass 2 applies gain + limiter while encoding; ffmpeg checks the result."""
    x = speech_like(20, channels, seed=channels)
    chunks = [x[i:i + 16384] for i in range(0, x.shape[0], 16384)]
    meter = LoudnessMeter(FS, channels)
    for c in chunks:
        meter.feed(c)
    gain = mastering_gain(meter.integrated_lufs(), -16.0)
    results = {}
    for ext in ("wav", "mp3"):
        master = Master(FS, channels, gain=gain, ceiling_dbtp=-1.0)
        path = tmp_path / f"out.{ext}"
        with Encoder(path, channels=channels) as enc:
            for c in chunks:
                enc.write(master.process(c))
            enc.write(master.flush())
        results[ext] = measure_file(path)
        assert decode(path).frames == pytest.approx(x.shape[0], abs=0.03 * FS)
    lufs, tp = results["wav"]
    assert lufs == pytest.approx(-16.0, abs=0.5)
    assert tp <= -1.0
    lufs, tp = results["mp3"]
    assert lufs == pytest.approx(-16.0, abs=0.5)
    # lossy coding overshoots the PCM ceiling (measured up to ~0.8 dB at 64 kbit/s mono on this
    # material); it must still never reach full scale
    assert tp <= 0.0

"""Look-ahead true-peak limiter and the mastering chain, checked by two independent meters."""
from __future__ import annotations

import math

import numpy as np
import pytest

from generator.audio.samples import fade_edges
from generator.output.encode import Encoder, decode
from generator.errors import AudioError
import generator.audio.loudness as loudness
from generator.audio.loudness import TP_BOUND, TP_PHASES, LoudnessMeter, interpolated_abs_peaks, measure, measure_file
from generator.audio.master import Limiter, Master, _window_sums, mastering_gain

from tests.master_signals import FS, feed_in_chunks, quiet_and_hot, reference_limiter, sine, speech_like


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


# -- fast path ------------------------------------------------------------------------
ODD = [1, 7, 333, 10000, 99, 65536, 4097]


@pytest.mark.parametrize("channels", [1, 2])
def test_fast_path_is_bit_identical_to_the_reference_path(channels):
    """Skipping quiet regions (sample-peak bound + FFT screen) and running the gain
    computation only where a reduction is active changes nothing, for any chunking."""
    x = quiet_and_hot(12.0, channels)
    ref = run(Limiter(FS, channels, fast=False), x, [x.shape[0]])
    lim = Limiter(FS, channels)
    y = run(lim, x, ODD)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.array_equal(y, ref)
    assert np.array_equal(run(Limiter(FS, channels, fast=False), x, ODD), ref)
    assert np.array_equal(run(Limiter(FS, channels), x, [65536]), ref)
    # the material really has both: limited phrases and untouched stretches
    assert lim.max_reduction_db > 3.0
    assert tp_db(x) > 3.0 and tp_db(y) <= -1.0
    same = np.all((y == x).reshape(x.shape[0], -1), axis=1)
    assert 0.5 < same.mean() < 0.9


def test_matches_a_sample_by_sample_reference():
    x = quiet_and_hot(4.0, 2, seed=3)
    y = run(Limiter(FS, 2), x, [4410, 1, 65536])
    np.testing.assert_allclose(y, reference_limiter(x), atol=2e-7, rtol=0)
    m = hot_stereo(1.5, seed=4)[:, 0].copy()
    np.testing.assert_allclose(run(Limiter(FS, 1), m, [999]), reference_limiter(m), atol=2e-7, rtol=0)


def test_quiet_material_is_never_interpolated(monkeypatch):
    calls = []
    real = loudness.interpolated_abs_peaks
    monkeypatch.setattr(loudness, "interpolated_abs_peaks", lambda e: calls.append(e.shape[0]) or real(e))
    thr = 10 ** (-1.1 / 20)
    x = speech_like(5, 2, seed=2, level=0.05)
    x *= 0.99 * thr / TP_BOUND / np.abs(x).max()  # just under the bound: cannot reach the threshold
    y = run(Limiter(FS, 2, ceiling_dbtp=-1.0), x, [65536])
    assert np.array_equal(y, x) and calls == []
    # louder, but still under the threshold: the FFT screen clears it without exact interpolation
    x *= 2.0
    y = run(Limiter(FS, 2, ceiling_dbtp=-1.0), x, [65536])
    assert np.array_equal(y, x) and tp_db(x) < -1.5 and sum(calls) < 0.1 * x.shape[0]


def test_tap_sum_bound_is_the_worst_case_overshoot():
    """TP_BOUND (sum of |taps| of the worst phase) is reached by a full-scale input with the
    kernel's signs and never exceeded, so sample peak * TP_BOUND bounds the true peak."""
    p = int(np.argmax(np.abs(TP_PHASES).sum(axis=1)))
    worst = np.sign(TP_PHASES[p][::-1])  # x[k + 63 - t] = sign(w[t])
    m = interpolated_abs_peaks(np.concatenate([worst, [0.0]]))
    assert m.max() == pytest.approx(TP_BOUND, rel=1e-12)
    assert 20 * math.log10(TP_BOUND) == pytest.approx(8.95, abs=0.01)
    rng = np.random.default_rng(7)
    for x in (rng.standard_normal(20000), np.sign(rng.standard_normal(20000)), np.cos(np.pi * np.arange(5000) * 0.999)):
        assert interpolated_abs_peaks(x).max() <= np.abs(x).max() * TP_BOUND


def test_true_peak_over_matches_exhaustive_evaluation():
    rng = np.random.default_rng(11)
    thr = 0.89
    for x in (quiet_and_hot(3.0, 2, seed=5).astype(np.float64),
              np.sign(rng.standard_normal((30000, 1))) * 0.33,  # bound-level overshoots
              (0.63 * np.sin(2 * np.pi * np.arange(30000) / 4 + np.pi / 4))[:, None]):
        pos, val = loudness.true_peak_over(x, thr)
        full = np.max([interpolated_abs_peaks(x[:, c]) for c in range(x.shape[1])], axis=0)
        assert np.array_equal(pos, np.flatnonzero(full > thr))
        assert np.array_equal(val, full[pos])
        assert loudness.max_interpolated_peak(x, 0.0) == full.max()


def test_window_sums():
    rng = np.random.default_rng(2)
    r = rng.random(1000)
    for w in (1, 2, 3, 221, 256, 1000):
        expect = np.array([r[j:j + w].sum() for j in range(r.size - w + 1)])
        np.testing.assert_allclose(_window_sums(r, w), expect, rtol=1e-12)
    assert _window_sums(r[:5], 6).size == 0

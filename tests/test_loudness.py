"""Streaming BS.1770 meter vs pyloudnorm and ffmpeg's ebur128."""
from __future__ import annotations

import math

import numpy as np
import pyloudnorm as pyln
import pytest

from generator.audio.samples import fade_edges
from generator.output.encode import Encoder
from generator.errors import AudioError
from generator.audio.loudness import LoudnessMeter, integrated_from_segments, measure, measure_file

from tests.master_signals import FS, feed_in_chunks, noise_with_gaps, quiet_and_hot, sine, sine_bursts, speech_like

SIGNALS = {
    "speech_mono": lambda: speech_like(12, 1, seed=3),
    "speech_stereo": lambda: speech_like(12, 2, seed=4),
    "sine_bursts": lambda: sine_bursts(1000, 10),
    "sine_bursts_100hz": lambda: sine_bursts(100, 8, amp=0.5),
    "noise_gaps": lambda: noise_with_gaps(12),
    "noise_gaps_stereo": lambda: noise_with_gaps(9, 2, amp=0.2),
}


def _meter(x, sizes=None):
    m = LoudnessMeter(FS, 1 if x.ndim == 1 else x.shape[1])
    if sizes is None:
        m.feed(x)
    else:
        feed_in_chunks(m.feed, x, sizes)
    return m


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_integrated_matches_pyloudnorm(name):
    x = SIGNALS[name]()
    ours = _meter(x).integrated_lufs()
    # pyloudnorm's default K-weighting uses cookbook approximations of the filter
    ref = pyln.Meter(FS).integrated_loudness(x.astype(np.float64))
    assert abs(ours - ref) < 0.1, (ours, ref)
    # its "DeMan" filter class is the exact BS.1770 filter recomputed for the rate
    exact = pyln.Meter(FS, "DeMan").integrated_loudness(x.astype(np.float64))
    assert abs(ours - exact) < 0.01, (ours, exact)


@pytest.mark.parametrize("name", ["speech_stereo", "noise_gaps"])
def test_chunked_feeding_gives_the_same_result(name):
    x = SIGNALS[name]()
    whole = _meter(x)
    odd = _meter(x, [1, 7, 4409, 4411, 333, 12345, 2])
    assert odd.samples_fed == x.shape[0]
    assert odd.integrated_lufs() == pytest.approx(whole.integrated_lufs(), abs=1e-9)
    assert odd.true_peak_dbtp() == pytest.approx(whole.true_peak_dbtp(), abs=1e-9)
    assert odd.sample_peak_dbfs() == whole.sample_peak_dbfs()


def test_known_levels():
    # a full-scale 997 Hz sine reads -3.01 LUFS per BS.1770 (the 1 kHz K-weighting gain ~0.69 dB cancels -0.691)
    x = sine(997, 5, amp=1.0)
    assert _meter(x).integrated_lufs() == pytest.approx(-3.01, abs=0.02)
    # mono counts as ONE channel; the same signal on both stereo channels is +3.01 LU
    mono = speech_like(6, 1, seed=9)
    st = np.stack([mono, mono], axis=1)
    assert _meter(st).integrated_lufs() - _meter(mono).integrated_lufs() == pytest.approx(10 * math.log10(2), abs=1e-6)


def test_gates_and_silence():
    assert _meter(np.zeros(FS * 2, np.float32)).integrated_lufs() == float("-inf")
    assert _meter(np.zeros(100, np.float32)).integrated_lufs() == float("-inf")  # shorter than one block
    loud = sine(1000, 4, amp=0.1)
    quiet = sine(1000, 4, amp=0.1 * 10 ** (-30 / 20))  # 30 LU below: removed by the relative gate
    both = np.concatenate([loud, quiet])
    # ungated the mean would be ~3 LU lower; only the few blocks straddling the step survive the gate
    assert _meter(both).integrated_lufs() == pytest.approx(_meter(loud).integrated_lufs(), abs=0.25)
    exact = pyln.Meter(FS, "DeMan").integrated_loudness(both.astype(np.float64))
    assert _meter(both).integrated_lufs() == pytest.approx(exact, abs=0.01)
    below_abs = sine(1000, 4, amp=10 ** (-75 / 20))  # < -70 LUFS: absolute gate
    assert _meter(below_abs).integrated_lufs() == float("-inf")


def test_true_peak_of_inter_sample_peak_signal():
    # fs/4 sine with 45 deg phase: every sample sits at 0.5*sin(45 deg), the true peak is 3.01 dB higher
    n = np.arange(FS)
    x = fade_edges((0.5 * np.sin(2 * np.pi * n / 4 + np.pi / 4)).astype(np.float32), FS, 20)
    m = _meter(x)
    assert m.sample_peak_dbfs() == pytest.approx(20 * math.log10(0.5 * math.sin(math.pi / 4)), abs=0.01)
    assert m.true_peak_dbtp() == pytest.approx(20 * math.log10(0.5), abs=0.05)
    assert m.true_peak_dbtp() - m.sample_peak_dbfs() == pytest.approx(3.01, abs=0.05)


def test_true_peak_straddling_chunk_boundaries():
    # a single inter-sample peak; feed 3 samples at a time so it always crosses a boundary
    n = np.arange(4000)
    x = (0.5 * np.sin(2 * np.pi * n / 4 + np.pi / 4) * np.hanning(4000)).astype(np.float32)
    whole = _meter(x).true_peak_dbtp()
    for sizes in ([3], [1], [2001, 5]):
        assert _meter(x, sizes).true_peak_dbtp() == pytest.approx(whole, abs=1e-9)
    assert whole > _meter(x).sample_peak_dbfs() + 2.5


def test_measure_helper_and_bad_shape():
    x = speech_like(3, 2, seed=1)
    lufs, tp = measure(x)
    m = _meter(x)
    assert (lufs, tp) == (m.integrated_lufs(), m.true_peak_dbtp())
    with pytest.raises(AudioError):
        LoudnessMeter(FS, 2).feed(np.zeros(100, np.float32))


@pytest.mark.parametrize("channels", [1, 2])
def test_agrees_with_ffmpeg_ebur128(tmp_path, channels):
    x = speech_like(15, channels, seed=11, level=0.1)
    path = tmp_path / "sig.wav"
    with Encoder(path, channels=channels) as enc:
        enc.write(x)
    lufs, tp = measure(x)
    f_lufs, f_tp = measure_file(path)
    # ffmpeg resamples to 48 kHz, upsamples to 192 kHz for TP and prints 0.1 dB steps
    assert abs(lufs - f_lufs) <= 0.1, (lufs, f_lufs)
    assert abs(tp - f_tp) <= 0.2, (tp, f_tp)


def test_measure_file_errors(tmp_path):
    with pytest.raises(AudioError):
        measure_file(tmp_path / "missing.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioError):
        measure_file(bad)


# -- fast true peak, loudness-only mode, segment energies -------------------------------
def _fed(x, sizes, **kw):
    m = LoudnessMeter(FS, 1 if x.ndim == 1 else x.shape[1], **kw)
    feed_in_chunks(m.feed, x, sizes)
    return m


@pytest.mark.parametrize("name", ["speech_stereo", "sine_bursts", "quiet_and_hot", "hot_mono", "alternating"])
def test_screened_true_peak_is_exact(name):
    """Skipping positions that cannot raise the maximum gives the same bits as
    interpolating every position."""
    x = {
        "speech_stereo": lambda: SIGNALS["speech_stereo"](),
        "sine_bursts": lambda: SIGNALS["sine_bursts"](),
        "quiet_and_hot": lambda: quiet_and_hot(9.0, 2),
        "hot_mono": lambda: quiet_and_hot(6.0, 1, seed=4),
        "alternating": lambda: (np.sign(np.random.default_rng(3).standard_normal(30000)) * 0.3).astype(np.float32),
    }[name]()
    ref = LoudnessMeter(FS, 1 if x.ndim == 1 else x.shape[1], exact_true_peak=True)
    ref.feed(x)
    for sizes in ([x.shape[0]], [65536], [1, 7, 4409, 4411, 333, 12345, 2]):
        assert _fed(x, sizes).true_peak() == ref.true_peak()


def test_without_true_peak():
    x = quiet_and_hot(6.0, 2)
    full = _meter(x, [65536])
    lo = _fed(x, [65536], true_peak=False)
    assert lo.integrated_lufs() == full.integrated_lufs()
    assert lo.sample_peak_dbfs() == full.sample_peak_dbfs()
    assert np.array_equal(lo.segment_energies(), full.segment_energies())
    with pytest.raises(AudioError):
        lo.true_peak_dbtp()


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_integrated_from_segments_agrees_exactly(name):
    x = SIGNALS[name]()
    m = _meter(x, [4410, 65536, 7])
    seg = m.segment_energies()
    assert seg.dtype == np.float64 and seg.shape == (x.shape[0] // (FS // 10),)
    assert integrated_from_segments(seg, FS) == m.integrated_lufs()
    assert integrated_from_segments(seg[:3], FS) == float("-inf")


def test_segment_energies_combine_stems():
    """Energies of two stems that never overlap add exactly: g^2 * voice + bed is the
    loudness of g * voice + bed (the renderer solves for the voice gain this way)."""
    n = 16 * FS
    t = np.arange(n) / FS
    voice = speech_like(16, 2, seed=5) * ((t % 8) < 4)[:, None].astype(np.float32)
    bed = noise_with_gaps(16, 2, amp=0.01, seed=2) * ((t % 8) >= 4.5)[:, None].astype(np.float32)
    g = 1.7
    sv = _meter(voice).segment_energies()
    sb = _meter(bed).segment_energies()
    mixed = _meter((g * voice + bed).astype(np.float32)).integrated_lufs()
    assert integrated_from_segments(g * g * sv + sb, FS) == pytest.approx(mixed, abs=1e-5)
    assert integrated_from_segments(sv, FS) == pytest.approx(_meter(voice).integrated_lufs(), abs=0)


def test_silence_fast_path_gives_the_same_energies():
    """Long digital silence skips the K-filter once its state has settled: same segments, same loudness."""
    rng = np.random.default_rng(3)
    x = np.zeros(44100 * 20, dtype=np.float32)
    x[44100 * 2: 44100 * 5] = 0.1 * rng.standard_normal(44100 * 3)
    x[44100 * 12: 44100 * 13] = 0.2 * rng.standard_normal(44100)
    fast = LoudnessMeter(44100, 1, true_peak=False)
    for i in range(0, x.size, 65536):
        fast.feed(x[i:i + 65536])
    from scipy.signal import sosfilt

    from generator.audio.loudness import k_weighting_sos
    y = sosfilt(k_weighting_sos(44100), x.astype(np.float64))
    e = (y * y)[: (x.size // 4410) * 4410].reshape(-1, 4410).sum(axis=1)
    np.testing.assert_allclose(fast.segment_energies(), e, rtol=1e-9, atol=1e-20)

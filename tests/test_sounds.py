"""Cue sounds: bells ring out cleanly, breath cues are sample-exact and follow the breath."""
from __future__ import annotations

import numpy as np
import pytest

from generator.audio import sounds
from generator.audio.sounds import BELL_SPACING, bell, breath_chime, breath_glide, phases_for

from tests.signals import db, dominant_freq, max_jump, peak, rms, spectral_peaks

R = 44100
P478x2 = [("in", 176400), ("hold", 308700), ("out", 352800)] * 2


def bounds_of(phases):
    out, i = [], 0
    for name, n in phases:
        out.append((name, i, i + n))
        i += n
    return out


@pytest.fixture(scope="module")
def glide478():
    return breath_glide(P478x2, R)


@pytest.fixture(scope="module")
def bells():
    return {k: bell(k) for k in ("bowl", "chime")}


# ------------------------------------------------------------------ bells

def test_bell_none_empty_and_unknown_raises():
    x = bell("none")
    assert x.dtype == np.float32 and x.shape == (0,)
    with pytest.raises(ValueError, match="unknown bell"):
        bell("gong")
    assert BELL_SPACING > 0


@pytest.mark.parametrize("kind, lo, hi", [("bowl", 6.0, 10.0), ("chime", 3.0, 4.5)])
def test_bell_shape_level_and_natural_ring_out(bells, kind, lo, hi):
    x = bells[kind]
    assert x.dtype == np.float32 and x.ndim == 1
    assert lo <= x.shape[0] / R <= hi
    assert peak(x) == pytest.approx(0.5, abs=1e-3)  # -6 dBFS
    # decays: last second far below the first
    assert db(x[-R:]) < db(x[:R]) - 40
    # below -60 dB of the peak before the final short fade (no truncation of a live ring)
    fade = int(0.08 * R)
    assert peak(x[-fade - int(0.2 * R):-fade]) < 0.5 * 10 ** (-60 / 20)
    # starts and ends at silence: no click at either edge
    assert abs(x[0]) < 1e-4 and abs(x[-1]) < 1e-6
    # attack is soft-ish: no instantaneous jump to full level
    assert peak(x[:int(0.001 * R)]) < 0.3


def test_bell_is_deterministic(bells):
    assert np.array_equal(bell("bowl"), bells["bowl"])


def test_bowl_is_low_and_inharmonic(bells):
    x = bells["bowl"]
    peaks = spectral_peaks(x[:3 * R], R, count=3, fmin=60)
    f0 = peaks[0]
    assert f0 <= 225
    ratios = [f / f0 for f in peaks[1:]]
    assert ratios[0] > 2.2
    for r in ratios:
        assert abs(r - round(r)) > 0.1, f"partial ratio {r:.3f} is (near) harmonic"
    # higher partials decay faster: the spectrum darkens over the ring
    early = dominant_freq(x[:int(0.5 * R)], R, fmin=300)
    late_hi = db(_band(x[4 * R:5 * R], R, 300, 5000)) - db(_band(x[4 * R:5 * R], R, 60, 300))
    early_hi = db(_band(x[:R], R, 300, 5000)) - db(_band(x[:R], R, 60, 300))
    assert early > 300 and late_hi < early_hi - 6


def _band(x, rate, lo, hi):
    spec = np.fft.rfft(x.astype(np.float64))
    f = np.fft.rfftfreq(x.shape[0], 1 / rate)
    spec[(f < lo) | (f >= hi)] = 0
    return np.fft.irfft(spec, x.shape[0])


def test_chime_brighter_shorter_and_inharmonic(bells):
    bowl, chime = bells["bowl"], bells["chime"]
    assert chime.shape[0] < bowl.shape[0]
    assert dominant_freq(chime[:R], R) > 2 * dominant_freq(bowl[:R], R)
    peaks = spectral_peaks(chime[:R], R, count=3, fmin=100, min_sep=80)
    for f in peaks[1:]:
        r = f / peaks[0]
        assert abs(r - round(r)) > 0.1


# ------------------------------------------------------------------ phases_for

def test_phases_for_478():
    ph = phases_for((4, 7, 8), 2, R)
    assert ph == P478x2
    assert sum(n for _, n in ph) == 38 * R


def test_phases_for_in_out_and_zero_holds_omitted():
    assert phases_for((4, 4), 2, R) == [("in", 4 * R), ("out", 4 * R)] * 2
    assert phases_for((4, 0, 6), 1, R) == [("in", 4 * R), ("out", 6 * R)]
    box = phases_for((4, 4, 4, 4), 1, R)
    assert box == [("in", 4 * R), ("hold", 4 * R), ("out", 4 * R), ("hold", 4 * R)]
    assert phases_for((4, 0, 4, 0), 3, R) == [("in", 4 * R), ("out", 4 * R)] * 3
    assert phases_for((4, 7, 8), 0, R) == []


def test_phases_for_boundaries_do_not_drift():
    pat, cycles = (4.00001, 7.00001, 8.00001), 300
    ph = phases_for(pat, cycles, R)
    assert len(ph) == 3 * cycles
    total = sum(n for _, n in ph)
    assert total == int(round(cycles * sum(pat) * R))
    # every boundary is the rounded cumulative time
    i = 0
    for c in range(cycles):
        for j, s in enumerate(pat):
            i += ph[3 * c + j][1]
            assert i == int(round((c * sum(pat) + sum(pat[:j + 1])) * R))
    # rounding each phase separately would have drifted by far more than a sample
    assert abs(sum(int(round(s * R)) for s in pat) * cycles - total) > 100


@pytest.mark.parametrize("bad", [(4,), (1, 2, 3, 4, 5), (4, -1, 4), (float("nan"), 4)])
def test_phases_for_rejects_bad_patterns(bad):
    with pytest.raises(ValueError):
        phases_for(bad, 1, R)


# ------------------------------------------------------------------ breath glide

def test_glide_exact_length_and_level(glide478):
    x = glide478
    assert x.dtype == np.float32 and x.shape == (38 * R,)
    assert 0.2 <= peak(x) <= 0.26
    # fades in at the very start and out at the very end
    assert abs(x[0]) < 1e-6 and abs(x[-1]) < 1e-3
    assert peak(x[:100]) < 0.01 and peak(x[-100:]) < 0.01


def test_glide_pitch_rises_on_inhale_falls_on_exhale_steady_on_hold(glide478):
    x = glide478
    w = int(0.2 * R)
    for name, a, b in bounds_of(P478x2):
        fs = []
        for frac in (0.15, 0.35, 0.5, 0.65, 0.85):
            c = a + int(frac * (b - a))
            fs.append(dominant_freq(x[c - w // 2:c + w // 2], R, fmin=150, fmax=450))
        steps = np.diff(fs)
        if name == "in":
            assert np.all(steps > 2), (name, fs)
            assert 200 < fs[0] < 250 and 300 < fs[-1] < 345
        elif name == "out":
            assert np.all(steps < -2), (name, fs)
            assert fs[0] > 300 and fs[-1] < 250
        else:
            assert max(fs) - min(fs) < 2, (name, fs)
            assert fs[0] == pytest.approx(330, abs=3)


def test_glide_hold_is_quieter(glide478):
    x = glide478
    levels = {"in": [], "hold": [], "out": []}
    for name, a, b in bounds_of(P478x2):
        m = (b - a) // 5
        levels[name].append(db(x[a + m:b - m]))
    assert max(levels["hold"]) < min(levels["in"] + levels["out"]) - 5


def test_glide_has_no_clicks_anywhere(glide478):
    x = glide478
    # a 330 Hz tone at 0.25 peak moves at most ~0.016 per sample; a click would be far larger
    assert max_jump(x) < 0.02
    for _, a, b in bounds_of(P478x2):
        for edge in (a, b):
            seg = x[max(edge - 400, 0):edge + 400]
            assert max_jump(seg) < 0.02
    # the second difference stays tiny too: no phase jump or level step
    assert np.max(np.abs(np.diff(x.astype(np.float64), 2))) < 0.002


def _zc_freq_track(x, rate):
    """Frequency from successive upward zero crossings (time, Hz)."""
    s = np.signbit(x[:-1]) & ~np.signbit(x[1:])
    idx = np.nonzero(s)[0]
    # linear interpolation of the crossing instant
    t = idx + x[idx] / (x[idx] - x[idx + 1])
    return t[1:], rate / np.diff(t)


def test_glide_turns_exactly_at_the_boundary():
    n_in, n_out = 3 * R + 17, 5 * R - 3  # odd boundaries, in/out only
    x = breath_glide([("in", n_in), ("out", n_out)], R).astype(np.float64)
    assert x.shape == (n_in + n_out,)
    t, f = _zc_freq_track(x, R)
    sel = (t > 0.3 * R) & (t < x.shape[0] - 0.6 * R)
    t, f = t[sel], f[sel]
    top = t[np.argmax(f)]
    assert abs(top - n_in) < 0.05 * R
    before = f[t < n_in]
    after = f[t > n_in]
    assert np.all(np.diff(before[::20]) > -0.5)  # non-decreasing before the turn
    assert np.all(np.diff(after[::20]) < 0.5)  # non-increasing after it


def test_glide_accepts_zero_holds_and_empty():
    ph = [("in", R), ("hold", 0), ("out", R), ("hold", 0), ("in", 1234)]
    assert breath_glide(ph, R).shape == (2 * R + 1234,)
    assert breath_glide([], R).shape == (0,)
    with pytest.raises(ValueError):
        breath_glide([("inhale", 100)], R)
    with pytest.raises(ValueError):
        breath_glide([("in", -5)], R)


def test_glide_other_rate_exact():
    ph = phases_for((4, 2, 6), 2, 22050)
    x = breath_glide(ph, 22050)
    assert x.shape == (24 * 22050,)
    assert max_jump(x) < 0.04


# ------------------------------------------------------------------ breath chime

def test_chime_exact_length_and_smooth_end():
    ph = phases_for((4, 7, 8), 2, R)
    x = breath_chime(ph, R)
    assert x.dtype == np.float32 and x.shape == (38 * R,)
    assert abs(x[-1]) < 1e-4 and abs(x[0]) < 1e-3
    assert 0.15 < peak(x) < 0.4
    assert max_jump(x) < 0.08
    # a cue cut short mid-ring still ends smoothly
    y = breath_chime([("in", R // 2)], R)
    assert y.shape == (R // 2,) and abs(y[-1]) < 1e-4 and max_jump(y) < 0.08


def test_chime_notes_mark_each_phase():
    ph = phases_for((4, 7, 8), 1, R)
    x = breath_chime(ph, R)
    (_, a_in, _), (_, a_hold, _), (_, a_out, _) = bounds_of(ph)
    pre = int(0.05 * R)
    for a in (a_hold, a_out):  # an onset at each boundary
        assert rms(x[a:a + pre]) > 3 * rms(x[a - pre:a])
    f_in = dominant_freq(x[a_in:a_in + int(0.25 * R)], R, fmin=200, fmax=1200)
    f_hold = dominant_freq(x[a_hold:a_hold + int(0.25 * R)], R, fmin=200, fmax=1200)
    f_out1 = dominant_freq(x[a_out + 200:a_out + int(0.3 * R)], R, fmin=200, fmax=1200)
    f_out2 = dominant_freq(x[a_out + int(0.4 * R):a_out + int(0.7 * R)], R, fmin=200, fmax=1200)
    assert f_in > f_hold > f_out1 > f_out2  # high in, mid hold, two descending on the exhale
    # the hold note is the soft one
    assert peak(x[a_hold:a_hold + R // 2]) < 0.7 * peak(x[a_in:a_in + R // 2])


def test_module_constants():
    assert sounds.BELL_PEAK == 0.5
    assert set(sounds.PHASE_NAMES) == {"in", "hold", "out"}

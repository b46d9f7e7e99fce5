"""generator.audio.energy: the foreground's loudness from per-sound energy profiles, checked against
the streaming meter on the mixed foreground."""
from __future__ import annotations

import numpy as np
import pytest

from generator.audio import energy
from generator.cache import PROFILE_SUFFIX
from generator.audio.loudness import LoudnessMeter, integrated_from_segments
from generator.cues.base import Spoken
from generator.normalize import BED_PROBE, BED_PROBE_WHOLE, SEGMENT
from generator.pipeline import RenderOptions, make_bed, make_mixer, prepare
from generator.progress import Progress

R = 44100


def metered(x: np.ndarray) -> np.ndarray:
    m = LoudnessMeter(R, 1, true_peak=False)
    for a in range(0, x.size, 65536):
        m.feed(x[a:a + 65536])
    return m.segment_energies()


def test_profile_is_the_k_weighted_energy_per_block_with_the_ringing():
    x = np.random.default_rng(1).standard_normal(10_000).astype(np.float32) * 0.1
    prof = energy.profile(x)
    assert prof.dtype == np.float32
    assert prof.size == -(-(x.size + int(energy.RING * R)) // energy.BLOCK)
    padded = np.concatenate([x, np.zeros(prof.size * energy.BLOCK - x.size, np.float32)])
    seg = metered(padded)                                # the meter's K-filter, from silence
    total = float(prof.sum(dtype=np.float64))
    assert total == pytest.approx(seg.sum() + 0.0, rel=2e-3)   # (the meter drops the last partial segment)
    assert prof[-1] < 1e-6 * prof.max()                  # the ringing has died away at the end


@pytest.mark.parametrize("start", [0, 1, 4409, 4410, 12345, 100_003])
def test_laid_profiles_match_the_meter_at_any_offset(start):
    rng = np.random.default_rng(start)
    x = (rng.standard_normal(30_000) * np.hanning(30_000)).astype(np.float32) * 0.2
    n = start + x.size + R
    track = np.zeros(n, np.float32)
    track[start:start + x.size] = x
    want = metered(track)
    got = np.zeros(n // SEGMENT)
    energy.lay(got, energy.profile(x), start, 4.0, SEGMENT)       # gain 2: energy x4
    assert got.size == want.size
    busy = want > 1e-4 * want.max()
    assert np.allclose(got[busy], 4.0 * want[busy], rtol=0.06)    # block edges: energy spread evenly
    assert got.sum() == pytest.approx(4.0 * want.sum(), rel=2e-3)
    assert np.all(got[~busy] <= 4.0 * 1e-3 * want.max())


def test_lay_clips_at_the_end_and_ignores_empty():
    seg = np.zeros(3)
    energy.lay(seg, np.ones(1000, np.float32), 2 * SEGMENT, 1.0, SEGMENT)   # runs past the last segment
    assert seg[:2].sum() == 0 and seg[2] == pytest.approx(SEGMENT / energy.BLOCK)
    energy.lay(seg, np.zeros(0, np.float32), 0, 1.0, SEGMENT)
    energy.lay(seg, np.ones(10, np.float32), 10 * SEGMENT, 1.0, SEGMENT)     # wholly past the end


def test_speech_profiles_are_kept_beside_the_clips(write_script, tmp_path):
    p = write_script("Breathe gently. [pause 2s] You are welcome here, just as you are.\n")
    prep = prepare(p, RenderOptions(), Progress(enabled=False), None)
    mixer = make_mixer(prep, None)
    first = mixer.foreground_energies(SEGMENT)
    clips = {ev.sound.clip.path for ev in mixer.events if isinstance(ev.sound, Spoken)}
    sides = [c.with_name(c.name[:-len(".npy")] + PROFILE_SUFFIX) for c in sorted(clips)]
    assert len(clips) >= 2 and all(f.exists() for f in sides)
    stamp = [f.stat().st_mtime_ns for f in sides]
    again = mixer.foreground_energies(SEGMENT)                  # read back, not made again
    assert [f.stat().st_mtime_ns for f in sides] == stamp
    assert np.array_equal(first, again)
    # a damaged profile is made again
    sides[0].write_bytes(b"junk")
    assert np.allclose(mixer.foreground_energies(SEGMENT), first)


@pytest.mark.parametrize("cues, bed", [("glide", "none"), ("chime", "pink"), ("spoken", "ocean")])
def test_foreground_loudness_matches_the_mixed_foreground(write_script, cues, bed):
    p = write_script(
        "[bell]\nArriving now. You might let the breath find its own pace.\n\n"
        "[breathe 4-2-6 x3]\n\nIf it feels right, rest a hand on your chest. [pause 3s]\n\n"
        "[breathe soothing x2]\nAnd when you are ready, open your eyes.\n[bell]\n",
        title="E", breath_cues=cues, ambience=bed)
    prep = prepare(p, RenderOptions(), Progress(enabled=False), None)
    mixer = make_mixer(prep, make_bed(prep))
    got = mixer.foreground_energies(SEGMENT)
    m = LoudnessMeter(R, 1, true_peak=False)
    for chunk in mixer.foreground():
        m.feed(chunk)
    want = m.segment_energies() * mixer.channels
    assert got.size == want.size
    assert integrated_from_segments(got, R) == pytest.approx(integrated_from_segments(want, R), abs=0.02)
    busy = want > 1e-3 * want.max()
    assert np.median(np.abs(got[busy] / want[busy] - 1)) < 0.01


def test_a_short_practice_is_predicted_in_step_with_its_bed(write_script, tmp_path):
    """Up to 4.5 minutes the whole bed is measured beside the voice: the prediction lands on
    the target and the practice is mixed once (a cycled one-minute probe missed by ~0.25 LU)."""
    from generator.pipeline import render

    body = "".join(f"You might rest here for a moment, noticing breath number {i}. [pause 18s]\n\n"
                   for i in range(8))
    p = write_script(body, title="Short", ambience="drone", ambience_level=-34)
    prep = prepare(p, RenderOptions(), Progress(enabled=False), None)
    assert prep.timeline.frames <= BED_PROBE_WHOLE and prep.timeline.frames > 2 * BED_PROBE
    res = render(p, tmp_path / "s.wav", RenderOptions())
    assert res.passes == 1
    assert res.loudness == pytest.approx(-16.0, abs=0.05)

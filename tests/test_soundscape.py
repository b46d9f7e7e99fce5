"""The sound between the words: bed level, ducking, fades, clicks, loudness and true peak."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from generator.cli import cli
from generator.output.encode import decode
from generator.audio.loudness import measure_file
from generator.pipeline import RenderOptions, make_bed, make_mixer, prepare
from generator.pipeline import render as render_file
from tests.signals import db, max_jump, rms

SR = 44100


def render(path, out, *args):
    r = CliRunner().invoke(cli, ["render", str(path), "-o", str(out), "-q", *map(str, args)])
    assert r.exit_code == 0, r.output
    return decode(out).samples


@pytest.fixture
def spoken(write_script):
    return write_script("""
        [pause 8s]
        You might let the shoulders soften, just a little, and notice the weight of the hands resting.
        [pause 8s]
        And perhaps the breath is moving on its own, with nothing to do and nowhere to be.
        [pause 8s]
        """, front="title: Bed\nambience: pink\nambience_level: -30")


def test_bed_sits_at_its_level_in_pauses(spoken, tmp_path):
    """At the script's level, or where the render says it moved it (this sparse practice puts a
    -30 dBFS bed on the loudness gate, so it is moved: the summary line names the new level)."""
    res = render_file(spoken, tmp_path / "b.wav", RenderOptions())
    assert res.bed_level == -30 and res.bed_shift != 0 and f"set to {-30 + res.bed_shift:g}" in res.notes()
    x = decode(tmp_path / "b.wav").samples
    assert x.ndim == 2 and x.shape[1] == 2                      # stereo where a bed plays
    pause = x[5 * SR: 7 * SR]                                     # after the 4 s fade-in, before speech
    assert db(pause[:, 0]) == pytest.approx(-30 + res.bed_shift, abs=0.7)
    assert db(pause[:, 1]) == pytest.approx(-30 + res.bed_shift, abs=0.7)
    # decorrelated channels: width, not a mono bed
    assert abs(np.corrcoef(pause[:, 0], pause[:, 1])[0, 1]) < 0.2


def test_bed_ducks_under_speech_and_comes_back(spoken):
    p = prepare(spoken, RenderOptions())
    mixer = make_mixer(p, make_bed(p))
    bed = np.concatenate(list(mixer.chunks(fg_gain=0.0)))        # the bed alone, as mixed
    speech = [e for e in p.timeline.entries if e.kind.name == "speech"]
    first = speech[0]
    under = bed[first.start + SR: first.end - SR]
    before = bed[first.start - 3 * SR: first.start - 2 * SR]
    after = bed[first.end + 3 * SR: first.end + 4 * SR]
    assert db(before) - db(under) >= 6.0
    assert db(after) == pytest.approx(db(before), abs=0.5)      # back up in the pause
    # smooth: the gain applied to the raw bed (same seed) moves by well under 0.01 dB per sample
    raw = make_bed(p).render(0, bed.shape[0])
    a, b = first.start - 2 * SR, first.start + SR
    gain_db = 20 * np.log10(np.abs(bed[a:b, 0]) / np.maximum(np.abs(raw[a:b, 0]), 1e-9) + 1e-12)
    ok = np.abs(raw[a:b, 0]) > 1e-3                  # where the ratio is well defined
    assert np.all(np.abs(np.diff(gain_db[ok][::50])) < 0.5)
    # beds are made at -20 dBFS: -30 is a gain of -10 dB, ducked 10 dB further under the voice
    assert gain_db[ok][:100].mean() == pytest.approx(-10, abs=0.1)
    assert gain_db[ok][-100:].mean() == pytest.approx(-20, abs=0.1)


def test_fades_in_and_out(spoken, tmp_path):
    x = render(spoken, tmp_path / "f.wav")
    lv = [db(x[int(t * SR): int((t + 0.5) * SR)]) for t in np.arange(0, 4, 0.5)]
    assert all(b > a for a, b in zip(lv, lv[1:])), lv          # rising over the fade-in
    assert lv[0] < -45
    end = x.shape[0]
    lv = [db(x[end - int((t + 0.5) * SR): end - int(t * SR)]) for t in np.arange(4.5, -0.01, -0.5)]
    assert all(b < a for a, b in zip(lv, lv[1:])), lv          # falling over the fade-out
    assert np.abs(x[-1]).max() < 1e-3 and np.abs(x[0]).max() < 1e-3


def test_no_clicks_at_cue_edges(write_script, tmp_path):
    """Every sound starts and ends from silence (ramped), and the bed has no seams between chunks."""
    p = write_script("""
        [bell]
        [breathe 4-2-5 x2]
        [pause 1s]
        [bell 2]
        [breathe coherent x1]
        Hello there.
        """, front="title: Cues\nbell: chime\nbreath_cues: chime")
    x = render(p, tmp_path / "c.wav")
    tl = prepare(p, RenderOptions()).timeline
    starts = [s for e in tl.entries if e.kind.name == "bell" for s in e.strikes]
    starts += [e.start for e in tl.entries if e.kind.name in ("breathe", "speech")]
    for s in starts:
        assert abs(x[s]) < 0.002, s                         # each sound begins from silence
        assert np.abs(np.diff(x[max(s - 1, 0): s + 22])).max() < 0.01, s   # and rises without a step
    assert np.abs(x[-22:]).max() < 0.01
    # the bed alone, across every 65536-sample chunk seam and over its fades
    p2 = write_script("[pause 20s]\n", name="g.md", front="title: G\nambience: ocean")
    y = render(p2, tmp_path / "g.wav")
    d = np.abs(np.diff(y, axis=0)).max(axis=1)
    seams = np.arange(65536, y.shape[0], 65536) - 1
    assert d[seams].max() <= np.percentile(d, 99.9)          # seams are like any other sample step
    assert abs(y[0]).max() < 1e-4 and abs(y[-1]).max() < 1e-4


@pytest.mark.parametrize("minutes,ambience,ext", [(1, "none", "mp3"), (4, "ocean", "mp3"), (9, "drone", "mp3"),
                                                   (3, "bowl-drone", "wav")])
def test_loudness_and_true_peak_by_an_independent_meter(write_script, tmp_path, minutes, ambience, ext):
    para = ("You might notice the breath moving, slow and easy, and let the shoulders rest. "
            "There is nothing you need to do right now. [pause 4s-40s]\n\n")
    p = write_script("[bell]\n" + para * max(2, minutes * 2) + "[bell 2]\n",
                     front=f"title: L\nambience: {ambience}\nambience_level: -34\nlength: {minutes}m")
    out = tmp_path / f"l.{ext}"
    x = render(p, out)
    assert x.shape[0] / SR == pytest.approx(minutes * 60, abs=0.5)
    import pyloudnorm

    lufs = pyloudnorm.Meter(SR).integrated_loudness(x.astype(np.float64))
    assert lufs == pytest.approx(-16.0, abs=1.0)
    ff_lufs, ff_tp = measure_file(out)        # ffmpeg's ebur128, true peak at 192 kHz
    assert ff_lufs == pytest.approx(-16.0, abs=1.0)
    assert ff_tp <= -1.0


def test_loudness_option(write_script, tmp_path):
    p = write_script("Soft words here, spoken slowly and kindly, for the loudness test.\n[pause 2s]\n" * 4)
    x = render(p, tmp_path / "q.wav", "--loudness", "-23")
    import pyloudnorm

    assert pyloudnorm.Meter(SR).integrated_loudness(x.astype(np.float64)) == pytest.approx(-23, abs=0.5)


def test_user_bed_file_loops_under_the_practice(write_script, tmp_path):
    import wave

    t = np.arange(int(2.5 * SR)) / SR
    tone = (0.3 * np.sin(2 * np.pi * 330 * t) * (1 + 0.2 * np.sin(2 * np.pi * 0.7 * t))).astype(np.float32)
    with wave.open(str(tmp_path / "loop.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((tone * 32767).astype("<i2").tobytes())
    p = write_script("[pause 20s]\n", front="title: U\nambience: loop.wav\nambience_level: -25")
    x = render(p, tmp_path / "u.wav")
    mid = x[6 * SR: 14 * SR]
    assert db(mid[:, 0]) == pytest.approx(-25, abs=1.0)
    assert max_jump(x) < 0.02                                  # the loop point is crossfaded
    bad = write_script("[pause 5s]\n", name="bad.md", front="title: B\nambience: missing.wav")
    r = CliRunner().invoke(cli, ["render", str(bad), "-o", str(tmp_path / "b.wav")])
    assert r.exit_code == 1 and r.output.startswith(f"Error: {bad}:") and "missing.wav" in r.output
    assert not (tmp_path / "b.wav").exists()


def test_ambience_overrides_on_the_command_line(spoken, tmp_path):
    x = render(spoken, tmp_path / "o.wav", "--ambience", "brown", "--ambience-level", "-40")
    # (brown noise's level over 2 s wanders by ~0.5 dB per channel: both channels, +-1 dB; the default is -34)
    assert db(x[5 * SR: 7 * SR]) == pytest.approx(-40, abs=1.0)
    y = render(spoken, tmp_path / "n.wav", "--ambience", "none")
    assert y.ndim == 1 and np.all(y[: 7 * SR] == 0)        # no bed: mono, silent pauses


def test_a_render_off_target_is_mixed_again(write_script, tmp_path, monkeypatch):
    """If the prediction misses (here: forced 6 dB too loud), the measured pass is thrown away
    and the file that lands is on target."""
    import dataclasses

    from generator import normalize

    solve = normalize.solve

    def off(*a, **k):
        level = solve(*a, **k)
        return dataclasses.replace(level, gain=level.gain * 2.0)

    monkeypatch.setattr(normalize, "solve", off)
    p = write_script("Soft words here, spoken slowly and kindly.\n[pause 2s]\n" * 4)
    out = tmp_path / "r.wav"
    res = render_file(p, out, RenderOptions())
    assert 2 <= res.passes <= 3
    import pyloudnorm

    x = decode(out).samples.astype(np.float64)
    assert pyloudnorm.Meter(SR).integrated_loudness(x) == pytest.approx(-16, abs=0.5)
    assert res.loudness == pytest.approx(-16, abs=0.5)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["practice.md", "r.vtt", "r.wav"]

"""End-to-end renders with the fake engine: exact lengths, silence, breath glide shape, transcript."""
from __future__ import annotations

import re
import wave

import numpy as np
import pytest
from click.testing import CliRunner

from generator.cli import cli
from tests.signals import dominant_freq, max_jump, rms

SR = 44100


def read_wav(path):
    with wave.open(str(path)) as w:
        assert w.getframerate() == SR and w.getsampwidth() == 2
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768
        return x.reshape(-1, w.getnchannels()) if w.getnchannels() > 1 else x


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def cues_only(write_script):
    return write_script("[pause 2s]\n[breathe 4-7-8 x2]\n[pause 2s]\n")


def test_cues_only_practice_is_exactly_42_seconds_and_glides(cues_only, tmp_path):
    out = tmp_path / "cues.wav"
    r = run("render", cues_only, "-o", out, "-q")
    assert r.exit_code == 0, r.output
    x = read_wav(out)
    assert x.shape == (42 * SR,)              # 42.000 s to the sample
    assert np.all(x[: 2 * SR] == 0) and np.all(x[40 * SR:] == 0)   # silent outside the cues
    assert rms(x[2 * SR: 40 * SR]) > 0.01
    assert max_jump(x) < 0.02                 # no clicks anywhere

    def pitch_track(a, b, step=0.5):
        return [dominant_freq(x[int(t * SR): int((t + 0.4) * SR)], SR, 100, 600)
                for t in np.arange(a, b - 0.4, step)]

    for cycle in (0, 19):
        t0 = 2 + cycle
        rise = pitch_track(t0 + 0.3, t0 + 4)          # inhale 4 s
        hold = pitch_track(t0 + 4.3, t0 + 11)         # hold 7 s
        fall = pitch_track(t0 + 11.3, t0 + 19 - 0.3)  # exhale 8 s
        assert all(b > a for a, b in zip(rise, rise[1:])), rise
        assert all(b < a for a, b in zip(fall, fall[1:])), fall
        assert max(hold) - min(hold) < 3.0, hold      # steady over the hold
        assert rise[-1] > rise[0] + 50 and fall[0] > fall[-1] + 50
        # quieter over the hold than over the breath movements
        assert rms(x[int((t0 + 5) * SR): int((t0 + 10) * SR)]) < 0.7 * rms(x[int((t0 + 12) * SR): int((t0 + 17) * SR)])


def test_glide_sits_exactly_on_the_cue(cues_only, tmp_path):
    """Sound starts right at 2 s and ends right at 40 s (its ramps are sub-LSB for a few ms only);
    the mixer, fed the same timeline in float, shows the exact first and last samples."""
    out = tmp_path / "cues.wav"
    run("render", cues_only, "-o", out, "-q")
    x = read_wav(out)
    nz = np.flatnonzero(x)
    assert 2 * SR <= nz[0] < 2 * SR + 0.01 * SR
    assert 40 * SR - 0.01 * SR < nz[-1] < 40 * SR
    from generator.mixer import Mixer
    from generator.pipeline import RenderOptions, prepare

    tl = prepare(cues_only, RenderOptions()).timeline
    y = np.concatenate(list(Mixer(tl).chunks(size=10007)))   # an odd chunk size on purpose
    nz = np.flatnonzero(y)
    assert nz[0] == 2 * SR + 1 and nz[-1] == 40 * SR - 2   # raised-cosine ramps: first/last ramp samples


def test_render_mp3_with_speech_transcript_and_chapters(write_script, tmp_path):
    p = write_script("""
        # Arriving
        [bell]
        Hello {{ name }}. You might let your eyes close, [pause 2s] or keep them open.

        If it feels right, notice the breath.
        # Resting
        [breathe soothing x3]
        Thank you, {{ name }}.
        """, front="title: Tiny\nauthor: A. Writer\ndescription: A short one\nvariables:\n  name: friend")
    out = tmp_path / "o" / "tiny.mp3"
    r = run("render", p, "-o", out, "--var", "name=Sam")
    assert r.exit_code == 0, r.output
    assert out.exists() and out.with_suffix(".vtt").exists()
    assert "LUFS" in r.output
    vtt = out.with_suffix(".vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n")
    assert "NOTE Chapter: Arriving" in vtt and "NOTE Chapter: Resting" in vtt
    assert "Hello Sam. You might let your eyes close," in vtt and "Thank you, Sam." in vtt
    stamps = re.findall(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)", vtt)
    assert len(stamps) == 4
    times = [(int(a) * 3600 + int(b) * 60 + int(c) + int(d) / 1000, int(e) * 3600 + int(f) * 60 + int(g) + int(h) / 1000)
             for a, b, c, d, e, f, g, h in stamps]
    assert all(s < e for s, e in times) and all(e1 <= s2 for (_, e1), (s2, _) in zip(times, times[1:]))
    # nothing else left in the folder: no temporary files (beside the record of the variables used)
    assert sorted(f.name for f in out.parent.iterdir()) == [".meditate-renders.json", "tiny.mp3", "tiny.vtt"]


def test_default_output_goes_to_audio_out(write_script, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = write_script("Hello.\n", name="hello-there.md")
    r = run("render", p, "-q")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "audio_out" / "hello-there.mp3").stat().st_size > 1000
    assert (tmp_path / "audio_out" / "hello-there.vtt").exists()


def test_voice_switch_changes_the_pace(write_script, tmp_path):
    text = "Soft and slow words arrive one by one in their own time."
    fast = write_script(f"{text}\n", name="a.md")
    slow = write_script(f"[voice slow]\n{text}\n", name="b.md")
    from generator.pipeline import RenderOptions, prepare

    a = prepare(fast, RenderOptions()).timeline.duration
    b = prepare(slow, RenderOptions()).timeline.duration
    assert b > a * 1.1


@pytest.mark.espeak
def test_real_espeak_render_end_to_end(write_script, tmp_path, capfd):
    """The real offline voice, through the whole pipeline, to an MP3 with tags and a transcript."""
    p = write_script("""
        # Arriving
        [bell]
        Hello {{ name }}. You might let your eyes close, or keep them softly open.
        [pause 2s]
        If it feels right, notice the breath, just as it is.
        [breathe soothing x2]
        # Returning
        And when you are ready, you might open your eyes, {{ name }}.
        """, front="title: Real voice\nauthor: Test\nvariables:\n  name: friend\nambience: pink\nambience_level: -34")
    out = tmp_path / "real.mp3"
    r = CliRunner().invoke(cli, ["render", str(p), "-o", str(out), "--var", "name=Sam", "-q"])
    assert r.exit_code == 0, r.output
    assert r.output == ""                         # nothing from pyttsx3 or espeak reaches stdout
    assert "Audio saved" not in capfd.readouterr().out
    from generator.output.encode import decode
    from generator.pipeline import RenderOptions, prepare

    x = decode(out).samples
    tl = prepare(p, RenderOptions(variables={"name": "Sam"})).timeline
    assert x.shape[0] / SR == pytest.approx(tl.duration, abs=0.005)
    speech = [e for e in tl.entries if e.kind.name == "speech"]
    assert len(speech) == 3
    # espeak at 132 wpm: 13 words take roughly 4-9 s
    assert 3.0 < speech[0].length / SR < 10.0
    # the voice is there, well above the bed, where the timeline says
    mono = x.mean(axis=1)
    first = speech[0]                              # followed by a 2 s pause: only the bed plays there
    assert rms(mono[first.start:first.end]) > 10 * rms(mono[first.end + SR // 2: first.end + int(1.5 * SR)])
    glide = next(e for e in tl.entries if e.kind.name == "breathe")
    assert rms(mono[first.start:first.end]) > 2 * rms(mono[glide.start:glide.end])   # the tone sits under the voice
    vtt = out.with_suffix(".vtt").read_text(encoding="utf-8")
    assert "Hello Sam." in vtt and "NOTE Chapter: Returning" in vtt
    from mutagen.id3 import ID3

    tags = ID3(out)
    assert str(tags["TIT2"]) == "Real voice"
    assert [str(c.sub_frames["TIT2"]) for c in tags.getall("CHAP")] == ["Arriving", "Returning"]


def test_spoken_breath_cues_sit_on_the_phase_starts(write_script, tmp_path):
    """breath_cues: spoken says in / hold / out exactly at each phase start, and nothing else plays."""
    p = write_script("[breathe 3-2-4 x2]\n", front="title: Spoken\nbreath_cues: spoken")
    out = tmp_path / "s.wav"
    assert run("render", p, "-o", out, "-q").exit_code == 0
    x = read_wav(out)
    assert x.shape == (18 * SR,)
    for t0 in (0, 3, 5, 9, 12, 14):                       # in, hold, out, in, hold, out
        s = t0 * SR
        assert np.all(x[max(0, s - 441): s] == 0) or t0 == 0, t0      # silent just before a phase
        assert rms(x[s: s + SR // 4]) > 0.01, t0                       # a word right at its start
    # each word is short: the second half of the 4 s exhale is silent
    assert np.all(x[7 * SR: 9 * SR - 441] == 0)


def test_voice_stays_centred_over_a_stereo_bed(write_script, tmp_path):
    p = write_script("You might rest here, softly, for a while.\n[pause 3s]\n",
                     front="title: C\nambience: pink\nambience_level: -60")
    out = tmp_path / "c.wav"
    assert run("render", p, "-o", out, "-q").exit_code == 0
    x = read_wav(out)
    assert x.ndim == 2
    mid, side = (x[:, 0] + x[:, 1]) / 2, (x[:, 0] - x[:, 1]) / 2
    assert rms(side) < 0.02 * rms(mid)                     # only the faint bed differs between channels

"""Outputs read back by tools we did not write: webvtt-py for the transcript; mutagen, Debian's
ffprobe, the bundled ffmpeg's ffmetadata and tinytag for the tags and chapters; libebur128
(pyebur128) beside ffmpeg's ebur128 for loudness and true peak."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from generator.audio.samples import SAMPLE_RATE
from generator.output.encode import Encoder
from generator.ffmpeg import ffmpeg_exe
from generator.pipeline import RenderOptions, prepare
from generator.output.tags import write_tags
from generator.output.transcript import to_vtt, vtt_cues

from tests.helpers import REPO
from tests.master_signals import speech_like

SHIPPED = sorted((REPO / "scripts").rglob("*.md"))     # English, and the de/ and es/ libraries
FFPROBE = shutil.which("ffprobe")
# .ci/run installs Debian's ffmpeg for ffprobe; in CI a missing ffprobe fails these tests, elsewhere it skips them
needs_ffprobe = pytest.mark.skipif(FFPROBE is None and not os.environ.get("CI"), reason="no ffprobe on PATH")


# -- transcript: WebVTT ------------------------------------------------------------------------

def parse_vtt(text: str):
    """webvtt-py in strict mode: a malformed cue block (e.g. a raw '-->' in the text) raises."""
    import webvtt

    return webvtt.from_string(text, strict=True).captions


def check_transcript(vtt: str, timeline) -> None:
    """The transcript, as an independent parser reads it, is the plan: cue count, times and text."""
    planned = vtt_cues(timeline)
    captions = parse_vtt(vtt)
    assert len(captions) == len(planned) > 0
    for cap, (a, b, text, _) in zip(captions, planned):
        assert (cap.start_time.in_milliseconds(), cap.end_time.in_milliseconds()) == (
            round(a * 1000), round(b * 1000))
        # nothing a player could take for a tag or a stray character reference
        assert "<" not in cap.raw_text and not re.search(r"&(?!(amp|lt|gt);)", cap.raw_text)
        assert html.unescape(cap.text) == " ".join(text.split())
    starts = [c.start_time.in_milliseconds() for c in captions]
    assert starts == sorted(starts)


def test_cue_with_markup_characters_round_trips(write_script):
    line = "I <3 this moment & rest; a --> b, <i>softly</i> &amp; slowly."
    path = write_script(f"# Arrive <here> & now\n{line}\n[pause 1s]\nThank you.\n",
                        title="Hearts --> <b>rest</b> & more")
    p = prepare(path, RenderOptions(engine="fake"))
    vtt = to_vtt(p.timeline, p.script.settings.title)
    check_transcript(vtt, p.timeline)
    texts = [html.unescape(c.text) for c in parse_vtt(vtt)]
    assert texts == [line, "Thank you."]
    # NOTE blocks are comments: never unescaped, so only the '-->' that would end one is changed
    assert "NOTE Hearts -> <b>rest</b> & more" in vtt and "NOTE Chapter: Arrive <here> & now" in vtt


@pytest.mark.parametrize("script", SHIPPED, ids=lambda p: str(p.relative_to(REPO / "scripts")))
def test_every_shipped_transcript_is_valid_webvtt(script):
    p = prepare(script, RenderOptions(engine="fake"))
    check_transcript(to_vtt(p.timeline, p.script.settings.title), p.timeline)


# -- tags and chapters: four readers -----------------------------------------------------------

def ffprobe_chapters(path):
    """(title, start s, end s) in the order ffprobe lists them (players show this order)."""
    out = subprocess.run([FFPROBE, "-v", "error", "-show_chapters", "-of", "json", str(path)],
                         capture_output=True, text=True, encoding="utf-8", check=True).stdout
    return [(c["tags"]["title"], float(c["start_time"]), float(c["end_time"])) for c in json.loads(out)["chapters"]]


def ffprobe_tags(path):
    out = subprocess.run([FFPROBE, "-v", "error", "-show_format", "-of", "json", str(path)],
                         capture_output=True, text=True, encoding="utf-8", check=True).stdout
    return json.loads(out)["format"]["tags"]


def ffmetadata_chapters(path):
    """The bundled ffmpeg's ffmetadata dump, chapters in the order it writes them (not sorted)."""
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"],
                         capture_output=True, text=True, encoding="utf-8", check=True).stdout
    chaps = []
    for block in out.split("[CHAPTER]")[1:]:
        kv = dict(line.split("=", 1) for line in block.strip().splitlines() if "=" in line)
        num, den = (int(v) for v in kv["TIMEBASE"].split("/"))
        chaps.append((kv["title"], int(kv["START"]) * num / den, int(kv["END"]) * num / den))
    return chaps


def mutagen_chapters(path):
    """mutagen's CHAP frames in stored order, and the CTOC's child order."""
    from mutagen.id3 import ID3

    t = ID3(str(path))
    chaps = [(c.sub_frames["TIT2"].text[0], c.start_time / 1000, c.end_time / 1000) for c in t.getall("CHAP")]
    (toc,) = t.getall("CTOC")
    by_id = {c.element_id: c.start_time for c in t.getall("CHAP")}
    return chaps, [by_id[e] / 1000 for e in toc.child_element_ids]


def assert_chapters_read_back(path, planned):
    """Every reader lists the planned chapters, in time order, with their titles and times.

    Debian's ffprobe (5.1) gives the stored times; the bundled ffmpeg (9.x) moves them
    earlier by the stream's start, the encoder delay of 1105 samples (25 ms), floored at 0
    (either is accepted from ffmetadata, whose ffmpeg comes with imageio-ffmpeg's version).
    """
    ms = [(t, round(s * 1000) / 1000, round(e * 1000) / 1000) for t, s, e in planned]
    stored, toc_starts = mutagen_chapters(path)
    assert stored == ms
    assert toc_starts == [s for _, s, _ in ms]
    delay = 1105 / SAMPLE_RATE
    readers = {"ffprobe": (ffprobe_chapters(path), [0.0]), "ffmetadata": (ffmetadata_chapters(path), [0.0, delay])}
    for name, (got, shifts) in readers.items():
        assert [t for t, _, _ in got] == [t for t, _, _ in ms], name      # order, count, titles
        assert any(all(s == pytest.approx(max(0.0, s0 - d), abs=0.0015) and e == pytest.approx(e0 - d, abs=0.0015)
                       for (_, s, e), (_, s0, e0) in zip(got, ms)) for d in shifts), (name, got)


@pytest.fixture
def long_mp3(tmp_path):
    path = tmp_path / "practice.mp3"
    with Encoder(path, channels=1) as enc:
        enc.write(speech_like(30.0, 1, seed=3))
    return path


@needs_ffprobe
def test_twelve_chapters_of_any_title_length_are_stored_in_time_order(long_mp3):
    # long titles first: mutagen on its own stores frames by size, and 'ch10' sorts before 'ch2'
    planned = [("x" * (40 - 3 * i) + f" {i}", 2.5 * i, 2.5 * (i + 1)) for i in range(12)]
    write_tags(long_mp3, title="Twelve", chapters=planned)
    assert_chapters_read_back(long_mp3, planned)


@needs_ffprobe
def test_tags_agree_across_readers(long_mp3):
    from tinytag import TinyTag

    write_tags(long_mp3, title="Soothing — Rhythm", artist="Sam & Robin", album="Calm <Week>", track=(2, 7),
               comment="Breathe gently ☺", chapters=[("Only", 0.0, 30.0)])
    tt = TinyTag.get(str(long_mp3))
    assert (tt.title, tt.artist, tt.album, tt.track, tt.track_total, tt.comment) == (
        "Soothing — Rhythm", "Sam & Robin", "Calm <Week>", 2, 7, "Breathe gently ☺")
    assert tt.duration == pytest.approx(30.0, abs=0.05)
    t = ffprobe_tags(long_mp3)
    assert (t["title"], t["artist"], t["album"], t["track"], t["comment"]) == (
        "Soothing — Rhythm", "Sam & Robin", "Calm <Week>", "2/7", "Breathe gently ☺")


@needs_ffprobe
def test_rendered_practice_chapters_match_the_plan(tmp_path):
    """The practice whose six chapters were stored ch1, ch5, ch2, ch0, ch4, ch3."""
    from generator.pipeline import render

    script = REPO / "scripts" / "meeting-the-inner-critic.md"
    opts = RenderOptions(engine="fake", ambience="none")
    out = render(script, tmp_path / "critic.mp3", opts).out
    tl = prepare(script, opts).timeline
    planned = [(c.title, c.start / SAMPLE_RATE, c.end / SAMPLE_RATE) for c in tl.chapters]
    assert len(planned) == 6
    assert_chapters_read_back(out, planned)


# -- loudness and true peak: libebur128 beside ffmpeg's ebur128 --------------------------------

def ebur128(x, rate=SAMPLE_RATE):
    """(integrated LUFS, true peak dBTP over the channels) by libebur128, the reference meter."""
    import pyebur128 as r128

    x = np.asarray(x, dtype=np.float64)
    x2 = x[:, None] if x.ndim == 1 else x
    state = r128.R128State(x2.shape[1], rate, r128.MeasurementMode.MODE_I | r128.MeasurementMode.MODE_TRUE_PEAK)
    state.add_frames(np.ascontiguousarray(x2).ravel(), x2.shape[0])
    tp = max(r128.get_true_peak(state, c) for c in range(x2.shape[1]))
    return r128.get_loudness_global(state), 20 * np.log10(max(tp, 1e-12))


def test_pyebur128_agrees_with_the_project_meter_on_a_known_signal():
    from generator.audio.loudness import measure

    x = speech_like(20.0, 2, seed=4)
    ours, theirs = measure(x), ebur128(x)
    assert ours[0] == pytest.approx(theirs[0], abs=0.01)     # measured: equal to 1e-9 LU
    assert ours[1] == pytest.approx(theirs[1], abs=0.05)     # and to 1e-9 dB


@pytest.mark.parametrize("channels", [1, 2])
def test_limiter_output_true_peak_by_libebur128(channels):
    from generator.audio.master import Limiter

    n = 6 * SAMPLE_RATE
    x = speech_like(6.0, channels, seed=7 + channels, level=0.4).reshape(n, -1)
    k = np.arange(n)
    x[n // 2:, -1] += (0.9 * np.sin(2 * np.pi * k[n // 2:] / 4 + np.pi / 4)).astype(np.float32)  # fs/4 over
    x = x[:, 0] if channels == 1 else x
    assert ebur128(x)[1] > 5.0
    lim = Limiter(SAMPLE_RATE, channels, ceiling_dbtp=-1.0)
    y = np.concatenate([lim.process(x[i:i + 4096]) for i in range(0, n, 4096)] + [lim.flush()])
    assert y.shape == x.shape
    tp = ebur128(y)[1]
    assert -1.3 < tp <= -1.0          # under the ceiling (measured -1.09), and not far under it


RENDER_FORMATS = {
    "mp3-vbr-mono": ("out.mp3", ["--ambience", "none"], 1),
    "mp3-vbr-stereo": ("out.mp3", ["--ambience", "pink"], 2),
    "mp3-cbr-stereo": ("out.mp3", ["--ambience", "pink", "--bitrate", "128"], 2),
    "m4a-mono": ("out.m4a", ["--ambience", "none"], 1),
    "m4a-stereo": ("out.m4a", ["--ambience", "pink"], 2),
    "m4b-stereo": ("out.m4b", ["--ambience", "ocean"], 2),
    "opus-mono": ("out.opus", ["--ambience", "none"], 1),
    "opus-stereo": ("out.opus", ["--ambience", "pink"], 2),
    "opus-96k-stereo": ("out.opus", ["--ambience", "ocean", "--bitrate", "96"], 2),
    "wav-mono": ("out.wav", ["--ambience", "none"], 1),
    "wav-stereo": ("out.wav", ["--ambience", "pink"], 2),
}
MONO_MP3_OVERSHOOT = pytest.mark.xfail(strict=True, reason=(
    "asked for -10 LUFS, mono LAME V5 decodes at -11.4 LUFS with its true peak at -0.87 dBTP (the WAV: "
    "-10.4 LUFS, -1.09 dBTP): too quiet, and over the ceiling despite normalize.MP3_PEAK_MARGIN's 2 dB; "
    "issue 10's area (mastering and encode settings)"))


MONO_CODED_SHORT = pytest.mark.xfail(strict=True, reason=(
    "AAC and Opus mono at -10 LUFS: the limiter's ceiling, set under -1 dBTP by normalize.PEAK_MARGIN for "
    "the codec's overshoot (AAC 64k raised the true peak by 3 dB here), holds the fake voice to -12 LUFS"))
LOUD_XFAIL = {"mp3-vbr-mono": [MONO_MP3_OVERSHOOT], "m4a-mono": [MONO_CODED_SHORT], "opus-mono": [MONO_CODED_SHORT]}


@pytest.mark.parametrize("fmt,loudness", [(f, -16.0) for f in RENDER_FORMATS] + [
    pytest.param(f, -10.0, marks=LOUD_XFAIL.get(f, [])) for f in RENDER_FORMATS])   # at -10 LUFS the limiter works hard on every format
def test_every_format_decoded_meets_loudness_and_true_peak(fmt, loudness, write_script, tmp_path):
    """Each format as a player decodes it: the target loudness and the true-peak ceiling, by two meters."""
    from click.testing import CliRunner

    from generator.cli import cli
    from generator.output.encode import decode
    from generator.audio.loudness import measure_file
    from generator.normalize import TRUE_PEAK_CEILING

    name, args, channels = RENDER_FORMATS[fmt]
    script = write_script("Hello, and welcome. Settle in, gently.\n[pause 3s]\n"
                          "Breathe in slowly, and let the breath go.\n[pause 3s]\n"
                          "Notice the body resting. Thank you for practising.\n[pause 2s]\n")
    out = tmp_path / name
    r = CliRunner().invoke(cli, ["render", str(script), "-o", str(out), "-q", "--loudness", str(loudness), *args],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rate = 48000 if name.endswith(".opus") else SAMPLE_RATE     # what a player's decoder returns
    audio = decode(out, rate)
    assert audio.channels == channels
    lufs, tp = ebur128(audio.samples, rate)
    f_lufs, f_tp = measure_file(out)          # ffmpeg rounds to 0.1
    assert lufs == pytest.approx(loudness, abs=0.5) and f_lufs == pytest.approx(loudness, abs=0.5)
    assert lufs == pytest.approx(f_lufs, abs=0.15) and tp == pytest.approx(f_tp, abs=0.3)
    assert tp <= TRUE_PEAK_CEILING and f_tp <= TRUE_PEAK_CEILING


# -- AAC (MP4) and Opus: chapters and tags as players read them --------------------------------

def ffprobe_all_tags(path):
    """Format and stream tags, keys lowercased (Ogg keeps its Vorbis comments on the stream)."""
    out = json.loads(subprocess.run([FFPROBE, "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
                                    capture_output=True, text=True, encoding="utf-8", check=True).stdout)
    tags = {}
    for d in [out["format"], *out["streams"]]:
        tags.update({k.lower(): v for k, v in d.get("tags", {}).items()})
    return tags


@needs_ffprobe
@pytest.mark.parametrize("ext", ["m4a", "m4b", "opus"])
def test_aac_and_opus_chapters_and_tags_read_back(ext, tmp_path):
    """ffprobe (Debian's 5.1: the MP4 chapter track, Ogg's CHAPTERnnn comments) and mutagen (the
    MP4 Nero chpl atom, the Vorbis comments) list the planned chapters; the tags are the MP3's."""
    from mutagen import File

    from generator.output.encode import decode
    from generator.pipeline import render

    script = REPO / "scripts" / "meeting-the-inner-critic.md"
    opts = RenderOptions(engine="fake", ambience="none", album="Calm <Week>", track=(2, 7))
    res = render(script, tmp_path / f"critic.{ext}", opts)
    tl = prepare(script, opts).timeline
    planned = [(c.title, round(c.start / SAMPLE_RATE, 3)) for c in tl.chapters]
    assert len(planned) == 6
    got = ffprobe_chapters(res.out)
    assert [t for t, _, _ in got] == [t for t, _ in planned]
    assert [s for _, s, _ in got] == pytest.approx([s for _, s in planned], abs=0.0015)
    assert got[-1][2] == pytest.approx(tl.duration, abs=0.01)
    f = File(res.out)
    if ext == "opus":
        t = f.tags
        assert [(t[f"CHAPTER{i:03d}NAME"][0], t[f"CHAPTER{i:03d}"][0]) for i in range(1, 7)] == [
            (title, "00:%02d:%06.3f" % divmod(s, 60)) for title, s in planned]
        assert "CHAPTER000" not in t and "CHAPTER007" not in t
    else:
        assert [(c.title, round(c.start, 3)) for c in f.chapters] == planned
        assert f.tags["trkn"] == [(2, 7)]
    tags = ffprobe_all_tags(res.out)
    assert (tags["title"], tags["artist"], tags["album"]) == ("Meeting the Inner Critic", "Meditate Library",
                                                              "Calm <Week>")
    assert tags["track"] in ("2/7", "2") and tags.get("tracktotal", "7") == "7"
    assert tags["comment"].startswith("Turning toward the inner critic")
    # the decoded length is the practice's (no encoder priming left in): Opus at 48 kHz
    rate = 48000 if ext == "opus" else SAMPLE_RATE
    assert decode(res.out, rate).frames == pytest.approx(tl.duration * rate, abs=rate * 0.002)

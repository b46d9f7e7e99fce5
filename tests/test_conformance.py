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

from generator.audio import SAMPLE_RATE
from generator.encode import Encoder
from generator.ffmpeg import ffmpeg_exe
from generator.render import RenderOptions, prepare
from generator.tags import write_tags
from generator.transcript import to_vtt, vtt_cues

from conftest import REPO
from master_signals import speech_like

SHIPPED = sorted((REPO / "scripts").glob("*.md"))
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


@pytest.mark.parametrize("script", SHIPPED, ids=lambda p: p.stem)
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


def assert_chapters_read_back(path, planned, tol=0.03):
    """Every reader lists the planned chapters, in time order, with their titles and times.

    ffmpeg (both builds) moves chapter times by the stream's start (the encoder delay,
    about 26 ms) or not, depending on its version: within ``tol``.
    """
    stored, toc_starts = mutagen_chapters(path)
    assert stored == [(t, round(s * 1000) / 1000, round(e * 1000) / 1000) for t, s, e in planned]
    assert toc_starts == [s for _, s, _ in stored]
    readers = {"ffmetadata": ffmetadata_chapters(path), "ffprobe": ffprobe_chapters(path)}
    for name, got in readers.items():
        assert [t for t, _, _ in got] == [t for t, _, _ in planned], name      # order, count, titles
        for (_, s, e), (_, s0, e0) in zip(got, planned):
            assert s == pytest.approx(s0, abs=tol) or s == pytest.approx(max(0.0, s0 - 0.026), abs=tol), name
            assert e == pytest.approx(e0, abs=tol) or e == pytest.approx(e0 - 0.026, abs=tol), name


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
    from generator.render import render

    script = REPO / "scripts" / "meeting-the-inner-critic.md"
    opts = RenderOptions(engine="fake", ambience="none")
    out = render(script, tmp_path / "critic.mp3", opts).out
    tl = prepare(script, opts).timeline
    planned = [(c.title, c.start / SAMPLE_RATE, c.end / SAMPLE_RATE) for c in tl.chapters]
    assert len(planned) == 6
    assert_chapters_read_back(out, planned)

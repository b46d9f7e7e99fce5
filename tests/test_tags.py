"""ID3 tags + CHAP/CTOC chapters, read back by mutagen and by ffmpeg."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from generator.output.encode import Encoder
from generator.errors import AudioError
from generator.ffmpeg import ffmpeg_exe
from generator.output.tags import write_tags

from tests.master_signals import FS, speech_like

CHAPTERS = [("Arrive", 0.0, 2.5), ("Breathe – día", 2.5, 5.25), ("Rest", 5.25, 8.0)]


@pytest.fixture
def mp3(tmp_path):
    path = tmp_path / "practice.mp3"
    with Encoder(path, channels=1) as enc:
        enc.write(speech_like(8.0, 1, seed=2))
    return path


def ffmetadata(path):
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"],
                         capture_output=True, text=True, encoding="utf-8", check=True).stdout
    head, *chaps = out.split("[CHAPTER]")
    tags = dict(line.split("=", 1) for line in head.splitlines()[1:] if "=" in line)
    parsed = []
    for c in chaps:
        kv = dict(line.split("=", 1) for line in c.strip().splitlines() if "=" in line)
        num, den = (int(v) for v in kv["TIMEBASE"].split("/"))
        parsed.append((kv.get("title"), int(kv["START"]) * num / den, int(kv["END"]) * num / den))
    return tags, sorted(parsed, key=lambda c: c[1])


def test_tags_read_back_by_mutagen(mp3):
    from mutagen.id3 import ID3, CTOCFlags

    assert write_tags(mp3, title="Soothing Rhythm", artist="Sam", album="Calm Week", track=(2, 7),
                      comment="Breathe gently ☺", chapters=CHAPTERS)
    t = ID3(str(mp3))
    assert t.version[:2] == (2, 3)
    assert t["TIT2"].text == ["Soothing Rhythm"]
    assert t["TPE1"].text == ["Sam"]
    assert t["TALB"].text == ["Calm Week"]
    assert t["TRCK"].text == ["2/7"]
    comm = t.getall("COMM")
    assert len(comm) == 1 and comm[0].lang == "eng" and comm[0].text == ["Breathe gently ☺"]
    chaps = sorted(t.getall("CHAP"), key=lambda c: c.start_time)
    assert [(c.element_id, c.start_time, c.end_time, c.sub_frames["TIT2"].text[0]) for c in chaps] == [
        ("ch0", 0, 2500, "Arrive"), ("ch1", 2500, 5250, "Breathe – día"), ("ch2", 5250, 8000, "Rest")]
    (toc,) = t.getall("CTOC")
    assert toc.flags & CTOCFlags.TOP_LEVEL and toc.flags & CTOCFlags.ORDERED
    assert toc.child_element_ids == ["ch0", "ch1", "ch2"]


def test_tags_read_back_by_ffmpeg(mp3):
    write_tags(mp3, title="Soothing Rhythm", artist="Sam", album="Calm Week", track=3,
               comment="Breathe gently", chapters=CHAPTERS)
    tags, chaps = ffmetadata(mp3)
    assert tags["title"] == "Soothing Rhythm"
    assert tags["artist"] == "Sam"
    assert tags["album"] == "Calm Week"
    assert tags["track"] == "3"
    assert tags["comment"] == "Breathe gently"
    assert [c[0] for c in chaps] == [c[0] for c in CHAPTERS]
    for (_, s, e), (_, s0, e0) in zip(chaps, CHAPTERS):
        # ffmpeg shifts chapter times by the stream start (the LAME encoder delay, ~25 ms)
        assert s == pytest.approx(max(0.0, s0 - 0.026), abs=0.03)
        assert e == pytest.approx(e0 - 0.026, abs=0.03)


def test_rewriting_replaces_everything(mp3):
    from mutagen.id3 import ID3

    write_tags(mp3, title="First", artist="A", chapters=CHAPTERS)
    write_tags(mp3, title="Second", chapters=[("Only", 0.0, 8.0)])
    t = ID3(str(mp3))
    assert t["TIT2"].text == ["Second"]
    assert "TPE1" not in t and len(t.getall("CHAP")) == 1 and len(t.getall("CTOC")) == 1
    # no chapters -> no CHAP/CTOC at all; the audio is untouched and still decodes
    write_tags(mp3, title="Plain")
    t = ID3(str(mp3))
    assert t.getall("CHAP") == [] and t.getall("CTOC") == []
    tags, chaps = ffmetadata(mp3)
    assert tags["title"] == "Plain" and chaps == []


def test_wav_is_a_documented_no_op_and_errors(tmp_path, mp3):
    wav = tmp_path / "x.wav"
    with Encoder(wav) as enc:
        enc.write(np.zeros(FS, np.float32))
    before = wav.read_bytes()
    assert write_tags(wav, title="t", chapters=CHAPTERS) is False
    assert wav.read_bytes() == before
    with pytest.raises(AudioError, match="only .mp3, .m4a, .m4b and .opus"):
        write_tags(tmp_path / "x.ogg", title="t")
    with pytest.raises(AudioError, match="not found"):
        write_tags(tmp_path / "missing.mp3", title="t")
    with pytest.raises(AudioError):
        write_tags(mp3, title="t", chapters=[("a", 2.0, 1.0)])  # ends before it starts
    with pytest.raises(AudioError):
        write_tags(mp3, title="t", chapters=[("a", 0.0, 3.0), ("b", 2.0, 4.0)])  # overlap
    with pytest.raises(AudioError):
        write_tags(mp3, title="t", track=(5, 3))

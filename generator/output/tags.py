"""Tags and chapter marks for the finished file: ID3 for MP3, MP4 atoms, Vorbis comments for Opus.

Written with mutagen as ID3v2.3 (the most widely supported version; Apple,
Windows and most podcast players read v2.3 CHAP/CTOC):

* TIT2 title, TPE1 artist, TALB album, TRCK track (``"3"`` or ``"3/12"``),
  COMM comment (language ``eng``, empty description);
* one CHAP frame per chapter (element ids ``ch0``, ``ch1`` ...; start/end in
  milliseconds; a TIT2 sub-frame with the chapter title), plus one CTOC frame
  (element id ``toc``, top-level + ordered) listing the chapter ids in order.
  The CHAP frames are stored in time order, after the other frames: ffmpeg (and
  so every ffmpeg-based player) lists chapters in stored order, not the CTOC's.

ffmpeg reads these back (``ffmpeg -i f.mp3 -f ffmetadata -`` prints the tags and
``[CHAPTER]`` sections), as does mutagen.

``.m4a`` / ``.m4b``: the iTunes atoms ``\xa9nam`` title, ``\xa9ART`` artist,
``\xa9alb`` album, ``trkn`` track (n, total), ``\xa9cmt`` comment. The chapters
are already in the file (ffmpeg muxes them from :func:`ffmetadata`: a chapter
text track and a Nero ``chpl`` atom); mutagen keeps both when it saves, and
reads the ``chpl`` back as ``MP4(path).chapters``.

``.opus``: Vorbis comments TITLE, ARTIST, ALBUM, TRACKNUMBER, TRACKTOTAL,
COMMENT, and chapters as the Vorbis chapter extension has them:
``CHAPTER001=00:00:00.000`` and ``CHAPTER001NAME=Arriving``, numbered from 001
(ffmpeg reads them back as chapters; ends are implied by the next start).

For ``.wav`` :func:`write_tags` is a documented no-op
(returns ``False``): RIFF INFO has no chapter concept and WAV output is meant as
an intermediate/master file. Any other extension raises :class:`AudioError`.
Existing tags in the file (e.g. ffmpeg's encoder tag) are replaced.
"""
from __future__ import annotations

import os
from typing import Iterable, Sequence, Tuple, Union

from mutagen.id3 import CHAP, COMM, CTOC, ID3, TALB, TIT2, TPE1, TRCK, CTOCFlags, ID3NoHeaderError
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus

from ..errors import AudioError

Chapter = Tuple[str, float, float]


def _track_text(track: Union[int, Sequence[int], None]) -> str | None:
    if track is None:
        return None
    if isinstance(track, int):
        if track < 1:
            raise AudioError(f"track number must be >= 1, got {track}")
        return str(track)
    try:
        n, total = track
    except (TypeError, ValueError):
        raise AudioError(f"track must be an int or (n, total), got {track!r}")
    n, total = int(n), int(total)
    if n < 1 or total < n:
        raise AudioError(f"bad track number {n}/{total}")
    return f"{n}/{total}"


def _check_chapters(chapters: Iterable[Chapter]) -> list[tuple[str, int, int]]:
    out = []
    prev_end = 0
    for i, ch in enumerate(chapters):
        try:
            title, start, end = ch
        except (TypeError, ValueError):
            raise AudioError(f"chapter {i} must be (title, start_seconds, end_seconds), got {ch!r}")
        s_ms, e_ms = int(round(float(start) * 1000)), int(round(float(end) * 1000))
        if s_ms < 0 or e_ms < s_ms:
            raise AudioError(f"chapter {i} ({title!r}) has bad times {start}..{end}")
        if s_ms < prev_end:
            raise AudioError(f"chapter {i} ({title!r}) starts before the previous chapter ends")
        prev_end = e_ms
        out.append((str(title), s_ms, e_ms))
    return out


class ChapteredID3(ID3):
    """mutagen's ID3, but saving the CHAP frames last and in time order.

    mutagen sorts frames by their size when it saves (quodlibet/mutagen#506, open),
    so chapters of different title lengths land in any order. This overrides the
    one private method that does it; tests/test_conformance.py reads the order back
    with ffprobe and fails if a mutagen release changes it.
    """

    def _write(self, config):
        chaps = sorted(self.getall("CHAP"), key=lambda c: (c.start_time, c.end_time))
        self.delall("CHAP")
        try:
            data = super()._write(config)
            for c in chaps:
                one = ID3()
                one.add(c)
                data += one._write(config)
        finally:
            for c in chaps:
                self.add(c)
        return data


def _escape_ffmeta(text: str) -> str:
    for c in "\\=;#\n":
        text = text.replace(c, "\\" + c)
    return text


def ffmetadata(chapters: Iterable[Chapter]) -> str:
    """ffmpeg's metadata file format with ``chapters`` (milliseconds), for muxing MP4 chapters."""
    lines = [";FFMETADATA1"]
    for title, s_ms, e_ms in _check_chapters(chapters):
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={s_ms}", f"END={e_ms}", f"title={_escape_ffmeta(title)}"]
    return "\n".join(lines) + "\n"


def _clock(ms: int) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    return f"{h:02d}:{m:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _tag_mp4(path: str, title, artist, album, track, comment) -> None:
    f = MP4(path)
    if f.tags is None:
        f.add_tags()
    f.tags.clear()
    f.tags["\xa9nam"] = [str(title)]
    for key, value in (("\xa9ART", artist), ("\xa9alb", album), ("\xa9cmt", comment)):
        if value:
            f.tags[key] = [str(value)]
    if track is not None:
        n, total = (track, 0) if isinstance(track, int) else (int(track[0]), int(track[1]))
        f.tags["trkn"] = [(n, total)]
    f.save()


def _tag_opus(path: str, title, artist, album, track, comment, chaps) -> None:
    f = OggOpus(path)
    f.tags.clear()
    f.tags["TITLE"] = [str(title)]
    for key, value in (("ARTIST", artist), ("ALBUM", album), ("COMMENT", comment)):
        if value:
            f.tags[key] = [str(value)]
    if track is not None:
        n, total = (track, None) if isinstance(track, int) else track
        f.tags["TRACKNUMBER"] = [str(n)]
        if total:
            f.tags["TRACKTOTAL"] = [str(total)]
    for i, (ctitle, s_ms, _e) in enumerate(chaps, 1):
        f.tags[f"CHAPTER{i:03d}"] = [_clock(s_ms)]
        f.tags[f"CHAPTER{i:03d}NAME"] = [ctitle]
    f.save()


def write_tags(path, *, title: str, artist: str | None = None, album: str | None = None,
               track: Union[int, Sequence[int], None] = None, comment: str | None = None,
               chapters: Iterable[Chapter] = (), fmt: str | None = None) -> bool:
    """Tag ``path``; returns True if tags were written (False for a .wav no-op).

    ``fmt`` ("mp3", "m4a", "m4b", "opus" or "wav") overrides the extension, for a temporary file
    tagged before its rename. For MP4 the chapters must already be in the file (see the module).
    """
    path = os.fspath(path)
    ext = "." + fmt if fmt else os.path.splitext(path)[1].lower()
    if ext == ".wav":
        return False
    if ext not in (".mp3", ".m4a", ".m4b", ".opus"):
        raise AudioError(f"cannot tag {ext or '(no extension)'!r} files; only .mp3, .m4a, .m4b and .opus",
                         path=path)
    if not os.path.exists(path):
        raise AudioError("file not found", path=path)
    chaps = _check_chapters(chapters)
    trck = _track_text(track)
    if ext != ".mp3":
        try:
            if ext == ".opus":
                _tag_opus(path, title, artist, album, track, comment, chaps)
            else:
                _tag_mp4(path, title, artist, album, track, comment)
        except Exception as e:
            raise AudioError(f"cannot write tags: {e}", path=path) from e
        return True

    try:
        tags = ChapteredID3(path)
    except ID3NoHeaderError:
        tags = ChapteredID3()
    except Exception as e:
        raise AudioError(f"cannot read existing tags: {e}", path=path) from e
    tags.clear()
    tags.add(TIT2(encoding=3, text=[str(title)]))
    if artist:
        tags.add(TPE1(encoding=3, text=[str(artist)]))
    if album:
        tags.add(TALB(encoding=3, text=[str(album)]))
    if trck:
        tags.add(TRCK(encoding=3, text=[trck]))
    if comment:
        tags.add(COMM(encoding=3, lang="eng", desc="", text=[str(comment)]))
    if chaps:
        ids = [f"ch{i}" for i in range(len(chaps))]
        for eid, (ctitle, s_ms, e_ms) in zip(ids, chaps):
            tags.add(CHAP(element_id=eid, start_time=s_ms, end_time=e_ms,
                          start_offset=0xFFFFFFFF, end_offset=0xFFFFFFFF,
                          sub_frames=[TIT2(encoding=3, text=[ctitle])]))
        tags.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                      child_element_ids=ids, sub_frames=[TIT2(encoding=3, text=["Chapters"])]))
    try:
        tags.save(path, v2_version=3)
    except Exception as e:
        raise AudioError(f"cannot write tags: {e}", path=path) from e
    return True

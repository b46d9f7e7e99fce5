"""The timed WebVTT transcript written beside every render.

Cue text is escaped as the WebVTT spec requires: ``&`` as ``&amp;``, ``<`` as
``&lt;`` and ``>`` as ``&gt;`` (so a ``-->`` in the text is written ``--&gt;``
and cannot end the cue's timing line early); a player shows the original
characters. NOTE blocks are comments, never unescaped by a player, so a
``-->`` there (which would end the note) becomes ``->``. Line breaks in either
become spaces: a blank line would end the block.
"""
from __future__ import annotations

import html

from ..audio.samples import SAMPLE_RATE
from ..script.durations import format_clock
from ..script.languages import split_sentences
from ..timeline import Timeline

MAX_CUE_CHARS = 90


def vtt_cues(timeline: Timeline, language: str | None = None) -> list[tuple[float, float, str, str | None]]:
    """(start, end, text, chapter-or-None) per spoken phrase; long phrases are split by
    sentence (as ``language`` writes them: see :func:`languages.split_sentences`), with times
    shared out by character count (the voice's pace is even)."""
    chapters = sorted(timeline.chapters, key=lambda c: c.start)
    ci = 0
    out = []
    for e in timeline.entries:
        if not e.kind.captioned:
            continue
        note = None
        while ci < len(chapters) and chapters[ci].start <= e.start:
            note = chapters[ci].title
            ci += 1
        pieces = split_sentences(e.label, language) if len(e.label) > MAX_CUE_CHARS else [e.label]
        total = sum(len(p) for p in pieces) or 1
        t = e.start / SAMPLE_RATE
        dur = e.length / SAMPLE_RATE
        for k, p in enumerate(pieces):
            d = dur * len(p) / total
            out.append((t, t + d, p, note if k == 0 else None))
            t += d
    return out


def to_vtt(timeline: Timeline, title: str, language: str | None = None) -> str:
    lines = ["WEBVTT", "", f"NOTE {_note(title)}", ""]
    cues = vtt_cues(timeline, language)
    for n, (a, b, text, note) in enumerate(cues, 1):
        if note is not None:
            lines += [f"NOTE Chapter: {_note(note)}", ""]
        lines += [str(n), f"{format_clock(a)} --> {format_clock(b)}", _payload(text), ""]
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _note(text: str) -> str:
    return _one_line(text).replace("-->", "->")


def _payload(text: str) -> str:
    return html.escape(_one_line(text), quote=False)

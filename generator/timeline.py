"""From a parsed script to a timeline with sample-exact start times.

Durations are added up in seconds and every start is rounded once,
``round(seconds * 44100)``, so no rounding error accumulates over an hour.
Length fitting sizes the flexible pauses and cycle counts here.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from . import cues
from .audio.samples import SAMPLE_RATE, seconds_to_samples
from .cues import Entry, Sizing, Slot
from .cues.pause import Pause
from .cues.voice import VoiceChange
from .errors import LengthError, ScriptError, did_you_mean
from .script.durations import format_duration
from .script.parse import Heading, Script
from .script.profiles import VoiceProfile

TOLERANCE = 0.5  # seconds: how close a fitted length must land


@dataclass
class Chapter:
    title: str
    start: int
    end: int
    line: int


@dataclass
class Timeline:
    entries: list[Entry]
    chapters: list[Chapter]
    frames: int
    reachable: tuple[float, float]
    target: float | None

    @property
    def duration(self) -> float:
        return self.frames / SAMPLE_RATE


def reachable_range(slots: list[Slot]) -> tuple[float, float]:
    return sum(s.low for s in slots), sum(s.high for s in slots)


def fit(slots: list[Slot], target: float | None, path: str) -> None:
    """Choose every flexible slot's size: the middle without a target, else land on it.

    A slot is sized in whole steps when its kind set ``slot.step`` (a breath cue's cycles: a
    count of them, ``slot.cycles``), else anywhere from ``slot.low`` to ``slot.high`` (a pause);
    the kinds' ``size`` says which, so fitting names none of them."""
    flex_pause = [s for s in slots if not s.step and s.high > s.low]
    flex_breath = [s for s in slots if s.step and s.high > s.low]
    if target is None:
        for s in flex_pause:
            s.seconds = (s.low + s.high) / 2
        for s in flex_breath:
            s.cycles = (_steps(s.low, s) + _steps(s.high, s) + 1) // 2
            s.seconds = s.cycles * s.step
        return
    lo, hi = reachable_range(slots)
    if not lo - 1e-6 <= target <= hi + 1e-6:
        raise LengthError(f"length {format_duration(target)} is out of reach: this script can last "
                          f"{format_duration(lo)} to {format_duration(hi)}", path)
    frac = 0.0 if hi == lo else (target - lo) / (hi - lo)
    for s in flex_breath:
        low, high = _steps(s.low, s), _steps(s.high, s)
        s.cycles = int(round(low + frac * (high - low)))
    flex_ids = {id(s) for s in flex_pause + flex_breath}
    fixed = sum(s.low for s in slots if id(s) not in flex_ids)

    def pause_room() -> float:
        return target - fixed - sum(s.cycles * s.step for s in flex_breath)

    p_lo = sum(s.low for s in flex_pause)
    p_hi = sum(s.high for s in flex_pause)
    # whole cycles may overshoot what the pauses can absorb: move one cycle at a time
    for _ in range(10 * MAX_STEPS):
        room = pause_room()
        if room < p_lo - 1e-9:
            cand = [s for s in flex_breath if s.cycles > _steps(s.low, s)]
            if not cand:
                break
            max(cand, key=lambda s: s.cycles - _steps(s.low, s)).cycles -= 1
        elif room > p_hi + 1e-9:
            cand = [s for s in flex_breath if s.cycles < _steps(s.high, s)]
            if not cand:
                break
            min(cand, key=lambda s: s.cycles - _steps(s.low, s)).cycles += 1
        else:
            break
    room = pause_room()
    pfrac = 0.0 if p_hi == p_lo else min(1.0, max(0.0, (room - p_lo) / (p_hi - p_lo)))
    for s in flex_pause:
        s.seconds = s.low + pfrac * (s.high - s.low)
    for s in flex_breath:
        s.seconds = s.cycles * s.step
    total = sum(s.seconds if id(s) in flex_ids else s.low for s in slots)
    if abs(total - target) > TOLERANCE:
        raise LengthError(f"length {format_duration(target)} cannot be met within {TOLERANCE} s with whole "
                          f"breath cycles (nearest: {total:.1f} s); add a flexible [pause] or pick another length",
                          path)


MAX_STEPS = 10000


def _steps(seconds: float, slot: Slot) -> int:
    """How many of ``slot``'s steps make ``seconds`` (its low or high, a whole number of them)."""
    return round(seconds / slot.step)


def voice_for_items(script: Script, load_profile) -> list[tuple[object, VoiceProfile]]:
    """Pair every item with the profile in force at it (``[voice …]`` switches)."""
    current = load_profile(script.settings.voice, None)
    out = []
    for it in script.items:
        if isinstance(it, VoiceChange):
            current = load_profile(it.name, it.line)
        out.append((it, current))
    return out


def build(script: Script, voiced: list, clips: dict, bell_seconds: float, bell_spacing: float,
          target: float | None = None, tail: float = 0.0) -> Timeline:
    """Lay the items end to end. ``clips`` maps item index -> Clip for speech items."""
    path = str(script.path)
    sizing = Sizing(bell_seconds, bell_spacing)
    slots: list[Slot] = []
    headings: list[tuple[int, Heading]] = []
    for idx, (it, prof) in enumerate(voiced):
        if isinstance(it, Heading):
            headings.append((len(slots), it))
            continue
        kind = cues.of(it)
        if not kind.timed:
            continue
        s = Slot(it, voice=prof, clip=clips.get(idx))
        kind.size(s, sizing)
        slots.append(s)
    if tail:
        slots.append(Slot(Pause(tail, tail, 0), tail, tail, tail))
    fit(slots, target, path)
    reach = reachable_range(slots)

    entries: list[Entry] = []
    t = 0.0
    slot_start: list[int] = []
    for s in slots:
        start = seconds_to_samples(t)
        slot_start.append(start)
        t_end = t + s.seconds
        e = cues.of(s.item).place(s, t, start, seconds_to_samples(t_end), sizing)
        if e is not None:
            entries.append(e)
        t = t_end
    frames = seconds_to_samples(t)
    slot_start.append(frames)
    chapters = []
    for k, (slot_index, h) in enumerate(headings):
        start = slot_start[slot_index]
        chapters.append(Chapter(h.title, start, frames, h.line))
    # a chapter ends where the next begins; drop empty ones at the very end
    for a, b in zip(chapters, chapters[1:]):
        a.end = b.start
    chapters = [c for c in chapters if c.end > c.start]
    if frames <= 0:
        raise ScriptError("the script lasts 0 seconds: add prose or cues", path)
    return Timeline(entries, chapters, frames, reach, target)


def find_chapter(tl: Timeline, wanted: str, path: str) -> Chapter:
    """The chapter ``wanted`` names: its number (1 = the first) or its title (case and spaces aside)."""
    if not tl.chapters:
        raise ScriptError("--from: this script has no chapters (# headings); use --first DUR alone", path)
    if wanted.isdigit() and 1 <= int(wanted) <= len(tl.chapters):
        return tl.chapters[int(wanted) - 1]
    key = " ".join(wanted.split()).casefold()
    for c in tl.chapters:
        if " ".join(c.title.split()).casefold() == key:
            return c

    titles = [c.title for c in tl.chapters]
    raise ScriptError(f"--from: no chapter {wanted!r}{did_you_mean(wanted, titles)}; the chapters are "
                      f"{', '.join(repr(t) for t in titles)} (or give a number, 1 to {len(titles)})", path)


def excerpt(tl: Timeline, start: int, frames: int | None) -> Timeline:
    """The part of ``tl`` from sample ``start`` (an entry's start) for ``frames`` samples (None: to
    the end), with every time shifted so it starts at 0; an entry running past the end is cut there."""
    end = tl.frames if frames is None else min(tl.frames, start + frames)

    entries = [e.moved(-start) for e in tl.entries if start <= e.start < end]
    chapters = [replace(c, start=c.start - start, end=min(c.end, end) - start)
                for c in tl.chapters if start <= c.start < end]
    return Timeline(entries, chapters, end - start, tl.reachable, tl.target)

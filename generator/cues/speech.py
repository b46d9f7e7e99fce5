"""Speech: a phrase of prose, spoken by the voice in force (not written as a cue)."""
from __future__ import annotations

from dataclasses import dataclass

from ..audio.samples import SAMPLE_RATE
from .base import Entry, Event, Item, Kind, Sizing, Slot, Sounding, Spoken, register


@dataclass(frozen=True)
class Speech(Item):
    text: str
    line: int


@register
class SpeechKind(Kind):
    name = "speech"
    item = Speech
    captioned = True

    def size(self, slot: Slot, sizing: Sizing) -> None:
        slot.low = slot.high = slot.seconds = slot.clip.duration

    def place(self, slot: Slot, t: float, start: int, end: int, sizing: Sizing) -> Entry:
        # the clip's own sample count is the truth (its duration is frames / rate: the clock follows it)
        return Entry(self, start, slot.clip.frames, slot.item.line, slot.item.text, item=slot.item,
                     clip=slot.clip, voice=slot.voice)

    def events(self, entry: Entry, sounding: Sounding) -> list[Event]:
        return [Event(entry.start, entry.length, 1.0, Spoken(entry.clip))]

    def describe(self, entry: Entry) -> str:
        return f"say: {entry.label[:60]}{'…' if len(entry.label) > 60 else ''}"

    def draw(self, pen, entry: Entry) -> None:
        g, y, h = pen.lane("voice")
        a, n = entry.start / SAMPLE_RATE, entry.length / SAMPLE_RATE
        pen.el(g, "rect", "speech", entry.label, x=pen.x(a), y=y + 2, width=n * pen.scale,
               height=h - 4, data_line=entry.line, data_start=a)

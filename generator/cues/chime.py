"""``[chime]``: one soft chime (the breath cues' inhale note, E5 at 659 Hz), rung out before what
follows. A small cue kind: this module is all of it."""
from __future__ import annotations

from dataclasses import dataclass

from ..audio import sounds
from ..audio.samples import SAMPLE_RATE
from .base import Entry, Event, Item, Kind, Sizing, Slot, Sounding, Tone, register

SECONDS = 4.0       # on the timeline: the note rings about 4.2 s; its last 200 ms fade out
GAIN = 0.6          # peak 0.15 (-16.5 dBFS) before mastering: under the voice's peaks, above the glide


@dataclass(frozen=True)
class Chime(Item):
    line: int


@register
class ChimeKind(Kind):
    name = "chime"
    word = "chime"
    usage = "[chime]"
    item = Chime

    def parse(self, args: list[str], line: int) -> Chime:
        if args:
            raise ValueError(f"[chime {' '.join(args)}]: [chime] takes nothing (one soft chime); "
                             f"for several strikes write [bell N]")
        return Chime(line)

    def size(self, slot: Slot, sizing: Sizing) -> None:
        slot.low = slot.high = slot.seconds = SECONDS

    def place(self, slot: Slot, t: float, start: int, end: int, sizing: Sizing) -> Entry:
        return Entry(self, start, end - start, slot.item.line, "chime", item=slot.item)

    def events(self, entry: Entry, sounding: Sounding) -> list[Event]:
        n, rate = entry.length, sounding.rate
        return [Event(entry.start, n, GAIN, Tone(("chime cue", n, rate), lambda: sounds.breath_chime([("in", n)], rate)))]

    def draw(self, pen, entry: Entry) -> None:
        g, y, h = pen.lane("bells")
        t = entry.start / SAMPLE_RATE
        pen.el(g, "circle", "chime", f"chime (line {entry.line})", cx=pen.x(t), cy=y + h / 2, r=3.5,
               fill="#5fa37a", data_line=entry.line, data_start=t)

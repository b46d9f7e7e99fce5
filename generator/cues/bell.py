"""``[bell]``, ``[bell N]``: N strikes of the practice's bell, BELL_SPACING apart, the last rung out."""
from __future__ import annotations

from dataclasses import dataclass

from ..audio import sounds
from ..audio.samples import SAMPLE_RATE, seconds_to_samples
from .base import Entry, Event, Item, Kind, Sizing, Slot, Sounding, Tone, register

MAX_BELLS = 12
GAIN = 0.8          # bell peak about -8 dBFS before mastering


@dataclass(frozen=True)
class Bell(Item):
    count: int
    line: int


@register
class BellKind(Kind):
    name = "bell"
    word = "bell"
    usage = "[bell …]"
    item = Bell

    def parse(self, args: list[str], line: int) -> Bell:
        if not args:
            return Bell(1, line)
        if len(args) == 1 and args[0].isdigit() and 1 <= int(args[0]) <= MAX_BELLS:
            return Bell(int(args[0]), line)
        raise ValueError(f"[bell {' '.join(args)}]: write [bell] or [bell N] with N from 1 to {MAX_BELLS}")

    def size(self, slot: Slot, sizing: Sizing) -> None:
        d = 0.0 if sizing.bell_seconds <= 0 else (slot.item.count - 1) * sizing.bell_spacing + sizing.bell_seconds
        slot.low = slot.high = slot.seconds = d

    def place(self, slot: Slot, t: float, start: int, end: int, sizing: Sizing) -> Entry | None:
        if slot.seconds <= 0:        # bell: none
            return None
        it = slot.item
        strikes = [seconds_to_samples(t + k * sizing.bell_spacing) for k in range(it.count)]
        return Entry(self, start, end - start, it.line, f"bell x{it.count}", item=it, strikes=strikes)

    def events(self, entry: Entry, sounding: Sounding) -> list[Event]:
        bell, rate = sounding.bell, sounding.rate
        if bell == "none":
            return []
        n = len(sounds.bell(bell, rate))
        tone = Tone(("bell", bell), lambda: sounds.bell(bell, rate))
        return [Event(s, n, GAIN, tone) for s in entry.strikes]

    def draw(self, pen, entry: Entry) -> None:
        g, y, h = pen.lane("bells")
        for s in entry.strikes:
            t = s / SAMPLE_RATE
            pen.el(g, "circle", "bell", f"{entry.label} (line {entry.line})", cx=pen.x(t), cy=y + h / 2, r=5,
                   data_line=entry.line, data_start=t)

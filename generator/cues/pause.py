"""``[pause]``, ``[pause 5s]``, ``[pause 30s-3m]``: silence under the bed; also the paragraph breaks."""
from __future__ import annotations

from dataclasses import dataclass

from ..audio.samples import SAMPLE_RATE
from ..script.durations import parse_duration
from .base import Entry, Item, Kind, Sizing, Slot, register


@dataclass(frozen=True)
class Pause(Item):
    low: float          # seconds (negative: the voice profile's pause, sized later)
    high: float         # equal to low for a fixed pause
    line: int
    paragraph: bool = False  # a paragraph break, not a written cue

    @property
    def flexible(self) -> bool:
        return self.high > self.low


def duration(text: str, what: str) -> float:
    """``text`` in seconds; a ValueError starting with ``what`` if it is no duration."""
    try:
        return parse_duration(text)
    except ValueError as e:
        raise ValueError(f"{what}: {e}")


@register
class PauseKind(Kind):
    name = "pause"
    word = "pause"
    usage = "[pause …]"
    item = Pause

    def parse(self, args: list[str], line: int) -> Pause:
        if not args:
            return Pause(-1.0, -1.0, line)   # the profile's default_pause, sized later
        if len(args) != 1:
            raise ValueError(f"[pause {' '.join(args)}]: write [pause], [pause 5s] or [pause 30s-3m]")
        spec = args[0]
        if "-" in spec:
            lo_s, _, hi_s = spec.partition("-")
            lo, hi = duration(lo_s, "[pause]"), duration(hi_s, "[pause]")
            if not lo < hi:
                raise ValueError(f"[pause {spec}]: the range must go from shorter to longer, e.g. [pause 30s-3m]")
            return Pause(lo, hi, line)
        d = duration(spec, "[pause]")
        if d <= 0:
            raise ValueError(f"[pause {spec}]: a pause must be longer than 0")
        return Pause(d, d, line)

    def size(self, slot: Slot, sizing: Sizing) -> None:
        it = slot.item
        if it.low < 0:
            d = slot.voice.paragraph_pause if it.paragraph else slot.voice.default_pause
            slot.low = slot.high = slot.seconds = d
        else:
            slot.low, slot.high, slot.seconds = it.low, it.high, it.low

    def place(self, slot: Slot, t: float, start: int, end: int, sizing: Sizing) -> Entry | None:
        it = slot.item
        if not it.line:       # the silence after the end (render's tail) is no entry
            return None
        return Entry(self, start, end - start, it.line, "paragraph" if it.paragraph else f"{slot.seconds:.2f}s",
                     item=it, flexible=it.flexible)

    def describe(self, entry: Entry) -> str:
        return "pause" + (" (paragraph)" if entry.item.paragraph else "") + (" ~" if entry.flexible else "")

    def draw(self, pen, entry: Entry) -> None:
        g, y, h = pen.lane("pauses")
        item, a, n = entry.item, entry.start / SAMPLE_RATE, entry.length / SAMPLE_RATE
        g = pen.el(g, "g", "pause-cue", data_line=entry.line)
        if item.flexible:
            tip = f"flexible pause {pen.num(item.low)}–{pen.num(item.high)} s, fitted {n:.1f} s (line {entry.line})"
            cls = "pause flexible"
        else:
            tip = f"{'paragraph pause' if item.paragraph else 'pause'} {n:.1f} s (line {entry.line})"
            cls = "pause paragraph" if item.paragraph else "pause"
        pen.el(g, "rect", cls, tip, x=pen.x(a), y=y + 2, width=n * pen.scale, height=h - 14, data_start=a)
        if item.flexible:
            pen.range_bar(g, a, item.low, item.high, y + h - 6)

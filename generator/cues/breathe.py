"""``[breathe PATTERN COUNT]``: paced breathing, sounded by the practice's ``breath_cues``
(a glide, chimes at the phase starts, spoken words, or nothing)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..audio import sounds
from ..audio.samples import SAMPLE_RATE, seconds_to_samples
from ..script.durations import parse_duration
from .base import Entry, Event, GlideWindow, Item, Kind, Sizing, Slot, Sounding, Spoken, Tone, register
from .pause import duration

PATTERNS = {
    "box": (4.0, 4.0, 4.0, 4.0),
    "478": (4.0, 7.0, 8.0),
    "coherent": (5.5, 5.5),
    "soothing": (4.0, 0.0, 6.0),
}
MAX_CYCLES = 2000
MAX_PHASE = 120.0
GLIDE_GAIN = 0.15       # the breath glide sits well under the voice (about -31 dBFS RMS vs speech at -20)
CHIME_GAIN = 0.3
SPOKEN_CUE_GAIN = 0.9
GROUP_SECONDS = 20      # breath chimes are synthesized 20 s of whole cycles at a time
GLIDE_WINDOW = 10       # seconds of breath glide synthesized at a time


@dataclass(frozen=True)
class Breathe(Item):
    pattern: tuple[float, ...]   # (in, out) | (in, hold, out) | (in, hold, out, hold)
    low: int                     # cycles
    high: int
    line: int
    label: str = ""

    @property
    def flexible(self) -> bool:
        return self.high > self.low

    @property
    def cycle_seconds(self) -> float:
        return float(sum(self.pattern))

    def phases(self) -> list[tuple[str, float]]:
        """(name, seconds) of one cycle, zero-length holds dropped."""
        names = {2: ("in", "out"), 3: ("in", "hold", "out"), 4: ("in", "hold", "out", "hold")}[len(self.pattern)]
        return [(n, s) for n, s in zip(names, self.pattern) if s > 0]


@register
class BreatheKind(Kind):
    name = "breathe"
    word = "breathe"
    usage = "[breathe …]"
    item = Breathe

    def parse(self, args: list[str], line: int) -> Breathe:
        usage = ("write e.g. [breathe 4-7-8 x4], [breathe box x6], [breathe 5-5 for 2m], "
                 "[breathe coherent 2m] or [breathe 4-6 x5-20]")
        if not args:
            raise ValueError(f"[breathe]: missing pattern; {usage}")
        name = args[0].lower()
        if name in PATTERNS:
            pattern = PATTERNS[name]
        else:
            bits = name.split("-")
            if not 2 <= len(bits) <= 4:
                raise ValueError(f"[breathe {' '.join(args)}]: unknown pattern {args[0]!r} "
                                 f"(named: {', '.join(PATTERNS)}); {usage}")
            try:
                pattern = tuple(parse_duration(b) for b in bits)
            except ValueError:
                raise ValueError(f"[breathe {' '.join(args)}]: malformed pattern {args[0]!r}; {usage}")
        if pattern[0] <= 0 or pattern[-1 if len(pattern) < 4 else 2] <= 0:
            raise ValueError(f"[breathe {' '.join(args)}]: the in- and out-breath must be longer than 0")
        if any(p > MAX_PHASE for p in pattern):
            raise ValueError(f"[breathe {' '.join(args)}]: a breath phase longer than {int(MAX_PHASE)} s is not a breath")
        count = args[1:]
        cycle = sum(pattern)
        label = " ".join(args)
        if len(count) == 1 and re.fullmatch(r"x\d+", count[0].lower()):
            n = int(count[0][1:])
            lo = hi = n
        elif len(count) == 1 and re.fullmatch(r"x\d+-\d+", count[0].lower()):
            lo, hi = (int(v) for v in count[0][1:].split("-"))
            if not lo < hi:
                raise ValueError(f"[breathe {label}]: the cycle range must go from fewer to more, e.g. x5-20")
        elif (len(count) == 2 and count[0].lower() == "for") or (len(count) == 1 and not count[0].lower().startswith("x")):
            total = duration(count[-1], f"[breathe {label}]")
            lo = hi = int(total // cycle + 1e-9)
            if lo < 1:
                raise ValueError(f"[breathe {label}]: {count[-1]} is shorter than one {cycle:g} s cycle")
        else:
            raise ValueError(f"[breathe {label}]: missing or malformed count; {usage}")
        if lo < 1 and hi < 1 or lo < 0:
            raise ValueError(f"[breathe {label}]: at least one cycle is needed")
        if hi > MAX_CYCLES:
            raise ValueError(f"[breathe {label}]: more than {MAX_CYCLES} cycles")
        return Breathe(tuple(float(p) for p in pattern), lo, hi, line, label)

    def size(self, slot: Slot, sizing: Sizing) -> None:
        it = slot.item
        slot.low, slot.high, slot.step = it.low * it.cycle_seconds, it.high * it.cycle_seconds, it.cycle_seconds
        slot.cycles, slot.seconds = it.low, slot.low

    def place(self, slot: Slot, t: float, start: int, end: int, sizing: Sizing) -> Entry:
        it = slot.item
        phases = []
        tc = t
        for _ in range(slot.cycles):
            for name, sec in it.phases():
                a = seconds_to_samples(tc)
                tc += sec
                phases.append((name, a, seconds_to_samples(tc) - a))
        return Entry(self, start, end - start, it.line, it.label, item=it, cycles=slot.cycles, phases=phases,
                     voice=slot.voice, flexible=it.flexible)

    def events(self, e: Entry, sounding: Sounding) -> list[Event]:
        rate = sounding.rate
        out: list[Event] = []
        if sounding.breath_cues == "glide":
            # one continuous tone over the whole cue, made a window at a time (the oscillator
            # phase is carried from window to window: see GlideWindow)
            rel = tuple((name, n) for name, _s, n in e.phases)
            win = int(GLIDE_WINDOW * rate)
            for w, a in enumerate(range(0, e.length, win)):
                n = min(win, e.length - a)
                out.append(Event(e.start + a, n, GLIDE_GAIN, GlideWindow(e.start, w, rel, a, n)))
        elif sounding.breath_cues == "chime":
            # chimes are short notes at phase starts: runs of whole cycles can be made apart
            for group in _groups(e.phases, e.cycles, GROUP_SECONDS * rate):
                start = group[0][1]
                rel = tuple((name, n) for name, _s, n in group)
                length = sum(n for _, n in rel)
                out.append(Event(start, length, CHIME_GAIN,
                                 Tone(("chime", rel), lambda r=rel: sounds.breath_chime(list(r), rate))))
        elif sounding.breath_cues == "spoken":
            for name, s, n in e.phases:
                clip = sounding.cue_clips.get((e.voice.name if e.voice else None, name))
                if clip is not None:
                    m = min(n, clip.frames)
                    out.append(Event(s, m, SPOKEN_CUE_GAIN, Spoken(clip, fit=m)))
        return out

    def describe(self, entry: Entry) -> str:
        return f"breathe {entry.label}: {entry.cycles} cycles" + (" ~" if entry.flexible else "")

    def draw(self, pen, e: Entry) -> None:
        parent, y, h = pen.lane("breath")
        item, a, num = e.item, e.start / SAMPLE_RATE, pen.num
        top, bottom = y + 2, y + h - 10
        pattern = "-".join(num(p) for p in item.pattern)
        tip = f"breathe {e.label or pattern}: {e.cycles} cycles of {pattern} s"
        if item.flexible:
            tip += f" (fitted from {item.low}–{item.high})"
        g = pen.el(parent, "g", "breathe-cue", f"{tip} (line {e.line})", data_line=e.line, data_start=a)
        for name, s, k in e.phases:
            x0, x1 = pen.x(s / SAMPLE_RATE), pen.x((s + k) / SAMPLE_RATE)
            if name == "in":
                pen.el(g, "polygon", "inhale", points=f"{num(x0)},{num(bottom)} {num(x1)},{num(top)} "
                                                      f"{num(x1)},{num(bottom)}", data_start=s / SAMPLE_RATE)
            elif name == "out":
                pen.el(g, "polygon", "exhale", points=f"{num(x0)},{num(bottom)} {num(x0)},{num(top)} "
                                                      f"{num(x1)},{num(bottom)}", data_start=s / SAMPLE_RATE)
            else:
                pen.el(g, "rect", "hold", x=x0, y=top, width=x1 - x0, height=bottom - top,
                       data_start=s / SAMPLE_RATE)
        if item.flexible:
            c = item.cycle_seconds
            pen.range_bar(g, a, item.low * c, item.high * c, y + h - 4)


def _groups(phases: list, cycles: int, max_samples: float) -> list[list]:
    """Split a cue's phases into runs of whole cycles lasting at most ``max_samples`` (at least one cycle)."""
    per = len(phases) // max(1, cycles)
    groups, cur, cur_len = [], [], 0
    for c in range(cycles):
        cyc = phases[c * per:(c + 1) * per]
        n = sum(k for _, _, k in cyc)
        if cur and cur_len + n > max_samples:
            groups.append(cur)
            cur, cur_len = [], 0
        cur += cyc
        cur_len += n
    if cur:
        groups.append(cur)
    return groups

"""The fitted timeline as a picture: an SVG drawn with the standard library's ElementTree.

A few hundred rectangles, triangles and one polyline need no plotting stack (matplotlib would
add ~40 MB and a font cache for what is a list of ``<rect>``s, and its SVG carries no per-shape
tooltips or source lines). Every shape's x is ``LEFT + seconds * scale``; the scale keeps a
short practice at least ``MIN_PLOT`` pixels wide and gives a long one ``MIN_PX_PER_MINUTE``
so an hour stays readable (and scrolls).

Lanes, top to bottom: chapters (labelled bands), voice (one block per phrase, its words as the
tooltip), pauses (flexible ones hatched with their range beneath), breath (inhale a rising
triangle, hold a bar, exhale a falling triangle), bells, and the bed's level in dBFS with its
ducking under the voice and its fades. Shapes carry ``data-line``: the script line they come from.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np

from ..audio.samples import SAMPLE_RATE
from ..script.durations import format_duration
from ..mixer import DUCK_DB, Mixer

LEFT = 96             # px: lane labels
RIGHT = 24
MIN_PLOT = 960        # px: the plot's width for a short practice
MIN_PX_PER_MINUTE = 40
TICK_STEPS = (10, 15, 30, 60, 120, 300, 600, 900)   # seconds between axis ticks
MIN_TICK_PX = 64
BED_TOP_DB, BED_BOTTOM_DB = -20.0, -60.0
BED_RMS_DB = -20.0    # beds are made at -20 dBFS RMS (see mixer.Mixer.bed_gain)
CHAR_PX = 6.4         # the labels' average glyph width at 11 px

LANES = (               # (name, label, height)
    ("chapters", "chapters", 24),
    ("voice", "voice", 22),
    ("pauses", "pauses", 30),
    ("breath", "breath", 30),
    ("bells", "bells", 18),
    ("bed", "bed dBFS", 56),
)
LANE_GAP = 8
TOP = 34              # px: the title line

STYLE = """
text { font: 11px sans-serif; fill: #333; }
.title { font-size: 13px; font-weight: bold; }
.lane-label { fill: #555; }
.lane-bg { fill: #f6f6f4; }
.chapter { fill: #dfe8f1; stroke: #fff; }
.chapter.odd { fill: #c9d8e8; }
.speech { fill: #4a78a8; }
.pause { fill: #b9b9b9; }
.pause.paragraph { fill: #dadada; }
.pause.flexible { fill: url(#hatch); stroke: #8a6d1e; stroke-width: 0.5; }
.range { stroke: #8a6d1e; stroke-width: 1.2; }
.inhale { fill: #5fa37a; }
.hold { fill: #a8cdb6; }
.exhale { fill: #2f7a55; }
.bell { fill: #c28a12; }
.bed { fill: #e9dcc3; stroke: #9c7a3c; stroke-width: 1; }
.grid { stroke: #ddd; stroke-width: 1; }
.axis { stroke: #666; stroke-width: 1; }
"""


class Layout:
    """Where a time (seconds) and each lane sit."""

    def __init__(self, duration: float):
        self.duration = max(duration, 1e-3)
        self.scale = max(MIN_PLOT / self.duration, MIN_PX_PER_MINUTE / 60.0)   # px per second
        self.width = LEFT + self.duration * self.scale + RIGHT
        self.lane = {}
        y = TOP
        for name, label, h in LANES:
            self.lane[name] = (y, h, label)
            y += h + LANE_GAP
        self.axis_y = y
        self.height = y + 30

    def x(self, seconds: float) -> float:
        return LEFT + seconds * self.scale

    def tick_step(self) -> int:
        return next((s for s in TICK_STEPS if s * self.scale >= MIN_TICK_PX), TICK_STEPS[-1])


def _num(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _el(parent, tag: str, cls: str | None = None, title: str | None = None, **attrs) -> ET.Element:
    attrs = {k.rstrip("_").replace("_", "-"): (_num(v) if isinstance(v, float) else str(v))
             for k, v in attrs.items()}
    if cls:
        attrs["class"] = cls
    e = ET.SubElement(parent, tag, attrs)
    if title:
        ET.SubElement(e, "title").text = title
    return e


def _fit_text(text: str, px: float) -> str:
    n = int(px // CHAR_PX)
    if n < 2:
        return ""
    return text if len(text) <= n else text[: n - 1] + "…"


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}" if s == 0 else f"{m}:{s:02d}"


def timeline_svg(prepared) -> str:
    """The SVG text of ``prepared`` (pipeline.Prepared): its fitted timeline, lane by lane."""
    script, tl = prepared.script, prepared.timeline
    lay = Layout(tl.duration)
    root = ET.Element("svg", {"xmlns": "http://www.w3.org/2000/svg", "width": _num(lay.width),
                              "height": _num(lay.height), "viewBox": f"0 0 {_num(lay.width)} {_num(lay.height)}",
                              "class": "meditate-timeline", "data-duration": _num(tl.duration)})
    ET.SubElement(root, "style").text = STYLE
    defs = ET.SubElement(root, "defs")
    hatch = _el(defs, "pattern", id="hatch", width=6, height=6, patternUnits="userSpaceOnUse",
                patternTransform="rotate(45)")
    _el(hatch, "rect", width=6, height=6, fill="#f3e3b5")
    _el(hatch, "line", x1=0, y1=0, x2=0, y2=6, stroke="#c9a646", stroke_width=3)

    lo, hi = tl.reachable
    head = f"{script.title} — {format_duration(tl.duration)}"
    head += f" (reachable {format_duration(lo)} to {format_duration(hi)})" if hi > lo else ""
    _el(root, "text", "title", x=LEFT, y=20).text = head

    for name, (y, h, label) in lay.lane.items():
        _el(root, "rect", "lane-bg", x=LEFT, y=y, width=lay.duration * lay.scale, height=h)
        _el(root, "text", "lane-label", x=8, y=y + h / 2 + 4).text = label
    _axis(root, lay)
    _chapters(root, lay, tl)
    _entries(root, lay, tl)
    _bed(root, lay, prepared)
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="unicode") + "\n"


def _axis(root, lay: Layout) -> None:
    step = lay.tick_step()
    top = lay.lane["chapters"][0]
    y = lay.axis_y
    _el(root, "line", "axis", x1=LEFT, y1=y, x2=lay.x(lay.duration), y2=y)
    g = _el(root, "g", "ticks")
    for k in range(int(lay.duration // step) + 1):
        t = k * step
        x = lay.x(t)
        _el(g, "line", "grid", x1=x, y1=top, x2=x, y2=y)
        _el(g, "text", "tick", x=x, y=y + 14, text_anchor="middle", data_seconds=t).text = _clock(t)
    _el(root, "text", "lane-label", x=8, y=y + 14).text = "minutes"


def _chapters(root, lay: Layout, tl) -> None:
    y, h, _ = lay.lane["chapters"]
    g = _el(root, "g", "chapters")
    for k, c in enumerate(sorted(tl.chapters, key=lambda c: c.start)):
        a, b = c.start / SAMPLE_RATE, c.end / SAMPLE_RATE
        band = _el(g, "g", "chapter-band", data_line=c.line, data_start=a)
        _el(band, "rect", "chapter odd" if k % 2 else "chapter",
            f"{c.title} ({_clock(a)}–{_clock(b)})", x=lay.x(a), y=y, width=(b - a) * lay.scale, height=h)
        label = _fit_text(c.title, (b - a) * lay.scale - 6)
        if label:
            _el(band, "text", "chapter-label", x=lay.x(a) + 3, y=y + h / 2 + 4).text = label


class Pen:
    """What a kind draws its entries with (see cues.base.Kind.draw): the lanes, the time axis
    and the shapes."""

    def __init__(self, root, lay: Layout):
        self.lay = lay
        self.scale = lay.scale
        self.groups = {name: _el(root, "g", name) for name in ("voice", "pauses", "breath", "bells")}

    el = staticmethod(_el)
    num = staticmethod(_num)

    def lane(self, name: str) -> tuple[ET.Element, float, float]:
        """The lane's group, top and height."""
        y, h, _ = self.lay.lane[name]
        return self.groups[name], y, h

    def x(self, seconds: float) -> float:
        return self.lay.x(seconds)

    def range_bar(self, parent, a: float, low: float, high: float, y: float) -> None:
        """A fitted cue's reachable range: from ``a + low`` to ``a + high`` seconds."""
        x0, x1 = self.x(a + low), self.x(a + high)
        _el(parent, "line", "range", x1=x0, y1=y, x2=x1, y2=y)
        for x in (x0, x1):
            _el(parent, "line", "range", x1=x, y1=y - 3, x2=x, y2=y + 3)


def _entries(root, lay: Layout, tl) -> None:
    pen = Pen(root, lay)
    for e in tl.entries:
        e.kind.draw(pen, e)


def _bed(root, lay: Layout, prepared) -> None:
    """The bed's level in dBFS, one point per pixel column (the column's mean level)."""
    s, tl = prepared.script.settings, prepared.timeline
    y, h, _ = lay.lane["bed"]
    g = _el(root, "g", "bed-lane")
    if not s.ambience or s.ambience == "none":
        _el(g, "text", "lane-label", x=LEFT + 6, y=y + h / 2 + 4).text = "no ambience bed"
        return
    mixer = Mixer(tl, breath_cues=s.breath_cues, bell="none", cue_clips=prepared.cue_clips,
                  bed=None, bed_gain_db=s.ambience_level)
    columns = max(2, int(math.ceil(lay.duration * lay.scale)))
    per = max(1, int(tl.frames / columns / 8))          # 8 samples of the envelope per column
    pos = np.arange(0, tl.frames, per, dtype=np.float64)
    level = 20 * np.log10(np.maximum(mixer.bed_envelope(pos), 1e-6)) + BED_RMS_DB
    col = np.minimum((pos / tl.frames * columns).astype(int), columns - 1)
    mean = np.bincount(col, weights=level, minlength=columns) / np.maximum(np.bincount(col, minlength=columns), 1)
    db = np.clip(mean, BED_BOTTOM_DB, BED_TOP_DB)
    ys = y + h - (db - BED_BOTTOM_DB) / (BED_TOP_DB - BED_BOTTOM_DB) * h
    xs = LEFT + (np.arange(columns) + 0.5) * (lay.duration * lay.scale / columns)
    pts = [f"{_num(LEFT)},{_num(y + h)}"] + [f"{_num(a)},{_num(b)}" for a, b in zip(xs, ys)]
    pts.append(f"{_num(lay.x(lay.duration))},{_num(y + h)}")
    _el(g, "polygon", "bed", f"{s.ambience} bed at {_num(s.ambience_level)} dBFS, dipping "
                             f"{_num(-DUCK_DB)} dB under the voice, faded in and out",
        points=" ".join(pts), data_level=s.ambience_level)
    for db_mark in (BED_TOP_DB, s.ambience_level, BED_BOTTOM_DB):
        yy = y + h - (db_mark - BED_BOTTOM_DB) / (BED_TOP_DB - BED_BOTTOM_DB) * h
        _el(g, "line", "grid", x1=LEFT, y1=yy, x2=lay.x(lay.duration), y2=yy, data_db=db_mark)
        _el(g, "text", "lane-label", x=LEFT - 4, y=min(max(yy + 4, y + 9), y + h), text_anchor="end").text = \
            _num(db_mark)


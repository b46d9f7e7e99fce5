"""Places everything on the timeline, chunk by chunk, in numpy.

Only the events sounding in the current chunk are held: speech clips are
memory-mapped from disk and tones are synthesized when they start, so memory does
not grow with the practice's length. The output is identical however it is chunked.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from .audio import SAMPLE_RATE
from .timeline import Timeline

CHUNK = 65536
GLIDE_GAIN = 0.35       # the breath glide sits well under the voice (about -26 dBFS RMS)
CHIME_GAIN = 0.45
BELL_GAIN = 0.8         # bell peak about -8 dBFS before mastering
SPOKEN_CUE_GAIN = 0.9
DUCK_DB = -10.0         # how far the bed dips under speech
DUCK_ATTACK = 0.35      # seconds: the bed starts dipping this long before the voice
DUCK_RELEASE = 1.2      # seconds: and comes back up over this long after it
BED_FADE_IN = 4.0
BED_FADE_OUT = 5.0
EDGE_FADE = 0.05        # the whole mix: click-free first and last samples


@dataclass
class Event:
    start: int
    length: int
    make: Callable[[], np.ndarray]
    gain: float
    key: object = None       # tones with equal keys share one synthesized array

    @property
    def end(self) -> int:
        return self.start + self.length


def _raised(x: np.ndarray) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


class Mixer:
    def __init__(self, timeline: Timeline, *, breath_cues: str = "glide", bell: str = "bowl",
                 cue_clips: dict | None = None, bed=None, bed_gain_db: float = -28.0, channels: int = 1,
                 rate: int = SAMPLE_RATE):
        self.timeline = timeline
        self.rate = rate
        self.channels = channels if bed is None else 2
        self.bed = bed
        self.bed_gain = 10 ** ((bed_gain_db + 20.0) / 20.0)   # beds are made at -20 dBFS RMS
        self._tones: OrderedDict = OrderedDict()
        self.events = sorted(self._events(timeline, breath_cues, bell, cue_clips or {}), key=lambda e: e.start)
        self.speech_spans = sorted((e.start, e.end) for e in self.events if e.key == "speech")
        self._span_starts = np.array([s for s, _ in self.speech_spans], dtype=np.int64)
        self._span_ends = np.maximum.accumulate(np.array([e for _, e in self.speech_spans] or [0], dtype=np.int64))

    # ------------------------------------------------------------ events
    def _events(self, tl: Timeline, breath_cues: str, bell: str, cue_clips: dict) -> list[Event]:
        from . import sounds

        out: list[Event] = []
        rate = self.rate
        for e in tl.entries:
            if e.kind == "speech":
                out.append(Event(e.start, e.length, e.clip.load, 1.0, "speech"))
            elif e.kind == "bell" and bell != "none":
                n = len(self._tone(("bell", bell), lambda: sounds.bell(bell, rate)))
                for s in e.strikes:
                    out.append(Event(s, n, lambda b=bell: sounds.bell(b, rate), BELL_GAIN, ("bell", bell)))
            elif e.kind == "breathe" and breath_cues != "none":
                per_cycle = len(e.phases) // max(1, e.cycles)
                for c in range(e.cycles):
                    ph = e.phases[c * per_cycle:(c + 1) * per_cycle]
                    start = ph[0][1]
                    rel = tuple((name, n) for name, _s, n in ph)
                    length = sum(n for _, n in rel)
                    if breath_cues == "glide":
                        out.append(Event(start, length, lambda r=rel: sounds.breath_glide(list(r), rate),
                                         GLIDE_GAIN, ("glide", rel)))
                    elif breath_cues == "chime":
                        out.append(Event(start, length, lambda r=rel: sounds.breath_chime(list(r), rate),
                                         CHIME_GAIN, ("chime", rel)))
                    elif breath_cues == "spoken":
                        for name, s, n in ph:
                            clip = cue_clips.get((e.voice.name if e.voice else None, name))
                            if clip is None:
                                continue
                            m = min(n, clip.frames)
                            out.append(Event(s, m, lambda c=clip, m=m: _fit_clip(c.load(), m),
                                             SPOKEN_CUE_GAIN, "speech"))
        return out

    def _tone(self, key, make) -> np.ndarray:
        if key in self._tones:
            self._tones.move_to_end(key)
            return self._tones[key]
        arr = np.asarray(make(), dtype=np.float32)
        self._tones[key] = arr
        while len(self._tones) > 6:
            self._tones.popitem(last=False)
        return arr

    def _materialize(self, ev: Event) -> np.ndarray:
        if ev.key == "speech" or ev.key is None:
            return ev.make()
        return self._tone(ev.key, ev.make)

    # ------------------------------------------------------------ envelopes
    def duck_gain(self, a: int, b: int) -> np.ndarray:
        """Linear bed gain for samples [a, b): 1 in silence, DUCK_DB under speech, smooth ramps."""
        pos = np.arange(a, b, dtype=np.float64)
        act = np.zeros(b - a)
        att, rel = DUCK_ATTACK * self.rate, DUCK_RELEASE * self.rate
        # spans never overlap, so starts and ends are both sorted: find the ones near [a, b)
        lo = int(np.searchsorted(self._span_ends, a - rel, side="left"))
        hi = int(np.searchsorted(self._span_starts, b + att, side="right"))
        for s, e in self.speech_spans[lo:hi]:
            up = _raised((pos - (s - att)) / att)
            down = _raised(1.0 - (pos - e) / rel)
            shape = np.where(pos < s, up, np.where(pos <= e, 1.0, down))
            np.maximum(act, shape, out=act)
        return 10 ** (DUCK_DB * act / 20.0)

    def _fade(self, a: int, b: int, seconds_in: float, seconds_out: float) -> np.ndarray | None:
        frames = self.timeline.frames
        fin, fout = int(seconds_in * self.rate), int(seconds_out * self.rate)
        fin, fout = min(fin, frames // 2), min(fout, frames // 2)
        if a >= fin and b <= frames - fout:
            return None
        pos = np.arange(a, b, dtype=np.float64)
        g = np.ones(b - a)
        if fin > 0:
            g *= _raised((pos + 0.5) / fin)
        if fout > 0:
            g *= _raised((frames - pos - 0.5) / fout)
        return g

    # ------------------------------------------------------------ the stream
    def chunks(self, size: int = CHUNK) -> Iterator[np.ndarray]:
        frames = self.timeline.frames
        events, idx = self.events, 0
        active: list[tuple[Event, np.ndarray]] = []
        for a in range(0, frames, size):
            b = min(a + size, frames)
            fg = np.zeros(b - a, dtype=np.float32)
            while idx < len(events) and events[idx].start < b:
                ev = events[idx]
                active.append((ev, self._materialize(ev)))
                idx += 1
            still = []
            for ev, data in active:
                s, e = max(a, ev.start), min(b, ev.end, ev.start + len(data))
                if e > s:
                    fg[s - a:e - a] += data[s - ev.start:e - ev.start] * np.float32(ev.gain)
                if ev.end > b:
                    still.append((ev, data))
            active = still
            edge = self._fade(a, b, EDGE_FADE, EDGE_FADE)
            if self.bed is None:
                out = fg if self.channels == 1 else np.repeat(fg[:, None], self.channels, axis=1)
            else:
                bed = self.bed.render(a, b - a).astype(np.float32)
                g = self.duck_gain(a, b) * self.bed_gain
                bf = self._fade(a, b, BED_FADE_IN, BED_FADE_OUT)
                if bf is not None:
                    g = g * bf
                out = bed * g[:, None].astype(np.float32) + fg[:, None]
            if edge is not None:
                out = out * (edge[:, None] if out.ndim == 2 else edge).astype(np.float32)
            yield out.astype(np.float32, copy=False)


def _fit_clip(data: np.ndarray, n: int) -> np.ndarray:
    out = np.array(data[:n], dtype=np.float32)
    k = min(len(out), int(0.02 * SAMPLE_RATE))
    if k and len(data) > n:
        out[-k:] *= np.linspace(1, 0, k, dtype=np.float32)
    return out

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

from .audio import energy, sounds
from .audio.samples import SAMPLE_RATE
from .audio.sounds import glide_window
from .timeline import Timeline

CHUNK = 65536    # samples per mixed chunk (render streams the practice in these)
GLIDE_GAIN = 0.15       # the breath glide sits well under the voice (about -31 dBFS RMS vs speech at -20)
CHIME_GAIN = 0.3
BELL_GAIN = 0.8         # bell peak about -8 dBFS before mastering
SPOKEN_CUE_GAIN = 0.9
DUCK_DB = -10.0         # how far the bed dips under speech
DUCK_ATTACK = 0.35      # seconds: the bed starts dipping this long before the voice
DUCK_RELEASE = 1.2      # seconds: and comes back up over this long after it
BED_FADE_IN = 4.0
BED_FADE_OUT = 5.0
EDGE_FADE = 0.05        # the whole mix: click-free first and last samples
ENV_STEP = 32          # samples between computed points of the bed's gain envelope
GROUP_SECONDS = 20      # breath chimes are synthesized 20 s of whole cycles at a time
GLIDE_WINDOW = 10       # seconds of breath glide synthesized at a time


@dataclass
class Event:
    start: int
    length: int
    make: Callable[[], np.ndarray]
    gain: float
    key: object = None       # tones with equal keys share one synthesized array
    clip: object = None      # speech: the cached clip (its energy profile sits beside it)

    @property
    def end(self) -> int:
        return self.start + self.length


def _raised(x: np.ndarray) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


class Mixer:
    def __init__(self, timeline: Timeline, *, breath_cues: str = "glide", bell: str = "bowl",
                 cue_clips: dict | None = None, bed=None, bed_gain_db: float = -34.0, channels: int = 1,
                 rate: int = SAMPLE_RATE):
        self.timeline = timeline
        self.rate = rate
        self.channels = channels if bed is None else 2
        self.bed = bed
        self.bed_gain = 10 ** ((bed_gain_db + 20.0) / 20.0)   # beds are made at -20 dBFS RMS
        self._tones: OrderedDict = OrderedDict()
        self._glide_phase: dict = {}
        self.events = sorted(self._events(timeline, breath_cues, bell, cue_clips or {}), key=lambda e: e.start)
        self.speech_spans = sorted((e.start, e.end) for e in self.events if e.key == "speech")
        self._span_starts = np.array([s for s, _ in self.speech_spans], dtype=np.int64)
        self._span_ends = np.maximum.accumulate(np.array([e for _, e in self.speech_spans] or [0], dtype=np.int64))

    # ------------------------------------------------------------ events
    def _events(self, tl: Timeline, breath_cues: str, bell: str, cue_clips: dict) -> list[Event]:
        out: list[Event] = []
        rate = self.rate
        for e in tl.entries:
            if e.kind == "speech":
                out.append(Event(e.start, e.length, e.clip.load, 1.0, "speech", clip=e.clip))
            elif e.kind == "bell" and bell != "none":
                n = len(self._tone(("bell", bell), lambda: sounds.bell(bell, rate)))
                for s in e.strikes:
                    out.append(Event(s, n, lambda b=bell: sounds.bell(b, rate), BELL_GAIN, ("bell", bell)))
            elif e.kind == "breathe" and breath_cues != "none":
                if breath_cues == "glide":
                    # one continuous tone over the whole cue, made a window at a time (the oscillator
                    # phase is carried from window to window, see _materialize)
                    rel = tuple((name, n) for name, _s, n in e.phases)
                    win = int(GLIDE_WINDOW * rate)
                    for w, a in enumerate(range(0, e.length, win)):
                        n = min(win, e.length - a)
                        out.append(Event(e.start + a, n, None, GLIDE_GAIN, ("glide", id(e), w, rel, a, n)))
                elif breath_cues == "chime":
                    # chimes are short notes at phase starts: runs of whole cycles can be made apart
                    for group in _groups(e.phases, e.cycles, GROUP_SECONDS * rate):
                        start = group[0][1]
                        rel = tuple((name, n) for name, _s, n in group)
                        length = sum(n for _, n in rel)
                        out.append(Event(start, length, lambda r=rel: sounds.breath_chime(list(r), rate),
                                         CHIME_GAIN, ("chime", rel)))
                elif breath_cues == "spoken":
                    for name, s, n in e.phases:
                        clip = cue_clips.get((e.voice.name if e.voice else None, name))
                        if clip is None:
                            continue
                        m = min(n, clip.frames)
                        out.append(Event(s, m, lambda c=clip, m=m: _fit_clip(c.load(), m),
                                         SPOKEN_CUE_GAIN, "speech", clip=clip))
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
        if ev.key[0] == "glide":
            _, cue, w, rel, a, n = ev.key
            phase = self._glide_phase.get((cue, w), 0.0)
            data, self._glide_phase[(cue, w + 1)] = glide_window(rel, a, n, phase, self.rate)
            self._glide_phase.pop((cue, w), None)
            return data
        return self._tone(ev.key, ev.make)

    # ------------------------------------------------------------ envelopes
    def duck(self, pos: np.ndarray) -> np.ndarray:
        """Linear duck gain at sample positions ``pos`` (sorted): 1 in silence, DUCK_DB under speech."""
        act = np.zeros(pos.shape[0])
        if not self.speech_spans or not pos.size:
            return act + 1.0
        att, rel = DUCK_ATTACK * self.rate, DUCK_RELEASE * self.rate
        for s, e in self._spans_near(pos[0], pos[-1]):
            i0, i1 = np.searchsorted(pos, [s - att, e + rel])
            p = pos[i0:i1]
            up = _raised((p - (s - att)) / att)
            down = _raised(1.0 - (p - e) / rel)
            shape = np.where(p < s, up, np.where(p <= e, 1.0, down))
            np.maximum(act[i0:i1], shape, out=act[i0:i1])
        return 10 ** (DUCK_DB * act / 20.0)

    def _spans_near(self, first: float, last: float) -> list:
        """Speech spans whose ducking ramps reach samples [first, last]. Spans never overlap, so
        their starts and ends are both sorted and two binary searches find them."""
        if not self.speech_spans:
            return []
        att, rel = DUCK_ATTACK * self.rate, DUCK_RELEASE * self.rate
        lo = int(np.searchsorted(self._span_ends, first - rel, side="left"))
        hi = int(np.searchsorted(self._span_starts, last + att, side="right"))
        return self.speech_spans[lo:hi]

    def bed_envelope(self, pos: np.ndarray) -> np.ndarray:
        """The bed's linear gain at ``pos``: level, ducking and its own fades (not the edge fade)."""
        g = self.duck(pos) * self.bed_gain
        f = self._fade_at(pos, BED_FADE_IN, BED_FADE_OUT)
        return g if f is None else g * f

    def _bed_envelope_chunk(self, a: int, b: int):
        """The bed gain over [a, b): a constant far from speech and fades, else the smooth envelope
        computed every ENV_STEP samples and interpolated (its ramps last hundreds of ms)."""
        frames = self.timeline.frames
        near_fade = a < BED_FADE_IN * self.rate or b > frames - BED_FADE_OUT * self.rate
        if not near_fade and not self._spans_near(a, b - 1):
            return np.float32(self.bed_gain)
        coarse = np.arange(a, b + ENV_STEP, ENV_STEP, dtype=np.float64)
        env = self.bed_envelope(coarse)
        return np.interp(np.arange(a, b, dtype=np.float64), coarse, env).astype(np.float32)

    def _fade_at(self, pos: np.ndarray, seconds_in: float, seconds_out: float) -> np.ndarray | None:
        frames = self.timeline.frames
        fin, fout = int(seconds_in * self.rate), int(seconds_out * self.rate)
        fin, fout = min(fin, frames // 2), min(fout, frames // 2)
        if not pos.size or (pos[0] >= fin and pos[-1] < frames - fout):
            return None
        g = np.ones(pos.shape[0])
        if fin > 0:
            g *= _raised((pos + 0.5) / fin)
        if fout > 0:
            g *= _raised((frames - pos - 0.5) / fout)
        return g

    def edge_envelope(self, pos: np.ndarray) -> np.ndarray:
        f = self._fade_at(pos, EDGE_FADE, EDGE_FADE)
        return np.ones(pos.shape[0]) if f is None else f

    # ------------------------------------------------------------ loudness analysis
    def foreground_energies(self, segment: int) -> np.ndarray:
        """K-weighted energy of every complete ``segment`` of the foreground (all channels), from
        each sound's energy profile (see energy.py): speech from the cache, tones once, glides made."""
        seg = np.zeros(self.timeline.frames // segment)
        for ev in self.events:
            if ev.clip is not None:
                prof = energy.clip_profile(ev.clip, ev.length if ev.length < ev.clip.frames else None)
            elif isinstance(ev.key, tuple) and ev.key[0] == "glide":
                # a window's energy does not depend on the oscillator phase it starts with
                _, _cue, _w, rel, a, n = ev.key
                prof = energy.tone_profile(("glide", rel, a, n, self.rate),
                                           lambda: glide_window(rel, a, n, 0.0, self.rate)[0])
            else:
                prof = energy.tone_profile((ev.key, self.rate), lambda ev=ev: self._materialize(ev))
            energy.lay(seg, prof, ev.start, float(ev.gain) ** 2, segment)
        return seg * self.channels

    # ------------------------------------------------------------ the stream
    def foreground(self, size: int = CHUNK) -> Iterator[np.ndarray]:
        """Speech, breath cues and bells only (mono), edge-faded: what loudness analysis needs."""
        for a, b, fg in self._foreground_chunks(size):
            yield self._edge_faded(fg, a, b)

    def chunks(self, size: int = CHUNK, fg_gain: float = 1.0, start: int = 0,
               stop: int | None = None) -> Iterator[np.ndarray]:
        """The full mix (of samples [start, stop): an excerpt): the foreground times ``fg_gain`` plus
        the bed at its own level."""
        g = np.float32(fg_gain)
        for a, b, fg in self._foreground_chunks(size, start, stop):
            if fg_gain != 1.0:
                fg *= g
            if self.bed is None:
                out = fg if self.channels == 1 else np.repeat(fg[:, None], self.channels, axis=1)
            else:
                bed = self.bed.render(a, b - a)
                env = self._bed_envelope_chunk(a, b)
                out = bed * (env[:, None] if isinstance(env, np.ndarray) else env) + fg[:, None]
            yield self._edge_faded(out, a, b).astype(np.float32, copy=False)

    def _edge_faded(self, x: np.ndarray, a: int, b: int) -> np.ndarray:
        """``x`` (samples [a, b)) with the whole mix's click-free first and last EDGE_FADE seconds."""
        n = int(EDGE_FADE * self.rate)
        if n <= a and b <= self.timeline.frames - n:
            return x
        edge = self._fade_at(np.arange(a, b, dtype=np.float64), EDGE_FADE, EDGE_FADE)
        if edge is None:
            return x
        return x * (edge[:, None] if x.ndim == 2 else edge).astype(np.float32)

    def _foreground_chunks(self, size: int, start: int = 0, stop: int | None = None):
        frames = self.timeline.frames if stop is None else min(stop, self.timeline.frames)
        self._glide_phase = {}
        events, idx = self.events, 0
        while start and idx < len(events) and events[idx].start < start:
            if events[idx].end > start:
                break
            idx += 1
        active: list[tuple[Event, np.ndarray]] = []
        for a in range(start, frames, size):
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
            yield a, b, fg


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


def _fit_clip(data: np.ndarray, n: int) -> np.ndarray:
    out = np.array(data[:n], dtype=np.float32)
    k = min(len(out), int(0.02 * SAMPLE_RATE))
    if k and len(data) > n:
        out[-k:] *= np.linspace(1, 0, k, dtype=np.float32)
    return out

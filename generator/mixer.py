"""Places everything on the timeline, chunk by chunk, in numpy.

Only the events sounding in the current chunk are held: speech clips are
memory-mapped from disk and tones are synthesized when they start, so memory does
not grow with the practice's length. The output is identical however it is chunked.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Iterator

import numpy as np

from .audio import energy
from .audio.samples import SAMPLE_RATE
from .audio.sounds import glide_window
from .cues import Event, EventKind, GlideWindow, Sounding, Spoken, Tone
from .timeline import Timeline

CHUNK = 65536    # samples per mixed chunk (render streams the practice in these)
DUCK_DB = -10.0         # how far the bed dips under speech
DUCK_ATTACK = 0.35      # seconds: the bed starts dipping this long before the voice
DUCK_RELEASE = 1.2      # seconds: and comes back up over this long after it
BED_FADE_IN = 4.0
BED_FADE_OUT = 5.0
EDGE_FADE = 0.05        # the whole mix: click-free first and last samples
ENV_STEP = 32          # samples between computed points of the bed's gain envelope
TONE_CACHE = 6          # synthesized tones kept for reuse


def _raised(x: np.ndarray) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


class Mixer:
    """The mix of one timeline. Its events are fixed when it is made; every stream keeps its own
    state (the glides' oscillator phases), so one mixer may stream several times at once."""

    def __init__(self, timeline: Timeline, *, breath_cues: str = "glide", bell: str = "bowl",
                 cue_clips: dict | None = None, bed=None, bed_gain_db: float = -34.0, channels: int = 1,
                 rate: int = SAMPLE_RATE):
        self.timeline = timeline
        self.rate = rate
        self.channels = channels if bed is None else 2
        self.bed = bed
        self.bed_gain = 10 ** ((bed_gain_db + 20.0) / 20.0)   # beds are made at -20 dBFS RMS
        self._tones: OrderedDict = OrderedDict()
        self._tones_lock = threading.Lock()
        sounding = Sounding(breath_cues, bell, cue_clips or {}, rate)
        self.events = sorted((ev for e in timeline.entries for ev in e.kind.events(e, sounding)),
                             key=lambda e: e.start)
        self.speech_spans = sorted((e.start, e.end) for e in self.events if e.kind is EventKind.SPEECH)
        self._span_starts = np.array([s for s, _ in self.speech_spans], dtype=np.int64)
        self._span_ends = np.maximum.accumulate(np.array([e for _, e in self.speech_spans] or [0], dtype=np.int64))

    # ------------------------------------------------------------ events
    def _tone(self, tone: Tone) -> np.ndarray:
        with self._tones_lock:
            if tone.key in self._tones:
                self._tones.move_to_end(tone.key)
                return self._tones[tone.key]
        arr = np.asarray(tone.make(), dtype=np.float32)
        with self._tones_lock:
            self._tones[tone.key] = arr
            while len(self._tones) > TONE_CACHE:
                self._tones.popitem(last=False)
        return arr

    def _materialize(self, ev: Event, glide_phase: dict) -> np.ndarray:
        """The event's samples; ``glide_phase`` is the stream's (cue, window) -> oscillator phase."""
        sound = ev.sound
        if isinstance(sound, Spoken):
            return sound.samples()
        if isinstance(sound, GlideWindow):
            key = (sound.cue, sound.index)
            data, glide_phase[(sound.cue, sound.index + 1)] = glide_window(
                sound.phases, sound.offset, sound.length, glide_phase.pop(key, 0.0), self.rate)
            return data
        return self._tone(sound)

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
            sound = ev.sound
            if isinstance(sound, Spoken):
                prof = energy.clip_profile(sound.clip, ev.length if ev.length < sound.clip.frames else None)
            elif isinstance(sound, GlideWindow):
                # a window's energy does not depend on the oscillator phase it starts with
                key = ("glide", sound.phases, sound.offset, sound.length, self.rate)
                prof = energy.tone_profile(key, lambda s=sound: glide_window(s.phases, s.offset, s.length, 0.0,
                                                                               self.rate)[0])
            else:
                prof = energy.tone_profile((sound.key, self.rate), lambda s=sound: self._tone(s))
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
        glide_phase: dict = {}         # this stream's: (cue, window) -> the oscillator's phase
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
                active.append((ev, self._materialize(ev, glide_phase)))
                idx += 1
            still = []
            for ev, data in active:
                s, e = max(a, ev.start), min(b, ev.end, ev.start + len(data))
                if e > s:
                    fg[s - a:e - a] += data[s - ev.start:e - ev.start] * np.float32(ev.gain)
                if ev.end > b:
                    still.append((ev, data))
                elif isinstance(ev.sound, Spoken):
                    ev.sound.clip.release()     # (its pages; a later event of the same clip reads them again)
            active = still
            yield a, b, fg


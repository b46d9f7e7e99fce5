"""What every kind of timeline entry is asked for, and the events the mixer plays.

A kind (``speech``, ``pause``, ``breathe``, ``bell``, ``voice`` …: one module each in this
package) is a :class:`Kind` subclass registered with :func:`register`. It knows how to

- parse its cue (``[word args…]`` → a frozen :class:`Item`),
- time it (:meth:`Kind.size` before length fitting, :meth:`Kind.place` after: an :class:`Entry`),
- sound it (:meth:`Kind.events`: :class:`Event`\\ s whose sound is a :class:`Spoken` clip, a
  :class:`Tone` or a :class:`GlideWindow`; the mixer plays and meters those three, see
  :class:`EventKind`),
- describe it (:meth:`Kind.describe` for ``meditate plan``, :meth:`Kind.draw` for the SVG
  picture, :attr:`Kind.captioned` for the transcript).

The parser, the timeline, the mixer, ``plan``, the transcript and the picture ask the
registry; none of them names a kind.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, ClassVar

import numpy as np

from ..audio.samples import SAMPLE_RATE

if TYPE_CHECKING:
    from ..script.profiles import VoiceProfile
    from ..speech import Clip


class Item:
    """A parsed script item that a kind times and sounds (each kind's is a frozen dataclass)."""
    line: int


# ---------------------------------------------------------------- timing
@dataclass
class Slot:
    """One item with its duration decided (or to be decided by length fitting)."""
    item: Item
    seconds: float = 0.0
    low: float = 0.0
    high: float = 0.0
    step: float = 0.0       # > 0: sized in whole steps of this many seconds (low and high are whole numbers of them)
    cycles: int = 0         # ... and this many of them (breath cycles)
    voice: VoiceProfile | None = None
    clip: Clip | None = None


@dataclass(frozen=True)
class Sizing:
    """What sizing and placing need beyond the item: the practice's bell."""
    bell_seconds: float      # one strike, rung out (0: no bell)
    bell_spacing: float      # seconds between the strikes of [bell N]


@dataclass
class Entry:
    """One timed thing on the timeline (sample positions are absolute)."""
    kind: Kind
    start: int
    length: int
    line: int
    label: str
    item: Item | None = None
    clip: Clip | None = None                     # speech
    voice: VoiceProfile | None = None
    cycles: int = 0                              # breathe
    phases: list = field(default_factory=list)   # breathe: [(name, start_sample, n_samples)]
    strikes: list = field(default_factory=list)  # bell: start samples of each strike
    flexible: bool = False

    @property
    def end(self) -> int:
        return self.start + self.length

    def moved(self, by: int) -> "Entry":
        """The same entry ``by`` samples later (earlier if negative), with every absolute position it holds."""
        return replace(self, start=self.start + by, phases=[(n, s + by, k) for n, s, k in self.phases],
                       strikes=[s + by for s in self.strikes])


# ---------------------------------------------------------------- sounding
class EventKind(enum.Enum):
    """How the mixer makes and meters an event's samples."""
    SPEECH = "speech"    # a clip from the speech cache; the bed ducks under it
    TONE = "tone"        # synthesized once and shared by every event with an equal key
    GLIDE = "glide"      # one window of a continuous tone: its oscillator phase comes from the window before


@dataclass(frozen=True)
class Spoken:
    """A cached clip, whole (``fit`` None) or cut to ``fit`` samples with a 20 ms fade if that cuts it."""
    clip: Clip
    fit: int | None = None
    kind: ClassVar[EventKind] = EventKind.SPEECH

    def samples(self) -> np.ndarray:
        data = self.clip.load()
        if self.fit is None:
            return data
        out = np.array(data[:self.fit], dtype=np.float32)
        k = min(len(out), int(0.02 * SAMPLE_RATE))
        if k and len(data) > self.fit:
            out[-k:] *= np.linspace(1, 0, k, dtype=np.float32)
        return out


@dataclass(frozen=True)
class Tone:
    """A synthesized sound; ``key`` names it (equal keys share one array and one energy profile)."""
    key: tuple
    make: Callable[[], np.ndarray] = field(compare=False, repr=False)
    kind: ClassVar[EventKind] = EventKind.TONE


@dataclass(frozen=True)
class GlideWindow:
    """Samples ``[offset, offset + length)`` of the breath glide over ``phases`` of the cue at ``cue``
    (its start sample); window ``index`` continues the oscillator where window ``index - 1`` ended."""
    cue: int
    index: int
    phases: tuple[tuple[str, int], ...]
    offset: int
    length: int
    kind: ClassVar[EventKind] = EventKind.GLIDE


@dataclass(frozen=True)
class Event:
    start: int
    length: int
    gain: float
    sound: Spoken | Tone | GlideWindow

    @property
    def kind(self) -> EventKind:
        return self.sound.kind

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass(frozen=True)
class Sounding:
    """The practice's sound settings a kind's events depend on."""
    breath_cues: str
    bell: str
    cue_clips: dict        # (voice name, phase) -> Clip: the spoken breath cues
    rate: int


# ---------------------------------------------------------------- kinds
class Kind:
    """One kind of timeline entry. Subclasses set the class attributes and override what they do."""
    name: ClassVar[str]                 # "bell": what ``meditate plan`` and the tests call it
    word: ClassVar[str | None] = None   # the cue's [word]; None: not written as a cue (speech)
    usage: ClassVar[str] = ""           # how the cue list names it: "[bell …]"
    item: ClassVar[type]                # its Item class
    timed: ClassVar[bool] = True        # False: takes no time and makes no entry ([voice …])
    captioned: ClassVar[bool] = False   # its label is a transcript cue

    def parse(self, args: list[str], line: int) -> Item:
        """The item ``[word args…]`` at ``line`` writes; a ValueError says what is wrong."""
        raise NotImplementedError

    def size(self, slot: Slot, sizing: Sizing) -> None:
        """Set ``slot.low``, ``slot.high`` and ``slot.seconds`` (equal unless length fitting sizes it)."""

    def place(self, slot: Slot, t: float, start: int, end: int, sizing: Sizing) -> Entry | None:
        """The entry for ``slot`` fitted to start at ``t`` seconds (samples ``[start, end)``), or None."""
        return None

    def events(self, entry: Entry, sounding: Sounding) -> list[Event]:
        return []

    def describe(self, entry: Entry) -> str:
        """The ``what`` column of ``meditate plan``."""
        return entry.label

    def draw(self, pen, entry: Entry) -> None:
        """Draw ``entry`` on the timeline picture (``pen``: output.timeline_svg.Pen)."""

    def __repr__(self) -> str:
        return f"<kind {self.name}>"


KINDS: dict[str, Kind] = {}


def register(cls: type[Kind]) -> type[Kind]:
    """Class decorator: make ``cls`` a known kind."""
    if cls.name in KINDS:
        raise ValueError(f"two kinds named {cls.name!r}")
    KINDS[cls.name] = cls()
    return cls


def by_word(word: str) -> Kind | None:
    return next((k for k in KINDS.values() if k.word == word), None)


def of(item: Item) -> Kind:
    """The kind of a parsed item."""
    return next(k for k in KINDS.values() if isinstance(item, k.item))


def cue_words() -> list[str]:
    return sorted(k.word for k in KINDS.values() if k.word)


def listing() -> str:
    """The cues, as an error message lists them: "[bell …], [breathe …] and [voice …]"."""
    names = [by_word(w).usage for w in cue_words()]
    return ", ".join(names[:-1]) + " and " + names[-1]

"""Spoken clips: synthesized once, trimmed, resampled to 44.1 kHz and kept on disk.

Clips live as ``.npy`` files so the mixer can memory-map them one at a time: the
practice's speech never has to sit in memory at once. With a cache folder the
files persist (keyed by text, engine, voice and settings), so re-rendering after
editing one line, or for another name, only synthesizes what changed. An engine that
can speak several clips at once (its ``concurrency``) is given the missing ones from a
few threads (SpeechStore.clips): the files are the same, whichever way they were made.
"""
from __future__ import annotations

import hashlib
import itertools
import mmap
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .audio.master import Limiter
from .audio.samples import SAMPLE_RATE, Audio, fade_edges
from .cache import speech_dir
from .engines import get_engine
from .errors import EngineError
from .files import save_npy_atomic
from .interrupt import result_of
from .script.profiles import VoiceProfile

CACHE_VERSION = "2"
SPEECH_RMS_DBFS = -20.0     # every clip is levelled to this, times the profile's volume
TRIM_DB = -45.0             # below this (relative to the clip's peak) counts as silence
EDGE_PAD = 0.04             # seconds of room kept before and after the voice
SPEECH_CREST_DB = 11.0      # true peaks held this far above the clip's RMS: a speech-friendly ceiling
                            # that keeps the master limiter (and its loudness loss) out of the way


@dataclass(frozen=True)
class Clip:
    path: Path
    frames: int
    text: str
    # makes the clip again if its file is gone (`meditate cache clear` while a render runs)
    remake: Callable[[], "Clip"] | None = field(default=None, repr=False, compare=False)
    _mapped: list = field(default_factory=lambda: [None], repr=False, compare=False)

    @property
    def duration(self) -> float:
        return self.frames / SAMPLE_RATE

    def load(self) -> np.ndarray:
        """The samples, memory-mapped on first use and kept mapped: a render maps all its clips
        before mixing (render.pin_clips), after which clearing the cache cannot reach them."""
        if self._mapped[0] is None:
            try:
                self._mapped[0] = np.load(self.path, mmap_mode="r")
            except FileNotFoundError:
                if self.remake is None:
                    raise
                again = self.remake()
                if again.frames != self.frames:
                    raise EngineError(f'the speech cache was cleared during the render and "{self.text[:40]}" '
                                      f"came out different when spoken again; render again")
                self._mapped[0] = np.load(again.path, mmap_mode="r")
        return self._mapped[0]

    def release(self) -> None:
        """Give back the pages of the samples read so far (they stay mapped, and are read from the
        file again if used again). Every page of every clip read stayed in the renderer's memory
        otherwise: a 60-minute render ended at 277 MB of clip pages beside 124 MB of its own."""
        mapping = getattr(self._mapped[0], "base", None)      # np.load's memory map sits on an mmap
        if isinstance(mapping, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
            mapping.madvise(mmap.MADV_DONTNEED)


def clip_key(text: str, profile: VoiceProfile) -> str:
    h = hashlib.sha256(repr((CACHE_VERSION, text, profile.key())).encode("utf-8")).hexdigest()
    return h[:40]


def finish_clip(audio: Audio, volume: float = 1.0) -> np.ndarray:
    """Trim engine silence, resample to 44.1 kHz, level, ramp the edges."""
    x = audio.mono().samples
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0:
        thr = peak * 10 ** (TRIM_DB / 20)
        loud = np.flatnonzero(np.abs(x) > thr)
        pad = int(EDGE_PAD * audio.sample_rate)
        a, b = max(0, loud[0] - pad), min(x.size, loud[-1] + 1 + pad)
        x = x[a:b]
    y = Audio(x, audio.sample_rate).resampled(SAMPLE_RATE).samples
    if y.size:
        level = np.sqrt(np.mean(y.astype(np.float64) ** 2))
        if level > 0:
            y = y * (10 ** (SPEECH_RMS_DBFS / 20) * volume / level)
            y = _limit(y, SPEECH_RMS_DBFS + 20 * np.log10(volume) + SPEECH_CREST_DB)
        y = np.clip(y, -0.98, 0.98)
    return fade_edges(y.astype(np.float32), SAMPLE_RATE, ms=8.0)


def _limit(y: np.ndarray, ceiling_dbtp: float) -> np.ndarray:
    lim = Limiter(SAMPLE_RATE, 1, ceiling_dbtp=min(ceiling_dbtp, -1.0), release_ms=120.0)
    out = np.empty_like(y)
    pos = 0
    for a in range(0, y.shape[0], 65536):          # in slices: a long paragraph stays small in memory
        part = lim.process(y[a:a + 65536])
        out[pos:pos + part.shape[0]] = part
        pos += part.shape[0]
    tail = lim.flush()
    out[pos:pos + tail.shape[0]] = tail
    return out


class SpeechStore:
    """Gets clips, from the disk cache when it can, else from the engine."""

    def __init__(self, use_cache: bool = True, engine_override: str | None = None):
        self.use_cache = use_cache
        self.engine_override = engine_override or os.environ.get("MEDITATE_ENGINE") or None
        if use_cache:
            self.root = speech_dir()
            self._tmp = None
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="meditate-speech-")
            self.root = Path(self._tmp.name)
        self.synthesized = 0
        self.reused = 0

    def engine_for(self, profile: VoiceProfile):
        return get_engine(self.engine_override or profile.engine)

    def effective(self, profile: VoiceProfile) -> VoiceProfile:
        if self.engine_override and self.engine_override != profile.engine:
            return replace(profile, engine=self.engine_override)
        return profile

    def clip(self, text: str, profile: VoiceProfile) -> Clip:
        profile = self.effective(profile)
        path = self._path(text, profile)
        if path.exists():
            try:
                arr = np.load(path, mmap_mode="r")
                self.reused += 1
                return Clip(path, int(arr.shape[0]), text, lambda: self.clip(text, profile), [arr])
            except (ValueError, OSError):
                path.unlink(missing_ok=True)   # a damaged cache entry is made again
        clip = self._keep(path, text, profile, self.engine_for(profile).synthesize(text, profile))
        self.synthesized += 1
        return clip

    def clips(self, wanted: Iterable[tuple[str, VoiceProfile]]) -> Iterator[Clip]:
        """The clip of each (text, profile) of ``wanted``, in order, as :meth:`clip` gives it (and
        counted the same). The engine speaks those missing from the cache a few clips ahead, on
        as many threads as it takes requests at once (its ``concurrency``), while this thread
        finishes and stores each in turn (that work holds the GIL much of the time, and threads
        doing it would each keep a malloc arena: +40 MB on a 60-minute practice). A failure is
        raised at its clip's turn, so the first in order is the one raised. Then, or interrupted,
        it starts no more and waits for none (EspeakEngine.close ends the requests in flight)."""
        wanted = [(text, self.effective(profile)) for text, profile in wanted]
        paths = [self._path(text, profile) for text, profile in wanted]
        ahead: dict[Path, tuple[str, VoiceProfile]] = {}     # missing clips an engine speaks in parallel
        width = 1
        for (text, profile), path in zip(wanted, paths):
            n = 1 if path in ahead or path.exists() else self._concurrency(profile)
            if n > 1:
                ahead[path] = (text, profile)
                width = max(width, n)
        queue = iter(ahead.items())
        pool = ThreadPoolExecutor(width, "meditate-speak") if ahead else None
        futures: dict = {}           # path -> the engine's Audio, asked for and not yet stored
        try:
            for (text, profile), path in zip(wanted, paths):
                # 2 x width ahead: every worker busy while this thread finishes, and little held
                for later, (words, voice) in itertools.islice(queue, 2 * width - len(futures)):
                    futures[later] = pool.submit(self.engine_for(voice).synthesize, words, voice)
                fut = futures.pop(path, None)
                if fut is None:         # cached, a repeat of an earlier clip, or a serial engine's
                    yield self.clip(text, profile)
                    continue
                clip = self._keep(path, text, profile, result_of(fut))
                self.synthesized += 1
                yield clip
        finally:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)

    def _concurrency(self, profile: VoiceProfile) -> int:
        """How many clips ``profile``'s engine speaks at once (1 when it cannot be had: its error then
        comes with the clip, at the clip's turn)."""
        try:
            return self.engine_for(profile).concurrency
        except EngineError:
            return 1

    def _path(self, text: str, profile: VoiceProfile) -> Path:
        key = clip_key(text, profile)
        return self.root / key[:2] / f"{key}.npy"

    def _keep(self, path: Path, text: str, profile: VoiceProfile, audio: Audio) -> Clip:
        """``audio``, the engine's, finished and stored as the clip of ``text`` at ``path``."""
        samples = finish_clip(audio, profile.volume)
        save_npy_atomic(path, samples)
        return Clip(path, int(samples.shape[0]), text, lambda: self.clip(text, profile))

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

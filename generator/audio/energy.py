"""The foreground's loudness from per-sound energy profiles, without mixing it.

Loudness normalization needs the K-weighted energy of every 100 ms segment of
the voice, cues and bells (normalize.analyse). Mixing and K-filtering the whole
foreground for that was most of a warm render's time before encoding could
start. Instead every sound gets an energy profile, the K-weighted sum of
squares of each BLOCK samples (filtered from silence, plus the filter's
ringing), and a practice's segment energies are the profiles laid on the
timeline (energies of separate sounds add; where two overlap, their cross term
is left out, as it averages out). Speech profiles sit beside the clips in the
speech cache, so a warm render reads them; tones are profiled once per process.
The encoding pass still measures the finished mix, so a prediction that is off
is caught and mixed again.
"""
from __future__ import annotations

import logging
import threading
from functools import lru_cache

import numpy as np

from .samples import SAMPLE_RATE
from .dsp import sosfilt
from .loudness import k_weighting_sos
from ..cache import profile_path
from ..files import save_npy_atomic

BLOCK = 64            # samples per profile value (a segment is 4410 samples at 44.1 kHz)
RING = 0.25           # seconds of filter ringing kept after a sound ends
TONES_KEPT = 64       # tone profiles kept per process (all are dropped when it fills: a new practice's)
log = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _sos(rate: int) -> np.ndarray:
    return k_weighting_sos(rate)


def profile(x: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """K-weighted energy of mono ``x`` per BLOCK samples, from silence, ringing included (float32)."""
    x = np.asarray(x)
    n = x.shape[0] + int(RING * rate)
    nb = -(-n // BLOCK)
    y = np.zeros((1, nb * BLOCK))
    y[0, :x.shape[0]] = x
    sosfilt(_sos(rate), y, np.zeros((1, 2, 2)))
    y *= y
    return y[0].reshape(nb, BLOCK).sum(axis=1).astype(np.float32)


def clip_profile(clip, limit: int | None = None) -> np.ndarray:
    """The profile of a cached :class:`~generator.speech.Clip` (made and stored beside its file
    on first use); ``limit``: of its first ``limit`` samples only."""
    side = profile_path(clip.path)
    prof = None
    if limit is None and side.exists():
        try:
            prof = np.load(side)
        except (ValueError, OSError) as e:
            log.info("energy profile %s unreadable (%s): profiling the clip again", side.name, e)
            prof = None
    if prof is None:
        data = clip.load()
        prof = profile(data if limit is None else data[:limit])
        clip.release()
        if limit is None:
            try:
                save_npy_atomic(side, prof)
            except OSError as e:
                log.info("energy profile not stored (%s): a read-only cache works, just slower", e)
    return prof


def lay(seg: np.ndarray, prof: np.ndarray, start: int, gain2: float, segment: int) -> None:
    """Add ``gain2`` times the profile of a sound starting at sample ``start`` into the segment
    energies ``seg`` (segment k covers ``[k * segment, (k + 1) * segment)``); energy inside a
    block is taken as spread evenly over it."""
    if prof.size == 0 or gain2 == 0.0:
        return
    end = start + prof.size * BLOCK
    k0, k1 = start // segment, min(-(-end // segment), seg.size)
    if k1 <= k0:
        return
    cum = np.concatenate(([0.0], np.cumsum(prof, dtype=np.float64)))
    edges = np.arange(k0, k1 + 1, dtype=np.float64) * segment
    at = np.interp(edges, start + BLOCK * np.arange(cum.size, dtype=np.float64), cum)
    seg[k0:k1] += gain2 * np.diff(at)


def tone_profile(key, make) -> np.ndarray:
    """The profile of a synthesized tone (``make()``), kept per process by its mixer key (read-only).

    Safe from several threads: two that miss the same key at once both compute it (the same
    numbers) and the first one stored is kept."""
    with _TONES_LOCK:
        prof = _TONES.get(key)
    if prof is None:
        prof = profile(make())
        prof.flags.writeable = False
        with _TONES_LOCK:
            if key not in _TONES and len(_TONES) > TONES_KEPT:
                _TONES.clear()
            prof = _TONES.setdefault(key, prof)
    return prof


_TONES: dict = {}       # key -> profile: a process-wide cache, read and written under _TONES_LOCK
_TONES_LOCK = threading.Lock()

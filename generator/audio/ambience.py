"""Ambience beds under the practice: procedural noises and tones, or a looped user file.

A :class:`Bed` renders stereo float32 for absolute sample positions, chunk by
chunk, so a 60-minute bed never has to be in memory at once::

    bed = make_bed("pink", seed=3)
    for start in range(0, total, 44100):
        chunk = bed.render(start, min(44100, total - start))   # (n, 2)

Level: every bed is normalized so its long-term RMS is -20 dBFS (0.1) per
channel; the caller scales it to ``ambience_level``.

Chunking: procedural beds are computed in fixed blocks of :data:`BLOCK`
samples, and block ``k`` is a pure function of the seed and ``k``; so the
output is bit-for-bit identical whatever the chunking and random access is
cheap. (:class:`BlockBed` can also carry state from block to block.)

Noise (white, pink, brown, ocean) is read from shaped noise *tiles* instead of
being filtered sample by sample: a tile is 2**21 samples (47.6 s) of Gaussian
noise drawn directly in the frequency domain with the target power spectrum
(1/f for pink, the leaky integrator's response for brown, ...), so it is
circular (no seam when read with wrap-around) and costs one inverse FFT to
build. Tiles are built lazily, once per process, and shared between beds.
Reading is *granular*, so nothing audibly loops: block ``k`` is a grain cut
from a random slot of a tile, each 32-grain cycle visits the tile's 32 slots in
a random order with a random rotation, and grains are joined by an
equal-power crossfade (uncorrelated noise keeps its level through it). Each
kind has two tiles and the channels read different ones (decorrelated),
swapping every cycle, so a stretch of noise comes back in the same channel no
sooner than a cycle later (~48 s) and then in a different order and context.
"""
from __future__ import annotations

import functools
import logging
import math
import subprocess
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .samples import SAMPLE_RATE
from ..cache import beds_dir
from ..errors import AudioError
from ..files import save_npy_atomic
from ..ffmpeg import ffmpeg_exe
from ..script.parse import AMBIENCE_FILE_EXTS, AMBIENCES, ambience_file

log = logging.getLogger(__name__)
TARGET_RMS = 0.1  # -20 dBFS per channel, before the caller's gain
BLOCK = 65536  # samples per procedural block (~1.5 s at 44.1 kHz)


class Bed(ABC):
    """A stereo ambience bed: ``render(start, n)`` -> (n, 2) float32 at ``rate``."""

    rate: int = SAMPLE_RATE

    @abstractmethod
    def render(self, start: int, n: int) -> np.ndarray:
        """Samples for absolute positions [start, start + n), shape (n, 2), float32."""


def _check_span(start: int, n: int) -> tuple:
    if int(start) != start or int(n) != n or start < 0 or n < 0:
        raise ValueError(f"render needs whole start >= 0 and n >= 0, got start={start!r} n={n!r}")
    return int(start), int(n)


class BlockBed(Bed):
    """A procedural bed computed in blocks of BLOCK samples (see the module notes).

    Subclasses implement ``_block(k, state) -> (samples (BLOCK, 2) float32, next_state)``
    and optionally ``_initial_state()``; stateless beds set ``stateful = False``.
    """

    stateful = True

    def __init__(self, rate: int = SAMPLE_RATE, seed: int = 0):
        self.rate = int(rate)
        self.seed = int(seed)
        self._states: list = []  # state at the start of block k, for k < len(_states)
        self._cache_k: Optional[int] = None
        self._cache: Optional[np.ndarray] = None

    def _initial_state(self):
        return None

    @abstractmethod
    def _block(self, k: int, state):
        ...

    def _rng(self, salt: int, k: int) -> np.random.Generator:
        return np.random.default_rng([self.seed & 0xFFFFFFFF, salt, k])

    def _get_block(self, k: int) -> np.ndarray:
        if self._cache_k == k:
            return self._cache
        if not self.stateful:
            data, _ = self._block(k, None)
        else:
            if not self._states:
                self._states.append(self._initial_state())
            while len(self._states) <= k:  # walk forward from the last known state
                j = len(self._states) - 1
                data, nxt = self._block(j, self._states[j])
                self._states.append(nxt)
                self._cache_k, self._cache = j, data
            if self._cache_k == k:
                return self._cache
            data, nxt = self._block(k, self._states[k])
            if len(self._states) == k + 1:
                self._states.append(nxt)
        self._cache_k, self._cache = k, data
        return data

    def render(self, start: int, n: int) -> np.ndarray:
        start, n = _check_span(start, n)
        out = np.empty((n, 2), dtype=np.float32)
        pos = start
        while pos < start + n:
            k, off = divmod(pos, BLOCK)
            m = min(BLOCK - off, start + n - pos)
            out[pos - start:pos - start + m] = self._get_block(k)[off:off + m]
            pos += m
        return out


# ---------------------------------------------------------------- noise tiles and grains

TILE_LEN = 1 << 21  # samples per noise tile (47.6 s at 44.1 kHz)
GRAINS = TILE_LEN // BLOCK  # grains (= blocks) per cycle: one pass over a tile
XFADE = 4096  # equal-power crossfade between grains, centred on the block boundary
TILE_CACHE_MAX = 8  # tiles kept per process (8 MB each): ocean (4) plus a noise pair or two

_u = (np.arange(XFADE) + 0.5) / XFADE
_FADE_IN = np.sin(0.5 * np.pi * _u).astype(np.float32)
_FADE_OUT = np.cos(0.5 * np.pi * _u).astype(np.float32)
del _u

# tile spectra, and the rng salts of the tiles (per spectrum) and of the grain schedules (per bed)
_TILE_SALT = {"white": 111, "pink": 112, "brown": 113, "ocean-body": 121, "ocean-wash": 122}
_PINK_HP = 10.0  # Hz: pink rolls off below (2nd-order Butterworth magnitude) instead of growing to DC
_BROWN_CORNER, _DC_BLOCK = 8.0, 2.0  # Hz: leaky integrator corner, DC blocker
_OCEAN_BODY, _OCEAN_WASH = 350.0, 3000.0  # Hz: one-pole lowpasses splitting ocean's pink


def _pole(hz: float, rate: int) -> float:
    return math.exp(-2 * math.pi * hz / rate)


def _power_response(kind: str, rate: int, lo: int, hi: int) -> np.ndarray:
    """|H|^2 of ``kind`` at the tile's rfft bins lo..hi-1 (float32; the DC bin is 0).

    One-pole filters are evaluated exactly at z = exp(jw), written with
    s = sin^2(w / 2) so nothing cancels near DC: |1 - p z^-1|^2 = (1 - p)^2 + 4 p s.
    """
    k = np.arange(lo, hi, dtype=np.float32)
    if kind == "white":
        p = np.ones(k.size, dtype=np.float32)
    else:
        s = np.sin(k * np.float32(math.pi / TILE_LEN))
        s *= s

        def one_pole(hz):  # |1 - p z^-1|^2
            p = _pole(hz, rate)
            return np.float32((1 - p) ** 2) + np.float32(4 * p) * s

        if kind == "brown":  # (1 - z^-1) / ((1 - p8 z^-1)(1 - p2 z^-1))
            p = 4 * s / (one_pole(_BROWN_CORNER) * one_pole(_DC_BLOCK))
        else:  # pink: 1/f, times |HP|^2 = f^4 / (f^4 + fh^4)
            f = k * np.float32(rate / TILE_LEN)
            f2 = f * f
            p = f2 * f / (f2 * f2 + np.float32(_PINK_HP ** 4))
            if kind == "ocean-body":  # times the one-pole lowpass (1 - a) / (1 - a z^-1)
                a = _pole(_OCEAN_BODY, rate)
                p *= np.float32((1 - a) ** 2) / one_pole(_OCEAN_BODY)
            elif kind == "ocean-wash":  # times (1 - that lowpass) = a (1 - z^-1) / (1 - a z^-1), lowpassed at 3 kHz
                a, b = _pole(_OCEAN_BODY, rate), _pole(_OCEAN_WASH, rate)
                p *= np.float32(4 * a * a) * s / one_pole(_OCEAN_BODY)
                p *= np.float32((1 - b) ** 2) / one_pole(_OCEAN_WASH)
            elif kind != "pink":
                raise ValueError(f"unknown noise tile {kind!r}")
    if lo == 0:
        p[0] = 0.0
    return p


_BINS = TILE_LEN // 2 + 1
_CHUNK = 1 << 16  # bins per step when computing responses (small temporaries)


def _power_of(p: np.ndarray, lo: int) -> float:
    """This chunk's share of the variance of irfft(X * sqrt(p)) for unit complex Gaussian X,
    times TILE_LEN^2 (each bin counts twice, but the Nyquist bin is real)."""
    total = 4.0 * float(np.sum(p, dtype=np.float64))
    if lo + p.size == _BINS:
        total -= 3.0 * float(p[-1])
    return total


@functools.lru_cache(maxsize=None)
def tile_power(kind: str, rate: int) -> float:
    """The power a tile of ``kind`` has before its normalization (only ratios between kinds matter)."""
    return sum(_power_of(_power_response(kind, rate, lo, min(lo + _CHUNK, _BINS)), lo)
               for lo in range(0, _BINS, _CHUNK))


def _build_tile(kind: str, seed: int, index: int, rate: int) -> np.ndarray:
    """Gaussian noise of TILE_LEN samples with power spectrum |H|^2 of ``kind``, unit RMS,
    float32, circular: spectrum coefficients drawn at the rfft bins, so no seam at the wrap."""
    spec = np.empty(_BINS, dtype=np.complex64)
    rng = np.random.default_rng([seed & 0xFFFFFFFF, _TILE_SALT[kind], index])
    rng.standard_normal(dtype=np.float32, out=spec.view(np.float32))
    for lo in range(0, _BINS, _CHUNK):
        hi = min(lo + _CHUNK, _BINS)
        spec[lo:hi] *= np.sqrt(_power_response(kind, rate, lo, hi))
    spec[-1] = spec[-1].real  # Nyquist real (DC is already 0)
    x = np.fft.irfft(spec, TILE_LEN)
    del spec
    ms = 0.0
    for i in range(0, TILE_LEN, _CHUNK):  # float64 sum: unit RMS exactly (and no BLAS: see TonalBed)
        c = x[i:i + _CHUNK].astype(np.float64)
        c *= c
        ms += float(c.sum())
    x *= np.float32(1.0 / math.sqrt(ms / TILE_LEN))
    return x.astype(np.float32, copy=False)


TILE_VERSION = "1"  # part of the on-disk name: change it whenever tile synthesis changes


def _tile_file(kind: str, seed: int, index: int, rate: int) -> Path:
    return beds_dir() / f"{kind}-s{seed}-t{index}-{rate}-n{TILE_LEN}-v{TILE_VERSION}.npy"


class TileCache:
    """Noise tiles, built once, kept on disk in the cache folder and in memory, then shared.

    Memory keeps the ``size`` most recently used tiles (beds hold on to the tiles they use,
    so a live bed never reloads one); the folder keeps them for the next process (memory-mapped:
    processes share the pages). ``builds`` counts the tiles this cache built rather than loaded.
    Safe from several threads.
    """

    def __init__(self, size: int = TILE_CACHE_MAX):
        self.size = int(size)
        self.builds = 0
        self._tiles: "OrderedDict[tuple, np.ndarray]" = OrderedDict()   # (kind, seed, index, rate) -> tile, LRU
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._tiles)

    def get(self, kind: str, seed: int, index: int, rate: int) -> np.ndarray:
        """Tile ``index`` (0 or 1) of ``kind`` for ``seed``, read-only."""
        key = (kind, int(seed), int(index), int(rate))
        with self._lock:
            tile = self._tiles.get(key)
            if tile is None:
                tile = self._load_or_build(*key)
                if tile.flags.writeable:
                    tile.flags.writeable = False
                self._tiles[key] = tile
                while len(self._tiles) > self.size:
                    self._tiles.popitem(last=False)
            else:
                self._tiles.move_to_end(key)
            return tile

    def _load_or_build(self, kind: str, seed: int, index: int, rate: int) -> np.ndarray:
        """The tile from the folder, else built and stored there for the next render (best effort:
        a read-only cache only costs time)."""
        path = _tile_file(kind, seed, index, rate)
        try:
            tile = np.load(path, mmap_mode="r")
            if tile.shape == (TILE_LEN,) and tile.dtype == np.float32:
                return tile
            log.info("noise tile %s has the wrong shape: building it again", path.name)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as e:
            log.info("noise tile %s unreadable (%s): building it again", path.name, e)
        tile = _build_tile(kind, seed, index, rate)
        self.builds += 1
        log.info("built noise tile %s", path.name)
        try:
            save_npy_atomic(path, tile)
        except OSError as e:
            log.info("noise tile %s not stored (%s): the next render builds it again", path.name, e)
        return tile


TILES = TileCache()     # the process's (a test may put a fresh one in its place: a new process)


def noise_tile(kind: str, seed: int, index: int, rate: int) -> np.ndarray:
    """Tile ``index`` (0 or 1) of ``kind`` for ``seed`` from :data:`TILES`."""
    return TILES.get(kind, seed, index, rate)


def _read(tile: np.ndarray, start: int, out: np.ndarray, gain: float) -> None:
    """out[:] = gain * tile[start : start + len(out)], read circularly."""
    n = out.shape[0]
    start %= TILE_LEN
    m = min(n, TILE_LEN - start)
    np.multiply(tile[start:start + m], np.float32(gain), out=out[:m])
    if m < n:
        np.multiply(tile[:n - m], np.float32(gain), out=out[m:])


class _Grains:
    """Where grain ``k`` (block ``k``, plus XFADE / 2 either side) reads: a pure function of (seed, salt, k).

    Cycle ``c = k // GRAINS`` reads tile ``c % 2`` on the left and ``(c + 1) % 2``
    on the right (backwards); its grains take the tile's GRAINS slots in a random
    order, all shifted by a random rotation.
    """

    def __init__(self, seed: int, salt: int):
        self._key = [seed & 0xFFFFFFFF, salt]
        self._cycles: dict = {}

    def _cycle(self, c: int) -> tuple:
        got = self._cycles.get(c)
        if got is None:
            rng = np.random.default_rng(self._key + [c])
            slots = rng.permutation(GRAINS)
            rot = int(rng.integers(0, TILE_LEN))
            got = (slots.tolist(), ((slots * BLOCK + rot) % TILE_LEN).tolist())
            if len(self._cycles) >= 8:
                self._cycles.clear()
            self._cycles[c] = got
        return got

    def offset(self, k: int) -> int:
        """Tile position of block ``k``'s first sample in grain ``k``."""
        c, i = divmod(k, GRAINS)
        return self._cycle(c)[1][i]

    @staticmethod
    def tile(k: int, channel: int) -> int:
        return (k // GRAINS + channel) % 2

    def joined(self, k: int) -> bool:
        """Grain ``k`` reads on exactly where grain ``k - 1`` ends (same tile, next slot):
        no crossfade there (an equal-power fade of a signal with itself would swell 3 dB)."""
        c, i = divmod(k, GRAINS)
        if k <= 0 or i == 0:
            return False
        slots = self._cycle(c)[0]
        return (slots[i] - slots[i - 1]) % GRAINS == 1


class _TiledNoise(BlockBed):
    """Noise read in grains from shared circular tiles (see the module notes)."""

    stateful = False

    def __init__(self, rate: int, seed: int, salt: int):
        super().__init__(rate, seed)
        self.grains = _Grains(self.seed, salt)   # the grain order: which grain plays where, and where one reads on from the last
        self._held: dict = {}  # kind -> (tile 0, tile 1), fetched on first use
        # per-bed scratch: fresh 256 KB arrays every block can make malloc return memory
        # to the system and fault it back in (~100 page faults per block)
        self._scratch = np.empty((2, BLOCK), dtype=np.float32)

    def _tile_pair(self, kind: str) -> tuple:
        pair = self._held.get(kind)
        if pair is None:
            pair = self._held[kind] = tuple(noise_tile(kind, self.seed, i, self.rate) for i in (0, 1))
        return pair

    def _noise(self, kind: str, k: int, channel: int, gain: float, out: np.ndarray) -> None:
        """out (BLOCK,) = gain * noise ``kind`` of ``channel`` over block ``k``: grain k,
        crossfaded into grain k - 1 over its first XFADE / 2 samples and into grain k + 1 over its last."""
        tiles, g, h = self._tile_pair(kind), self.grains, XFADE // 2
        if channel:
            # the right channel reads its tiles backwards: the left reads the same tile in the
            # next cycle, and a stretch replayed reversed is a different sound (not an echo)
            tiles = tuple(t[::-1] for t in tiles)
        _read(tiles[g.tile(k, channel)], g.offset(k), out, gain)
        tmp = np.empty(h, dtype=np.float32)
        if k > 0 and not g.joined(k):
            _read(tiles[g.tile(k - 1, channel)], g.offset(k - 1) + BLOCK, tmp, gain)
            tmp *= _FADE_OUT[h:]
            out[:h] *= _FADE_IN[h:]
            out[:h] += tmp
        if not g.joined(k + 1):
            _read(tiles[g.tile(k + 1, channel)], g.offset(k + 1) - h, tmp, gain)
            tmp *= _FADE_IN[:h]
            out[BLOCK - h:] *= _FADE_OUT[:h]
            out[BLOCK - h:] += tmp


class NoiseBed(_TiledNoise):
    """White, pink or brown noise from two shared tiles; the channels read different tiles (decorrelated)."""

    _SALT = {"white": 11, "pink": 12, "brown": 13}

    def __init__(self, color: str, rate: int = SAMPLE_RATE, seed: int = 0):
        if color not in self._SALT:
            raise ValueError(f"unknown noise colour {color!r}")
        super().__init__(rate, seed, self._SALT[color])
        self.color = color
        self._gain = TARGET_RMS  # tiles have unit RMS, and grain joins keep the power

    def _block(self, k, state):
        out = np.empty((BLOCK, 2), dtype=np.float32)
        buf = self._scratch[0]
        for c in range(2):
            self._noise(self.color, k, c, self._gain, buf)
            out[:, c] = buf  # computing contiguous and interleaving once is cheapest
        return out, None


class OceanBed(_TiledNoise):
    """Waves: pink-ish noise swelling and washing with irregular 8-14 s periods.

    A wave train (random period 8-14 s and height per wave, from the seed) makes a
    smooth swell envelope ``e(t)``: each wave rises in 40 % of its period and
    washes out over the next 90 %, overlapping the next one. The sound is a
    low "body" (pink lowpassed at 350 Hz) following the swell gently plus a
    brighter "wash" (pink above 350 Hz, lowpassed at 3 kHz) that follows it
    strongly; body and wash are independent tiled noises. The right channel
    hears the swell 0.3 s later, with its own noise.
    """

    _SALT = 21
    _WAVE_CHUNK = 256
    _PMIN, _PMAX = 8.0, 14.0
    _RISE, _FALL = 0.4, 0.9
    _DELAY = (0.0, 0.3)
    _STEP = 1024  # the swell is slow (rises >= 3.2 s): evaluated every 1024 samples, interpolated
    _SPAN = 64  # blocks whose coarse swell is computed at once (one vectorized pass, ~95 s)

    def __init__(self, rate: int = SAMPLE_RATE, seed: int = 0):
        super().__init__(rate, seed, self._SALT)
        # body and wash RMS relative to unit-RMS pink (the split of pink's power)
        pink = tile_power("pink", self.rate)
        self._levels = (math.sqrt(tile_power("ocean-body", self.rate) / pink),
                        math.sqrt(tile_power("ocean-wash", self.rate) / pink))
        self._starts = np.zeros(0)
        self._periods = np.zeros(0)
        self._heights = np.zeros(0)
        self._extend_waves(0.0)
        self._gain = TARGET_RMS / math.sqrt(self._mean_square())
        self._ramp = (np.arange(self._STEP) / self._STEP).astype(np.float32)
        self._coarse: dict = {}  # channel -> (span index, coarse swell over that span)

    # --- the wave train
    def _extend_waves(self, until: float) -> None:
        while self._starts.size == 0 or self._starts[-1] < until + 2 * self._PMAX:
            j = self._starts.size // self._WAVE_CHUNK
            rng = self._rng(self._SALT + 1, j)
            per = rng.uniform(self._PMIN, self._PMAX, self._WAVE_CHUNK)
            hgt = rng.uniform(0.5, 1.0, self._WAVE_CHUNK)
            t0 = -6.0 if self._starts.size == 0 else self._starts[-1] + self._periods[-1]
            starts = t0 + np.concatenate(([0.0], np.cumsum(per[:-1])))
            self._starts = np.concatenate((self._starts, starts))
            self._periods = np.concatenate((self._periods, per))
            self._heights = np.concatenate((self._heights, hgt))

    def swell(self, t: np.ndarray) -> np.ndarray:
        """The swell envelope at times ``t`` (seconds, sorted), roughly 0.1..1.3."""
        t = np.asarray(t, dtype=float)
        self._extend_waves(float(t[-1]) if t.size else 0.0)
        span = (self._RISE + self._FALL) * self._PMAX
        lo = np.searchsorted(self._starts, t[0] - span) if t.size else 0
        hi = np.searchsorted(self._starts, t[-1], side="right") if t.size else 0
        e = np.full(t.shape, 0.1)
        for i in range(max(lo - 1, 0), hi):
            s, p, h = self._starts[i], self._periods[i], self._heights[i]
            a = np.searchsorted(t, s)
            b = np.searchsorted(t, s + (self._RISE + self._FALL) * p)
            if a >= b:
                continue
            u = (t[a:b] - s) / p
            rise = u < self._RISE
            e[a:b] += h * np.where(rise, 0.5 - 0.5 * np.cos(np.pi * u / self._RISE),
                                   0.5 + 0.5 * np.cos(np.pi * (u - self._RISE) / self._FALL))
        return e

    @staticmethod
    def _gains(e):
        return 0.3 + 0.7 * e, e * e

    def _mean_square(self) -> float:
        """Long-term mean square of body*g_b(e) + wash*g_w(e) (independent noises, independent of e)."""
        t = np.arange(0.0, 4 * 3600.0, 0.05)
        gb, gw = self._gains(self.swell(t))
        vb, vw = self._levels[0] ** 2, self._levels[1] ** 2
        return vb * float(np.mean(gb * gb)) + vw * float(np.mean(gw * gw))

    def _swell_fine(self, k: int, channel: int) -> np.ndarray:
        """The swell over block ``k`` for ``channel``, float32, linear between points every _STEP samples."""
        g, per = k // self._SPAN, BLOCK // self._STEP
        if self._coarse.get(channel, (None,))[0] != g:
            # points at absolute multiples of _STEP: the values never depend on what was asked before
            first = g * self._SPAN * BLOCK
            tc = (first + np.arange(0, self._SPAN * BLOCK + self._STEP, self._STEP)) / self.rate
            self._coarse[channel] = (g, self.swell(tc - self._DELAY[channel]).astype(np.float32))
        off = (k - g * self._SPAN) * per
        ec = self._coarse[channel][1][off:off + per + 1]
        e = np.multiply(np.diff(ec)[:, None], self._ramp[None, :])
        e += ec[:-1, None]
        return e.reshape(BLOCK)

    def _block(self, k, state):
        out = np.empty((BLOCK, 2), dtype=np.float32)
        body, wash = self._scratch
        for c in range(2):
            self._noise("ocean-body", k, c, self._gain * self._levels[0], body)
            self._noise("ocean-wash", k, c, self._gain * self._levels[1], wash)
            gb, gw = self._gains(self._swell_fine(k, c))
            body *= gb
            wash *= gw
            body += wash
            out[:, c] = body
        return out, None


class TonalBed(BlockBed):
    """Sums of slowly moving sines, each a pure function of absolute time.

    ``partials`` rows: (frequency Hz, amplitude, beat Hz of a detuned twin,
    twin amplitude, LFO period s, LFO depth). Left and right get slightly
    different detunes and phases (from the seed). Nothing is periodic on any
    human time scale: LFO periods and beat rates are mutually incommensurate.

    Computed every _STEP samples from the exact phase (float64, cycles mod 1)
    and LFO value at the step's start: within a step a voice is
    ``A sin(phi + theta_j) = A sin(phi) cos(theta_j) + A cos(phi) sin(theta_j)``
    and the LFO is linear (``l + d * j / _STEP``), so a block is a float32
    matrix product of per-step coefficients with fixed per-voice cos/sin rows.
    """

    stateful = False
    _STEP = 256  # LFOs (periods > 10 s) are linear between points every _STEP samples
    # matrix products of at most this many multiply-adds: OpenBLAS runs them on the calling
    # thread (a threaded call leaves its threads spinning ~0.1 s: a busy core beside ffmpeg)
    _MNK = 1 << 18

    def __init__(self, partials, rate: int = SAMPLE_RATE, seed: int = 0, salt: int = 31):
        super().__init__(rate, seed)
        rng = self._rng(salt, 0)
        # per channel: voices (freq, amp, phase, group) and groups (LFO period, depth, phase)
        voices, groups = ([], []), ([], [])
        ms = [0.0, 0.0]
        for f, amp, beat, twin, period, depth in partials:
            ph, tph, lph = rng.uniform(0, 2 * np.pi, 3)
            bt = beat * rng.uniform(0.85, 1.15)
            for c in range(2):
                detune = 1.0 + rng.uniform(-0.0004, 0.0004)  # < 1.4 cents between channels
                spread = rng.uniform(-0.6, 0.6, 2)  # slight L/R phase difference
                g = len(groups[c])
                voices[c].append((f * detune, amp, ph + spread[0], g))
                if twin > 0:
                    voices[c].append((f * detune + bt, amp * twin, tph + spread[1], g))
                per = period * rng.uniform(0.95, 1.05)
                groups[c].append((per, depth, lph + rng.uniform(-0.4, 0.4)))
                # mean square: twins are distinct frequencies, LFO slow and independent
                ms[c] += (amp ** 2 + (amp * twin) ** 2) / 2 * (1 + depth ** 2 / 2)
        self._gains = [TARGET_RMS / math.sqrt(m) for m in ms]
        steps, u = BLOCK // self._STEP, np.arange(self._STEP) / self._STEP
        q = np.arange(steps + 1) * self._STEP  # offsets of the step starts in a block
        self._chan = []
        for c in range(2):
            fr, amp, p0, grp = np.array(voices[c]).T  # fr: cycles per sample
            fr, grp = fr / self.rate, grp.astype(int)
            per, depth, lph = np.array(groups[c]).T
            lfo_fr = 1.0 / (per * self.rate)
            # phase advance from the block start to each step start, exact (cycles mod 1)
            adv = np.exp(2j * np.pi * np.mod(q[None, :-1] * fr[:, None], 1.0))  # (voices, steps)
            lfo_adv = np.exp(2j * np.pi * np.mod(q[None, :] * lfo_fr[:, None], 1.0))  # (groups, steps + 1)
            # within a step: theta_j = 2 pi (j f / rate mod 1)
            theta = 2 * np.pi * np.mod(np.arange(self._STEP)[None, :] * fr[:, None], 1.0)
            cos, sin = np.cos(theta), np.sin(theta)
            rows = np.concatenate((cos, sin, cos * u, sin * u)).astype(np.float32)  # (4 voices, _STEP)
            self._chan.append((fr, amp * self._gains[c], p0, grp, lfo_fr, depth, lph, adv, lfo_adv, rows))
        self._buf = np.empty((steps, self._STEP), dtype=np.float32)  # scratch (see _TiledNoise)

    def _block(self, k, state):
        n0 = k * BLOCK
        steps = BLOCK // self._STEP
        out = np.empty((BLOCK, 2), dtype=np.float32)
        buf = self._buf
        for c in range(2):
            fr, amp, p0, grp, lfo_fr, depth, lph, adv, lfo_adv, rows = self._chan[c]
            # exact float64 phase at the block start (cycles mod 1), advanced exactly to each step:
            # amp * exp(j phi) at every step start of every voice
            z = (amp * np.exp(1j * (2 * np.pi * np.mod(n0 * fr, 1.0) + p0)))[:, None] * adv
            lfo = np.exp(1j * (2 * np.pi * np.mod(n0 * lfo_fr, 1.0) + lph))[:, None] * lfo_adv
            lfo = 1.0 + depth[:, None] * lfo.imag  # at the step starts and the block end
            lev, slope = lfo[grp, :-1], np.diff(lfo, axis=1)[grp]  # (voices, steps)
            v = grp.size
            coef = np.empty((4 * v, steps))
            np.multiply(lev, z.imag, out=coef[:v])
            np.multiply(lev, z.real, out=coef[v:2 * v])
            np.multiply(slope, z.imag, out=coef[2 * v:3 * v])
            np.multiply(slope, z.real, out=coef[3 * v:])
            coef = np.ascontiguousarray(coef.T, dtype=np.float32)  # (steps, 4 voices)
            chunk = max(1, self._MNK // (4 * v * self._STEP))
            for r in range(0, steps, chunk):
                np.matmul(coef[r:r + chunk], rows, out=buf[r:r + chunk])
            out[:, c] = buf.reshape(BLOCK)
        return out, None


def _drone_partials():
    root = 110.0  # A2
    # harmonic, amplitude, beat Hz, twin amp, LFO period s, LFO depth
    rows = ((1, 1.00, 0.13, 0.8, 23.7, 0.25), (2, 0.55, 0.21, 0.7, 31.1, 0.35),
            (3, 0.45, 0.17, 0.7, 19.3, 0.40), (4, 0.22, 0.29, 0.6, 41.9, 0.45),
            (5, 0.14, 0.23, 0.6, 27.7, 0.50), (6, 0.08, 0.37, 0.5, 53.3, 0.50))
    return [(root * h, a, b, tw, p, d) for h, a, b, tw, p, d in rows]


def _bowl_drone_partials():
    f0 = 130.8  # C3, singing-bowl (inharmonic) ratios as in sounds.bell("bowl")
    rows = ((1.0, 1.00, 0.45, 0.75, 13.7, 0.20), (2.74, 0.50, 0.85, 0.7, 17.9, 0.30),
            (5.24, 0.20, 1.30, 0.6, 11.3, 0.35), (8.36, 0.07, 1.90, 0.6, 23.1, 0.40))
    return [(f0 * r, a, b, tw, p, d) for r, a, b, tw, p, d in rows]


# ---------------------------------------------------------------- user files

class FileBed(Bed):
    """A user audio file (.wav/.mp3/.ogg/.flac) looped seamlessly, RMS -20 dBFS.

    Decoded once with ffmpeg to stereo float32 at ``rate`` and held in memory.
    The loop point is an equal-power crossfade of ``min(2 s, length / 4)``: the
    loop body is the file minus its last ``C`` samples, and its first ``C``
    samples mix the file's tail (fading out) into its head (fading in), so the
    end of each pass flows into the next. The gain puts the mean power of both
    channels at -20 dBFS (stereo balance kept).
    """

    MIN_SECONDS = 1.0
    CROSSFADE = 2.0

    def __init__(self, path: Union[str, Path], rate: int = SAMPLE_RATE):
        self.path = Path(path)
        self.rate = int(rate)
        x = self._decode()
        L = x.shape[0]
        if L < self.MIN_SECONDS * self.rate:
            raise AudioError(f"ambience file is too short ({L / self.rate:.2f} s); "
                             f"use a file of at least {self.MIN_SECONDS:g} s to loop", path=str(self.path))
        C = min(int(round(self.CROSSFADE * self.rate)), L // 4)
        u = (np.arange(C) + 0.5) / C
        fade_in, fade_out = np.sin(0.5 * np.pi * u)[:, None], np.cos(0.5 * np.pi * u)[:, None]
        loop = x[:L - C].copy()
        loop[:C] = x[:C] * fade_in + x[L - C:] * fade_out
        power = float(np.mean(loop ** 2))
        if power < 1e-12:
            raise AudioError("ambience file is silent; use a file with audible sound", path=str(self.path))
        self._loop = (loop * (TARGET_RMS / math.sqrt(power))).astype(np.float32)
        self.period = self._loop.shape[0]

    def _decode(self) -> np.ndarray:
        if not self.path.is_file():
            raise AudioError("ambience file not found; check the path (relative paths are resolved "
                             "against the script's folder)", path=str(self.path))
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-i", str(self.path),
               "-vn", "-f", "f32le", "-acodec", "pcm_f32le", "-ac", "2", "-ar", str(self.rate), "pipe:1"]
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise AudioError(f"could not run ffmpeg to decode the ambience file ({e})", path=str(self.path))
        if proc.returncode != 0:
            why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            why = why[-1] if why else f"ffmpeg exit code {proc.returncode}"
            raise AudioError(f"cannot decode ambience file ({why}); use a valid "
                             f"{'/'.join(AMBIENCE_FILE_EXTS)} audio file", path=str(self.path))
        data = np.frombuffer(proc.stdout[: len(proc.stdout) // 8 * 8], dtype="<f4")
        if data.size == 0:
            raise AudioError("ambience file has no audio; use a file of at least "
                             f"{self.MIN_SECONDS:g} s of sound", path=str(self.path))
        return data.reshape(-1, 2).astype(np.float64)

    def render(self, start: int, n: int) -> np.ndarray:
        start, n = _check_span(start, n)
        idx = (start + np.arange(n, dtype=np.int64)) % self.period
        return self._loop[idx]


# ---------------------------------------------------------------- factory

def make_bed(name: str, rate: int = SAMPLE_RATE, seed: int = 0,
             base_dir: Union[str, Path, None] = None) -> Optional[Bed]:
    """The bed called ``name`` (one of AMBIENCES; "none" -> None) or a FileBed for
    a path ending in .wav/.mp3/.ogg/.flac (relative paths resolved against
    ``base_dir`` when given). Unknown names raise ValueError."""
    path = ambience_file(name, base_dir)
    if path is not None:
        return FileBed(path, rate)
    key = str(name).strip().lower()
    if key == "none":
        return None
    if key in ("white", "pink", "brown"):
        return NoiseBed(key, rate, seed)
    if key == "ocean":
        return OceanBed(rate, seed)
    if key == "drone":
        return TonalBed(_drone_partials(), rate, seed, salt=31)
    if key == "bowl-drone":
        return TonalBed(_bowl_drone_partials(), rate, seed, salt=32)
    raise ValueError(f"unknown ambience {name!r} (use one of: {', '.join(AMBIENCES)}, "
                     f"or a path to a {'/'.join(AMBIENCE_FILE_EXTS)} file)")

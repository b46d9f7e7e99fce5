"""Ambience beds under the practice: procedural noises and tones, or a looped user file.

A :class:`Bed` renders stereo float32 for absolute sample positions, chunk by
chunk, so a 60-minute bed never has to be in memory at once::

    bed = make_bed("pink", seed=3)
    for start in range(0, total, 44100):
        chunk = bed.render(start, min(44100, total - start))   # (n, 2)

Level: every bed is normalized so its long-term RMS is -20 dBFS (0.1) per
channel; the caller scales it to ``ambience_level``.

Chunking: procedural beds are computed in fixed blocks of :data:`BLOCK`
samples; block ``k`` depends only on the seed, ``k`` and the filter state at
its start (kept for every block already computed). So the output is bit-for-bit
identical whatever the chunking, sequential chunked calls cost one pass, and a
jump backwards is cheap; a jump forward past what has been computed generates
(and discards) the blocks in between.
"""
from __future__ import annotations

import math
import subprocess
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Optional, Union

import numpy as np
from scipy.signal import lfilter, sosfilt, tf2sos

from .audio import SAMPLE_RATE
from .errors import AudioError
from .ffmpeg import ffmpeg_exe

BED_NAMES = ("none", "white", "pink", "brown", "ocean", "drone", "bowl-drone")
AUDIO_EXTENSIONS = (".wav", ".mp3", ".ogg", ".flac")
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


# ---------------------------------------------------------------- filters and noise

class _SosFilter:
    """An IIR filter as cascaded second-order sections, run with carried state."""

    def __init__(self, sos: np.ndarray):
        self.sos = np.asarray(sos, dtype=float)

    @classmethod
    def parallel_one_poles(cls, poles, gains, fir=(0.0,)) -> "_SosFilter":
        """sum_i g_i / (1 - a_i z^-1) + fir(z), expanded to one transfer function."""
        den = np.array([1.0])
        for a in poles:
            den = np.convolve(den, [1.0, -a])
        num = np.convolve(np.asarray(fir, dtype=float), den)
        for i, g in enumerate(gains):
            d = np.array([1.0])
            for j, a in enumerate(poles):
                if j != i:
                    d = np.convolve(d, [1.0, -a])
            num[:d.size] += g * d
        return cls(tf2sos(num, den))

    def zero_state(self, channels: int = 2) -> np.ndarray:
        return np.zeros((self.sos.shape[0], 2, channels))

    def __call__(self, x: np.ndarray, state):
        return sosfilt(self.sos, x, axis=0, zi=state)

    def power_gain(self) -> float:
        """Output variance for unit-variance white input (impulse-response energy)."""
        imp = np.zeros((1 << 18, 1))
        imp[0] = 1.0
        h, _ = self(imp, self.zero_state(1))
        return float(np.sum(h ** 2))


def _kellet_pink() -> _SosFilter:
    """Paul Kellet's refined pink filter (+-0.05 dB above 9.2 Hz at 44.1 kHz).

    Six parallel one-poles plus a direct term and a one-sample FIR, run here as
    one cascade of second-order sections (10x faster than six filters).
    """
    return _SosFilter.parallel_one_poles(
        poles=(0.99886, 0.99332, 0.96900, 0.86650, 0.55000, -0.7616),
        gains=(0.0555179, 0.0750759, 0.1538520, 0.3104856, 0.5329522, -0.0168980),
        fir=(0.5362, 0.115926),
    )


def _pole(hz: float, rate: int) -> float:
    return math.exp(-2 * math.pi * hz / rate)


class NoiseBed(BlockBed):
    """White, pink or brown noise; independent seeds per channel (decorrelated)."""

    _SALT = {"white": 11, "pink": 12, "brown": 13}

    def __init__(self, color: str, rate: int = SAMPLE_RATE, seed: int = 0):
        super().__init__(rate, seed)
        if color not in self._SALT:
            raise ValueError(f"unknown noise colour {color!r}")
        self.color = color
        if color == "white":
            self._b, self._a = np.array([1.0]), np.array([1.0])
        elif color == "pink":
            self._pink = _kellet_pink()
        else:
            # leaky integrator (corner 8 Hz -> -6 dB/oct above) and a DC blocker at 2 Hz
            p1, p2 = _pole(8.0, self.rate), _pole(2.0, self.rate)
            self._b = np.array([1.0, -1.0])
            self._a = np.convolve([1.0, -p1], [1.0, -p2])
        self._gain = TARGET_RMS / math.sqrt(self._power_gain())

    def _power_gain(self) -> float:
        if self.color == "pink":
            return self._pink.power_gain()
        imp = np.zeros(1 << 19)
        imp[0] = 1.0
        return float(np.sum(lfilter(self._b, self._a, imp) ** 2))

    def _filter(self, x, state):
        if self.color == "pink":
            return self._pink(x, state)
        if self.color == "white":
            return x, state
        return lfilter(self._b, self._a, x, axis=0, zi=state)

    def _zero(self):
        if self.color == "pink":
            return self._pink.zero_state()
        if self.color == "white":
            return None
        return np.zeros((len(self._a) - 1, 2))

    def _initial_state(self):
        # warm the filters up on a throw-away block so the bed starts in steady state
        warm = np.random.default_rng([self.seed & 0xFFFFFFFF, self._SALT[self.color], 1 << 30])
        _, st = self._filter(warm.standard_normal((4 * BLOCK, 2)), self._zero())
        return st

    def _block(self, k, state):
        x = self._rng(self._SALT[self.color], k).standard_normal((BLOCK, 2))
        y, st = self._filter(x, state)
        return (y * self._gain).astype(np.float32), st


class OceanBed(BlockBed):
    """Waves: pink-ish noise swelling and washing with irregular 8-14 s periods.

    A wave train (random period 8-14 s and height per wave, from the seed) makes a
    smooth swell envelope ``e(t)``: each wave rises in 40 % of its period and
    washes out over the next 90 %, overlapping the next one. The sound is a
    low "body" (pink lowpassed at 350 Hz) following the swell gently plus a
    brighter "wash" (pink above 350 Hz, lowpassed at 3 kHz) that follows it
    strongly. The right channel hears the swell 0.3 s later, with its own noise.
    """

    _SALT = 21
    _WAVE_CHUNK = 256
    _PMIN, _PMAX = 8.0, 14.0
    _RISE, _FALL = 0.4, 0.9
    _DELAY = (0.0, 0.3)

    def __init__(self, rate: int = SAMPLE_RATE, seed: int = 0):
        super().__init__(rate, seed)
        self._pink = _kellet_pink()
        self._lp_body = _pole(350.0, self.rate)
        self._lp_wash = _pole(3000.0, self.rate)
        self._starts = np.zeros(0)
        self._periods = np.zeros(0)
        self._heights = np.zeros(0)
        self._extend_waves(0.0)
        self._gain = TARGET_RMS / math.sqrt(self._mean_square())

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

    def _split(self, x, state):
        """Pink noise -> (body, wash) with filter state."""
        pink_st, body_zi, wash_zi = state
        p, pink_st = self._pink(x, pink_st)
        a, w = self._lp_body, self._lp_wash
        body, body_zi = lfilter([1 - a], [1.0, -a], p, axis=0, zi=body_zi)
        wash, wash_zi = lfilter([1 - w], [1.0, -w], p - body, axis=0, zi=wash_zi)
        return body, wash, (pink_st, body_zi, wash_zi)

    def _zero(self, channels=2):
        return (self._pink.zero_state(channels), np.zeros((1, channels)), np.zeros((1, channels)))

    def _mean_square(self) -> float:
        """Long-term mean square of body*g_b(e) + wash*g_w(e) (noise independent of e)."""
        imp = np.zeros((1 << 18, 1))
        imp[0] = 1.0
        b, w, _ = self._split(imp, self._zero(1))
        vb, vw, cbw = float(np.sum(b * b)), float(np.sum(w * w)), float(np.sum(b * w))
        t = np.arange(0.0, 4 * 3600.0, 0.05)
        gb, gw = self._gains(self.swell(t))
        return vb * float(np.mean(gb * gb)) + vw * float(np.mean(gw * gw)) + 2 * cbw * float(np.mean(gb * gw))

    def _initial_state(self):
        warm = self._rng(self._SALT, 1 << 30).standard_normal((4 * BLOCK, 2))
        return self._split(warm, self._zero())[2]

    def _block(self, k, state):
        x = self._rng(self._SALT, k).standard_normal((BLOCK, 2))
        body, wash, st = self._split(x, state)
        # the swell is slow: evaluate it every 128 samples and interpolate
        coarse = np.arange(0, BLOCK + 128, 128)
        tc = (k * BLOCK + coarse) / self.rate
        fine = np.arange(BLOCK)
        out = np.empty((BLOCK, 2))
        for c in range(2):
            gb, gw = self._gains(np.interp(fine, coarse, self.swell(tc - self._DELAY[c])))
            out[:, c] = body[:, c] * gb + wash[:, c] * gw
        return (out * self._gain).astype(np.float32), st


class TonalBed(BlockBed):
    """Sums of slowly moving sines, each a pure function of absolute time.

    ``partials`` rows: (frequency Hz, amplitude, beat Hz of a detuned twin,
    twin amplitude, LFO period s, LFO depth). Left and right get slightly
    different detunes and phases (from the seed). Nothing is periodic on any
    human time scale: LFO periods and beat rates are mutually incommensurate.
    """

    stateful = False

    def __init__(self, partials, rate: int = SAMPLE_RATE, seed: int = 0, salt: int = 31):
        super().__init__(rate, seed)
        rng = self._rng(salt, 0)
        # per channel: list of (lfo_period, lfo_depth, lfo_phase, [(freq, amp, phase), ...])
        self._groups = ([], [])
        ms = [0.0, 0.0]
        for f, amp, beat, twin, period, depth in partials:
            ph, tph, lph = rng.uniform(0, 2 * np.pi, 3)
            bt = beat * rng.uniform(0.85, 1.15)
            for c in range(2):
                detune = 1.0 + rng.uniform(-0.0004, 0.0004)  # < 1.4 cents between channels
                spread = rng.uniform(-0.6, 0.6, 2)  # slight L/R phase difference
                voices = [(f * detune, amp, ph + spread[0])]
                if twin > 0:
                    voices.append((f * detune + bt, amp * twin, tph + spread[1]))
                per = period * rng.uniform(0.95, 1.05)
                self._groups[c].append((per, depth, lph + rng.uniform(-0.4, 0.4), voices))
                # mean square: twins are distinct frequencies, LFO slow and independent
                ms[c] += (amp ** 2 + (amp * twin) ** 2) / 2 * (1 + depth ** 2 / 2)
        self._gains = [TARGET_RMS / math.sqrt(m) for m in ms]

    _LFO_STEP = 256  # LFOs (periods > 10 s) are evaluated every 256 samples and interpolated
    _SUB = 1024  # oscillators: exact phasor every _SUB samples times a precomputed in-between rotation

    def _rotations(self, f: float) -> np.ndarray:
        cache = self.__dict__.setdefault("_rot_cache", {})
        if f not in cache:
            cache[f] = np.exp(2j * np.pi * np.mod(np.arange(self._SUB) * (f / self.rate), 1.0))
        return cache[f]

    def _block(self, k, state):
        coarse = np.arange(0, BLOCK + self._LFO_STEP, self._LFO_STEP)
        tc = (k * BLOCK + coarse) / self.rate
        fine = np.arange(BLOCK)
        starts = k * BLOCK + np.arange(0, BLOCK, self._SUB, dtype=np.int64)
        out = np.zeros((BLOCK, 2))
        for c in range(2):
            for per, depth, lph, voices in self._groups[c]:
                ph = np.zeros((starts.size, self._SUB), dtype=complex)
                for f, amp, p0 in voices:
                    # exact phase (cycles mod 1, float64) at each sub-block start, rotated within it
                    at = amp * np.exp(1j * (2 * np.pi * np.mod(starts * (f / self.rate), 1.0) + p0))
                    ph += at[:, None] * self._rotations(f)[None, :]
                lfo = 1.0 + depth * np.sin(2 * np.pi * np.mod(tc / per, 1.0) + lph)
                out[:, c] += ph.imag.ravel() * np.interp(fine, coarse, lfo)
            out[:, c] *= self._gains[c]
        return out.astype(np.float32), None


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
                             f"{'/'.join(AUDIO_EXTENSIONS)} audio file", path=str(self.path))
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

def is_audio_path(name: str) -> bool:
    return str(name).strip().lower().endswith(AUDIO_EXTENSIONS)


def make_bed(name: str, rate: int = SAMPLE_RATE, seed: int = 0,
             base_dir: Union[str, Path, None] = None) -> Optional[Bed]:
    """The bed called ``name`` (one of BED_NAMES; "none" -> None) or a FileBed for
    a path ending in .wav/.mp3/.ogg/.flac (relative paths resolved against
    ``base_dir`` when given). Unknown names raise ValueError."""
    raw = str(name).strip()
    if is_audio_path(raw):
        p = Path(raw).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = Path(base_dir) / p
        return FileBed(p, rate)
    key = raw.lower()
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
    raise ValueError(f"unknown ambience {name!r} (use one of: {', '.join(BED_NAMES)}, "
                     f"or a path to a {'/'.join(AUDIO_EXTENSIONS)} file)")

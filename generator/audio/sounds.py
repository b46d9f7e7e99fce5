"""Cue sounds synthesized in numpy: bells and breath-pacing tones.

Everything here is deterministic, float32, mono, sample-exact and click-free:

* :func:`bell` -- one strike of a singing bowl or a chime, left to ring out to
  below -60 dB of its peak, then a short raised-cosine fade (no truncation click).
* :func:`breath_glide` / :func:`breath_chime` -- breath pacing over a list of
  phases ``[("in", n), ("hold", n), ("out", n), ...]`` with exact sample counts;
  the output has exactly ``sum(n)`` samples.
* :func:`phases_for` -- turns a pattern in seconds into those phases with one
  rounding rule (each boundary rounded from its cumulative time, so no drift).
"""
from __future__ import annotations

import functools
import math
from typing import List, Sequence, Tuple

import numpy as np

from .samples import SAMPLE_RATE, seconds_to_samples

BELL_KINDS = ("bowl", "chime", "none")
BELL_PEAK = 0.5  # -6 dBFS
BELL_SPACING = 4.0  # seconds between strikes of [bell 3]

PHASE_NAMES = ("in", "hold", "out")

Phases = List[Tuple[str, int]]

# (ratio to f0, amplitude, decay time constant in s, beat rate of the detuned pair in Hz)
# Singing bowl: inharmonic partials (none near an integer ratio), higher ones decay faster.
_BOWL_F0 = 180.0
_BOWL_PARTIALS = (
    (1.0, 1.00, 1.20, 0.9),
    (2.74, 0.55, 0.85, 1.7),
    (5.24, 0.22, 0.55, 2.6),
    (8.36, 0.08, 0.35, 3.3),
)
_BOWL_SECONDS = 9.0
_BOWL_ATTACK = 0.012  # soft mallet

# Chime: free-free bar ratios (tubular chime / bar bell), brighter and shorter.
_CHIME_F0 = 660.0
_CHIME_PARTIALS = (
    (1.0, 1.00, 0.52, 0.0),
    (2.756, 0.45, 0.36, 1.1),
    (5.404, 0.22, 0.21, 1.9),
    (8.933, 0.08, 0.13, 0.0),
)
_CHIME_SECONDS = 3.8
_CHIME_ATTACK = 0.002

_TAIL_FADE = 0.08  # seconds of final raised-cosine fade on a bell


def _raised_cosine(n: int) -> np.ndarray:
    """0 -> 1 over n samples (float64), first sample 0, never reaching exactly 1."""
    if n <= 0:
        return np.zeros(0)
    return 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)


def _strike(f0: float, partials, seconds: float, attack: float, rate: int) -> np.ndarray:
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    out = np.zeros(n)
    for ratio, amp, tau, beat in partials:
        f = f0 * ratio
        env = amp * np.exp(-t / tau)
        if beat > 0:
            # detuned pair (unequal amplitudes -> gentle partial beating)
            tone = (np.sin(2 * np.pi * (f - beat / 2) * t) + 0.45 * np.sin(2 * np.pi * (f + beat / 2) * t + 0.7)) / 1.45
        else:
            tone = np.sin(2 * np.pi * f * t)
        out += env * tone
    na = max(1, int(round(attack * rate)))
    out[:na] *= _raised_cosine(na)
    nf = int(round(_TAIL_FADE * rate))
    out[n - nf:] *= _raised_cosine(nf)[::-1]
    out *= BELL_PEAK / np.max(np.abs(out))
    return out.astype(np.float32)


def bell(kind: str, rate: int = SAMPLE_RATE) -> np.ndarray:
    """One strike of ``kind`` ("bowl", "chime" or "none"), mono float32, peak 0.5.

    The strike rings out naturally (exponential decays chosen so the ring is below
    -60 dB of the peak before the last 80 ms fade). "none" is an empty array.
    Made once per process (the renderer needs its length, then its samples, for
    every strike) and returned read-only.
    """
    return _bell(str(kind).strip().lower(), int(rate))


@functools.lru_cache(maxsize=8)
def _bell(k: str, rate: int) -> np.ndarray:
    out = _make_bell(k, rate)
    out.setflags(write=False)
    return out


def _make_bell(k: str, rate: int) -> np.ndarray:
    if k == "none":
        return np.zeros(0, dtype=np.float32)
    if k == "bowl":
        return _strike(_BOWL_F0, _BOWL_PARTIALS, _BOWL_SECONDS, _BOWL_ATTACK, rate)
    if k == "chime":
        return _strike(_CHIME_F0, _CHIME_PARTIALS, _CHIME_SECONDS, _CHIME_ATTACK, rate)
    raise ValueError(f"unknown bell {k!r} (use one of: {', '.join(BELL_KINDS)})")


# ---------------------------------------------------------------- breath pacing

GLIDE_LOW = 220.0  # Hz at the bottom of the breath (A3)
GLIDE_HIGH = 330.0  # Hz at the top (E4, a fifth above)
GLIDE_PEAK = 0.25
GLIDE_HOLD_LEVEL = 0.4  # hold is ~8 dB quieter than in/out
_GLIDE_LEVEL_RAMP = 0.25  # s, raised-cosine level change at in/hold/out boundaries
_GLIDE_FADE_IN = 0.25
_GLIDE_FADE_OUT = 0.5
_GLIDE_HARMONICS = ((1, 1.0), (2, 0.12), (3, 0.03))


def _glide_wave_peak() -> float:
    ph = np.linspace(0, 2 * np.pi, 8192, endpoint=False)
    return float(np.max(np.abs(sum(a * np.sin(h * ph) for h, a in _GLIDE_HARMONICS))))


_GLIDE_WAVE_PEAK = _glide_wave_peak()


def _check_phases(phases: Sequence[Tuple[str, int]]) -> list:
    out = []
    for item in phases:
        name, n = item
        if name not in PHASE_NAMES:
            raise ValueError(f"unknown breath phase {name!r} (use 'in', 'hold' or 'out')")
        if int(n) != n or n < 0:
            raise ValueError(f"breath phase length must be a whole number of samples >= 0, got {n!r}")
        out.append((name, int(n)))
    return out


def _ramp_edges(x: np.ndarray, rate: int, fade_in: float, fade_out: float) -> None:
    """In-place raised-cosine fade at the very start and the very end of ``x``."""
    n = x.shape[0]
    a = min(int(round(fade_in * rate)), n // 2)
    b = min(int(round(fade_out * rate)), n // 2)
    if a > 0:
        x[:a] *= _raised_cosine(a)
    if b > 0:
        x[n - b:] *= _raised_cosine(b)[::-1]


def breath_glide(phases: Sequence[Tuple[str, int]], rate: int = SAMPLE_RATE) -> np.ndarray:
    """A soft gliding tone pacing the breath; exactly ``sum(n)`` float32 samples.

    Pitch (on a log scale between GLIDE_LOW and GLIDE_HIGH) rises over each
    inhale and falls over each exhale with a raised-cosine ease, and stays put
    over a hold, which is also quieter. The pitch curve changes direction exactly
    at each phase boundary sample. Phase is the running integral of frequency, the
    level moves by short raised-cosine ramps, and the cue fades in and out at its
    ends, so the output has no discontinuity anywhere.
    """
    ph = _check_phases(phases)
    return glide_window(ph, 0, sum(n for _, n in ph), 0.0, rate)[0]


def glide_window(phases: Sequence[Tuple[str, int]], start: int, n: int, phase0: float,
                 rate: int = SAMPLE_RATE) -> Tuple[np.ndarray, float]:
    """Samples ``[start, start + n)`` of the glide over the whole cue ``phases``, and the
    oscillator phase after them.

    Consecutive windows chained by their phases join exactly as one call would, so a
    long breathing cue can be made a few seconds at a time in little memory.
    """
    ph = [(name, int(k)) for name, k in phases if int(k) > 0]
    total = sum(k for _, k in ph)
    end = min(start + n, total)
    if end <= start:
        return np.zeros(max(0, n), dtype=np.float32), phase0
    m = end - start
    # (big arrays are filled in place: a fresh multi-megabyte temporary costs more in page
    # faults than the arithmetic on it)
    pos = np.empty(m)
    level = np.empty(m, dtype=np.float32)
    ramp = int(round(_GLIDE_LEVEL_RAMP * rate))
    p, off, prev = 0.0, 0, None
    for j, (name, k) in enumerate(ph):
        lv = GLIDE_HOLD_LEVEL if name == "hold" else 1.0
        a, b = max(off, start), min(off + k, end)
        if a < b:
            sl = slice(a - start, b - start)
            if name == "hold":
                pos[sl] = p
            else:
                # the raised-cosine ease, its cosine in float32 (the fast path; 6e-8 of the span)
                target = 1.0 if name == "in" else 0.0
                u = (np.arange(a - off, b - off) * (np.pi / k)).astype(np.float32)
                np.cos(u, out=u)
                seg = pos[sl]
                seg[:] = u
                seg *= -0.5 * (target - p)
                seg += p + 0.5 * (target - p)
            level[sl] = lv
        if name != "hold":
            p = 1.0 if name == "in" else 0.0
        # the level ramp centred on the boundary with the previous phase
        if prev is not None and prev[0] != lv:
            h = min(ramp // 2, prev[1] // 2, k // 2)
            ra, rb = max(off - h, start), min(off + h, end)
            if h > 0 and ra < rb:
                u = np.arange(ra - (off - h), rb - (off - h))
                level[ra - start:rb - start] = prev[0] + (lv - prev[0]) * (0.5 - 0.5 * np.cos(np.pi * u / (2 * h)))
        prev = (lv, k)
        off += k
    # frequency GLIDE_LOW * (HIGH/LOW)**pos, as the phase step per sample
    step = pos
    step *= math.log(GLIDE_HIGH / GLIDE_LOW)
    step += math.log(GLIDE_LOW * 2 * np.pi / rate)
    np.exp(step, out=step)
    end_phase = float((phase0 + step.sum()) % (2 * np.pi))
    phase = np.empty(m)
    phase[0] = phase0
    np.cumsum(step[:-1], out=phase[1:])
    phase[1:] += phase0
    # wrapped to [0, 2 pi) in float64 (so an hour-long cue keeps its pitch exact), then float32
    q = step                                    # reuse: step is no longer needed
    np.multiply(phase, 1 / (2 * np.pi), out=q)
    np.floor(q, out=q)
    q *= 2 * np.pi
    np.subtract(phase, q, out=phase)
    x = phase.astype(np.float32)
    # a1 sin x + a2 sin 2x + a3 sin 3x = sin x (a1 + 3 a3 + 2 a2 cos x - 4 a3 sin^2 x)
    (_, a1), (_, a2), (_, a3) = _GLIDE_HARMONICS
    sn = np.sin(x)
    np.cos(x, out=x)
    x *= np.float32(2 * a2)
    x += np.float32(a1 + 3 * a3)
    sq = sn * sn
    sq *= np.float32(4 * a3)
    x -= sq
    x *= sn
    level *= np.float32(GLIDE_PEAK / _GLIDE_WAVE_PEAK)
    out = x
    out *= level
    # the cue's own fade in and out, at its absolute ends
    fi = min(int(round(_GLIDE_FADE_IN * rate)), total // 2)
    fo = min(int(round(_GLIDE_FADE_OUT * rate)), total // 2)
    if fi > 0 and start < fi:
        idx = np.arange(start, min(end, fi))
        out[:idx.size] *= (0.5 - 0.5 * np.cos(np.pi * idx / fi)).astype(np.float32)
    if fo > 0 and end > total - fo:
        a = max(start, total - fo)
        ramp_out = (0.5 - 0.5 * np.cos(np.pi * np.arange(fo) / fo))[::-1]
        out[a - start:] *= ramp_out[a - (total - fo):end - (total - fo)].astype(np.float32)
    if m < n:
        out = np.concatenate([out, np.zeros(n - m, dtype=np.float32)])
    return out, end_phase


# chime notes (A major): in = E5, hold = C#5 (softer), out = B4 then A4
_NOTE_IN = ((659.26, 1.0),)
_NOTE_HOLD = ((554.37, 0.5),)
_NOTE_OUT = ((493.88, 0.9), (440.0, 0.8))
_NOTE_GAP = 0.35  # s between the two exhale notes
_NOTE_TAU = 0.6
_NOTE_PARTIALS = ((1.0, 1.0, 1.0), (2.76, 0.22, 0.45), (5.40, 0.06, 0.25))  # ratio, amp, tau factor
_NOTE_PEAK = 0.25
_CHIME_END_FADE = 0.2


def _chime_note(f: float, rate: int) -> np.ndarray:
    seconds = 7 * _NOTE_TAU  # below -60 dB by then
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    x = sum(a * np.exp(-t / (_NOTE_TAU * tf)) * np.sin(2 * np.pi * f * r * t) for r, a, tf in _NOTE_PARTIALS)
    na = int(round(0.003 * rate))
    x[:na] *= _raised_cosine(na)
    nf = n // 10
    x[n - nf:] *= _raised_cosine(nf)[::-1]
    return x * (_NOTE_PEAK / np.max(np.abs(x)))


def breath_chime(phases: Sequence[Tuple[str, int]], rate: int = SAMPLE_RATE) -> np.ndarray:
    """Soft chime notes marking each phase; exactly ``sum(n)`` float32 samples.

    Inhale: one high note; hold: a softer middle note; exhale: two descending
    notes. Each note is a few decaying sine partials; notes ring across phase
    boundaries and the cue's last 200 ms fade out so tails end smoothly.
    """
    ph = _check_phases(phases)
    total = sum(n for _, n in ph)
    out = np.zeros(total)
    if total == 0:
        return out.astype(np.float32)
    cache: dict = {}

    def add(f: float, gain: float, at: int) -> None:
        if at >= total:
            return
        if f not in cache:
            cache[f] = _chime_note(f, rate)
        note = cache[f]
        m = min(note.shape[0], total - at)
        out[at:at + m] += gain * note[:m]

    i = 0
    for name, n in ph:
        if n == 0:
            continue
        notes = {"in": _NOTE_IN, "hold": _NOTE_HOLD, "out": _NOTE_OUT}[name]
        gap = min(int(round(_NOTE_GAP * rate)), n // 2)
        for j, (f, g) in enumerate(notes):
            add(f, g, i + j * gap)
        i += n
    _ramp_edges(out, rate, 0.0, _CHIME_END_FADE)
    return out.astype(np.float32)


def phases_for(pattern: Tuple[float, ...], cycles: int, rate: int = SAMPLE_RATE) -> Phases:
    """Phases for ``cycles`` repetitions of ``pattern`` (seconds).

    ``pattern`` is (in, out), (in, hold, out) or (in, hold, out, hold2). Each
    boundary is placed at ``round(cumulative_seconds * rate)`` (the project's one
    rounding rule, :func:`generator.audio.samples.seconds_to_samples`), so the total is
    exactly ``round(cycles * sum(pattern) * rate)`` and never drifts. Phases
    that come out zero samples long are omitted.
    """
    names = {2: ("in", "out"), 3: ("in", "hold", "out"), 4: ("in", "hold", "out", "hold")}.get(len(pattern))
    if names is None:
        raise ValueError(f"breath pattern needs 2, 3 or 4 durations (in[-hold]-out[-hold]), got {len(pattern)}")
    secs = [float(s) for s in pattern]
    if any(not math.isfinite(s) or s < 0 for s in secs):
        raise ValueError(f"breath pattern durations must be finite and >= 0, got {tuple(pattern)}")
    if int(cycles) != cycles or cycles < 0:
        raise ValueError(f"breath cycles must be a whole number >= 0, got {cycles!r}")
    cycle = math.fsum(secs)
    partial = [math.fsum(secs[:j + 1]) for j in range(len(secs))]
    out: Phases = []
    prev = 0
    for c in range(int(cycles)):
        for j, name in enumerate(names):
            at = (c + 1) * cycle if j == len(names) - 1 else c * cycle + partial[j]
            b = seconds_to_samples(at, rate)
            if b > prev:
                out.append((name, b - prev))
            prev = max(prev, b)
    return out

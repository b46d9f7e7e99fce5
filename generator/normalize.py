"""Loudness normalization: the gain, bed level and limiter ceiling that put the decoded file on target.

One entry point, :func:`solve`, gives a :class:`Level` before anything is mixed;
the mixing pass feeds a :class:`PassMeter`, and :meth:`Level.again` says from
what it measured whether that pass is kept or mixed once more.

How the level is found, without mixing the practice first:

1. The foreground (voice, cues, bells) is never mixed for this: its 100 ms
   K-weighted segment energies are laid from each sound's energy profile
   (``Mixer.foreground_energies``, ``audio/energy.py``).
2. The bed is measured at unit gain on another thread, meanwhile: in a
   practice of up to BED_PROBE_WHOLE whole, in step with the voice (the ocean's
   swells and a drone's slow beats then meet the same words as in the mix);
   in a longer one by its first BED_PROBE, measured once per process
   (:func:`_probe_energies`) and cycled (measured error within 0.12 LU). Scaled
   by the mixer's bed envelope (level, ducking, fades) it stands in for the bed.
   Energies of independent stems add, so the mix for a foreground gain g is
   ``g**2 * foreground + bed`` (:class:`LoudnessModel`).
3. The gain for the target is solved on that model; a bed that sits on the
   relative gate (sparse speech: integrated loudness becomes a step function
   of the gain) is moved clear of it (:meth:`LoudnessModel.condition`).
4. What the limiter and the codec do to each stem is measured on a 20-second
   excerpt of the mix sent through the encoder (:func:`excerpt_ratios`), and
   the gain solved again with it; where the limiter takes more at that gain
   than where it was measured (a loud voice), the gain is searched for with
   the excerpt's limiting measured at each try (:func:`settle`).
5. The mixing pass measures the PCM it feeds the encoder; one off by more
   than LOUDNESS_TOLERANCE from the loudness that lands the decoded file on
   target is thrown away and mixed again at the gain it implies (a safety
   net; at most MAX_PASSES).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from .audio.ambience import make_bed
from .audio.loudness import LoudnessMeter, block_energies_from_segments, gated_loudness
from .audio.master import Master
from .audio.samples import SAMPLE_RATE
from .mixer import CHUNK
from .output.encode import CODED, round_trip
from .yielding import in_background

log = logging.getLogger(__name__)

DEFAULT_LOUDNESS = -16.0
TRUE_PEAK_CEILING = -1.0
MP3_PEAK_MARGIN = {1: 2.0, 2: 1.5}   # dB under the ceiling the limiter aims for MP3, by channels: LAME
                                     # raised tonal peaks by up to 1.1 dB (mono VBR, stereo 48k CBR)
PEAK_MARGIN = {".mp3": MP3_PEAK_MARGIN, ".m4a": {1: 3.5, 2: 2.0}, ".m4b": {1: 3.5, 2: 2.0},
               ".opus": {1: 2.5, 2: 2.5}}   # the same per codec (measured: see the README's formats)
SEGMENT = SAMPLE_RATE // 10  # the loudness meter's 100 ms segment
LOUDNESS_TOLERANCE = 0.3    # LU: a mix further than this from its prediction is mixed again
MAX_PASSES = 2              # encoding passes at most (the last one is kept whatever it measures)
BED_PROBE = 60 * SAMPLE_RATE    # a minute of the bed: long enough to average the ocean's swells
BED_PROBE_WHOLE = 270 * SAMPLE_RATE   # up to 4.5 min the whole bed is measured, in step with the voice
GATE_MARGIN = 1.0           # LU: the bed is kept at least this far from the relative gate ...
GATE_SWING = 0.2            # LU: ... when blocks that near it could move the integrated loudness by more
BED_STEP = 0.5              # dB: the bed is moved in steps of this
MAX_BED_SHIFT = 20.0        # dB: at most this far down ...
MAX_BED_RAISE = 6.0         # dB: ... or this far up
MAX_VOICE_PUSH = 1.0        # dB the voice may be raised over its own level at the target to count a bed in
EXCERPT = 20 * SAMPLE_RATE  # samples of the mix sent through the MP3 encoder to measure what coding does
SETTLE = 0.1               # LU: a solved gain whose limiting, measured at it, misses the target by more ...
SETTLE_STEPS = 3           # ... is searched for, measuring the limiting this many times at most


@dataclass(frozen=True)
class Level:
    """Where a render mixes: the foreground's gain, the bed's move and the limiter's ceiling."""
    gain: float             # the foreground's gain
    shift: float            # dB the bed was moved from the author's level (0: not)
    predicted: float        # the decoded file's integrated loudness, as modelled
    coding: float           # LU coding adds to the PCM's loudness (decoded - fed), as modelled
    ceiling: float          # the limiter's ceiling, dBTP
    target: float           # the decoded file's target, LUFS

    @property
    def expected(self) -> float:
        """The PCM loudness that puts the decoded file on target."""
        return self.target - self.coding

    def master(self, channels: int) -> Master:
        """The limiter a pass at this level feeds the encoder through."""
        return Master(SAMPLE_RATE, channels, 1.0, self.ceiling)

    def again(self, measured: "Measured") -> Level | None:
        """The level for one more pass after a pass at this one ``measured`` off the expected
        loudness by more than LOUDNESS_TOLERANCE, else None (the pass is kept).

        The gain moves one dB per dB, for a pass that was too loud from what it would have
        measured unlimited (a gain that was too high is mostly taken back by the limiter, so a
        plain dB per dB would stop short; going up, the limiter takes more, so that is plain)."""
        target = self.expected
        if not np.isfinite(measured.lufs) or abs(measured.lufs - target) <= LOUDNESS_TOLERANCE:
            return None
        m = measured.lufs + measured.limited if measured.lufs > target else measured.lufs
        return replace(self, gain=self.gain * 10 ** ((target - m) / 20))


@dataclass(frozen=True)
class Measured:
    lufs: float             # the PCM's integrated loudness
    limited: float          # dB of energy the limiter took


class PassMeter:
    """What a mixing pass fed the encoder: its loudness, and the energy into and out of the limiter."""

    def __init__(self, channels: int):
        self._meter = LoudnessMeter(SAMPLE_RATE, channels, true_peak=False)
        self._in = self._out = 0.0      # sums of squares

    def limiting(self, x: np.ndarray) -> None:
        """``x`` went into the limiter."""
        self._in += float(np.dot(x.ravel(), x.ravel()))

    def fed(self, y: np.ndarray) -> None:
        """``y`` came out of the limiter into the encoder."""
        self._out += float(np.dot(y.ravel(), y.ravel()))
        if len(y):
            self._meter.feed(y)

    def result(self) -> Measured:
        a, b = self._in, self._out
        return Measured(self._meter.integrated_lufs(), 10 * np.log10(a / b) if b > 0 and a > b else 0.0)


def solve(timeline, mixer, ambience: str | None, base_dir: Path, target: float, out: Path,
          bitrate: int | None, progress=None) -> Level:
    """The level a render of ``mixer`` (its ``timeline``; its bed ``ambience``, a name or a file
    in ``base_dir``) to ``out`` mixes at to land the decoded file on ``target``; sets the
    mixer's bed level to match."""
    # the bed's loudness is measured meanwhile on another thread (numpy's FFT and the filter
    # kernel run without the GIL), which also makes the mixer's bed's first block (its noise tiles)
    def probe_bed():
        if mixer.bed is None:
            return None
        energies = bed_probe(ambience, base_dir, probe_frames(timeline.frames))
        mixer.bed.render(0, 1)
        return energies

    probe = in_background(probe_bed, "meditate-bed")
    model = analyse(timeline, mixer, progress, probe)
    probe()                 # (the thread is done with the mixer's bed before anything mixes)
    ceiling = peak_ceiling(out, mixer.channels, bitrate)
    base = mixer.bed_gain
    gain, shift = model.condition(target)
    mixer.bed_gain = base * 10 ** (shift / 20)
    if model.fg.size:
        model.limiting, model.coding = excerpt_ratios(mixer, model, gain, ceiling, out, bitrate)
        measured_at = (gain, shift, model.loudness(gain, shift) - target)
        gain, shift = model.condition(target)
        mixer.bed_gain = base * 10 ** (shift / 20)
        gain = settle(mixer, model, gain, shift, target, ceiling, measured_at)
    predicted = model.loudness(gain, shift)
    coding = predicted - model.loudness(gain, shift, coded=False)
    return Level(gain, shift, predicted, coding, ceiling, target)


def peak_ceiling(out: Path, channels: int, bitrate: int | None) -> float:
    """The limiter's ceiling (dBTP) that keeps the decoded file's true peak at TRUE_PEAK_CEILING."""
    margin = PEAK_MARGIN.get(out.suffix.lower())
    return TRUE_PEAK_CEILING - margin[channels] if margin else TRUE_PEAK_CEILING


def probe_frames(frames: int) -> int:
    return frames if frames <= BED_PROBE_WHOLE else min(BED_PROBE, frames)


def bed_probe(ambience: str, base_dir: Path, frames: int) -> np.ndarray:
    """Segment energies of the bed's first ``frames`` samples at unit gain."""
    src = base_dir / ambience
    return _probe_energies(ambience, str(base_dir), frames, src.stat().st_mtime_ns if src.is_file() else None)


@lru_cache(maxsize=16)
def _probe_energies(ambience: str, base_dir: str, frames: int, mtime_ns: int | None) -> np.ndarray:
    """(Kept per process, ``mtime_ns`` telling a changed bed file: a batch renders the same bed
    many times. The cache is thread-safe; two threads may measure the same probe at once.)"""
    bed = make_bed(ambience, rate=SAMPLE_RATE, base_dir=Path(base_dir))
    k = LoudnessMeter(SAMPLE_RATE, 2, true_peak=False)
    for a in range(0, frames, CHUNK):
        k.feed(bed.render(a, min(CHUNK, frames - a)))
    return k.segment_energies()


def analyse(timeline, mixer, progress=None, probe=None) -> LoudnessModel:
    """The model of the mix: the foreground's segment energies from its sounds' energy profiles
    (no mixing), and the bed's from ``probe()`` (its unit-gain probe's, cycled) scaled by the
    mixer's bed envelope."""
    fg = mixer.foreground_energies(SEGMENT)      # the mono foreground sits in every channel
    if progress:
        progress.advance(-(-timeline.frames // CHUNK))
    bed = np.zeros_like(fg)
    if mixer.bed is not None and fg.size:
        e = probe()
        if e.size:
            unit = np.resize(e, fg.size)                 # the probe's own spread of levels, cycled
            pos = np.arange(SEGMENT // 20, fg.size * SEGMENT, SEGMENT // 10, dtype=np.float64)
            env = mixer.bed_envelope(pos) * mixer.edge_envelope(pos)
            bed = (env.reshape(fg.size, 10) ** 2).mean(axis=1) * unit
    return LoudnessModel(fg, bed)


def settle(mixer, model: LoudnessModel, gain: float, shift: float, target: float, ceiling: float,
           measured_at: tuple) -> float:
    """The foreground gain whose excerpt, limited at that gain, predicts ``target``.

    The model's limiting was measured at another gain (``measured_at``: the gain, the bed's
    shift and the prediction's error there). A loud voice pushed into the limiter loses more
    at the solved gain than where it was measured, and the mixing pass would miss (a 60-minute
    mono practice measured 0.6 LU short and was mixed twice). So the limiting is measured again
    at the solved gain (the excerpt through the limiter only, no coding); while the prediction
    misses by more than SETTLE, secant steps on the gain in dB find the one that lands,
    measuring at each, SETTLE_STEPS at most (then the nearest). Where it lands at once, or
    where the limiting measured again moves the prediction by no more than SETTLE (a target the
    solve could not reach, between two steps of the gate), nothing changes."""
    was = model.limiting
    solved = model.loudness(gain, shift) - target       # with the limiting measured before
    points = [(20 * math.log10(measured_at[0]), measured_at[2])] if measured_at[1] == shift else []
    tried = []
    g = gain
    for _ in range(SETTLE_STEPS):
        model.limiting = excerpt_ratios(mixer, model, g, ceiling)[0]
        err = model.loudness(g, shift) - target
        if abs(err) <= SETTLE or (g == gain and abs(err - solved) <= SETTLE):
            if g == gain:
                model.limiting = was        # the solve stands as it was
            else:
                log.info("settle: the limiter takes more at the solved gain; gain x%.4f -> x%.4f", gain, g)
            return g
        tried.append((abs(err), g, model.limiting))
        gdb = 20 * math.log10(g)
        slope = 1.0
        if points:
            d0, e0 = points[-1]
            if gdb != d0:
                slope = min(1.0, max(0.1, (err - e0) / (gdb - d0)))
        points.append((gdb, err))
        g = float(10 ** ((gdb - max(-6.0, min(6.0, err / slope))) / 20))
    _, g, model.limiting = min(tried, key=lambda t: t[0])
    log.info("settle: the limiter takes more at the solved gain; gain x%.4f -> x%.4f", gain, g)
    return g


def excerpt_ratios(mixer, model: LoudnessModel, gain: float, ceiling: float, out: Path | None = None,
                   bitrate: int | None = None):
    """How much K-weighted energy the limiter leaves of the foreground and of the bed, and how
    much of that coding (MP3, AAC, Opus) leaves (decoded / fed; (1, 1) for WAV, or with no
    ``out``): ``((fg, bed), (fg, bed))``, from an excerpt of EXCERPT samples limited and sent
    through the encoder: 12 s of the mix from the first speech, then 8 s of the bed alone at its
    level (LAME low-passes, and spends few bits on quiet noise)."""
    frames = mixer.timeline.frames
    speech = [s for s, _ in mixer.speech_spans] or [e.start for e in mixer.events] or [0]
    n_mix = min(12 * EXCERPT // 20, frames)
    a = max(0, min(speech[0] - SAMPLE_RATE, frames - n_mix)) // SEGMENT * SEGMENT
    parts = list(mixer.chunks(fg_gain=gain, start=a, stop=a + n_mix))
    if mixer.bed is not None:
        n_bed = EXCERPT - n_mix
        parts.append((mixer.bed.render(a + n_mix, n_bed) * np.float32(mixer.bed_gain)).astype(np.float32))
    pcm = np.concatenate(parts)
    master = Master(SAMPLE_RATE, mixer.channels, 1.0, ceiling)
    limited = np.concatenate([master.process(pcm), master.flush()])

    def metered(*versions):
        return [_segment_energies(x, mixer.channels) for x in versions]

    if out is not None and out.suffix.lower() in CODED:
        # the two versions are metered on another thread (the filter runs without the GIL) while
        # this one waits for the codec's round trip (ffmpeg's encoding, then its decoding)
        fed = in_background(lambda: metered(pcm, limited), "meditate-meter")
        coded = round_trip(limited, SAMPLE_RATE, bitrate, out.suffix.lower())
        energies = fed() + metered(coded)
    else:
        energies = metered(pcm, limited)
    k = min(e.size for e in energies)
    energies = [e[:k] for e in energies]
    n_seg = n_mix // SEGMENT
    fg = np.zeros(k)
    bed = np.zeros(k)
    j0 = a // SEGMENT
    span = min(n_seg, model.fg.size - j0, k)
    fg[:span] = gain * gain * model.fg[j0:j0 + span]
    bed[:span] = model.bed[j0:j0 + span]        # (only which stem dominates matters)
    bed[n_seg:] = np.inf
    usable = np.ones(k, dtype=bool)
    usable[:5] = False                              # the K-filter settling at the excerpt's start
    usable[max(0, n_seg - 2):n_seg + 5] = False     # the seam between the mix and the bed alone
    usable[-3:] = False

    def ratios(fed, got):
        def ratio(sel):
            sel = sel & usable & (fed > 0)
            return float(got[sel].sum() / fed[sel].sum()) if sel.sum() >= 5 else 1.0

        return ratio(fg > 10 * bed), ratio(bed > 100 * fg)

    coding = ratios(energies[1], energies[2]) if len(energies) > 2 else (1.0, 1.0)
    return ratios(energies[0], energies[1]), coding


def _segment_energies(x: np.ndarray, channels: int) -> np.ndarray:
    m = LoudnessMeter(SAMPLE_RATE, channels, true_peak=False)
    m.feed(x)
    return m.segment_energies()


class LoudnessModel:
    """Per-100 ms K-weighted energies of the foreground and the bed; the mix is g**2 * fg + bed.

    ``limiting`` and ``coding`` are (foreground, bed) factors on each stem's energy: what the
    limiter leaves of it, and what the listener's decoder returns of that (MP3 coding low-passes
    and thins quiet noise; 1.0 for WAV). :meth:`loudness` with ``coded=True`` predicts the
    decoded file, ``coded=False`` the PCM the encoder is fed. ``shift`` (dB) moves the bed."""

    def __init__(self, fg: np.ndarray, bed: np.ndarray):
        self.fg, self.bed = fg, bed
        self.limiting = self.coding = (1.0, 1.0)
        # the 400 ms blocks' mean squares of each stem (linear in the segments, so they add too)
        self._fb = block_energies_from_segments(fg, SAMPLE_RATE)
        self._bb = block_energies_from_segments(bed, SAMPLE_RATE)

    def _factors(self, g: float, shift: float, coded: bool) -> tuple[float, float]:
        fc, bc = self.limiting
        if coded:
            fc, bc = fc * self.coding[0], bc * self.coding[1]
        return g * g * fc, 10 ** (shift / 10) * bc

    def segments(self, g: float, shift: float = 0.0, coded: bool = True) -> np.ndarray:
        f, b = self._factors(g, shift, coded)
        return f * self.fg + b * self.bed

    def _blocks(self, g: float, shift: float = 0.0, coded: bool = True) -> np.ndarray:
        f, b = self._factors(g, shift, coded)
        return f * self._fb + b * self._bb

    def loudness(self, g: float, shift: float = 0.0, coded: bool = True) -> float:
        return gated_loudness(self._blocks(g, shift, coded))

    def solve(self, target: float, shift: float = 0.0) -> float:
        """The foreground gain whose (decoded) mix is nearest ``target`` (loudness rises with the
        gain, in steps where the gate passes a bed's level, so the nearer side of a step wins)."""
        if not self.fg.size or not np.isfinite(gated_loudness(self._fb)):
            return 1.0           # nothing audible in the foreground: leave it be
        lo, hi = -60.0, 60.0
        for _ in range(32):
            mid = (lo + hi) / 2
            if self.loudness(10 ** (mid / 20), shift) < target:
                lo = mid
            else:
                hi = mid
        cands = [10 ** (lo / 20), 10 ** (hi / 20)]
        return min(cands, key=lambda g: abs(self.loudness(g, shift) - target))

    def fragile(self, g: float, shift: float = 0.0) -> bool:
        """True when the blocks within GATE_MARGIN of the relative gate could move the integrated
        loudness by more than GATE_SWING, were they all on the other side of it (as MP3 coding
        or a prediction off by a fraction of a dB can put them)."""
        z = self._blocks(g, shift)
        now = gated_loudness(z)
        return max(abs(gated_loudness(z, GATE_MARGIN) - now), abs(gated_loudness(z, -GATE_MARGIN) - now)) > GATE_SWING

    def condition(self, target: float) -> tuple[float, float]:
        """``(gain, bed shift dB)``: the solved gain, and the bed moved by the fewest BED_STEP steps
        (down first) that leave it clear of the relative gate, when it sits there or when the
        target is reached only by pushing the voice more than MAX_VOICE_PUSH over its own level at
        the target (sparse speech over a bed that is counted in: the voice goes into the limiter)."""
        g = self.solve(target)
        if not self.bed.any():
            return g, 0.0
        # the voice's gain with the bed far under the gate (still above the absolute one, so the
        # quiet blocks count in the gate as they do with any bed)
        limit = self.solve(target, -MAX_BED_SHIFT) * 10 ** (MAX_VOICE_PUSH / 20)

        def clear(g, shift):
            return abs(self.loudness(g, shift) - target) < 0.1 and g <= limit and not self.fragile(g, shift)

        if clear(g, 0.0):
            return g, 0.0
        for k in range(1, int(MAX_BED_SHIFT / BED_STEP) + 1):
            for shift in (-k * BED_STEP, k * BED_STEP):
                if shift > MAX_BED_RAISE:
                    continue
                g2 = self.solve(target, shift)
                if clear(g2, shift):
                    return g2, shift
        return g, 0.0           # nothing clear within reach: the retry is the safety net

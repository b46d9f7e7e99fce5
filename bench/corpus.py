"""A seeded corpus of practices nobody hand-picked, for loudness, true peak and passes.

    from bench.corpus import corpus, write_practice
    for case in corpus(seed=1, n=48): path, out, args = write_practice(case, folder)

Each case draws, from ``(seed, index)`` only:

* speech share 5-70 % (the first case is the sparse one the issue found: 5 %,
  pink bed), made of the invitational sentences of bench/practice.py between
  flexible pauses and soothing breathing, so ``length:`` is met exactly;
* the bed in turn from every one there is (none, white, pink, brown, ocean,
  drone, bowl-drone and a user audio file written beside the script), its
  ``ambience_level`` -45..-25 dBFS;
* a length of 1-60 minutes (log-uniform up to 20, every ``LONG_EVERY``-th case
  30-60 minutes);
* the output: MP3 VBR, MP3 CBR (48-128 kbit/s) or WAV, in turn; mono without a
  bed, stereo with one;
* the breath cue kind (glide, chime, spoken, none) and the bell (bowl, chime).

``python bench/run_corpus.py`` renders the corpus with the real voice and
measures every file with ffmpeg's ebur128; the tests render a slice with the
fake voice (tests/test_corpus.py).
"""
from __future__ import annotations

import math
import random
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import practice

BEDS = ("none", "white", "pink", "brown", "ocean", "drone", "bowl-drone", "user")
FORMATS = ("vbr", "cbr", "wav")
CUES = ("glide", "chime", "spoken", "none")
BELLS = ("bowl", "chime")
USER_BED = "user-bed.wav"
LONG_EVERY = 12
SENTENCE_WORDS_PER_S = 2.6   # the espeak voice's pace, measured on a first corpus run
OVERHEAD_S = 25.0            # two bells ringing out and the paragraph breaks
BREATHE_S = 60.0             # [breathe soothing x4-8]: 40-80 s


@dataclass(frozen=True)
class Case:
    index: int
    speech_share: float
    bed: str
    level: int
    minutes: float
    fmt: str
    bitrate: int | None
    cues: str
    bell: str
    seed: int

    @property
    def name(self) -> str:
        return (f"c{self.index:02d}-{self.bed}-{round(self.speech_share * 100)}pct-"
                f"{self.minutes:g}m-{self.fmt}")

    @property
    def ext(self) -> str:
        return ".wav" if self.fmt == "wav" else ".mp3"


def corpus(seed: int = 1, n: int = 48) -> list[Case]:
    out = []
    for i in range(n):
        rng = random.Random(seed * 100003 + i)
        share = 0.05 if i == 0 else round(rng.uniform(0.05, 0.70), 3)
        bed = "pink" if i == 0 else BEDS[i % len(BEDS)]
        if i and i % LONG_EVERY == 0:
            minutes = float(rng.choice((30, 45, 60)))
        else:
            minutes = round(math.exp(rng.uniform(0.0, math.log(20.0))), 1)
        if i == 0:
            minutes = 20.0
        fmt = FORMATS[i % len(FORMATS)] if i else "vbr"
        bitrate = rng.choice((48, 64, 96, 128)) if fmt == "cbr" else None
        out.append(Case(i, share, bed, int(rng.uniform(-45, -25)), minutes, fmt, bitrate,
                        CUES[(i // 2) % len(CUES)], BELLS[(i // 3) % len(BELLS)], seed * 1000 + i))
    return out


def _sentence_seconds(s: str) -> float:
    return len(s.split()) / SENTENCE_WORDS_PER_S + 0.4


def script_text(case: Case) -> str:
    """The practice as a meditate script."""
    rng = random.Random(case.seed)
    total = case.minutes * 60.0
    speech_goal = min(case.speech_share * total, 0.55 * (total - OVERHEAD_S))   # short ones stay reachable
    sentences = practice._sentences(case.seed)
    paras, spoken = [], 0.0
    while spoken < speech_goal or not paras:
        k = rng.choice((1, 2, 3, 4))
        para = [next(sentences) for _ in range(k)]
        spoken += sum(_sentence_seconds(s) for s in para)
        paras.append(" ".join(para))
    # breathing where there is room: about one block per four paragraphs, at most a third of the silence
    room = max(0.0, total - spoken - OVERHEAD_S)
    n_breathe = min(len(paras) // 4 + 1, int(room / 3 / BREATHE_S))
    gaps = len(paras) + 1
    fill = max(0.0, room - n_breathe * BREATHE_S)
    hi = max(30, int(3 * fill / gaps) + 10, int(1.5 * total / gaps) + 10)   # reachable whatever the voice
    ambience = USER_BED if case.bed == "user" else case.bed
    lines = ["---", f"title: Corpus {case.name}", "author: bench", f"length: {case.minutes:g}m",
             "voice: gentle", f"ambience: {ambience}", f"ambience_level: {case.level}",
             f"breath_cues: {case.cues}", f"bell: {case.bell}", "---", "", "# Arriving", "", "[bell]", "",
             f"[pause 1s-{hi}s]", ""]
    every = max(1, len(paras) // max(1, n_breathe)) if n_breathe else 0
    for j, para in enumerate(paras):
        lines += [para, "", f"[pause 1s-{hi}s]", ""]
        if n_breathe and j % every == every - 1 and (j // every) < n_breathe:
            lines += ["[breathe soothing x4-8]", ""]
    lines += ["# Closing", "", "[bell]", ""]
    return "\n".join(lines)


def write_user_bed(folder: Path, seed: int = 7) -> Path:
    """A 20-second stereo 'rain on leaves' file: band-passed noise with slow swells."""
    rate = 44100
    rng = np.random.default_rng(seed)
    n = 20 * rate
    x = rng.standard_normal((n, 2))
    x = np.cumsum(x, axis=0)
    x -= np.convolve(x[:, 0], np.ones(64) / 64, mode="same")[:, None]   # high-pass the brown noise a bit
    t = np.arange(n) / rate
    x *= (1.0 + 0.5 * np.sin(2 * np.pi * 0.13 * t))[:, None]
    x *= 0.25 / np.max(np.abs(x))
    path = folder / USER_BED
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((x * 32767).astype("<i2").tobytes())
    return path


def write_practice(case: Case, folder: Path) -> tuple[Path, Path, list[str]]:
    """Write the case's script (and the user bed) into ``folder``: (script, output, render args)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if case.bed == "user" and not (folder / USER_BED).exists():
        write_user_bed(folder)
    script = folder / f"{case.name}.md"
    script.write_text(script_text(case), encoding="utf-8")
    out = folder / f"{case.name}{case.ext}"
    args = ["--bitrate", str(case.bitrate)] if case.bitrate else []
    return script, out, args

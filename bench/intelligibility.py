"""Intelligibility: word error rate of an offline recognizer on rendered practices, per voice profile.

    .venv/bin/pip install -e '.[bench]'        # pocketsphinx (bundles its en-us model) and jiwer
    .venv/bin/python bench/intelligibility.py [--script PATH] [--voices a,b,...] [--no-bed]
                                              [--profiles-dir DIR] [--results PATH] [--readme PATH]

Each voice profile renders the practice (default ``scripts/reset-for-a-hard-moment.md``)
to a WAV twice: with no bed, and with the script's own bed (its ``ambience:`` and
level). The finished file is read back, mixed to mono, resampled to 16 kHz and
cut at the spoken phrases (the timeline's speech entries: the transcript's cues
before long ones are split by sentence); pocketsphinx decodes each phrase's span
(0.1 s margin) with its bundled en-us acoustic and language model, no network.
The reference is the phrase's text. Word error rate (jiwer: lower-cased, without
punctuation) = (substitutions + deletions + insertions) / reference words, over
the whole practice; the worst single cue is reported beside it.

A weak recognizer exaggerates every error, so the figure is a regression measure
and a ratio between voices, not a listener's experience. The default voice
should stay at or under ``GOAL`` without the bed.

``--profiles-dir`` adds a folder of candidate profiles (tried before the shipped
ones): that is how the espeak tuning in RESULTS.md was run. Results go into the
marked section of bench/RESULTS.md (and of the README with ``--readme``).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from generator.audio.samples import SAMPLE_RATE, Audio, from_int16, to_int16  # noqa: E402
from generator.script.profiles import DEFAULT_PROFILE, available_profiles, read_profile  # noqa: E402
from generator.pipeline import RenderOptions, prepare, render  # noqa: E402

GOAL = 0.30
RATE = 16000
SCRIPT = ROOT / "scripts" / "reset-for-a-hard-moment.md"
BEGIN, END = "<!-- intelligibility:begin -->", "<!-- intelligibility:end -->"
MARGIN = 0.1          # seconds decoded before and after each spoken phrase


def read_mono16k(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        rate, ch = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, ch)
    audio = from_int16(pcm, rate)
    return to_int16(Audio(audio.mono().samples, rate).resampled(RATE).samples)


class Recognizer:
    def __init__(self):
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=RATE, loglevel="FATAL")

    def text(self, pcm: np.ndarray) -> str:
        d = self.decoder
        d.start_utt()
        d.process_raw(pcm.tobytes(), full_utt=True)
        d.end_utt()
        hyp = d.hyp()
        return hyp.hypstr if hyp is not None else ""


def word_errors(refs: list[str], hyps: list[str]) -> tuple[float, float, int]:
    """(WER over all cues, worst cue's WER, reference words)."""
    import jiwer

    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                          jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])
    pairs = [(r, h if h.strip() else "<nothing>") for r, h in zip(refs, hyps) if r.strip()]
    out = jiwer.process_words([r for r, _ in pairs], [h for _, h in pairs],
                              reference_transform=norm, hypothesis_transform=norm)
    worst = max(jiwer.wer(r, h, reference_transform=norm, hypothesis_transform=norm) for r, h in pairs)
    words = sum(len(norm(r)[0]) for r, _ in pairs)
    return out.wer, worst, words


def measure(script: Path, voice: str, bed: bool, tmp: Path, rec: Recognizer) -> dict:
    out = tmp / f"{voice}-{'bed' if bed else 'dry'}.wav"
    opts = RenderOptions(voice=voice, ambience=None if bed else "none", strict_voice=True)
    t0 = time.perf_counter()
    res = render(script, out, opts)
    t1 = time.perf_counter()
    pcm = read_mono16k(out)
    # the spoken phrases (the transcript's cues before sentence splitting), from the speech cache
    cues = [(e.start / SAMPLE_RATE, e.end / SAMPLE_RATE, e.label)
            for e in prepare(script, opts).timeline.entries if e.kind == "speech"]
    hyps = [rec.text(pcm[max(0, int((a - MARGIN) * RATE)):int((b + MARGIN) * RATE)]) for a, b, _ in cues]
    wer, worst, words = word_errors([c for _, _, c in cues], hyps)
    return {"voice": voice, "bed": bed, "wer": wer, "worst": worst, "words": words, "cues": len(cues),
            "render_s": t1 - t0, "decode_s": time.perf_counter() - t1, "duration": res.duration}


def table(rows: list[dict], script: Path) -> list[str]:
    by = {}
    for r in rows:
        by.setdefault(r["voice"], {})[r["bed"]] = r
    lines = ["| voice profile | engine, voice, rate | WER, no bed (worst cue) | WER, with the bed (worst cue) |",
             "| --- | --- | --- | --- |"]
    profiles = available_profiles()
    for voice, d in by.items():
        p = read_profile(profiles[voice])
        what = f"{p.engine} {p.voice}, {p.rate} wpm" + (f", pitch {p.pitch}" if p.engine == "espeak" else "")
        cells = [f"{d[b]['wer']:.2f} ({d[b]['worst']:.2f})" if b in d else "" for b in (False, True)]
        name = f"{voice} (default)" if voice == DEFAULT_PROFILE else voice
        lines.append(f"| {name} | {what} | {cells[0]} | {cells[1]} |")
    return lines


def write_section(path: Path, body: list[str]) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = "\n".join([BEGIN, *body, END])
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--script", type=Path, default=SCRIPT)
    ap.add_argument("--voices", help="comma-separated profiles (default: every shipped profile)")
    ap.add_argument("--no-bed", action="store_true", help="only the renders without the bed")
    ap.add_argument("--profiles-dir", type=Path, help="a folder of extra (candidate) profiles")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"), help="results file ('' for none)")
    ap.add_argument("--readme", default="", help="also write the table into this README's marked section")
    args = ap.parse_args()
    if args.profiles_dir:
        os.chdir(args.profiles_dir.resolve().parent)        # ./voices is searched first
        assert args.profiles_dir.name == "voices", "--profiles-dir must be a folder named voices"
    voices = args.voices.split(",") if args.voices else sorted(available_profiles())
    rec = Recognizer()
    rows = []
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="meditate-wer-") as tmp:
        for voice in voices:
            for bed in ((False,) if args.no_bed else (False, True)):
                r = measure(args.script, voice, bed, Path(tmp), rec)
                rows.append(r)
                print(f"{voice:<14} {'bed' if bed else 'dry'}  WER {r['wer']:.3f}  worst cue {r['worst']:.2f}  "
                      f"{r['words']} words / {r['cues']} cues  render {r['render_s']:.1f} s  "
                      f"decode {r['decode_s']:.1f} s", flush=True)
    body = [f"Intelligibility of `{args.script.relative_to(ROOT) if args.script.is_absolute() else args.script}` "
            f"(bench/intelligibility.py; pocketsphinx en-us, decoded per spoken phrase; WER over "
            f"{rows[0]['words']} words; load average {load[0]:.1f} at start). Lower is better; the default "
            f"voice's goal is <= {GOAL:.2f} without the bed.", "", *table(rows, args.script)]
    print("\n".join(body))
    for path in filter(None, (args.results, args.readme)):
        write_section(Path(path), body)
    default = [r for r in rows if r["voice"] == DEFAULT_PROFILE and not r["bed"]]
    return 1 if default and default[0]["wer"] > GOAL else 0


if __name__ == "__main__":
    sys.exit(main())

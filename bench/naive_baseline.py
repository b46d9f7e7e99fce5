"""The naive baseline: the pyttsx3 + pydub script someone would write by hand.

    python bench/naive_baseline.py PLAN.json OUT.mp3

PLAN.json (written by bench/practice.py:to_plan) lists the practice's items:
``{"say": text}``, ``{"pause": [lo, hi]}`` (seconds), ``{"breathe": [lo, hi]}``
(seconds; here just silence), ``{"bell": seconds}``, and ``"target"`` seconds.

What it does, as a hand-rolled script would:

* pyttsx3 (espeak driver, with the bundled libespeak-ng from espeakng_loader
  pre-loaded RTLD_GLOBAL and ESPEAK_DATA_PATH set) saves each paragraph to a
  WAV with ``save_to_file`` + ``runAndWait``; its early-return bug is worked
  around by waiting until the file exists and its size stops changing.
* pydub: ``AudioSegment.from_wav`` per paragraph, concatenation with ``+``,
  ``AudioSegment.silent`` for pauses (flexible pauses stretched evenly so the
  whole reaches the target), a Sine-tone bell with a fade, a WhiteNoise bed
  (30 s, looped with ``overlay(loop=True)``), stereo, export to MP3 at 128k
  through ffmpeg (``generator.ffmpeg.ffmpeg_exe()``).
"""
from __future__ import annotations

import ctypes
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def load_espeak():
    import espeakng_loader

    lib = Path(espeakng_loader.get_library_path())
    so1 = lib.with_name("libespeak-ng.so.1")
    ctypes.CDLL(str(so1 if so1.exists() else lib), mode=ctypes.RTLD_GLOBAL)
    os.environ["ESPEAK_DATA_PATH"] = espeakng_loader.get_data_path()


def wait_for_file(path: str, timeout: float = 30.0) -> None:
    """pyttsx3 can return from runAndWait before the WAV is complete: wait until it is stable."""
    t0, last = time.time(), -1
    while time.time() - t0 < timeout:
        if os.path.exists(path):
            size = os.path.getsize(path)
            if size > 44 and size == last:
                return
            last = size
        time.sleep(0.05)
    raise RuntimeError(f"pyttsx3 never wrote {path}")


def main(plan_path: str, out_path: str) -> None:
    load_espeak()
    import pyttsx3
    from pydub import AudioSegment
    from pydub.generators import Sine, WhiteNoise

    from generator.ffmpeg import ffmpeg_exe

    AudioSegment.converter = ffmpeg_exe()
    AudioSegment.ffmpeg = ffmpeg_exe()

    plan = json.load(open(plan_path))
    target_ms = plan["target"] * 1000
    items = plan["items"]

    engine = pyttsx3.init("espeak")
    engine.setProperty("rate", 132)
    try:
        engine.setProperty("voice", "en-us+f3")
    except Exception:
        pass

    tmp = tempfile.mkdtemp(prefix="naive-")
    speech = {}
    for i, it in enumerate(items):
        if "say" in it:
            path = os.path.join(tmp, f"p{i}.wav")
            engine.save_to_file(it["say"], path)
            engine.runAndWait()
            wait_for_file(path)
            speech[i] = AudioSegment.from_wav(path).set_frame_rate(44100).set_channels(1)

    # stretch the flexible pauses evenly so the practice reaches the target length
    fixed = sum(len(s) for s in speech.values())
    lo_sum = hi_sum = 0.0
    for it in items:
        if "pause" in it or "breathe" in it:
            lo, hi = it.get("pause") or it.get("breathe")
            lo_sum += lo * 1000
            hi_sum += hi * 1000
        elif "bell" in it:
            fixed += it["bell"] * 1000
    frac = (target_ms - fixed - lo_sum) / (hi_sum - lo_sum) if hi_sum > lo_sum else 0.0
    frac = min(1.0, max(0.0, frac))

    bell = Sine(432).to_audio_segment(duration=9000, volume=-12).fade_in(10).fade_out(8000)
    practice = AudioSegment.silent(duration=0, frame_rate=44100)
    for i, it in enumerate(items):
        if "say" in it:
            practice += speech[i]
        elif "bell" in it:
            practice += bell
        else:
            lo, hi = it.get("pause") or it.get("breathe")
            practice += AudioSegment.silent(duration=(lo + frac * (hi - lo)) * 1000, frame_rate=44100)
    if len(practice) < target_ms:
        practice += AudioSegment.silent(duration=target_ms - len(practice), frame_rate=44100)

    noise = WhiteNoise().to_audio_segment(duration=30000, volume=-40).set_frame_rate(44100)
    practice = practice.overlay(noise, loop=True)
    practice = practice.set_channels(2).fade_in(4000).fade_out(5000)
    practice.export(out_path, format="mp3", bitrate="128k")
    print(f"naive: {len(practice) / 1000:.1f} s written to {out_path}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

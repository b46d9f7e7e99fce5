"""The natural voice by default, its espeak fallback (noticed once), --strict-voice and --draft."""
from __future__ import annotations

import wave

import pytest
from click.testing import CliRunner

import generator.engines as engines
from generator.cli import cli
from generator.errors import ProfileError
from generator.pipeline import RenderOptions, prepare
from generator.script.parse import load_script

BODY = """
Hello there. Rest a moment.

[voice nat2]
And rest a little longer.
"""


@pytest.fixture
def unavailable_voice(tmp_path, monkeypatch):
    """Two Piper profiles whose model is missing, with fake-engine fallbacks; no forced engine."""
    voices = tmp_path / "voices"
    voices.mkdir()
    for name, fallback in (("nat", "stand-in"), ("nat2", "stand-in-slow")):
        (voices / f"{name}.yaml").write_text(
            f"engine: piper\nvoice: {tmp_path / 'missing.onnx'}\nrate: 140\nfallback: {fallback}\n")
    (voices / "stand-in.yaml").write_text("engine: fake\nrate: 150\n")
    (voices / "stand-in-slow.yaml").write_text("engine: fake\nrate: 100\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MEDITATE_ENGINE", raising=False)
    monkeypatch.setattr(engines, "REGISTRY", engines.Registry())     # nothing noticed yet


def _voices_spoken(p) -> list[str]:
    return [e.voice.name for e in p.timeline.entries if e.kind.name == "speech"]


def test_a_script_naming_no_voice_gets_the_natural_one(write_script):
    script = load_script(write_script("Hello."))
    assert script.settings.voice == "neural"
    p = prepare(write_script("Hello."), RenderOptions())
    assert _voices_spoken(p) == ["neural"]


def test_a_named_espeak_profile_is_kept(write_script):
    p = prepare(write_script("Hello.", voice="gentle"), RenderOptions())
    assert _voices_spoken(p) == ["gentle"]


def test_unavailable_voice_falls_back_and_says_so_once(unavailable_voice, write_script, capsys):
    p = prepare(write_script(BODY, voice="nat"), RenderOptions())
    assert _voices_spoken(p) == ["stand-in", "stand-in-slow"]
    err = capsys.readouterr().err
    assert err.count("meditate: the natural voice is not available") == 1, err
    assert "missing.onnx" in err and "nat -> stand-in" in err and "pip install '.[neural]'" in err


def test_strict_voice_makes_it_an_error(unavailable_voice, write_script, tmp_path):
    script = write_script(BODY, voice="nat")
    with pytest.raises(ProfileError, match="cannot speak here.*pip install"):
        prepare(script, RenderOptions(strict_voice=True))
    out = tmp_path / "x.wav"
    r = CliRunner().invoke(cli, ["render", str(script), "-o", str(out), "-q", "--strict-voice"])
    assert r.exit_code == 1 and r.output.startswith("Error: ") and "nat" in r.output
    assert not out.exists()


def test_draft_speaks_the_fallback_without_a_bed_into_a_wav(unavailable_voice, write_script, tmp_path):
    script = write_script("Hello there. Rest a moment.", voice="nat", ambience="pink")
    r = CliRunner().invoke(cli, ["render", str(script), "--draft", "-q"])
    assert r.exit_code == 0, r.output
    assert "natural voice" not in r.output          # a draft chose espeak: nothing to notice
    out = tmp_path / "audio_out" / "practice.wav"
    with wave.open(str(out)) as w:
        assert w.getnchannels() == 1                 # no bed: the mono voice alone
    p = prepare(script, RenderOptions(draft=True))
    assert _voices_spoken(p) == ["stand-in"]


def test_voices_names_the_default_and_why():
    r = CliRunner().invoke(cli, ["voices"])
    assert r.exit_code == 0
    assert "default: neural, the natural Piper voice" in r.output


def test_the_lexicon_beside_the_profiles_is_not_listed_as_a_voice():
    """voices/lexicon.yaml shares the folder with the profiles; `voices` and "available:" lists leave it out."""
    out = CliRunner().invoke(cli, ["voices"])
    assert out.exit_code == 0, out.output
    assert "lexicon" not in out.output.split("piper voices:")[0]
    assert "Error" not in out.output
    bad = CliRunner().invoke(cli, ["plan", "scripts/evening-rest.md", "--voice", "nope"])
    assert bad.exit_code != 0
    assert "available: gentle, neural, neural-slow, slow, warm;" in bad.output

"""The public library API, used only through its public names (``from generator import …``)."""
from __future__ import annotations

import subprocess
import sys
import wave

import pytest

import generator
from generator import MeditateError, Plan, RenderOptions, RenderResult, ScriptError, check, plan, render

BODY = """\
# Arriving
Welcome. Let the body settle.
[pause 2s-20s]
[breathe 4-4 x2]
# Resting
Rest here a while.
[pause 3s]
"""


def test_the_public_names_are_documented_and_import_cheaply():
    for obj in (render, check, plan, RenderOptions, RenderResult, Plan, MeditateError, ScriptError):
        assert obj.__doc__ and not obj.__doc__.startswith(obj.__name__ + "("), obj     # (not a dataclass's default)
    assert set(generator.__all__) >= {"render", "check", "plan", "RenderOptions", "__version__"}
    out = subprocess.run([sys.executable, "-c", "import sys, generator; print(sorted(m for m in sys.modules "
                          "if m.startswith(('generator.', 'numpy', 'click', 'yaml'))))"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"          # nothing heavy until a public name is used


def test_the_public_functions_stay_functions_when_the_pipeline_loads():
    import generator.pipeline
    import generator.validate  # noqa: F401

    assert generator.render is render and generator.check is check      # no submodule takes their names


def test_plan_render_and_check_through_the_public_api(write_script, tmp_path):
    script = write_script(BODY, title="Public", ambience="none")
    assert check(script) == []
    p = plan(script, RenderOptions(length=30))
    assert isinstance(p, Plan) and p.script.title == "Public"
    assert p.duration == 30.0 == p.timeline.frames / 44100          # fitted to the length exactly
    assert [c.title for c in p.timeline.chapters] == ["Arriving", "Resting"]
    assert [e.kind.name for e in p.timeline.entries] == ["speech", "pause", "breathe", "speech", "pause"]
    assert p.bed_shift == 0.0

    res = render(script, tmp_path / "out" / "public.wav", RenderOptions(length=30))
    assert isinstance(res, RenderResult) and res.out == tmp_path / "out" / "public.wav"
    assert res.duration == p.duration and res.passes == 1
    assert res.loudness == pytest.approx(-16.0, abs=0.5)
    with wave.open(str(res.out)) as w:       # the file holds exactly the planned samples
        assert w.getframerate() == 44100 and w.getnframes() == p.timeline.frames
    assert res.vtt.read_text(encoding="utf-8").startswith("WEBVTT")


def test_check_raises_the_packages_error_with_path_and_line(write_script):
    script = write_script("Fine line.\n\n[pause forever]\n", title="Bad")
    with pytest.raises(ScriptError) as caught:
        check(script)
    e = caught.value
    assert isinstance(e, MeditateError) and e.path == str(script) and e.line == 6
    assert str(e).startswith(f"{script}:6: ")
    with pytest.raises(MeditateError) as missing:
        render(script.with_name("absent.md"), script.with_name("x.wav"))
    assert missing.value.path == str(script.with_name("absent.md"))
    assert not script.with_name("x.wav").exists()

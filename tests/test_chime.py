"""[chime]: one soft chime, where the timeline says, at its level, in plan, the picture and check."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
from click.testing import CliRunner

from generator.audio import sounds
from generator.cli import cli
from generator.cues.chime import GAIN, SECONDS
from generator.mixer import Mixer
from generator.pipeline import RenderOptions, prepare
from tests.signals import db, dominant_freq, peak

SR = 44100
BODY = "Settle.\n[pause 2s]\n[chime]\n[pause 2s]\nRest.\n"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def chime_entry(p):
    [e] = [e for e in p.timeline.entries if e.kind.name == "chime"]
    return e


def test_chime_sounds_exactly_where_the_timeline_puts_it(write_script):
    p = prepare(write_script(BODY), RenderOptions())
    e = chime_entry(p)
    pause = next(x for x in p.timeline.entries if x.kind.name == "pause")
    assert e.start == pause.end and e.length == round(SECONDS * SR) and e.line == 6
    y = np.concatenate(list(Mixer(p.timeline).chunks(size=10007)))
    s, n = e.start, e.length
    assert np.all(y[pause.start:s] == 0) and np.all(y[s + n:s + n + 2 * SR] == 0)   # silence around it
    assert y[s] == 0 and abs(y[s + 1]) > 0      # the note starts at sin(0): first sound one sample in
    note = y[s:s + n]
    assert np.array_equal(note, sounds.breath_chime([("in", n)], SR) * np.float32(GAIN))
    assert abs(db(peak(note)) - db(0.25 * GAIN)) < 0.05          # -16.5 dBFS: soft, under the voice
    assert abs(dominant_freq(note, SR) - 659.26) < 2             # E5
    assert db(peak(note[-int(0.1 * SR):])) < -60                  # rung out before what follows


def test_rendered_chime_is_the_only_sound_in_its_slot(write_script, tmp_path):
    import wave

    script = write_script(BODY)
    out = tmp_path / "c.wav"
    assert run("render", script, "-o", out, "-q").exit_code == 0
    with wave.open(str(out)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768
    e = chime_entry(prepare(script, RenderOptions()))
    s, n = e.start, e.length
    assert np.all(x[s - SR:s] == 0) and np.all(x[s + n:s + n + SR] == 0)
    onset = s + int(np.flatnonzero(x[s:s + n])[0])
    assert s <= onset <= s + 3
    assert -30 < db(peak(x[s:s + n])) < -3


def test_plan_svg_and_check_know_the_chime(write_script, tmp_path):
    script = write_script(BODY)
    svg = tmp_path / "t.svg"
    r = run("plan", script, "--svg", svg, "-q")
    assert r.exit_code == 0, r.output
    assert re.search(r"0:00:0\d\.\d+\s+4\.00s\s+6\s+chime$", r.output, re.MULTILINE), r.output
    e = chime_entry(prepare(script, RenderOptions()))
    circles = [c for c in ET.parse(svg).getroot().iter("{http://www.w3.org/2000/svg}circle")
               if c.get("class") == "chime"]
    assert len(circles) == 1 and circles[0].get("data-line") == "6"
    assert abs(float(circles[0].get("data-start")) - e.start / SR) < 0.01
    assert run("check", script).exit_code == 0


def test_check_rejects_a_chime_with_arguments_at_its_line(write_script):
    script = write_script("Settle.\n[chime 3]\n")
    r = run("check", script)
    assert r.exit_code != 0
    assert f"Error: {script}:5: [chime 3]: [chime] takes nothing" in r.output
    r = run("check", write_script("Settle.\n[chimes]\n", name="b.md"))
    assert r.exit_code != 0 and "unknown cue [chimes] (did you mean [chime]?)" in r.output

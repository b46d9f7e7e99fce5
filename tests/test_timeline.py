"""Sample-exact timelines and length fitting (fake engine: speech lengths are deterministic)."""
from __future__ import annotations

import pytest

from generator.audio.samples import SAMPLE_RATE
from generator.errors import LengthError
from generator.pipeline import RenderOptions, prepare

SR = SAMPLE_RATE


def plan(path, **kw):
    return prepare(path, RenderOptions(**kw)).timeline


def test_entries_are_contiguous_and_sample_exact(write_script):
    p = write_script("""
        # One
        Hello there. [pause 1.5s] And again.
        [breathe 4-7-8 x2]
        [pause 333ms]
        # Two
        [bell 2]
        """)
    tl = plan(p)
    pos = 0
    for e in tl.entries:
        assert e.start == pos, e
        pos = e.end
    assert pos == tl.frames
    b = next(e for e in tl.entries if e.kind.name == "breathe")
    assert b.length == 38 * SR
    # phase boundaries: in 4 s, hold 7 s, out 8 s, per cycle, exact
    assert [(n, s - b.start, k) for n, s, k in b.phases] == [
        ("in", 0, 4 * SR), ("hold", 4 * SR, 7 * SR), ("out", 11 * SR, 8 * SR),
        ("in", 19 * SR, 4 * SR), ("hold", 23 * SR, 7 * SR), ("out", 30 * SR, 8 * SR)]
    pause = [e for e in tl.entries if e.kind.name == "pause"]
    assert [e.length for e in pause] == [round(1.5 * SR), round(0.333 * SR)]
    assert [c.title for c in tl.chapters] == ["One", "Two"]
    assert tl.chapters[0].start == 0 and tl.chapters[0].end == tl.chapters[1].start
    assert tl.chapters[1].end == tl.frames


def test_no_drift_over_many_odd_pauses(write_script):
    p = write_script("[pause 0.0123s]\n" * 1000)
    tl = plan(p)
    assert tl.frames == round(12.3 * SR)
    assert max(e.length for e in tl.entries) - min(e.length for e in tl.entries) <= 1


def test_default_and_paragraph_pause_come_from_the_voice_profile(write_script, tmp_path):
    (tmp_path.parent / "voices").mkdir(exist_ok=True)
    (tmp_path.parent / "voices" / "testvoice.yaml").write_text(
        "engine: espeak\nvoice: en-us\nrate: 150\nparagraph_pause: 2.25s\ndefault_pause: 4.5s\n")
    p = write_script("One.\n\nTwo.\n[pause]\n", voice="testvoice")
    tl = plan(p)
    pauses = [e.length for e in tl.entries if e.kind.name == "pause"]
    assert pauses == [round(2.25 * SR), round(4.5 * SR)]


def test_without_target_flexible_items_take_the_middle(write_script):
    p = write_script("[pause 30s-3m]\n[breathe 4-6 x5-20]\n")
    tl = plan(p)
    assert tl.entries[0].length == round(105 * SR)
    assert tl.entries[1].cycles == 13
    assert tl.reachable == (30 + 50, 180 + 200)


@pytest.mark.parametrize("target", [90, 101.3, 200, 333.3, 379.9])
def test_fitting_lands_on_the_target(write_script, target):
    p = write_script("Hello, friend. [pause 10s-1m]\n[breathe 4-6 x5-20]\nAnd rest. [pause 20s-2m]\n")
    tl = plan(p, length=target)
    assert abs(tl.duration - target) <= 0.5
    # the two pauses move by the same fraction of their ranges
    a, b = [e for e in tl.entries if e.kind.name == "pause" and e.flexible]
    fa = (a.length / SR - 10) / 50
    fb = (b.length / SR - 20) / 100
    assert fa == pytest.approx(fb, abs=1e-4)


def test_only_cycles_flexible_still_lands_within_tolerance(write_script):
    p = write_script("[breathe coherent x3-30]\n[pause 4s]\n")
    tl = plan(p, length=202.3)   # 4 s + 18 whole 11 s cycles = 202 s
    assert tl.entries[0].cycles == 18
    assert abs(tl.duration - 202.3) <= 0.5
    with pytest.raises(LengthError, match=r"whole breath cycles \(nearest: 202.0 s\)"):
        plan(p, length=200)      # 2 s from the nearest whole-cycle length


def test_out_of_reach_names_the_range(write_script):
    p = write_script("[pause 1m-2m]\n[pause 10s]\n")
    with pytest.raises(LengthError) as e:
        plan(p, length=1800)
    assert str(e.value) == f"{p}: length 30m is out of reach: this script can last 1m10s to 2m10s"


def test_front_matter_length_is_the_default_target(write_script):
    p = write_script("[pause 1m-3m]\n[bell]\n", length="2m30s")
    assert abs(plan(p).duration - 150) <= 0.5
    assert abs(plan(p, length=100).duration - 100) <= 0.5


def test_language_replaces_the_espeak_voice_keeping_its_variant(write_script):
    p = write_script("Atme ruhig ein und aus.\n[voice slow]\nUnd noch einmal.\n", language="de", voice="gentle")
    voices = [e.voice.voice for e in plan(p).entries if e.kind.name == "speech"]
    assert voices == ["de+f3", "de+f3"]

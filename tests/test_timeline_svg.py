"""The timeline picture: shapes at the x of their times (read back through the axis's own ticks),
every lane drawn, every shipped practice drawn, readable at 4 and at 60 minutes."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from generator.audio.samples import SAMPLE_RATE
from generator.cli import cli
from generator.pipeline import RenderOptions, prepare
from generator.output.timeline_svg import timeline_svg

from tests.helpers import REPO

NS = "{http://www.w3.org/2000/svg}"


def draw(path, **kw) -> tuple[ET.Element, object]:
    p = prepare(path, RenderOptions(**kw))
    return ET.fromstring(timeline_svg(p)), p


def classed(root, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in e.get("class", "").split()]


def axis(root):
    """x(seconds) from the axis: the first two ticks' x and their labelled times."""
    ticks = classed(root, "tick")
    (x0, t0), (x1, t1) = [(float(t.get("x")), float(t.get("data-seconds"))) for t in ticks[:2]]
    assert t0 == 0 and ticks[0].text == "0"
    return lambda s: x0 + (s - t0) * (x1 - x0) / (t1 - t0)


def xs(points: str) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in points.split()]


def test_shapes_sit_at_the_x_of_their_times(write_script):
    path = write_script("""
        [pause 30s]
        # Breathing
        [breathe 4-2-6 x3]
        Hello there.
        [pause 10s-20s]
        [bell 2]
        """, ambience="brown", ambience_level=-30)
    root, p = draw(path)
    x = axis(root)
    tick_labels = [t.text for t in classed(root, "tick")]
    assert tick_labels[:3] == ["0", "0:10", "0:20"]      # 96 s: ticks every 10 s, in minutes
    # the fixed pause at 0 for 30 s
    first = classed(root, "pause")[0]
    assert float(first.get("x")) == pytest.approx(x(0), abs=0.03)
    assert float(first.get("width")) == pytest.approx(x(30) - x(0), abs=0.03)
    # the chapter band starts at 30 s, labelled
    band = classed(root, "chapter")[0]
    assert float(band.get("x")) == pytest.approx(x(30), abs=0.03)
    assert [t.text for t in classed(root, "chapter-label")] == ["Breathing"]
    # breath: inhale rises over 30-34 s, hold 34-36 s is a bar, exhale falls over 36-42 s; 3 cycles
    inhale, hold, exhale = classed(root, "inhale"), classed(root, "hold"), classed(root, "exhale")
    assert (len(inhale), len(hold), len(exhale)) == (3, 3, 3)
    (ax, ay), (bx, by), (cx, cy) = xs(inhale[0].get("points"))
    assert (ax, bx, cx) == pytest.approx((x(30), x(34), x(34)), abs=0.02) and by < ay   # rises
    assert float(hold[0].get("x")) == pytest.approx(x(34), abs=0.03)
    assert float(hold[0].get("width")) == pytest.approx(x(36) - x(34), abs=0.03)
    (ax, ay), (bx, by), (cx, cy) = xs(exhale[0].get("points"))
    assert (ax, bx, cx) == pytest.approx((x(36), x(36), x(42)), abs=0.02) and by < cy   # falls
    assert float(classed(root, "inhale")[2].get("data-start")) == 54
    # the phrase after three 12 s cycles starts at 66 s, its words as the tooltip
    speech = classed(root, "speech")
    assert len(speech) == 1 and float(speech[0].get("x")) == pytest.approx(x(66), abs=0.03)
    assert speech[0].find(NS + "title").text == "Hello there."
    spoken = p.timeline.entries[2].length / SAMPLE_RATE
    assert float(speech[0].get("width")) == pytest.approx(x(66 + spoken) - x(66), abs=0.03)
    # the flexible pause: hatched, fitted to the middle (15 s), its 10-20 s range drawn beneath
    flex = classed(root, "flexible")
    assert len(flex) == 1 and float(flex[0].get("width")) == pytest.approx(x(15) - x(0), abs=0.03)
    a = 66 + spoken
    assert float(flex[0].get("x")) == pytest.approx(x(a), abs=0.03)
    assert "10–20 s" in flex[0].find(NS + "title").text
    ranges = [e for e in classed(root, "range") if e.get("y1") == e.get("y2")]
    assert len(ranges) == 1
    assert float(ranges[0].get("x1")) == pytest.approx(x(a + 10), abs=0.03)
    assert float(ranges[0].get("x2")) == pytest.approx(x(a + 20), abs=0.03)
    # two bell strikes at the bell's start and one spacing later
    bells = classed(root, "bell")
    strikes = p.timeline.entries[-1].strikes
    assert [float(b.get("cx")) for b in bells] == pytest.approx([x(s / SAMPLE_RATE) for s in strikes], abs=0.03)
    assert float(bells[0].get("cx")) == pytest.approx(x(a + 15), abs=0.03)


def test_the_bed_lane_shows_level_ducking_and_fades(write_script):
    path = write_script("""
        [pause 20s]
        Hello there, a long phrase to duck the bed under for a while and a while.
        [pause 20s]
        """, ambience="brown", ambience_level=-30)
    root, p = draw(path)
    x = axis(root)
    marks = {float(t.get("data-db")): float(t.get("y1")) for t in root.iter() if t.get("data-db")}
    top, bottom = marks[-20.0], marks[-60.0]
    px_per_db = (bottom - top) / 40

    (bed,) = classed(root, "bed")
    pts = xs(bed.get("points"))[1:-1]

    def level_at(seconds: float) -> float:
        y = min(pts, key=lambda pt: abs(pt[0] - x(seconds)))[1]
        return -20 - (y - top) / px_per_db

    speech = next(e for e in p.timeline.entries if e.kind.name == "speech")
    mid_speech = (speech.start + speech.length / 2) / SAMPLE_RATE
    assert level_at(10) == pytest.approx(-30, abs=0.5)            # at its level in the silence
    assert level_at(mid_speech) == pytest.approx(-40, abs=0.5)    # ducked 10 dB under the voice
    assert level_at(0.2) < -45                                     # fading in
    assert level_at(p.timeline.duration - 0.2) < -45               # and out


def test_no_bed_says_so(write_script):
    root, _ = draw(write_script("Hello.\n"))
    assert not classed(root, "bed")
    assert any(t.text == "no ambience bed" for t in root.iter(NS + "text"))


@pytest.mark.parametrize("minutes", [4, 60])
def test_readable_at_4_and_60_minutes(write_script, minutes):
    path = write_script("# A\nHello there.\n[pause 10s-2h]\n# B\n[breathe 4-6 x3]\nGoodbye.\n")
    root, p = draw(path, length=minutes * 60)
    assert p.timeline.duration == pytest.approx(minutes * 60, abs=0.5)
    width = float(root.get("width"))
    x = axis(root)
    assert x(minutes * 60) <= width
    ticks = [float(t.get("x")) for t in classed(root, "tick")]
    gaps = {round(b - a, 3) for a, b in zip(ticks, ticks[1:])}
    assert min(gaps) >= 64                       # tick labels never crowd
    assert 8 <= len(ticks) <= 70
    cycle_px = x(10) - x(0)
    assert cycle_px >= 6                         # a breath cycle is still a visible shape at an hour
    if minutes == 60:
        assert [t.text for t in classed(root, "tick")][1] == "2"   # whole minutes
        assert width >= 60 * 40
    else:
        assert width <= 1100                     # a short practice fits a screen


@pytest.mark.parametrize("script", sorted((REPO / "scripts").glob("*.md")), ids=lambda p: p.stem)
def test_every_shipped_practice_is_drawn(script):
    root, p = draw(script)
    tl = p.timeline
    kinds = [e.kind.name for e in tl.entries]
    assert len(classed(root, "speech")) == kinds.count("speech")
    assert len(classed(root, "pause")) == kinds.count("pause")
    assert len(classed(root, "breathe-cue")) == kinds.count("breathe")
    assert len(classed(root, "bell")) == sum(len(e.strikes) for e in tl.entries if e.kind.name == "bell")
    assert len(classed(root, "chapter")) == len(tl.chapters)
    assert all(s.find(NS + "title").text for s in classed(root, "speech"))
    x, width = axis(root), float(root.get("width"))
    for e in root.iter():
        if e.get("x") and e.tag != NS + "text":
            assert x(0) - 0.01 <= float(e.get("x")) <= x(tl.duration) + 0.01, e.attrib
    assert width >= x(tl.duration)
    assert (p.script.settings.ambience == "none") == (not classed(root, "bed"))


def test_plan_svg_writes_the_picture(write_script, tmp_path):
    path = write_script("Hello.\n[pause 5s]\n")
    out = tmp_path / "t.svg"
    res = CliRunner().invoke(cli, ["plan", str(path), "--svg", str(out)])
    assert res.exit_code == 0, res.output
    assert ET.parse(out).getroot().tag == NS + "svg"
    series = REPO / "scripts" / "series" / "seven-days-of-self-compassion.yaml"
    res = CliRunner().invoke(cli, ["plan", str(series), "--svg", str(out)])
    assert res.exit_code == 2 and "--svg apply to a script" in res.output

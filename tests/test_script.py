"""The script format: front matter, templates, headings, comments and every cue form."""
from __future__ import annotations

import pytest

from generator.script.durations import parse_duration
from generator.errors import ScriptError, TemplateError
from generator.cues.bell import Bell
from generator.cues.breathe import Breathe
from generator.cues.pause import Pause
from generator.cues.speech import Speech
from generator.cues.voice import VoiceChange
from generator.script.parse import Heading, load_script


def items_of(write_script, body, variables=None, **meta):
    return load_script(write_script(body, **meta), variables or {}).items


@pytest.mark.parametrize("text,seconds", [
    ("500ms", 0.5), ("4s", 4), ("4", 4), ("1.5s", 1.5), ("2m", 120), ("1m30s", 90), ("1h", 3600),
    ("1h2m3s", 3723), ("0.25", 0.25), ("2M", 120),
])
def test_durations_in_every_unit(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "4x", "1s1m", "1m1m", "-3s", "9999h", "4 s", "1,5s", "7h"])
def test_malformed_or_huge_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_pause_forms(write_script):
    its = items_of(write_script, "[pause 5s]\n[pause]\n[pause 30s-3m]\n[pause 1m30s]\n")
    # the default front matter is one line, so the body starts on line 4
    assert its == [Pause(5, 5, 4), Pause(-1, -1, 5), Pause(30, 180, 6), Pause(90, 90, 7)]
    assert its[2].flexible and not its[0].flexible


@pytest.mark.parametrize("cue,pattern,low,high", [
    ("4-7-8 x4", (4, 7, 8), 4, 4),
    ("4-4-4-4 x6", (4, 4, 4, 4), 6, 6),
    ("box x6", (4, 4, 4, 4), 6, 6),
    ("478 x4", (4, 7, 8), 4, 4),
    ("coherent 2m", (5.5, 5.5), 10, 10),        # 120 / 11 = 10 whole cycles
    ("soothing x3", (4, 0, 6), 3, 3),
    ("5-5 for 2m", (5, 5), 12, 12),
    ("4-6 x5-20", (4, 6), 5, 20),
    ("5.5-5.5 for 1m", (5.5, 5.5), 5, 5),
])
def test_breathe_forms(write_script, cue, pattern, low, high):
    (b,) = items_of(write_script, f"[breathe {cue}]\n")
    assert isinstance(b, Breathe)
    assert b.pattern == tuple(float(p) for p in pattern)
    assert (b.low, b.high) == (low, high)


def test_soothing_drops_the_zero_hold():
    b = Breathe((4.0, 0.0, 6.0), 1, 1, 1)
    assert b.phases() == [("in", 4.0), ("out", 6.0)]
    assert Breathe((4.0, 4.0, 4.0, 4.0), 1, 1, 1).phases() == [("in", 4), ("hold", 4), ("out", 4), ("hold", 4)]


def test_bells_voices_headings_comments(write_script):
    its = items_of(write_script, """
        # Arriving
        // a note for other writers, never spoken: {{ not_a_variable
        [bell]
        ## Body scan
        [bell 3]
        [voice slow]
        """)
    assert its == [Heading("Arriving", 1, 4), Bell(1, 6), Heading("Body scan", 2, 7), Bell(3, 8),
                   VoiceChange("slow", 9)]


def test_cue_inside_a_sentence_splits_the_speech(write_script):
    its = items_of(write_script, "Breathe in [pause 2s] and out.\n")
    assert its == [Speech("Breathe in", 4), Pause(2, 2, 4), Speech("and out.", 4)]


def test_paragraph_break_between_speech_only(write_script):
    its = items_of(write_script, "One.\nstill one.\n\nTwo.\n\n[pause 2s]\n\nThree.\n")
    kinds = [(type(i).__name__, getattr(i, "paragraph", None)) for i in its]
    assert kinds == [("Speech", None), ("Pause", True), ("Speech", None), ("Pause", False), ("Speech", None)]
    assert its[0].text == "One. still one."


def test_source_lines_survive_templates(write_script):
    p = write_script("""
        Hello {{ name }}.
        {% if pronoun %}
        You, {{ pronoun }}.
        {% endif %}

        Bye {{ name | title }}.
        """, front="title: T\nvariables:\n  name: friend\n  pronoun: null")
    its = load_script(p, {"pronoun": "they", "name": "sam"}).items
    # the body starts on line 7: '---', four front-matter lines, '---'
    assert [(i.text, i.line) for i in its if isinstance(i, Speech)] == [
        ("Hello sam. You, they.", 7), ("Bye Sam.", 12)]


def test_variable_defaults_and_overrides(write_script):
    p = write_script("Hi {{ name }}.\n", front="title: T\nvariables:\n  name: friend")
    assert load_script(p).items[0].text == "Hi friend."
    assert load_script(p, {"name": "Ana"}).items[0].text == "Hi Ana."


def test_every_missing_variable_is_named_at_once(write_script):
    p = write_script("{{ a }} {{ b }} {{ c }} {{ d }}\n",
                     front="title: T\nvariables:\n  a: null\n  b: null\n  c: x")
    with pytest.raises(TemplateError) as e:
        load_script(p)
    msg = str(e.value)
    assert "a, b" in msg and "missing required" in msg
    assert "undefined variable d" in msg
    assert msg.startswith(f"{p}:")


def test_unknown_variable_on_the_command_line(write_script):
    p = write_script("Hi {{ name }}.\n", front="title: T\nvariables:\n  name: friend")
    with pytest.raises(TemplateError, match="unknown variable nmae"):
        load_script(p, {"nmae": "x"})


@pytest.mark.parametrize("expr", [
    "{{ name.__class__.__mro__ }}",
    "{{ ''.__class__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ name.upper.__self__ }}",
])
def test_sandbox_escapes_are_refused(write_script, expr):
    p = write_script(f"Line one.\n{expr}\n", front="title: T\nvariables:\n  name: friend")
    with pytest.raises(TemplateError) as e:
        load_script(p)
    assert str(e.value).startswith(f"{p}:")


def test_sandbox_refuses_mutation(write_script):
    p = write_script("{% set x = [] %}{{ x.append(1) }}\n", front="title: T")
    with pytest.raises(TemplateError, match="not allowed"):
        load_script(p)


ERRORS = [
    # (front matter, body, expected line, fragment)
    ("title: T\ncolour: blue", "Hi.\n", 3, "unknown front matter key 'colour'"),
    ("title: [unclosed", "Hi.\n", 2, "not valid YAML"),
    ("description: no title", "Hi.\n", None, "needs a 'title:'"),
    ("title: T\nbreath_cues: whistle", "Hi.\n", 3, "breath_cues"),
    ("title: T\nbell: gong", "Hi.\n", 3, "bell: 'gong'"),
    ("title: T\nambience: rain", "Hi.\n", 3, "ambience"),
    ("title: T\nambience_level: loud", "Hi.\n", 3, "ambience_level"),
    ("title: T\nlength: ten minutes", "Hi.\n", 3, "length"),
    ("title: T", "Hi.\n[pause 4x]\n", 5, "malformed duration"),
    ("title: T", "Hi.\n[pause 9999h]\n", 5, "6 h limit"),
    ("title: T", "Hi.\n[pause 3m-30s]\n", 5, "shorter to longer"),
    ("title: T", "Hi.\n[breathe 4-7-8]\n", 5, "count"),
    ("title: T", "Hi.\n[breathe zigzag x4]\n", 5, "unknown pattern"),
    ("title: T", "Hi.\n[breathe 4-a-8 x4]\n", 5, "malformed pattern"),
    ("title: T", "Hi.\n[breathe 4-7-8 x9999]\n", 5, "cycles"),
    ("title: T", "Hi.\n[breathe 4-7-8 x5-2]\n", 5, "fewer to more"),
    ("title: T", "Hi.\n[breathe 5-5 for 3s]\n", 5, "shorter than one"),
    ("title: T", "Hi.\n[bell 99]\n", 5, "[bell"),
    ("title: T", "Hi.\n[gong]\n", 5, "unknown cue [gong]"),
    ("title: T", "Hi.\n[]\n", 5, "empty cue"),
    ("title: T", "Hi.\nA [pause 2s unclosed\n", 5, "unbalanced"),
    ("title: T", "Hi.\n{% if %}\n", 5, "template syntax"),
    ("title: T", "Hi {{ who }}.\n", 4, "undefined variable who"),
    ("title: T", "# \n", None, "nothing to play"),
]


@pytest.mark.parametrize("front,body,line,fragment", ERRORS)
def test_bad_input_names_file_line_and_problem(write_script, front, body, line, fragment):
    p = write_script(body, front=front)
    with pytest.raises(ScriptError) as e:
        load_script(p)
    msg = str(e.value)
    assert fragment in msg
    prefix = f"{p}:{line}: " if line else f"{p}:"
    assert msg.startswith(prefix), msg
    assert "\n" not in msg


def test_unreadable_files(tmp_path):
    cases = {
        "empty.md": b"",
        "blank.md": b"  \n\n",
        "binary.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "latin1.md": "---\ntitle: Caf\u00e9\n---\nHi.\n".encode("latin-1"),
        "nofront.md": b"Just prose.\n",
        "unclosed.md": b"---\ntitle: T\nHi.\n",
    }
    expect = {"empty.md": "empty", "blank.md": "empty", "binary.md": "binary", "latin1.md": "UTF-8",
              "nofront.md": "must start with '---'", "unclosed.md": "not closed"}
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(ScriptError) as e:
            load_script(p)
        assert expect[name] in str(e.value), name
        assert str(e.value).startswith(str(p))
    with pytest.raises(ScriptError, match="no such file"):
        load_script(tmp_path / "missing.md")
    e = pytest.raises(ScriptError, load_script, tmp_path / "latin1.md")
    assert str(e.value).startswith(f"{tmp_path / 'latin1.md'}:2:")


def test_bom_and_crlf_are_fine(tmp_path):
    p = tmp_path / "w.md"
    p.write_bytes("\ufeff---\r\ntitle: T\r\n---\r\nHi there.\r\n".encode("utf-8"))
    assert load_script(p).items == [Speech("Hi there.", 4)]

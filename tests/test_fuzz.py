"""Property-based fuzzing of every input format: front matter, body and cues, durations, breath
patterns, templates and variables, series manifests, people CSV files.

For any input, `meditate check` and `meditate plan` (fake voice) either succeed or print exactly
one line, ``Error: …``, and exit 1: never a traceback, never a hang (each example is time-boxed).

Profiles (MEDITATE_FUZZ): ``ci`` (the default: a fixed seed and a fixed number of examples, well
under a minute) and ``long`` (random, 50x the examples, failures kept in .hypothesis/ and replayed
first next time). Locally:

    MEDITATE_FUZZ=long .venv/bin/python -m pytest -q tests/test_fuzz.py

Whatever it finds is fixed and pinned as a plain test at the end of this file.
"""
from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.cli import cli

settings.register_profile("ci", max_examples=25, derandomize=True, database=None, deadline=None,
                          suppress_health_check=list(HealthCheck), print_blob=True)
settings.register_profile("long", max_examples=1250, deadline=None, suppress_health_check=list(HealthCheck),
                          print_blob=True)
settings.load_profile(os.environ.get("MEDITATE_FUZZ", "ci"))

EXAMPLE_SECONDS = 20        # one check or plan that takes longer is a hang


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"no answer within {EXAMPLE_SECONDS} s")


def invoke(args: list) -> None:
    """Run the CLI in-process, time-boxed; assert success or exactly one Error: line and exit 1."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, EXAMPLE_SECONDS)
    try:
        r = CliRunner().invoke(cli, [str(a) for a in args])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"{args}: {type(r.exception).__name__}: {r.exception}") from r.exception
    if r.exit_code == 0:
        return
    lines = r.stderr.strip("\n").split("\n")
    # check lists every error of a script, one line each; every other command says one
    assert r.exit_code == 1 and (len(lines) == 1 or args[0] == "check") and all(
        ln.startswith("Error: ") for ln in lines), \
        f"{args}: exit {r.exit_code}, stderr:\n{r.stderr}"
    assert "Traceback" not in r.output


# ---------------------------------------------------------------- building blocks
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
words = st.lists(st.sampled_from("the breath soft slow warm hand heart rest, here. and you".split()),
                 min_size=1, max_size=12).map(" ".join)
number = st.one_of(st.integers(-5, 200).map(str), st.floats(-10, 1e4, allow_nan=False).map(lambda f: f"{f:g}"),
                   st.sampled_from(["0", "1e9", "nan", "inf", "-0", "1e-9", ".5", "5.", "00", "99999999999999999999"]))
unit = st.sampled_from(["", "s", "m", "h", "ms", "min", "sec", "x", " s", "m30s"])
duration = st.one_of(st.builds(lambda n, u: n + u, number, unit),
                     st.builds(lambda a, b: f"{a}-{b}", st.builds(lambda n, u: n + u, number, unit),
                               st.builds(lambda n, u: n + u, number, unit)),
                     text)
pattern = st.one_of(st.sampled_from(["box", "478", "coherent", "soothing", "4-7-8", "4-0-6", "0-0", "5.5-5.5"]),
                    st.lists(number, min_size=1, max_size=5).map("-".join), text)
cycles = st.one_of(st.builds(lambda n: f"x{n}", number), st.builds(lambda d: d, duration), st.just(""))
cue = st.one_of(
    st.builds(lambda d: f"[pause {d}]", duration),
    st.builds(lambda p, c: f"[breathe {p} {c}]".replace("  ", " "), pattern, cycles),
    st.builds(lambda n: f"[bell{n}]", st.sampled_from(["", " 2", " x3", " 0", " 99", " -1", " chime"])),
    st.builds(lambda v: f"[voice {v}]", st.sampled_from(["gentle", "warm", "slow", "nope", "", "../x"])),
    st.builds(lambda t: f"[{t}]", text),
)
template = st.one_of(
    st.sampled_from(["{{ name }}", "{{ name | upper }}", "{% if name %}hi{% endif %}", "{{", "}}", "{% for i in "
                     "range(3) %}{{ i }}{% endfor %}", "{{ 1/0 }}", "{{ name.__class__ }}", "{% raw %}",
                     "{{ undefined_thing }}", "{# c #}", "{{ 'x' * 100000000 }}", "{{ range(10**9) | list }}",
                     "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "{{ lipsum(1000) }}", "{% set x = 1 %}"]),
    text.map(lambda t: "{{ " + t + " }}"),
)
line = st.one_of(words, cue, template, st.builds(lambda t: f"# {t}", text), text, st.just(""))
body = st.lists(line, max_size=12).map("\n".join)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(), text, duration)
value = st.recursive(scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(text, c, max_size=3), max_leaves=5)
FRONT = {
    "title": st.one_of(words, text, template, value),
    "description": st.one_of(words, template, value),
    "author": st.one_of(words, value),
    "length": st.one_of(duration, value),
    "voice": st.one_of(st.sampled_from(["gentle", "warm", "slow", "nope", "../voices/gentle"]), value),
    "ambience": st.one_of(st.sampled_from(["none", "pink", "ocean", "drone", "missing.wav", "bowl-drone"]), value),
    "ambience_level": st.one_of(number, value),
    "breath_cues": st.one_of(st.sampled_from(["glide", "chime", "spoken", "none"]), value),
    "bell": st.one_of(st.sampled_from(["bowl", "chime", "none"]), value),
    "language": st.one_of(st.sampled_from(["en", "de", "xx", ""]), value),
    "variables": st.one_of(st.dictionaries(st.sampled_from(["name", "place", "x", "1bad", ""]),
                                           st.one_of(st.none(), words, value), max_size=3), value),
    "lexicon": value,
}
front_matter = st.one_of(
    st.fixed_dictionaries({}, optional={**FRONT, "bogus": value}).map(
        lambda d: yaml.safe_dump(d, allow_unicode=True, sort_keys=False) if d else ""),
    text,                                                        # anything at all, YAML or not
)
var_args = st.lists(st.builds(lambda k, v: ["--var", f"{k}={v}"], st.sampled_from(["name", "place", "x"]), text),
                    max_size=2).map(lambda xs: [a for x in xs for a in x])


def _workspace() -> Path:
    """scripts/ beside voices/ (the repository's profiles, switched to the fake engine)."""
    d = Path(tempfile.mkdtemp(prefix="fuzz-"))
    (d / "scripts").mkdir()
    (d / "voices").mkdir()
    for name in ("gentle", "warm", "slow"):
        (d / "voices" / f"{name}.yaml").write_text("engine: fake\nvoice: fake\nrate: 150\n", encoding="utf-8")
    return d


def _script(front: str, body_text: str) -> str:
    return f"---\n{front}\n---\n{body_text}\n"


def check_and_plan(path: Path, extra: list = ()) -> None:
    invoke(["check", path, *extra])
    invoke(["plan", path, "-q", *extra])


# ---------------------------------------------------------------- the properties
@given(front=front_matter, body_text=body)
def test_front_matter(front, body_text):
    d = _workspace()
    p = d / "scripts" / "p.md"
    p.write_text(_script(front, body_text or "Rest here."), encoding="utf-8")
    check_and_plan(p)


@given(body_text=body, length=st.one_of(st.none(), duration))
def test_body_cues_and_durations(body_text, length):
    d = _workspace()
    p = d / "scripts" / "p.md"
    front = "title: Fuzz" + ("" if length is None else "\n" + yaml.safe_dump({"length": length}).strip())
    p.write_text(_script(front, body_text), encoding="utf-8")
    check_and_plan(p)


@given(pat=pattern, cyc=cycles, cues=st.sampled_from(["glide", "chime", "spoken", "none"]))
def test_breath_patterns(pat, cyc, cues):
    d = _workspace()
    p = d / "scripts" / "p.md"
    p.write_text(_script(f"title: Fuzz\nbreath_cues: {cues}", f"Settle in.\n[breathe {pat} {cyc}]\nRest."),
                 encoding="utf-8")
    check_and_plan(p)


@given(parts=st.lists(st.one_of(template, words), min_size=1, max_size=6), title=st.one_of(words, template),
       declared=st.dictionaries(st.sampled_from(["name", "place"]), st.one_of(st.none(), words), max_size=2),
       args=var_args)
def test_templates_and_variables(parts, title, declared, args):
    d = _workspace()
    p = d / "scripts" / "p.md"
    front = yaml.safe_dump({"title": title, "variables": declared}, allow_unicode=True)
    p.write_text(_script(front, " ".join(parts)), encoding="utf-8")
    check_and_plan(p, args)


practice = st.fixed_dictionaries({"script": st.one_of(st.sampled_from(["p1", "p2", "../scripts/p1.md", "nope"]),
                                                      value)},
                                 optional={"length": st.one_of(duration, value), "voice": FRONT["voice"],
                                           "variables": FRONT["variables"], "bell": FRONT["bell"],
                                           "ambience": FRONT["ambience"], "bogus": value})
manifest = st.one_of(
    st.fixed_dictionaries({"title": st.one_of(words, template, value),
                           "practices": st.one_of(st.lists(st.one_of(practice, value), max_size=3), value)},
                          optional={"variables": FRONT["variables"], "voice": FRONT["voice"],
                                    "ambience_level": FRONT["ambience_level"], "bogus": value}).map(
        lambda m: yaml.safe_dump(m, allow_unicode=True, sort_keys=False)),
    text,
)

TWO_SCRIPTS = {"p1": "---\ntitle: One {{ name }}\nvariables:\n  name: friend\n---\nHello {{ name }}.\n[pause 1s-30s]\n",
               "p2": "---\ntitle: Two\n---\nRest here.\n[pause 1s-30s]\n"}


def _series_workspace(manifest_text: str) -> Path:
    d = _workspace()
    for name, src in TWO_SCRIPTS.items():
        (d / "scripts" / f"{name}.md").write_text(src, encoding="utf-8")
    (d / "scripts" / "series").mkdir()
    s = d / "scripts" / "series" / "s.yaml"
    s.write_text(manifest_text, encoding="utf-8")
    return s


@given(m=manifest)
def test_series_manifests(m):
    s = _series_workspace(m)
    check_and_plan(s)


cell = st.one_of(words, text, st.sampled_from(["", " ", "..", "../x", "/", "a/b", "CON", "\x00", "=1+1", '"q"']))
header = st.lists(st.one_of(st.sampled_from(["name", "place", "pronounce", "x", ""]), text), min_size=1, max_size=4)


@given(head=header, rows=st.lists(st.lists(cell, max_size=5), max_size=5), raw=st.one_of(st.none(), text),
       bom=st.booleans())
def test_people_csv(head, rows, raw, bom):
    import csv
    import io

    s = _series_workspace("title: Fuzz {{ name }}\npractices:\n  - script: p1\n    length: 20s\n  - script: p2\n")
    people = s.parent / "people.csv"
    if raw is not None:
        content = raw
    else:
        buf = io.StringIO()
        csv.writer(buf).writerows([head, *rows])
        content = buf.getvalue()
    people.write_bytes((b"\xef\xbb\xbf" if bom else b"") + content.encode("utf-8", "surrogatepass"))
    invoke(["plan", s, "-q", "--people", people])

"""A new author's first hour (issue 17): templated titles, series variables, empty values,
the wrong kind of file, `plan SERIES`, Markdown, templated -o, previews."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from mutagen.id3 import ID3

from generator.batch import PLAYLIST, run_batch
from generator.cli import cli

from tests.helpers import tiny_script, write


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def error_line(r) -> str:
    lines = r.output.strip().splitlines()
    assert r.exit_code != 0 and lines, r.output
    return lines[-1]


# ---------------------------------------------------------------- 2: templated title, description, series title
def test_title_description_and_author_are_templated(write_script, tmp_path):
    p = write_script("# Start\nHello {{ name }}.\n", front="title: Softening the Critic, for {{ name }}\n"
                     "description: A practice for {{ name | upper }}\nauthor: '{{ therapist }}'\n"
                     "variables: {name: null, therapist: Dr Lee}")
    out = tmp_path / "maya.mp3"
    r = invoke("render", p, "--var", "name=Maya", "-o", out, "-q")
    assert r.exit_code == 0, r.output
    tags = ID3(out)
    assert str(tags["TIT2"]) == "Softening the Critic, for Maya"
    assert str(tags.getall("COMM")[0]) == "A practice for MAYA"
    assert str(tags["TPE1"]) == "Dr Lee"
    assert "NOTE Softening the Critic, for Maya\n" in out.with_suffix(".vtt").read_text()


def test_an_undeclared_variable_in_the_title_is_an_error_at_its_line(write_script):
    p = write_script("Hello.\n", front="title: For {{ nmae }}\nvariables: {name: friend}")
    line = error_line(invoke("check", p))
    assert line.startswith(f"Error: {p}:2: undefined variable nmae"), line
    line = error_line(invoke("render", p))
    assert line.startswith(f"Error: {p}:2: undefined variable nmae"), line


def test_series_title_and_practice_titles_are_templated_per_person(lib, tmp_path):
    root, _ = lib
    write(root / "scripts" / "p1.md", tiny_script("Day one for {{ name }}"))
    series = write(root / "scripts" / "series" / "t.yaml", """\
        title: Seven Days for {{ name }}
        practices:
          - script: p1
            length: 6s
        """)
    people = write(tmp_path / "people.csv", "name\nMaya\nTom\n")
    report = run_batch(series, people, tmp_path / "out", engine="fake")
    assert report.ok, report.summary()
    for who in ("Maya", "Tom"):
        folder = tmp_path / "out" / who.lower()
        tags = ID3(folder / "01-p1.mp3")
        assert str(tags["TALB"]) == f"Seven Days for {who}"
        assert str(tags["TIT2"]) == f"Day one for {who}"
        playlist = (folder / PLAYLIST).read_text()
        assert f"#PLAYLIST:Seven Days for {who}\n" in playlist
        assert f",Day one for {who}\n" in playlist
        assert "{{" not in playlist


def test_series_title_with_an_unknown_variable_is_an_error(lib):
    root, _ = lib
    series = write(root / "scripts" / "series" / "t.yaml", """\
        title: Seven Days for {{ nam }}
        practices:
          - script: p1
        """)
    line = error_line(invoke("check", series))
    assert line.startswith(f"Error: {series}:1: title: unknown variable 'nam' (did you mean 'name'?)"), line


# ---------------------------------------------------------------- 3: misspelled series variables
def test_a_misspelled_series_variable_is_an_error_at_its_line(lib):
    root, _ = lib
    series = write(root / "scripts" / "series" / "t.yaml", """\
        title: T
        variables:
          nme: Maya
        practices:
          - script: p1
        """)
    line = error_line(invoke("check", series))
    assert line.startswith(f"Error: {series}:3: unknown variable 'nme'"), line
    assert "did you mean 'name'?" in line


def test_a_misspelled_practice_variable_is_an_error_at_its_line(lib, tmp_path):
    root, _ = lib
    series = write(root / "scripts" / "series" / "t.yaml", """\
        title: T
        practices:
          - script: p1
            variables: {naem: Maya}
        """)
    line = error_line(invoke("batch", series, "-o", tmp_path / "out"))
    assert line.startswith(f"Error: {series}:4: unknown variable 'naem': p1.md does not declare it"), line
    assert not (tmp_path / "out").exists()


def test_a_misspelled_people_column_suggests_the_variable(lib, tmp_path):
    _, series = lib
    people = write(tmp_path / "people.csv", "nmae\nMaya\n")
    line = error_line(invoke("batch", series, "--people", people, "-o", tmp_path / "out"))
    assert line.startswith(f"Error: {people}:1: unknown column 'nmae'") and "did you mean 'name'?" in line


# ---------------------------------------------------------------- 9: an empty value for a required variable
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_required_variable_is_an_error(write_script, tmp_path, value):
    p = write_script("Hello, {{ name }}. Welcome.\n", front="title: T\nvariables:\n  name: null")
    r = invoke("render", p, "--var", f"name={value}", "-o", tmp_path / "x.mp3")
    assert error_line(r).startswith(f"Error: {p}:3: required variable name is given an empty value")
    assert not (tmp_path / "x.mp3").exists()


def test_an_empty_optional_variable_is_allowed(write_script, tmp_path):
    p = write_script("Hello{% if name %}, {{ name }}{% endif %}. Welcome.\n", front="title: T\nvariables:\n  name: friend")
    r = invoke("render", p, "--var", "name=", "-o", tmp_path / "x.mp3", "-q")
    assert r.exit_code == 0, r.output
    assert "Hello. Welcome." in (tmp_path / "x.vtt").read_text()


# ---------------------------------------------------------------- 7: the other kind of file
def test_render_given_a_series_manifest_says_use_batch(lib, tmp_path):
    _, series = lib
    copy = write(series.with_name("days.txt"), series.read_text())      # whatever its name
    for f in (series, copy):
        for cmd in ("render", "check"):
            r = invoke(cmd, f, *(["-o", tmp_path / "x.mp3"] if cmd == "render" else []))
            if cmd == "check":
                assert r.exit_code == 0, r.output       # checked as the manifest it is
                continue
            line = error_line(r)
            assert line == (f"Error: {f}: this is a series manifest, not a practice script: "
                            f"use `meditate batch {f}` (or `meditate plan {f}`)"), line


def test_batch_given_a_script_says_use_render(lib, tmp_path):
    root, _ = lib
    script = root / "scripts" / "p1.md"
    line = error_line(invoke("batch", script, "-o", tmp_path / "out"))
    assert line == (f"Error: {script}: this is a practice script, not a series manifest: "
                    f"use `meditate render {script}` (or `meditate plan {script}`)"), line


# ---------------------------------------------------------------- 6: plan SERIES, and the same checks before a batch
def test_plan_series_shows_every_job_without_audio(lib, tmp_path):
    root, series = lib
    people = write(tmp_path / "people.csv", "name\nMaya\nTom\n")
    r = invoke("plan", series, "--people", people, "-q")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == f"Tiny Series  ({series}; 6 files)"
    assert lines[1].startswith("maya/01-p1.mp3  6s  (reachable ") and lines[1].endswith(str(root / "scripts" / "p1.md"))
    assert lines[2] == "    title: Practice 1 | album: Tiny Series | track: 1/3"
    assert lines[3] == "    variables: name=Maya"
    assert "tom/03-p3.mp3  10s  (reachable " in r.output and "    variables: name=Tom" in r.output
    assert not list(tmp_path.rglob("*.mp3")) and not (tmp_path / "audio_out").exists()


def test_a_length_out_of_reach_fails_the_batch_before_rendering_at_the_manifest_line(lib, tmp_path):
    root, _ = lib
    series = write(root / "scripts" / "series" / "t.yaml", """\
        title: T
        practices:
          - script: p1
            length: 6s
          - script: p2
            length: 20m
        """)
    people = write(tmp_path / "people.csv", "name\nMaya\nTom\n")
    for cmd in ("plan", "batch"):
        r = invoke(cmd, series, "--people", people, *(["-o", tmp_path / "out", "-j", "2"] if cmd == "batch" else []))
        assert r.exit_code == 1
        errors = [ln for ln in r.output.splitlines() if ln.startswith("Error: ")]
        assert len(errors) == 2, r.output
        for row, err in zip((2, 3), errors):
            assert err.startswith(f"Error: {series}:6: practice 2 (p2.md for row {row} of {people}): "
                                  f"length 20m is out of reach: this script can last "), err
    assert not (tmp_path / "out").exists()          # not one file rendered


def test_plan_usage_errors(lib, tmp_path, write_script):
    _, series = lib
    r = invoke("plan", series, "--var", "name=x")
    assert r.exit_code == 2 and "a series sets them in its manifest" in r.output
    r = invoke("plan", write_script("Hi.\n"), "--people", tmp_path / "p.csv")
    assert r.exit_code == 2 and "--people applies to a series manifest" in r.output


# ---------------------------------------------------------------- 4: the Markdown subset
MARKDOWN = """\
# The *first* breath
Breathe *gently* and **slowly**, _softly_ and __fully__.
- Let the shoulders drop.
* Let the jaw soften.
1. Notice the feet.
> Rest here, [as the poet said](https://example.org/poem).
Keep a `steady` pace.
"""


def test_markdown_emphasis_lists_quotes_and_links_are_read_as_plain_text(write_script, tmp_path):
    p = write_script(MARKDOWN)
    r = invoke("check", p)
    assert r.exit_code == 0 and r.output == "", r.output
    r = invoke("render", p, "-o", tmp_path / "x.mp3", "-q")
    assert r.exit_code == 0 and r.output == "", r.output
    vtt = (tmp_path / "x.vtt").read_text()
    spoken = [ln for ln in vtt.splitlines() if ln and not ln[0].isdigit() and not ln.startswith(("WEBVTT", "NOTE"))]
    assert " ".join(spoken) == ("Breathe gently and slowly, softly and fully. Let the shoulders drop. Let the jaw soften. "
                      "Notice the feet. Rest here, as the poet said. Keep a steady pace.")
    assert "NOTE Chapter: The first breath" in vtt


def test_markdown_emphasis_takes_the_time_of_the_plain_words(write_script, tmp_path):
    plain = write_script("Breathe gently and slowly.\n", name="plain.md")
    marked = write_script("Breathe *gently* and **slowly**.\n", name="marked.md")
    for f in (plain, marked):
        assert invoke("render", f, "-o", tmp_path / (f.stem + ".wav"), "-q").exit_code == 0
    assert (tmp_path / "plain.wav").read_bytes() == (tmp_path / "marked.wav").read_bytes()


def test_symbols_read_aloud_get_a_check_warning_at_their_line(write_script):
    p = write_script("Hello.\nA table | with pipes.\nYou are #1 * always.\nFine.\n")
    r = invoke("check", p)
    assert r.exit_code == 0
    assert r.output.splitlines() == [
        f"Warning: {p}:5: '|' would be read aloud as a symbol; remove it or write the words (the Markdown "
        f"subset: *emphasis*, **strong**, lists, > quotes and [links](url) are read as plain text)",
        f"Warning: {p}:6: '#' '*' would be read aloud as a symbol; remove them or write the words (the Markdown "
        f"subset: *emphasis*, **strong**, lists, > quotes and [links](url) are read as plain text)"]


# ---------------------------------------------------------------- 10: templated -o; one client's render never replaces another's
def test_templated_output_keeps_each_client(write_script, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = write_script("Hello {{ name }}.\n", name="soften.md", front="title: T\nvariables: {name: null}")
    for who in ("Maya", "Tom", "A/B"):
        r = invoke("render", p, "--var", f"name={who}", "-o", "audio_out/{{ name }}/{{ slug }}.mp3", "-q")
        assert r.exit_code == 0, r.output
    for who in ("Maya", "Tom", "A-B"):
        vtt = (tmp_path / "audio_out" / who / "soften.vtt").read_text()
        assert f"Hello {who.replace('-', '/')}." in vtt


def test_a_second_clients_render_does_not_silently_replace_the_first(write_script, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = write_script("Hello {{ name }}.\n", name="soften.md", front="title: T\nvariables: {name: null}")
    out = tmp_path / "audio_out" / "soften.mp3"
    assert invoke("render", p, "--var", "name=Maya", "-q").exit_code == 0
    first = out.read_bytes()
    assert invoke("render", p, "--var", "name=Maya", "-q").exit_code == 0     # the same client again: fine
    r = invoke("render", p, "--var", "name=Tom", "-q")
    assert error_line(r) == (f"Error: audio_out/soften.mp3: already holds the render for name=Maya, not name=Tom; "
                             f"keep both with -o 'audio_out/{{{{ name }}}}/{{{{ slug }}}}.mp3' (a templated output), "
                             f"or replace it with --overwrite")
    assert out.read_bytes() == first and "Hello Maya." in out.with_suffix(".vtt").read_text()
    assert invoke("render", p, "--var", "name=Tom", "--overwrite", "-q").exit_code == 0
    assert "Hello Tom." in out.with_suffix(".vtt").read_text()


# ---------------------------------------------------------------- 11: smaller fixes
@pytest.mark.parametrize("front, body, where, words", [
    ("title: T\nvoise: gentle", "Hi.\n", 3, "unknown front matter key 'voise' (did you mean 'voice'?)"),
    ("title: T", "Hi.\n[puase 3s]\n", 5, "unknown cue [puase 3s] (did you mean [pause …]?)"),
    ("title: T\nvariables: {name: x}", "Hi {{ nmae }}.\n", 5, "undefined variable nmae (did you mean 'name'?)"),
    ("title: T\nvoice: gentel", "Hi.\n", 3, "unknown voice profile 'gentel' (did you mean 'gentle'?)"),
])
def test_did_you_mean(write_script, front, body, where, words):
    p = write_script(body, front=front)
    line = error_line(invoke("check", p))
    assert line.startswith(f"Error: {p}:{where}: {words}"), line


def test_did_you_mean_for_a_var(write_script):
    p = write_script("Hi {{ name }}.\n", front="title: T\nvariables: {name: x}")
    line = error_line(invoke("render", p, "--var", "nmae=Maya"))
    assert line.startswith(f"Error: {p}:3: unknown variable nmae (did you mean 'name'?)"), line


@pytest.mark.parametrize("name, data, words", [
    ("colon.md", b"---\ntitle: Rest: an evening practice\n---\nHi.\n",
     ":2: front matter is not valid YAML: mapping values are not allowed here; a value with ': ' in it must be quoted"),
    ("tab.md", b"---\ntitle: T\nvariables:\n\tname: x\n---\nHi.\n",
     ":4: front matter is not valid YAML: found character '\\t' that cannot start any token; indent with spaces"),
    ("tab.yaml", b"title: T\npractices:\n\t- script: p1\n", ":3: not valid YAML: found character '\\t' that cannot "
                                                          "start any token; indent with spaces, not tabs"),
    ("bom16.md", "---\ntitle: T\n---\nHi.\n".encode("utf-16"), ": this file is saved as UTF-16; save it as UTF-8"),
    ("be16.md", "---\ntitle: T\n---\nHi.\n".encode("utf-16-be"), ": this file is saved as UTF-16; save it as UTF-8"),
    ("le16.csv.yaml", "title: T\n".encode("utf-16-le"), ": this file is saved as UTF-16; save it as UTF-8"),
])
def test_yaml_hints_and_utf16(tmp_path, name, data, words):
    p = tmp_path / name
    p.write_bytes(data)
    line = error_line(invoke("check", p))
    assert line.startswith(f"Error: {p}{words}"), line


def test_output_without_an_extension_names_the_extensions(write_script, tmp_path):
    r = invoke("render", write_script("Hi.\n"), "-o", tmp_path / "name")
    assert error_line(r) == (f"Error: {tmp_path / 'name'}: the output must end in .mp3, .m4a, .m4b, .opus or .wav, "
                             f"not '(none)'; "
                             f"e.g. -o {tmp_path / 'name.mp3'}")


def test_render_bell_and_breath_cues_options(write_script, tmp_path):
    from generator.output.encode import decode

    p = write_script("Hi.\n[bell]\n[breathe 2-2 x2]\n", bell="none", breath_cues="none")
    rms = {}
    for name, opts in (("quiet", []), ("loud", ["--bell", "chime", "--breath-cues", "glide"])):
        out = tmp_path / f"{name}.wav"
        r = invoke("render", p, "-o", out, "-q", *opts)
        assert r.exit_code == 0, r.output
        x = decode(out, channels=1).samples
        rms[name] = float((x[-8 * 44100:] ** 2).mean()) ** 0.5     # the bell and the 8 s of breathing
    assert rms["quiet"] < 1e-4 < rms["loud"]
    r = invoke("render", p, "--bell", "gong")
    assert r.exit_code == 2 and "'gong' is not one of" in r.output


def test_series_author_is_every_practices_artist(lib, tmp_path):
    root, _ = lib
    series = write(root / "scripts" / "series" / "t.yaml", """\
        title: T
        author: Dr Lee
        practices:
          - script: p1
            length: 6s
        """)
    assert run_batch(series, out_dir=tmp_path / "out", engine="fake").ok
    assert str(ID3(tmp_path / "out" / "01-p1.mp3")["TPE1"]) == "Dr Lee"


def test_people_extra_columns_can_be_ignored(lib, tmp_path):
    _, series = lib
    people = write(tmp_path / "people.csv", "name,email\nMaya,maya@example.org\n")
    line = error_line(invoke("plan", series, "--people", people))
    assert "unknown column 'email'" in line and "--ignore-extra-columns" in line
    r = invoke("plan", series, "--people", people, "--ignore-extra-columns", "-q")
    assert r.exit_code == 0, r.output
    assert "    variables: name=Maya" in r.output and "email" not in r.output


def test_cache_info_shows_the_size(write_script, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert invoke("render", write_script("Hello there.\n"), "-o", tmp_path / "x.mp3", "-q").exit_code == 0
    r = invoke("cache", "info")
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0].startswith("cache: ")
    clips = next(ln for ln in lines if "speech clips:" in ln)
    assert "(1 file)" in clips and float(clips.split()[2]) > 0


def test_help_does_not_cut_command_descriptions():
    r = invoke("--help")
    commands = r.output.split("Commands:")[1]
    assert "..." not in commands
    assert "one per row" in " ".join(r.output.split()) or "every row of --people" in " ".join(r.output.split())


def test_check_reports_every_error_in_a_file(write_script, tmp_path):
    p = write_script("Hello.\n[puase 3s]\nStill here [breathe 4-x x3] and.\n\n[bell 99]\nBye.\n",
                     front="title: T\nmood: calm\nvoise: gentle")
    r = invoke("check", p)
    assert r.exit_code == 1
    expected = [f"{p}:3: unknown front matter key 'mood'", f"{p}:4: unknown front matter key 'voise'",
                f"{p}:7: unknown cue [puase 3s]", f"{p}:8: [breathe 4-x x3]", f"{p}:10: [bell 99]"]
    lines = r.output.splitlines()
    assert len(lines) == len(expected), r.output
    for ln, start in zip(lines, expected):
        assert ln.startswith("Error: " + start), ln
    line = error_line(invoke("render", p, "-o", tmp_path / "x.mp3"))     # render: one line, with the count
    assert line.startswith(f"Error: {p}:3: unknown front matter key 'mood'") and line.endswith(
        "(and 4 more errors: `meditate check` lists them)")


# ---------------------------------------------------------------- 12: a quick preview
CHAPTERED = """\
# Arriving
Welcome. Settle in.
[pause 20s]
# Body scan
Notice the feet. Notice the hands.
[pause 30s]
# Closing
Thank you.
"""


def test_preview_from_a_chapter_for_the_first_seconds(write_script, tmp_path, monkeypatch):
    from generator.output.encode import decode

    monkeypatch.chdir(tmp_path)
    p = write_script(CHAPTERED, name="scan.md")
    full = tmp_path / "full.wav"
    assert invoke("render", p, "-o", full, "-q").exit_code == 0
    r = invoke("render", p, "--from", "body SCAN", "--first", "8s", "-o", tmp_path / "part.wav", "-q")
    assert r.exit_code == 0, r.output
    part = decode(tmp_path / "part.wav", channels=1).samples
    assert len(part) == 8 * 44100                          # exactly the asked length
    vtt = (tmp_path / "part.vtt").read_text()
    assert "NOTE Chapter: Body scan" in vtt and "Notice the feet." in vtt
    assert "Welcome" not in vtt and "Thank you" not in vtt and "Closing" not in vtt
    assert vtt.count(" --> ") == 1 and "00:00:00.000 --> " in vtt     # its time starts at 0
    # by number, to the end: the rest of the practice, as long as in the whole
    r = invoke("render", p, "--from", "2", "-o", tmp_path / "rest.wav", "-q")
    assert r.exit_code == 0, r.output
    whole = decode(full, channels=1).samples
    rest = decode(tmp_path / "rest.wav", channels=1).samples
    assert 30 * 44100 < len(rest) < len(whole) - 20 * 44100
    # --first alone, default output beside (not over) the whole practice's
    r = invoke("render", p, "--first", "5s", "-q")
    assert r.exit_code == 0, r.output
    mp3 = tmp_path / "audio_out" / "scan.preview.mp3"
    assert mp3.is_file() and not (tmp_path / "audio_out" / "scan.mp3").exists()
    assert abs(len(decode(mp3, channels=1).samples) / 44100 - 5) < 0.06


def test_preview_of_an_unknown_chapter_names_the_chapters(write_script, tmp_path):
    p = write_script(CHAPTERED)
    line = error_line(invoke("render", p, "--from", "Body scna", "-o", tmp_path / "x.mp3"))
    assert line == (f"Error: {p}: --from: no chapter 'Body scna' (did you mean 'Body scan'?); the chapters are "
                    f"'Arriving', 'Body scan', 'Closing' (or give a number, 1 to 3)")
    assert not (tmp_path / "x.mp3").exists()


def test_onnxruntime_writes_no_device_id_into_the_users_cache(tmp_path):
    import importlib.util
    import os
    import subprocess
    import sys

    if importlib.util.find_spec("piper") is None:
        pytest.skip("the [neural] extra (Piper, onnxruntime) is not installed")
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / ".cache"))
    subprocess.run([sys.executable, "-c", "import generator.engines.piper"], env=env, check=True, timeout=300)
    assert not [str(p) for p in tmp_path.rglob("*")], "onnxruntime wrote into the user's home"

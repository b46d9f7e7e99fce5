"""The command line: one-line errors with file and line, exit codes, no partial output."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from generator.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


BAD = {
    "bad-yaml.md": (b"---\ntitle: [oops\n---\nHi.\n", ":2: front matter is not valid YAML"),
    "latin1.md": ("---\ntitle: T\n---\nCaf\u00e9.\n".encode("latin-1"), ":4: not valid UTF-8"),
    "empty.md": (b"", ": the file is empty"),
    "binary.md": (b"\x7fELF\x02\x01\x01\x00\x00\x00", ": this looks like a binary file"),
    "unknown-cue.md": (b"---\ntitle: T\n---\nHi.\n[gong 3]\n", ":5: unknown cue [gong 3]"),
    "unknown-key.md": (b"---\ntitle: T\nmood: calm\n---\nHi.\n", ":3: unknown front matter key 'mood'"),
    "bad-duration.md": (b"---\ntitle: T\n---\n[pause 5 minutes]\n", ":4: [pause 5 minutes]"),
    "bad-pattern.md": (b"---\ntitle: T\n---\n[breathe 4-x-8 x3]\n", ":4: [breathe 4-x-8 x3]: malformed pattern"),
    "escape.md": (b"---\ntitle: T\n---\nHi.\n{{ ''.__class__.__mro__ }}\n", ":5: not allowed in a practice template"),
    "missing-var.md": (b"---\ntitle: T\nvariables:\n  who: null\n---\nHi {{ who }}.\n", ":3: missing required variable who"),
    "bad-voice.md": (b"---\ntitle: T\n---\nHi.\n[voice nobody]\nThere.\n", ":5: unknown voice profile 'nobody'"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_one_line_error_and_no_output(tmp_path, name):
    data, fragment = BAD[name]
    p = tmp_path / name
    p.write_bytes(data)
    out = tmp_path / "out" / "x.mp3"
    r = invoke("render", p, "-o", out)
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    assert lines[0].startswith(f"Error: {p}")
    assert fragment in lines[0]
    assert "Traceback" not in r.output
    assert not out.exists() and not out.with_suffix(".vtt").exists()
    if out.parent.exists():
        assert list(out.parent.iterdir()) == []
    # check reports the same (it fills required variables with placeholders: it checks the template)
    r2 = invoke("check", p)
    if name == "missing-var.md":
        assert r2.exit_code == 0 and r2.output == ""
    else:
        assert r2.exit_code == 1 and fragment in r2.output


def test_check_reports_every_bad_file_and_is_silent_on_good(tmp_path, write_script):
    good = write_script("Hello.\n", name="good.md")
    r = invoke("check", good)
    assert r.exit_code == 0 and r.output == ""
    bad1, bad2 = tmp_path / "b1.md", tmp_path / "b2.md"
    bad1.write_bytes(BAD["unknown-cue.md"][0])
    bad2.write_bytes(BAD["bad-yaml.md"][0])
    r = invoke("check", bad1, good, bad2)
    assert r.exit_code == 1
    assert [line.split(":")[0] for line in r.output.strip().splitlines()] == ["Error", "Error"]
    assert str(bad1) in r.output and str(bad2) in r.output


def test_missing_file(tmp_path):
    r = invoke("render", tmp_path / "nope.md")
    assert r.exit_code == 1 and "no such file" in r.output


@pytest.mark.parametrize("args,fragment", [
    (["--var", "novalue"], "KEY=VALUE"),
    (["--length", "ten"], "malformed duration"),
    (["--length", "0s"], "longer than 0"),
    (["--loudness", "3"], "--loudness"),
    (["--ambience", "thunder"], "--ambience"),
    (["--frobnicate"], "No such option"),
])
def test_misuse_exits_2(write_script, args, fragment):
    p = write_script("Hello.\n")
    r = invoke("render", p, *args)
    assert r.exit_code == 2, r.output
    assert fragment in r.output


def test_out_of_reach_length_is_a_runtime_error(write_script, tmp_path):
    p = write_script("[pause 1m-2m]\n")
    out = tmp_path / "x.mp3"
    r = invoke("render", p, "--length", "30m", "-o", out)
    assert r.exit_code == 1
    assert r.output.strip() == f"Error: {p}: length 30m is out of reach: this script can last 1m to 2m"
    assert not out.exists()


def test_failure_while_rendering_leaves_previous_output_alone(write_script, tmp_path, monkeypatch):
    p = write_script("Hello.\n[bell]\n")
    out = tmp_path / "x.mp3"
    out.write_bytes(b"previous render")
    import generator.mixer as mixer

    def boom(*a, **k):
        raise OSError("disk on fire")

    monkeypatch.setattr(mixer.Mixer, "chunks", boom)
    r = invoke("render", p, "-o", out)
    assert r.exit_code == 1 and r.output.strip() == "Error: disk on fire; check the path and free space"
    assert out.read_bytes() == b"previous render"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["practice.md", "x.mp3"]


def test_unwritable_output_is_a_clear_error(write_script, tmp_path):
    p = write_script("Hello.\n")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = invoke("render", p, "-o", blocker / "x.mp3")
    assert r.exit_code == 1
    assert r.output.startswith(f"Error: {blocker}") and "Traceback" not in r.output


def test_wrong_output_extension(write_script, tmp_path):
    p = write_script("Hello.\n")
    r = invoke("render", p, "-o", tmp_path / "x.ogg")
    assert r.exit_code == 1 and "must end in .mp3, .m4a, .m4b, .opus or .wav" in r.output


def test_plan_shows_the_fitted_timeline(write_script):
    p = write_script("# Start\nHello there.\n[pause 10s-50s]\n[breathe coherent x2-4]\n")
    r = invoke("plan", p, "--length", "1m")
    assert r.exit_code == 0, r.output
    assert "# Start" in r.output and "say: Hello there." in r.output
    assert "breathe coherent x2-4" in r.output
    assert "total 1m" in r.output and "fitted to 1m" in r.output


def test_voices_lists_profiles():
    r = invoke("voices")
    assert r.exit_code == 0
    assert "gentle" in r.output and "slow" in r.output and "espeak" in r.output


def test_verbose_shows_the_stages_and_passes_and_nothing_new_without_it(write_script, tmp_path):
    """-v: one readable line per record on stderr (timings per stage, the mixing passes); without
    it stderr stays empty, also after a -v run in the same process."""
    import re

    script = write_script("Hello there.\n[pause 2s]\nGoodbye now.\n", ambience="pink")
    before = CliRunner().invoke(cli, ["render", str(script), "-o", str(tmp_path / "a.mp3")])
    assert before.exit_code == 0 and before.stderr == "", before.output
    loud = CliRunner().invoke(cli, ["render", "-v", str(script), "-o", str(tmp_path / "b.mp3")])
    assert loud.exit_code == 0, loud.output
    lines = loud.stderr.splitlines()
    assert lines and all(re.fullmatch(r"meditate: \d\d:\d\d:\d\d\.\d{3} \w+: .+", line) for line in lines), lines
    for stage in ("speak", "analyse", "mix\\+encode, pass 1", "tag"):
        assert any(re.search(rf"pipeline: {stage}\b.*: \d+\.\d\d s$", line) for line in lines), (stage, lines)
    assert any(re.search(r"pipeline: done: .*b\.mp3, 1 mixing pass, ", line) for line in lines), lines
    def summary(out):       # (the second render reads its clips from the cache)
        return re.sub(r"\d+ clips spoken, \d+ from", "", out.replace("b.mp3", "a.mp3").replace("b.vtt", "a.vtt"))
    assert summary(loud.stdout) == summary(before.stdout)
    after = CliRunner().invoke(cli, ["render", str(script), "-o", str(tmp_path / "c.mp3")])
    assert after.exit_code == 0 and after.stderr == ""

"""Every example in the README is run: scripts render, manifests plan, profiles load, and every
command and option the README names exists (the walkthrough is followed in test_walkthrough.py)."""
from __future__ import annotations

import re
import shutil

import pytest
from click.testing import CliRunner

from tests.helpers import README, REPO, WALKTHROUGH
from generator.cli import cli
from generator.script.profiles import read_profile

# the walkthrough's blocks are followed step by step in test_walkthrough.py
BLOCKS = [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", README.replace(WALKTHROUGH, ""),
                                                        re.S | re.M)]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def blocks(kind: str, contains: str) -> list[str]:
    return [text for lang, text in BLOCKS if lang == kind and contains in text]


def test_every_block_is_covered():
    """A new kind of example must get a test: each block is one of the kinds run below."""
    kinds = {"markdown": "---\n", "yaml": ":", "sh": "", "": "", "python": "from generator import"}
    for lang, text in BLOCKS:
        assert lang in kinds and kinds[lang] in text, f"an example no test runs:\n```{lang}\n{text}```"


@pytest.mark.parametrize("n", range(len(blocks("markdown", "---\n"))))
def test_script_examples_check_plan_and_render(tmp_path, n, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = blocks("markdown", "---\n")[n]
    if not text.split("---\n", 2)[2].strip():       # front matter alone (an excerpt): give it a body
        text += "Hello.\n[pause 30s-20m]\nGoodbye.\n"
    p = tmp_path / "example.md"
    p.write_text(text, encoding="utf-8")
    required = re.findall(r"^  (\w+): null", text, re.M)
    given = [a for k in required for a in ("--var", f"{k}=the garden")]
    r = invoke("check", p)
    assert r.exit_code == 0 and r.output == "", r.output
    r = invoke("plan", p, *given, "-q")                    # the script's own length: reachable
    assert r.exit_code == 0, r.output
    r = invoke("render", p, *given, "--length", "3m", "-o", tmp_path / "x.mp3", "-q")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "x.mp3").stat().st_size > 10_000


def test_series_examples_check_and_plan(tmp_path):
    for text in blocks("yaml", "practices:"):
        shutil.copytree(REPO / "scripts", tmp_path / "scripts", dirs_exist_ok=True)
        m = tmp_path / "scripts" / "series" / "example.yaml"
        m.write_text(text, encoding="utf-8")
        r = invoke("check", m)
        assert r.exit_code == 0 and r.output == "", r.output
        r = invoke("plan", m, "-q")
        assert r.exit_code == 0, r.output


def test_voice_profile_examples_load(tmp_path):
    found = blocks("yaml", "engine:")
    assert found
    for text in found:
        f = tmp_path / "example.yaml"
        f.write_text(text, encoding="utf-8")
        read_profile(f)


def test_every_command_and_option_in_the_readme_exists():
    named = set(re.findall(r"`?meditate ([a-z]+(?: [a-z]+)?)", README))
    assert named
    for cmd in sorted(named):
        words = cmd.split()
        r = invoke(*words, "--help")
        if r.exit_code != 0:            # "render SCRIPT": the second word is an argument
            words = words[:1]
            r = invoke(*words, "--help")
        assert r.exit_code == 0, f"meditate {cmd}: {r.output}"
    for block in [t for lang, t in BLOCKS if lang == "" and "meditate " in t]:
        for line in re.split(r"\n(?=meditate )", block):
            cmd = line.split()[1]
            help_text = invoke(cmd, "--help").output
            for opt in re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", line.split("#")[0]):
                assert opt in help_text, f"meditate {cmd} has no {opt}"


def test_the_readme_states_the_shipped_defaults():
    from generator.script.parse import DEFAULT_PROFILE

    default = read_profile(REPO / "voices" / f"{DEFAULT_PROFILE}.yaml")
    assert f"`paragraph_pause` ({default.paragraph_pause:g} s in the default voice, `{DEFAULT_PROFILE}`)" in README
    assert f"`default_pause` ({default.default_pause:g} s in the default voice, `{DEFAULT_PROFILE}`)" in README


def test_the_python_example_runs(tmp_path, monkeypatch, capsys):
    """"Use it from Python": the block runs as written (fake voice), and what it prints is right."""
    shutil.copytree(REPO / "scripts", tmp_path / "scripts")
    monkeypatch.chdir(tmp_path)
    (code,) = blocks("python", "from generator import")
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("210.0 [('bell', 0.0), ('speech', 3.8)")
    assert out[1].startswith("out/reset.mp3 210.0 -16.") and out[1].endswith(" 1")
    assert (tmp_path / "out" / "reset.vtt").exists()

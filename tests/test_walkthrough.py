"""The README's "Your first practice", followed step by step in an empty folder: every file it
shows is saved under the name it gives, every command it shows is run, and every output file
it names exists afterwards, with the facts it states (titles, the other client's file kept)."""
from __future__ import annotations

import re
import shlex

from click.testing import CliRunner
from mutagen.id3 import ID3

from generator.cli import cli
from tests.helpers import WALKTHROUGH

STEPS = re.findall(r"([^\n]*)\n\n```(\w*)\n(.*?)^```$", WALKTHROUGH, re.S | re.M)


def test_the_walkthrough_has_its_steps():
    files = [re.findall(r"`([\w.-]+\.(?:md|yaml|csv))`", before)[-1] for before, lang, _ in STEPS if lang != "sh"]
    assert files == ["softening.md", "week.yaml", "clients.csv"]
    assert sum(body.count("meditate ") for _, lang, body in STEPS if lang == "sh") == 6


def test_follow_the_walkthrough_in_an_empty_folder(tmp_path, monkeypatch):
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.chdir(folder)
    runner = CliRunner()
    for before, lang, body in STEPS:
        if lang != "sh":
            name = re.findall(r"`([\w.-]+\.(?:md|yaml|csv))`", before)[-1]
            (folder / name).write_text(body, encoding="utf-8")
            continue
        for line in body.splitlines():
            args = shlex.split(line, comments=True)
            if args[:1] == ["mkdir"]:
                (folder / args[1]).mkdir()
            elif args[:1] == ["cd"]:
                folder = folder / args[1]
                monkeypatch.chdir(folder)
            else:
                assert args[0] == "meditate", line
                r = runner.invoke(cli, args[1:])
                assert r.exit_code == 0, f"{line}\n{r.output}"
                assert "Error" not in r.output and "Warning" not in r.output, f"{line}\n{r.output}"
    assert folder.name == "my-practices"
    maya = (folder / "audio_out/Maya/softening.mp3").read_bytes()
    assert str(ID3(folder / "audio_out/Maya/softening.mp3")["TIT2"]) == "Softening, for Maya"
    for who in ("maya", "sam"):
        tags = ID3(folder / f"audio_out/week/{who}/01-softening.mp3")
        assert str(tags["TALB"]) == f"A Week of Softening, for {who.title()}"
        assert (folder / f"audio_out/week/{who}/playlist.m3u8").is_file()
    # "Rendering for Sam the same way writes audio_out/Sam/softening.mp3; Maya's is kept."
    r = runner.invoke(cli, ["render", "softening.md", "--var", "name=Sam", "--length", "3m", "-q",
                            "-o", "audio_out/{{ name }}/{{ slug }}.mp3"])
    assert r.exit_code == 0, r.output
    assert (folder / "audio_out/Maya/softening.mp3").read_bytes() == maya
    # every output the walkthrough names is there
    named = set(re.findall(r"`(audio_out/[^`]+\.(?:mp3|vtt|m3u8))`", WALKTHROUGH))
    assert len(named) >= 5
    for rel in named:
        assert (folder / rel).is_file(), rel
    # "Running it again skips what is up to date."
    r = runner.invoke(cli, ["batch", "week.yaml", "--people", "clients.csv", "--ignore-extra-columns"])
    assert r.exit_code == 0 and "0 rendered, 4 up to date" in r.output, r.output

"""The pronunciation lexicon: whole-word, case-aware respellings and phonemes per engine; the
spoken audio changes, the transcript keeps the written word; `meditate say`; a people file's
pronounce column. Real-engine tests: espeak (marked) and Piper (skipped without the extra)."""
from __future__ import annotations

import importlib.util
import wave

import numpy as np
import pytest
from click.testing import CliRunner

from generator.batch import plan
from generator.cli import cli
from generator.errors import ScriptError
from generator.script.lexicon import Lexicon, Pronunciation, parse_entries, read_lexicon
from generator.pipeline import RenderOptions, prepare
from generator.script.series import check_people, load_series, read_people
from generator.output.transcript import to_vtt
from tests.helpers import REPO

HAS_PIPER = importlib.util.find_spec("piper") is not None


def lex(**entries) -> Lexicon:
    return parse_entries(entries, "test")


def test_whole_word_and_case_aware():
    lx = lex(Sean="SHAWN", Will="WILL-ee", tonglen="TONG-len")
    assert lx.spoken("Sean, Sean's seat; Seanna and oceans. SEAN", "espeak") == \
        "SHAWN, SHAWN's seat; Seanna and oceans. SEAN"
    assert lx.spoken("will you rest, Will?", "espeak") == "will you rest, WILL-ee?"       # not 'will'
    assert lx.spoken("Tonglen, tonglen, TONGLEN.", "piper") == "TONG-len, TONG-len, TONG-len."


def test_unicode_forms_match_and_multiword_keys():
    lx = lex(**{"Zoë": "ZOH-ee", "Thich Nhat Hanh": "tik nyat hahn"})
    assert lx.spoken("Zoe\u0308 and Zo\u00eb.", "espeak") == "ZOH-ee and ZOH-ee."
    assert lx.spoken("as Thich  Nhat\nHanh taught", "espeak") == "as tik nyat hahn taught"


def test_engine_specific_entries_fall_back_to_say():
    p = Pronunciation(say="win", espeak="[[w'In]]")
    assert (p.for_engine("espeak"), p.for_engine("piper"), p.for_engine("fake")) == ("[[w'In]]", "win", "win")
    lx = lex(Nguyen={"piper": "[[ wˈɪn ]]"})
    assert lx.spoken("Nguyen", "piper") == "[[ wˈɪn ]]" and lx.spoken("Nguyen", "espeak") == "Nguyen"


@pytest.mark.parametrize("entry, fragment", [
    ({"Caoimhe": {"say": "[[k'i:v@]]"}}, "phonemes are engine-specific"),
    ({"Caoimhe": {"sound": "x"}}, "unknown key 'sound'"),
    ({"Caoimhe": {"espeak": "[[k'i:v@"}}, "unbalanced"),
    ({"two.words": "x"}, "must be a word"),
    ({"Caoimhe": ""}, "is empty"),
])
def test_bad_entries_are_one_line_errors(entry, fragment):
    with pytest.raises(ScriptError, match=fragment):
        parse_entries(entry, "lexicon.yaml")


def test_shipped_lexicon_reads_and_names_its_errors(tmp_path):
    assert read_lexicon(REPO / "voices" / "lexicon.yaml").spoken("Siobhan", "piper") == "shi-VAWN"
    bad = tmp_path / "lexicon.yaml"
    bad.write_text("Caoimhe: KEE-va\nNiamh: {sound: NEEV}\n", encoding="utf-8")
    with pytest.raises(ScriptError) as e:
        read_lexicon(bad)
    assert str(e.value).startswith(f"{bad}:2: lexicon entry 'Niamh'")


def _clip(p):
    [e] = [e for e in p.timeline.entries if e.kind.name == "speech"]
    return np.asarray(e.clip.load())


def _name_script(write_script, lexicon: str | None, name="Caoimhe", voice="neural"):
    front = f"title: Names\nvoice: {voice}\nvariables:\n  name: friend\n" + (f"lexicon: {lexicon}\n" if lexicon else "")
    return write_script("Hello {{ name }}, rest now.", name="names.md", front=front), {"name": name}


def _said_and_written(write_script, lexicon, respelled, voice):
    """(audio with the lexicon, audio of the respelling given to the engine, plain audio,
    the lexicon's transcript)."""
    path, var = _name_script(write_script, lexicon, voice=voice)
    with_lex = prepare(path, RenderOptions(variables=var))
    plain = prepare(_name_script(write_script, None, voice=voice)[0], RenderOptions(variables=var))
    [entry] = [e for e in with_lex.timeline.entries if e.kind.name == "speech"]
    written = with_lex.store.clip(f"Hello {respelled}, rest now.", entry.voice)
    vtt = to_vtt(with_lex.timeline, "Names")
    return _clip(with_lex), np.asarray(written.load()), _clip(plain), vtt


def _assert_name_said_as(write_script, lexicon, respelled, voice):
    said, written, plain, vtt = _said_and_written(write_script, lexicon, respelled, voice)
    assert said.shape == written.shape and np.array_equal(said, written)   # spoken as the respelling
    assert said.shape != plain.shape or not np.array_equal(said, plain)    # which is not the name as written
    assert "Hello Caoimhe, rest now." in vtt and respelled not in vtt      # the transcript keeps the name


def test_front_matter_lexicon_changes_the_audio_applied_to_a_variable(write_script):
    _assert_name_said_as(write_script, "{Caoimhe: kee-vah-ah}", "kee-vah-ah", "neural")


def test_pronounce_option_wins_over_the_front_matter(write_script):
    path, var = _name_script(write_script, "{Caoimhe: kee-vah-ah}")
    a = _clip(prepare(path, RenderOptions(variables=var, pronounce={"Caoimhe": "sho-bahn"})))
    b = _clip(prepare(path, RenderOptions(variables={"name": "sho-bahn"})))
    assert np.array_equal(a, b)


def test_front_matter_lexicon_file_and_its_errors(write_script, tmp_path):
    (tmp_path / "names.yaml").write_text("Caoimhe: kee-vah-ah\n", encoding="utf-8")
    _assert_name_said_as(write_script, "names.yaml", "kee-vah-ah", "neural")
    path, _ = _name_script(write_script, "[Caoimhe]")
    r = CliRunner().invoke(cli, ["check", str(path)])
    assert r.exit_code == 1 and r.output.startswith(f"Error: {path}:6: lexicon: must be entries")


@pytest.mark.espeak
def test_espeak_respelling_and_phonemes_change_the_name(write_script):
    _assert_name_said_as(write_script, "{Caoimhe: KEE-va}", "KEE-va", "gentle")
    said, written, plain, vtt = _said_and_written(write_script, "{Caoimhe: {espeak: \"[[k'i:vA:]]\"}}",
                                                  "[[k'i:vA:]]", "gentle")
    assert np.array_equal(said, written) and not np.array_equal(said, plain)
    assert 0.8 < said.shape[0] / plain.shape[0] < 1.25      # phonemes spoken, not the brackets spelled out
    assert "Caoimhe" in vtt and "[[" not in vtt


@pytest.mark.espeak
@pytest.mark.skipif(not HAS_PIPER, reason="needs the [neural] extra (piper-tts and its voice)")
def test_piper_respelling_and_phonemes_change_the_name(write_script):
    _assert_name_said_as(write_script, "{Caoimhe: KEE-va}", "KEE-va", "neural")
    said, written, plain, vtt = _said_and_written(write_script, "{Caoimhe: {piper: '[[ kˈiːvɑː ]]'}}",
                                                  "[[ kˈiːvɑː ]]", "neural")
    assert np.array_equal(said, written) and not np.array_equal(said, plain)
    assert 0.8 < said.shape[0] / plain.shape[0] < 1.25
    assert "Caoimhe" in vtt and "[[" not in vtt


def test_say_writes_the_respelled_word(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "lexicon.yaml").write_text("Saoirse: SEER-shuh-ah\n", encoding="utf-8")

    def say(*args):
        r = CliRunner().invoke(cli, ["say", *args])
        assert r.exit_code == 0, r.output
        with wave.open(args[-1]) as w:
            return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"), w.getframerate()

    named, rate = say("Saoirse", "-o", "a.wav")
    respelled, _ = say("SEER-shuh-ah", "-o", "b.wav")
    shipped, _ = say("Siobhan", "-o", "c.wav")                     # the shipped lexicon still applies
    assert np.array_equal(named, respelled) and rate == 44100
    assert np.array_equal(shipped, say("shi-VAWN", "-o", "d.wav")[0])
    assert np.all(named[: int(0.2 * rate)] == 0)                  # a little silence around the word
    r = CliRunner().invoke(cli, ["say", "  "])
    assert r.exit_code == 1 and "nothing to say" in r.output


def test_people_pronounce_column(tmp_path):
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "tiny.yaml").write_text("engine: fake\nrate: 180\n", encoding="utf-8")
    scripts = tmp_path / "scripts"
    (scripts / "series").mkdir(parents=True)
    (scripts / "one.md").write_text("---\ntitle: One\nvoice: tiny\nvariables:\n  name: friend\n---\n"
                                    "Hello {{ name }}.\n", encoding="utf-8")
    manifest = scripts / "series" / "s.yaml"
    manifest.write_text("title: S\npractices:\n  - script: one\n", encoding="utf-8")
    people = tmp_path / "people.csv"
    people.write_text("name,pronounce\nCaoimhe,KEE-va\nNguyen & Zoë,Nguyen=win; Zoë=ZOH-ee\nSam,\n",
                      encoding="utf-8")
    series, rows = load_series(manifest), read_people(people)
    check_people(series, rows, people)                      # 'pronounce' is not an unknown column
    jobs = [f.jobs[0]["options"] for f in plan(series, rows, tmp_path / "out", people_path=people)]
    assert [j["pronounce"] for j in jobs] == [{"Caoimhe": "KEE-va"}, {"Nguyen": "win", "Zoë": "ZOH-ee"}, {}]
    assert all("pronounce" not in j["variables"] for j in jobs)
    people.write_text("name,pronounce\nCaoimhe,Caoimhe=\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"people.csv:2: pronounce 'Caoimhe='"):
        plan(series, read_people(people), tmp_path / "out", people_path=people)

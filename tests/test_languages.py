"""Practices in other languages: cue words per language, the language check, sentences,
numbers, voices per language, slugs and tags in any script."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import webvtt
from click.testing import CliRunner
from mutagen.id3 import ID3

from generator.cli import cli
from generator.engines import get_engine
from generator.script.languages import CUE_WORDS, espeak_languages, split_sentences
from generator.pipeline import RenderOptions, language_voices, prepare, speaking_profile
from generator.script.profiles import VoiceProfile
from generator.script.series import safe_slug

REPO = Path(__file__).resolve().parent.parent
SHIPPED = {lang: sorted((REPO / "scripts" / lang).glob("*.md")) for lang in ("es", "de")}
ENGLISH_CUES = {"In.", "Hold.", "Out."}
# words no Spanish or German sentence of the library contains ("in" is German too)
ENGLISH_WORDS = re.compile(r"\b(the|and|you|your|breathe|hold|out|with|this)\b", re.IGNORECASE)


def spoken_by_fake(path, **opts) -> list[tuple[str, str | None]]:
    """(text, language) of every clip the fake engine was asked for while preparing ``path``."""
    fake = get_engine("fake")
    fake.spoken.clear()
    prepare(path, RenderOptions(use_cache=False, **opts))
    return list(fake.spoken)


# ---------------------------------------------------------------- cue words
@pytest.mark.parametrize("lang", sorted(CUE_WORDS))
def test_spoken_cues_are_the_table_words_of_the_practice_language(lang, write_script):
    path = write_script("Hello.\n\n[breathe 4-2-6 x2]\n", title="T", language=lang, breath_cues="spoken")
    spoken = spoken_by_fake(path)
    cues = [t for t, _ in spoken[1:]]
    words = CUE_WORDS[lang]
    assert cues == [w[:1].upper() + w[1:] + "." for w in (words["in"], words["hold"], words["out"])]
    assert {lang_ for _, lang_ in spoken} == {lang}      # the engine is told the language, every clip


def test_cue_words_in_front_matter_override_the_table(write_script):
    path = write_script("Hola.\n\n[breathe 4-2-6 x1]\n", title="T", language="es", breath_cues="spoken",
                        cue_words='{in: "inspira", out: "espira"}')
    cues = [t for t, _ in spoken_by_fake(path)[1:]]
    assert cues == ["Inspira.", "Pausa.", "Espira."]       # hold not overridden: the table's


def test_a_language_without_cue_words_needs_them_for_spoken_cues(write_script):
    front = {"title": "T", "language": "ru", "breath_cues": "spoken"}
    path = write_script("Привет. [breathe 4-6 x1]\n", **front)
    r = CliRunner().invoke(cli, ["check", str(path)])
    assert r.exit_code == 1
    assert f"{path}:3: spoken breath cues need words in 'ru': add cue_words: {{in: …, hold: …, out: …}}" \
        in r.output
    path = write_script("Привет. [breathe 4-6 x1]\n", **front, cue_words="{in: вдох, hold: пауза, out: выдох}")
    assert [t for t, _ in spoken_by_fake(path)[1:]] == ["Вдох.", "Выдох."]     # only the phases used
    # glide cues need no words: a Russian practice checks clean without them
    assert CliRunner().invoke(cli, ["check", str(write_script("Привет. [breathe 4-6 x1]\n", title="T",
                                                              language="ru"))]).exit_code == 0


def test_unknown_language_is_an_error_at_its_line_naming_espeak_languages(write_script):
    path = write_script("Hallo.\n", title="T", description="x", language="deu")
    r = CliRunner().invoke(cli, ["check", str(path)])
    assert r.exit_code == 1
    line = r.output.strip()
    assert line.startswith(f"Error: {path}:4: language 'deu' is not one espeak-ng speaks; did you mean de")
    named = line.split("espeak-ng has: ")[1].split(", ")
    assert {"de", "es", "en-us", "fr", "pt", "it", "ru", "el", "cmn", "ar"} <= set(named)
    assert len(named) == len(espeak_languages()) > 100


def test_bad_cue_words_are_errors_at_their_line(write_script):
    path = write_script("Hola.\n", title="T", language="es", cue_words="{inhale: x}")
    r = CliRunner().invoke(cli, ["check", str(path)])
    assert r.exit_code == 1 and f"{path}:4: cue_words: unknown key 'inhale'; the keys are in, hold, out" in r.output


# ---------------------------------------------------------------- the shipped libraries
@pytest.mark.parametrize("path", SHIPPED["es"] + SHIPPED["de"], ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_word_a_shipped_practice_speaks_is_in_its_language(path):
    lang = path.parent.name
    spoken = spoken_by_fake(path, breath_cues="spoken", variables={"name": "Lucía"})
    texts = [t for t, _ in spoken]
    assert {lang_ for _, lang_ in spoken} == {lang}
    assert not ENGLISH_CUES & set(texts)
    cue_phrases = {CUE_WORDS[lang][k].capitalize() + "." for k in ("in", "out")}   # the library has no holds
    assert cue_phrases <= set(texts)
    english = [t for t in texts if ENGLISH_WORDS.search(t)]
    assert not english
    assert any("Lucía" in t for t in texts)


@pytest.mark.parametrize("lang", ["es", "de"])
def test_a_shipped_practice_renders_with_the_language_in_transcript_and_tags(lang, tmp_path):
    path = REPO / "scripts" / lang / {"es": "llegar-al-cuerpo.md", "de": "ankommen-im-koerper.md"}[lang]
    out = tmp_path / "x.mp3"
    r = CliRunner().invoke(cli, ["render", str(path), "-o", str(out), "-q", "--length", "7m"])
    assert r.exit_code == 0, r.output
    script_text = path.read_text(encoding="utf-8")
    title = re.search(r"^title: (.*)$", script_text, re.M).group(1)
    description = re.search(r"^description: (.*)$", script_text, re.M).group(1)
    tags = ID3(out)
    assert str(tags["TIT2"]) == title
    assert tags.getall("COMM")[0].text == [description] and any(ch in description for ch in "áéíóúüöäßñ")
    cues = [c.text for c in webvtt.read(str(out.with_suffix(".vtt")))]
    # long phrases are cut at their sentences, never inside "¿…?"
    if lang == "es":
        assert all(c.count("¿") == c.count("?") for c in cues)
        assert "Si te apetece, puedes cerrar los ojos." in cues
        assert "Las dos opciones están bien." in cues
    else:
        assert "Oder du lässt sie offen und den Blick weich auf dem Boden ruhen, ein Stück vor dir." in cues


# ---------------------------------------------------------------- sentences
@pytest.mark.parametrize("lang, text, sentences", [
    ("es", "¿Qué notas? ¡Muy bien! El Sr. García y la Dra. Ruiz respiran 2,5 veces por minuto. Luego sigue.",
     ["¿Qué notas?", "¡Muy bien!", "El Sr. García y la Dra. Ruiz respiran 2,5 veces por minuto.", "Luego sigue."]),
    ("es", "Por ej. la mano, p. ej. el pecho. Y tú, ¿qué notas? ¡Ay! dijo ella.",
     ["Por ej. la mano, p. ej. el pecho.", "Y tú, ¿qué notas?", "¡Ay! dijo ella."]),
    ("de", "Atme z. B. langsam. Am 3. Tag kommt Dr. Weber, ca. 2,5 Min. lang. Das ist gut… und weiter. Ende!",
     ["Atme z. B. langsam.", "Am 3. Tag kommt Dr. Weber, ca. 2,5 Min. lang.", "Das ist gut… und weiter.",
      "Ende!"]),
    ("en", "Breathe in. Mr. Smith is 2.5 m tall, e.g. quite tall. «Done.» Yes", 
     ["Breathe in.", "Mr. Smith is 2.5 m tall, e.g. quite tall.", "«Done.»", "Yes"]),
    ("ja", "静かに座ります。呼吸を感じます。", ["静かに座ります。", "呼吸を感じます。"]),
    ("ru", "Сядьте удобно. Дышите.", ["Сядьте удобно.", "Дышите."]),
])
def test_sentences_are_split_as_the_language_writes_them(lang, text, sentences):
    assert split_sentences(text, lang) == sentences


# ---------------------------------------------------------------- voices per language
def test_a_practice_naming_no_voice_speaks_its_language(write_script):
    path = write_script("Hola. [breathe 4-6 x1]\n", title="T", language="es", breath_cues="spoken")
    p = prepare(path, RenderOptions(use_cache=False))
    assert p.script.settings.voice == "neural"
    assert {e.voice.language for e in p.timeline.entries if e.voice is not None} == {"es"}
    assert {clip.text for clip in p.cue_clips.values()} == {"Inhala.", "Exhala."}


def test_voices_lists_a_voice_per_language(monkeypatch):
    monkeypatch.delenv("MEDITATE_ENGINE")
    rows = {r.code: r for r in language_voices()}
    assert set(CUE_WORDS) <= set(rows)
    for code in ("es", "de", "fr", "pt", "it"):
        assert rows[code].default.engine == "espeak" and rows[code].default.voice.split("+")[0] == code
        assert rows[code].default.language == code
    r = CliRunner().invoke(cli, ["voices"])
    assert r.exit_code == 0
    listing = r.output.split("voices per language")[1]
    assert re.search(r"^  es  Spanish \(Spain\) +gentle \(espeak es\+f3\); spoken cues: inhala, pausa, exhala$",
                     listing, re.M), listing
    assert re.search(r"^  de  German +gentle \(espeak de\+f3\);", listing, re.M)


def test_a_piper_voice_by_path_is_kept_for_the_language_it_speaks(tmp_path, monkeypatch, capsys):
    pytest.importorskip("piper")
    monkeypatch.delenv("MEDITATE_ENGINE")
    model = tmp_path / "es_ES-lucia-medium.onnx"
    model.write_bytes(b"not loaded by this test")
    Path(str(model) + ".json").write_text(json.dumps({"language": {"code": "es_ES"}}), encoding="utf-8")
    prof = VoiceProfile(name="lucia", engine="piper", voice=str(model), fallback="gentle")
    assert speaking_profile(prof, RenderOptions(), None, "es") is prof
    assert speaking_profile(prof, RenderOptions(), None, "es-419") is prof
    other = speaking_profile(prof, RenderOptions(), None, "de")
    assert (other.engine, other.name) == ("espeak", "gentle")      # in German: its espeak fallback
    assert capsys.readouterr().err == ""          # chosen for a script naming no voice: nothing to say
    speaking_profile(prof, RenderOptions(), None, "de", ("x.md", 3))     # named at a script's line
    assert "voice profile 'lucia' does not speak 'de'; speaking with espeak in de instead" in capsys.readouterr().err


# ---------------------------------------------------------------- any script: slugs and tags
@pytest.mark.parametrize("name, slug", [
    ("Сергей Иванов", "сергей-иванов"), ("Ελένη", "ελένη"), ("静かな 時間", "静かな-時間"),
    ("مُحَمَّد علي", "مُحَمَّد-علي"), ("José María", "josé-maría"), ("Jürgen Groß", "jürgen-gross"),
    ("«¿?»", "person"),
])
def test_slugs_keep_the_letters_of_any_script(name, slug):
    assert safe_slug(name, set()) == slug


def test_a_practice_in_any_script_renders_with_its_name_and_tags(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "Ηρεμία.md"
    script.write_text("---\ntitle: Ηρεμία — 静かな時間 — Тишина — سكون\nlanguage: el\n"
                      "description: Μια σύντομη πρακτική.\nauthor: Ελένη\n---\nΚαλώς ήρθες. [pause 2s]\n",
                      encoding="utf-8")
    r = CliRunner().invoke(cli, ["render", str(script), "-q"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "audio_out" / "Ηρεμία.mp3").stat().st_size > 0       # named by the file, in Greek
    r = CliRunner().invoke(cli, ["render", str(script), "-o", str(tmp_path / "out.mp3"), "-q"])
    assert r.exit_code == 0, r.output
    tags = ID3(tmp_path / "out.mp3")
    assert str(tags["TIT2"]) == "Ηρεμία — 静かな時間 — Тишина — سكون"
    assert str(tags["TPE1"]) == "Ελένη"
    assert webvtt.read(str(tmp_path / "out.vtt"))[0].text == "Καλώς ήρθες."


# ---------------------------------------------------------------- real espeak
@pytest.mark.espeak
@pytest.mark.parametrize("lang, number, words", [("es", "25", "veinticinco"), ("de", "25", "fünfundzwanzig")])
def test_espeak_speaks_numbers_in_the_practice_language(lang, number, words):
    """espeak reads digits in the voice's language: "25" in Spanish lasts as long as "veinticinco"
    (within 5 %) and differs from English "25" by more than from the spelled-out word."""
    eng = get_engine("espeak")

    def frames(text, voice):
        return eng.synthesize(text, VoiceProfile(voice=voice, rate=140)).samples.shape[0]

    digits, spelled, english = frames(number, f"{lang}+f3"), frames(words, f"{lang}+f3"), frames(number, "en-us+f3")
    assert abs(digits - spelled) < abs(digits - english)
    assert abs(digits - english) / english > 0.10


@pytest.mark.espeak
@pytest.mark.parametrize("lang, text, sentences", [
    ("es", "¿Notas el aire? Quizá 2,5 segundos al inspirar, como dice la Dra. Ruiz, y un poco más al soltarlo. "
           "¡Muy bien!",
     ["¿Notas el aire?", "Quizá 2,5 segundos al inspirar, como dice la Dra. Ruiz, y un poco más al soltarlo.",
      "¡Muy bien!"]),
    ("de", "Spürst du den Atem? Vielleicht z. B. 2,5 Sekunden beim Einatmen, am 3. Tag etwas länger beim "
           "Ausatmen. Sehr gut!",
     ["Spürst du den Atem?", "Vielleicht z. B. 2,5 Sekunden beim Einatmen, am 3. Tag etwas länger beim Ausatmen.",
      "Sehr gut!"]),
])
def test_a_real_espeak_render_in_each_language(lang, text, sentences, write_script, tmp_path):
    path = write_script(f"# Anfang\n\n{text}\n\n[breathe 3-1-4 x1]\n", title=f"Prueba {lang} — ñ ü ß",
                        language=lang, breath_cues="spoken", bell="none")
    out = tmp_path / "x.mp3"
    p = prepare(path, RenderOptions(use_cache=False))
    prof = next(e.voice for e in p.timeline.entries if e.kind.name == "speech")
    assert (prof.engine, prof.voice) == ("espeak", f"{lang}+f3")
    words = CUE_WORDS[lang]
    assert {c.text for c in p.cue_clips.values()} == {w.capitalize() + "." for w in words.values()}
    r = CliRunner().invoke(cli, ["render", str(path), "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert [c.text for c in webvtt.read(str(out.with_suffix(".vtt")))] == sentences
    assert str(ID3(out)["TIT2"]) == f"Prueba {lang} — ñ ü ß"

"""A practice's language: the words the renderer says by itself, and the languages espeak-ng speaks.

The renderer speaks a few words of its own (the ``spoken`` breath cues). They come
from :data:`CUE_WORDS`, by the script's ``language:`` (its base: ``es-419`` uses
``es``), overridden per script by ``cue_words:`` in the front matter. A new
language is one entry here (see the README's "Adding a language").
"""
from __future__ import annotations

import difflib
import functools
import os
import re
from pathlib import Path

from ..errors import EngineError

DEFAULT_LANGUAGE = "en"
CUE_KEYS = ("in", "hold", "out")      # the breath phases a spoken cue names
# The words said at each breath phase's start, as a teacher would say them alone.
CUE_WORDS = {
    "en": {"in": "in", "hold": "hold", "out": "out"},
    "es": {"in": "inhala", "hold": "pausa", "out": "exhala"},
    "de": {"in": "einatmen", "hold": "halten", "out": "ausatmen"},
    "fr": {"in": "inspire", "hold": "pause", "out": "expire"},
    "pt": {"in": "inspira", "hold": "pausa", "out": "expira"},
    "it": {"in": "inspira", "hold": "pausa", "out": "espira"},
}


def normalize(language: str | None) -> str:
    """``es_ES`` / ``ES-es`` -> ``es-es``; None -> the default language."""
    return (language or DEFAULT_LANGUAGE).strip().lower().replace("_", "-")


def base(language: str | None) -> str:
    """The primary subtag: ``pt-br`` -> ``pt``."""
    return normalize(language).split("-", 1)[0]


def cue_words(language: str | None, override: dict | None = None) -> dict[str, str] | None:
    """The words for ``in``, ``hold`` and ``out``: the table's for ``language``, with ``override``
    laid over them; None when the language has no table entry and ``override`` is incomplete."""
    words = dict(CUE_WORDS.get(base(language), {}))
    words.update(override or {})
    return words if all(words.get(k) for k in CUE_KEYS) else None


def cue_phrase(word: str) -> str:
    """How a cue word is given to the engine: capitalised, ending a sentence (``Inhala.``)."""
    word = word.strip()
    return word[:1].upper() + word[1:] + ("" if word[-1:] in ".!?…" else ".")


# ---------------------------------------------------------------- espeak-ng's languages
def _espeak_data() -> Path | None:
    """The espeak-ng data folder the espeak engine uses (the bundled one unless a system
    library is found), or None when there is none to read."""
    from ..engines.espeak import espeak_paths   # lazy: the engine's module is not needed to parse scripts

    try:
        data = espeak_paths()[1]
    except EngineError:
        data = None
    candidates = [data] if data else []
    try:
        import espeakng_loader      # optional: the bundled espeak-ng

        candidates.append(espeakng_loader.get_data_path())
    except ImportError:
        pass
    candidates += ["/usr/lib/x86_64-linux-gnu/espeak-ng-data", "/usr/lib/aarch64-linux-gnu/espeak-ng-data",
                   "/usr/share/espeak-ng-data"]
    for c in candidates:
        if c and (Path(c) / "lang").is_dir():
            return Path(c)
    return None


@functools.lru_cache(maxsize=1)
def espeak_languages() -> dict[str, str]:
    """Language code -> name of every language espeak-ng has (``es`` -> ``Spanish (Spain)``),
    read from its data folder's ``lang/`` files without starting the engine; empty when no
    data folder is found."""
    data = _espeak_data()
    if data is None:
        return {}
    files: dict[str, str] = {}         # a voice file's own code -> its name
    also: dict[str, str] = {}          # other codes a file declares (pt-BR also speaks "pt")
    for root, _dirs, names in os.walk(data / "lang"):
        for f in names:
            try:
                text = (Path(root) / f).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            lines = [line.split() for line in text.splitlines()]
            name = next((" ".join(b[1:]) for b in lines if len(b) >= 2 and b[0] == "name"), f)
            files[normalize(f)] = name
            for b in lines:
                if len(b) >= 2 and b[0] == "language":
                    also.setdefault(normalize(b[1]), name)
    return dict(sorted({**also, **files}.items()))


def espeak_code(language: str) -> str:
    """The espeak-ng language for ``language``: itself when espeak-ng has it, else its base
    (``es_ES`` -> ``es``, as Piper voices name it)."""
    known = espeak_languages()
    code = normalize(language)
    return code if code in known or base(code) not in known else base(code)


def check_language(language: str) -> str | None:
    """None when espeak-ng speaks ``language`` or its base language (or its languages cannot be
    read here), else what is wrong: the close matches and every language espeak-ng has."""
    known = espeak_languages()
    if not known or espeak_code(language) in known:
        return None
    want = normalize(language)
    named = [c for c, n in known.items() if n.lower() == want or n.lower().startswith(want + " (")]   # "german"
    prefix = [c for c in known if "-" not in c and want.startswith(c)]                            # "deu" -> de
    close = list(dict.fromkeys(named + prefix + difflib.get_close_matches(want, list(known), n=3, cutoff=0.5)))[:3]
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return (f"language {language!r} is not one espeak-ng speaks; {hint}"
            f"espeak-ng has: {', '.join(known)}")


# ---------------------------------------------------------------- sentences
# Words that end in a period without ending the sentence (lowercase, without the final period).
# Single letters ("z. B.", "p. ej.", initials) and, in German, ordinals ("am 3. Tag") are
# handled by rule. Abbreviations that often do end a sentence (etc., usw., ecc.) are left out:
# a lowercase word after them keeps the sentence together anyway.
ABBREVIATIONS = {
    "en": {"mr", "mrs", "ms", "dr", "prof", "st", "vs", "e.g", "i.e", "approx", "no"},
    "es": {"sr", "sra", "srta", "sres", "dr", "dra", "dña", "ud", "uds", "prof", "ej", "núm", "pág", "aprox",
           "vs", "p.ej", "sto", "sta"},
    "de": {"dr", "hr", "hrn", "fr", "prof", "nr", "ca", "bzw", "evtl", "ggf", "vgl", "bspw", "inkl", "str",
           "st", "z.b", "d.h", "u.a", "o.ä", "s.o", "s.u"},
    "fr": {"m", "mme", "mlle", "mm", "dr", "pr", "ex", "p.ex", "cf", "env", "st", "ste"},
    "pt": {"sr", "sra", "srta", "dr", "dra", "prof", "ex", "p.ex", "pág", "nº", "sto", "sta"},
    "it": {"sig", "sigg", "sig.ra", "dott", "dott.ssa", "dr", "prof", "es", "pag", "n", "s"},
}
_END = ".!?…"
_CLOSERS = "\"'»«”’“)]"
_FULL_STOPS = re.compile(r"(?<=[。！？])")      # CJK sentence ends need no space after them


def split_sentences(text: str, language: str | None = None) -> list[str]:
    """``text`` cut into sentences, right for ``language``: ``¿…?`` and ``¡…!`` keep their marks,
    abbreviations (``Sr.``, ``z. B.``, ``Dr.``), initials, German ordinals and decimal numbers
    (``2,5``, ``2.5``) do not end a sentence, nor does a mark followed by a lowercase word."""
    lang = base(language)
    abbrevs = ABBREVIATIONS.get(lang, set())
    out: list[str] = []
    for chunk in _FULL_STOPS.split(text.strip()):
        words = chunk.split()
        current: list[str] = []
        for i, w in enumerate(words):
            current.append(w)
            if i + 1 < len(words) and _ends_sentence(w, words[i + 1], abbrevs, lang):
                out.append(" ".join(current))
                current = []
        if current:
            out.append(" ".join(current))
    return out


def _ends_sentence(word: str, following: str, abbrevs: set, lang: str) -> bool:
    core = word.rstrip(_CLOSERS)
    if not core or core[-1] not in _END:
        return False
    first = next((c for c in following if c.isalpha() or c.isdigit()), "")
    if first.islower():
        return False              # "z. B. die", "¡Ay! dijo", "etc. y"
    if core.endswith(".") and not core.endswith(".."):
        stem = core.rstrip(".").lstrip("(\"'«„“¿¡").lower()
        if stem in abbrevs or (len(stem) == 1 and stem.isalpha()):
            return False
        if lang == "de" and stem.isdigit():
            return False          # an ordinal: "am 3. Tag"
    return True

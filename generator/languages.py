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
from pathlib import Path

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
    from .engines.espeak import _locate
    from .errors import EngineError

    try:
        data = _locate()[1]
    except EngineError:
        data = None
    candidates = [data] if data else []
    try:
        import espeakng_loader

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
    out: dict[str, str] = {}
    if data is None:
        return out
    for root, _dirs, files in os.walk(data / "lang"):
        for f in files:
            name, codes = f, [f]
            try:
                text = (Path(root) / f).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for line in text.splitlines():
                bits = line.split()
                if len(bits) >= 2 and bits[0] == "name":
                    name = " ".join(bits[1:])
                elif len(bits) >= 2 and bits[0] == "language":
                    codes.append(bits[1])
            for c in codes:
                out.setdefault(normalize(c), name)
    return dict(sorted(out.items()))


def check_language(language: str) -> str | None:
    """None when espeak-ng speaks ``language`` (or its languages cannot be read here), else
    what is wrong: the close matches and every language espeak-ng has."""
    known = espeak_languages()
    if not known or normalize(language) in known:
        return None
    close = difflib.get_close_matches(normalize(language), list(known), n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return (f"language {language!r} is not one espeak-ng speaks; {hint}"
            f"espeak-ng has: {', '.join(known)}")

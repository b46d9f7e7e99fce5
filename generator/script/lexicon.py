"""The pronunciation lexicon: how to say the words (mostly names) an engine gets wrong.

A lexicon maps a word to what the engine is given instead, per engine::

    Siobhan: shi-VAWN                 # a respelling, for every engine
    Nguyen:
      say: win                        # the respelling (every engine without its own entry)
      espeak: "[[w'In]]"              # espeak-ng phonemes (its Kirshenbaum alphabet, in [[ ]])
      piper: "[[ wˈɪn ]]"             # Piper phonemes (IPA, in [[ ]])

Matching is whole-word (``Sean`` never touches ``Seanna`` or ``oceans``) and
case-aware: a key with a capital letter matches only that spelling (``Will``
the name, not ``will``); an all-lowercase key matches in any case (``tonglen``,
``Tonglen``). Text and keys are compared in Unicode NFC, so ``Zoë`` matches
however it was typed. Only the spoken text changes: the transcript keeps the
written words.

Sources, later ones winning: the shipped ``voices/lexicon.yaml``, a
``lexicon.yaml`` in ``./voices`` or the ``voices/`` folder beside the script's
folder, the script's ``lexicon:`` front matter (entries, or a file relative to
the script) and a people file's ``pronounce`` column.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import ScriptError, SeriesError

ENGINE_KEYS = ("espeak", "piper")
ENTRY_KEYS = ("say",) + ENGINE_KEYS
LEXICON_FILE = "lexicon.yaml"
_KEY_RE = re.compile(r"\w(?:[\w'’ -]*\w)?")


@dataclass(frozen=True)
class Pronunciation:
    say: str | None = None
    espeak: str | None = None
    piper: str | None = None

    def for_engine(self, engine: str) -> str | None:
        own = getattr(self, engine, None) if engine in ENGINE_KEYS else None
        return own or self.say


class Lexicon:
    """Words and their pronunciations; :meth:`spoken` rewrites a text for one engine."""

    def __init__(self, entries: dict[str, Pronunciation] | None = None):
        self.entries = dict(entries or {})
        self._patterns: dict[str, tuple] = {}

    def __bool__(self) -> bool:
        return bool(self.entries)

    def merged(self, other: "Lexicon") -> "Lexicon":
        """This lexicon with ``other``'s entries added (``other`` wins a word both define)."""
        return Lexicon({**self.entries, **other.entries})

    def spoken(self, text: str, engine: str) -> str:
        """``text`` as ``engine`` should be given it: every lexicon word replaced, whole-word."""
        if not self.entries:
            return text
        if engine not in self._patterns:
            subs = {k: v.for_engine(engine) for k, v in self.entries.items()}
            subs = {k: v for k, v in subs.items() if v}
            alts = [_key_pattern(k) for k in sorted(subs, key=len, reverse=True)]
            regex = re.compile(r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)") if alts else None
            folded = {k.lower(): v for k, v in subs.items() if k == k.lower()}
            self._patterns[engine] = (regex, subs, folded)
        regex, subs, folded = self._patterns[engine]
        if regex is None:
            return text
        text = unicodedata.normalize("NFC", text)

        def replace(m: re.Match) -> str:
            word = " ".join(m.group(0).split())
            return subs.get(word) or folded[word.lower()]

        return regex.sub(replace, text)


def _key_pattern(key: str) -> str:
    pattern = r"\s+".join(re.escape(part) for part in key.split())
    return pattern if key != key.lower() else f"(?i:{pattern})"


def parse_entries(data, shown: str, lines: dict | None = None) -> Lexicon:
    """A lexicon from a YAML mapping (a file's, or a front matter ``lexicon:``)."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise ScriptError("a lexicon must be a mapping of word: respelling (or word: {say:, espeak:, piper:})",
                          shown, lines.get(None))
    entries = {}
    for word, value in data.items():
        line = lines.get(str(word), lines.get(None))
        key = unicodedata.normalize("NFC", " ".join(str(word).split()))
        if not _KEY_RE.fullmatch(key):
            raise ScriptError(f"lexicon key {str(word)!r} must be a word or words (letters, digits, ' and -)",
                              shown, line)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = {"say": value}
        if not isinstance(value, dict) or not value:
            raise ScriptError(f"lexicon entry {key!r} must be a respelling or a mapping with say:, espeak:, piper:",
                              shown, line)
        unknown = sorted(str(k) for k in value if k not in ENTRY_KEYS)
        if unknown:
            raise ScriptError(f"lexicon entry {key!r}: unknown key {unknown[0]!r}; use say, espeak or piper",
                              shown, line)
        fields = {}
        for k, v in value.items():
            v = " ".join(str(v).split()) if v is not None else ""
            if not v:
                raise ScriptError(f"lexicon entry {key!r}: {k}: is empty", shown, line)
            if k == "say" and "[[" in v:
                raise ScriptError(f"lexicon entry {key!r}: phonemes are engine-specific; write them under "
                                  f"espeak: or piper:, and a respelling under say:", shown, line)
            if v.count("[[") != v.count("]]"):
                raise ScriptError(f"lexicon entry {key!r}: {k}: unbalanced [[ ]] around phonemes", shown, line)
            fields[k] = v
        entries[key] = Pronunciation(**fields)
    return Lexicon(entries)


def read_lexicon(path: Path) -> Lexicon:
    """A ``lexicon.yaml`` file; errors name the file and the entry's line."""
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except OSError as e:
        raise ScriptError(f"cannot read the lexicon: {e.strerror}; check the path", shown)
    except UnicodeDecodeError:
        raise ScriptError("the lexicon is not UTF-8 text; save it as UTF-8", shown)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ScriptError(f"the lexicon is not valid YAML: {getattr(e, 'problem', None) or e}".splitlines()[0],
                          shown, mark.line + 1 if mark is not None else None)
    lines = {None: 1}
    if isinstance(node, yaml.MappingNode):
        lines.update({str(k.value): k.start_mark.line + 1 for k, _ in node.value})
    return parse_entries(data if data is not None else {}, shown, lines)


def folder_lexicon(dirs: list[Path]) -> Lexicon:
    """The ``lexicon.yaml`` files of voice folders (``dirs`` from highest precedence to lowest)."""
    lex = Lexicon()
    for d in reversed(dirs):
        f = Path(d) / LEXICON_FILE
        if f.is_file():
            lex = lex.merged(read_lexicon(f))
    return lex


def person_pronunciations(cell: str, name: str, shown: str, line: int | None) -> dict:
    """A people file's ``pronounce`` cell: a respelling of the row's first column (``shi-VAWN``),
    or ``Word=respelling`` pairs separated by ``;`` (``Siobhan=shi-VAWN; Nguyen=win``)."""
    cell = (cell or "").strip()
    if not cell:
        return {}
    if "=" not in cell:
        return {name: cell} if name else {}
    out = {}
    for part in filter(None, (p.strip() for p in cell.split(";"))):
        word, eq, say = part.partition("=")
        if not eq or not word.strip() or not say.strip():
            raise SeriesError(f"pronounce {part!r}: write a respelling of the first column, or "
                              f"Word=respelling pairs separated by ';'", shown, line)
        out[word.strip()] = say.strip()
    return out

"""Parsing a practice script (front matter + templated body + cues) into a model.

Every item keeps the source line it came from, so later stages (timeline,
length fitting, transcript) can name it in errors and in ``meditate plan``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import yaml

from .. import cues
from ..cues import Item as CueItem
from ..cues.pause import Pause
from ..cues.speech import Speech
from ..cues.voice import VoiceChange
from .durations import parse_duration
from ..errors import ScriptError, TemplateError, closest, did_you_mean
from .languages import CUE_KEYS, CUE_WORDS, check_language, cue_words
from .lexicon import parse_entries, read_lexicon
from .profiles import DEFAULT_PROFILE
from .template import referenced_variables, render_body, render_text, text_variables

FRONT_MATTER_KEYS = {
    "title", "description", "author", "length", "voice", "ambience", "ambience_level",
    "breath_cues", "bell", "language", "variables", "lexicon", "cue_words",
}
TEMPLATED_KEYS = ("title", "description", "author")   # front matter filled in like the body
BREATH_CUES = ("glide", "chime", "spoken", "none")
BELLS = ("bowl", "chime", "none")
AMBIENCES = ("none", "white", "pink", "brown", "ocean", "drone", "bowl-drone")    # the beds (audio/ambience.py)
AMBIENCE_FILE_EXTS = (".wav", ".mp3", ".ogg", ".flac")    # or an audio file of one of these kinds
MAX_FILE_BYTES = 2_000_000


# ---------------------------------------------------------------- the model
@dataclass(frozen=True)
class Heading:
    title: str
    level: int
    line: int


Item = Union[CueItem, Heading]


@dataclass
class Settings:
    title: str
    description: str | None = None
    author: str | None = None
    length: float | None = None
    voice: str = DEFAULT_PROFILE
    ambience: str = "none"
    ambience_level: float = -34.0
    breath_cues: str = "glide"
    bell: str = "bowl"
    language: str | None = None
    variables: dict = field(default_factory=dict)
    lexicon: object = None     # lexicon.Lexicon from the front matter's ``lexicon:``, if any
    cue_words: dict = field(default_factory=dict)   # ``cue_words:`` overrides, e.g. {"in": "inspira"}


@dataclass
class Script:
    path: Path
    slug: str
    settings: Settings
    items: list[Item]
    lines: dict = field(default_factory=dict)   # front-matter key -> line
    warnings: list = field(default_factory=list)   # ScriptErrors worth a "Warning:" line (symbols read aloud)
    values: dict = field(default_factory=dict)     # the variables it was filled in with (defaults included)

    @property
    def title(self) -> str:
        return self.settings.title


# ---------------------------------------------------------------- reading
@dataclass
class Source:
    """The raw file split into front matter and body, before templating."""
    path: Path
    meta: dict
    meta_lines: dict
    body: str
    body_line: int     # source line number of the body's first line


def read_source(path: Path | str) -> Source:
    path = Path(path)
    shown = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScriptError("no such file; check the path", shown)
    except IsADirectoryError:
        raise ScriptError("is a folder, not a script file", shown)
    except OSError as e:
        raise ScriptError(f"cannot read: {e.strerror}", shown)
    if not raw.strip():
        raise ScriptError("the file is empty; a script needs front matter with a title and a body", shown)
    if len(raw) > MAX_FILE_BYTES:
        raise ScriptError(f"the file is {len(raw)} bytes, over the {MAX_FILE_BYTES} byte limit for a script", shown)
    if utf16_problem(raw):
        raise ScriptError(utf16_problem(raw), shown)
    if b"\x00" in raw[:8192]:
        raise ScriptError("this looks like a binary file, not a UTF-8 text script", shown)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ScriptError(f"not valid UTF-8 (byte 0x{raw[e.start]:02x}); save the file as UTF-8", shown, line)
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if looks_like_series(text):
        raise ScriptError(f"this is a series manifest, not a practice script: use `meditate batch {shown}` "
                          f"(or `meditate plan {shown}`)", shown)
    if lines[0].strip() != "---":
        raise ScriptError("the script must start with '---' and YAML front matter (title: …), closed by '---'", shown, 1)
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise ScriptError("the front matter is not closed: add a line '---' after it", shown, 1)
    meta, meta_lines = _load_yaml("\n".join(lines[1:end]), shown, first_line=2)
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ScriptError("the front matter must be YAML 'key: value' lines", shown, 2)
    return Source(path, meta, meta_lines, "\n".join(lines[end + 1:]), end + 2)


def looks_like_series(text: str) -> bool:
    """A YAML mapping with a ``practices:`` key (a series manifest given where a script belongs)."""
    if not re.search(r"^practices\s*:", text, re.MULTILINE):
        return False
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and "practices" in data


def looks_like_script(text: str) -> bool:
    """Front matter between '---' lines followed by a body (a script given where a manifest belongs)."""
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").split("\n")
    if lines[0].strip() != "---":
        return False
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        return False
    try:
        meta = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError:
        return False
    return isinstance(meta, dict) and "practices" not in meta


def yaml_problem(e: yaml.YAMLError) -> str:
    """PyYAML's problem, with what to do for the two mistakes authors make most."""
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    if "mapping values are not allowed" in problem:
        return (problem + "; a value with ': ' in it must be quoted, "
                'e.g. title: "Rest: an evening practice"')
    if "'\\t'" in problem:
        return problem + "; indent with spaces, not tabs"
    return problem


def utf16_problem(raw: bytes) -> str | None:
    """Why a UTF-16 file (with or without its byte-order mark) is not read, else None."""
    head = raw[:4096]
    odd, even = head[1::2].count(0), head[0::2].count(0)     # ASCII in UTF-16: every other byte is 0
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (
            len(head) >= 4 and max(odd, even) > len(head) * 0.4 and min(odd, even) < len(head) * 0.02):
        return "this file is saved as UTF-16; save it as UTF-8 (in most editors: Save As, encoding UTF-8)"
    return None


def _load_yaml(text: str, shown: str, first_line: int):
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = first_line + mark.line if mark is not None else first_line
        raise ScriptError(f"front matter is not valid YAML: {yaml_problem(e)}", shown, line)
    lines = {}
    if isinstance(node, yaml.MappingNode):
        for k, _v in node.value:
            lines[str(k.value)] = first_line + k.start_mark.line
    return data, lines


def parse_settings(src: Source, errors: list | None = None) -> Settings:
    """The front matter as settings; ``errors``, when given, collects unknown keys instead of raising."""
    shown = str(src.path)
    meta = src.meta

    def fail(key, msg):
        raise ScriptError(msg, shown, src.meta_lines.get(key))

    for key in meta:
        if key not in FRONT_MATTER_KEYS:
            _fail(ScriptError(f"unknown front matter key {key!r}{did_you_mean(key, FRONT_MATTER_KEYS)}; "
                              f"allowed: {', '.join(sorted(FRONT_MATTER_KEYS))}", shown, src.meta_lines.get(str(key))),
                  errors)
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ScriptError("front matter needs a 'title:'", shown, src.meta_lines.get("title", 2))
    s = Settings(title=title.strip())
    for key in ("description", "author", "language"):
        if meta.get(key) is not None:
            if not isinstance(meta[key], (str, int, float)):
                fail(key, f"{key!r} must be text")
            setattr(s, key, str(meta[key]).strip())
    if s.language is not None:
        problem = check_language(s.language)
        if problem:
            fail("language", problem)
    if meta.get("cue_words") is not None:
        s.cue_words = _cue_words(meta["cue_words"], lambda m: fail("cue_words", m))
    if meta.get("length") is not None:
        try:
            s.length = parse_duration(str(meta["length"]))
        except ValueError as e:
            fail("length", f"length: {e}")
        if s.length <= 0:
            fail("length", "length must be more than 0")
    if meta.get("voice") is not None:
        s.voice = str(meta["voice"])
    for key, allowed in (("breath_cues", BREATH_CUES), ("bell", BELLS)):
        if meta.get(key) is not None:
            v = str(meta[key]) if meta[key] is not False else "none"
            if v not in allowed:
                fail(key, f"{key}: {v!r} is not one of {', '.join(allowed)}")
            setattr(s, key, v)
    if meta.get("ambience") is not None:
        v = str(meta["ambience"]) if meta["ambience"] is not False else "none"
        check_ambience(v, lambda m: fail("ambience", m))
        s.ambience = v
    if meta.get("ambience_level") is not None:
        s.ambience_level = check_ambience_level(meta["ambience_level"], lambda m: fail("ambience_level", m))
    variables = meta.get("variables")
    if variables is not None:
        if not isinstance(variables, dict):
            fail("variables", "variables: must be a mapping of name: default (null for required)")
        for k, v in variables.items():
            if not isinstance(k, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
                fail("variables", f"variable name {k!r} must be letters, digits and _ (not starting with a digit)")
            if isinstance(v, (dict, list)):
                fail("variables", f"variable {k!r}: a default must be text or a number, or null")
        s.variables = dict(variables)
    if meta.get("lexicon") is not None:
        s.lexicon = _front_matter_lexicon(src, meta["lexicon"])
    if s.breath_cues == "spoken":
        check_cue_words(s, shown, src.meta_lines)
    return s


def _cue_words(value, fail) -> dict:
    """``cue_words: {in: inspira, hold: pausa, out: espira}``: any of the three, each a word or phrase."""
    if not isinstance(value, dict):
        fail(f"cue_words: must be a mapping of {', '.join(CUE_KEYS)} to the words to say, "
             f"e.g. {{in: inspira, out: espira}}")
    out = {}
    for k, v in value.items():
        if k not in CUE_KEYS:
            fail(f"cue_words: unknown key {k!r}; the keys are {', '.join(CUE_KEYS)}")
        if not isinstance(v, (str, int, float)) or isinstance(v, bool) or not str(v).strip():
            fail(f"cue_words: {k}: give the word to say, e.g. {k}: {CUE_WORDS['es'][k]}")
        out[k] = str(v).strip()
    return out


def check_cue_words(settings: Settings, shown: str, lines: dict) -> dict:
    """The spoken breath cues' words for these settings; an error at the ``language:`` (or
    ``cue_words:``) line when the language has none in the table and ``cue_words`` lacks some."""
    words = cue_words(settings.language, settings.cue_words)
    if words is None:
        missing = [k for k in CUE_KEYS if k not in settings.cue_words]
        raise ScriptError(
            f"spoken breath cues need words in {settings.language!r}: add cue_words: "
            f"{{{', '.join(f'{k}: …' for k in missing)}}} to the front matter (built in: "
            f"{', '.join(CUE_WORDS)})", shown, lines.get("cue_words") or lines.get("language"))
    return words


def _front_matter_lexicon(src: Source, value):
    """``lexicon:`` is entries (``{Siobhan: shi-VAWN}``) or a lexicon file relative to the script."""
    line = src.meta_lines.get("lexicon")
    if isinstance(value, str):
        return read_lexicon(src.path.parent / value)
    if not isinstance(value, dict):
        raise ScriptError("lexicon: must be entries (word: respelling) or the path of a lexicon file",
                          str(src.path), line)
    return parse_entries(value, str(src.path), {None: line})


def check_ambience_level(value, fail) -> float:
    """dBFS of the bed where nothing is spoken: a number from -80 to 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -80 <= value <= 0:
        fail(f"ambience_level {value!r} must be a number of dBFS between -80 and 0 (e.g. -34)")
    return float(value)


def check_ambience(value: str, fail) -> None:
    if value in AMBIENCES:
        return
    if value.lower().endswith(AMBIENCE_FILE_EXTS):
        return
    fail(f"ambience: {value!r} is not one of {', '.join(AMBIENCES)} nor an audio file ({' '.join(AMBIENCE_FILE_EXTS)})")


def ambience_file(value: str, base_dir: Path | str | None) -> Path | None:
    """The audio file an ``ambience`` value names (``~`` expanded; a relative path is taken from
    ``base_dir``, the script's or manifest's folder), or None for a named bed."""
    raw = str(value).strip()
    if not raw.lower().endswith(AMBIENCE_FILE_EXTS):
        return None
    p = Path(raw).expanduser()
    return p if p.is_absolute() or base_dir is None else Path(base_dir) / p


def resolve_variables(src: Source, settings: Settings, given: dict, strict: bool = True) -> dict:
    """Defaults overlaid by ``given``; every missing required variable named at once."""
    shown = str(src.path)
    declared = settings.variables
    if strict:
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise TemplateError(
                f"unknown variable{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
                f"{did_you_mean(unknown[0], declared)}; this script declares: {', '.join(sorted(declared)) or 'none'}",
                shown, src.meta_lines.get("variables"))
    values = {k: v for k, v in declared.items()}
    values.update({k: v for k, v in given.items() if k in declared or not strict})
    empty = sorted(k for k, v in given.items() if declared.get(k, "") is None and not str(v).strip())
    if empty:       # `--var name=$NAME` with $NAME unset: "Hello, ." is never what was meant
        raise TemplateError(f"required variable {empty[0]} is given an empty value; give it one, "
                            f"e.g. --var {empty[0]}=Sam (is a shell variable unset?)",
                            shown, src.meta_lines.get("variables"))
    used = referenced_variables(src.body, shown, src.body_line)
    in_front = {}     # variable -> the first front-matter line using it
    for key in TEMPLATED_KEYS:
        text = getattr(settings, key)
        if text:
            for name in text_variables(text, shown, src.meta_lines.get(key)):
                in_front.setdefault(name, src.meta_lines.get(key))
    used |= set(in_front)
    undeclared = sorted(used - set(values))
    missing = sorted(k for k, v in values.items() if v is None)
    problems = []
    if missing:
        problems.append(
            f"missing required variable{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
            f"pass --var {missing[0]}=VALUE" + (" (and the others)" if len(missing) > 1 else ""))
    if undeclared:
        problems.append(
            f"undefined variable{'s' if len(undeclared) > 1 else ''} {', '.join(undeclared)}"
            f"{did_you_mean(undeclared[0], values)}; "
            f"declare {'them' if len(undeclared) > 1 else 'it'} under 'variables:' in the front matter")
    if problems:
        line = (src.meta_lines.get("variables") if missing
                else next((in_front[n] for n in undeclared if n in in_front), None) or _first_use(src, undeclared))
        raise TemplateError("; ".join(problems), shown, line)
    return values


def _first_use(src: Source, names: list[str]) -> int | None:
    for i, line in enumerate(src.body.split("\n")):
        if any(re.search(r"\b" + re.escape(n) + r"\b", line) for n in names) and ("{{" in line or "{%" in line):
            return src.body_line + i
    return None


class ScriptErrors(ScriptError):
    """Several errors in one script: reads as the first (with a count); ``errors`` has them all."""

    def __init__(self, errors: list[ScriptError]):
        first = errors[0]
        more = len(errors) - 1
        super().__init__(first.message + (f" (and {more} more error{'s' if more > 1 else ''}: "
                                          f"`meditate check` lists them)" if more else ""), first.path, first.line)
        self.errors = errors


# ---------------------------------------------------------------- the body
_CUE_RE = re.compile(r"\[([^\[\]\n]*)\]")
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


# The Markdown subset (see the README): list and quote markers are dropped, links keep their
# text, emphasis and code marks are stripped; any other symbol a voice would read out is warned of.
_BLOCK_MARK_RE = re.compile(r"^(?:>\s?)+|^(?:[-*+]|\d{1,3}[.)])\s+")
_LINK_RE = re.compile(r"!?\[([^\[\]\n]*)\]\(([^()\s]*)\)")
_EMPHASIS_RES = [re.compile(p) for p in (
    r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1",                 # **strong**, __strong__
    r"(\*)(?=\S)(.+?)(?<=\S)\*",                       # *emphasis*
    r"(?<!\w)(_)(?=\S)(.+?)(?<=\S)_(?!\w)",             # _emphasis_ (not snake_case)
    r"(~~)(?=\S)(.+?)(?<=\S)~~",                        # ~~strike~~
    r"(`+)(.+?)\1",                                    # `code`
)]
_READ_ALOUD = "*_#`|<>~^=@\\{}"     # symbols a voice would read out ("asterisk"): warned of


def _markdown_block(text: str) -> str:
    """A line with its list or quote marker dropped and its links replaced by their text."""
    return _LINK_RE.sub(lambda m: m.group(1), _BLOCK_MARK_RE.sub("", text, count=1))


def _markdown_inline(text: str, shown: str, line: int, warnings: list | None) -> str:
    """Emphasis and code marks stripped; a symbol left that would be read aloud is warned of."""
    for rx in _EMPHASIS_RES:
        text = rx.sub(lambda m: m.group(2), text)
    left = sorted({c for c in text if c in _READ_ALOUD})
    if left and warnings is not None:
        warnings.append(ScriptError(
            f"{' '.join(repr(c) for c in left)} would be read aloud as a symbol; remove "
            f"{'it' if len(left) == 1 else 'them'} or write the words (the Markdown subset: "
            f"*emphasis*, **strong**, lists, > quotes and [links](url) are read as plain text)", shown, line))
    return text


def parse_body(lines: list[tuple[int, str]], shown: str, warnings: list | None = None,
               errors: list | None = None) -> list[Item]:
    """Turn rendered ``(line, text)`` pairs into items; paragraph breaks become paragraph pauses later.

    ``warnings`` collects a :class:`ScriptError` per line with symbols a voice would read out;
    ``errors``, when given, collects each bad line's error (the line is skipped) instead of raising."""
    items: list[Item] = []
    paragraph: list[tuple[int, str]] = []

    def flush():
        if paragraph:
            items.extend(_parse_paragraph(paragraph, shown, warnings, errors))
            paragraph.clear()
        items.append(_PARAGRAPH_BREAK)

    for line, text in lines:
        stripped = text.strip()
        if not stripped:
            flush()
            continue
        m = _HEADING_RE.match(stripped)
        if m:
            flush()
            title = _markdown_inline(_LINK_RE.sub(lambda m: m.group(1), m.group(2)), shown, line, None).strip()
            if not title:
                _fail(ScriptError("a heading needs a title after the #", shown, line), errors)
                continue
            items.append(Heading(title, len(m.group(1)), line))
            continue
        paragraph.append((line, _markdown_block(stripped)))
    flush()
    return _collapse_breaks(items)


class _Break:
    """Marker between paragraphs; becomes a paragraph pause between two spoken phrases."""


_PARAGRAPH_BREAK = _Break()


def _collapse_breaks(items: list) -> list[Item]:
    """A paragraph break is a pause only where speech follows speech across it."""
    out: list[Item] = []
    pending_break_line = None
    for it in items:
        if it is _PARAGRAPH_BREAK:
            pending_break_line = True if out else None
            continue
        if pending_break_line and isinstance(it, Speech) and out and isinstance(_last_timed(out), Speech):
            out.append(Pause(-1.0, -1.0, it.line, paragraph=True))  # sized from the voice profile later
        pending_break_line = None
        out.append(it)
    return out


def _last_timed(items: list[Item]):
    for it in reversed(items):
        if not isinstance(it, (Heading, VoiceChange)):
            return it
    return None


def _fail(error: ScriptError, errors: list | None) -> None:
    """Raise ``error``, or collect it when ``errors`` is a list (check reports every error)."""
    if errors is None:
        raise error
    errors.append(error)


def _parse_paragraph(paragraph: list[tuple[int, str]], shown: str, warnings: list | None = None,
                     errors: list | None = None) -> list[Item]:
    items: list[Item] = []
    words: list[str] = []
    text_line = None

    def end_phrase():
        nonlocal words, text_line
        text = " ".join(" ".join(words).split())
        if text and re.search(r"\w", text):
            items.append(Speech(text, text_line))
        words, text_line = [], None

    def read(line: int, text: str) -> None:
        nonlocal text_line
        pos = 0
        for m in _CUE_RE.finditer(text):
            before = text[pos:m.start()]
            _check_stray_brackets(before, shown, line)
            before = _markdown_inline(before, shown, line, warnings)
            if before.strip():
                text_line = text_line or line
                words.append(before.strip())
            end_phrase()
            items.append(parse_cue(m.group(1), shown, line))
            pos = m.end()
        rest = text[pos:]
        _check_stray_brackets(rest, shown, line)
        rest = _markdown_inline(rest, shown, line, warnings)
        if rest.strip():
            text_line = text_line or line
            words.append(rest.strip())

    for line, text in paragraph:
        try:
            read(line, text)
        except ScriptError as e:
            _fail(e, errors)
    end_phrase()
    return items


def _check_stray_brackets(text: str, shown: str, line: int) -> None:
    if "[" in text or "]" in text:
        raise ScriptError("unbalanced '[' or ']': a cue is written [word args], e.g. [pause 5s]", shown, line)


def parse_cue(body: str, shown: str, line: int) -> CueItem:
    """The item ``[body]`` at ``line`` writes, parsed by its kind (see generator/cues/)."""
    parts = body.split()
    if not parts:
        raise ScriptError(f"empty cue []; cues are {cues.listing()}", shown, line)
    word, args = parts[0].lower(), parts[1:]
    kind = cues.by_word(word)
    if kind is None:
        near = closest(word, cues.cue_words())     # named as the cue list names it: "[pause …]", "[chime]"
        hint = f" (did you mean {cues.by_word(near).usage}?)" if near else ""
        raise ScriptError(f"unknown cue [{body}]{hint}; cues are {cues.listing()}", shown, line)
    try:
        return kind.parse(args, line)
    except ValueError as e:
        raise ScriptError(str(e), shown, line)


def named_voices(body: str) -> set[str]:
    """The profiles the ``[voice …]`` cues of a body name, before templating (so those in every
    branch of an ``{% if %}`` count); cues that do not parse are left to the render to report."""
    names = set()
    for m in _CUE_RE.finditer(body):
        try:
            item = parse_cue(m.group(1), "", 0)
        except ScriptError:
            continue
        if isinstance(item, VoiceChange):
            names.add(item.name)
    return names


def fill_front_matter(src: Source, settings: Settings, values: dict) -> None:
    """Render the templated front-matter values (title, description, author) in place."""
    for key in TEMPLATED_KEYS:
        text = getattr(settings, key)
        if text:
            setattr(settings, key, render_text(text, values, str(src.path), src.meta_lines.get(key)))


def rendered_title(path: Path | str, variables: dict, key: str = "title") -> str | None:
    """The script's title (or another of TEMPLATED_KEYS) filled in with ``variables`` (lenient, as
    a batch passes them); None when unset, or when the script or its variables are not right (its
    render reports why)."""
    try:
        src = read_source(path)
        settings = parse_settings(src)
        if not getattr(settings, key):
            return None
        values = resolve_variables(src, settings, dict(variables), strict=False)
        return render_text(getattr(settings, key), values, str(src.path), src.meta_lines.get(key))
    except ScriptError:
        return None


# ---------------------------------------------------------------- entry points
def load_script(path: Path | str, variables: dict | None = None, strict_variables: bool = True,
                overrides: dict | None = None) -> Script:
    """Read, validate and template a script; ``overrides`` replace front-matter settings."""
    src = read_source(path)
    errors: list[ScriptError] = []      # every unknown key and bad body line, reported together
    settings = parse_settings(src, errors)
    for k, v in (overrides or {}).items():
        if v is not None:
            setattr(settings, k, v)
    values = resolve_variables(src, settings, dict(variables or {}), strict=strict_variables)
    fill_front_matter(src, settings, values)
    rendered = render_body(src.body, values, str(src.path), src.body_line)
    warnings: list[ScriptError] = []
    items = parse_body(rendered, str(src.path), warnings, errors)
    if errors:
        raise ScriptErrors(errors)
    if not any(not isinstance(i, Heading) and cues.of(i).timed for i in items):
        raise ScriptError("the script has nothing to play: add prose or cues after the front matter",
                          str(src.path), src.body_line)
    slug = Path(path).stem
    return Script(Path(path), slug, settings, items, dict(src.meta_lines), warnings, values)

"""Series manifests (``scripts/series/<slug>.yaml``) and people files (``--people clients.csv``).

Everything here only reads and validates; :mod:`generator.batch` renders. Every
problem is a :class:`SeriesError` naming the file and, where there is one, the
line, with what to do about it.
"""
from __future__ import annotations

import csv
import io
import os
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from .durations import parse_duration
from ..errors import MeditateError, SeriesError, did_you_mean
from .parse import (BELLS, BREATH_CUES, ambience_file, check_ambience, check_ambience_level, looks_like_script,
                     looks_like_series, parse_settings, read_source, utf16_problem, yaml_problem)
from .profiles import available_profiles
from .template import render_text, text_variables

SERIES_KEYS = ("title", "author", "description", "artwork", "start_date", "voice", "ambience", "ambience_level",
               "breath_cues", "bell", "variables", "practices")
FEED_EPOCH = date(2024, 1, 1)     # day 1 of a feed whose manifest sets no start_date:
PRACTICE_KEYS = ("script", "length", "voice", "ambience", "breath_cues", "bell", "variables")
MAX_MANIFEST_BYTES = 1_000_000
MAX_PEOPLE_BYTES = 20_000_000
SLUG_MAX = 60
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
_VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# names Windows refuses as file or folder names, whatever the extension
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


# ---------------------------------------------------------------- the model
@dataclass
class Practice:
    position: int                 # 1-based
    script: Path                  # as resolved from the manifest (relative to the cwd if the manifest was)
    line: int                     # the practice's line in the manifest
    length: float | None = None
    voice: str | None = None
    ambience: str | None = None
    breath_cues: str | None = None
    bell: str | None = None
    variables: dict = field(default_factory=dict)   # the practice's own, not merged
    lines: dict = field(default_factory=dict)       # key -> manifest line
    var_lines: dict = field(default_factory=dict)   # variable -> manifest line

    @property
    def slug(self) -> str:
        return safe_slug(self.script.stem, set(), fallback="practice")


@dataclass
class Series:
    path: Path
    slug: str
    title: str
    practices: list[Practice]
    voice: str | None = None
    ambience: str | None = None
    ambience_level: float | None = None
    breath_cues: str | None = None
    bell: str | None = None
    author: str | None = None                       # the artist tag of every practice
    description: str | None = None                  # the podcast feed's summary
    artwork: str | None = None                      # the feed's artwork: an http(s) URL or an image file's path
    start_date: date = FEED_EPOCH                   # the feed's day 1 (publication dates)
    variables: dict = field(default_factory=dict)
    lines: dict = field(default_factory=dict)
    var_lines: dict = field(default_factory=dict)   # variable -> manifest line

    def merged_variables(self, practice: Practice, row: dict | None = None) -> dict:
        """Series variables, overlaid by the practice's, overlaid by a people row's."""
        out = dict(self.variables)
        out.update(practice.variables)
        out.update({k: v for k, v in (row or {}).items() if k != PRONOUNCE_COLUMN})
        return out

    def title_for(self, row: dict | None = None) -> str:
        """The series title (the album tag and playlist name) filled in for one people row:
        series variables, overlaid by the row, over the defaults the scripts declare."""
        values = {}
        for p in self.practices:
            try:
                values.update({k: v for k, v in declared_variables(p.script).items()
                               if v is not None and k not in values})
            except MeditateError:
                pass                         # that practice's render reports it
        values.update(self.variables)
        values.update(row or {})
        try:
            return render_text(self.title, values, str(self.path), self.lines.get("title"))
        except MeditateError as e:
            raise SeriesError(f"title: {e.message}", str(self.path), self.lines.get("title"))

    @property
    def display_title(self) -> str:
        """The title for messages: filled in with the defaults, as written if that needs a person."""
        try:
            return self.title_for()
        except SeriesError:
            return self.title

    def settings_for(self, practice: Practice) -> dict:
        """The overrides one practice renders with (None: the script's own front matter decides)."""
        return {
            "voice": practice.voice or self.voice,
            "ambience": practice.ambience or self.ambience,
            "ambience_level": self.ambience_level,
            "breath_cues": practice.breath_cues or self.breath_cues,
            "bell": practice.bell or self.bell,
            "author": self.author,
        }


PRONOUNCE_COLUMN = "pronounce"     # a people file's column of respellings (see lexicon.person_pronunciations)


class PersonRow(dict):
    """One row of a people file: ``{variable: value}`` for every non-empty cell.

    ``line`` is the row's line in the file; ``label`` the first column's value
    (possibly empty), which names the person's folder.
    """

    def __init__(self, values: dict, line: int, label: str, columns: list | None = None,
                 header_line: int | None = None):
        super().__init__(values)
        self.line = line
        self.label = label
        self.columns = list(columns) if columns is not None else list(values)
        self.header_line = header_line


# ---------------------------------------------------------------- reading text files
def _read_text(path: Path, what: str, limit: int) -> str:
    shown = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SeriesError(f"no such {what}; check the path", shown)
    except IsADirectoryError:
        raise SeriesError(f"is a folder, not a {what}", shown)
    except OSError as e:
        raise SeriesError(f"cannot read the {what}: {e.strerror}", shown)
    if len(raw) > limit:
        raise SeriesError(f"the {what} is {len(raw)} bytes, over the {limit} byte limit", shown)
    if utf16_problem(raw):
        raise SeriesError(utf16_problem(raw), shown)
    if b"\x00" in raw[:8192]:
        raise SeriesError(f"this looks like a binary file, not a UTF-8 text {what}", shown)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise SeriesError(f"not valid UTF-8 (byte 0x{raw[e.start]:02x}); save the {what} as UTF-8", shown, line)
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise SeriesError(f"the {what} is empty", shown)
    return text


# ---------------------------------------------------------------- series manifests
def load_series(path) -> Series:
    """Read and validate a series manifest; every script it names must exist."""
    path = Path(path)
    shown = str(path)
    text = _read_text(path, "series manifest", MAX_MANIFEST_BYTES).replace("\r\n", "\n").replace("\r", "\n")
    if looks_like_script(text):
        raise SeriesError(f"this is a practice script, not a series manifest: use `meditate render {shown}` "
                          f"(or `meditate plan {shown}`)", shown)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise SeriesError(f"not valid YAML: {yaml_problem(e)}", shown,
                          mark.line + 1 if mark is not None else None)
    if not isinstance(node, yaml.MappingNode):
        raise SeriesError("a series manifest must be YAML 'key: value' lines with a title: and practices:",
                          shown, node.start_mark.line + 1 if node is not None else 1)
    top, lines = _mapping(node, shown, SERIES_KEYS, "series key")

    def fail(key, msg, line=None):
        raise SeriesError(msg, shown, line or lines.get(key))

    title = _scalar(top.get("title"))
    if not isinstance(title, str) or not title.strip():
        fail("title", "the manifest needs a 'title:' (the album name of the series)", lines.get("title", 1))
    series = Series(path=path, slug=safe_slug(path.stem, set(), fallback="series"), title=title.strip(),
                    practices=[], lines=lines)
    base = path.parent
    _settings(series, top, lines, shown, base)
    if "ambience_level" in top:
        series.ambience_level = check_ambience_level(_scalar(top["ambience_level"]),
                                                     lambda m: fail("ambience_level", m))
    if "author" in top:
        series.author = _text_value(top["author"], "author", shown, lines["author"])
    _feed_settings(series, top, lines, shown, base)
    if "variables" in top:
        series.variables = _variables(top["variables"], shown, lines["variables"], series.var_lines)

    pnode = top.get("practices")
    if pnode is None or isinstance(pnode, yaml.ScalarNode) and pnode.value in ("", "~", "null"):
        fail("practices", "the manifest needs 'practices:', a list of '- script: NAME' entries", lines.get("practices", 1))
    if not isinstance(pnode, yaml.SequenceNode) or not pnode.value:
        fail("practices", "practices: must be a non-empty list of '- script: NAME' entries")
    for i, item in enumerate(pnode.value, start=1):
        series.practices.append(_practice(i, item, shown, base))
    check_series_voice(series)
    _check_variable_names(series)
    _check_title_variables(series)
    return series


def _feed_settings(series: Series, top: dict, lines: dict, shown: str, base: Path) -> None:
    """description:, artwork: and start_date:, used by ``batch --feed``."""
    if "description" in top:
        series.description = _text_value(top["description"], "description", shown, lines["description"])
    if "artwork" in top:
        v = _text_value(top["artwork"], "artwork", shown, lines["artwork"])
        if v and not v.lower().startswith(("http://", "https://")):
            f = Path(v).expanduser()
            f = f if f.is_absolute() else base / f
            if f.suffix.lower() not in (".jpg", ".jpeg", ".png") or not f.is_file():
                raise SeriesError(f"artwork: {v!r} must be a .jpg or .png file (relative to the manifest) or an "
                                  f"http(s) URL; looked for {f}", shown, lines["artwork"])
            v = str(f.resolve())
        series.artwork = v or None
    if "start_date" in top:
        v = _scalar(top["start_date"])
        try:
            series.start_date = v if isinstance(v, date) else date.fromisoformat(str(v))
        except ValueError:
            raise SeriesError(f"start_date: {v!r} is not a date; write it as YYYY-MM-DD, e.g. 2025-01-06",
                              shown, lines["start_date"])


def _check_variable_names(series: Series) -> None:
    """A variable the series sets must be one its scripts declare (a typo is not silently ignored):
    a practice's own, one its script declares; a series-wide one, one some script declares."""
    shown = str(series.path)
    declared = {}
    for p in series.practices:
        try:
            declared[p.position] = declared_variables(p.script)
        except MeditateError:
            return                           # that practice's own check reports it
    for p in series.practices:
        for name in p.variables:
            if name not in declared[p.position]:
                raise SeriesError(f"unknown variable {name!r}: {p.script.name} does not declare it"
                                  f"{did_you_mean(name, declared[p.position])}; it declares: "
                                  f"{', '.join(sorted(declared[p.position])) or 'no variables'}",
                                  shown, p.var_lines.get(name))
    known = {k for d in declared.values() for k in d}
    for name in series.variables:
        if name not in known:
            raise SeriesError(f"unknown variable {name!r}: no script of the series declares it"
                              f"{did_you_mean(name, known)}; they declare: {', '.join(sorted(known)) or 'no variables'}",
                              shown, series.var_lines.get(name))


def _check_title_variables(series: Series) -> None:
    """A templated series title may use the series' variables and those the scripts declare
    (a people file fills these in per row)."""
    line = series.lines.get("title")
    used = text_variables(series.title, str(series.path), line)
    if not used:
        return
    known = set(series.variables)
    for p in series.practices:
        try:
            known |= set(declared_variables(p.script))
        except MeditateError:
            return                           # that practice's own check reports it
    unknown = sorted(used - known)
    if unknown:
        raise SeriesError(f"title: unknown variable {unknown[0]!r}{did_you_mean(unknown[0], known)}; "
                          f"set it under variables: or declare it in the scripts", str(series.path), line)


def is_series_file(path) -> bool:
    """A ``.yaml``/``.yml`` file, or YAML with a ``practices:`` list whatever its name."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        return True
    try:
        return looks_like_series(path.read_bytes()[:MAX_MANIFEST_BYTES].decode("utf-8"))
    except (OSError, UnicodeDecodeError):
        return False


def _mapping(node, shown: str, allowed, what: str):
    """``{key: value node}`` and ``{key: line}``; unknown and repeated keys are errors."""
    out, lines = {}, {}
    for k, v in node.value:
        key = k.value if isinstance(k, yaml.ScalarNode) else None
        line = k.start_mark.line + 1
        if key not in allowed:
            raise SeriesError(f"unknown {what} {key!r}; allowed: {', '.join(allowed)}", shown, line)
        if key in out:
            raise SeriesError(f"{key!r} is given twice; keep one", shown, line)
        out[key], lines[key] = v, line
    return out, lines


def _scalar(node):
    """The Python value of a scalar node (YAML's own typing), or the node itself when not a scalar."""
    if node is None:
        return None
    if isinstance(node, yaml.ScalarNode):
        return yaml.SafeLoader(io.StringIO("")).construct_object(node, deep=True)
    return node


def _text_value(node, key: str, shown: str, line: int, allow_false: bool = False):
    v = _scalar(node)
    if v is None:
        return None
    if v is False and allow_false:
        return "none"
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise SeriesError(f"{key}: must be a single value", shown, line)
    return str(v).strip()


def _settings(obj, data: dict, lines: dict, shown: str, base: Path) -> None:
    """voice, ambience, breath_cues and bell, shared by the series and each practice."""
    if "voice" in data:
        v = _text_value(data["voice"], "voice", shown, lines["voice"])
        if v is not None:
            if not _NAME_RE.fullmatch(v):
                raise SeriesError(f"voice: {v!r} is not a profile name; use a name from voices/, e.g. gentle",
                                  shown, lines["voice"])
            obj.voice = v
    for key, allowed in (("breath_cues", BREATH_CUES), ("bell", BELLS)):
        if key in data:
            v = _text_value(data[key], key, shown, lines[key], allow_false=True)
            if v is not None:
                if v not in allowed:
                    raise SeriesError(f"{key}: {v!r} is not one of {', '.join(allowed)}", shown, lines[key])
                setattr(obj, key, v)
    if "ambience" in data:
        v = _text_value(data["ambience"], "ambience", shown, lines["ambience"], allow_false=True)
        if v is not None:
            def bad(msg):
                raise SeriesError(msg, shown, lines["ambience"])

            check_ambience(v, bad)
            f = ambience_file(v, base)
            if f is not None:
                if not f.is_file():
                    bad(f"ambience file {v!r} not found (looked for {f}); paths are relative to the manifest")
                v = str(f.resolve())     # the renderer would otherwise look next to each script
            obj.ambience = v


def _variables(node, shown: str, line: int, var_lines: dict) -> dict:
    """The mapping's variables; each one's manifest line goes into ``var_lines``."""
    if isinstance(node, yaml.ScalarNode) and _scalar(node) is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise SeriesError("variables: must be a mapping of name: value, e.g. {name: friend}", shown, line)
    out = {}
    for k, v in node.value:
        kl = k.start_mark.line + 1
        name = k.value if isinstance(k, yaml.ScalarNode) else None
        if not isinstance(name, str) or not _VAR_RE.fullmatch(name):
            raise SeriesError(f"variable name {name!r} must be letters, digits and _ (not starting with a digit)",
                              shown, kl)
        if name in out:
            raise SeriesError(f"variable {name!r} is given twice; keep one", shown, kl)
        value = _scalar(v)
        if not isinstance(v, yaml.ScalarNode) or isinstance(value, (bytes, dict, list)) or value is None:
            raise SeriesError(f"variable {name!r}: the value must be text or a number "
                              f"(a series cannot make a variable required)", shown, kl)
        out[name] = value if isinstance(value, (str, int, float)) else str(value)
        var_lines[name] = kl
    return out


def _practice(position: int, node, shown: str, base: Path) -> Practice:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        raise SeriesError(f"practice {position} must be a mapping like '- script: arriving-in-the-body'", shown, line)
    data, lines = _mapping(node, shown, PRACTICE_KEYS, f"key in practice {position}:")
    if "script" not in data:
        raise SeriesError(f"practice {position} needs 'script:', the script's file or name", shown, line)
    name = _text_value(data["script"], "script", shown, lines["script"])
    if not name:
        raise SeriesError(f"practice {position}: script: is empty; name a script, e.g. arriving-in-the-body",
                          shown, lines["script"])
    p = Practice(position, _resolve_script(name, base, shown, lines["script"]), line, lines=lines)
    if "length" in data:
        v = _scalar(data["length"])
        if v is not None:
            try:
                if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                    raise ValueError(f"malformed duration {v!r} (use e.g. 8m, 10m30s)")
                p.length = parse_duration(str(v))
            except ValueError as e:
                raise SeriesError(f"length: {e}", shown, lines["length"])
            if p.length <= 0:
                raise SeriesError("length must be more than 0", shown, lines["length"])
    _settings(p, data, lines, shown, base)
    if "variables" in data:
        p.variables = _variables(data["variables"], shown, lines["variables"], p.var_lines)
    if p.voice:
        _check_voice(p.voice, p.script, shown, lines["voice"])
    return p


def _resolve_script(name: str, base: Path, shown: str, line: int) -> Path:
    given = Path(name).expanduser()
    tried = [given if given.is_absolute() else base / given]
    if not given.suffix:
        tried.append(base / (name + ".md"))
        if not given.is_absolute():
            tried.append(Path(os.path.normpath(base / "..")) / (name + ".md"))
    for cand in tried:
        if cand.is_file():
            return cand
    raise SeriesError(f"script {name!r} not found (looked for {', '.join(str(c) for c in dict.fromkeys(tried))}); "
                      f"check the name or give a path relative to the manifest", shown, line)


def _check_voice(name: str, script: Path, shown: str, line: int) -> None:
    profiles = available_profiles(script.resolve().parent.parent / "voices")
    if name not in profiles:
        raise SeriesError(f"unknown voice profile {name!r}{did_you_mean(name, profiles)}; available: {', '.join(sorted(profiles)) or 'none'}; "
                          f"or add voices/{name}.yaml", shown, line)


def check_series_voice(series: Series) -> None:
    """The series-wide voice must exist for every practice that does not override it."""
    if series.voice:
        for p in series.practices:
            if not p.voice:
                _check_voice(series.voice, p.script, str(series.path), series.lines.get("voice"))


# ---------------------------------------------------------------- people files
def read_people(csv_path) -> list[PersonRow]:
    """Rows of a people file as ``{variable: value}`` dicts (empty cells left out).

    Each row is a :class:`PersonRow` carrying its ``line`` and ``label`` (first column).
    """
    path = Path(csv_path)
    shown = str(path)
    text = _read_text(path, "people file", MAX_PEOPLE_BYTES)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header, header_line, rows = None, None, []
    last = 0
    try:
        for cells in reader:
            line, last = last + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue                      # blank line (or only commas)
            cells = [c.strip() for c in cells]
            if header is None:
                header, header_line = cells, line
                _check_header(header, shown, line)
                continue
            if len(cells) > len(header):
                raise SeriesError(f"this row has {len(cells)} cells but the header names {len(header)} columns; "
                                  f"quote values that contain commas", shown, line)
            values = {h: c for h, c in zip(header, cells) if c}
            rows.append(PersonRow(values, line, cells[0] if cells else "", header, header_line))
    except csv.Error as e:
        raise SeriesError(f"malformed CSV: {e}", shown, reader.line_num or None)
    if header is None:
        raise SeriesError("the people file is empty; write a header row naming variables, then one row per person",
                          shown)
    if not rows:
        raise SeriesError("the people file has a header but no rows; add one row per person", shown, header_line)
    return rows


def _check_header(header: list[str], shown: str, line: int) -> None:
    seen = set()
    for i, h in enumerate(header, start=1):
        if not h:
            raise SeriesError(f"column {i} of the header row has no name; name every column after a variable",
                              shown, line)
        if h in seen:
            raise SeriesError(f"column {h!r} appears twice in the header row; keep one", shown, line)
        seen.add(h)
    if len(header) == 1 and ";" in header[0]:
        raise SeriesError("the header looks separated by ';': a people file separates columns with commas",
                          shown, line)


def people_columns(rows: list) -> list[str]:
    """The header's columns (for plain dicts: every key used by some row)."""
    cols = {}
    for r in rows:
        for k in getattr(r, "columns", r):
            cols.setdefault(k, None)
    return list(cols)


def missing_required(series: Series, practice: Practice, row: dict | None = None,
                     declared: dict | None = None) -> list[str]:
    """Required variables (default null in the script) that neither the series, the practice nor the row sets."""
    d = declared if declared is not None else declared_variables(practice.script)
    given = series.merged_variables(practice, row)
    return sorted(k for k, v in d.items() if v is None and given.get(k) in (None, ""))


def declared_variables(script: Path) -> dict:
    """The variables a script declares (``{name: default}``, None = required)."""
    return parse_settings(read_source(script)).variables


def check_people(series: Series, rows: list, people_path=None, ignore_extra_columns: bool = False) -> None:
    """Every column must be a variable some practice declares (``ignore_extra_columns``: other
    columns, such as an email, are dropped from the rows instead), and every practice must get every
    required variable. All rows are checked; the first problem is raised, with a count of the rest."""
    shown = str(people_path) if people_path is not None else "people file"
    declared: dict[int, dict] = {}
    unreadable = False
    for p in series.practices:
        try:
            declared[p.position] = declared_variables(p.script)
        except MeditateError:
            unreadable = True          # reported when that practice renders
    known = {k for d in declared.values() for k in d}
    problems: list[tuple[int | None, str]] = []
    header = people_columns(rows)
    if not unreadable:
        unknown = [h for h in header if h not in known and h != PRONOUNCE_COLUMN]
        if unknown and ignore_extra_columns:
            for r in rows:
                for h in unknown:
                    r.pop(h, None)
        elif unknown:
            line = getattr(rows[0], "header_line", None) if rows else None   # the header row's line
            problems.append((line, f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
                                   f"no practice in the series declares {'them' if len(unknown) > 1 else 'it'}"
                                   f"{did_you_mean(unknown[0], known)}; "
                                   f"the scripts declare: {', '.join(sorted(known)) or 'no variables'} "
                                   f"(--ignore-extra-columns skips the others)"))
    for r in rows:
        for p in series.practices:
            d = declared.get(p.position)
            if d is None:
                continue
            missing = missing_required(series, p, r, d)
            if missing:
                who = f" ({r.label})" if getattr(r, "label", "") else ""
                fix = (f"fill in its '{missing[0]}' cell" if missing[0] in header
                       else f"add a '{missing[0]}' column")
                problems.append((getattr(r, "line", None),
                                 f"row{who} leaves required variable{'s' if len(missing) > 1 else ''} "
                                 f"{', '.join(missing)} of {p.script} without a value; {fix} "
                                 f"(or set it under variables: in the series)"))
                break
    if problems:
        line, msg = problems[0]
        if len(problems) > 1:
            msg += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''} in later rows)"
        raise SeriesError(msg, shown, line)


# ---------------------------------------------------------------- slugs
def safe_slug(text, taken: set, fallback: str = "person") -> str:
    """A folder or file name safe on every filesystem, unique against ``taken`` (and added to it).

    Letters, digits (and combining marks) of any script are kept; everything else folds to '-';
    runs collapse; casefolded; at most ~60 characters; never empty, '.', '..' or a reserved
    Windows device name.
    """
    s = unicodedata.normalize("NFC", str(text or "")).casefold()
    out: list[str] = []
    for ch in s:
        cat = unicodedata.category(ch)
        if ch.isalnum() or (cat.startswith("M") and out and out[-1] != "-"):
            out.append(ch)
        elif not out or out[-1] != "-":
            out.append("-")
    slug = unicodedata.normalize("NFC", "".join(out)).strip("-")
    slug = slug[:SLUG_MAX].rstrip("-") or fallback
    if slug in (".", "..") or not slug:
        slug = fallback
    if slug in _RESERVED:
        slug = f"{slug}-{fallback}"
    folded = {t.casefold() for t in taken}
    cand, n = slug, 1
    while cand.casefold() in folded:
        n += 1
        cand = f"{slug[:SLUG_MAX - len(str(n)) - 1].rstrip('-')}-{n}"
    taken.add(cand)
    return cand

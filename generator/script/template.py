"""Sandboxed Jinja2 rendering of a script body that keeps every line's source number.

Each source line gets an invisible marker before rendering; after rendering, every
output line is attributed to the last marker seen, so errors and the timeline can
point at the line the user wrote even after ``{% if %}`` blocks drop text.
"""
from __future__ import annotations

import re
import sys
import traceback

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from ..errors import TemplateError

MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"
COMMENT_TOKEN = "\ue002"
_MARK_RE = re.compile(MARK_OPEN + r"(\d+)" + MARK_CLOSE)
MAX_OUTPUT_CHARS = 2_000_000


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    # Jinja's lorem-ipsum generator: no use in a practice, and `{{ lipsum(1000) }}` made hours
    # of speech for `plan` to synthesize (found by tests/test_fuzz.py)
    del env.globals["lipsum"]
    return env


def _mark_lines(lines: list[str], first_line: int) -> str:
    """Prefix each line that starts outside a Jinja tag with its source line number."""
    out = []
    depth_open = None  # the closing delimiter we are waiting for, if inside a tag
    closers = {"{{": "}}", "{%": "%}", "{#": "#}"}
    for i, line in enumerate(lines):
        prefix = "" if depth_open else f"{MARK_OPEN}{first_line + i}{MARK_CLOSE}"
        if line.lstrip().startswith("//") and not depth_open:
            line = COMMENT_TOKEN
        out.append(prefix + line)
        pos = 0
        while True:
            if depth_open:
                j = line.find(depth_open, pos)
                if j < 0:
                    break
                pos, depth_open = j + 2, None
            else:
                m = re.compile(r"\{\{|\{%|\{#").search(line, pos)
                if not m:
                    break
                depth_open, pos = closers[m.group(0)], m.end()
    return "\n".join(out)


def referenced_variables(body: str, path: str, first_line: int) -> set[str]:
    env = _environment()
    try:
        ast = env.parse(_mark_lines(body.split("\n"), first_line))
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(f"template syntax error: {e.message}", path, first_line + (e.lineno or 1) - 1)
    return set(meta.find_undeclared_variables(ast))


def text_variables(text: str, path: str, line: int | None) -> set[str]:
    """The variables a one-line template (a title, a description) uses."""
    try:
        return set(meta.find_undeclared_variables(_environment().parse(text)))
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(f"template syntax error: {e.message}", path, line)


def render_text(text: str, values: dict, path: str, line: int | None) -> str:
    """Render a one-line template (a title, a description) in the same sandbox and strictness as
    the body; the result's whitespace is collapsed to single spaces."""
    if "{" not in text:
        return text
    env = _environment()
    try:
        out = env.from_string(text).render(**values)
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(f"template syntax error: {e.message}", path, line)
    except SecurityError as e:
        raise TemplateError(f"not allowed in a practice template: {e}", path, line)
    except jinja2.UndefinedError as e:
        raise TemplateError(f"undefined variable: {e.message}; declare it under 'variables:'", path, line)
    except Exception as e:  # filters applied to wrong types, etc.
        raise TemplateError(f"template failed: {type(e).__name__}: {e}", path, line)
    return " ".join(out[:MAX_OUTPUT_CHARS].split())


def render_body(body: str, values: dict, path: str, first_line: int) -> list[tuple[int, str]]:
    """Render ``body`` with ``values``; return ``(source_line, text)`` per output line.

    Comment lines (``//``) are dropped. Raises :class:`TemplateError` with the line.
    """
    env = _environment()
    source = _mark_lines(body.split("\n"), first_line)
    try:
        template = env.from_string(source)
        text = template.render(**values)
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(f"template syntax error: {e.message}", path, first_line + (e.lineno or 1) - 1)
    except SecurityError as e:
        raise TemplateError(f"not allowed in a practice template: {e}", path, _line_of_error(first_line))
    except jinja2.UndefinedError as e:
        raise TemplateError(f"undefined variable: {e.message}; declare it under 'variables:' in the front matter",
                            path, _line_of_error(first_line))
    except TemplateError:
        raise
    except Exception as e:  # filters applied to wrong types, etc.
        raise TemplateError(f"template failed: {type(e).__name__}: {e}", path, _line_of_error(first_line))
    shown = len(text) - sum(m.end() - m.start() for m in _MARK_RE.finditer(text))   # less the line marks
    if shown > MAX_OUTPUT_CHARS:
        raise TemplateError(f"template output is {shown} characters, over the {MAX_OUTPUT_CHARS} limit", path)
    result: list[tuple[int, str]] = []
    current = first_line
    for raw in text.split("\n"):
        marks = _MARK_RE.findall(raw)
        if marks:
            current = int(marks[-1])
        clean = _MARK_RE.sub("", raw)
        if clean.strip() == COMMENT_TOKEN or clean.strip().startswith(COMMENT_TOKEN):
            continue
        result.append((current, clean.replace(COMMENT_TOKEN, "")))
    return result


def _line_of_error(first_line: int) -> int | None:
    """Best effort: the template line from the traceback of the current exception."""
    tb = sys.exc_info()[2]
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename == "<template>":
            line = lineno
    return first_line + line - 1 if line else None

"""One exception tree for the whole product.

Every error carries where it happened (path, optional line) so the CLI can print
the one-line ``Error: PATH:LINE: message`` the format promises.
"""
from __future__ import annotations

import difflib


class MeditateError(Exception):
    """Base of every domain error; ``str()`` is the user-facing line without 'Error: '."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        return where + self.message


class ScriptError(MeditateError):
    """The practice script (front matter, body, cue, template) is wrong."""


class TemplateError(ScriptError):
    """Jinja2 variables missing, syntax wrong, or the sandbox refused something."""


class ProfileError(MeditateError):
    """A voice profile is missing or malformed."""


class EngineError(MeditateError):
    """A speech engine failed, hung or produced an incomplete clip."""


class AudioError(MeditateError):
    """Decoding, mixing or encoding audio failed (bad user audio, ffmpeg missing...)."""


class LengthError(MeditateError):
    """A target length is out of the script's reach."""


class SeriesError(MeditateError):
    """A series manifest or people file is wrong."""


def closest(word, candidates) -> str | None:
    """The closest of ``candidates`` to ``word`` (difflib), or None when none is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word, candidates) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``candidates``, else ``""``."""
    close = closest(word, candidates)
    return f" (did you mean {close!r}?)" if close else ""

"""The library's public entry points, re-exported by the package: ``from generator import render, check, plan``.

Each takes a script's path and returns a plain result; bad input raises a :class:`~generator.errors.MeditateError`
(``path`` and ``line`` say where, ``str()`` is the CLI's one-line message). The command line is a thin edge
over these three.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .validate import check_file
from .progress import Progress
from .pipeline import Prepared, RenderOptions, RenderResult, default_output, planned_bed_shift, prepare
from .pipeline import render as render_file
from .script.parse import Script
from .timeline import Timeline


def render(script, out=None, options: RenderOptions | None = None, *, progress: bool | None = False) -> RenderResult:
    """Render the practice ``script`` (a path) to ``out`` and a ``.vtt`` transcript beside it.

    ``out`` is a path ending in .mp3, .m4a, .m4b, .opus or .wav, and may use the script's variables
    (``audio_out/{{ name }}/{{ slug }}.mp3``); default ``audio_out/<slug>.mp3``. ``options`` are the
    ``meditate render`` options (variables, length, voice, ambience, loudness, ...). ``progress``: a bar
    on stderr (True), only when stderr is a terminal (None), none (False). Returns what was written and
    measured (path, duration in seconds, loudness, mixing passes, chapters, the script's warnings).
    """
    return render_file(script, Path(out) if out is not None else None, options or RenderOptions(),
                       Progress(enabled=progress))


def check(script, variables: dict | None = None) -> list:
    """Validate the script (or series manifest) ``script`` without speaking it; returns its warnings.

    Raises the first :class:`~generator.errors.MeditateError` (a :class:`~generator.errors.ScriptError`
    for a wrong script, with ``path`` and ``line``; its ``errors`` list every error of the script).
    Required ``variables`` without a value get a placeholder: this checks the template, not the data.
    """
    return check_file(Path(script), variables)


@dataclass(frozen=True)
class Plan:
    """A practice's fitted timeline, without audio: what ``meditate plan`` shows."""

    prepared: Prepared      # the script, its speech (synthesized or from the cache) and the timeline
    bed_shift: float        # dB the bed is moved, clear of the loudness gate, when rendered to the plan's output

    @property
    def script(self) -> Script:
        return self.prepared.script

    @property
    def timeline(self) -> Timeline:
        """``entries`` and ``chapters`` with sample positions (44.1 kHz), ``frames``, ``reachable`` (s)."""
        return self.prepared.timeline

    @property
    def duration(self) -> float:
        """Seconds, exactly: the rendered file has ``timeline.frames`` samples."""
        return self.prepared.timeline.duration


def plan(script, options: RenderOptions | None = None, out=None, *, progress: bool | None = False) -> Plan:
    """Speak (or read from the cache) and time the practice ``script`` the way a render would, without
    mixing it. ``out`` is the output the bed's level is planned for (default: an MP3 at the options'
    loudness). ``progress`` as for :func:`render`."""
    options = options or RenderOptions()
    p = prepare(script, options, Progress(enabled=progress))
    return Plan(p, planned_bed_shift(p, options, Path(out) if out is not None else default_output(script)))

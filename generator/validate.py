"""``meditate check``'s validation of one file, for the command line and the studio alike."""
from __future__ import annotations

from pathlib import Path

from .errors import MeditateError
from .pipeline import RenderOptions, load, profile_loader
from .script.parse import ambience_file, read_source
from .script.series import is_series_file, load_series
from .timeline import voice_for_items


def check_file(path: Path, given: dict | None = None) -> list:
    """Validate a script (or a series manifest, by its content); returns the script's warnings,
    raises the first MeditateError. Required variables without a value get a placeholder: this
    checks the template, not the data."""
    given = given or {}
    if is_series_file(path):
        load_series(path)     # a series manifest: its keys, scripts, voices and lengths' syntax
        return []
    src = read_source(path)
    declared = src.meta.get("variables") if isinstance(src.meta.get("variables"), dict) else {}
    values = {k: k for k, v in declared.items() if v is None}   # plain words: no symbol warnings
    values.update({k: v for k, v in given.items() if k in declared})
    script = load(path, RenderOptions(variables=values))
    voice_for_items(script, profile_loader(script))
    bed = ambience_file(script.settings.ambience, script.path.parent)
    if bed is not None and not bed.is_file():
        raise MeditateError(f"ambience file {script.settings.ambience!r} not found",
                            str(script.path), script.lines.get("ambience"))
    return script.warnings

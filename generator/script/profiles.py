"""Voice profiles (``voices/<name>.yaml``) as typed settings."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from .durations import parse_duration
from .lexicon import LEXICON_FILE
from ..errors import ProfileError, did_you_mean



def _shipped_voices() -> Path:
    """The shipped profiles: package data ``generator/voices/`` (the repository's ``voices/``
    folder, mapped there by pyproject.toml, in an editable install)."""
    from importlib.resources import files

    return Path(str(files("generator.voices")))


VOICES_DIR = _shipped_voices()
ENGINES = ("espeak", "piper", "fake")
# The profile a script gets when it names none: the natural Piper voice. Measured with an
# offline recognizer (bench/intelligibility.py) its word error rate is 0.25 against 0.65-0.75
# for the espeak voices; where Piper is not installed it falls back to its profile's ``fallback``.
DEFAULT_PROFILE = "neural"
DRAFT_PROFILE = "gentle"     # the espeak profile a piper profile without a ``fallback`` falls back to
DEFAULT_REASON = ("the natural Piper voice: an offline recognizer gets 25% of its words wrong, against "
                  "65-75% for the espeak voices (bench/RESULTS.md)")


@dataclass(frozen=True)
class VoiceProfile:
    name: str = "gentle"
    engine: str = "espeak"
    voice: str = "en-us+f3"
    rate: int = 140          # words per minute
    pitch: int = 45          # 0-99 (espeak)
    volume: float = 1.0
    paragraph_pause: float = 1.5  # seconds
    default_pause: float = 3.0    # seconds
    language: str | None = None
    # piper only: the model's noise (None: 0, reproducible), and the silence between sentences
    noise_scale: float | None = None
    noise_w: float | None = None
    sentence_pause: float | None = None    # seconds between sentences (None: 0.3 s times length_scale)
    fallback: str | None = None            # the profile used where this one's engine is unavailable

    def key(self) -> tuple:
        """What changes the sound of a clip (for the speech cache)."""
        return (self.engine, self.voice, self.rate, self.pitch, self.volume, self.language,
                self.noise_scale, self.noise_w, self.sentence_pause)


def voice_dirs(extra: Path | None = None) -> list[Path]:
    dirs = []
    if extra is not None:
        dirs.append(Path(extra))
    dirs.append(Path.cwd() / "voices")
    dirs.append(VOICES_DIR)
    seen, out = set(), []
    for d in dirs:
        r = d.resolve()
        if r not in seen:
            seen.add(r)
            out.append(d)
    return out


def available_profiles(extra: Path | None = None) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in voice_dirs(extra):
        if d.is_dir():
            for p in sorted(d.glob("*.yaml")):
                if p.name != LEXICON_FILE:      # the pronunciation lexicon shares the folder; it is not a voice
                    found.setdefault(p.stem, p)
    return found


def load_profile(name: str, extra: Path | None = None) -> VoiceProfile:
    """Find ``name`` in ``./voices``, next to the script (``extra``) or the shipped ``voices/``."""
    profiles = available_profiles(extra)
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise ProfileError(f"unknown voice profile {name!r}{did_you_mean(name, profiles)}; available: {known}")
    return read_profile(profiles[name])


def read_profile(path: Path) -> VoiceProfile:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ProfileError(f"cannot read voice profile: {e}".splitlines()[0], path)
    if not isinstance(data, dict):
        raise ProfileError("a voice profile must be a YAML mapping", path)
    fields = {f.name for f in dataclasses.fields(VoiceProfile)} - {"name"}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ProfileError(f"unknown key {unknown[0]!r}; allowed: {', '.join(sorted(fields))}", path)
    kw = {"name": Path(path).stem}
    try:
        for k, v in data.items():
            if k in ("paragraph_pause", "default_pause", "sentence_pause"):
                kw[k] = parse_duration(str(v))
            elif k in ("rate", "pitch"):
                kw[k] = int(v)
            elif k in ("volume", "noise_scale", "noise_w"):
                kw[k] = float(v)
            else:
                kw[k] = str(v)
    except (ValueError, TypeError) as e:
        raise ProfileError(f"bad value for {k!r}: {e}", path)
    prof = VoiceProfile(**kw)
    if prof.engine not in ENGINES:
        raise ProfileError(f"unknown engine {prof.engine!r}; use one of {', '.join(ENGINES)}", path)
    if not 40 <= prof.rate <= 450:
        raise ProfileError(f"rate {prof.rate} is out of range 40-450 words per minute", path)
    if not 0 <= prof.pitch <= 99:
        raise ProfileError(f"pitch {prof.pitch} is out of range 0-99", path)
    if not 0.0 < prof.volume <= 2.0:
        raise ProfileError(f"volume {prof.volume} is out of range (0, 2]", path)
    for k in ("noise_scale", "noise_w"):
        if getattr(prof, k) is not None and not 0.0 <= getattr(prof, k) <= 2.0:
            raise ProfileError(f"{k} {getattr(prof, k)} is out of range 0-2", path)
    if prof.sentence_pause is not None and not 0.0 <= prof.sentence_pause <= 5.0:
        raise ProfileError(f"sentence_pause {prof.sentence_pause:g}s is out of range 0-5s", path)
    return prof

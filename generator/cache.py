"""The cache folder, ``$XDG_CACHE_HOME/meditate`` (``~/.cache/meditate``): where speech clips
(speech.py) and ambience noise tiles (audio/ambience.py) are kept, what ``meditate cache`` shows,
and clearing it. Everything in it can be made again."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

PROFILE_SUFFIX = ".k64.npy"   # a clip's loudness profile (audio/energy.py), beside its ``<key>.npy``


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "meditate"


def profile_path(clip_path) -> Path:
    """Where the loudness profile of the clip at ``clip_path`` (``<key>.npy``) is kept: ``<key>.k64.npy``."""
    clip_path = Path(clip_path)
    return clip_path.with_name(clip_path.name[:-len(".npy")] + PROFILE_SUFFIX)


def speech_dir() -> Path:
    """Spoken clips (``<key>.npy``) and their loudness profiles (``<key>.k64.npy``)."""
    return cache_dir() / "speech"


def beds_dir() -> Path:
    """The ambience beds' noise tiles."""
    return cache_dir() / "beds"


def _clips(folder: Path) -> list[Path]:
    return [f for f in folder.rglob("*.npy") if not f.name.endswith(PROFILE_SUFFIX)] if folder.exists() else []


def clear_cache() -> int:
    """Remove the speech cache (clips and their loudness profiles) and the ambience beds' noise
    tiles; return how many clips were removed."""
    d = speech_dir()
    n = len(_clips(d))
    shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(beds_dir(), ignore_errors=True)
    return n


def cache_usage() -> dict[str, tuple[int, int]]:
    """``{"speech clips": (count, bytes), "ambience tiles": …, "total": …}`` of the cache folder."""
    def usage(files) -> tuple[int, int]:
        sizes = [f.stat().st_size for f in files if f.is_file()]
        return len(sizes), sum(sizes)

    speech, beds, root = speech_dir(), beds_dir(), cache_dir()
    out = {"speech clips": usage(_clips(speech)),
           "loudness profiles": usage(speech.rglob("*" + PROFILE_SUFFIX) if speech.exists() else []),
           "ambience tiles": usage(beds.rglob("*") if beds.exists() else [])}
    out["total"] = usage(root.rglob("*") if root.exists() else [])
    return out

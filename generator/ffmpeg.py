"""Finding ffmpeg without root.

The binary imageio-ffmpeg installs comes first, so the same practice gives the
same bytes on every machine with the same package versions (a distribution's
ffmpeg has another LAME build and threading, and its MP3s differ). Two ways
to choose otherwise: ``MEDITATE_FFMPEG=/path/to/ffmpeg`` names a binary, and
``MEDITATE_FFMPEG=system`` takes the ``ffmpeg`` on PATH. With no
imageio-ffmpeg installed at all, the one on PATH is the fallback.
"""
from __future__ import annotations

import functools
import os
import shutil

from .errors import AudioError


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    env = os.environ.get("MEDITATE_FFMPEG", "").strip()
    if env and env != "system":
        return env
    if env == "system":
        found = shutil.which("ffmpeg")
        if found:
            return found
        raise AudioError("MEDITATE_FFMPEG=system, but there is no 'ffmpeg' on PATH; "
                         "install one or unset MEDITATE_FFMPEG to use the bundled binary")
    try:
        import imageio_ffmpeg     # optional at run time: a system ffmpeg otherwise

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as e:  # pragma: no cover - depends on the machine
        found = shutil.which("ffmpeg")
        if found:
            return found
        raise AudioError(f"no ffmpeg found ({e}); install the 'imageio-ffmpeg' package or a system ffmpeg")


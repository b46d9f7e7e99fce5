"""Finding ffmpeg without root: the system one if present, else the binary imageio-ffmpeg ships."""
from __future__ import annotations

import functools
import os
import shutil

from .errors import AudioError


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    env = os.environ.get("MEDITATE_FFMPEG")
    if env:
        return env
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as e:  # pragma: no cover - depends on the machine
        raise AudioError(f"no ffmpeg found ({e}); install the 'imageio-ffmpeg' package or a system ffmpeg")


def configure_pydub() -> None:
    """Point pydub at our ffmpeg so it never warns or shells out to a missing binary."""
    from pydub import AudioSegment

    AudioSegment.converter = ffmpeg_exe()
    AudioSegment.ffmpeg = ffmpeg_exe()

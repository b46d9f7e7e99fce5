"""The small interface every speech engine implements: a new engine is one module."""
from __future__ import annotations

from typing import Protocol

from ..audio.samples import Audio
from ..script.profiles import VoiceProfile


class Engine(Protocol):
    name: str
    concurrency: int    # how many synthesize calls it takes at once, from as many threads (1: one at a time)

    def synthesize(self, text: str, profile: VoiceProfile) -> Audio:
        """Speak ``text`` with ``profile`` and return the complete clip (mono float32).

        Raises :class:`generator.errors.EngineError` on failure, hang or an
        incomplete clip. Leading/trailing silence may be present; the caller trims.
        """
        ...

    def voices(self) -> list[tuple[str, str]]:
        """(id, description) of the engine voices available offline."""
        ...

    def close(self) -> None:
        ...

"""A quiet progress bar: only on a terminal, only once a render takes more than a moment."""
from __future__ import annotations

import sys
import time


class Progress:
    DELAY = 0.8  # seconds before the bar appears

    def __init__(self, enabled: bool | None = None, stream=None, label: str = ""):
        self.stream = stream or sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.label = label
        self.total = 0
        self.done = 0
        self.t0 = time.monotonic()
        self.shown = False
        self._last = 0.0

    def start(self, total: int, label: str | None = None) -> None:
        self.total = max(1, total)
        self.done = 0
        if label is not None:
            self.label = label

    def advance(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.t0 < self.DELAY or (now - self._last < 0.1 and self.done < self.total):
            return
        self._last = now
        self.shown = True
        frac = min(1.0, self.done / self.total)
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        self.stream.write(f"\r{self.label:<12} [{bar}] {frac * 100:5.1f}%")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()

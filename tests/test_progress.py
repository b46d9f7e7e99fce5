"""The progress bar shows only on a terminal, only after a moment, and never with --quiet."""
from __future__ import annotations

import io

from generator.progress import Progress


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_bar_on_a_terminal_after_a_moment(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("generator.progress.time.monotonic", lambda: clock[0])
    out = Tty()
    p = Progress(stream=out)
    p.start(10, "mixing")
    p.advance()
    assert out.getvalue() == ""            # a quick render shows nothing
    clock[0] += 2.0
    p.advance(9)
    assert "mixing" in out.getvalue() and "100.0%" in out.getvalue()
    p.finish()
    assert out.getvalue().endswith("\r")   # the line is cleared at the end


def test_silent_when_not_a_terminal_or_quiet(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("generator.progress.time.monotonic", lambda: clock[0])
    for p, out in ((Progress(stream=io.StringIO()), None), (Progress(enabled=False, stream=Tty()), None)):
        p.start(5)
        clock[0] += 5
        p.advance(5)
        p.finish()
        assert p.stream.getvalue() == ""

"""generator.yielding: the mixing loop runs on a lower-priority thread, results and errors come back."""
from __future__ import annotations

import os
import sys
import threading

import pytest

from generator.errors import AudioError
from generator.yielding import run_yielding

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux")


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@linux
def test_runs_lower_on_another_thread_and_leaves_the_caller_alone():
    before = _nice()
    seen = run_yielding(lambda: (threading.get_ident(), _nice()), by=5)
    assert seen[0] != threading.get_ident()
    assert seen[1] == min(19, before + 5)
    assert _nice() == before                      # the caller (who starts ffmpeg) keeps its priority
    # the default is the lowest priority there is
    assert run_yielding(_nice) == 19


def test_elsewhere_it_runs_in_place(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert run_yielding(threading.get_ident) == threading.get_ident()


def test_result_and_errors_come_back_to_the_caller():
    assert run_yielding(lambda: 42) == 42
    assert run_yielding(lambda: 7, by=0) == 7       # by 0: in place
    with pytest.raises(AudioError, match="boom"):
        run_yielding(lambda: (_ for _ in ()).throw(AudioError("boom")))


def test_in_background_gives_the_result_later_and_raises_there():
    from generator.yielding import in_background

    ev = threading.Event()
    wait = in_background(lambda: (ev.wait(5), threading.get_ident())[1], "t")
    ev.set()
    assert wait() != threading.get_ident()
    assert wait() == wait()                            # asking again is fine
    bad = in_background(lambda: 1 / 0, "t")
    with pytest.raises(ZeroDivisionError):
        bad()

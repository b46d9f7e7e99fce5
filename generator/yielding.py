"""Run the mixer on a thread that gives way to the encoder.

While a render encodes, ffmpeg is the critical path and the mixer has slack
(it makes a chunk in ~4 ms that takes ffmpeg ~9 ms to encode). On two cores
ffmpeg's own threads (reader, filter, LAME) want both cores in bursts, and a
mixer competing at the same priority slowed the encode by up to 2 s in 8
(measured: bench/RESULTS.md). So the mixing loop runs on its own thread at a
lower priority (Linux: a per-thread nice value); ffmpeg, started by the calling
thread, keeps the caller's priority. Elsewhere the loop simply runs in place.
"""
from __future__ import annotations

import os
import sys
import threading
from typing import Callable, TypeVar

T = TypeVar("T")

MIX_NICE = 19       # the lowest: the mixer runs when the encoder leaves a core free (measured: 10 gave half the gain)


def _lower_this_thread(by: int) -> None:
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + by))
    except (AttributeError, OSError):
        pass        # not supported here: run at the same priority


def in_background(fn: Callable[[], T], name: str, lower_by: int = 0) -> Callable[[], T]:
    """Start ``fn()`` on a daemon thread (``lower_by`` nice steps lower, Linux); returns a
    function that waits for it and gives its result or re-raises its exception."""
    box: dict = {}

    def work():
        if lower_by > 0:
            _lower_this_thread(lower_by)
        try:
            box["result"] = fn()
        except BaseException as e:         # handed to the caller, re-raised there
            box["error"] = e

    t = threading.Thread(target=work, name=name, daemon=True)
    t.start()

    def result() -> T:
        while t.is_alive():
            t.join(0.25)        # (a bare join would hold off Ctrl-C until the thread ends)
        if "error" in box:
            raise box["error"]
        return box["result"]

    return result


def run_yielding(fn: Callable[[], T], by: int | None = None) -> T:
    """``fn()`` on a thread whose priority is ``by`` (default MIX_NICE) nice steps lower; its
    result or exception."""
    by = MIX_NICE if by is None else by
    # Linux only: there a thread id names that thread for setpriority; elsewhere it could name
    # some other process
    if by <= 0 or not sys.platform.startswith("linux") or not hasattr(threading, "get_native_id"):
        return fn()
    return in_background(fn, "meditate-mixer", lower_by=by)()

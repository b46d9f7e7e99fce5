"""SIGTERM and SIGHUP end a run the way Ctrl-C does.

Python turns SIGINT into :class:`KeyboardInterrupt`, and every clean-up path
(the encoder's temporary file and ffmpeg child, the speech engine's worker, a
batch's worker processes) already runs on it. SIGTERM (what systemd, Slurm and
Kubernetes send) and SIGHUP (a closed terminal) would otherwise kill the
process on the spot and leave ``.NAME.mp3.part-XXXX`` and the children behind;
:func:`install` makes them raise :class:`Interrupted`, a ``KeyboardInterrupt``,
once: a second one while cleaning up is ignored, so the clean-up finishes.

:func:`checkpoint` is a seam for the tests that send real signals at each
phase of a render: with ``MEDITATE_TEST_STALL=PHASE`` (or ``PHASE:N``, its Nth
time in this process) the run says ``stalled at PHASE`` on stderr and waits
there. It does nothing otherwise.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))
STALL_ENV = "MEDITATE_TEST_STALL"
_seen: dict = {}            # phase -> times reached in this process (the seam's count), under _SEEN_LOCK
_SEEN_LOCK = threading.Lock()


class Interrupted(KeyboardInterrupt):
    """A termination signal arrived; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signal(signum, frame) -> None:
    for s in SIGNALS:                     # only once: the clean-up must not be interrupted in turn
        signal.signal(s, signal.SIG_IGN)
    raise Interrupted(signum)


def install() -> None:
    """SIGTERM and SIGHUP raise :class:`Interrupted` in the main thread (call from it)."""
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            signal.signal(s, _on_signal)


def ignore_further() -> None:
    """The run was interrupted and is ending: later Ctrl-Cs and termination signals are ignored, so
    they cannot break off the last clean-up or print a traceback from Python's shut-down."""
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, *SIGNALS):
            signal.signal(s, signal.SIG_IGN)


@contextmanager
def noted():
    """Inside the block SIGINT, SIGTERM and SIGHUP only note that they came, in the list it
    yields; the caller decides where to act on them. Raised from a handler instead, a
    ``KeyboardInterrupt`` can land where nothing can clean up after it: inside the bookkeeping
    of a lock that ``concurrent.futures`` waits on, or between ``subprocess.Popen`` starting a
    child and returning it. Only the main thread can set handlers: elsewhere nothing changes
    (and no handler raises there either)."""
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    old = {}
    for s in (signal.SIGINT, *SIGNALS):
        if signal.getsignal(s) is not None:         # (None: set outside Python, could not be put back)
            old[s] = signal.signal(s, lambda signum, frame: seen.append(signum))
    try:
        yield seen
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@contextmanager
def held():
    """A signal that arrives inside the block is delivered when it ends, to the handler that was
    in place: for a few lines that must not be split, such as starting a child process that
    writes a file and keeping its handle (interrupted in between, ffmpeg ran on unseen and made
    its output file again after the clean-up had removed it: 38 times in 300). It yields the
    list of the signals seen so far, for a block that waits to stop waiting (see result_of)."""
    with noted() as seen:
        yield seen
    if seen:
        signal.raise_signal(seen[0])      # the first only: it is the one that ends the run


def result_of(future):
    """``future.result()`` (``concurrent.futures``), waited for in bounded waits: a signal cuts the
    wait short and is delivered between two of them, never inside the future's locks (see
    noted), where a ``KeyboardInterrupt`` could leave a lock held that a pool thread then waits
    on for ever."""
    from concurrent.futures import wait      # here: it loads logging, which the CLI's start-up spares

    while not future.done():
        with held() as seen:
            while not (seen or future.done()):
                wait([future], timeout=0.5)
    return future.result()


def exit_status(e: KeyboardInterrupt) -> int:
    """128 + the signal's number, as a shell reports a process the signal ended: 130 for Ctrl-C,
    143 for SIGTERM, 129 for SIGHUP."""
    return 128 + getattr(e, "signum", signal.SIGINT)


def describe(e: KeyboardInterrupt) -> str:
    return signal.Signals(getattr(e, "signum", signal.SIGINT)).name


def checkpoint(phase: str) -> None:
    """Wait here when the tests ask to (see the module docstring)."""
    want = os.environ.get(STALL_ENV)
    if not want:
        return
    name, _, nth = want.partition(":")
    if name != phase:
        return
    with _SEEN_LOCK:
        _seen[phase] = times = _seen.get(phase, 0) + 1
    if times != int(nth or 1):
        return
    sys.stderr.write(f"stalled at {phase} (pid {os.getpid()})\n")
    sys.stderr.flush()
    time.sleep(120)

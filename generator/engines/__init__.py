"""Engine registry: a profile's ``engine:`` names one of these; each is one module."""
from __future__ import annotations

import logging
import sys
import threading

from ..errors import EngineError

log = logging.getLogger(__name__)
NEURAL_INSTALL = "pip install '.[neural]' in the meditate folder (make demo does it)"


class Registry:
    """The engines of a process, one shared instance per name (engines are costly to start), and the
    notices already said. Safe from several threads. ``engines`` puts given instances in place of
    the ones a name would make (e.g. an :class:`EspeakEngine` with another worker)."""

    def __init__(self, engines: dict | None = None):
        self._instances: dict = dict(engines or {})
        self._noticed: set = set()
        self._lock = threading.RLock()

    def get(self, name: str):
        with self._lock:
            if name not in self._instances:
                self._instances[name] = _make(name)
            return self._instances[name]

    def notice_once(self, topic: str, message: str) -> None:
        with self._lock:
            if topic in self._noticed:
                return
            self._noticed.add(topic)
        print(f"meditate: {message}", file=sys.stderr, flush=True)

    def close_all(self) -> None:
        with self._lock:
            engines, self._instances = list(self._instances.values()), {}
        for eng in engines:
            try:
                eng.close()
            except Exception as e:
                log.info("closing %s failed: %s", type(eng).__name__, e)


REGISTRY = Registry()     # the process's; a test or an embedding application may put another in its place


def _make(name: str):
    if name == "espeak":
        from .espeak import EspeakEngine

        return EspeakEngine()
    if name == "piper":
        try:
            from .piper import PiperEngine
        except ImportError as e:
            raise EngineError(f"the piper engine is not installed ({e}); run: {NEURAL_INSTALL}")
        return PiperEngine()
    if name == "fake":
        from .fake import FakeEngine

        return FakeEngine()
    raise EngineError(f"unknown engine {name!r}; use espeak, piper or fake")


def get_engine(name: str):
    """The shared instance of engine ``name`` (espeak, piper or fake) in :data:`REGISTRY`."""
    return REGISTRY.get(name)


def unavailable(profile) -> str | None:
    """Why ``profile`` cannot be spoken on this machine, or None when it can.

    Only Piper is optional (the ``[neural]`` extra and a voice model); espeak ships with the product.
    """
    if profile.engine != "piper":
        return None
    try:
        get_engine("piper").resolve(profile.voice)
    except EngineError as e:
        return e.message
    return None


def notice_once(topic: str, message: str) -> None:
    """Tell the user something on stderr, once per process and topic (e.g. a voice fallback)."""
    REGISTRY.notice_once(topic, message)


def close_all() -> None:
    REGISTRY.close_all()

"""Engine registry: a profile's ``engine:`` names one of these; each is one module, imported when
first asked for (Piper is an optional extra; the others need not load for a render that does not speak)."""
from __future__ import annotations

import sys

from ..errors import EngineError

_instances: dict = {}
_noticed: set = set()
NEURAL_INSTALL = "pip install '.[neural]' in the meditate folder (make demo does it)"


def get_engine(name: str):
    """One shared instance per engine and process (engines are costly to start)."""
    if name not in _instances:
        if name == "espeak":
            from .espeak import EspeakEngine

            _instances[name] = EspeakEngine()
        elif name == "piper":
            try:
                from .piper import PiperEngine
            except ImportError as e:
                raise EngineError(f"the piper engine is not installed ({e}); run: {NEURAL_INSTALL}")
            _instances[name] = PiperEngine()
        elif name == "fake":
            from .fake import FakeEngine

            _instances[name] = FakeEngine()
        else:
            raise EngineError(f"unknown engine {name!r}; use espeak, piper or fake")
    return _instances[name]


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
    if topic not in _noticed:
        _noticed.add(topic)
        print(f"meditate: {message}", file=sys.stderr, flush=True)


def close_all() -> None:
    for eng in list(_instances.values()):
        try:
            eng.close()
        except Exception:
            pass
    _instances.clear()

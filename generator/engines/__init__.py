"""Engine registry: a profile's ``engine:`` names one of these; each is one module."""
from __future__ import annotations

from ..errors import EngineError

_instances: dict = {}


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
                raise EngineError(f"the piper engine is not installed ({e}); run: pip install '.[neural]'")
            _instances[name] = PiperEngine()
        elif name == "fake":
            from .fake import FakeEngine

            _instances[name] = FakeEngine()
        else:
            raise EngineError(f"unknown engine {name!r}; use espeak, piper or fake")
    return _instances[name]


def close_all() -> None:
    for eng in list(_instances.values()):
        try:
            eng.close()
        except Exception:
            pass
    _instances.clear()

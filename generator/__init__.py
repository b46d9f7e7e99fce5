"""Offline guided-meditation audio generator.

The library's public names (the command line is a thin edge over them)::

    from generator import render, check, plan, RenderOptions

    check("scripts/body-scan.md")                       # the script's warnings; a wrong one raises MeditateError
    p = plan("scripts/body-scan.md", RenderOptions(length=600))
    print(p.duration, [e.kind.name for e in p.timeline.entries])
    res = render("scripts/body-scan.md", "out/body-scan.mp3", RenderOptions(length=600))
    print(res.out, res.duration, res.loudness)

Importing the package is cheap: the names load the pipeline on first use. The pipeline's own
steps live in ``generator.pipeline`` (``from generator.pipeline import prepare``). Log records go
through ``logging`` under the ``generator`` logger at INFO level (fallbacks, mixing passes,
timings per stage): unseen unless the application configures logging (``meditate -v`` does).
"""
import importlib

__version__ = "0.1.0"
__all__ = ["render", "check", "plan", "RenderOptions", "RenderResult", "Plan", "MeditateError", "ScriptError",
           "__version__"]

_API = {"render": "api", "check": "api", "plan": "api", "Plan": "api", "RenderOptions": "pipeline",
        "RenderResult": "pipeline", "MeditateError": "errors", "ScriptError": "errors"}


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


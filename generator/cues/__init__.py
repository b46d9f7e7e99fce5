"""The kinds of timeline entry: one module each, found here and registered (see base.py).

Adding a cue kind is adding a module to this folder (and its test): the parser, the timeline,
the mixer, ``meditate plan``, the transcript and the SVG picture find it in :data:`KINDS`.
"""
from __future__ import annotations

import importlib
import pkgutil

from .base import (KINDS, Entry, Event, EventKind, GlideWindow, Item, Kind, Sizing, Slot, Sounding, Spoken, Tone,
                   by_word, cue_words, listing, of, register)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["KINDS", "Entry", "Event", "EventKind", "GlideWindow", "Item", "Kind", "Sizing", "Slot", "Sounding",
           "Spoken", "Tone", "by_word", "cue_words", "listing", "of", "register"]

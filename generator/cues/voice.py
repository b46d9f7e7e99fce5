"""``[voice NAME]``: the voice profile from here on (takes no time)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .base import Item, Kind, register


@dataclass(frozen=True)
class VoiceChange(Item):
    name: str
    line: int


@register
class VoiceKind(Kind):
    name = "voice"
    word = "voice"
    usage = "[voice …]"
    item = VoiceChange
    timed = False

    def parse(self, args: list[str], line: int) -> VoiceChange:
        if len(args) != 1 or not re.fullmatch(r"[A-Za-z0-9_.-]+", args[0]):
            raise ValueError("[voice NAME] takes one profile name from voices/, e.g. [voice slow]")
        return VoiceChange(args[0], line)

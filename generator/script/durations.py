"""Durations as the format writes them: 500ms, 4s, 4, 1.5s, 2m, 1m30s, 1h."""
from __future__ import annotations

import re

MAX_SECONDS = 6 * 3600  # no single cue or practice longer than six hours

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(text: str) -> float:
    """Seconds as float; ``ValueError`` with a message a user can act on."""
    s = str(text).strip().lower()
    if not s:
        raise ValueError("empty duration")
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        value = float(s)
    else:
        pos, value, units = 0, 0.0, []
        for m in _PART.finditer(s):
            if m.start() != pos:
                break
            units.append(m.group(2))
            n = float(m.group(1))
            value += n * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2)]
            pos = m.end()
        order = ["h", "m", "s", "ms"]
        if pos != len(s) or not units or len(set(units)) != len(units) or units != sorted(units, key=order.index):
            raise ValueError(f"malformed duration {text!r} (use e.g. 500ms, 4s, 1.5s, 2m, 1m30s, 1h)")
    if value > MAX_SECONDS:
        raise ValueError(f"duration {text!r} is longer than the 6 h limit")
    return value


def format_duration(seconds: float) -> str:
    """Compact human form: 42s, 6m10s, 1h02m, 2.5s."""
    if seconds < 60:
        return f"{seconds:.3g}s" if seconds != int(seconds) else f"{int(seconds)}s"
    total = int(round(seconds))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s" if s else f"{h}h{m:02d}m"
    return f"{m}m{s:02d}s" if s else f"{m}m"


def format_clock(seconds: float) -> str:
    """WebVTT timestamp HH:MM:SS.mmm."""
    ms = int(round(seconds * 1000))
    h, rem = divmod(ms, 3600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"

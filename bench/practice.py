"""Realistic benchmark practices, generated deterministically.

A practice is a list of items; :func:`to_markdown` turns it into a meditate
script and :func:`to_plan` into the plain list the naive baseline consumes.

Prose is invitational and varied: every sentence is a combination of an
opener, a body and a close, drawn without repetition, so a 20-minute practice
has ~80 distinct sentences. Paragraph ``i`` depends only on ``(seed, i mod
period)``, so practices of 10, 30 and 60 minutes built with the same seed and
period reuse the 20-minute practice's speech (its cache warms them all).

Timing (about a third speech): each paragraph is ~17 s of speech; ~70 % of
paragraphs are followed by ``[pause 10s-30s]``; every fifth paragraph by
``[breathe soothing x4-8]`` (40-80 s). The number of paragraphs is chosen so
the middle of the flexible ranges lands on the target; the reachable range is
about +-25 %, so ``length:`` is always met exactly.
"""
from __future__ import annotations

import itertools
import random

OPENERS = [
    "You might", "Perhaps you could", "If it feels right, you can", "When you're ready, you might",
    "Gently, you could", "For a few moments, you might", "In your own time, you can",
    "Without any hurry, you might", "If you like, you could", "Now, perhaps", "Softly, you can",
    "As best you can, you might", "Just for now, you could", "Whenever it suits you, you might",
]
BODIES = [
    "notice the breath moving in the chest", "feel the weight of the body resting on the chair",
    "let the shoulders soften a little", "rest your attention on the soles of the feet",
    "sense the air touching the skin of your hands", "allow the jaw to loosen",
    "notice the rise and fall of the belly", "feel the cool air at the nostrils",
    "let the face become soft and easy", "listen to the sounds around you",
    "bring a kind attention to whatever is here", "feel the warmth of your hands",
    "notice where the body meets the ground", "let the out-breath be a little longer",
    "imagine a warm light resting in the chest", "offer yourself a few words of kindness",
    "notice any thoughts that come and go", "let each breath arrive by itself",
    "sense the space around the body", "rest in the simple feeling of being here",
    "feel the gentle pulse of the heart", "let the belly be soft",
    "notice the pause at the end of the out-breath", "feel the support beneath you",
    "let the eyes rest behind closed lids", "allow the breath to find its own rhythm",
    "turn toward any tension with curiosity", "let the hands rest open",
]
CLOSES = [
    "without needing to change anything.", "just as it is.", "with a kind and patient attention.",
    "as if for the very first time.", "and let that be enough.", "with nothing to fix or improve.",
    "for as long as feels comfortable.", "and notice what happens.", "with warmth and ease.",
    "in your own way.", "letting everything else be in the background.", "and simply rest there.",
]
HEADINGS = ["Arriving", "Settling", "The breath", "The body", "Softening", "Kindness", "Listening",
            "Resting", "Warmth", "Open awareness", "Returning", "Closing", "Grounding", "Ease"]
EXTRAS = [
    "There is nothing you need to do right now.", "Whatever you notice is welcome.",
    "If the mind wanders, that's completely natural.", "Each moment is a fresh start.",
    "You can always come back to the breath.", "Thoughts may come and go, like clouds.",
    "Let this time be a small gift to yourself.", "There's no right way for this to feel.",
]

SPEECH_PER_PARA = 17.0       # rough seconds of speech per paragraph (3 sentences at 132 wpm)
PARA_BREAK = 1.8


def _sentences(seed: int):
    rng = random.Random(seed)
    combos = list(itertools.product(range(len(OPENERS)), range(len(BODIES)), range(len(CLOSES))))
    rng.shuffle(combos)
    for k, (o, b, c) in enumerate(combos):
        s = f"{OPENERS[o]} {BODIES[b]}, {CLOSES[c]}"
        yield s[0].upper() + s[1:]
        if k % 4 == 3:
            yield EXTRAS[(k // 4 + seed) % len(EXTRAS)]


def paragraphs(seed: int, n: int) -> list[list]:
    """n paragraphs; each is a list of parts: str (spoken) or ('pause', seconds) inline."""
    rng = random.Random(seed * 7919 + 1)
    gen = _sentences(seed)
    out = []
    for i in range(n):
        k = rng.choice((2, 3, 3, 4))
        sents = [next(gen) for _ in range(k)]
        if i == 0:
            sents[0] = "Hello {{ name }}. " + sents[0]
        parts: list = []
        if k >= 3 and rng.random() < 0.3:       # an inline pause in the middle of the paragraph
            parts = [" ".join(sents[:2]), ("pause", 2), " ".join(sents[2:])]
        else:
            parts = [" ".join(sents)]
        out.append(parts)
    return out


def paragraphs_for(minutes: float) -> int:
    # per 5 paragraphs (middle of the ranges): 5 x speech, 3.5 x 27.5 s pauses, ~1.5 x break, one 70 s breathe
    per5 = 5 * SPEECH_PER_PARA + 3.5 * 27.5 + 1.5 * PARA_BREAK + 70
    return max(3, round((minutes * 60 - 21.0) / per5 * 5))   # 21 s: two bells and the opening pause


def build(minutes: float, seed: int = 1, period: int | None = None, ambience: str = "ocean",
          title: str | None = None, voice: str = "gentle") -> list:
    """The items of a practice of ``minutes`` (paragraph text cycles with ``period`` paragraphs)."""
    n = paragraphs_for(minutes)
    period = period or n
    base = paragraphs(seed, period)
    rng = random.Random(seed * 31 + 7)
    items: list = [("front", {"title": title or f"Benchmark practice {minutes:g}m (seed {seed})",
                              "length": minutes, "ambience": ambience, "voice": voice})]
    items.append(("heading", HEADINGS[0]))
    items.append(("bell",))
    items.append(("pause", 3, 3))
    for i in range(n):
        if i and i % 4 == 0:
            items.append(("heading", f"{HEADINGS[(i // 4) % len(HEADINGS)]} {i // 4 + 1}"))
        items.append(("para", base[i % period]))
        if i % 5 == 4:
            items.append(("breathe", 5, 9))
        elif rng.random() < 0.7:
            items.append(("pause", 15, 40))
    items.append(("pause", 5, 90))           # slack so short practices always reach their length
    items.append(("heading", "Closing"))
    items.append(("bell",))
    return items


def to_markdown(items: list) -> str:
    lines = []
    for it in items:
        kind = it[0]
        if kind == "front":
            f = it[1]
            lines += ["---", f"title: {f['title']}", "author: bench", f"length: {f['length']:g}m",
                      f"voice: {f.get('voice', 'gentle')}", f"ambience: {f['ambience']}", "ambience_level: -34",
                      "breath_cues: glide", "bell: bowl", "variables:", "  name: friend", "---", ""]
        elif kind == "heading":
            lines += [f"# {it[1]}", ""]
        elif kind == "bell":
            lines += ["[bell]", ""]
        elif kind == "pause":
            lines += [f"[pause {it[1]}s]" if it[1] == it[2] else f"[pause {it[1]}s-{it[2]}s]", ""]
        elif kind == "breathe":
            lines += [f"[breathe soothing x{it[1]}-{it[2]}]", ""]
        elif kind == "para":
            text = " ".join(p if isinstance(p, str) else f"[pause {p[1]}s]" for p in it[1])
            lines += [text, ""]
    return "\n".join(lines)


def to_plan(items: list, name: str = "friend") -> dict:
    """A plain plan for the naive baseline: say / pause (lo, hi) / breathe seconds (lo, hi) / bell."""
    out, target = [], None
    prev_para = False
    for it in items:
        kind = it[0]
        if kind == "front":
            target = it[1]["length"] * 60
        elif kind == "para":
            if prev_para:
                out.append({"pause": [PARA_BREAK, PARA_BREAK]})
            for p in it[1]:
                if isinstance(p, str):
                    out.append({"say": p.replace("{{ name }}", name)})
                else:
                    out.append({"pause": [p[1], p[1]]})
        elif kind == "pause":
            out.append({"pause": [it[1], it[2]]})
        elif kind == "breathe":
            out.append({"breathe": [it[1] * 10, it[2] * 10]})    # soothing = 4-0-6: 10 s a cycle
        elif kind == "bell":
            out.append({"bell": 9.0})
        prev_para = kind == "para"
    return {"target": target, "items": out}


def with_edit(items: list, variant: int) -> list:
    """The same practice with one line edited (a word added to one paragraph)."""
    out = list(items)
    idx = [i for i, it in enumerate(out) if it[0] == "para"]
    j = idx[len(idx) // 2]
    parts = list(out[j][1])
    words = ["really", "quietly", "simply", "kindly", "slowly", "softly", "calmly", "warmly"]
    parts[0] = parts[0].rstrip(".") + f", {words[variant % len(words)]} {variant}."
    out[j] = ("para", parts)
    return out

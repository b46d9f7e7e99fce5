"""Shared fixtures and hooks only: every test runs with the deterministic fake engine and a private
cache, except tests marked ``espeak`` which exercise the real engine. Shared helpers are in
tests/helpers.py, signal measures in tests/signals.py and tests/master_signals.py."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.helpers import TINY_VOICE, tiny_script, write


@pytest.fixture(autouse=True)
def _isolated(request, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))
    if request.node.get_closest_marker("espeak") is None:
        monkeypatch.setenv("MEDITATE_ENGINE", "fake")
    else:
        monkeypatch.delenv("MEDITATE_ENGINE", raising=False)


@pytest.fixture
def write_script(tmp_path):
    """write_script(body, **front) -> Path of a script with that front matter and body."""

    def write(body: str, name: str = "practice.md", front: str | None = None, **meta) -> Path:
        if front is None:
            meta.setdefault("title", "Test practice")
            front = "\n".join(f"{k}: {v}" for k, v in meta.items())
        p = tmp_path / name
        p.write_text(f"---\n{front}\n---\n{textwrap.dedent(body).lstrip()}", encoding="utf-8")
        return p

    return write


PRACTICE = """\
---
title: A practice to disturb
ambience: pink
---
Breathe in, and let the shoulders soften.

[breathe 4-4 x6]

Rest here, and let the breath be easy.
"""


@pytest.fixture
def practice(tmp_path):
    """tmp_path/p.md: a short practice with speech, a breathing cue and a pink bed."""
    p = tmp_path / "p.md"
    p.write_text(PRACTICE, encoding="utf-8")
    return p


@pytest.fixture
def lib(tmp_path):
    """tmp/scripts/p1..p3.md, tmp/voices/tiny.yaml, tmp/scripts/series/tiny.yaml (6 s, 8 s, 10 s)."""
    write(tmp_path / "voices" / "tiny.yaml", TINY_VOICE)
    for i in (1, 2, 3):
        write(tmp_path / "scripts" / f"p{i}.md", tiny_script(f"Practice {i}"))
    series = write(tmp_path / "scripts" / "series" / "tiny.yaml", """\
        title: Tiny Series
        variables: {name: pal}
        practices:
          - script: p1
            length: 6s
          - script: p2
            length: 8s
          - script: ../p3.md
            length: 10s
        """)
    return tmp_path, series

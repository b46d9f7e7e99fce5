"""Shared fixtures: every test runs with the deterministic fake engine and a private cache,
except tests marked ``espeak`` which exercise the real engine."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


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


REPO = Path(__file__).resolve().parent.parent


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

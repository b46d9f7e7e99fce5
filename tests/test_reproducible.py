"""Which ffmpeg is used, and the same practice giving the same bytes in separate processes."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator import ffmpeg as ffmpeg_mod
from generator.errors import AudioError

from tests.helpers import REPO

MEDITATE = Path(sys.executable).with_name("meditate")


@pytest.fixture
def pick(monkeypatch):
    """pick(env value or None, PATH) -> the ffmpeg that generator.ffmpeg chooses then."""

    def choose(value, path=None):
        if value is None:
            monkeypatch.delenv("MEDITATE_FFMPEG", raising=False)
        else:
            monkeypatch.setenv("MEDITATE_FFMPEG", value)
        if path is not None:
            monkeypatch.setenv("PATH", str(path))
        ffmpeg_mod.ffmpeg_exe.cache_clear()
        return ffmpeg_mod.ffmpeg_exe()

    yield choose
    ffmpeg_mod.ffmpeg_exe.cache_clear()


@pytest.fixture
def path_with_ffmpeg(tmp_path):
    """A PATH folder holding an executable named ffmpeg."""
    folder = tmp_path / "bin"
    folder.mkdir()
    exe = folder / "ffmpeg"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    return folder


def test_bundled_ffmpeg_comes_before_the_one_on_path(pick, path_with_ffmpeg):
    import imageio_ffmpeg

    assert pick(None, path_with_ffmpeg) == imageio_ffmpeg.get_ffmpeg_exe()
    assert pick("", path_with_ffmpeg) == imageio_ffmpeg.get_ffmpeg_exe()


def test_system_takes_the_ffmpeg_on_path(pick, path_with_ffmpeg, tmp_path):
    assert pick("system", path_with_ffmpeg) == str(path_with_ffmpeg / "ffmpeg")
    with pytest.raises(AudioError, match="MEDITATE_FFMPEG=system, but there is no 'ffmpeg' on PATH"):
        pick("system", tmp_path / "empty")


def test_a_path_names_any_binary(pick, path_with_ffmpeg):
    assert pick("/opt/somewhere/ffmpeg-6", path_with_ffmpeg) == "/opt/somewhere/ffmpeg-6"


def test_without_imageio_ffmpeg_the_one_on_path_is_the_fallback(pick, path_with_ffmpeg, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)       # import fails
    assert pick(None, path_with_ffmpeg) == str(path_with_ffmpeg / "ffmpeg")
    with pytest.raises(AudioError, match="no ffmpeg found"):
        pick(None, tmp_path / "empty")


# -- byte-identical renders ---------------------------------------------------------------------

def render_fresh(script, out: Path, cache: Path, engine: str | None = "fake") -> bytes:
    """Render in its own process with an empty cache; the bytes of the output."""
    env = {k: v for k, v in os.environ.items() if k not in ("MEDITATE_ENGINE", "MEDITATE_FFMPEG")}
    env["XDG_CACHE_HOME"] = str(cache)
    if engine:
        env["MEDITATE_ENGINE"] = engine
    r = subprocess.run([str(MEDITATE), "render", str(script), "-o", str(out), "-q"],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


@pytest.mark.parametrize("ext", ["mp3", "wav"])
def test_same_practice_same_bytes_in_fresh_caches_and_processes(ext, tmp_path):
    """A shipped practice with a pink bed, chime cues and bells: nothing in the bytes depends
    on the process, the clock, the cache being cold, or which thread finished first."""
    script = REPO / "scripts" / "reset-for-a-hard-moment.md"
    a = render_fresh(script, tmp_path / f"a.{ext}", tmp_path / "cache-a")
    b = render_fresh(script, tmp_path / f"b.{ext}", tmp_path / "cache-b")
    assert len(a) > 100_000 and a == b
    assert (tmp_path / "a.vtt").read_bytes() == (tmp_path / "b.vtt").read_bytes()
    if ext == "mp3":
        # a warm cache (speech clips and noise tiles read back from disk) gives the same bytes again
        assert render_fresh(script, tmp_path / "c.mp3", tmp_path / "cache-a") == a


@pytest.mark.espeak
def test_same_bytes_with_real_espeak(write_script, tmp_path):
    script = write_script("Hello, and welcome.\n[pause 2s]\nBreathe in slowly, and let the breath go.\n",
                          ambience="pink", voice="gentle")     # the espeak profile
    a = render_fresh(script, tmp_path / "a.mp3", tmp_path / "cache-a", None)
    b = render_fresh(script, tmp_path / "b.mp3", tmp_path / "cache-b", None)
    assert a == b


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="no system ffmpeg to compare with")
def test_system_ffmpeg_renders_too(write_script, tmp_path):
    """MEDITATE_FFMPEG=system works end to end (its bytes may differ: another LAME build)."""
    script = write_script("Hello, and welcome.\n[pause 1s]\n")
    env = dict(os.environ, MEDITATE_FFMPEG="system", XDG_CACHE_HOME=str(tmp_path / "cache"))
    r = subprocess.run([str(MEDITATE), "render", str(script), "-o", str(tmp_path / "s.mp3"), "-q"],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    from mutagen.mp3 import MP3

    assert MP3(str(tmp_path / "s.mp3")).info.length == pytest.approx(3.0, abs=1.5)

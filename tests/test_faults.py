"""Failing systems: each fault gives one clear Error: line (or a correct result), leaves nothing
partial and no process behind. Most run `meditate` as a real subprocess (tests/procs.py)."""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import FAKE_WORKER
from tests.procs import Run, error_lines, leftovers, mount_tmpfs

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

def finish(run: Run) -> tuple[int, str, list]:
    try:
        rc, _, err = run.finish()
        return rc, err, run.survivors()
    finally:
        run.kill_all()


def assert_one_error(rc, err, alive, *fragments):
    assert rc == 1, err
    assert "Traceback" not in err, err
    lines = error_lines(err)
    assert len(lines) == 1 and err.strip() == lines[0], err
    for f in fragments:
        assert f in lines[0], lines[0]
    assert alive == [], alive


@pytest.fixture
def small_disk(tmp_path):
    """A 96 KB tmpfs (root only)."""
    with mount_tmpfs(tmp_path / "small", "size=96k") as mnt:
        yield mnt


@pytest.mark.parametrize("where", ["output", "cache"])
def test_full_disk(tmp_path, practice, small_disk, where):
    out = (small_disk if where == "output" else tmp_path) / "p.mp3"
    env = {"XDG_CACHE_HOME": str(small_disk / "cache")} if where == "cache" else {}
    rc, err, alive = finish(Run(["render", practice, "-o", out, "-q"], cwd=tmp_path, env=env))
    assert_one_error(rc, err, alive, "No space left on device")
    assert not out.exists() and leftovers(small_disk) == [] and leftovers(tmp_path) == []


def test_file_size_limit(tmp_path, practice):
    """RLIMIT_FSIZE: writes past it fail with EFBIG (Python ignores SIGXFSZ; ffmpeg gets it)."""
    out = tmp_path / "out" / "p.mp3"

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    rc, err, alive = finish(Run(["render", practice, "-o", out, "-q"], cwd=tmp_path, preexec_fn=limit))
    assert_one_error(rc, err, alive)
    assert "file size limit" in err, err
    assert not out.exists() and leftovers(tmp_path) == []


def _as_nobody() -> list | None:
    """A command prefix that runs as an unprivileged user, or None if this interpreter can't run so."""
    if not IS_ROOT:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        return None
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    ok = subprocess.run(prefix + [sys.executable, "-c", "import generator.cli"], capture_output=True,
                        cwd="/", env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent)))
    return prefix if ok.returncode == 0 else None


def test_unwritable_folder_as_a_normal_user(tmp_path, practice):
    prefix = _as_nobody()
    if prefix is None:
        pytest.skip("this Python cannot run as an unprivileged user here (e.g. it lives under /root)")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o777)
    tmp_path.chmod(0o755)
    practice.chmod(0o644)
    run = Run(["render", practice, "-o", folder / "p.mp3", "-q"], cwd=tmp_path, prefix=prefix,
              env={"XDG_CACHE_HOME": str(cache)})
    rc, err, alive = finish(run)
    assert_one_error(rc, err, alive, "Permission denied")
    assert list(folder.iterdir()) == []


@pytest.fixture
def read_only_folder(tmp_path):
    with mount_tmpfs(tmp_path / "ro", "ro,size=64k") as mnt:
        yield mnt


def test_read_only_folder_even_for_root(tmp_path, practice, read_only_folder):
    rc, err, alive = finish(Run(["render", practice, "-o", read_only_folder / "p.mp3", "-q"], cwd=tmp_path))
    assert_one_error(rc, err, alive, "Read-only file system")


# ---------------------------------------------------------------- the speech engine and ffmpeg
@pytest.mark.parametrize("mode", ["hang", "die"])
def test_speech_engine_hanging_or_crashing_mid_clip(tmp_path, monkeypatch, mode):
    """A real render through the CLI whose espeak worker hangs (or dies) on the first clip: after
    one restart, one Error: line naming the script and line; no output; the worker is gone.
    (One worker, so the restarts can be counted; several: tests/test_speech.py.)"""
    from click.testing import CliRunner

    from generator import engines
    from generator.cli import cli
    from generator.engines.espeak import EspeakEngine

    worker = tmp_path / "worker.py"
    worker.write_text(f"MODE = {mode!r}\n" + FAKE_WORKER)
    eng = EspeakEngine(timeout=1.0, worker_command=[sys.executable, str(worker)], workers=1)
    monkeypatch.setattr(engines, "REGISTRY", engines.Registry({"espeak": eng}))
    monkeypatch.delenv("MEDITATE_ENGINE")
    script = tmp_path / "p.md"
    script.write_text("---\ntitle: T\nvoice: slow\n---\nFirst line.\n\nSecond line.\n", encoding="utf-8")
    out = tmp_path / "p.mp3"
    r = CliRunner().invoke(cli, ["render", str(script), "-o", str(out), "-q"])
    assert r.exit_code == 1, r.output
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"Error: {script}:5: espeak failed on \"First line.\""), r.stderr
    assert ("within 1 s" in r.stderr) if mode == "hang" else ("died" in r.stderr)
    assert eng.starts == 2 and eng.worker is None      # closed with the command: no worker left
    assert not out.exists() and leftovers(tmp_path) == []


def test_ffmpeg_dying_mid_encode(tmp_path, practice):
    """ffmpeg is SIGKILLed half a second into the encode (a wrapper around the real one)."""
    from generator.ffmpeg import ffmpeg_exe

    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        case "$*" in *.excerpt.mp3.part-*) exec "{ffmpeg_exe()}" "$@";; esac   # the loudness probe's encode runs
        "{ffmpeg_exe()}" "$@" 0<&0 &
        pid=$!
        sleep 0.5
        kill -KILL $pid
        wait $pid
        """))
    wrapper.chmod(0o755)
    long = tmp_path / "long.md"
    long.write_text(practice.read_text().replace("x6", "x40"), encoding="utf-8")
    out = tmp_path / "out" / "long.mp3"
    rc, err, alive = finish(Run(["render", long, "-o", out, "-q"], cwd=tmp_path,
                                env={"MEDITATE_FFMPEG": str(wrapper)}))
    assert_one_error(rc, err, alive, "ffmpeg failed while encoding")
    assert not out.exists() and leftovers(tmp_path) == []


# ---------------------------------------------------------------- races
def test_two_renders_writing_the_same_output_at_once(tmp_path, practice):
    """Each writes its own temporary file and renames it into place: both succeed and the file is
    one whole render (the same bytes either way)."""
    out = tmp_path / "out" / "p.mp3"
    runs = [Run(["render", practice, "-o", out, "-q"], cwd=tmp_path) for _ in range(2)]
    results = [finish(r) for r in runs]
    assert [rc for rc, _, _ in results] == [0, 0], results
    assert all(alive == [] for _, _, alive in results)
    alone = tmp_path / "alone.mp3"
    assert finish(Run(["render", practice, "-o", alone, "-q"], cwd=tmp_path))[0] == 0
    assert out.read_bytes() == alone.read_bytes()
    assert sorted(p.name for p in out.parent.iterdir()) == ["p.mp3", "p.vtt"]


def _series(tmp_path, n=4):
    (tmp_path / "voices").mkdir(exist_ok=True)
    (tmp_path / "voices" / "tiny.yaml").write_text("engine: fake\nvoice: fake\nrate: 180\n", encoding="utf-8")
    (tmp_path / "scripts" / "series").mkdir(parents=True, exist_ok=True)
    entries = []
    for i in range(1, n + 1):
        lines = "\n\n".join(f"Line {k} of practice {i}, breathe and rest here a while." for k in range(12))
        (tmp_path / "scripts" / f"p{i}.md").write_text(
            f"---\ntitle: Practice {i}\nvoice: tiny\nbell: none\nambience: pink\n---\n{lines}\n[pause 1s-60s]\n",
            encoding="utf-8")
        entries.append(f"  - {{script: p{i}, length: 90s}}")
    series = tmp_path / "scripts" / "series" / "s.yaml"
    series.write_text("title: Fault Series\npractices:\n" + "\n".join(entries) + "\n", encoding="utf-8")
    return series


def test_cache_clear_during_a_batch(tmp_path):
    series, cache = _series(tmp_path), tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache)}
    run = Run(["batch", series, "-o", tmp_path / "out", "-q"], cwd=tmp_path, env=env)
    clears = 0
    while run.proc.poll() is None:
        rc, err, _ = finish(Run(["cache", "clear"], cwd=tmp_path, env=env))
        assert rc == 0 and err == "", err
        clears += 1
    rc, err, alive = finish(run)
    assert rc == 0 and err == "" and alive == [], err
    assert clears >= 2
    assert sorted(p.name for p in (tmp_path / "out").glob("*.mp3")) == [f"0{i}-p{i}.mp3" for i in range(1, 5)]
    assert leftovers(tmp_path) == []


def test_two_batches_sharing_one_cache(tmp_path):
    series, cache = _series(tmp_path), tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache)}
    runs = [Run(["batch", series, "-o", tmp_path / f"out{k}", "-q", "-j", "2"], cwd=tmp_path, env=env)
            for k in (1, 2)]
    results = [finish(r) for r in runs]
    assert [(rc, err, alive) for rc, err, alive in results] == [(0, "", []), (0, "", [])]
    for i in range(1, 5):
        name = f"0{i}-p{i}.mp3"
        assert (tmp_path / "out1" / name).read_bytes() == (tmp_path / "out2" / name).read_bytes()
    assert leftovers(tmp_path) == []


def test_a_clip_whose_file_the_cache_clear_removed_is_made_again_the_same(tmp_path, monkeypatch):
    """The deterministic half of the race above: cleared before the render maps it, a clip is
    spoken again (the same samples); once mapped, clearing cannot reach it."""
    import numpy as np

    from generator.script.profiles import VoiceProfile
    from generator.cache import clear_cache
    from generator.speech import SpeechStore

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))      # a cache of its own, to clear
    store = SpeechStore()
    a, b = store.clip("Rest here a while.", VoiceProfile()), store.clip("And breathe.", VoiceProfile())
    first = np.array(b.load())                      # b is mapped now
    assert clear_cache() == 2 and not a.path.exists() and not b.path.exists()
    again = np.array(a.load())                      # spoken again (the third synthesis)
    assert again.shape == (a.frames,) and a.path.exists() and store.synthesized == 3
    assert np.array_equal(again, store.clip("Rest here a while.", VoiceProfile()).load())
    assert np.array_equal(b.load(), first)         # still mapped: not made again
    assert store.synthesized == 3


# ---------------------------------------------------------------- large and odd inputs
def _prose(n_bytes: int, seed: int = 5) -> str:
    import random

    rng = random.Random(seed)
    words = "breathe soft slow warm hand heart rest here and you the gently notice".split()
    paras, size = [], 0
    while size < n_bytes:
        paras.append(" ".join(rng.choice(words) for _ in range(40)) + ".")
        size += len(paras[-1]) + 2
    return "\n\n".join(paras)


def test_a_2_mb_script(tmp_path):
    """Just under the 2,000,000-byte limit: `check` passes (its template output used to count
    the line marks added inside and refused it); just over: one Error: line. A 2 MB script that
    is mostly comments plans in full."""
    head = "---\ntitle: Big\n---\n"
    ok = tmp_path / "big.md"
    ok.write_text(head + _prose(1_990_000 - len(head)), encoding="utf-8")
    assert 1_980_000 < ok.stat().st_size < 2_000_000
    rc, err, alive = finish(Run(["check", ok], cwd=tmp_path))
    assert (rc, err, alive) == (0, "", [])

    over = tmp_path / "over.md"
    over.write_text(ok.read_text(encoding="utf-8") + "\nOne more line. " * 1000, encoding="utf-8")
    rc, err, alive = finish(Run(["check", over], cwd=tmp_path))
    assert_one_error(rc, err, alive, f"{over}: the file is", "over the 2000000 byte limit")

    notes = tmp_path / "notes.md"
    comment = "// " + "a long note to the reader " * 3 + "\n"
    notes.write_text(head + "Arrive here.\n[pause 2s]\n" + comment * (1_990_000 // len(comment)) + "Rest.\n",
                     encoding="utf-8")
    rc, out, err = Run(["plan", notes, "-q"], cwd=tmp_path).finish()
    assert rc == 0, err
    assert "say: Arrive here." in out and "say: Rest." in out


def test_a_script_whose_every_line_is_a_cue(tmp_path):
    """120 cue lines (pauses, breathing, a chime): check and plan pass, and the render is
    exactly as long as the plan says, to the sample."""
    import re
    import wave

    cues = ["[pause 1s]", "[breathe 2-2 x1]", "[pause 1s-3s]", "[breathe box x1]", "[bell]"]
    lines = [cues[i % 4] for i in range(119)] + ["[bell]"]
    script = tmp_path / "cues.md"
    script.write_text("---\ntitle: Cues only\nbell: chime\n---\n" + "\n".join(lines) + "\n", encoding="utf-8")
    assert finish(Run(["check", script], cwd=tmp_path))[:2] == (0, "")
    rc, out, err = Run(["plan", script, "-q"], cwd=tmp_path).finish()
    assert rc == 0, err
    total = float(re.search(r"\(([\d.]+) s\)", out).group(1))
    wav = tmp_path / "cues.wav"
    rc, err, alive = finish(Run(["render", script, "-o", wav, "-q"], cwd=tmp_path))
    assert (rc, err, alive) == (0, "", [])
    with wave.open(str(wav)) as w:
        assert w.getnframes() == round(total * 44100)

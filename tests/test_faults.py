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

from procs import Run, error_lines, leftovers

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

PRACTICE = """\
---
title: Fault practice
ambience: pink
---
Breathe in, and let the shoulders soften.

[breathe 4-4 x4]

Rest here, and let the breath be easy.
"""


@pytest.fixture
def practice(tmp_path):
    p = tmp_path / "p.md"
    p.write_text(PRACTICE, encoding="utf-8")
    return p


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
    if not IS_ROOT:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("mount -t tmpfs is not permitted here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


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
    if not IS_ROOT:
        pytest.skip("a read-only mount needs root")
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mnt)],
                      capture_output=True).returncode:
        pytest.skip("mount -t tmpfs is not permitted here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_read_only_folder_even_for_root(tmp_path, practice, read_only_folder):
    rc, err, alive = finish(Run(["render", practice, "-o", read_only_folder / "p.mp3", "-q"], cwd=tmp_path))
    assert_one_error(rc, err, alive, "Read-only file system")

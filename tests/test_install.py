"""A normal (non-editable) install works outside the repository: the wheel carries the voices.

The wheel is built without network (setuptools from the test extras, no build isolation) and
installed with --no-deps into a fresh venv that sees this venv's dependencies through a
``.pth`` line (a plain path: the editable install's own ``.pth`` hooks are not run, so the
repository's ``generator`` is not importable there).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO


def _run(args, cwd, env=None, check=True):
    r = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if check and r.returncode != 0:
        raise AssertionError(f"{args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    # built from a copy of the sources: a stale build/ folder in the work tree cannot leak into it
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for name in ("generator", "voices"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", out, src], cwd=src)
    found = list(out.glob("meditate-*.whl"))
    assert len(found) == 1
    return found[0]


def test_wheel_carries_the_shipped_voices(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(p.name for p in (REPO / "voices").glob("*.yaml"))
    assert shipped and sorted(Path(n).name for n in names if n.startswith("generator/voices/")
                              and n.endswith(".yaml")) == shipped


def test_wheel_carries_the_studio_page(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    page = sorted(p.name for p in (REPO / "generator" / "studio" / "static").iterdir())
    assert page == ["index.html", "studio.css", "studio.js"]
    assert {f"generator/studio/static/{n}" for n in page} | {"generator/studio/app.py"} <= names


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """A fresh venv with the wheel installed; returns its ``meditate`` command."""
    root = tmp_path_factory.mktemp("venv")
    venv.create(root, with_pip=False)
    py = root / "bin" / "python"
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", "-q", wheel], cwd=root,
         env=dict(os.environ, PIP_NO_INDEX="1"))
    return root / "bin" / "meditate"


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["MEDITATE_ENGINE"] = "fake"
    return env


def test_installed_wheel_renders_from_an_empty_folder(installed, tmp_path):
    where = _run([installed.parent / "python", "-c", "import generator; print(generator.__file__)"],
                 cwd=tmp_path, env=_env()).stdout
    assert str(REPO) not in where          # the installed copy, not the work tree
    voices = _run([installed, "voices"], cwd=tmp_path, env=_env()).stdout
    for name in ("gentle", "slow", "warm"):
        assert f"\n{name} " in "\n" + voices
    (tmp_path / "hello.md").write_text("---\ntitle: Hello\nvariables: {name: friend}\n---\n"
                                       "# Arriving\nHello {{ name }}.\n[pause 2s]\nWelcome.\n", encoding="utf-8")
    _run([installed, "check", "hello.md"], cwd=tmp_path, env=_env())
    _run([installed, "render", "hello.md", "--var", "name=Maya", "-q"], cwd=tmp_path, env=_env())
    out = tmp_path / "audio_out" / "hello.mp3"
    assert out.stat().st_size > 1000 and out.with_suffix(".vtt").is_file()
    probe = _run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", out],
                 cwd=tmp_path).stdout
    assert float(probe) > 2.0

"""The private pyttsx3 names the espeak engine relies on are still where it expects them.

generator/engines/espeak.py drives espeak-ng through pyttsx3's private ctypes
binding (``pyttsx3.drivers._espeak``) and the driver object behind
``engine.proxy._driver`` (the README says why). A pyttsx3 release may move them
without notice; pyproject.toml pins ``pyttsx3>=2.90,<3``, and this test names
exactly what moved if a release inside the pin breaks it.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import version

from tests.helpers import REPO

ENGINE_SOURCE = REPO / "generator" / "engines" / "espeak.py"

PROBE = r"""
import ctypes, json, os, sys
from generator.engines.espeak import _locate
lib, data = _locate()
ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
if data is not None:
    os.environ["ESPEAK_DATA_PATH"] = data
names, fields = json.loads(sys.argv[1]), json.loads(sys.argv[2])
missing = []
try:
    import pyttsx3
    from pyttsx3.drivers import _espeak
except ImportError as e:
    missing.append(f"pyttsx3.drivers._espeak ({e})")
else:
    missing += [f"pyttsx3.drivers._espeak.{n}" for n in names if not hasattr(_espeak, n)]
    if hasattr(_espeak, "VOICE"):
        have = {f[0] for f in _espeak.VOICE._fields_}
        missing += [f"pyttsx3.drivers._espeak.VOICE.{f}" for f in fields if f not in have]
    driver = getattr(getattr(pyttsx3.init("espeak"), "proxy", None), "_driver", None)
    if not callable(getattr(driver, "setProperty", None)):
        missing.append("pyttsx3.init('espeak').proxy._driver.setProperty")
print(json.dumps(missing))
"""


def used_names() -> tuple[list[str], list[str]]:
    """Every ``_espeak.NAME`` the engine's source uses, and the VOICE fields it reads."""
    src = ENGINE_SOURCE.read_text(encoding="utf-8")
    names = sorted(set(re.findall(r"\b_espeak\.(\w+)", src)))
    fields = sorted(set(re.findall(r"\bv\.(\w+)", src)) | {"languages"})
    return names, fields


def test_pinned_pyttsx3_is_installed():
    major, minor = (int(p) for p in version("pyttsx3").split(".")[:2])
    assert (2, 90) <= (major, minor) < (3, 0), f"pyttsx3 {version('pyttsx3')} is outside the pin >=2.90,<3"


def test_private_pyttsx3_names_the_espeak_engine_uses_exist():
    names, fields = used_names()
    assert len(names) >= 15 and {"Synth", "SetSynthCallback", "dll"} <= set(names)   # the parse found them
    r = subprocess.run([sys.executable, "-c", PROBE, json.dumps(names), json.dumps(fields)],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    missing = json.loads(r.stdout.strip().splitlines()[-1])
    assert not missing, (
        f"pyttsx3 {version('pyttsx3')} no longer has {', '.join(missing)}, which "
        "generator/engines/espeak.py uses; pin the last pyttsx3 that has them in pyproject.toml, "
        "or move the engine to the new names")

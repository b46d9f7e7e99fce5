"""Helpers shared by several test modules (fixtures live in conftest.py; signal measures in
signals.py and master_signals.py; subprocess runs in procs.py). Import as ``from tests.helpers import …``."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

README = (REPO / "README.md").read_text(encoding="utf-8")
WALKTHROUGH = re.search(r"^## Your first practice\n.*?(?=^## )", README, re.S | re.M).group(0)

# a fake voice and tiny practices for the batch, feed, shard and first-hour tests
TINY_VOICE = """\
engine: fake
voice: fake
rate: 180
paragraph_pause: 0.5s
default_pause: 1s
"""


def tiny_script(title: str, extra: str = "", variables: str = "  name: friend\n") -> str:
    # about 3.5 s to 22 s reachable: speech, one flexible pause, speech
    return (f"---\ntitle: {title}\nvoice: tiny\nbell: none\nvariables:\n{variables}---\n"
            f"# Start\nHello {{{{ name }}}}, welcome.\n[pause 1s-20s]\n{extra}Rest now.\n")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# a stand-in espeak worker (MODE = "hang" or "die" is prepended): ready, lists voices, then fails
FAKE_WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    fd = int(os.environ["MEDITATE_ESPEAK_FD"])
    def reply(o):
        os.write(fd, (json.dumps(o) + "\\n").encode())
    print("noise on stdout from the worker")
    reply({"op": "ready", "ok": True})
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "voices":
            reply({"id": req["id"], "ok": True,
                   "voices": [{"name": "English (America)", "identifier": "gmw/en-US",
                               "language": "en-us", "gender": "male"}],
                   "variants": [{"name": "female3", "identifier": "!v/f3",
                                 "language": "variant", "gender": "female"}]})
        elif MODE == "hang":
            time.sleep(600)
        else:
            sys.exit(3)
    """
)

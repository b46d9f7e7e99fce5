"""Running `meditate` as a real subprocess and checking what it leaves behind.

Every run gets a unique ``MEDITATE_TEST_RUN`` in its environment; ffmpeg, the
espeak worker and batch workers inherit it, so :func:`survivors` finds any of
them still alive after the run (an orphan) by reading /proc/PID/environ.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

MEDITATE = [sys.executable, "-c", "from generator.cli import main; main()"]
ROOT = Path(__file__).resolve().parent.parent


class Run:
    def __init__(self, args, cwd, env=None, engine: str | None = "fake", stall: str | None = None,
                 prefix: list = (), **popen):
        self.marker = uuid.uuid4().hex
        e = dict(os.environ, MEDITATE_TEST_RUN=self.marker, PYTHONPATH=str(ROOT))
        e.pop("MEDITATE_TEST_STALL", None)
        if engine:
            e["MEDITATE_ENGINE"] = engine
        else:
            e.pop("MEDITATE_ENGINE", None)
        if stall:
            e["MEDITATE_TEST_STALL"] = stall
        e.update(env or {})
        self.proc = subprocess.Popen([*prefix, *MEDITATE, *(str(a) for a in args)], cwd=cwd, env=e, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True, **popen)
        self.err = b""

    def wait_for(self, text: str, timeout: float = 120) -> None:
        """Read stderr until ``text`` appears (the process must still be running)."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stderr.fileno()
        while text.encode() not in self.err:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never came; stderr: {self.err.decode(errors='replace')}"
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                assert chunk, f"exited before {text!r}: {self.err.decode(errors='replace')}"
                self.err += chunk

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        self.err += err
        return self.proc.returncode, out.decode(errors="replace"), self.err.decode(errors="replace")

    def survivors(self, grace: float = 5.0) -> list[str]:
        """Processes of this run still alive ``grace`` seconds after it ended: ``["PID cmdline"]``."""
        deadline = time.monotonic() + grace
        while True:
            found = survivors(self.marker)
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def kill_all(self) -> None:
        for line in survivors(self.marker):
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except OSError:
                pass


def survivors(marker: str) -> list[str]:
    needle = f"MEDITATE_TEST_RUN={marker}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if needle in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                stat = Path(f"/proc/{pid}/stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] == "Z":
                    continue            # a zombie is dead already (its parent reaps it)
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{pid} {cmd[:120]}")
        except OSError:
            continue
    return found


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("Error:")]


def leftovers(folder: Path) -> list[str]:
    """Temporary or partial files anywhere under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*")
                  if ".part" in p.name or p.name.endswith(".tmp"))


def mount_tmpfs(where: Path, options: str):
    """Mount a tmpfs at ``where`` (root only); a context manager, or pytest.skip when not allowed."""
    import contextlib

    import pytest

    if not (hasattr(os, "geteuid") and os.geteuid() == 0):
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir(exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True).returncode:
        pytest.skip("mount -t tmpfs is not permitted here")

    @contextlib.contextmanager
    def mounted():
        try:
            yield where
        finally:
            subprocess.run(["umount", "-l", str(where)], check=False)

    return mounted()

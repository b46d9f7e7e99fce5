"""Run a command and measure it: wall, CPU (self + reaped children), peak memory.

Memory, two views:

* ``proc_peak``: the maximum resident set size of the largest single process in
  the tree (what ``/usr/bin/time -v`` reports: ru_maxrss of the child and its
  reaped descendants is a max, not a sum). For a render that is the Python
  renderer itself.
* ``tree_peak``: the largest *sum* of RSS over the whole process tree (the
  renderer, its ffmpeg encoder, the espeak worker and its forks), sampled
  every 50 ms from /proc. Sampling can miss a spike shorter than that, so the
  figure used for goals is ``max(tree_peak, proc_peak)``.
* ``ffmpeg_peak``: the largest VmHWM seen for an ffmpeg process in the tree.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field

PAGE = os.sysconf("SC_PAGE_SIZE")
GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


@dataclass
class Run:
    wall: float
    cpu: float                 # user + sys of the command and every reaped descendant (or, when
                               # larger, the sum over every process of the tree sampled from /proc)
    proc_peak_mb: float        # largest single process (time -v / ru_maxrss)
    tree_peak_mb: float        # largest sampled sum over the tree
    ffmpeg_peak_mb: float = 0.0
    rc: int = 0
    stderr: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def peak_mb(self) -> float:
        return max(self.proc_peak_mb, self.tree_peak_mb)


def _children_map() -> dict:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def _descendants(root: int) -> list[int]:
    kids = _children_map()
    out, stack = [], [root]
    while stack:
        p = stack.pop()
        for c in kids.get(p, ()):
            out.append(c)
            stack.append(c)
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
        v = s[s.rindex(b")") + 2:].split()
        return int(v[11]) + int(v[12])
    except (OSError, IndexError, ValueError):
        return 0


def _hwm_and_name(pid: int) -> tuple[int, str]:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            txt = f.read().decode("ascii", "replace")
    except OSError:
        return 0, ""
    m = re.search(r"VmHWM:\s+(\d+) kB", txt)
    n = re.search(r"Name:\s+(\S+)", txt)
    return (int(m.group(1)) * 1024 if m else 0), (n.group(1) if n else "")


class _Sampler(threading.Thread):
    def __init__(self, root: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak = 0
        self.ffmpeg_peak = 0
        self.cpu_ticks: dict[int, int] = {}     # pid -> last seen utime+stime (clock ticks)
        self.stop_evt = threading.Event()

    def run(self):
        pids: list[int] = []
        k = 0
        while not self.stop_evt.is_set():
            if k % 4 == 0:                      # rescan the tree every 200 ms, read RSS every 50 ms
                pids = _descendants(self.root)
            k += 1
            total = 0
            for p in pids:
                total += _rss(p)
            self.peak = max(self.peak, total)
            if k % 2 == 1:
                for p in pids:
                    t = _ticks(p)
                    if t:
                        self.cpu_ticks[p] = t
            if k % 4 == 1:
                for p in pids:
                    hwm, name = _hwm_and_name(p)
                    if "ffmpeg" in name:
                        self.ffmpeg_peak = max(self.ffmpeg_peak, hwm)
            self.stop_evt.wait(self.interval)


def run(cmd: list[str], env: dict | None = None, cwd: str | None = None, stdin=None) -> Run:
    """Run ``cmd`` to completion under /usr/bin/time -v (or wait4) and a tree sampler."""
    tfile = None
    full = list(cmd)
    if GNU_TIME:
        import tempfile

        fd, tfile = tempfile.mkstemp(prefix="bench-time-")
        os.close(fd)
        full = [GNU_TIME, "-v", "-o", tfile] + full
    t0 = time.perf_counter()
    proc = subprocess.Popen(full, env=env, cwd=cwd, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = _Sampler(proc.pid)
    sampler.start()
    err_chunks = []
    reader = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop_evt.set()
    sampler.join()
    reader.join()
    stderr = b"".join(err_chunks).decode("utf-8", "replace")
    cpu = ru.ru_utime + ru.ru_stime
    proc_peak = ru.ru_maxrss * 1024
    rc = proc.returncode
    if tfile:
        with open(tfile, encoding="utf-8", errors="replace") as f:
            txt = f.read()
        os.unlink(tfile)
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", txt)
        if m:
            proc_peak = int(m.group(1)) * 1024
        u = re.search(r"User time \(seconds\): ([\d.]+)", txt)
        s = re.search(r"System time \(seconds\): ([\d.]+)", txt)
        if u and s:
            cpu = float(u.group(1)) + float(s.group(1))
        x = re.search(r"Exit status: (\d+)", txt)
        if x:
            rc = int(x.group(1))
        stderr = "\n".join(ln for ln in stderr.splitlines() if not ln.startswith("Command exited with"))
    # processes the command does not reap (e.g. a pool's workers) are missing from its rusage:
    # their CPU as last sampled from /proc is the better figure then
    sampled = sum(sampler.cpu_ticks.values()) / os.sysconf("SC_CLK_TCK")
    cpu = max(cpu, sampled)
    mb = 1024 * 1024
    return Run(wall, cpu, proc_peak / mb, sampler.peak / mb, sampler.ffmpeg_peak / mb, rc, stderr)


def pipe_run(cmd: list[str], data_path: str, block: int = 1 << 20) -> Run:
    """Run ``cmd`` with the file ``data_path`` streamed into its stdin through a pipe.

    Only the command is measured: wall from start to its exit, CPU and peak memory
    from its own rusage (the writer is this process, blocked on the pipe).
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err_chunks = []
    reader = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    with open(data_path, "rb") as f:
        while True:
            b = f.read(block)
            if not b:
                break
            proc.stdin.write(b)
    proc.stdin.close()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    reader.join()
    rc = os.waitstatus_to_exitcode(status)
    mb = ru.ru_maxrss / 1024
    return Run(wall, ru.ru_utime + ru.ru_stime, mb, mb, mb, rc, b"".join(err_chunks).decode("utf-8", "replace"))


def fresh_dir(base: str, name: str) -> str:
    d = os.path.join(base, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d

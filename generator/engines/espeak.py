"""espeak-ng through pyttsx3, made robust.

pyttsx3 2.99's own ``save_to_file()`` + ``runAndWait()`` loop is not usable for
batch work on Linux: the first call can return before anything is written,
later calls can write the previous utterance again, it prints "Audio saved to
..." on stdout, and repeated use can hang.  espeak-ng itself also keeps hidden
state between utterances (pitch "flutter" phase, wave phase, echo buffer), so
the same text spoken twice in one process does not give the same samples.

Design (measured on the bundled libespeak-ng 1.52):

* The engine talks to persistent **worker processes** (started lazily, reused
  for every clip, killed on :meth:`EspeakEngine.close` / at exit), each serving
  one request at a time.  One is enough for one caller; a second starts only
  when a request comes while every worker is busy, up to
  ``EspeakEngine.concurrency`` (:func:`default_workers`), so callers in several
  threads speak in parallel.  Each worker's fd 1 is ``/dev/null`` and its
  stderr goes to a private log file, so nothing pyttsx3 or the C library
  prints can reach our stdout.  Replies come back as JSON lines on a private
  pipe.
* The worker imports pyttsx3 (with the library pre-loaded) but does not start
  espeak.  For every request it **forks** a short-lived child that runs
  ``pyttsx3.init("espeak")``, sets voice/rate/pitch/volume with the pyttsx3
  driver's ``setProperty``, installs its own synth callback (through pyttsx3's
  ``_espeak`` binding) that keeps *every* sample chunk until the
  ``MSG_TERMINATED`` event, waits with ``espeak_Synchronize`` and writes the
  WAV.  Each clip therefore starts from a pristine espeak state: complete,
  deterministic, ~50 ms for a short phrase, the same whichever worker speaks it.
* The parent waits with a timeout; on a timeout or a dead worker it kills the
  worker's whole process group, starts a new worker and retries once, then
  raises :class:`EngineError`.  Every clip is verified in the parent (RIFF
  header, data size vs. header vs. frames the child reported, format, nonzero
  length, plausible duration for the words at the rate, near-silent tail).
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import difflib
import functools
import importlib.util
import itertools
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from ..errors import EngineError

if TYPE_CHECKING:  # keep the worker process light: no numpy/yaml at import
    from ..audio.samples import Audio
    from ..script.profiles import VoiceProfile

NATIVE_RATE = 22050
FD_ENV = "MEDITATE_ESPEAK_FD"
WORKERS_ENV = "MEDITATE_ESPEAK_WORKERS"
MAX_WORKERS = 4     # see default_workers
_POLL = 0.5         # seconds between looks, while a request waits for its answer, at whether the engine was closed
_CLOSED = "the espeak engine was closed before this request ended"
_ROOT = Path(__file__).resolve().parents[2]  # the folder holding ``generator/``
_WORKER_CODE = "from generator.engines.espeak import _worker_main; _worker_main()"

# espeak-ng clamps the speaking rate to this range (words per minute).
_MIN_RATE, _MAX_RATE = 80, 450
_TAIL_SECONDS = 0.010
_TAIL_LIMIT = 0.05  # max |sample| allowed in the last 10 ms ("ends in silence")


# --------------------------------------------------------------------------
# locating the library


@functools.lru_cache(maxsize=1)
def espeak_paths() -> tuple[str, Optional[str]]:
    """(library path, data path or None) - a system libespeak-ng first, else the bundled one.

    A system library is used with its own data (``None``); the bundled library
    always with the bundled data.  Raises :class:`EngineError` when neither exists.
    """
    system = ctypes.util.find_library("espeak-ng")
    if system:
        return system, None
    try:
        import espeakng_loader     # optional: a system libespeak-ng is used first
    except ImportError:
        raise EngineError(
            "espeak-ng is not available: no system libespeak-ng and the Python package "
            "'espeakng-loader' is not installed; install it with 'pip install espeakng-loader' "
            "or use the 'fake' engine"
        ) from None
    lib = Path(espeakng_loader.get_library_path())
    so1 = lib.with_name("libespeak-ng.so.1")
    if so1.exists():
        lib = so1
    data = Path(espeakng_loader.get_data_path())
    if not lib.exists() or not data.is_dir():
        raise EngineError(
            f"the espeakng-loader package is incomplete (library {lib}, data {data}); "
            "reinstall it with 'pip install --force-reinstall espeakng-loader'"
        )
    return str(lib), str(data)


@functools.lru_cache(maxsize=1)
def espeak_available() -> bool:
    """True when an espeak-ng library can be loaded and pyttsx3 is importable."""
    try:
        lib, _ = espeak_paths()
        ctypes.CDLL(lib)
    except (EngineError, OSError):
        return False
    return importlib.util.find_spec("pyttsx3") is not None


def default_workers() -> int:
    """How many clips one engine speaks at once: ``$MEDITATE_ESPEAK_WORKERS`` (1: one after
    another), else one per processor this process may run on, at most :data:`MAX_WORKERS`.
    More would mostly wait: every clip is then trimmed, resampled and limited in this process
    (speech.finish_clip), which takes longer than espeak (a cold 60-minute practice: 3.7 s
    against 2.8 s) and holds the GIL much of the time (two threads finish clips only about 1.3
    times as fast as one)."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise EngineError(f"{WORKERS_ENV} must be a whole number of at least 1, not {value!r}")
        return int(value)
    return max(1, min(processors(), MAX_WORKERS))


def processors() -> int:
    """The processors this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# --------------------------------------------------------------------------
# the worker process (runs in a subprocess; never imported for its side effects)


def _worker_main() -> None:  # pragma: no cover - runs in the subprocess
    """Zygote loop: read JSON requests on stdin, fork one child per request."""
    out_fd = int(os.environ[FD_ENV])
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # belt and braces: the parent already gave us /dev/null
    sys.stdout = open(os.devnull, "w")

    def reply(obj: dict) -> None:
        data = (json.dumps(obj) + "\n").encode("utf-8")
        while data:
            data = data[os.write(out_fd, data):]

    try:
        lib, data = espeak_paths()
        ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
        if data is not None:
            os.environ["ESPEAK_DATA_PATH"] = data
        import pyttsx3  # noqa: F401  (loads the library by soname: ours, pre-loaded)
        from pyttsx3.drivers import _espeak  # noqa: F401
    except BaseException as e:  # noqa: BLE001
        reply({"op": "ready", "ok": False, "error": f"{type(e).__name__}: {e}"})
        return
    reply({"op": "ready", "ok": True, "pid": os.getpid(), "lib": lib, "data": data})

    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            return
        try:
            req = json.loads(line)
        except ValueError:
            continue
        if req.get("op") == "quit":
            return
        reply(_run_in_child(req))


def _run_in_child(req: dict) -> dict:  # pragma: no cover - runs in the subprocess
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            res = _child_handle(req)
        except BaseException as e:  # noqa: BLE001
            res = {"ok": False, "kind": "crash", "error": f"{type(e).__name__}: {e}"}
            code = 1
        try:
            os.write(w, json.dumps(res).encode("utf-8"))
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    try:
        res = json.loads(b"".join(chunks))
    except ValueError:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        how = f"was killed by signal {sig}" if sig else f"exited with status {os.WEXITSTATUS(status)}"
        res = {"ok": False, "kind": "crash", "error": f"the espeak process {how} without a result"}
    res["id"] = req.get("id")
    return res


def _child_handle(req: dict) -> dict:  # pragma: no cover - runs in the forked child
    import pyttsx3      # the worker imported these once the library was loaded (_worker_main)
    from pyttsx3.drivers import _espeak

    engine = pyttsx3.init("espeak")
    driver = engine.proxy._driver

    if req["op"] == "voices":
        out = []
        for v in _espeak.ListVoices(None):
            out.append(_voice_dict(v))
        spec = _espeak.VOICE()
        spec.languages = b"variant"
        variants = [_voice_dict(v) for v in _espeak.ListVoices(ctypes.pointer(spec))]
        return {"ok": True, "voices": out, "variants": variants}

    if req["op"] != "synth":
        return {"ok": False, "kind": "protocol", "error": f"unknown request {req['op']!r}"}

    voice = req["voice"]
    rc = _espeak.SetVoiceByName(voice.encode("utf-8"))
    current = _espeak.GetCurrentVoice()
    ident = current.contents.identifier.decode("utf-8", "replace") if current else ""
    if rc != 0:
        return {"ok": False, "kind": "voice", "error": f"espeak rejected voice {voice!r} (code {rc})"}
    if "+" in voice and not ident.endswith("+" + voice.split("+", 1)[1]):
        return {"ok": False, "kind": "voice",
                "error": f"espeak did not apply the variant of {voice!r} (got {ident!r})"}
    # after the voice: loading a voice may reset parameters
    driver.setProperty("rate", int(req["rate"]))
    driver.setProperty("pitch", int(req["pitch"]))
    driver.setProperty("volume", float(req["volume"]))

    chunks: list[bytes] = []
    state = {"terminated": False, "after_end": 0}

    def on_synth(wav, numsamples, events):
        i = 0
        while True:
            ev = events[i]
            if ev.type == _espeak.EVENT_LIST_TERMINATED:
                break
            if ev.type == _espeak.EVENT_MSG_TERMINATED:
                state["terminated"] = True
            i += 1
        if numsamples > 0 and wav:
            # keep the chunk even when it arrives with the terminating event
            chunks.append(ctypes.string_at(wav, numsamples * 2))
        return 0

    _espeak.SetSynthCallback(on_synth)
    # espeak_Initialize seeds the noise generator from the clock; fix it so the
    # same text gives the same samples (older libraries lack the call).
    seed = getattr(_espeak.dll, "espeak_ng_SetRandSeed", None)
    if seed is not None:
        seed.argtypes, seed.restype = [ctypes.c_long], None
        seed(1)
    # PHONEMES: [[...]] in the text is espeak phoneme input (a pronunciation lexicon entry)
    rc = _espeak.Synth(req["text"].encode("utf-8"), flags=_espeak.ENDPAUSE | _espeak.CHARS_UTF8 | _espeak.PHONEMES)
    if rc != 0:
        return {"ok": False, "kind": "synth", "error": f"espeak_Synth failed (code {rc})"}
    _espeak.Synchronize()
    if not state["terminated"]:
        return {"ok": False, "kind": "incomplete", "error": "espeak never signalled the end of the message"}
    pcm = b"".join(chunks)
    part = req["out"] + ".part"
    with wave.open(part, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(NATIVE_RATE)
        f.writeframes(pcm)
    os.replace(part, req["out"])
    return {"ok": True, "frames": len(pcm) // 2, "voice": ident,
            "params": [_espeak.GetParameter(_espeak.RATE), _espeak.GetParameter(_espeak.PITCH),
                       _espeak.GetParameter(_espeak.VOLUME)]}


def _voice_dict(v) -> dict:  # pragma: no cover - runs in the forked child
    def s(b):
        return b.decode("utf-8", "replace") if b else ""

    langs = v.languages
    lang = s(langs[1:]) if langs else ""
    return {"name": s(v.name), "identifier": s(v.identifier), "language": lang,
            "gender": {1: "male", 2: "female"}.get(v.gender, "")}


# --------------------------------------------------------------------------
# the parent side


def _short(text: str, n: int = 60) -> str:
    t = " ".join(text.split())
    return t if len(t) <= n else t[: n - 1].rstrip() + "…"


class _WorkerDied(Exception):
    pass


class _WorkerTimeout(Exception):
    pass


class _State:
    """One worker process and what goes with it: what the finalizer needs, so it survives the engine
    object. Used by one thread at a time (EspeakEngine._worker)."""

    def __init__(self):
        self.proc: Optional[subprocess.Popen] = None
        self.rfd: Optional[int] = None
        self.buf = b""              # what came on rfd after the last whole line
        self.taken = 0              # the engine's count of closes when a request took this worker
        self.tmpdir: Optional[str] = None
        self.log = None

    def folder(self) -> str:
        """The private folder of this worker's clips and log (made again if it was removed)."""
        if not self.tmpdir or not os.path.isdir(self.tmpdir):
            self.tmpdir = tempfile.mkdtemp(prefix="meditate-espeak-")
        return self.tmpdir

    def log_tail(self) -> str:
        log = self.log
        if log is None:
            return ""
        try:
            log.flush()
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - 400))
            tail = log.read().decode("utf-8", "replace").strip().splitlines()
        except (OSError, ValueError):
            return ""
        return f" (espeak said: {tail[-1][:200]})" if tail else ""

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                try:
                    proc.stdin.write(b'{"op": "quit"}\n')
                    proc.stdin.flush()
                except (OSError, ValueError):
                    pass
                try:
                    proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
            try:  # the worker and any forked child share the process group
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError, OSError):
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for f in (proc.stdin,):
                try:
                    f.close()
                except (OSError, ValueError):
                    pass
        if self.rfd is not None:
            try:
                os.close(self.rfd)
            except OSError:
                pass
            self.rfd = None
        self.buf = b""

    def cleanup(self) -> None:
        self.kill()
        if self.log is not None:
            try:
                self.log.close()
            except OSError:
                pass
            self.log = None
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None


def _cleanup_all(states: list) -> None:
    for st in states:
        st.cleanup()


class EspeakEngine:
    """espeak-ng via pyttsx3 in persistent, supervised worker processes (one, or up to
    ``concurrency`` while requests come from several threads at once)."""

    name = "espeak"

    def __init__(self, timeout: float = 60.0, worker_command: Optional[Sequence[str]] = None,
                 workers: Optional[int] = None):
        """``timeout``: seconds allowed for one clip (and for a worker to start).

        ``worker_command`` replaces the worker's command line (tests use it to
        inject a broken worker); the default runs :func:`_worker_main`.
        ``workers``: the most worker processes, i.e. requests spoken at once
        (default :func:`default_workers`).
        """
        self.timeout = float(timeout)
        self._command = list(worker_command) if worker_command else [sys.executable, "-c", _WORKER_CODE]
        self.concurrency = max(1, int(workers)) if workers else default_workers()
        self._states: list[_State] = [_State()]      # every worker made so far; [0] is .worker
        self._idle: list[_State] = list(self._states)
        self._pool = threading.Condition()          # guards _states, _idle, _closes and starts
        self._closes = 0                            # close() calls begun: a request from before one gives up
        self._finalizer = weakref.finalize(self, _cleanup_all, self._states)
        self._voices_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._voices: Optional[dict] = None
        self.starts = 0  # how many worker processes were started, restarts included

    # -- public API ----------------------------------------------------------

    def synthesize(self, text: str, profile: "VoiceProfile") -> "Audio":
        if not text or not text.strip():
            raise EngineError("espeak was given no text to speak")
        voice = self._check_voice(profile.voice or profile.language or "en-us")
        req = {"op": "synth", "text": text, "voice": voice, "rate": int(profile.rate),
               "pitch": int(profile.pitch), "volume": float(profile.volume)}
        with self._worker() as st:
            last_error = None
            for attempt in range(2):
                out = os.path.join(st.folder(), f"clip-{next(self._ids)}.wav")
                try:
                    res = self._request(st, dict(req, out=out))
                    if not res.get("ok"):
                        if res.get("kind") == "voice":
                            raise EngineError(self._voice_message(voice, res.get("error", "")))
                        last_error = res.get("error", "unknown error")
                        continue
                    return self._verify(out, res, text, profile.rate)
                except _WorkerTimeout:
                    last_error = f"no answer within {self.timeout:g} s"
                    st.kill()
                except _WorkerDied as e:
                    last_error = str(e)
                    st.kill()
                except _Incomplete as e:
                    last_error = str(e)
                finally:
                    for p in (out, out + ".part"):
                        try:
                            os.remove(p)
                        except OSError:
                            pass
            raise EngineError(
                f'espeak failed on "{_short(text)}": {last_error} (after a retry). '
                f"Check the espeak-ng installation (pip install espeakng-loader), "
                f"shorten the paragraph or raise the engine timeout.{st.log_tail()}"
            )

    def voices(self) -> list[tuple[str, str]]:
        """Languages first ("en-us", "English (America), en-us, male"), then variants ("+f3", ...).

        A variant is appended to a voice: ``en-us+f3``.
        """
        info = self._voice_info()
        out = []
        for v in sorted(info["voices"], key=lambda v: v["identifier"].rsplit("/", 1)[-1].lower()):
            vid = v["identifier"].rsplit("/", 1)[-1].lower()
            desc = ", ".join(x for x in (v["name"], v["language"], v["gender"]) if x)
            out.append((vid, desc))
        for v in sorted(info["variants"], key=lambda v: v["identifier"].rsplit("/", 1)[-1].lower()):
            vid = "+" + v["identifier"].rsplit("/", 1)[-1]
            desc = ", ".join(x for x in ("variant " + v["name"], v["gender"]) if x)
            out.append((vid, desc))
        return out

    @property
    def worker(self):
        """The first worker process (``subprocess.Popen``: the one a caller in one thread uses), or
        None (not started yet, or closed)."""
        return self._states[0].proc

    def close(self) -> None:
        """End every worker. A request in flight in another thread gives up first (an
        :class:`EngineError` within half a second), so none is left behind or started again;
        the engine starts workers afresh if it is used after."""
        with self._pool:
            self._closes += 1
            self._pool.notify_all()         # requests waiting for a worker give up
            while len(self._idle) < len(self._states):
                self._pool.wait()
            _cleanup_all(self._states)

    def __enter__(self) -> "EspeakEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- worker management ---------------------------------------------------

    @contextlib.contextmanager
    def _worker(self):
        """A worker for one request, held until it ends: an idle one, else a new one while there
        are fewer than ``concurrency``, else the next to come free."""
        with self._pool:
            began = self._closes
            while not self._idle and len(self._states) >= self.concurrency and self._closes == began:
                self._pool.wait()
            if self._closes != began:
                raise EngineError(_CLOSED)
            if self._idle:
                st = self._idle.pop()
            else:
                st = _State()
                self._states.append(st)
            st.taken = began
        try:
            yield st
        finally:
            with self._pool:
                self._idle.append(st)
                self._pool.notify_all()

    def _start(self, st: _State) -> None:
        if st.proc is not None and st.proc.poll() is None:
            return
        if st.proc is not None:
            st.kill()
        with self._pool:
            self.starts += 1
        if st.log is None:
            st.log = open(os.path.join(st.folder(), "worker.log"), "w+b")
        r, w = os.pipe()
        env = dict(os.environ)
        env[FD_ENV] = str(w)
        env["PYTHONPATH"] = os.pathsep.join(x for x in (str(_ROOT), env.get("PYTHONPATH")) if x)
        try:
            proc = subprocess.Popen(
                self._command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=st.log,
                pass_fds=(w,), env=env, cwd=str(_ROOT), start_new_session=True, close_fds=True,
            )
        except OSError as e:
            os.close(r)
            os.close(w)
            raise EngineError(f"cannot start the espeak worker ({e}); check the Python installation")
        os.close(w)
        st.proc, st.rfd, st.buf = proc, r, b""
        try:
            msg = self._read(st, max(self.timeout, 10.0))
        except (_WorkerTimeout, _WorkerDied) as e:
            st.kill()
            raise _WorkerDied(f"the espeak worker did not start ({e or 'timeout'})")
        if not msg.get("ok"):
            st.kill()
            raise EngineError(
                f"espeak could not be loaded: {msg.get('error')}; reinstall pyttsx3 and "
                f"espeakng-loader, or use the 'fake' engine{st.log_tail()}"
            )

    def _request(self, st: _State, req: dict) -> dict:
        """Send one request to ``st``'s worker, return the reply; _WorkerTimeout / _WorkerDied on trouble."""
        if st.proc is None or st.proc.poll() is not None:
            self._start(st)
        req = dict(req, id=next(self._ids))
        try:
            st.proc.stdin.write((json.dumps(req) + "\n").encode("utf-8"))
            st.proc.stdin.flush()
        except (OSError, ValueError):
            raise _WorkerDied("the espeak worker is gone")
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._read(st, deadline - time.monotonic())
            if msg.get("id") == req["id"]:
                return msg

    def _read(self, st: _State, timeout: float) -> dict:
        """The next line from ``st``'s worker. The engine being closed (from another thread) ends the
        wait with an :class:`EngineError`: close kills the worker once the request has given up."""
        deadline = time.monotonic() + timeout
        while b"\n" not in st.buf:
            if self._closes != st.taken:
                raise EngineError(_CLOSED)
            left = deadline - time.monotonic()
            if left <= 0:
                raise _WorkerTimeout()
            ready, _, _ = select.select([st.rfd], [], [], min(left, _POLL))
            if not ready:
                continue
            chunk = os.read(st.rfd, 65536)
            if not chunk:
                proc = st.proc
                code = proc.poll() if proc else None
                if code is None and proc is not None:
                    try:
                        code = proc.wait(timeout=1)
                    except subprocess.TimeoutExpired:
                        code = None
                raise _WorkerDied(f"the espeak worker died (exit status {code})")
            st.buf += chunk
        line, st.buf = st.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            raise _WorkerDied(f"the espeak worker sent garbage: {line[:80]!r}")

    # -- voices --------------------------------------------------------------

    def _voice_info(self) -> dict:
        with self._voices_lock:
            if self._voices is None:
                with self._worker() as st:
                    self._voices = self._list_voices(st)
            return self._voices

    def _list_voices(self, st: _State) -> dict:
        last = None
        for attempt in range(2):
            try:
                res = self._request(st, {"op": "voices"})
            except (_WorkerTimeout, _WorkerDied) as e:
                last = str(e) or "no answer"
                st.kill()
                continue
            if res.get("ok"):
                return res
            last = res.get("error")
        raise EngineError(f"cannot list the espeak voices: {last}{st.log_tail()}")

    def _check_voice(self, voice: str) -> str:
        """Validate ``lang[+variant]`` against the installed data; return the spelling to use."""
        info = self._voice_info()
        base, _, variant = voice.strip().partition("+")
        bases = {}
        for v in info["voices"]:
            ident = v["identifier"]
            for key in (ident, ident.rsplit("/", 1)[-1], v["language"], v["name"]):
                if key:
                    bases.setdefault(key.lower(), key)
        if base.lower() not in bases:
            raise EngineError(self._voice_message(voice, f"unknown espeak voice {base!r}"))
        if variant:
            names = {v["identifier"].rsplit("/", 1)[-1]: v for v in info["variants"]}
            if variant not in names:
                folded = [n for n in names if n.lower() == variant.lower()]
                if len(folded) != 1:
                    raise EngineError(self._voice_message(voice, f"unknown espeak voice variant {variant!r}"))
                variant = folded[0]
            return f"{base}+{variant}"
        return base

    def _voice_message(self, voice: str, why: str) -> str:
        info = self._voices or {"voices": [], "variants": []}
        base, _, variant = voice.partition("+")
        if variant and why.startswith("unknown espeak voice variant"):
            pool = [v["identifier"].rsplit("/", 1)[-1] for v in info["variants"]]
            close = [f"{base}+{c}" for c in difflib.get_close_matches(variant, pool, n=3, cutoff=0.4)]
        else:
            pool = sorted({v["identifier"].rsplit("/", 1)[-1].lower() for v in info["voices"]})
            close = difflib.get_close_matches(base.lower(), pool, n=3, cutoff=0.5)
            if variant:
                close = [f"{c}+{variant}" for c in close]
        hint = f"; did you mean {' or '.join(close)}?" if close else "."
        return f"{why} in voice {voice!r}{hint} Run 'meditate voices' to list the voices."

    # -- verification --------------------------------------------------------

    def _verify(self, path: str, res: dict, text: str, rate: int) -> "Audio":
        import numpy as np      # here, not at the top: the worker process imports this module light

        from ..audio.samples import from_int16

        frames_said = int(res.get("frames", -1))
        pcm = _read_wav_strict(path)  # raises _Incomplete
        n = len(pcm) // 2
        if n != frames_said:
            raise _Incomplete(f"the clip has {n} frames but espeak produced {frames_said}")
        if n == 0:
            raise _Incomplete("espeak produced an empty clip")
        samples = np.frombuffer(pcm, dtype="<i2")
        audio = from_int16(samples, NATIVE_RATE)
        duration = n / NATIVE_RATE
        words = len(re.findall(r"\w+", text))
        eff = min(max(int(rate), _MIN_RATE), _MAX_RATE)
        expected = words / eff * 60.0
        if words and duration < 0.4 * expected:
            raise _Incomplete(
                f"the clip is {duration:.2f} s but {words} words at {eff} wpm need about {expected:.1f} s"
            )
        if duration > 4.0 * expected + 3.0 + len(text) * 0.02:
            raise _Incomplete(f"the clip is implausibly long ({duration:.1f} s for {words} words)")
        tail = audio.samples[-max(1, int(_TAIL_SECONDS * NATIVE_RATE)):]
        if float(np.max(np.abs(tail))) > _TAIL_LIMIT:
            raise _Incomplete("the clip ends mid-speech (no silence at the end)")
        return audio


class _Incomplete(Exception):
    pass


def _read_wav_strict(path: str) -> bytes:
    """PCM payload of a mono 16-bit 22050 Hz WAV, checking the header against the file."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise _Incomplete(f"the clip was not written ({e.strerror})")
    if len(blob) < 12 or blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise _Incomplete("the clip is not a WAV file")
    riff_size = struct.unpack_from("<I", blob, 4)[0]
    if riff_size + 8 != len(blob):
        raise _Incomplete(f"the WAV header says {riff_size + 8} bytes but the file has {len(blob)}")
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(blob):
        cid, size = blob[pos:pos + 4], struct.unpack_from("<I", blob, pos + 4)[0]
        body = blob[pos + 8:pos + 8 + size]
        if len(body) != size:
            raise _Incomplete(f"the WAV {cid!r} chunk is cut short ({len(body)} of {size} bytes)")
        if cid == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", body, 0)
        elif cid == b"data":
            data = body
        pos += 8 + size + (size & 1)
    if fmt is None or data is None:
        raise _Incomplete("the WAV file lacks a fmt or data chunk")
    tag, channels, rate, _, _, bits = fmt
    if (tag, channels, rate, bits) != (1, 1, NATIVE_RATE, 16):
        raise _Incomplete(f"unexpected WAV format {fmt}")
    if len(data) % 2:
        raise _Incomplete("the WAV data ends in half a sample")
    return data

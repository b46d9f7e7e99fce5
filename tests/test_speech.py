"""Clips spoken in parallel (SpeechStore.clips over an engine's ``concurrency``) are the clips spoken
one after another: the same files, counts, order and errors; and nothing is left behind."""
from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import time
import uuid

import numpy as np
import pytest

from generator import engines
from generator.engines.espeak import EspeakEngine, espeak_available
from generator.engines.fake import FakeEngine
from generator.errors import EngineError, MeditateError
from generator.pipeline import RenderOptions, prepare
from generator.script.profiles import VoiceProfile
from generator.pipeline import make_mixer
from generator.speech import Clip, SpeechStore
from tests.procs import leftovers, survivors

PROFILE = VoiceProfile(voice="en-us+f3", rate=140, pitch=45)

PHRASES = [
    "Breathe in slowly.",
    "Let your shoulders drop.",
    "Feel the ground beneath you.",
    "Notice the air moving through your nose.",
    "Breathe in slowly.",                       # a repeat: spoken once, then from the cache
    "Rest your attention on the rise of the chest.",
    "Soften the muscles around your eyes and your mouth.",
    "Allow any sounds around you to come and go like waves.",
    "With each exhale, let a little more tension leave your body.",
    "Imagine a soft light spreading from the crown of your head down to your toes.",
]


class Staggered:
    """The fake engine's clips, several at once: a clip takes ``delay[text]`` seconds and a text
    with "fail" raises. It notes what it was asked, how many ran at once and the order the
    failures came in."""

    name = "fake"
    concurrency = 3

    def __init__(self, delay: dict):
        self.delay = delay
        self.inner = FakeEngine()
        self.lock = threading.Lock()
        self.running = self.most = 0
        self.asked: list[str] = []
        self.failed: list[str] = []

    def synthesize(self, text, profile):
        with self.lock:
            self.asked.append(text)
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.delay.get(text, 0.02))
            if "fail" in text:
                with self.lock:
                    self.failed.append(text)
                raise EngineError(f"cannot say {text!r}")
            with self.lock:
                return self.inner.synthesize(text, profile)
        finally:
            with self.lock:
                self.running -= 1

    def voices(self):
        return []

    def close(self):
        pass


def speak(store: SpeechStore, texts) -> list:
    return list(store.clips([(t, PROFILE) for t in texts]))


def test_parallel_clips_come_in_order_with_the_serial_files_and_counts(monkeypatch):
    # the first clip is the slowest: the later ones are done long before it
    eng = Staggered({PHRASES[0]: 0.3})
    monkeypatch.setattr(engines, "REGISTRY", engines.Registry({"fake": eng}))
    parallel = SpeechStore(use_cache=False)
    parallel.clip(PHRASES[2], PROFILE)          # one in the cache already
    got = speak(parallel, PHRASES)
    assert eng.most >= 2

    monkeypatch.setattr(engines, "REGISTRY", engines.Registry())       # the plain fake: one at a time
    serial = SpeechStore(use_cache=False)
    serial.clip(PHRASES[2], PROFILE)
    want = speak(serial, PHRASES)

    assert [c.text for c in got] == PHRASES
    assert [c.path.read_bytes() for c in got] == [c.path.read_bytes() for c in want]
    assert (parallel.synthesized, parallel.reused) == (serial.synthesized, serial.reused) == (9, 2)


def test_the_first_failure_in_order_is_raised_and_no_more_are_asked_for(monkeypatch):
    late, early = "This one will fail, slowly.", "This one will fail at once."
    eng = Staggered({late: 0.4, early: 0.0})
    monkeypatch.setattr(engines, "REGISTRY", engines.Registry({"fake": eng}))
    store = SpeechStore(use_cache=False)
    with pytest.raises(EngineError) as e:
        speak(store, [PHRASES[0], late, early, PHRASES[3], *PHRASES[5:]])
    assert late in str(e.value) and eng.failed[0] == early     # raised in order, not as they came
    assert store.synthesized == 1                               # only the clip before the failure counts
    # spoken a few ahead (twice the 3 at once), not all: the last two were never asked for
    time.sleep(0.1)
    assert PHRASES[8] not in eng.asked and PHRASES[9] not in eng.asked


def test_prepare_names_the_line_of_a_clip_that_failed_in_parallel(monkeypatch, write_script):
    eng = Staggered({"A pause fails here, slowly.": 0.3})
    monkeypatch.setattr(engines, "REGISTRY", engines.Registry({"fake": eng}))
    script = write_script("""\
        First, settle in.

        A pause fails here, slowly.

        Then this one fails at once.

        And rest.
        """, ambience="none")
    with pytest.raises(MeditateError) as e:
        prepare(script, RenderOptions(use_cache=False))
    assert (e.value.path, e.value.line) == (str(script), 7)
    assert eng.failed == ["Then this one fails at once.", "A pause fails here, slowly."]


# ---------------------------------------------------------------- the real espeak engine
needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng library not available")


def _left_behind(marker: str) -> list:
    """The processes of this test's run (see _marked) still alive 5 s after it ended."""
    deadline = time.monotonic() + 5
    while survivors(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    return survivors(marker)


def _marked(monkeypatch) -> str:
    """A marker the espeak workers started from now on (and their children) inherit: tests/procs.py."""
    marker = uuid.uuid4().hex
    monkeypatch.setenv("MEDITATE_TEST_RUN", marker)
    return marker


@pytest.mark.espeak
@needs_espeak
def test_espeak_workers_speak_at_once_and_give_the_serial_bytes(monkeypatch):
    spans = []      # (worker pid, start, end) of every request

    def timed(eng):
        request = eng._request

        def wrapped(st, req):
            t0 = time.monotonic()
            try:
                return request(st, req)
            finally:
                spans.append((st.proc.pid if st.proc else None, t0, time.monotonic()))
        eng._request = wrapped
        return eng

    stores = {}
    marker = _marked(monkeypatch)
    for workers in (1, 3):
        with EspeakEngine(timeout=30, workers=workers) as eng:
            monkeypatch.setattr(engines, "REGISTRY", engines.Registry({"espeak": timed(eng)}))
            spans.clear()
            store = SpeechStore(use_cache=False)
            stores[workers] = store, speak(store, PHRASES)
            pids = {pid for pid, _, _ in spans}
            assert eng.starts == len(pids)                      # no worker was restarted
        if workers == 1:
            assert len(pids) == 1
        else:
            overlapping = [(a, b) for a in spans for b in spans
                           if a[0] != b[0] and a[1] < b[2] and b[1] < a[2]]
            assert len(pids) >= 2 and overlapping, spans      # two workers spoke at the same time
        assert _left_behind(marker) == []                       # closed: every worker has ended

    (serial, one), (parallel, many) = stores[1], stores[3]
    assert [c.path.read_bytes() for c in one] == [c.path.read_bytes() for c in many]
    assert (serial.synthesized, serial.reused) == (parallel.synthesized, parallel.reused) == (9, 1)


# a real espeak worker, but "Stumble" hangs it (the timeout, twice) and "Crumble" kills it (twice)
FAILING_WORKER = textwrap.dedent("""\
    import os, time
    import generator.engines.espeak as espeak
    speak = espeak._run_in_child
    def run(req):
        if "Stumble" in req.get("text", ""):
            time.sleep(600)
        if "Crumble" in req.get("text", ""):
            os._exit(3)
        return speak(req)
    espeak._run_in_child = run
    espeak._worker_main()
    """)

FAILING_SCRIPT = """\
---
title: T
voice: slow
---
First, settle in and let the body rest.

{} here, at the second paragraph.

{} here, at the third paragraph.

Then rest, and let the breath be easy.

And stay a while with the quiet.
"""


def _failing_render(tmp_path, monkeypatch, timeout, failing=("Stumble", "Crumble"), on_hang=lambda: None):
    """A CLI render with three espeak workers whose lines 7 and 9 start with ``failing`` (``on_hang()``
    is called as the Stumble one starts): (result, seconds it took, engine, (first word, error) of
    each failure in the order they came, the run's marker)."""
    from click.testing import CliRunner

    from generator.cli import cli

    worker = tmp_path / "worker.py"
    worker.write_text(FAILING_WORKER, encoding="utf-8")
    eng = EspeakEngine(timeout=timeout, worker_command=[sys.executable, str(worker)], workers=3)
    failed = []
    synthesize = eng.synthesize

    def noted(text, profile):
        if text.startswith("Stumble"):
            on_hang()
        try:
            return synthesize(text, profile)
        except EngineError as e:
            failed.append((text.split()[0], str(e)))
            raise
    eng.synthesize = noted
    marker = _marked(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(engines, "REGISTRY", engines.Registry({"espeak": eng}))
    script = tmp_path / "p.md"
    script.write_text(FAILING_SCRIPT.format(*failing), encoding="utf-8")
    t0 = time.monotonic()
    r = CliRunner().invoke(cli, ["render", str(script), "-o", str(tmp_path / "p.mp3"), "-q"])
    return r, time.monotonic() - t0, eng, failed, marker


@pytest.mark.espeak
@needs_espeak
def test_the_first_failing_line_is_said_though_a_later_one_failed_first(tmp_path, monkeypatch):
    r, _, eng, failed, marker = _failing_render(tmp_path, monkeypatch, timeout=2.0)
    script = tmp_path / "p.md"
    assert r.exit_code == 1, r.output
    assert r.stderr.startswith(f'Error: {script}:7: espeak failed on "Stumble here') and r.stderr.count("\n") == 1
    assert "no answer within 2 s" in r.stderr
    assert [word for word, _ in failed] == ["Crumble", "Stumble"]      # line 9 failed first
    assert eng.worker is None and _left_behind(marker) == []
    assert not (tmp_path / "p.mp3").exists() and leftovers(tmp_path) == []


@pytest.mark.espeak
@needs_espeak
def test_a_failing_line_is_said_at_once_and_the_clip_in_flight_given_up(tmp_path, monkeypatch):
    """Line 7's worker dies at once while line 9's hangs (a 10 s timeout, twice): the error comes
    without waiting for line 9, whose request closing the engine gives up; nothing is left."""
    r, took, eng, failed, marker = _failing_render(tmp_path, monkeypatch, timeout=10.0, failing=("Crumble", "Stumble"))
    script = tmp_path / "p.md"
    assert r.exit_code == 1, r.output
    assert r.stderr.startswith(f'Error: {script}:7: espeak failed on "Crumble here') and r.stderr.count("\n") == 1
    assert "died" in r.stderr and took < 10
    assert dict(failed)["Stumble"] == "the espeak engine was closed before this request ended"
    assert eng.worker is None and _left_behind(marker) == []
    assert not (tmp_path / "p.mp3").exists() and leftovers(tmp_path) == []


@pytest.mark.espeak
@needs_espeak
def test_ctrl_c_while_waiting_on_a_hung_parallel_clip_ends_at_once(tmp_path, monkeypatch):
    """The main thread waits for line 7, whose worker hangs (a 60 s timeout); Ctrl-C ends the wait,
    and closing the engine gives up the hung request and ends every worker, in seconds."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    sent = []

    def press():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)
    ctrl_c = threading.Timer(1.0, press)
    try:
        r, _, eng, _, marker = _failing_render(tmp_path, monkeypatch, timeout=60.0, on_hang=ctrl_c.start)
        ended = time.monotonic()
    finally:
        ctrl_c.cancel()
        for s, h in handlers.items():       # the CLI ignores further signals once interrupted
            signal.signal(s, h)
    assert r.exit_code == 130, r.output
    assert r.stderr.strip() == "Error: interrupted (SIGINT); nothing half-written was left"
    assert sent and ended - sent[0] < 5     # not the 60 s the hung clip could take
    assert eng.worker is None and _left_behind(marker) == []
    assert not (tmp_path / "p.mp3").exists() and leftovers(tmp_path) == []


def _rss_file_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssFile:")) / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_clip_gives_back_the_pages_it_read_and_reads_the_same_samples_again(tmp_path):
    """Mixed clips' pages stayed in the renderer's memory: 277 MB of them at the end of a 60-minute
    render. Released, they leave it and come back from the file when read again."""
    x = np.random.default_rng(3).standard_normal(12_000_000).astype(np.float32)      # 48 MB
    np.save(tmp_path / "c.npy", x)
    clip = Clip(tmp_path / "c.npy", len(x), "a long clip")
    data = clip.load()
    before = _rss_file_mb()
    total = float(data.sum(dtype=np.float64))
    read = _rss_file_mb()
    clip.release()
    after = _rss_file_mb()
    assert read - before > 40 and read - after > 40, (before, read, after)
    assert float(clip.load().sum(dtype=np.float64)) == total and np.array_equal(clip.load()[:1000], x[:1000])


def test_the_mixer_releases_each_clip_once_its_event_has_been_mixed(monkeypatch, write_script):
    released = []
    monkeypatch.setattr(Clip, "release", lambda self: released.append(self.text))
    path = write_script("One sentence here.\n[pause 2s]\nAnother one there.\n[pause 2s]\nAnd a third.\n", bell="none")
    p = prepare(path, RenderOptions(engine="fake"))
    mixer = make_mixer(p, None)
    ends = {e.clip.text: e.start + e.length for e in p.timeline.entries if e.clip is not None}
    mixed = 0
    for chunk in mixer.chunks(size=4096):
        mixed += len(chunk)
        for text in released:
            assert ends[text] <= mixed      # never before its last sample is mixed
    assert len(ends) == 3 and sorted(released) == sorted(ends)

"""SIGTERM, SIGHUP and SIGINT sent to a real `meditate` process at each phase of a render and of
a batch: one Error: line, exit 128 + signal, no temporary file, no process left behind."""
from __future__ import annotations

import os
import signal
import textwrap
import time

import pytest

from tests.procs import Run, error_lines, leftovers

def interrupt(tmp_path, args, stall, sig, engine="fake"):
    run = Run(args, cwd=tmp_path, engine=engine, stall=stall)
    try:
        run.wait_for(f"stalled at {stall.split(':')[0]}")
        run.signal(sig)
        rc, out, err = run.finish()
        return rc, err, run.survivors()
    finally:
        run.kill_all()


def assert_clean_interrupt(rc, err, alive, sig):
    assert rc == 128 + sig, err
    assert "Traceback" not in err, err
    assert error_lines(err) == [f"Error: interrupted ({signal.Signals(sig).name}); nothing half-written was left"]
    assert alive == [], alive


@pytest.mark.parametrize("phase, sig", [
    ("speak", signal.SIGTERM), ("mix", signal.SIGTERM), ("encode", signal.SIGTERM), ("tag", signal.SIGTERM),
    ("mix", signal.SIGHUP), ("tag", signal.SIGHUP), ("mix", signal.SIGINT),
])
def test_a_signal_at_each_phase_of_a_render_leaves_nothing(tmp_path, practice, phase, sig):
    out = tmp_path / "out" / "p.mp3"
    rc, err, alive = interrupt(tmp_path, ["render", practice, "-o", out, "-q"], phase, sig)
    assert_clean_interrupt(rc, err, alive, sig)
    assert not out.exists() and not out.with_suffix(".vtt").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.espeak
def test_sigterm_while_espeak_speaks_ends_its_worker(tmp_path, practice):
    rc, err, alive = interrupt(tmp_path, ["render", practice, "-o", tmp_path / "p.mp3", "-q"], "speak",
                               signal.SIGTERM, engine=None)
    assert_clean_interrupt(rc, err, alive, signal.SIGTERM)
    assert leftovers(tmp_path) == [] and not (tmp_path / "p.mp3").exists()


def _series(tmp_path):
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "tiny.yaml").write_text("engine: fake\nvoice: fake\nrate: 180\n", encoding="utf-8")
    for i in (1, 2, 3):
        (tmp_path / "scripts" / "series").mkdir(parents=True, exist_ok=True)
        (tmp_path / "scripts" / f"p{i}.md").write_text(
            f"---\ntitle: Practice {i}\nvoice: tiny\nbell: none\n---\nHello, welcome.\n[pause 1s-20s]\nRest now.\n",
            encoding="utf-8")
    series = tmp_path / "scripts" / "series" / "s.yaml"
    series.write_text(textwrap.dedent("""\
        title: Signal Series
        practices:
          - {script: p1, length: 6s}
          - {script: p2, length: 8s}
          - {script: p3, length: 10s}
        """), encoding="utf-8")
    return series


def test_sigterm_in_a_batch_keeps_finished_files_and_a_rerun_carries_on(tmp_path):
    series, out = _series(tmp_path), tmp_path / "out"
    rc, err, alive = interrupt(tmp_path, ["batch", series, "-o", out, "-q"], "mix:2", signal.SIGTERM)
    assert_clean_interrupt(rc, err, alive, signal.SIGTERM)
    assert sorted(p.name for p in out.iterdir()) == [".meditate-batch.json", "01-p1.mp3", "01-p1.vtt"]
    first = (out / "01-p1.mp3").read_bytes()

    rerun = Run(["batch", series, "-o", out], cwd=tmp_path)
    rc, stdout, err = rerun.finish()
    assert rc == 0, err
    assert "2 rendered, 1 up to date, 0 failed, of 3" in stdout
    assert (out / "01-p1.mp3").read_bytes() == first
    assert {p.name for p in out.iterdir()} >= {"01-p1.mp3", "02-p2.mp3", "03-p3.mp3", "playlist.m3u8"}


def test_sigterm_to_a_parallel_batch_ends_its_workers_and_their_encoders(tmp_path):
    series, out = _series(tmp_path), tmp_path / "out"
    rc, err, alive = interrupt(tmp_path, ["batch", series, "-o", out, "-q", "-j", "2"], "mix", signal.SIGTERM)
    assert_clean_interrupt(rc, err, alive, signal.SIGTERM)
    assert leftovers(tmp_path) == []
    assert not list(out.glob("*.mp3"))          # both workers were stopped mid-mix


def test_an_impatient_ctrl_c_on_a_parallel_batch_still_cleans_up(tmp_path):
    """Ctrl-C, then Ctrl-C again and again while the workers are being stopped: one clean exit.
    (Raised from the handler, a second KeyboardInterrupt broke off the clean-up or landed inside
    concurrent.futures' locks: a traceback, or a batch hung at exit.)"""
    series, out = _series(tmp_path), tmp_path / "out"
    run = Run(["batch", series, "-o", out, "-q", "-j", "2"], cwd=tmp_path, stall="mix")
    try:
        run.wait_for("stalled at mix")
        for _ in range(60):                     # every 25 ms for 1.5 s
            if run.proc.poll() is not None:
                break
            os.kill(run.proc.pid, signal.SIGINT)
            os.kill(run.proc.pid, signal.SIGINT)     # two at once, as a terminal and a wrapper forward them
            time.sleep(0.025)
        rc, _, err = run.finish(timeout=60)
        alive = run.survivors()
    finally:
        run.kill_all()
    assert_clean_interrupt(rc, err, alive, signal.SIGINT)
    assert leftovers(tmp_path) == []


def test_sigterm_to_the_whole_process_group_of_a_parallel_batch(tmp_path):
    """What systemd and Slurm do: every process of the job gets SIGTERM at once."""
    series, out = _series(tmp_path), tmp_path / "out"
    run = Run(["batch", series, "-o", out, "-q", "-j", "2"], cwd=tmp_path, stall="mix")
    try:
        run.wait_for("stalled at mix")
        os.killpg(run.proc.pid, signal.SIGTERM)
        rc, _, err = run.finish()
        alive = run.survivors()
    finally:
        run.kill_all()
    assert_clean_interrupt(rc, err, alive, signal.SIGTERM)
    assert leftovers(tmp_path) == []

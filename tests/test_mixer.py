"""The mixer: its events come typed from the cue kinds, and its streams share no state."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from generator.cues import EventKind, GlideWindow
from generator.mixer import Mixer
from generator.pipeline import RenderOptions, prepare

BODY = """
Settle in.

[breathe 4-2-6 x4]

[bell 2]

And rest.
"""


@pytest.fixture(params=["glide", "chime", "spoken"])
def timeline_and_mixer(request, write_script):
    p = prepare(write_script(BODY), RenderOptions())
    return p, lambda: Mixer(p.timeline, breath_cues=request.param, bell="bowl", cue_clips=p.cue_clips)


def test_events_are_typed(write_script):
    """48 s of glide in 10 s windows, each continuing the one before; the speech and both strikes."""
    p = prepare(write_script(BODY), RenderOptions())
    mixer = Mixer(p.timeline)
    kinds = [ev.kind for ev in mixer.events]
    assert kinds.count(EventKind.SPEECH) == 2 and kinds.count(EventKind.TONE) == 2
    windows = [ev.sound for ev in mixer.events if ev.kind is EventKind.GLIDE]
    assert [w.index for w in windows] == [0, 1, 2, 3, 4]
    assert all(isinstance(w, GlideWindow) and w.offset == 10 * 44100 * w.index for w in windows)
    assert sum(w.length for w in windows) == 48 * 44100


def test_one_mixer_streams_twice_at_once(timeline_and_mixer):
    """Two interleaved streams of one mixer, and two on threads, are each the audio one stream
    of a fresh mixer makes (a glide window continues its own stream's oscillator)."""
    p, make = timeline_and_mixer
    alone = np.concatenate(list(make().chunks(size=8192)))
    assert np.abs(alone).max() > 0.01
    mixer = make()
    a, b = [], []
    for x, y in zip(mixer.chunks(size=8192), mixer.chunks(size=8192)):
        a.append(x)
        b.append(y)
    assert np.array_equal(np.concatenate(a), alone) and np.array_equal(np.concatenate(b), alone)

    out: dict = {}

    def stream(k):
        out[k] = np.concatenate(list(mixer.chunks(size=4096 + 7 * k)))

    threads = [threading.Thread(target=stream, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert np.array_equal(out[0], alone) and np.array_equal(out[1], alone)

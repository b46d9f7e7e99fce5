"""The process-wide caches hold when several threads fill and read them at once (a render's bed
probe runs on its own thread; an application may render from several)."""
from __future__ import annotations

import threading

import numpy as np

from generator import engines
from generator.audio import ambience, dsp, energy
from generator.audio.loudness import LoudnessMeter, k_weighting_sos

THREADS = 8
R = 44100


def _hammer(work, rounds: int = 1) -> list:
    """``work(i)`` from THREADS threads released together; their results (or exceptions), in order."""
    start = threading.Barrier(THREADS)
    results: list = [None] * THREADS

    def run(i):
        start.wait()
        try:
            results[i] = [work(i) for _ in range(rounds)]
        except BaseException as e:      # noqa: BLE001 (reported by the assert below)
            results[i] = e
    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not [r for r in results if isinstance(r, BaseException)], results
    return results


def test_tone_profiles_from_many_threads():
    """Every thread gets the profile the sound has, and one shared read-only array per key."""
    tones = {k: np.sin(np.arange(3000 + 500 * k) * (0.01 + 0.003 * k)).astype(np.float32) for k in range(4)}
    want = {k: energy.profile(x) for k, x in tones.items()}
    got = _hammer(lambda i: [energy.tone_profile(("test-hammer", i % 4, k), lambda k=k: tones[k]) for k in range(4)],
                  rounds=20)
    for i, rounds in enumerate(got):
        for profiles in rounds:
            for k, prof in enumerate(profiles):
                assert np.array_equal(prof, want[k]) and not prof.flags.writeable
    for k in range(4):      # one object per key survives: the later rounds read what the first stored
        assert len({id(got[i][-1][k]) for i in range(THREADS) if i % 4 == 0}) == 1


def test_noise_tiles_from_many_threads(tmp_path, monkeypatch):
    """A fresh tile cache built from eight threads at once builds each tile once, and every thread
    reads the same tile object (and so the same samples)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(ambience, "TILES", ambience.TileCache())
    got = _hammer(lambda i: ambience.noise_tile("white", 77, i % 2, R))
    assert ambience.TILES.builds == 2
    for i, (tile,) in enumerate(got):
        assert tile is got[i % 2][0]
    beds = _hammer(lambda i: ambience.make_bed("white", R, seed=77).render(3 * ambience.BLOCK, 5000))
    assert all(np.array_equal(b[0], beds[0][0]) for b in beds) and ambience.TILES.builds == 2


def test_tile_power_and_true_peak_from_many_threads():
    powers = _hammer(lambda i: ambience.tile_power(("pink", "brown")[i % 2], R))
    assert {p[0] for p in powers[0::2]} == {ambience.tile_power("pink", R)}
    assert {p[0] for p in powers[1::2]} == {ambience.tile_power("brown", R)}
    x = np.random.default_rng(5).standard_normal((3 * R, 2)).astype(np.float32) * 0.3

    def peak(i):
        m = LoudnessMeter(R, 2)
        m.feed(x)
        return m.true_peak()
    want = LoudnessMeter(R, 2, exact_true_peak=True)
    want.feed(x)
    assert {p[0] for p in _hammer(peak)} == {want.true_peak()}


def test_filter_kernel_from_many_threads():
    sos = k_weighting_sos(R)
    x = np.random.default_rng(6).standard_normal((1, 20000))

    def run(i):
        y, zi = x.copy(), np.zeros((1, sos.shape[0], 2))
        dsp.sosfilt(sos, y, zi)
        return y
    outs = _hammer(run, rounds=5)
    assert all(np.array_equal(y, outs[0][0]) for rounds in outs for y in rounds)


def test_engine_registry_from_many_threads():
    """One instance per engine name, however many threads ask first."""
    registry = engines.Registry()
    got = _hammer(lambda i: registry.get("fake"))
    assert len({id(e[0]) for e in got}) == 1
    registry.close_all()
    assert registry.get("fake") is not got[0][0]       # closed and dropped: a new one on demand

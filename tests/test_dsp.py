"""generator.dsp: scipy's filter kernel without scipy.signal, and the exact running maximum."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.ndimage import maximum_filter1d
from scipy.signal import sosfilt as scipy_sosfilt

from generator import dsp
from generator.loudness import k_weighting_sos


def _chunked(sos, x, sizes):
    y = np.ascontiguousarray(x.T)
    zi = np.zeros((x.shape[1], sos.shape[0], 2))
    pos = 0
    for s in sizes + [y.shape[1]]:
        part = np.ascontiguousarray(y[:, pos:pos + s])
        dsp.sosfilt(sos, part, zi)
        y[:, pos:pos + s] = part
        pos += s
        if pos >= y.shape[1]:
            break
    return y.T, zi


@pytest.mark.parametrize("kernel", ["compiled", "fallback"])
def test_sosfilt_is_scipys_bit_for_bit_across_chunks(monkeypatch, kernel):
    if kernel == "fallback":
        monkeypatch.setattr(dsp, "_KERNEL", False)
    else:
        assert dsp._load_kernel(), "scipy's compiled kernel should load on this machine"
    sos = k_weighting_sos(44100)
    x = np.random.default_rng(3).standard_normal((50000, 2))
    ref, zf = scipy_sosfilt(sos, x, axis=0, zi=np.zeros((2, 2, 2)))
    y, zi = _chunked(sos, x, [1, 777, 20000, 3])
    assert np.array_equal(y, ref) if kernel == "compiled" else np.allclose(y, ref, rtol=0, atol=1e-12)
    assert np.allclose(zi, zf.transpose(2, 0, 1), rtol=0, atol=1e-12)   # scipy: (sections, 2, channels)


def test_sosfilt_empty_chunk_keeps_state():
    sos = k_weighting_sos(44100)
    zi = np.arange(8, dtype=float).reshape(2, 2, 2)
    dsp.sosfilt(sos, np.zeros((2, 0)), zi)
    assert np.array_equal(zi, np.arange(8, dtype=float).reshape(2, 2, 2))


@pytest.mark.parametrize("n, w", [(1, 1), (10, 1), (10, 3), (1000, 64), (1000, 1000), (4097, 4096), (513, 7)])
def test_sliding_max_equals_the_definition_and_ndimage(n, w):
    rng = np.random.default_rng(n + w)
    x = np.maximum(rng.standard_normal(n), 0.0) * rng.integers(0, 2, n)   # sparse, like the limiter's need
    got = dsp.sliding_max(x, w)
    want = np.array([x[i:i + w].max() for i in range(n - w + 1)])
    assert got.shape == (n - w + 1,) and got.dtype == x.dtype
    assert np.array_equal(got, want)
    # what the limiter used before: maximum_filter1d, centred, sliced to the full windows
    nd = maximum_filter1d(x, size=w, mode="constant", cval=0.0)[w // 2: w // 2 + n - w + 1]
    assert np.array_equal(got, nd)


def test_sliding_max_short_input_and_bad_width():
    assert dsp.sliding_max(np.ones(3), 5).shape == (0,)
    with pytest.raises(ValueError, match="width"):
        dsp.sliding_max(np.ones(3), 0)


def test_the_render_path_does_not_import_scipy_signal():
    """scipy.signal costs ~1 s and ~75 MB per process; a warm render must not need it (only its
    compiled filter kernel, loaded on its own)."""
    code = ("import sys, generator.render, generator.loudness, generator.master, generator.mixer, "
            "generator.ambience, generator.encode, generator.sounds, generator.speech; "
            "from generator.ambience import make_bed; "
            "[make_bed(n).render(0, 70000) for n in ('white', 'pink', 'brown', 'ocean', 'drone')]; "
            "from generator.loudness import LoudnessMeter; m = LoudnessMeter(44100, 2); "
            "m.feed(make_bed('pink').render(0, 44100)); "
            "bad = sorted(k for k in sys.modules if k == 'scipy.signal' "
            "or k.startswith(('scipy.signal._', 'scipy.stats', 'scipy.ndimage', 'scipy.fft')) "
            "and k != 'scipy.signal._sosfilt'); "
            "print(' '.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

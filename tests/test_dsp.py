"""generator.audio.dsp: scipy's filter kernel without scipy.signal, and the exact running maximum."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.ndimage import maximum_filter1d
from scipy.signal import sosfilt as scipy_sosfilt

from generator.audio import dsp
from generator.audio.loudness import k_weighting_sos


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
        monkeypatch.setenv(dsp.FAST_FILTER_ENV, "0")
        assert not dsp.uses_compiled_kernel()
    else:
        monkeypatch.delenv(dsp.FAST_FILTER_ENV, raising=False)
        assert dsp.uses_compiled_kernel(), "scipy's compiled kernel should load on this machine"
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


_HAMMER = """
import sys, threading
import numpy as np
from generator.audio import dsp

sos = np.array([[1.0, 0.0, 0.0, 1.0, -0.5, 0.0]])          # y[n] = x[n] + 0.5 y[n-1]
start = threading.Barrier(4)
results = []

def work():
    x = np.zeros((1, 2048)); x[0, 0] = 1.0
    zi = np.zeros((1, 1, 2))
    start.wait()
    try:
        dsp.sosfilt(sos, x, zi)
        results.append(np.array_equal(x[0, :30], 0.5 ** np.arange(30)))
    except BaseException as e:
        results.append(repr(e))

threads = [threading.Thread(target=work) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
print(results, dsp.uses_compiled_kernel(), "scipy.signal" in sys.modules)
"""


def test_sosfilt_from_four_threads_at_once_in_50_fresh_processes():
    """The kernel is loaded under a lock: a thread that arrives while another loads it waits
    (it used to take the public route and find scipy's module half made: ImportError)."""
    env = {k: v for k, v in os.environ.items() if k != dsp.FAST_FILTER_ENV}
    outs = []
    for batch in range(0, 50, 5):        # five processes at a time
        procs = [subprocess.Popen([sys.executable, "-c", _HAMMER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env) for _ in range(5)]
        outs += [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    for out, err, rc in outs:
        assert rc == 0 and err == "", err
        assert out.strip() == "[True, True, True, True] True False", out


def test_the_render_path_does_not_import_scipy_signal():
    """scipy.signal costs ~1 s and ~75 MB per process; a warm render must not need it (only its
    compiled filter kernel, loaded on its own)."""
    code = ("import sys, generator.pipeline, generator.audio.loudness, generator.audio.master, generator.mixer, "
            "generator.audio.ambience, generator.output.encode, generator.audio.sounds, generator.speech; "
            "from generator.audio.ambience import make_bed; "
            "[make_bed(n).render(0, 70000) for n in ('white', 'pink', 'brown', 'ocean', 'drone')]; "
            "from generator.audio.loudness import LoudnessMeter; m = LoudnessMeter(44100, 2); "
            "m.feed(make_bed('pink').render(0, 44100)); "
            "bad = sorted(k for k in sys.modules if k == 'scipy.signal' "
            "or k.startswith(('scipy.signal._', 'scipy.stats', 'scipy.ndimage', 'scipy.fft')) "
            "and k != 'scipy.signal._sosfilt'); "
            "print(' '.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_render_with_the_fast_kernel_switched_off_is_the_same_file(write_script, tmp_path, monkeypatch):
    """MEDITATE_FAST_FILTER=0 takes the public scipy.signal.sosfilt: the render works and
    its MP3 is byte for byte the one the compiled kernel makes."""
    from click.testing import CliRunner

    from generator.cli import cli

    script = write_script("Breathe in, and let the shoulders soften.\n\n[breathe 4-4 x2]\n\nRest here.\n",
                          ambience="pink")
    files = {}
    for switch in ("0", "1"):
        monkeypatch.setenv(dsp.FAST_FILTER_ENV, switch)
        out = tmp_path / f"fast-{switch}.mp3"
        r = CliRunner().invoke(cli, ["render", str(script), "-o", str(out), "-q"], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        files[switch] = out.read_bytes()
    assert len(files["0"]) > 10000 and files["0"] == files["1"]

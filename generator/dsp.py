"""Filter kernels for the render path without importing ``scipy.signal``.

Importing ``scipy.signal`` costs about 1 s and 75 MB per process (it pulls in
``scipy.stats`` and parses docstrings), more than a warm render spends on any
one stage. The render path needs only two kernels from it:

* :func:`sosfilt` runs scipy's compiled second-order-section kernel, loaded
  straight from its extension file so the package ``__init__`` never runs (the
  numbers are scipy's own, bit for bit). If that private module cannot be
  loaded, it falls back to ``scipy.signal.sosfilt``.
* :func:`sliding_max` is a running maximum (van Herk / Gil-Werman), exact,
  replacing ``scipy.ndimage.maximum_filter1d`` for the limiter.
"""
from __future__ import annotations

import glob
import importlib.machinery
import importlib.util
import os

import numpy as np

_KERNEL = None      # scipy's Cython _sosfilt(sos, x, zi), or False when unavailable


def _load_kernel():
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = False
        try:
            spec = importlib.util.find_spec("scipy")
            roots = list(spec.submodule_search_locations or []) if spec else []
            for root in roots:
                for path in sorted(glob.glob(os.path.join(root, "signal", "_sosfilt.*"))):
                    if not path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
                        continue
                    loader = importlib.machinery.ExtensionFileLoader("scipy.signal._sosfilt", path)
                    mod = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
                    loader.exec_module(mod)
                    kernel = mod._sosfilt
                    # check it on a case with a known answer before trusting a private API
                    x = np.array([[1.0, 0.0, 0.0]])
                    zi = np.zeros((1, 1, 2))
                    kernel(np.array([[1.0, 0.0, 0.0, 1.0, -0.5, 0.0]]), x, zi)
                    if np.allclose(x, [[1.0, 0.5, 0.25]]) and np.allclose(zi, [[[0.125, 0.0]]]):
                        _KERNEL = kernel
                    break
        except Exception:       # any failure: use the public function instead
            _KERNEL = False
    return _KERNEL


def sosfilt(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> None:
    """Filter ``x`` (signals, samples) in place through ``sos`` (sections, 6), carrying
    ``zi`` (signals, sections, 2), which is updated in place. float64, C-contiguous."""
    if x.shape[1] == 0:
        return
    kernel = _load_kernel()
    if kernel:
        kernel(sos, x, zi)
        return
    from scipy.signal import sosfilt as slow

    y, zf = slow(sos, x, axis=1, zi=np.ascontiguousarray(zi.transpose(1, 0, 2)))
    x[...] = y
    zi[...] = zf.transpose(1, 0, 2)


def sliding_max(x: np.ndarray, width: int) -> np.ndarray:
    """``out[i] = max(x[i : i + width])`` for every full window (length ``len(x) - width + 1``).

    Block prefix and suffix maxima (van Herk / Gil-Werman): three passes, no
    arithmetic, so the values are exactly those of the direct definition.
    """
    x = np.asarray(x)
    n = x.shape[0]
    w = int(width)
    if w < 1:
        raise ValueError(f"sliding_max needs width >= 1, got {width!r}")
    if n < w:
        return x[:0].copy()
    if w == 1:
        return x.copy()
    nb = -(-n // w)
    pad = np.full(nb * w, -np.inf, dtype=np.result_type(x.dtype, np.float32))
    pad[:n] = x
    blocks = pad.reshape(nb, w)
    prefix = np.maximum.accumulate(blocks, axis=1).ravel()
    suffix = np.maximum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    m = n - w + 1
    out = np.maximum(suffix[:m], prefix[w - 1:w - 1 + m])
    return out.astype(x.dtype, copy=False)

"""Filter kernels for the render path without importing ``scipy.signal``.

Importing ``scipy.signal`` costs 0.5-0.65 s and 69 MB per process (measured
beside the render's own imports; it pulls in ``scipy.stats`` and parses
docstrings), about half a warm render's peak memory. The render path needs
only two kernels from it:

* :func:`sosfilt` runs scipy's compiled second-order-section kernel, loaded
  straight from its extension file so the package ``__init__`` never runs (the
  numbers are scipy's own, bit for bit). If that private module cannot be
  loaded, or ``MEDITATE_FAST_FILTER=0`` is set, it uses the public
  ``scipy.signal.sosfilt`` instead (same numbers, the import's cost).
  The kernel is loaded once per process under a lock: threads that need it
  meanwhile wait for it (a thread that took the public route while another was
  half way through loading the extension found scipy's module half made).
  :func:`uses_compiled_kernel` says which route this process takes.
* :func:`sliding_max` is a running maximum (van Herk / Gil-Werman), exact,
  replacing ``scipy.ndimage.maximum_filter1d`` for the limiter.
"""
from __future__ import annotations

import functools
import glob
import importlib.machinery
import importlib.util
import logging
import os
import sys
import threading

import numpy as np

log = logging.getLogger(__name__)
FAST_FILTER_ENV = "MEDITATE_FAST_FILTER"     # "0": always the public scipy.signal.sosfilt
_LOCK = threading.Lock()    # held while the kernel loads: a second loader would find scipy's module half made


def fast_filter_enabled() -> bool:
    return os.environ.get(FAST_FILTER_ENV, "").strip() not in ("0", "no", "false", "off")


def uses_compiled_kernel() -> bool:
    """True when :func:`sosfilt` calls scipy's compiled kernel directly; False when it uses the public
    ``scipy.signal.sosfilt`` (``MEDITATE_FAST_FILTER=0``, or the kernel could not be loaded)."""
    return _load_kernel() is not False


def _load_kernel():
    if not fast_filter_enabled():
        return False
    with _LOCK:
        return _compiled_kernel()


@functools.lru_cache(maxsize=1)
def _compiled_kernel():
    """scipy's Cython ``_sosfilt(sos, x, zi)``, or False; loaded once per process (under _LOCK)."""
    kernel = _find_kernel()
    if kernel is False:
        log.info("scipy's compiled filter kernel is not available: filtering through scipy.signal.sosfilt")
    return kernel


def _find_kernel():
    """scipy's compiled kernel, checked on a case with a known answer, or False."""
    try:
        mod = sys.modules.get("scipy.signal._sosfilt")      # scipy.signal already imported: its own
        if mod is None:
            spec = importlib.util.find_spec("scipy")
            roots = list(spec.submodule_search_locations or []) if spec else []
            paths = [path for root in roots for path in sorted(glob.glob(os.path.join(root, "signal", "_sosfilt.*")))
                     if path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))]
            if not paths:
                return False
            loader = importlib.machinery.ExtensionFileLoader("scipy.signal._sosfilt", paths[0])
            mod = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
            loader.exec_module(mod)
        kernel = mod._sosfilt
        x = np.array([[1.0, 0.0, 0.0]])
        zi = np.zeros((1, 1, 2))
        kernel(np.array([[1.0, 0.0, 0.0, 1.0, -0.5, 0.0]]), x, zi)
        if np.allclose(x, [[1.0, 0.5, 0.25]]) and np.allclose(zi, [[[0.125, 0.0]]]):
            return kernel
    except Exception:       # any failure: use the public function instead
        pass
    return False


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

"""Writing files so that a failure never leaves a half-written one behind: the outputs, and the
cache's clips, profiles and tiles (which parallel renders read while another writes)."""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np


def default_mode() -> int:
    """The permissions a normally created file gets (0666 less the umask); mkstemp uses 0600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_text_atomic(path: Path, text: str) -> None:
    """``text`` (UTF-8, ``\n`` line ends on every system) to ``path`` through a temporary file in its
    folder, renamed into place with a normal file's permissions."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_npy_atomic(path: Path, array) -> None:
    """``np.save`` to ``path`` through a temporary file in its folder (made if missing), renamed
    into place: readers in other processes never see half an array. Cache files keep
    mkstemp's private 0600 mode. A folder removed meanwhile (``meditate cache clear`` while a
    render runs) is made again."""
    path = Path(path)
    # through a buffer: np.save's own fwrite reports a full disk as "N requested and M
    # written", without its errno; a plain write says "No space left on device" (or EFBIG)
    buf = io.BytesIO()
    np.save(buf, array)
    for attempt in range(3):
        try:
            _write_bytes_atomic(path, buf.getbuffer())
            return
        except FileNotFoundError:
            if attempt == 2:
                raise
        except OSError as e:
            if e.filename is None and e.errno is not None:
                raise OSError(e.errno, e.strerror, str(path)) from e
            raise


def _write_bytes_atomic(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

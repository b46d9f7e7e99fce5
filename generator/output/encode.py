"""Streaming encoder with all-or-nothing output, and a decoder for tests/tools.

:class:`Encoder` writes to a hidden temporary file next to the destination
(``.NAME.part-XXXXXXXX``) and atomically renames it onto ``out_path`` only when
:meth:`Encoder.close` succeeds. On any exception inside the ``with`` block, or
on :meth:`Encoder.abort`, the temporary file is deleted: a partial output is
never left behind, and an existing file at ``out_path`` is left untouched.

Formats by extension:

* ``.mp3``: ffmpeg/libmp3lame, VBR by default (-V5 mono, -V4 stereo: it keeps
  the input's loudness, where CBR measured ~0.4 LU quieter), CBR when a bitrate
  is given, fed raw s16le through a stdin pipe. ffmpeg writes a Xing/LAME
  header carrying encoder delay and padding, so a gapless-aware decoder
  (ffmpeg, most players) returns the exact input length.
* ``.m4a`` / ``.m4b``: AAC-LC (ffmpeg's native ``aac``; the bundled build has no
  libfdk) in MP4, 64 kbit/s mono, 96 kbit/s stereo. Chapters are muxed by
  ffmpeg from an ffmetadata input: a QuickTime chapter text track (Apple) and a
  Nero ``chpl`` atom (ffprobe, mutagen, most Android players). An edit list
  hides the encoder's priming, so decoders return the input's length.
* ``.opus``: Ogg Opus (libopus), 48 kbit/s mono, 64 kbit/s stereo, VBR, at
  48 kHz (Opus knows no 44.1 kHz: ffmpeg resamples the input, and every Opus
  decoder returns 48 kHz). Chapters and tags are Vorbis comments (tags.py).
* ``.wav``: 16-bit PCM written in Python with :mod:`wave` (no ffmpeg).

Closing a coded (ffmpeg) encoder that received no samples raises :class:`AudioError`
(ffmpeg would leave an unplayable header-only file); an empty WAV is valid.

All float->int16 conversion goes through :func:`generator.audio.samples.to_int16`.
"""
from __future__ import annotations

import os
import queue
import threading
import re
import signal
import subprocess
import tempfile
import wave

try:
    import fcntl
except ImportError:     # not POSIX
    fcntl = None

import numpy as np

from ..audio.samples import SAMPLE_RATE, Audio, to_int16
from ..files import default_mode
from .tags import ffmetadata
from ..errors import AudioError
from ..ffmpeg import ffmpeg_exe
from ..interrupt import checkpoint, held

SUPPORTED = (".mp3", ".m4a", ".m4b", ".opus", ".wav")
CODED = (".mp3", ".m4a", ".m4b", ".opus")       # lossy: the decoded file differs from the PCM fed
VBR_QUALITY = {1: 5, 2: 4}    # LAME -V: about 70-90 kbit/s mono speech, 130-170 stereo with a bed
# kbit/s by channels (mono: speech alone; stereo: speech over a bed); see the README's sizes
BITRATES = {".m4a": {1: 64, 2: 96}, ".opus": {1: 48, 2: 64}}
OPUS_RATE = 48000


class _Feeder:
    """Writes queued chunks to a pipe on its own thread (a pipe write releases the GIL)."""

    def __init__(self, pipe, depth: int = 8):
        self.pipe = pipe
        self.q: queue.Queue = queue.Queue(maxsize=depth)
        self.failed = False
        self.thread = threading.Thread(target=self._run, name="ffmpeg-feeder", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            data = self.q.get()
            if data is None:
                return
            if self.failed:
                continue          # keep draining so put() never blocks forever
            try:
                self.pipe.write(data)
            except (BrokenPipeError, OSError, ValueError):
                self.failed = True

    def put(self, data: bytes) -> bool:
        if self.failed:
            return False
        self.q.put(data)
        return not self.failed

    def finish(self) -> bool:
        """Wait until everything queued is written (or failed); True if all of it was."""
        if self.thread.is_alive():
            self.q.put(None)
            self.thread.join()
        return not self.failed


PIPE_BYTES = 1 << 20


def _widen_pipe(pipe) -> None:
    """Give ffmpeg's stdin pipe 1 MB (Linux), not 64 KB: ~30 ms of encoding instead of ~2 ms.

    The feeder thread needs the GIL between writes, and the mixer may hold it for a
    switch interval (5 ms); with a 64 KB pipe ffmpeg ran dry every chunk and a
    20-minute render's encode took ~2 s longer than ffmpeg alone.
    """
    if fcntl is None:
        return
    try:
        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (OSError, ValueError, AttributeError):
        pass            # not Linux, or a lower pipe-max-size: the default pipe still works


def _exit_reason(rc) -> str:
    """What ended ffmpeg, in words: a signal by name (SIGXFSZ: the file size limit), else its code."""
    if rc is not None and rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        hint = "; the file size limit (ulimit -f) was reached" if name == "SIGXFSZ" else ""
        return f"ffmpeg was ended by {name}{hint}"
    return f"exit code {rc}"


def _last_line(text: str, default: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # without ffmpeg's "[out#0/mp3 @ 0x55…] " prefix: "Error closing file: No space left on device"
    return re.sub(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*", "", lines[-1]) if lines else default


class Encoder:
    """``with Encoder("out.mp3", channels=2) as enc: enc.write(chunk)``."""

    def __init__(self, out_path, rate: int = SAMPLE_RATE, channels: int = 1, bitrate_kbps: int | None = None,
                 finalize=None, chapters=()):
        self.out_path = os.fspath(out_path)
        self.rate = int(rate)
        self.channels = int(channels)
        if self.channels not in (1, 2):
            raise AudioError(f"only mono or stereo output is supported, not {channels} channels", path=self.out_path)
        self.ext = os.path.splitext(self.out_path)[1].lower()
        if self.ext not in SUPPORTED:
            raise AudioError(
                f"unsupported output format {self.ext or '(no extension)'!r}; use "
                f"{', '.join(SUPPORTED[:-1])} or {SUPPORTED[-1]}", path=self.out_path
            )
        # no bitrate: LAME's VBR (V5 mono, V4 stereo), which keeps the level and peaks of the input
        # (CBR at 64-192k measured about 0.4 LU quieter after decoding) and encodes faster
        self.bitrate_kbps = int(bitrate_kbps) if bitrate_kbps else None
        self.frames_written = 0
        self.finalize = finalize  # called with the finished temporary file before the rename (e.g. tagging)
        self.chapters = list(chapters)  # (title, start s, end s): muxed into MP4 (other formats: tags.py)
        self._feeder = None
        self._closed = False
        self._proc = None
        self._err = None
        self._wav = None
        self._meta = None
        folder = os.path.dirname(os.path.abspath(self.out_path))
        if not os.path.isdir(folder):
            raise AudioError("output folder does not exist", path=self.out_path)
        self.tmp_path = None
        try:
            # a signal meanwhile is held to the end of this block (then raised inside the try):
            # between mkstemp and its name, or Popen and its handle, no clean-up could see them
            with held():
                fd, self.tmp_path = tempfile.mkstemp(prefix="." + os.path.basename(self.out_path) + ".part-",
                                                     dir=folder)
                os.close(fd)
                if self.ext == ".wav":
                    self._wav = wave.open(self.tmp_path, "wb")
                    self._wav.setnchannels(self.channels)
                    self._wav.setsampwidth(2)
                    self._wav.setframerate(self.rate)
                else:
                    self._start_ffmpeg()
        except BaseException:
            self._cleanup()
            raise

    # -- ffmpeg ------------------------------------------------------------------
    def lame_args(self) -> list:
        if self.bitrate_kbps:
            return ["-b:a", f"{self.bitrate_kbps}k"]
        return ["-q:a", str(VBR_QUALITY.get(self.channels, 4))]

    def codec_args(self) -> list:
        """ffmpeg's output options for the format: codec, rate, container."""
        if self.ext == ".mp3":
            return ["-c:a", "libmp3lame", *self.lame_args(), "-id3v2_version", "3", "-write_xing", "1", "-f", "mp3"]
        kbps = self.bitrate_kbps or BITRATES[".opus" if self.ext == ".opus" else ".m4a"][self.channels]
        if self.ext == ".opus":
            return ["-c:a", "libopus", "-b:a", f"{kbps}k", "-vbr", "on", "-application", "audio",
                    "-ar", str(OPUS_RATE), "-f", "ogg"]
        # faststart: the index first, so a podcast app can play while it downloads
        return ["-c:a", "aac", "-b:a", f"{kbps}k", "-movflags", "+faststart", "-f", "mp4"]

    def _chapter_input(self) -> list:
        """An ffmetadata file with the chapters as ffmpeg's second input (MP4 only)."""
        if not self.chapters or self.ext not in (".m4a", ".m4b"):
            return []
        self._meta = tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".ffmeta", delete=False)
        with self._meta as f:
            f.write(ffmetadata(self.chapters))
        return ["-f", "ffmetadata", "-i", self._meta.name, "-map", "0:a", "-map_chapters", "1"]

    def _start_ffmpeg(self) -> None:
        self._err = tempfile.TemporaryFile()  # a file, not a PIPE: ffmpeg can never block on stderr
        cmd = [
            ffmpeg_exe(), "-hide_banner", "-v", "error", "-y",
            "-f", "s16le", "-ar", str(self.rate), "-ac", str(self.channels), "-i", "pipe:0",
            *self._chapter_input(),
            "-map_metadata:g", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
            *self.codec_args(), self.tmp_path,
        ]
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._err)
        except OSError as e:
            raise AudioError(f"could not start ffmpeg: {e}", path=self.out_path) from e
        _widen_pipe(self._proc.stdin)

    def _ffmpeg_error(self) -> str:
        if self._err is None:
            return "unknown error"
        try:
            self._err.seek(0)
            text = self._err.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            text = ""
        rc = self._proc.returncode if self._proc is not None else None
        return _last_line(text, _exit_reason(rc))

    # -- public ------------------------------------------------------------------
    def write(self, chunk: np.ndarray) -> None:
        if self._closed:
            raise AudioError("write() after close()", path=self.out_path)
        a = np.asarray(chunk)
        if a.ndim == 2 and a.shape[1] == 1 and self.channels == 1:
            a = a[:, 0]
        ok = (a.ndim == 1 and self.channels == 1) or (a.ndim == 2 and a.shape[1] == self.channels)
        if not ok:
            raise AudioError(f"chunk shape {a.shape} does not match {self.channels} channel(s)", path=self.out_path)
        if a.shape[0] == 0:
            return
        data = to_int16(a).astype("<i2", copy=False).tobytes()
        if self._wav is not None:
            self._wav.writeframes(data)
        else:
            # a feeder thread writes to ffmpeg, so mixing the next chunk overlaps encoding this one
            # (a blocking pipe write would otherwise take turns with the mixer on the two cores)
            if self._feeder is None:
                self._feeder = _Feeder(self._proc.stdin)
            if not self._feeder.put(data):
                self._proc.wait()
                raise AudioError(f"ffmpeg failed while encoding: {self._ffmpeg_error()}", path=self.out_path)
        self.frames_written += a.shape[0]

    def close(self) -> None:
        """Finish encoding and atomically move the file into place."""
        if self._closed:
            return
        try:
            if self._wav is not None:
                self._wav.close()
                self._wav = None
            else:
                if self.frames_written == 0:
                    # ffmpeg would produce a header-only file that no player can open
                    raise AudioError(f"no audio was written; refusing to create an empty {self.ext[1:].upper()}",
                                     path=self.out_path)
                fed = self._feeder.finish() if self._feeder is not None else True
                try:
                    self._proc.stdin.close()
                except (BrokenPipeError, OSError):
                    pass
                checkpoint("encode")
                rc = self._proc.wait()
                if not fed and rc == 0:
                    raise AudioError("could not write to ffmpeg", path=self.out_path)
                if rc != 0:
                    raise AudioError(f"ffmpeg failed while encoding: {self._ffmpeg_error()}", path=self.out_path)
            os.chmod(self.tmp_path, default_mode())
            if self.finalize is not None:
                self.finalize(self.tmp_path)
            os.replace(self.tmp_path, self.out_path)
        except BaseException:
            self._cleanup()
            raise
        self._closed = True
        self._close_err()

    def abort(self) -> None:
        """Stop and delete the temporary file; ``out_path`` is never touched."""
        if self._closed:
            return
        self._cleanup()

    def _cleanup(self) -> None:
        self._closed = True
        if self._wav is not None:
            try:
                self._wav.close()
            except Exception:
                pass
            self._wav = None
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._feeder is not None:
            self._feeder.finish()          # its write fails on the dead pipe; it stops
            self._feeder = None
        if self._proc is not None:
            try:
                self._proc.stdin.close()
            except Exception:
                pass
        if self.tmp_path is not None:
            try:
                os.unlink(self.tmp_path)
            except FileNotFoundError:
                pass
        self._close_err()

    def _close_err(self) -> None:
        if self._err is not None:
            self._err.close()
            self._err = None
        if self._meta is not None:
            try:
                os.unlink(self._meta.name)
            except FileNotFoundError:
                pass
            self._meta = None

    def __enter__(self) -> "Encoder":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False

    def __del__(self):  # last resort: never leave a .part file behind
        try:
            if not self._closed:
                self._cleanup()
        except Exception:
            pass


def encode(out_path, audio: Audio, bitrate_kbps: int | None = None) -> None:
    """Encode a whole :class:`Audio` in one go."""
    with Encoder(out_path, audio.sample_rate, audio.channels, bitrate_kbps) as enc:
        enc.write(audio.samples)


_OUT_STREAM_RE = re.compile(r"Output #0.*?Stream #0:0.*?Audio: pcm_f32le, (\d+) Hz, ([^,\n]+)", re.S)
_LAYOUTS = {"mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "quad": 4, "4.0": 4, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}


def _layout_channels(layout: str) -> int:
    layout = layout.strip()
    m = re.match(r"(\d+) channels", layout)
    if m:
        return int(m.group(1))
    base = layout.split("(")[0]
    if base in _LAYOUTS:
        return _LAYOUTS[base]
    raise AudioError(f"unknown channel layout {layout!r}")


def decode(path, rate: int = SAMPLE_RATE, channels: int | None = None) -> Audio:
    """Decode any ffmpeg-readable file to float32 at ``rate`` (channels kept unless given)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioError("file not found", path=path)
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-i", path, "-vn", "-ar", str(rate)]
    if channels:
        cmd += ["-ac", str(channels)]
    cmd += ["-f", "f32le", "-c:a", "pcm_f32le", "pipe:1"]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        raw, _ = proc.communicate()
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise AudioError(f"could not decode audio: {_last_line(text, f'ffmpeg exit code {proc.returncode}')}", path=path)
    if channels:
        ch = int(channels)
    else:
        m = _OUT_STREAM_RE.search(text)
        if not m:
            raise AudioError("could not determine the channel count of the decoded audio", path=path)
        ch = _layout_channels(m.group(2))
    data = np.frombuffer(raw, dtype="<f4")
    data = data[: (data.size // ch) * ch]
    samples = data.copy() if ch == 1 else data.reshape(-1, ch).copy()
    return Audio(samples.astype(np.float32, copy=False), rate)


def round_trip(samples: np.ndarray, rate: int = SAMPLE_RATE, bitrate_kbps: int | None = None,
               ext: str = ".mp3") -> np.ndarray:
    """``samples`` (float32, mono 1-D or ``(n, 2)``) through the ``ext`` codec with the settings
    :class:`Encoder` uses and back: what a listener's decoder returns (int16 rounding included),
    at ``rate`` (an Opus decoder's 48 kHz resampled back; the same length but for resampling's
    last few samples)."""
    with tempfile.TemporaryDirectory(prefix="meditate-trip-") as tmp:
        path = os.path.join(tmp, "excerpt" + ext)
        channels = 1 if np.ndim(samples) == 1 else int(np.shape(samples)[1])
        try:
            with Encoder(path, rate, channels, bitrate_kbps) as enc:
                enc.write(samples)
            return decode(path, rate, channels).samples
        except AudioError as e:     # not the user's file: don't name the temporary one
            raise AudioError(f"{e.message} (encoding an excerpt to measure the MP3 coding)") from e

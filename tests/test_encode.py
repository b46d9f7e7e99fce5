"""Streaming encoder: exact durations, atomic output, clean failure."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import wave

import numpy as np
import pytest

from generator.output import encode as encode_mod
from generator.audio.samples import to_int16
from generator.audio.loudness import measure
from generator.output.encode import Encoder, decode, encode
from generator.audio.samples import Audio
from generator.errors import AudioError

from tests.master_signals import FS, feed_in_chunks, speech_like


def leftovers(folder):
    return [p for p in os.listdir(folder) if ".part-" in p]


@pytest.mark.parametrize("channels", [1, 2])
def test_wav_round_trip_is_exact(tmp_path, channels):
    x = speech_like(2.5, channels, seed=channels, level=0.2)
    path = tmp_path / "out.wav"
    with Encoder(path, channels=channels) as enc:
        feed_in_chunks(enc.write, x, [1000, 1, 4096])
    assert enc.frames_written == x.shape[0]
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (channels, 2, FS, x.shape[0])
    a = decode(path)
    assert a.channels == channels and a.sample_rate == FS
    assert abs(a.frames - x.shape[0]) / FS <= 0.001
    np.testing.assert_array_equal(a.samples, to_int16(x).astype(np.float32) / 32768.0)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("channels", [1, 2])
def test_default_vbr_keeps_length_and_loudness(tmp_path, channels):
    """Without --bitrate, LAME VBR: the decoded file keeps the input's length and loudness."""
    x = speech_like(12.0, channels, seed=5, level=0.2)
    path = tmp_path / "v.mp3"
    with Encoder(path, channels=channels) as enc:
        feed_in_chunks(enc.write, x, [FS // 2])
    a = decode(path)
    assert a.channels == channels and abs(a.frames - x.shape[0]) / FS <= 0.03
    assert measure(a.samples[: x.shape[0]])[0] == pytest.approx(measure(x)[0], abs=0.15)


@pytest.mark.parametrize("channels,kbps", [(1, 64), (2, 128)])
def test_mp3_duration_channels_and_bitrate(tmp_path, channels, kbps):
    from mutagen.mp3 import MP3

    x = speech_like(6.0, channels, seed=7, level=0.2)
    path = tmp_path / "out.mp3"
    with Encoder(path, channels=channels, bitrate_kbps=kbps) as enc:
        feed_in_chunks(enc.write, x, [FS // 3, 17])
    info = MP3(str(path)).info
    assert info.bitrate == pytest.approx(kbps * 1000, rel=0.01)  # mutagen derives it from the Xing header
    assert info.channels == channels
    a = decode(path)
    assert a.channels == channels
    # the Xing/LAME header carries encoder delay + padding, so the decoded length is exact-ish
    assert abs(a.frames - x.shape[0]) / FS <= 0.03
    # and the decoded audio lines up with the input (no added delay)
    ref = x if channels == 1 else x[:, 0]
    got = a.samples if channels == 1 else a.samples[:, 0]
    n = min(ref.size, got.size)
    corr = np.correlate(got[:n][FS:FS + 8192], ref[:n][FS - 64:FS + 8192 + 64], mode="valid")
    assert int(np.argmax(corr)) == 64
    assert leftovers(tmp_path) == []


def test_explicit_bitrate_and_decode_options(tmp_path):
    from mutagen.mp3 import MP3

    x = speech_like(2.0, 1, seed=1)
    path = tmp_path / "o.mp3"
    encode(path, Audio(x), bitrate_kbps=96)
    assert MP3(str(path)).info.bitrate == pytest.approx(96000, rel=0.01)
    b = decode(path, rate=22050, channels=2)
    assert b.channels == 2 and b.sample_rate == 22050
    assert abs(b.frames - x.shape[0] / 2) <= 0.03 * 22050


def test_exception_inside_with_leaves_nothing(tmp_path):
    for ext in ("mp3", "wav"):
        path = tmp_path / f"out.{ext}"
        with pytest.raises(RuntimeError):
            with Encoder(path, channels=2) as enc:
                enc.write(np.zeros((FS, 2), np.float32))
                assert len(leftovers(tmp_path)) == 1  # writing goes to a hidden temp file
                raise RuntimeError("renderer crashed")
        assert not path.exists()
        assert leftovers(tmp_path) == []


def test_failure_keeps_previous_output_and_abort(tmp_path):
    path = tmp_path / "out.mp3"
    path.write_bytes(b"previous good file")
    with pytest.raises(KeyboardInterrupt):
        with Encoder(path) as enc:
            enc.write(np.zeros(1000, np.float32))
            raise KeyboardInterrupt
    assert path.read_bytes() == b"previous good file"
    enc = Encoder(tmp_path / "x.wav")
    enc.write(np.zeros(100, np.float32))
    enc.abort()
    assert not (tmp_path / "x.wav").exists() and leftovers(tmp_path) == []
    with pytest.raises(AudioError):
        enc.write(np.zeros(10, np.float32))


def test_bad_extension_shape_and_folder(tmp_path):
    for name in ("out.ogg", "out", "out.MP4"):
        with pytest.raises(AudioError, match="unsupported output format"):
            Encoder(tmp_path / name)
    assert os.listdir(tmp_path) == []
    with pytest.raises(AudioError, match="does not exist"):
        Encoder(tmp_path / "nope" / "out.mp3")
    with pytest.raises(AudioError):
        with Encoder(tmp_path / "o.wav", channels=2) as enc:
            enc.write(np.zeros(100, np.float32))  # mono chunk into a stereo file
    assert os.listdir(tmp_path) == []
    # upper-case extension is fine
    with Encoder(tmp_path / "UP.WAV") as enc:
        enc.write(np.zeros(10, np.float32))
    assert (tmp_path / "UP.WAV").exists()


def test_empty_mp3_is_refused_but_empty_wav_is_fine(tmp_path):
    with pytest.raises(AudioError, match="empty"):
        with Encoder(tmp_path / "e.mp3"):
            pass
    assert os.listdir(tmp_path) == []
    with Encoder(tmp_path / "e.wav"):
        pass
    assert decode(tmp_path / "e.wav").frames == 0


def _fake_ffmpeg(tmp_path, body):
    script = tmp_path / "fake-ffmpeg.sh"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_ffmpeg_error_is_reported_with_its_last_line(tmp_path, monkeypatch):
    # exits at once: writing then hits a broken pipe or close() sees the exit code
    fake = _fake_ffmpeg(tmp_path, 'echo "some noise" >&2\necho "Unknown encoder libmp3lame" >&2\nexit 1\n')
    monkeypatch.setattr(encode_mod, "ffmpeg_exe", lambda: fake)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(AudioError, match="Unknown encoder libmp3lame"):
        with Encoder(out / "x.mp3") as enc:
            for _ in range(20):
                enc.write(np.zeros(FS, np.float32))
    assert os.listdir(out) == []


def test_chatty_ffmpeg_does_not_deadlock(tmp_path, monkeypatch):
    # 1 MB on stderr before reading stdin would block forever if stderr were an undrained PIPE
    fake = _fake_ffmpeg(
        tmp_path,
        'head -c 1000000 /dev/zero | tr "\\0" "x" >&2\necho >&2\necho "final words" >&2\n'
        'out=""; for a in "$@"; do out="$a"; done\ncat > "$out"\n',
    )
    monkeypatch.setattr(encode_mod, "ffmpeg_exe", lambda: fake)
    path = tmp_path / "x.mp3"
    with Encoder(path) as enc:
        for _ in range(10):
            enc.write(np.zeros(FS, np.float32))
    assert path.stat().st_size == 10 * FS * 2  # the fake 'encoder' stores the raw s16le it was fed


def test_a_ctrl_c_while_ffmpeg_starts_leaves_no_file_and_no_encoder(tmp_path, monkeypatch):
    """Ctrl-C after Popen has started ffmpeg but before it returns the handle: held to the end of
    the start, then raised where the clean-up can stop ffmpeg. (Raised at once, ffmpeg ran on
    unseen and made its output file again after the clean-up had removed it.)"""
    fake = _fake_ffmpeg(tmp_path, 'sleep 0.3\nout=""; for a in "$@"; do out="$a"; done\n: > "$out"\ncat > /dev/null\n')
    monkeypatch.setattr(encode_mod, "ffmpeg_exe", lambda: fake)
    started, real = [], subprocess.Popen

    def popen_then_ctrl_c(*args, **kwargs):
        proc = real(*args, **kwargs)
        started.append(proc)
        signal.raise_signal(signal.SIGINT)
        return proc

    monkeypatch.setattr(subprocess, "Popen", popen_then_ctrl_c)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(KeyboardInterrupt):
        Encoder(out / "x.mp3")
    monkeypatch.undo()
    proc, = started
    try:
        proc.wait(timeout=2)        # stopped by the clean-up
    finally:
        if proc.poll() is None:
            proc.stdin.close()
            proc.wait(timeout=5)
    assert os.listdir(out) == []


def test_decode_errors(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        decode(tmp_path / "missing.mp3")
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(AudioError):
        decode(bad)

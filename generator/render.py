"""The pipeline: script -> speech clips -> fitted timeline -> mix -> master -> file.

Rendering streams: pass 1 measures the mix's loudness chunk by chunk, pass 2
mixes again, applies the gain and limiter and feeds the encoder. Nothing the
size of the practice is ever held in memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .audio import SAMPLE_RATE
from .errors import MeditateError, ProfileError
from .files import write_text_atomic
from .profiles import VoiceProfile, load_profile
from .progress import Progress
from .script import Breathe, Script, Speech, load_script
from .speech import SpeechStore
from .timeline import Timeline, build, voice_for_items
from .transcript import to_vtt

DEFAULT_LOUDNESS = -16.0
TRUE_PEAK_CEILING = -1.0


@dataclass
class RenderOptions:
    variables: dict = field(default_factory=dict)
    length: float | None = None
    voice: str | None = None
    ambience: str | None = None
    ambience_level: float | None = None
    breath_cues: str | None = None
    bell: str | None = None
    loudness: float = DEFAULT_LOUDNESS
    bitrate: int | None = None
    use_cache: bool = True
    strict_variables: bool = True
    album: str | None = None
    track: tuple[int, int] | None = None
    engine: str | None = None        # force an engine (tests: "fake")


@dataclass
class Prepared:
    script: Script
    timeline: Timeline
    cue_clips: dict
    store: SpeechStore


@dataclass
class RenderResult:
    out: Path
    vtt: Path
    duration: float
    loudness: float
    true_peak: float
    synthesized: int
    reused: int


def _profile_loader(script: Script):
    extra = script.path.resolve().parent.parent / "voices"
    cache: dict[str, VoiceProfile] = {}

    def load(name: str, line: int | None) -> VoiceProfile:
        if name not in cache:
            try:
                cache[name] = load_profile(name, extra)
            except ProfileError as e:
                if e.path:      # the profile file itself is broken: point at it
                    raise
                where = line or script.lines.get("voice")
                raise ProfileError(e.message + "; or add voices/" + name + ".yaml", str(script.path), where)
        return cache[name]

    return load


def load(path, opts: RenderOptions) -> Script:
    overrides = {"voice": opts.voice, "ambience": opts.ambience, "ambience_level": opts.ambience_level,
                 "breath_cues": opts.breath_cues, "bell": opts.bell}
    script = load_script(path, opts.variables, strict_variables=opts.strict_variables, overrides=overrides)
    if opts.length is not None:
        script.settings.length = opts.length
    return script


def prepare(path, opts: RenderOptions, progress: Progress | None = None,
            store: SpeechStore | None = None) -> Prepared:
    """Everything but the audio: speech synthesized (or from cache) and the fitted timeline."""
    from . import sounds

    script = load(path, opts)
    voiced = voice_for_items(script, _profile_loader(script))
    store = store or SpeechStore(use_cache=opts.use_cache, engine_override=opts.engine)
    speech_idx = [i for i, (it, _) in enumerate(voiced) if isinstance(it, Speech)]
    cue_words = []
    if script.settings.breath_cues == "spoken":
        seen = set()
        for it, prof in voiced:
            if isinstance(it, Breathe) and prof.name not in seen:
                seen.add(prof.name)
                cue_words += [(prof, w) for w in ("in", "hold", "out")]
    progress = progress or Progress(enabled=False)
    progress.start(len(speech_idx) + len(cue_words), "speaking")
    clips = {}
    try:
        for i in speech_idx:
            it, prof = voiced[i]
            try:
                clips[i] = store.clip(it.text, prof)
            except MeditateError as e:
                if e.path is None:
                    e.path, e.line = str(script.path), it.line
                raise
            progress.advance()
        cue_clips = {}
        for prof, w in cue_words:
            cue_clips[(prof.name, w)] = store.clip(w.capitalize() + ".", prof)
            progress.advance()
    finally:
        progress.finish()
    bell_len = len(sounds.bell(script.settings.bell)) / SAMPLE_RATE if script.settings.bell != "none" else 0.0
    timeline = build(script, voiced, clips, bell_len, sounds.BELL_SPACING, target=script.settings.length)
    return Prepared(script, timeline, cue_clips, store)


def make_mixer(p: Prepared):
    from .ambience import make_bed
    from .mixer import Mixer

    s = p.script.settings
    bed = None
    if s.ambience and s.ambience != "none":
        try:
            bed = make_bed(s.ambience, rate=SAMPLE_RATE, base_dir=p.script.path.resolve().parent)
        except MeditateError as e:
            if e.path is None:
                e.path = str(p.script.path)
            if e.line is None:
                e.line = p.script.lines.get("ambience")
            raise
    return Mixer(p.timeline, breath_cues=s.breath_cues, bell=s.bell, cue_clips=p.cue_clips,
                 bed=bed, bed_gain_db=s.ambience_level)


def default_output(script_path) -> Path:
    return Path("audio_out") / (Path(script_path).stem + ".mp3")


def render(path, out: Path | None, opts: RenderOptions, progress: Progress | None = None,
           store: SpeechStore | None = None) -> RenderResult:
    from .encode import Encoder
    from .loudness import LoudnessMeter
    from .master import Master, mastering_gain
    progress = progress or Progress(enabled=False)
    out = Path(out) if out else default_output(path)
    if out.suffix.lower() not in (".mp3", ".wav"):
        raise MeditateError(f"output must end in .mp3 or .wav, not {out.suffix or '(none)'!r}", str(out))
    p = prepare(path, opts, progress, store)
    mixer = make_mixer(p)
    ch = mixer.channels
    n_chunks = -(-p.timeline.frames // 65536)

    # pass 1: measure
    meter = LoudnessMeter(SAMPLE_RATE, ch)
    progress.start(2 * n_chunks, "mixing")
    for chunk in mixer.chunks():
        meter.feed(chunk)
        progress.advance()
    measured = meter.integrated_lufs()
    gain = mastering_gain(measured, opts.loudness) if measured > -70 else 1.0

    # pass 2: master and encode (the encoder writes a temporary file, renamed at the end)
    out.parent.mkdir(parents=True, exist_ok=True)
    vtt_path = out.with_suffix(".vtt")
    check = LoudnessMeter(SAMPLE_RATE, ch)
    master = Master(SAMPLE_RATE, ch, gain, TRUE_PEAK_CEILING)
    s = p.script.settings
    try:
        with Encoder(out, SAMPLE_RATE, ch, opts.bitrate, finalize=lambda tmp: _tag(Path(tmp), out, p, opts)) as enc:
            for chunk in mixer.chunks():
                y = master.process(chunk)
                if len(y):
                    enc.write(y)
                    check.feed(y)
                progress.advance()
            y = master.flush()
            if len(y):
                enc.write(y)
                check.feed(y)
        write_text_atomic(vtt_path, to_vtt(p.timeline, s.title))
    except BaseException:
        progress.finish()
        raise
    progress.finish()
    return RenderResult(out, vtt_path, p.timeline.duration, check.integrated_lufs(), check.true_peak_dbtp(),
                        p.store.synthesized, p.store.reused)


def _tag(tmp: Path, out: Path, p: Prepared, opts: RenderOptions) -> None:
    if out.suffix.lower() != ".mp3":
        return
    from .tags import write_tags

    s = p.script.settings
    chapters = [(c.title, c.start / SAMPLE_RATE, c.end / SAMPLE_RATE) for c in p.timeline.chapters]
    write_tags(tmp, title=s.title, artist=s.author, album=opts.album, track=opts.track,
               comment=s.description, chapters=chapters, fmt="mp3")

"""The pipeline: script -> speech clips -> fitted timeline -> mix -> master -> file.

Rendering streams: pass 1 measures the mix's loudness chunk by chunk, pass 2
mixes again, applies the gain and limiter and feeds the encoder. Nothing the
size of the practice is ever held in memory.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .audio import ambience, sounds
from .audio.loudness import LoudnessMeter, block_energies_from_segments, gated_loudness
from .audio.master import Master
from .audio.samples import SAMPLE_RATE
from .engines import NEURAL_INSTALL, get_engine, notice_once, unavailable
from .errors import AudioError, MeditateError, ProfileError
from .output.encode import CODED, Encoder, round_trip
from .output.files import write_text_atomic
from .output.tags import write_tags
from .interrupt import checkpoint
from .mixer import CHUNK, Mixer
from .script.lexicon import Lexicon, folder_lexicon, parse_entries
from .script.profiles import DEFAULT_PROFILE, DRAFT_PROFILE, VoiceProfile, load_profile, voice_dirs
from .progress import Progress
from .script.languages import CUE_KEYS, CUE_WORDS, base, cue_phrase, cue_words, espeak_code, espeak_languages
from .cues.breathe import Breathe
from .cues.speech import Speech
from .script.parse import Script, check_cue_words, load_script
from .script.template import render_text
from .speech import SpeechStore
from .timeline import Timeline, build, excerpt, find_chapter, voice_for_items
from .output.transcript import to_vtt
from .yielding import in_background, run_yielding

DEFAULT_LOUDNESS = -16.0
TRUE_PEAK_CEILING = -1.0
MP3_PEAK_MARGIN = {1: 2.0, 2: 1.5}   # dB under the ceiling the limiter aims for MP3, by channels: LAME
                                     # raised tonal peaks by up to 1.1 dB (mono VBR, stereo 48k CBR)
PEAK_MARGIN = {".mp3": MP3_PEAK_MARGIN, ".m4a": {1: 3.5, 2: 2.0}, ".m4b": {1: 3.5, 2: 2.0},
               ".opus": {1: 2.5, 2: 2.5}}   # the same per codec (measured: see the README's formats)
SEGMENT = SAMPLE_RATE // 10  # the loudness meter's 100 ms segment
LOUDNESS_TOLERANCE = 0.3    # LU: a mix further than this from its prediction is mixed again
MAX_PASSES = 2              # encoding passes at most (the last one is kept whatever it measures)
BED_PROBE = 60 * SAMPLE_RATE    # a minute of the bed: long enough to average the ocean's swells
BED_PROBE_WHOLE = 270 * SAMPLE_RATE   # up to 4.5 min the whole bed is measured, in step with the voice
GATE_MARGIN = 1.0           # LU: the bed is kept at least this far from the relative gate ...
GATE_SWING = 0.2            # LU: ... when blocks that near it could move the integrated loudness by more
BED_STEP = 0.5              # dB: the bed is moved in steps of this
MAX_BED_SHIFT = 20.0        # dB: at most this far down ...
MAX_BED_RAISE = 6.0         # dB: ... or this far up
MAX_VOICE_PUSH = 1.0        # dB the voice may be raised over its own level at the target to count a bed in
EXCERPT = 20 * SAMPLE_RATE  # samples of the mix sent through the MP3 encoder to measure what coding does
SAY_PAD = 0.25              # seconds of silence before and after ``meditate say``'s phrase
log = logging.getLogger(__name__)


@dataclass
class RenderOptions:
    """What ``meditate render`` sets on the command line; None (or the default) keeps the script's own."""

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
    pronounce: dict = field(default_factory=dict)   # word -> respelling, over every lexicon (a people file's)
    strict_voice: bool = False       # a profile whose engine is unavailable is an error, not a fallback
    draft: bool = False              # fast draft: espeak voices (piper profiles' fallbacks), no bed, WAV
    keep_other_renders: bool = False  # refuse to replace an output rendered with other variables
    author: str | None = None        # the artist tag instead of the script's (a series' author:)
    from_chapter: str | None = None  # a preview: start at this chapter (its title or number)
    first: float | None = None       # a preview: only this many seconds


@dataclass
class Prepared:
    script: Script
    timeline: Timeline
    cue_clips: dict
    store: SpeechStore


@dataclass
class RenderResult:
    """What a render wrote (``out``, the transcript ``vtt``) and measured; ``duration`` in seconds."""

    out: Path
    vtt: Path
    duration: float
    loudness: float          # integrated loudness of the file: the mix's, measured, and its coding's, modelled
    synthesized: int
    reused: int
    warnings: list = field(default_factory=list)   # the script's warnings (ScriptErrors), for the CLI
    passes: int = 1          # mixing passes (more than one: the retry caught a prediction that was off)
    bed_shift: float = 0.0   # dB the bed was moved from the script's level, clear of the loudness gate
    bed_level: float | None = None   # the script's (author's) bed level, dBFS
    chapters: list = field(default_factory=list)   # (title, start s, end s), as tagged

    def notes(self) -> str:
        """What the summary line adds: a bed level changed, more than one mixing pass."""
        out = ""
        if self.bed_shift:
            out += "; " + bed_note(self.bed_level, self.bed_shift)
        if self.passes > 1:
            out += f"; {self.passes} mixing passes"
        return out


def bed_note(level: float, shift: float) -> str:
    return (f"ambience_level {level:g} dBFS set to {level + shift:g} ({shift:+g} dB) to keep the bed "
            f"clear of the loudness gate")


def speaking_profile(prof: VoiceProfile, opts: RenderOptions, extra: Path | None = None,
                     language: str | None = None, where: tuple = (None, None)) -> VoiceProfile:
    """The profile that speaks for ``prof`` here: a Piper profile whose voice is not installed,
    does not speak the script's ``language`` or is used in a draft becomes its espeak ``fallback``
    (the first for want of the voice noticed once on stderr; with ``strict_voice`` an error)."""
    if opts.engine or os.environ.get("MEDITATE_ENGINE") or prof.engine != "piper":
        return prof
    why = None if opts.draft else unavailable(prof)
    if why is not None and opts.strict_voice:
        raise ProfileError(f"voice profile {prof.name!r} cannot speak here: {why} "
                           f"(install it with {NEURAL_INSTALL}, or drop --strict-voice)", *where)
    if why is None and not opts.draft and _speaks_language(prof, language):
        return prof
    fallback = load_profile(prof.fallback or DRAFT_PROFILE, extra)
    if fallback.engine == "piper":
        raise ProfileError(f"voice profile {prof.name!r}: its fallback {fallback.name!r} must be "
                           f"an espeak profile", *where)
    log.info("voice %s -> %s: %s", prof.name, fallback.name, why or ("a draft" if opts.draft else
                                                                 f"it does not speak {language!r}"))
    if why is not None:
        notice_once("piper", f"the natural voice is not available ({why}); speaking with espeak "
                             f"instead ({prof.name} -> {fallback.name}). Install it with {NEURAL_INSTALL}.")
    elif not opts.draft and where[1] is not None:     # a voice the script names (the default is chosen)
        notice_once(f"language {prof.name} {language}",
                    f"voice profile {prof.name!r} does not speak {language!r}; speaking with espeak in "
                    f"{language} instead ({prof.name} -> {fallback.name}). Name a Piper .onnx voice that "
                    f"speaks it in a profile to hear it natural (meditate voices lists them by language).")
    return fallback


def profile_loader(script: Script, opts: RenderOptions | None = None):
    """``load(name, line)`` -> the profile to speak with; with ``opts`` (a render, not a check)
    as :func:`speaking_profile` decides."""
    extra = script.path.resolve().parent.parent / "voices"
    cache: dict[str, VoiceProfile] = {}

    def speakable(prof: VoiceProfile, line: int | None) -> VoiceProfile:
        if opts is None:
            return prof
        where = str(script.path), line or script.lines.get("voice")
        return speaking_profile(prof, opts, extra, script.settings.language, where)

    def load(name: str, line: int | None) -> VoiceProfile:
        if name not in cache:
            try:
                prof = speakable(load_profile(name, extra), line)
                cache[name] = in_language(prof, script.settings.language)
            except ProfileError as e:
                if e.path:      # the profile file itself is broken: point at it
                    raise
                where = line or script.lines.get("voice")
                raise ProfileError(e.message + "; or add voices/" + name + ".yaml", str(script.path), where)
        return cache[name]

    return load


def in_language(prof: VoiceProfile, language: str | None) -> VoiceProfile:
    """``prof`` speaking ``language`` (every engine is told it): an espeak voice becomes that
    language's, keeping its variant (en-us+f3 -> de+f3); a Piper voice already speaks it."""
    if not language:
        return prof
    if prof.engine == "espeak":
        variant = prof.voice.partition("+")[2]
        return replace(prof, voice=espeak_code(language) + ("+" + variant if variant else ""), language=language)
    return replace(prof, language=language)


@dataclass
class LanguageVoice:
    code: str                 # es
    name: str                 # Spanish (Spain), from espeak-ng's data
    default: VoiceProfile     # what a practice in this language naming no voice speaks with
    piper: list               # installed Piper voices that speak it (ids)
    cue_words: dict | None    # the table's spoken breath cues, None when cue_words: is needed


def language_voices() -> list[LanguageVoice]:
    """The voices per language: every language of the cue-word table and of an installed Piper
    voice, with the profile a script in it gets when it names none (the default profile where
    that speaks the language, else its espeak fallback in the language)."""
    default = load_profile(DEFAULT_PROFILE)
    piper: dict[str, list] = {}
    if default.engine != "piper" or unavailable(default) is None:
        eng = get_engine("piper")
        for vid, _ in eng.voices():
            piper.setdefault(base(eng.voice_language(vid)), []).append(vid)
    names = espeak_languages()
    out = []
    for code in [*CUE_WORDS, *sorted(set(piper) - set(CUE_WORDS))]:
        prof = default
        if prof.engine == "piper" and (unavailable(prof) is not None or not _speaks_language(prof, code)):
            prof = load_profile(prof.fallback or DRAFT_PROFILE)
        out.append(LanguageVoice(code, names.get(code, ""), in_language(prof, code), piper.get(code, []),
                                 cue_words(code)))
    return out


def lexicon_for(script: Script | None, opts: RenderOptions) -> Lexicon:
    """The shipped and folder lexicons, the script's ``lexicon:`` and ``opts.pronounce``, later winning."""
    extra = script.path.resolve().parent.parent / "voices" if script is not None else None
    lex = folder_lexicon(voice_dirs(extra))
    if script is not None and script.settings.lexicon:
        lex = lex.merged(script.settings.lexicon)
    if opts.pronounce:
        lex = lex.merged(parse_entries(opts.pronounce, "pronounce"))
    return lex


def _speaks_language(prof: VoiceProfile, language: str | None) -> bool:
    """Whether a Piper profile's voice speaks the script's ``language:`` (en matches en_US)."""
    if not language:
        return True
    return base(get_engine("piper").voice_language(prof.voice)) == base(language)


def load(path, opts: RenderOptions) -> Script:
    overrides = {"voice": opts.voice, "ambience": "none" if opts.draft else opts.ambience,
                 "ambience_level": opts.ambience_level,
                 "breath_cues": opts.breath_cues, "bell": opts.bell, "author": opts.author}
    script = load_script(path, opts.variables, strict_variables=opts.strict_variables, overrides=overrides)
    if opts.length is not None:
        script.settings.length = opts.length
    return script


def prepare(path, opts: RenderOptions, progress: Progress | None = None,
            store: SpeechStore | None = None) -> Prepared:
    """Everything but the audio: speech synthesized (or from cache) and the fitted timeline."""
    started = time.perf_counter()
    script = load(path, opts)
    voiced = voice_for_items(script, profile_loader(script, opts))
    store = store or SpeechStore(use_cache=opts.use_cache, engine_override=opts.engine)
    lexicon = lexicon_for(script, opts)
    speech_idx = [i for i, (it, _) in enumerate(voiced) if isinstance(it, Speech)]
    cue_words = []
    if script.settings.breath_cues == "spoken":
        words = check_cue_words(script.settings, str(script.path), script.lines)
        used = {name for it, _ in voiced if isinstance(it, Breathe) for name, _ in it.phases()}
        seen = set()
        for it, prof in voiced:
            if isinstance(it, Breathe) and prof.name not in seen:
                seen.add(prof.name)
                cue_words += [(prof, phase, words[phase]) for phase in CUE_KEYS if phase in used]
    progress = progress or Progress(enabled=False)
    progress.start(len(speech_idx) + len(cue_words), "speaking")
    clips = {}
    try:
        for i in speech_idx:
            it, prof = voiced[i]
            try:
                clips[i] = store.clip(lexicon.spoken(it.text, store.effective(prof).engine), prof)
            except MeditateError as e:
                if e.path is None:
                    e.path, e.line = str(script.path), it.line
                raise
            progress.advance()
            checkpoint("speak")
        cue_clips = {}
        for prof, phase, word in cue_words:
            cue_clips[(prof.name, phase)] = store.clip(lexicon.spoken(cue_phrase(word), store.effective(prof).engine),
                                                       prof)
            progress.advance()
    finally:
        progress.finish()
    bell_len = len(sounds.bell(script.settings.bell)) / SAMPLE_RATE if script.settings.bell != "none" else 0.0
    timeline = build(script, voiced, clips, bell_len, sounds.BELL_SPACING, target=script.settings.length)
    log.info("speak: %d clips spoken, %d from the cache, timeline fitted: %.2f s", store.synthesized, store.reused,
             time.perf_counter() - started)
    return Prepared(script, timeline, cue_clips, store)


def pin_clips(p: Prepared) -> None:
    """Map every clip the render will use now: `meditate cache clear` (say, in another terminal
    during a batch) then removes the files but not the mappings (a clip already gone is made
    again, see speech.Clip.load)."""
    for e in p.timeline.entries:
        if e.clip is not None:
            e.clip.load()
    for clip in p.cue_clips.values():
        clip.load()


def make_bed(p: Prepared):
    s = p.script.settings
    if not s.ambience or s.ambience == "none":
        return None
    try:
        return ambience.make_bed(s.ambience, rate=SAMPLE_RATE, base_dir=p.script.path.resolve().parent)
    except (MeditateError, ValueError) as e:
        # name the script and its ambience line; the bed file, if any, is in the message
        msg = getattr(e, "message", str(e))
        bed_file = getattr(e, "path", None)
        if bed_file and bed_file != str(p.script.path):
            msg = f"ambience {s.ambience!r} ({bed_file}): {msg}"
        raise AudioError(msg, str(p.script.path), p.script.lines.get("ambience"))


def make_mixer(p: Prepared, bed=None):
    s = p.script.settings
    return Mixer(p.timeline, breath_cues=s.breath_cues, bell=s.bell, cue_clips=p.cue_clips,
                 bed=bed, bed_gain_db=s.ambience_level)


def default_output(script_path, draft: bool = False, preview: bool = False) -> Path:
    """``audio_out/<slug>.mp3`` (``.wav`` for a draft; ``<slug>.preview.…`` for a preview, which
    never replaces the whole practice's file)."""
    return Path("audio_out") / (Path(script_path).stem + (".preview" if preview else "")
                                + (".wav" if draft else ".mp3"))


def _preview(p: Prepared, opts: RenderOptions) -> Prepared:
    """Part of the practice, timed exactly as in the whole (the length is fitted first)."""
    start = find_chapter(p.timeline, opts.from_chapter, str(p.script.path)).start if opts.from_chapter else 0
    frames = None if opts.first is None else int(round(opts.first * SAMPLE_RATE))
    return replace(p, timeline=excerpt(p.timeline, start, frames))


OUTPUT_EXTS = (".mp3", ".m4a", ".m4b", ".opus", ".wav")
RENDERS_FILE = ".meditate-renders.json"    # per output folder: which variables each file was rendered with


def output_path(out, script: Script) -> Path:
    """``out`` with its template filled in: the script's variables, ``slug`` and ``title``, each made
    safe as one path component (``-o "audio_out/{{ name }}/{{ slug }}.mp3"``)."""
    text = str(out)
    if "{" in text:
        def part(v) -> str:
            v = " ".join(str(v).replace("/", "-").replace("\\", "-").split())
            return v if v.strip(".") else "-"

        values = {k: part(v) for k, v in script.values.items()}
        values.update(slug=script.slug, title=part(script.title))
        text = render_text(text, values, str(out), None)
    path = Path(text)
    if path.suffix.lower() not in OUTPUT_EXTS:
        raise MeditateError(f"the output must end in {', '.join(OUTPUT_EXTS[:-1])} or {OUTPUT_EXTS[-1]}, "
                            f"not {path.suffix or '(none)'!r}; "
                            f"e.g. -o {path.with_suffix('.mp3')}", str(path))
    return path


def _rendered_with(out: Path) -> dict | None:
    try:
        data = json.loads((out.parent / RENDERS_FILE).read_text(encoding="utf-8"))
        entry = data.get(out.name) if isinstance(data, dict) else None
        return entry if isinstance(entry, dict) else None
    except (OSError, ValueError):
        return None


def _check_not_another_render(out: Path, script: Script) -> None:
    """A file rendered for other variables (another client) is not replaced silently."""
    before = _rendered_with(out) if out.exists() else None
    now = {k: str(v) for k, v in script.values.items()}
    if before is not None and before != now:
        def show(d):
            return ", ".join(f"{k}={v}" for k, v in sorted(d.items())) or "no variables"

        raise MeditateError(f"already holds the render for {show(before)}, not {show(now)}; keep both with "
                            f"-o 'audio_out/{{{{ name }}}}/{{{{ slug }}}}.mp3' (a templated output), or "
                            f"replace it with --overwrite", str(out))


def _record_render(out: Path, script: Script) -> None:
    path = out.parent / RENDERS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data = data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        data = {}
    data[out.name] = {k: str(v) for k, v in script.values.items()}
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def render(path, out: Path | None, opts: RenderOptions, progress: Progress | None = None,
           store: SpeechStore | None = None) -> RenderResult:
    """Render ``path`` to ``out`` (a path, possibly templated; default ``audio_out/<slug>.mp3``)."""
    progress = progress or Progress(enabled=False)
    if out and "{" not in str(out):
        output_path(out, None)       # a wrong extension is said before any speech is synthesized
    started = time.perf_counter()
    p = prepare(path, opts, progress, store)
    preview = opts.from_chapter is not None or opts.first is not None
    if preview:
        p = _preview(p, opts)
    out = output_path(out or default_output(path, opts.draft, preview), p.script)
    if opts.keep_other_renders:
        _check_not_another_render(out, p.script)
    pin_clips(p)
    mixer = make_mixer(p, make_bed(p))
    n_chunks = -(-p.timeline.frames // CHUNK)
    progress.start(2 * n_chunks, "mixing")

    # pass 1: the loudness of the voice, cues and bells alone; the bed's is predicted from a probe of it,
    # measured meanwhile on another thread (numpy's FFT and the filter kernel run without the GIL)
    stage = time.perf_counter()
    probe = _probe_in_background(p, mixer)
    model = analyse(p, mixer, progress, probe=probe)
    probe()                 # (the thread is done with the mixer's bed before the mixing pass uses it)
    level = solve_level(p, mixer, model, opts, out)
    log.info("analyse: voice gain x%.4f, bed moved %+g dB, %.2f LUFS predicted: %.2f s",
             level.gain, level.shift, level.predicted, time.perf_counter() - stage)

    # pass 2: mix, limit and encode (the encoder writes a temporary file, renamed at the end);
    # a pass whose PCM misses the loudness that puts the decoded file on target by more than
    # LOUDNESS_TOLERANCE (a model or a solve that was off) is thrown away and done again with the
    # gain the measured result implies (a safety net: rare)
    out.parent.mkdir(parents=True, exist_ok=True)
    vtt_path = out.with_suffix(".vtt")
    coding = level.predicted - model.loudness(level.gain, level.shift, coded=False)   # LU coding adds, as modelled
    gain, expected = level.gain, opts.loudness - coding
    passes = 0
    try:
        for attempt in range(MAX_PASSES):
            passes += 1
            stage = time.perf_counter()
            try:
                measured = _encode(p, mixer, out, opts, gain, peak_ceiling(out, mixer.channels, opts.bitrate),
                                   progress, retry_if_off=expected if attempt < MAX_PASSES - 1 else None)
                log.info("mix+encode, pass %d: %.2f LUFS measured, %.2f aimed at: %.2f s", passes, measured,
                         expected, time.perf_counter() - stage)
                break
            except _OffTarget as off:
                gain = _next_gain(gain, off, expected)
                log.info("mix+encode, pass %d: %.2f LUFS measured, %.2f aimed at, off by more than %g LU: "
                         "thrown away, mixing again at gain x%.4f: %.2f s", passes, off.measured, expected,
                         LOUDNESS_TOLERANCE, gain, time.perf_counter() - stage)
                progress.start(2 * n_chunks, "mixing again")
                progress.advance(n_chunks)
        write_text_atomic(vtt_path, to_vtt(p.timeline, p.script.settings.title, p.script.settings.language))
        if p.script.values:
            _record_render(out, p.script)
    finally:
        progress.finish()
    # the decoded file's loudness: the PCM measured, with what coding does to it (as modelled)
    decoded = measured + coding
    log.info("done: %s, %d mixing pass%s, %.2f LUFS decoded (modelled): %.2f s in all", out, passes,
             "" if passes == 1 else "es", decoded, time.perf_counter() - started)
    return RenderResult(out, vtt_path, p.timeline.duration, decoded, p.store.synthesized, p.store.reused,
                        p.script.warnings, passes, level.shift, p.script.settings.ambience_level, _chapters(p))


def planned_bed_shift(p: Prepared, opts: RenderOptions, out: Path) -> float:
    """The dB the bed will be moved from the script's level when rendered to ``out`` (0: not)."""
    mixer = make_mixer(p, make_bed(p))
    if mixer.bed is None:
        return 0.0
    return solve_level(p, mixer, analyse(p, mixer), opts, out).shift


def peak_ceiling(out: Path, channels: int, bitrate: int | None) -> float:
    """The limiter's ceiling (dBTP) that keeps the decoded file's true peak at TRUE_PEAK_CEILING."""
    margin = PEAK_MARGIN.get(out.suffix.lower())
    return TRUE_PEAK_CEILING - margin[channels] if margin else TRUE_PEAK_CEILING


@dataclass
class Level:
    gain: float             # the foreground's gain
    shift: float            # dB the bed was moved from the author's level (0: not)
    predicted: float        # the decoded file's integrated loudness, as modelled


def solve_level(p: Prepared, mixer, model: "LoudnessModel", opts: RenderOptions, out: Path) -> Level:
    """The foreground gain for the target, with the bed moved clear of the relative gate if it sits
    on it, and what MP3 coding does to each stem's loudness measured on an excerpt of the mix;
    sets the mixer's bed level to match."""
    base = mixer.bed_gain
    gain, shift = model.condition(opts.loudness)
    if model.fg.size:
        mixer.bed_gain = base * 10 ** (shift / 20)
        model.limiting, model.coding = excerpt_ratios(mixer, model, gain, out, opts.bitrate)
        gain, shift = model.condition(opts.loudness)
    mixer.bed_gain = base * 10 ** (shift / 20)
    return Level(gain, shift, model.loudness(gain, shift))


def excerpt_ratios(mixer, model: "LoudnessModel", gain: float, out: Path, bitrate: int | None):
    """How much K-weighted energy the limiter leaves of the foreground and of the bed, and how
    much of that coding (MP3, AAC, Opus) leaves (decoded / fed; (1, 1) for WAV): ``((fg, bed), (fg, bed))``,
    from an excerpt of EXCERPT samples limited and sent through the encoder: 12 s of the mix from
    the first speech, then 8 s of the bed alone at its level (LAME low-passes, and spends few bits
    on quiet noise)."""
    frames = mixer.timeline.frames
    speech = [s for s, _ in mixer.speech_spans] or [e.start for e in mixer.events] or [0]
    n_mix = min(12 * EXCERPT // 20, frames)
    a = max(0, min(speech[0] - SAMPLE_RATE, frames - n_mix)) // SEGMENT * SEGMENT
    parts = list(mixer.chunks(fg_gain=gain, start=a, stop=a + n_mix))
    if mixer.bed is not None:
        n_bed = EXCERPT - n_mix
        parts.append((mixer.bed.render(a + n_mix, n_bed) * np.float32(mixer.bed_gain)).astype(np.float32))
    pcm = np.concatenate(parts)
    master = Master(SAMPLE_RATE, mixer.channels, 1.0, peak_ceiling(out, mixer.channels, bitrate))
    limited = np.concatenate([master.process(pcm), master.flush()])
    versions = [pcm, limited]
    if out.suffix.lower() in CODED:
        versions.append(round_trip(limited, SAMPLE_RATE, bitrate, out.suffix.lower()))
    energies = []
    for x in versions:
        m = LoudnessMeter(SAMPLE_RATE, mixer.channels, true_peak=False)
        m.feed(x)
        energies.append(m.segment_energies())
    k = min(e.size for e in energies)
    energies = [e[:k] for e in energies]
    n_seg = n_mix // SEGMENT
    fg = np.zeros(k)
    bed = np.zeros(k)
    j0 = a // SEGMENT
    span = min(n_seg, model.fg.size - j0, k)
    fg[:span] = gain * gain * model.fg[j0:j0 + span]
    bed[:span] = model.bed[j0:j0 + span]        # (only which stem dominates matters)
    bed[n_seg:] = np.inf
    usable = np.ones(k, dtype=bool)
    usable[:5] = False                              # the K-filter settling at the excerpt's start
    usable[max(0, n_seg - 2):n_seg + 5] = False     # the seam between the mix and the bed alone
    usable[-3:] = False

    def ratios(fed, got):
        def ratio(sel):
            sel = sel & usable & (fed > 0)
            return float(got[sel].sum() / fed[sel].sum()) if sel.sum() >= 5 else 1.0

        return ratio(fg > 10 * bed), ratio(bed > 100 * fg)

    coding = ratios(energies[1], energies[2]) if len(energies) > 2 else (1.0, 1.0)
    return ratios(energies[0], energies[1]), coding


def _probe_in_background(p: Prepared, mixer):
    """Start measuring the bed's probe (and making the mixer's bed's first block, its noise
    tiles) on a thread; returns a function that waits for the probe's segment energies."""
    def work():
        if mixer.bed is None:
            return None
        probe = _bed_probe(p, _probe_frames(p))
        mixer.bed.render(0, 1)
        return probe

    return in_background(work, "meditate-bed")


def _probe_frames(p: Prepared) -> int:
    frames = p.timeline.frames
    return frames if frames <= BED_PROBE_WHOLE else min(BED_PROBE, frames)


def _next_gain(gain: float, off: "_OffTarget", target: float) -> float:
    """The gain for the second (and last, MAX_PASSES) pass after a pass at ``gain`` measured
    ``off``: one dB per dB, for a pass that was too loud from what it would have measured
    unlimited (a gain that was too high is mostly taken back by the limiter, so a plain dB per dB
    would stop short; going up, the limiter takes more, so that is plain)."""
    m = off.measured + off.limited if off.measured > target else off.measured
    return gain * 10 ** ((target - m) / 20)


class _OffTarget(Exception):
    def __init__(self, measured: float, limited: float = 0.0):
        self.measured = measured
        self.limited = limited      # dB of energy the limiter took in that pass


def _encode(p: Prepared, mixer, out: Path, opts: RenderOptions, gain: float, ceiling: float,
            progress: Progress, retry_if_off: float | None) -> float:
    master = Master(SAMPLE_RATE, mixer.channels, 1.0, ceiling)
    check = LoudnessMeter(SAMPLE_RATE, mixer.channels, true_peak=False)

    energy = [0.0, 0.0]         # the sum of squares into and out of the limiter (what it took, for a retry)

    def mix_into(enc) -> float:
        for chunk in mixer.chunks(fg_gain=gain):
            y = master.process(chunk)
            energy[0] += float(np.dot(chunk.ravel(), chunk.ravel()))
            energy[1] += float(np.dot(y.ravel(), y.ravel()))
            if len(y):
                enc.write(y)
                check.feed(y)
                if enc.frames_written == len(y):
                    checkpoint("mix")       # (tests: the pass's first chunk is in the encoder)
            progress.advance()
        y = master.flush()
        if len(y):
            enc.write(y)
            check.feed(y)
            energy[1] += float(np.dot(y.ravel(), y.ravel()))
        return check.integrated_lufs()

    # ffmpeg starts from this thread at its priority; the mixing gives way to it (see yielding.py)
    with Encoder(out, SAMPLE_RATE, mixer.channels, opts.bitrate, chapters=_chapters(p),
                 finalize=lambda tmp: _tag(Path(tmp), out, p, opts)) as enc:
        measured = run_yielding(lambda: mix_into(enc))
        if retry_if_off is not None and np.isfinite(measured) and abs(measured - retry_if_off) > LOUDNESS_TOLERANCE:
            limited = 10 * np.log10(energy[0] / energy[1]) if energy[1] > 0 and energy[0] > energy[1] else 0.0
            raise _OffTarget(measured, limited)     # the encoder's temporary file is removed
    return measured


class LoudnessModel:
    """Per-100 ms K-weighted energies of the foreground and the bed; the mix is g**2 * fg + bed.

    ``limiting`` and ``coding`` are (foreground, bed) factors on each stem's energy: what the
    limiter leaves of it, and what the listener's decoder returns of that (MP3 coding low-passes
    and thins quiet noise; 1.0 for WAV). :meth:`loudness` with ``coded=True`` predicts the
    decoded file, ``coded=False`` the PCM the encoder is fed. ``shift`` (dB) moves the bed."""

    def __init__(self, fg: np.ndarray, bed: np.ndarray):
        self.fg, self.bed = fg, bed
        self.limiting = self.coding = (1.0, 1.0)
        # the 400 ms blocks' mean squares of each stem (linear in the segments, so they add too)
        self._fb = block_energies_from_segments(fg, SAMPLE_RATE)
        self._bb = block_energies_from_segments(bed, SAMPLE_RATE)

    def _factors(self, g: float, shift: float, coded: bool) -> tuple[float, float]:
        fc, bc = self.limiting
        if coded:
            fc, bc = fc * self.coding[0], bc * self.coding[1]
        return g * g * fc, 10 ** (shift / 10) * bc

    def segments(self, g: float, shift: float = 0.0, coded: bool = True) -> np.ndarray:
        f, b = self._factors(g, shift, coded)
        return f * self.fg + b * self.bed

    def _blocks(self, g: float, shift: float = 0.0, coded: bool = True) -> np.ndarray:
        f, b = self._factors(g, shift, coded)
        return f * self._fb + b * self._bb

    def loudness(self, g: float, shift: float = 0.0, coded: bool = True) -> float:
        return gated_loudness(self._blocks(g, shift, coded))

    def solve(self, target: float, shift: float = 0.0) -> float:
        """The foreground gain whose (decoded) mix is nearest ``target`` (loudness rises with the
        gain, in steps where the gate passes a bed's level, so the nearer side of a step wins)."""
        if not self.fg.size or not np.isfinite(gated_loudness(self._fb)):
            return 1.0           # nothing audible in the foreground: leave it be
        lo, hi = -60.0, 60.0
        for _ in range(32):
            mid = (lo + hi) / 2
            if self.loudness(10 ** (mid / 20), shift) < target:
                lo = mid
            else:
                hi = mid
        cands = [10 ** (lo / 20), 10 ** (hi / 20)]
        return min(cands, key=lambda g: abs(self.loudness(g, shift) - target))

    def fragile(self, g: float, shift: float = 0.0) -> bool:
        """True when the blocks within GATE_MARGIN of the relative gate could move the integrated
        loudness by more than GATE_SWING, were they all on the other side of it (as MP3 coding
        or a prediction off by a fraction of a dB can put them)."""
        z = self._blocks(g, shift)
        now = gated_loudness(z)
        return max(abs(gated_loudness(z, GATE_MARGIN) - now), abs(gated_loudness(z, -GATE_MARGIN) - now)) > GATE_SWING

    def condition(self, target: float) -> tuple[float, float]:
        """``(gain, bed shift dB)``: the solved gain, and the bed moved by the fewest BED_STEP steps
        (down first) that leave it clear of the relative gate, when it sits there or when the
        target is reached only by pushing the voice more than MAX_VOICE_PUSH over its own level at
        the target (sparse speech over a bed that is counted in: the voice goes into the limiter)."""
        g = self.solve(target)
        if not self.bed.any():
            return g, 0.0
        # the voice's gain with the bed far under the gate (still above the absolute one, so the
        # quiet blocks count in the gate as they do with any bed)
        limit = self.solve(target, -MAX_BED_SHIFT) * 10 ** (MAX_VOICE_PUSH / 20)

        def clear(g, shift):
            return abs(self.loudness(g, shift) - target) < 0.1 and g <= limit and not self.fragile(g, shift)

        if clear(g, 0.0):
            return g, 0.0
        for k in range(1, int(MAX_BED_SHIFT / BED_STEP) + 1):
            for shift in (-k * BED_STEP, k * BED_STEP):
                if shift > MAX_BED_RAISE:
                    continue
                g2 = self.solve(target, shift)
                if clear(g2, shift):
                    return g2, shift
        return g, 0.0           # nothing clear within reach: the retry is the safety net


_PROBES: dict = {}


def _bed_probe(p: Prepared, frames: int) -> np.ndarray:
    """Segment energies of the bed's first ``frames`` samples at unit gain (kept per process:
    a batch renders the same bed many times)."""
    amb = p.script.settings.ambience
    src = p.script.path.resolve().parent / amb
    key = (amb, frames, src.stat().st_mtime_ns if src.is_file() else None, str(src))
    if key not in _PROBES:
        probe = make_bed(p)
        k = LoudnessMeter(SAMPLE_RATE, 2, true_peak=False)
        for a in range(0, frames, CHUNK):
            k.feed(probe.render(a, min(CHUNK, frames - a)))
        _PROBES[key] = k.segment_energies()
    return _PROBES[key]


def analyse(p: Prepared, mixer, progress: Progress | None = None, probe=None) -> LoudnessModel:
    """Pass 1: the foreground's loudness from its sounds' energy profiles (energy.py, no mixing),
    and the bed's predicted.

    The bed is measured at unit gain, on another thread: in a practice of up to
    4.5 minutes whole, in step with the voice (the ocean's swells and a drone's
    slow beats then meet the same words as in the mix: with a cycled minute a
    short practice could miss by 0.5 LU and be mixed twice); in a longer one by
    its first minute, measured once per process and cycled (measured error
    within 0.12 LU). Its 100 ms segment energies, scaled by the bed's gain
    envelope (level, ducking, fades), stand in for the bed in the mix. Energies
    of independent stems add, so the mix's loudness for a foreground gain g is
    that of g**2 * foreground + bed.
    """
    fg = mixer.foreground_energies(SEGMENT)      # the mono foreground sits in every channel
    if progress:
        progress.advance(-(-p.timeline.frames // CHUNK))
    bed = np.zeros_like(fg)
    if mixer.bed is not None and fg.size:
        e = probe() if probe is not None else _bed_probe(p, _probe_frames(p))
        if e.size:
            unit = np.resize(e, fg.size)                 # the probe's own spread of levels, cycled
            pos = np.arange(SEGMENT // 20, fg.size * SEGMENT, SEGMENT // 10, dtype=np.float64)
            env = mixer.bed_envelope(pos) * mixer.edge_envelope(pos)
            bed = (env.reshape(fg.size, 10) ** 2).mean(axis=1) * unit
    return LoudnessModel(fg, bed)


def say(text: str, out: Path, voice: str | None = None, opts: RenderOptions | None = None):
    """Speak ``text`` (a word or phrase, through the lexicons) with ``voice`` (default: the
    default profile) into ``out`` (.wav or .mp3), with a little silence around it.
    Returns (profile used, seconds written)."""
    opts = opts or RenderOptions()
    if not text.strip():
        raise MeditateError("nothing to say: give a word or phrase, e.g. meditate say \"Siobhan\"")
    prof = speaking_profile(load_profile(voice or DEFAULT_PROFILE), opts)
    store = SpeechStore(use_cache=opts.use_cache, engine_override=opts.engine)
    try:
        clip = store.clip(lexicon_for(None, opts).spoken(text, store.effective(prof).engine), prof)
        pad = np.zeros(int(SAY_PAD * SAMPLE_RATE), dtype=np.float32)
        samples = np.concatenate([pad, np.asarray(clip.load()), pad])
    finally:
        store.close()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with Encoder(out, SAMPLE_RATE, 1) as enc:
        enc.write(samples)
    return prof, samples.shape[0] / SAMPLE_RATE


def _chapters(p: Prepared) -> list:
    return [(c.title, c.start / SAMPLE_RATE, c.end / SAMPLE_RATE) for c in p.timeline.chapters]


def _tag(tmp: Path, out: Path, p: Prepared, opts: RenderOptions) -> None:
    if out.suffix.lower() == ".wav":
        return
    checkpoint("tag")
    stage = time.perf_counter()
    s = p.script.settings
    write_tags(tmp, title=s.title, artist=s.author, album=opts.album, track=opts.track,
               comment=s.description, chapters=_chapters(p), fmt=out.suffix.lower()[1:])
    log.info("tag: %.2f s", time.perf_counter() - stage)

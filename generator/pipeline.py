"""The pipeline: script -> speech clips -> fitted timeline -> mix -> master -> file.

Rendering streams: the level is found without mixing the practice
(normalize.solve), then one pass mixes chunk by chunk, applies the gain and
limiter and feeds the encoder while it meters what it fed; a pass that the
level says is off target is thrown away and mixed once more. Nothing the size
of the practice is ever held in memory.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import normalize
from .audio import ambience, sounds
from .audio.samples import SAMPLE_RATE
from .engines import NEURAL_INSTALL, get_engine, notice_once, unavailable
from .errors import AudioError, MeditateError, ProfileError
from .normalize import DEFAULT_LOUDNESS, Level
from .output.encode import Encoder
from .files import write_text_atomic
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
from .yielding import run_yielding

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
    said = [(voiced[i][0].text, voiced[i][1]) for i in speech_idx] + [(cue_phrase(w), p) for p, _, w in cue_words]
    # in order; the engine speaks the missing ones ahead where it can take several at once
    spoken = store.clips([(lexicon.spoken(text, store.effective(prof).engine), prof) for text, prof in said])
    clips = {}
    try:
        for i in speech_idx:
            it = voiced[i][0]
            try:
                clips[i] = next(spoken)
            except MeditateError as e:
                if e.path is None:
                    e.path, e.line = str(script.path), it.line
                raise
            progress.advance()
            checkpoint("speak")
        cue_clips = {}
        for prof, phase, _ in cue_words:
            cue_clips[(prof.name, phase)] = next(spoken)
            progress.advance()
    finally:
        spoken.close()
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

    # the level: the foreground's gain and the bed's, predicted without mixing (normalize.py)
    stage = time.perf_counter()
    level = _level(p, mixer, opts, out, progress)
    log.info("analyse: voice gain x%.4f, bed moved %+g dB, %.2f LUFS predicted: %.2f s",
             level.gain, level.shift, level.predicted, time.perf_counter() - stage)

    # mix, limit and encode (the encoder writes a temporary file, renamed at the end); a pass
    # the level says is off target (a model or a solve that was off) is thrown away and mixed
    # again at the level it gives (a safety net: rare)
    out.parent.mkdir(parents=True, exist_ok=True)
    vtt_path = out.with_suffix(".vtt")
    passes = 0
    try:
        while True:
            passes += 1
            stage = time.perf_counter()
            measured, again = _encode(p, mixer, out, opts, level, progress, last=passes == normalize.MAX_PASSES)
            if again is None:
                log.info("mix+encode, pass %d: %.2f LUFS measured, %.2f aimed at: %.2f s", passes, measured.lufs,
                         level.expected, time.perf_counter() - stage)
                break
            log.info("mix+encode, pass %d: %.2f LUFS measured, %.2f aimed at, off by more than %g LU: "
                     "thrown away, mixing again at gain x%.4f: %.2f s", passes, measured.lufs, level.expected,
                     normalize.LOUDNESS_TOLERANCE, again.gain, time.perf_counter() - stage)
            level = again
            progress.start(2 * n_chunks, "mixing again")
            progress.advance(n_chunks)
        write_text_atomic(vtt_path, to_vtt(p.timeline, p.script.settings.title, p.script.settings.language))
        if p.script.values:
            _record_render(out, p.script)
    finally:
        progress.finish()
    # the decoded file's loudness: the PCM measured, with what coding does to it (as modelled)
    decoded = measured.lufs + level.coding
    log.info("done: %s, %d mixing pass%s, %.2f LUFS decoded (modelled): %.2f s in all", out, passes,
             "" if passes == 1 else "es", decoded, time.perf_counter() - started)
    return RenderResult(out, vtt_path, p.timeline.duration, decoded, p.store.synthesized, p.store.reused,
                        p.script.warnings, passes, level.shift, p.script.settings.ambience_level, _chapters(p))


def _encode(p: Prepared, mixer, out: Path, opts: RenderOptions, level: Level, progress: Progress,
            last: bool) -> tuple[normalize.Measured, Level | None]:
    """One mixing pass into the encoder at ``level``: what it measured, and the level for another
    pass if it is off target and not the ``last`` (its temporary file is then removed)."""
    master = level.master(mixer.channels)
    meter = normalize.PassMeter(mixer.channels)

    def mix_into(enc) -> normalize.Measured:
        for chunk in mixer.chunks(fg_gain=level.gain):
            y = master.process(chunk)
            meter.limiting(chunk)
            meter.fed(y)
            if len(y):
                enc.write(y)
                if enc.frames_written == len(y):
                    checkpoint("mix")       # (tests: the pass's first chunk is in the encoder)
            progress.advance()
        y = master.flush()
        if len(y):
            enc.write(y)
            meter.fed(y)
        return meter.result()

    # ffmpeg starts from this thread at its priority; the mixing gives way to it (see yielding.py)
    with Encoder(out, SAMPLE_RATE, mixer.channels, opts.bitrate, chapters=_chapters(p),
                 finalize=lambda tmp: _tag(Path(tmp), out, p, opts)) as enc:
        measured = run_yielding(lambda: mix_into(enc))
        again = None if last else level.again(measured)
        if again is not None:
            enc.abort()
    return measured, again


def planned_bed_shift(p: Prepared, opts: RenderOptions, out: Path) -> float:
    """The dB the bed will be moved from the script's level when rendered to ``out`` (0: not)."""
    mixer = make_mixer(p, make_bed(p))
    if mixer.bed is None:
        return 0.0
    return _level(p, mixer, opts, out).shift


def _level(p: Prepared, mixer, opts: RenderOptions, out: Path, progress: Progress | None = None) -> Level:
    s = p.script.settings
    return normalize.solve(p.timeline, mixer, s.ambience, p.script.path.resolve().parent, opts.loudness, out,
                           opts.bitrate, progress)


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

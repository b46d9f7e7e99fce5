"""``meditate batch``: a whole series (optionally once per person) into numbered files and playlists.

Each (person, practice) is one job: ``render(script, out, RenderOptions(...))``.
Jobs run in-process (``jobs=1``) or on a pool of spawned processes, and are
isolated from one another: a failing job is reported, the others go on.

A job is skipped when its output is up to date: each output folder keeps a
``.meditate-batch.json`` with, per file, a hash of everything the audio depends
on (the script's bytes, the voice profiles and ambience file it uses, the merged
settings and variables, the target length, the engine and the generator's code).

Sharding (``shard=(i, n)``) renders the jobs whose identity (``label``: the
listener's folder and the practice's file stem, not a CSV row number) hashes to
shard ``i`` of ``n`` (1-based), so a Slurm job array or a Kubernetes Indexed Job
can split a batch over nodes sharing the output tree: every job belongs to
exactly one shard whatever the CSV's order. Shards update a folder's
``.meditate-batch.json`` under a POSIX record lock (``.meditate-batch.lock``,
which NFS forwards to its lock manager), re-reading it first, so concurrent
shards never drop each other's entries; they write no playlists or feeds.
``finalize`` renders nothing: it writes the playlists and feeds of what is up to
date, and reports every job that is not as missing.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import logging.handlers
import multiprocessing
import os
import signal
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import util
from pathlib import Path

try:
    import fcntl
except ImportError:               # not POSIX: one batch at a time
    fcntl = None

from . import __version__
from .script.durations import format_duration
from .engines import close_all
from .engines.espeak import WORKERS_ENV, processors
from .errors import LengthError, MeditateError, SeriesError
from .interrupt import SIGNALS, Interrupted, noted
from .output.feed import Episode, check_base_url, write_feed
from .files import write_text_atomic
from .pipeline import RenderOptions, prepare, render
from .script.lexicon import LEXICON_FILE, person_pronunciations
from .script.parse import ambience_file, named_voices, parse_settings, read_source, rendered_title
from .script.profiles import available_profiles, voice_dirs
from .script.series import (PRONOUNCE_COLUMN, Series, check_people, load_series, missing_required, read_people,
                     safe_slug)

BATCH_MANIFEST = ".meditate-batch.json"
BATCH_LOCK = ".meditate-batch.lock"
SHARD_ENV = ("JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID")    # read by --shard auto/N
PLAYLIST = "playlist.m3u8"
# Workers never inherit the parent's threads, locks or engine processes. forkserver (POSIX) imports
# this module, and with it the renderer, once and forks each worker from it, saving each worker the
# ~2 s of imports that spawn pays; spawn is the fallback (Windows).
_START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
_PRELOAD = ["generator.batch"]


@dataclass
class BatchReport:
    title: str
    out_dir: Path
    total: int = 0
    rendered: int = 0
    skipped: int = 0
    failed: list = field(default_factory=list)      # [(label, "PATH:LINE: message")]
    outputs: list = field(default_factory=list)     # every finished or up-to-date file, in playlist order
    playlists: list = field(default_factory=list)
    feeds: list = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        lines = [f"{self.title}: {self.rendered} rendered, {self.skipped} up to date, "
                 f"{len(self.failed)} failed, of {self.total} in {format_duration(round(self.elapsed, 1))}"
                 f"  ({self.out_dir})"]
        for label, message in self.failed:
            lines.append(f"  {label}: Error: {message}")
        return "\n".join(lines)

    def error_lines(self) -> list[str]:
        """One ``Error: PATH:LINE: … (label)`` line per failed job, for stderr."""
        return [f"Error: {message} ({label})" for label, message in self.failed]


# ---------------------------------------------------------------- planning
@dataclass
class _Folder:
    path: Path
    album: str = ""                                # the series title, filled in for this folder's person
    jobs: list = field(default_factory=list)       # job dicts, in practice order


def _code_digest() -> str:
    """The generator's own code: a new version (or a local edit) makes new audio."""
    h = hashlib.sha256(__version__.encode())
    root = Path(__file__).resolve().parent
    for f in sorted(root.rglob("*.py")):
        try:
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
        except OSError:
            pass
    return h.hexdigest()


def _script_facts(script: Path) -> dict | None:
    """Title, front-matter voice and ambience, and the voices named by [voice …] cues; None if unreadable."""
    try:
        src = read_source(script)
        s = parse_settings(src)
    except MeditateError:
        return None
    return {"title": s.title, "voice": s.voice, "ambience": s.ambience, "language": s.language,
            "voices": sorted(named_voices(src.body))}


def _file_digest(path: Path | None) -> str:
    if path is None:
        return "-"
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "missing"


def _job_hash(script: Path, facts: dict, options: dict, code: str) -> str:
    h = hashlib.sha256()

    def add(tag: str, value) -> None:
        h.update(tag.encode() + b"\0" + str(value).encode("utf-8", "surrogatepass") + b"\0")

    add("code", code)
    add("script", _file_digest(script))
    extra = script.resolve().parent.parent / "voices"
    profiles = available_profiles(extra)
    for name in sorted({options.get("voice") or facts["voice"], *facts["voices"]}):
        add("voice:" + name, _file_digest(profiles.get(name)))
    for d in voice_dirs(extra):        # the lexicons, and whether the natural voice can speak
        add("lexicon:" + str(d), _file_digest(d / LEXICON_FILE))
    add("neural", importlib.util.find_spec("piper") is not None)
    ambience = options.get("ambience") or facts["ambience"]
    bed = ambience_file(ambience, script.parent) if ambience else None
    if bed is not None:
        add("ambience", _file_digest(bed))
    effective = dict(options, engine=options.get("engine") or os.environ.get("MEDITATE_ENGINE") or None)
    add("options", json.dumps(effective, sort_keys=True, default=str, ensure_ascii=False))
    return h.hexdigest()


def _inside(child: Path, parent: Path) -> bool:
    c, p = child.resolve(), parent.resolve()
    return c.parent == p


def _pronounce(row, people_path) -> dict:
    """A people row's ``pronounce`` cell as lexicon entries."""
    if not row or not row.get(PRONOUNCE_COLUMN):
        return {}
    return person_pronunciations(row[PRONOUNCE_COLUMN], getattr(row, "label", ""), str(people_path),
                                 getattr(row, "line", None))


def plan(series: Series, people: list | None, out_dir: Path, engine: str | None = None,
         people_path=None, fmt: str = "mp3") -> list[_Folder]:
    """The folders and jobs of a batch (nothing is written); ``fmt``: the files' extension (mp3, m4a, opus)."""
    total = len(series.practices)
    width = max(2, len(str(total)))
    code = _code_digest()
    facts = {p.position: _script_facts(p.script) for p in series.practices}
    if people is None:
        folders = [(_Folder(out_dir, series.title_for()), None, "")]
    else:
        taken: set = set()
        folders = []
        for row in people:
            label = row.label if hasattr(row, "label") else next(iter(row.values()), "")   # the first column
            slug = safe_slug(label, taken)
            folder = out_dir / slug
            if not _inside(folder, out_dir):
                raise SeriesError(f"the folder for {getattr(row, 'label', slug)!r} would land outside {out_dir} "
                                  f"(is {folder} a link?); remove it or choose another -o DIR",
                                  str(out_dir), None)
            folders.append((_Folder(folder, series.title_for(row)), row, slug + "/"))
    for folder, row, prefix in folders:
        for p in series.practices:
            stem = f"{p.position:0{width}d}-{p.slug}"
            name = f"{stem}.{fmt}"
            f = facts[p.position]
            variables = series.merged_variables(p, row)
            options = dict(variables=variables, length=p.length,
                           pronounce=_pronounce(row, people_path),
                           strict_variables=False, album=folder.album, track=(p.position, total), engine=engine,
                           **series.settings_for(p))
            folder.jobs.append({
                "label": prefix + stem,
                "position": p.position,
                "row": getattr(row, "line", None),
                "script": str(p.script),
                "out": str(folder.path / name),
                "name": name,
                "title": (rendered_title(p.script, variables) or f["title"]) if f else p.script.stem,
                "description": rendered_title(p.script, variables, "description") if f else None,
                "language": f and f["language"],
                "options": options,
                "length": p.length or 0.0,
                "hash": _job_hash(p.script, f, options, code) if f else None,
            })
    return [f for f, _, _ in folders]


# ---------------------------------------------------------------- checking every job before rendering
@dataclass
class JobPlan:
    job: dict
    prepared: object = None      # pipeline.Prepared: the script, its fitted timeline
    error: str | None = None     # "PATH:LINE: message" when the job cannot render


def check_jobs(series: Series, jobs: list, people_path=None, progress=None, workers: int = 1,
               keep: bool = True) -> list[JobPlan]:
    """Load, template, voice and fit every job (speech is synthesized into the cache, no audio
    is mixed), so a batch fails before it renders anything. A length the manifest sets that the
    script cannot reach is reported at the manifest's line; a row's problem names its CSV row.

    ``workers`` > 1 checks in that many processes (synthesis is most of a cold batch's work, and
    what it puts in the cache the renders then reuse); ``keep``: hold each job's prepared script
    and timeline (``plan`` shows them; a batch needs only the errors, and memory stays flat)."""
    plans = {}
    if progress is not None:
        progress.start(len(jobs), "checking")

    def checked(job: dict, result: dict) -> None:
        plans[job["label"]] = JobPlan(job, prepared=result.get("prepared"), error=(
            None if result["ok"] else _job_error(series, job, result, people_path)))
        if progress is not None:
            progress.advance()

    try:
        if workers <= 1 or len(jobs) <= 1 or keep:
            for job in jobs:
                checked(job, _check_job(job, keep))
        else:
            _run_pool(jobs, workers, checked, _check_in_worker)
    finally:
        if progress is not None:
            progress.finish()
    return [plans[j["label"]] for j in jobs]


def _check_job(job: dict, keep: bool = False) -> dict:
    """One job loaded and fitted, as ``{"ok": True[, "prepared": …]}`` or the error's parts (an
    error crosses from a worker process as plain values)."""
    try:
        prepared = prepare(job["script"], RenderOptions(**job["options"]))
        return {"ok": True, "prepared": prepared} if keep else {"ok": True}
    except MeditateError as e:
        return {"ok": False, "text": str(e), "message": e.message, "length": isinstance(e, LengthError)}
    except Exception as e:       # a bug, not the user's: still one line
        return {"ok": False, "text": f"{job['script']}: internal error {type(e).__name__}: {e}; please report it",
                "message": str(e), "length": False}


def _job_error(series: Series, job: dict, result: dict, people_path) -> str:
    p = series.practices[job["position"] - 1]
    row = f" for row {job['row']} of {people_path}" if job.get("row") and people_path else ""
    if result.get("length") and p.length is not None:
        return str(SeriesError(f"practice {p.position} ({p.script.name}{row}): {result['message']}; "
                               f"change the length here", str(series.path), p.lines.get("length")))
    return f"{result['text']}{' (' + row.strip() + ')' if row else ''}"


# ---------------------------------------------------------------- the sidecar manifest and playlists
def _read_manifest(folder: Path) -> dict:
    try:
        data = json.loads((folder / BATCH_MANIFEST).read_text(encoding="utf-8"))
        files = data.get("files") if isinstance(data, dict) else None
        return files if isinstance(files, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_manifest(folder: Path, files: dict) -> None:
    write_text_atomic(folder / BATCH_MANIFEST,
                      json.dumps({"format": 1, "generator": __version__, "files": files}, indent=1,
                                 sort_keys=True, ensure_ascii=False) + "\n")


@contextmanager
def _locked(folder: Path, shared: bool):
    """With ``shared`` (a shard: others may write the folder), an exclusive POSIX lock on the
    folder's lock file for the block; else, or where fcntl is missing, none."""
    if not shared or fcntl is None:
        yield
        return
    fd = os.open(folder / BATCH_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)              # (closing releases the lock)


def _update_manifest(folder: Path, name: str, entry: dict | None, shared: bool) -> None:
    """Set (or, with None, drop) one file's entry: read, merged and written (``shared``: under the
    folder's lock), so shards finishing at once in one folder keep each other's entries."""
    with _locked(folder, shared):
        man = _read_manifest(folder)
        if entry is None:
            man.pop(name, None)
        else:
            man[name] = entry
        _write_manifest(folder, man)


def shard_of(job: dict, n: int) -> int:
    """The shard (1..n) a job belongs to: a hash of its identity, the same on every machine."""
    digest = hashlib.sha256(job["label"].encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


def parse_shard(text: str, env=os.environ) -> tuple[int, int]:
    """``I/N`` (1-based: 1/4 … 4/4), or ``auto/N``: the index from the scheduler's environment,
    JOB_COMPLETION_INDEX (Kubernetes, 0-based: +1) or SLURM_ARRAY_TASK_ID (less
    SLURM_ARRAY_TASK_MIN when set, so --array=0-3 and --array=1-4 both work; else 1-based)."""
    i, sep, n = str(text).partition("/")
    if not sep or not n.strip().isdigit() or int(n) < 1:
        raise MeditateError(f"--shard {text!r}: write I/N (1 <= I <= N, e.g. 2/8) or auto/N")
    n = int(n)
    if i.strip() == "auto":
        if env.get("JOB_COMPLETION_INDEX", "").strip().isdigit():
            idx = int(env["JOB_COMPLETION_INDEX"]) + 1
        elif env.get("SLURM_ARRAY_TASK_ID", "").strip().isdigit():
            low = env.get("SLURM_ARRAY_TASK_MIN", "").strip()
            idx = int(env["SLURM_ARRAY_TASK_ID"]) - (int(low) - 1 if low.isdigit() else 0)
        else:
            raise MeditateError(f"--shard {text!r}: neither {' nor '.join(SHARD_ENV)} is set; "
                                f"run it as a Kubernetes Indexed Job or a Slurm array, or give I/N")
    elif i.strip().isdigit():
        idx = int(i)
    else:
        raise MeditateError(f"--shard {text!r}: write I/N (1 <= I <= N, e.g. 2/8) or auto/N")
    if not 1 <= idx <= n:
        raise MeditateError(f"--shard {text!r}: the index is {idx}, outside 1..{n} (I/N is 1-based)")
    return idx, n


def playlist_text(entries: list[tuple[str, float, str]], title: str | None = None) -> str:
    """Extended M3U (UTF-8): ``entries`` are (relative file name, seconds, title)."""
    lines = ["#EXTM3U"]
    if title:
        lines.append(f"#PLAYLIST:{_one_line(title)}")
    for name, seconds, t in entries:
        lines.append(f"#EXTINF:{int(round(seconds))},{_one_line(t)}")
        lines.append(name)
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# ---------------------------------------------------------------- running
# A pool worker's two flags: only its main thread reads and writes them, and its signal handler,
# which Python runs on that same thread between two bytecodes. No lock: the handler would
# deadlock on one the interrupted code held. (The batch's own process never sets them.)
_interrupted = False      # set in a worker by its first SIGINT: it takes no further job
_in_job = False           # a worker is rendering (else it holds nothing to clean up)


def _on_sigint(signum, frame) -> None:
    """A worker's SIGINT, SIGTERM or SIGHUP: a render in progress is interrupted and cleans up;
    an idle worker ends at once (raising there, inside the pool's queue, could leave the
    queue's lock held and the other workers waiting on it for ever)."""
    global _interrupted
    if not _in_job:
        os._exit(128 + signum)
    if not _interrupted:       # only once: a second ^C must not break the clean-up of the first
        _interrupted = True
        raise KeyboardInterrupt


def _run_job(job: dict) -> dict:
    """Render one job; never raises for a render problem (the batch goes on)."""
    return _in_a_job(_render_job, job)


def _check_in_worker(job: dict) -> dict:
    """Check one job in a pool worker (see check_jobs)."""
    if _interrupted:
        return {"ok": False, "text": f"{job['script']}: interrupted", "message": "interrupted", "length": False}
    return _in_a_job(_check_job, job)


def _in_a_job(work, job: dict) -> dict:
    global _in_job
    _in_job = True          # a signal now interrupts the work, which cleans up, instead of ending the worker
    try:
        return work(job)
    finally:
        _in_job = False


def _render_job(job: dict) -> dict:
    if _interrupted:
        return {"ok": False, "message": f"{job['script']}: interrupted"}
    try:
        res = render(job["script"], Path(job["out"]), RenderOptions(**job["options"]))
        return {"ok": True, "duration": float(res.duration),
                "chapters": [[t, round(a, 3), round(b, 3)] for t, a, b in res.chapters]}
    except MeditateError as e:
        return {"ok": False, "message": str(e)}
    except Exception as e:       # a bug, not the user's: still isolated, still one line
        return {"ok": False, "message": f"{job['script']}: internal error {type(e).__name__}: {e}; please report it"}


def _worker_init(env: dict, cwd: str, log_queue=None, log_level: int = logging.WARNING) -> None:
    # a forkserver started earlier has that moment's environment and folder: take the batch's
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    if log_queue is not None:       # the library's records go to the batch's process, which shows them (-v)
        logger = logging.getLogger("generator")
        logger.handlers[:] = [logging.handlers.QueueHandler(log_queue)]
        logger.setLevel(log_level)
        logger.propagate = False
    util.Finalize(None, close_all, exitpriority=10)   # engine helper processes end with the worker
    if os.name == "posix":       # SIGTERM or SIGHUP sent to the whole group: clean up like Ctrl-C
        for s in (signal.SIGINT, *SIGNALS):
            signal.signal(s, _on_sigint)


def _load(series_path, people_csv, ignore_extra_columns: bool):
    series = load_series(series_path)
    people = None
    if people_csv is not None:
        people = read_people(people_csv)
        check_people(series, people, people_csv, ignore_extra_columns)
    return series, people


def plan_series(series_path, people_csv=None, out_dir=None, engine: str | None = None,
                progress=None, ignore_extra_columns: bool = False) -> tuple[Series, list[JobPlan]]:
    """Every job of a batch checked and fitted, as ``meditate plan SERIES`` shows it (no audio)."""
    series, people = _load(series_path, people_csv, ignore_extra_columns)
    out_dir = Path(out_dir) if out_dir is not None else Path("audio_out") / series.slug
    jobs = [j for f in plan(series, people, out_dir, engine, people_csv) for j in f.jobs]
    return series, check_jobs(series, jobs, people_csv, progress)


def run_batch(series_path, people_csv=None, out_dir=None, jobs: int = 1, force: bool = False,
              progress=None, engine: str | None = None, ignore_extra_columns: bool = False,
              fmt: str = "mp3", feed: str | None = None, shard: tuple[int, int] | None = None,
              finalize: bool = False) -> BatchReport:
    """Render a series (once per row of ``people_csv``) into ``out_dir``; see the module docstring.

    ``jobs``: worker processes (1: in this process; 0 or less: one per CPU). ``force``: render
    even what is up to date. ``progress``: anything with ``start(total, label)``, ``advance()``
    and ``finish()``. ``engine``: force a speech engine (tests: "fake"). ``fmt``: mp3, m4a or opus.
    ``feed``: a base URL: a podcast feed per folder (feed.py). ``shard``: (i, n), render only
    shard i of n (no playlists or feeds). ``finalize``: render nothing; write the playlists and
    feeds, and report every job not up to date as missing.

    Manifest and people problems raise :class:`SeriesError` before anything is rendered;
    render problems are collected in the report (``report.ok`` is False).
    """
    t0 = time.monotonic()
    if feed is not None:
        feed = check_base_url(feed)
    series, people = _load(series_path, people_csv, ignore_extra_columns)
    out_dir = Path(out_dir) if out_dir is not None else Path("audio_out") / series.slug
    if out_dir.exists() and not out_dir.is_dir():
        raise SeriesError("the output folder is a file; choose another -o DIR", str(out_dir))
    folders = plan(series, people, out_dir, engine, people_csv, fmt)
    mine = [j for f in folders for j in f.jobs if shard is None or shard_of(j, shard[1]) == shard[0]]
    shown = series.display_title + (f" [shard {shard[0]}/{shard[1]}]" if shard else "")
    report = BatchReport(shown, out_dir, total=len(mine))

    status: dict[str, dict] = {}          # out path -> its manifest entry, for finished or up-to-date jobs
    pending = []
    for folder in folders:
        man = _read_manifest(folder.path)
        for job in folder.jobs:
            if shard is not None and shard_of(job, shard[1]) != shard[0]:
                continue
            entry = man.get(job["name"])
            out = Path(job["out"])
            if (not force and job["hash"] and isinstance(entry, dict) and entry.get("hash") == job["hash"]
                    and out.is_file() and out.with_suffix(".vtt").is_file()):
                report.skipped += 1
                status[job["out"]] = entry
            elif finalize:
                report.failed.append((job["label"], f"{job['out']}: missing (not rendered, or failed); run "
                                                    f"its shard again, or the batch without --shard"))
            else:
                pending.append(job)
    if finalize:
        _write_lists(series, folders, status, out_dir, report, feed)
        report.elapsed = time.monotonic() - t0
        return report

    # every job is checked before anything renders (a length out of reach, a broken template…)
    order = {j["label"]: i for i, j in enumerate(j for f in folders for j in f.jobs)}
    if people is None:
        # a required variable nobody sets: say so in the series' terms, not render's --var hint
        for job in list(pending):
            p = series.practices[job["position"] - 1]
            try:
                missing = missing_required(series, p)
            except MeditateError:
                continue                       # the check below reports the broken script
            if missing:
                pending.remove(job)
                report.failed.append((job["label"], str(SeriesError(
                    f"{p.script} needs variable{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                    f"set {'them' if len(missing) > 1 else 'it'} under variables: in the series or "
                    f"the practice, or give a --people file with a '{missing[0]}' column",
                    str(series.path), p.line))))
    if jobs <= 0:
        jobs = os.cpu_count() or 1
    report.failed += [(c.job["label"], c.error) for c in check_jobs(series, pending, people_csv, progress,
                                                                     workers=jobs, keep=False) if c.error]
    if report.failed:               # nothing renders: every problem is reported at once
        report.failed.sort(key=lambda lf: order.get(lf[0], len(order)))
        report.elapsed = time.monotonic() - t0
        return report

    for folder in folders:
        if not folder.path.is_dir():
            try:
                folder.path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise SeriesError(f"cannot create the output folder: {e.strerror}", str(folder.path))
    if progress is not None:
        progress.start(report.total, "batch")
        if report.skipped:
            progress.advance(report.skipped)

    def finished(job: dict, result: dict) -> None:
        folder = Path(job["out"]).parent
        if result.get("ok"):
            report.rendered += 1
            status[job["out"]] = entry = {"hash": job["hash"], "duration": round(result["duration"], 3),
                                          "title": job["title"], "chapters": result.get("chapters", [])}
            # after every job: an interrupted batch keeps its progress
            _update_manifest(folder, job["name"], entry if job["hash"] else None, shard is not None)
        else:
            report.failed.append((job["label"], result.get("message", "failed")))
            _update_manifest(folder, job["name"], None, shard is not None)
        if progress is not None:
            progress.advance()

    try:
        if jobs <= 1 or len(pending) <= 1:
            for job in pending:
                finished(job, _run_job(job))
        else:
            _run_pool(pending, jobs, finished)
    finally:
        if progress is not None:
            progress.finish()

    report.failed.sort(key=lambda lf: order.get(lf[0], len(order)))
    if shard is None:
        _write_lists(series, folders, status, out_dir, report, feed)
    else:
        report.outputs = [Path(j["out"]) for j in mine if j["out"] in status]
    report.elapsed = time.monotonic() - t0
    return report


def _write_lists(series: Series, folders: list, status: dict, out_dir: Path, report: BatchReport,
                 feed: str | None) -> None:
    """Each folder's playlist of what is there (``status``: out path -> manifest entry), and its feed."""
    for folder in folders:
        entries, episodes = [], []
        for job in folder.jobs:
            st = status.get(job["out"])
            if st is not None:
                duration = float(st.get("duration") or 0.0)
                entries.append((job["name"], duration, job["title"]))
                report.outputs.append(Path(job["out"]))
                episodes.append(Episode(Path(job["out"]), job["position"], job["title"], duration,
                                        st.get("chapters") or [], job.get("description")))
        pl = folder.path / PLAYLIST
        write_text_atomic(pl, playlist_text(entries, folder.album))
        report.playlists.append(pl)
        if feed is not None:
            language = next((j.get("language") for j in folder.jobs if j.get("language")), None)
            report.feeds.append(write_feed(folder.path, out_dir, feed, series, folder.album, episodes,
                                           write_text_atomic, language))


def _run_pool(pending: list, jobs: int, finished, work=None) -> None:
    """``work(job)`` (default: render it) for every job in ``jobs`` processes; ``finished(job,
    result)`` in this process as each ends."""
    work = work or _run_job
    # longest practices first: the pool ends closer together
    queue = sorted(pending, key=lambda j: -j["length"])
    workers = min(jobs, len(queue))
    ctx = multiprocessing.get_context(_START_METHOD)
    if _START_METHOD == "forkserver":
        ctx.set_forkserver_preload(_PRELOAD)
    logger = logging.getLogger("generator")
    listener = None
    env = dict(os.environ)
    # each job's espeak speaks on the processors left to it, not on all of them (-j 2 on two cores:
    # one worker each, not two each fighting for the same two)
    env.setdefault(WORKERS_ENV, str(max(1, processors() // max(1, workers))))
    if logger.isEnabledFor(logging.INFO) and logger.hasHandlers():
        # the workers' log records (-v) come back through a queue; this process's logger hands
        # each to its handlers and its parents', as if it had been logged here
        log_queue = ctx.Queue()
        listener = logging.handlers.QueueListener(log_queue, logger)
        listener.start()
        init = (env, os.getcwd(), log_queue, logger.getEffectiveLevel())
    else:
        init = (env, os.getcwd())
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                             initargs=init)
    try:
        _pool(ex, queue, work, finished)
    finally:
        if listener is not None:
            listener.stop()             # (after the pool: every worker's records are in)


def _pool(ex, queue: list, work, finished) -> None:
    futures: dict = {}
    # while the pool runs, signals are only noted: _wait_all raises the first where that is safe
    # (a second Ctrl-C while the workers were being stopped once hung the batch at exit or ended
    # it with "release unlocked lock": tests/test_interrupt.py's impatient Ctrl-C, 3 times in 6)
    with noted() as noted_signals:
        try:
            futures = {ex.submit(work, job): job for job in queue}
            _wait_all(futures, finished, noted_signals)
        except BaseException:
            # ^C (or any failure here): queued jobs are dropped, running ones are interrupted
            # (their encoders remove the partial files) and no worker starts another job
            for fut in futures:
                fut.cancel()
            if os.name == "posix":
                _stop_workers(list((getattr(ex, "_processes", None) or {}).values()))
            ex.shutdown(wait=True, cancel_futures=True)
            raise
        ex.shutdown(wait=True)


def _wait_all(futures: dict, finished, noted: list) -> None:
    """``finished(job, result)`` for each of ``futures`` (future -> job) as it ends; the first
    signal ``noted`` meanwhile is raised as :class:`Interrupted`."""
    waiting = set(futures)
    while waiting:
        # (a bounded wait: a termination signal is handled within half a second, not when a job ends)
        done, waiting = wait(waiting, timeout=0.5, return_when=FIRST_COMPLETED)
        if noted:       # before the results: a worker the same signal stopped reports only that it stopped
            raise Interrupted(noted[0])
        for fut in done:
            job = futures[fut]
            try:
                result = fut.result()
            except Exception as e:     # the worker died (killed, out of memory…): that job fails, others go on
                result = {"ok": False, "message": f"{job['script']}: the render process stopped "
                                                  f"({type(e).__name__}: {e}); try again with -j 1"}
            finished(job, result)


def _stop_workers(procs: list, patience: float = 10.0) -> None:
    """SIGINT to every worker until it has ended: a rendering one cleans up (once) and goes idle,
    an idle one ends at once (see _on_sigint); after ``patience`` seconds, SIGKILL. Waiting for
    the pool's own shutdown is not enough: once the batch's process is gone, a worker blocked
    on the job queue would wait for ever. Workers are told apart by pid: they are the
    forkserver's children, and a SIGTERM to the whole group ends the forkserver too, after which
    multiprocessing reports them all ended."""
    pids = [p.pid for p in procs if p.pid]
    deadline = time.monotonic() + patience
    while True:
        alive = [pid for pid in pids if _running(pid)]
        if not alive:
            return
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL if time.monotonic() > deadline else signal.SIGINT)
            except OSError:
                pass
        time.sleep(0.2)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:        # a zombie has ended (Linux says so in /proc; elsewhere it counts until SIGKILL)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True

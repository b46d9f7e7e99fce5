"""The performance benchmarks in one run (``make bench``).

    .venv/bin/python bench/run_all.py [--quick] [--repeat N] [--keep] [--no-naive] [--results PATH]

Practices are generated into a temporary folder (bench/practice.py): realistic
scripts with an ambience bed, headings, invitational prose, flexible pauses,
soothing breathing and bells, an exact ``length:`` and about a third speech.
Every render runs ``meditate`` in a subprocess with the real espeak engine.

Measured:

(a) a 20-minute render (warm speech cache and cold) vs ffmpeg alone encoding the
    same 20 minutes (the render's own output decoded to s16le, piped into
    ``ffmpeg -f s16le ... -c:a libmp3lame`` with the renderer's own LAME settings; only ffmpeg is timed);
(b) peak memory of 10-, 30- and 60-minute renders (warm cache), and of the
    60-minute render with a cold cache (synthesizing every clip);
(c) warm vs cold re-render, and a re-render after editing one line; the same
    warm/cold pair with the neural (Piper) voice when this Python has the
    ``[neural]`` extra (``--no-neural`` skips it);
(d) ``meditate batch`` of 4 practices of ~5 minutes, ``-j 1`` vs ``-j 2``
    (``--force``; warm cache and cold), and the most ``-j 2`` could gain on two
    cores (``-j 1`` wall over half the CPU ``-j 2`` used);
(e) the naive pyttsx3 + pydub script (bench/naive_baseline.py) on the 20-minute practice.

Wall is ``time.perf_counter`` around the command; CPU is user+sys of the command
and all its reaped descendants (ffmpeg, the espeak worker). Peak memory: see
bench/measure.py (``peak`` = max(sampled sum over the process tree incl. ffmpeg and
the espeak worker, largest single process from /usr/bin/time -v)).

A measurement whose first run takes under ``CHEAP`` seconds runs twice (best
wall reported); ``--repeat N`` forces N runs. ``--quick``: 4-minute main
practice, 3/6/12-minute memory renders, 4 x 2.5-minute series.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import measure  # noqa: E402
import practice  # noqa: E402

CHEAP = 30.0
VENV_BIN = Path(sys.executable).parent
MEDITATE = str(VENV_BIN / "meditate") if (VENV_BIN / "meditate").exists() else None


def meditate_cmd(*args) -> list[str]:
    if MEDITATE:
        return [MEDITATE, *args]
    return [sys.executable, "-m", "generator.cli", *args]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="meditate-bench-"))
        self.warm = self.tmp / "cache-warm"
        self.warm.mkdir()
        self.out = self.tmp / "out"
        self.out.mkdir()
        self.cold_n = 0

    # -- helpers -------------------------------------------------------------------
    def env(self, cache: Path) -> dict:
        e = dict(os.environ)
        e["XDG_CACHE_HOME"] = str(cache)
        e.pop("MEDITATE_ENGINE", None)
        return e

    def cold_cache(self) -> Path:
        self.cold_n += 1
        return Path(measure.fresh_dir(str(self.tmp), f"cache-cold-{self.cold_n}"))

    def check(self, r: measure.Run, what: str) -> measure.Run:
        if r.rc != 0:
            raise SystemExit(f"bench: {what} failed (exit {r.rc}):\n{r.stderr.strip()}")
        return r

    def repeat(self, what: str, fn, cheap: bool | None = None):
        """Run fn(i) once, again when cheap (or --repeat N times); return (best run, all runs)."""
        log(f"{what} ...")
        runs = [fn(0)]
        n = self.args.repeat or (2 if (cheap if cheap is not None else runs[0].wall < CHEAP) else 1)
        for i in range(1, n):
            runs.append(fn(i))
        best = min(runs, key=lambda r: r.wall)
        walls = ", ".join(f"{r.wall:.1f}" for r in runs)
        log(f"  {what}: wall {walls} s, cpu {best.cpu:.1f} s, peak {best.peak_mb:.0f} MB")
        best.extra["runs"] = runs
        return best

    def render(self, script: Path, cache: Path, out_name: str) -> measure.Run:
        out = self.out / out_name
        r = measure.run(meditate_cmd("render", str(script), "-o", str(out), "-q"), env=self.env(cache), cwd=str(ROOT))
        return self.check(r, f"render {script.name}")

    def write(self, name: str, items) -> Path:
        p = self.tmp / name
        p.write_text(practice.to_markdown(items), encoding="utf-8")
        return p


def duration_of(path: Path) -> float | None:
    from generator.ffmpeg import ffmpeg_exe

    p = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    m = re.search(r"Duration: (\d+):(\d+):([\d.]+)", p.stderr)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None


def _secs(text: str) -> float:
    total = 0.0
    for num, unit in re.findall(r"([\d.]+)(h|ms|m|s)", text):
        total += float(num) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


def speech_share(plan_out: str) -> tuple[float, float]:
    """(speech seconds, total seconds) from ``meditate plan`` output."""
    speech, last_end = 0.0, 0.0
    for ln in plan_out.splitlines():
        m = re.match(r"\s*(\d+):(\d+):([\d.]+)\s+(\S+)\s+\d+\s+(.*)", ln)
        if not m:
            continue
        start = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
        length = _secs(m.group(4))
        if m.group(5).startswith("say:"):
            speech += length
        last_end = max(last_end, start + length)
    return speech, last_end


def machine() -> dict:
    cpu = "unknown"
    try:
        for ln in open("/proc/cpuinfo"):
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from generator.ffmpeg import ffmpeg_exe

    try:
        ffv = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    except OSError:
        ffv = "?"
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "ffmpeg": ffv,
            "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter practices (a fast check)")
    ap.add_argument("--repeat", type=int, default=0, help="runs per measurement (default: 2 when a run is cheap, else 1)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--no-naive", action="store_true", help="skip the pyttsx3+pydub baseline")
    ap.add_argument("--no-neural", action="store_true", help="skip the Piper voice runs even when it is installed")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"), help="markdown results file ('' for none)")
    args = ap.parse_args()

    q = args.quick
    main_m = 4 if q else 20
    mem_ms = [3, 6, 12] if q else [10, 30, 60]
    series_m = 2.5 if q else 5
    b = Bench(args)
    load0 = " ".join(f"{x:.2f}" for x in os.getloadavg())
    log(f"working in {b.tmp}; load average {load0}")
    t_start = time.perf_counter()
    rows: list[dict] = []
    goals: list[tuple[str, str, bool]] = []
    try:
        # -- practices ---------------------------------------------------------------
        main_items = practice.build(main_m, seed=1, ambience="ocean")
        period = practice.paragraphs_for(main_m)
        p_main = b.write(f"p{main_m:g}.md", main_items)
        mem_scripts = {m: b.write(f"p{m:g}m.md", practice.build(m, seed=1, period=period, ambience="ocean"))
                       for m in mem_ms}
        series_scripts = []
        for k in range(4):
            s = b.write(f"series-{k + 1}.md", practice.build(series_m, seed=10 + k,
                                                              ambience=("pink", "ocean")[k % 2]))
            series_scripts.append(s)
        manifest = b.tmp / "series.yaml"
        manifest.write_text("title: Bench series\nvoice: gentle\npractices:\n" + "".join(
            f"  - script: {s.name}\n    length: {series_m:g}m\n" for s in series_scripts), encoding="utf-8")
        neural = importlib.util.find_spec("piper") is not None and not args.no_neural
        p_neural = (b.write(f"p{main_m:g}-neural.md", practice.build(main_m, seed=1, ambience="ocean", voice="neural"))
                    if neural else None)
        plan_json = b.tmp / "naive-plan.json"
        plan_json.write_text(json.dumps(practice.to_plan(main_items)), encoding="utf-8")

        # -- warm cache: `meditate plan` synthesizes every phrase (and checks the length is reachable)
        log("warming the speech cache with `meditate plan` ...")
        t0 = time.perf_counter()
        plan_text = ""
        for s in [p_main, *mem_scripts.values(), *series_scripts]:
            p = subprocess.run(meditate_cmd("plan", str(s)), env=b.env(b.warm), cwd=str(ROOT),
                               capture_output=True, text=True)
            if p.returncode != 0:
                raise SystemExit(f"bench: meditate plan {s.name} failed:\n{p.stderr.strip()}")
            if s == p_main:
                plan_text = p.stdout
        warmup = time.perf_counter() - t0
        sp, total = speech_share(plan_text)
        log(f"  warm-up {warmup:.1f} s; main practice {total / 60:.2f} min, speech {sp / max(total, 1e-9):.0%}")

        # -- (a) + (c): 20-minute render warm / cold --------------------------------
        a_warm = b.repeat(f"render {main_m:g}m warm", lambda i: b.render(p_main, b.warm, "main-warm.mp3"))
        a_cold = b.repeat(f"render {main_m:g}m cold", lambda i: b.render(p_main, b.cold_cache(), "main-cold.mp3"))
        main_out = b.out / "main-warm.mp3"
        main_dur = duration_of(main_out)

        # ffmpeg alone: the render's own output decoded to s16le (same content), piped in
        from generator.ffmpeg import ffmpeg_exe

        ff = ffmpeg_exe()
        pcm = b.tmp / "main.s16le"
        subprocess.run([ff, "-v", "error", "-y", "-i", str(main_out), "-f", "s16le", "-ac", "2", "-ar", "44100",
                        str(pcm)], check=True)
        # the very LAME settings the renderer uses for a stereo MP3 (VBR by default)
        from generator.output.encode import Encoder

        lame = Encoder.lame_args(type("E", (), {"bitrate_kbps": None, "channels": 2})())
        ff_cmd = [ff, "-hide_banner", "-v", "error", "-y", "-f", "s16le", "-ar", "44100", "-ac", "2",
                  "-i", "pipe:0", "-c:a", "libmp3lame", *lame, "-f", "mp3", str(b.tmp / "ff-only.mp3")]
        a_ff = b.repeat("ffmpeg encode only", lambda i: b.check(measure.pipe_run(ff_cmd, str(pcm)), "ffmpeg"),
                        cheap=True)
        pcm.unlink()

        # -- (c) edit one line ------------------------------------------------------
        def edited(i):
            s = b.write(f"p{main_m:g}-edit{i}.md", practice.with_edit(main_items, i))
            return b.render(s, b.warm, "main-edit.mp3")

        c_edit = b.repeat(f"render {main_m:g}m after editing one line", edited)

        # -- (c) the same with the neural (Piper) voice, when the [neural] extra is installed
        c_nw = c_nc = None
        if neural:
            nwarm = b.tmp / "cache-neural"
            nwarm.mkdir(exist_ok=True)
            c_nc = b.repeat(f"render {main_m:g}m neural cold", lambda i: b.render(p_neural, b.cold_cache(), "neural-cold.mp3"))
            b.render(p_neural, nwarm, "neural-warm.mp3")      # fills the neural cache
            c_nw = b.repeat(f"render {main_m:g}m neural warm", lambda i: b.render(p_neural, nwarm, "neural-warm.mp3"))

        # -- (b) memory ---------------------------------------------------------------
        mem_runs = {}
        for m, s in mem_scripts.items():
            mem_runs[m] = b.repeat(f"render {m:g}m warm (memory)", lambda i, s=s, m=m: b.render(s, b.warm, f"mem{m:g}.mp3"))

        hi_m0 = mem_ms[-1]
        mem_cold = b.repeat(f"render {hi_m0:g}m cold (memory)",
                            lambda i: b.render(mem_scripts[hi_m0], b.cold_cache(), f"mem{hi_m0:g}-cold.mp3"),
                            cheap=False)

        # -- (d) batch ------------------------------------------------------------------
        def batch(jobs, cache):
            d = measure.fresh_dir(str(b.tmp), f"batch-j{jobs}")
            r = measure.run(meditate_cmd("batch", str(manifest), "-o", d, "-j", str(jobs), "--force", "-q"),
                            env=b.env(cache), cwd=str(ROOT))
            return b.check(r, f"batch -j {jobs}")

        d_w1 = b.repeat("batch -j 1 warm", lambda i: batch(1, b.warm))
        d_w2 = b.repeat("batch -j 2 warm", lambda i: batch(2, b.warm))
        d_c1 = b.repeat("batch -j 1 cold", lambda i: batch(1, b.cold_cache()))
        d_c2 = b.repeat("batch -j 2 cold", lambda i: batch(2, b.cold_cache()))

        # -- (e) naive baseline ---------------------------------------------------------
        e_run = None
        if not args.no_naive:
            naive_out = b.out / "naive.mp3"

            def naive(i):
                r = measure.run([sys.executable, str(HERE / "naive_baseline.py"), str(plan_json), str(naive_out)],
                                cwd=str(ROOT))
                return b.check(r, "naive baseline")

            e_run = b.repeat(f"naive pyttsx3+pydub {main_m:g}m", naive)
            e_run.extra["duration"] = duration_of(naive_out)

        # -- the table ------------------------------------------------------------------
        def row(sec, what, r=None, ratio="", goal="", ok=None, note=""):
            d = {"sec": sec, "what": what, "wall": "", "cpu": "", "peak": "", "ratio": ratio, "goal": goal,
                 "ok": "" if ok is None else ("PASS" if ok else "MISS"), "note": note}
            if r is not None:
                n = len(r.extra.get("runs", [r]))
                d["wall"] = f"{r.wall:.1f}" + (f" (n={n})" if n > 1 else "")
                d["cpu"] = f"{r.cpu:.1f}"
                d["peak"] = f"{r.peak_mb:.0f} ({r.proc_peak_mb:.0f}/{r.ffmpeg_peak_mb:.0f})"
            rows.append(d)
            if ok is not None:
                goals.append((what, goal, ok))

        M = f"{main_m:g}m"
        r1 = a_warm.wall / a_ff.wall
        row("a", f"ffmpeg alone: encode {M} stereo (same LAME settings)", a_ff, note="s16le piped in; only ffmpeg timed")
        row("a", f"render {M} warm (ocean bed, stereo)", a_warm, f"{r1:.2f}x encode", "<= 1.3x", r1 <= 1.3,
            note=f"CPU {a_warm.cpu / a_ff.cpu:.2f}x encode; CPU beyond ffmpeg's ~{a_warm.cpu - a_ff.cpu:.1f} s")
        row("a", f"render {M} cold (fresh cache)", a_cold, f"{a_cold.wall / a_ff.wall:.2f}x encode",
            note=f"CPU {a_cold.cpu / a_ff.cpu:.2f}x encode")
        peaks = {m: mem_runs[m].peak_mb for m in mem_ms}
        lo_m, hi_m = mem_ms[0], mem_ms[-1]
        for m in mem_ms:
            r = mem_runs[m]
            row("b", f"render {m:g}m warm: peak memory", r, f"{r.peak_mb / peaks[lo_m]:.2f}x {lo_m:g}m")
        row("b", f"peak memory of the {hi_m:g}m render", None, f"{peaks[hi_m]:.0f} MB", "<= 200 MB",
            peaks[hi_m] <= 200)
        row("b", f"render {hi_m:g}m cold (synthesizing every clip): peak memory", mem_cold,
            f"{mem_cold.peak_mb:.0f} MB", "<= 200 MB", mem_cold.peak_mb <= 200,
            note="the tree includes the espeak worker")
        flat_ok = peaks[hi_m] - peaks[lo_m] <= max(10.0, 0.10 * peaks[lo_m])
        row("b", f"memory flat {lo_m:g}m -> {hi_m:g}m", None, f"{peaks[hi_m] - peaks[lo_m]:+.0f} MB",
            "+<= max(10 MB, 10%)", flat_ok)
        r3 = a_warm.wall / a_cold.wall
        row("c", f"re-render {M} warm / cold", None, f"{r3:.2f}", "<= 0.5", r3 <= 0.5,
            note=f"warm {a_warm.wall:.1f} s, cold {a_cold.wall:.1f} s")
        row("c", f"re-render {M} after editing one line", c_edit, f"{c_edit.wall / a_cold.wall:.2f}x cold",
            note=f"{c_edit.wall / a_warm.wall:.2f}x warm")
        if c_nw is not None:
            row("c", f"render {M} neural voice (Piper) cold", c_nc)
            row("c", f"render {M} neural voice (Piper) warm", c_nw)
            rn = c_nw.wall / c_nc.wall
            row("c", f"re-render {M} neural voice warm / cold", None, f"{rn:.2f}", "<= 0.5", rn <= 0.5,
                note=f"warm {c_nw.wall:.1f} s, cold {c_nc.wall:.1f} s")
        else:
            row("c", "neural voice (Piper) warm / cold", None, note="not measured: the [neural] extra is not installed "
                "in this Python (run the bench with a venv that has it)")
        sw = d_w1.wall / d_w2.wall
        sc = d_c1.wall / d_c2.wall
        S = f"4 x {series_m:g}m"
        row("d", f"batch {S} -j 1 warm --force", d_w1)
        row("d", f"batch {S} -j 2 warm --force", d_w2, f"{sw:.2f}x faster", ">= 1.6x", sw >= 1.6)
        # what two cores allow at best: the CPU the batch needs, spread perfectly over both
        ceil_w = d_w1.wall / (d_w2.cpu / 2)
        row("d", "best -j 2 can do on 2 cores (warm)", None, f"{ceil_w:.2f}x",
            note=f"-j 1 wall / (-j 2 CPU / 2); -j 2 reaches {sw / ceil_w:.0%} of it. -j 1 already keeps "
                 f"{d_w1.cpu / d_w1.wall:.2f} cores busy (render and its ffmpeg overlap)")
        row("d", f"batch {S} -j 1 cold --force", d_c1)
        row("d", f"batch {S} -j 2 cold --force", d_c2, f"{sc:.2f}x faster")
        if e_run is not None:
            dur = e_run.extra.get("duration")
            row("e", f"naive pyttsx3+pydub {M} (stereo)", e_run, f"{e_run.wall / a_cold.wall:.2f}x our cold",
                note=f"{e_run.wall / a_warm.wall:.2f}x our warm; peak {e_run.peak_mb / a_cold.peak_mb:.2f}x ours"
                     + (f"; {dur / 60:.2f} min out" if dur else ""))

        mach = machine()
        elapsed = time.perf_counter() - t_start
        info = {
            "main_duration": main_dur, "speech_share": sp / total if total else None,
            "warmup": warmup, "elapsed": elapsed, "load0": load0,
        }
        print_table(rows, goals, mach, info, args)
        if args.results:
            write_markdown(Path(args.results), rows, goals, mach, info, args)
            log(f"results written to {args.results}")
        return 0
    finally:
        if args.keep:
            log(f"kept {b.tmp}")
        else:
            shutil.rmtree(b.tmp, ignore_errors=True)


COLS = [("sec", ""), ("what", "measurement"), ("wall", "wall s"), ("cpu", "CPU s"),
        ("peak", "peak MB (tree) (proc/ffmpeg)"), ("ratio", "ratio"), ("goal", "goal"), ("ok", "result"), ("note", "note")]


def _header(mach, info, args) -> list[str]:
    share = info["speech_share"]
    dur = info["main_duration"]
    return [
        f"machine: {mach['nproc']} cores, {mach['cpu']}, Python {mach['python']}, {mach['date']}, "
        f"load average {info['load0']} at start, {mach['loadavg']} at end (2 cores: above ~1 means "
        f"other work competes with the render and its ffmpeg; prefer the CPU column then)",
        f"ffmpeg: {mach['ffmpeg']}",
        f"mode: {'--quick' if args.quick else 'full'}; main practice "
        + (f"{dur / 60:.2f} min" if dur else "?") + (f", speech {share:.0%} of it" if share else "")
        + f"; cache warm-up (meditate plan) {info['warmup']:.1f} s; bench total {info['elapsed']:.0f} s",
    ]


def print_table(rows, goals, mach, info, args) -> None:
    widths = {k: max(len(h), *(len(str(r[k])) for r in rows)) for k, h in COLS}
    line = "  ".join(h.ljust(widths[k]) for k, h in COLS)
    print()
    for h in _header(mach, info, args):
        print(h)
    print()
    print(line)
    print("-" * len(line))
    prev = None
    for r in rows:
        if prev and r["sec"] != prev:
            print()
        prev = r["sec"]
        print("  ".join(str(r[k]).ljust(widths[k]) for k, _ in COLS).rstrip())
    print()
    for what, goal, ok in goals:
        print(f"{'PASS' if ok else 'MISS'}  {what}  ({goal})")
    print("\npeak MB: max(sampled sum of RSS over the process tree: renderer + ffmpeg + espeak worker, "
          "largest single process by /usr/bin/time -v); in brackets the largest single process and ffmpeg's own peak")


def write_markdown(path: Path, rows, goals, mach, info, args) -> None:
    out = ["# Benchmark results", "", "Written by `make bench` (`bench/run_all.py"
           + (" --quick" if args.quick else "") + "`).", ""]
    out += [f"- {h}" for h in _header(mach, info, args)]
    out += ["", "| " + " | ".join(h or "§" for _, h in COLS) + " |", "|" + "---|" * len(COLS)]
    for r in rows:
        out.append("| " + " | ".join(str(r[k]).replace("|", "/") for k, _ in COLS) + " |")
    out += ["", "Goals:", ""]
    out += [f"- **{'PASS' if ok else 'MISS'}** {what} ({goal})" for what, goal, ok in goals]
    out += ["", "Wall: `time.perf_counter` around the command. CPU: user+sys of the command and every reaped "
            "descendant (ffmpeg, espeak worker). Peak MB: the larger of the sampled (50 ms) sum of RSS over the "
            "process tree (renderer + ffmpeg + espeak worker) and the largest single process "
            "(`/usr/bin/time -v`); in brackets the largest single process / ffmpeg's own peak. `n=2`: best of two runs. "
            "CPU of processes nobody reaps (batch pool workers) is summed from /proc samples; the espeak worker's "
            "short-lived forks can escape both, so cold-render CPU is a lower bound.",
            "(a) ffmpeg alone encodes the render's own output, decoded to s16le and piped into "
            "`ffmpeg -f s16le -ar 44100 -ac 2 -i pipe:0 -c:a libmp3lame` with the renderer's LAME settings (VBR -V4 for stereo).", ""]
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if "<!-- intelligibility:begin -->" in old:     # bench/intelligibility.py's section is kept
        out += [old[old.index("<!-- intelligibility:begin -->"):].rstrip("\n"), ""]
    path.write_text("\n".join(out), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())

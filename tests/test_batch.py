"""Series manifests, people files, safe folder names and `run_batch` (fake engine, tiny scripts)."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from mutagen.mp3 import MP3

from generator import batch
from generator.batch import BATCH_MANIFEST, PLAYLIST, run_batch
from generator.engines.espeak import WORKERS_ENV
from generator.errors import SeriesError
from generator.script.series import load_series, read_people, safe_slug
from tests.helpers import TINY_VOICE, tiny_script, write

HAS_TAGS = importlib.util.find_spec("generator.output.tags") is not None


def one_practice_series(tmp_path, length="6s") -> Path:
    return write(tmp_path / "scripts" / "series" / "one.yaml", f"""\
        title: One
        practices:
          - script: p1
            length: {length}
        """)


class Recorder:
    def __init__(self):
        self.calls = []

    def start(self, total, label=None):
        self.calls.append(("start", total, label))

    def advance(self, n=1):
        self.calls.append(("advance", n))

    def finish(self):
        self.calls.append(("finish",))


def mp3s(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.mp3"))


# ---------------------------------------------------------------- manifests
def test_load_series_resolves_scripts_and_settings(lib):
    tmp, path = lib
    s = load_series(path)
    assert s.title == "Tiny Series" and s.slug == "tiny" and s.variables == {"name": "pal"}
    assert [p.script.resolve() for p in s.practices] == [(tmp / "scripts" / f"p{i}.md").resolve() for i in (1, 2, 3)]
    assert [p.length for p in s.practices] == [6.0, 8.0, 10.0]
    assert [p.line for p in s.practices] == [4, 6, 8]
    assert [p.slug for p in s.practices] == ["p1", "p2", "p3"]


@pytest.mark.parametrize("body, line, words", [
    ("title: T\npractices:\n  - script: p1\n    lenght: 5m\n", 4, "unknown key"),
    ("title: T\ncolour: blue\npractices:\n  - script: p1\n", 2, "unknown series key"),
    ("title: T\npractices:\n  - script: p1\n    length: 5 minutes\n", 4, "malformed duration"),
    ("title: T\npractices:\n  - script: p1\n  - script: nowhere\n", 4, "not found"),
    ("title: T\npractices:\n  - script: p1\n    bell: gong\n", 4, "not one of"),
    ("title: T\nbreath_cues: hum\npractices:\n  - script: p1\n", 2, "not one of"),
    ("title: T\nambience: rain\npractices:\n  - script: p1\n", 2, "ambience"),
    ("title: T\nambience_level: 5\npractices:\n  - script: p1\n", 2, "between -80 and 0"),
    ("title: T\npractices:\n  - script: p1\n    voice: nobody\n", 4, "unknown voice profile"),
    ("title: T\nvariables: [name]\npractices:\n  - script: p1\n", 2, "mapping"),
    ("title: T\npractices:\n  - script: p1\n    variables: {1x: a}\n", 4, "variable name"),
    ("title: T\npractices: []\n", 2, "non-empty list"),
    ("title: T\npractices:\n  - p1\n", 3, "mapping like"),
    ("title: T\npractices:\n  - length: 5m\n", 3, "needs 'script:'"),
    ("practices:\n  - script: p1\n", 1, "title"),
    ("title: T\ntitle: U\npractices:\n  - script: p1\n", 2, "twice"),
    ("title: T\npractices:\n  - script: p1\n    length: [5m\n", 5, "not valid YAML"),
])
def test_bad_manifests_name_the_line(lib, body, line, words):
    tmp, _ = lib
    path = tmp / "scripts" / "series" / "bad.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(SeriesError) as e:
        load_series(path)
    assert e.value.path == str(path)
    assert e.value.line == line, str(e.value)
    assert words in e.value.message


@pytest.mark.parametrize("raw, words", [
    (b"", "empty"), (b"  \n", "empty"), (b"\x00\x01binary", "binary"),
    (b"title: Caf\xe9\npractices: []\n", "UTF-8"),
])
def test_unreadable_manifests(tmp_path, raw, words):
    path = tmp_path / "s.yaml"
    path.write_bytes(raw)
    with pytest.raises(SeriesError, match=words):
        load_series(path)
    with pytest.raises(SeriesError, match="no such"):
        load_series(tmp_path / "missing.yaml")


# ---------------------------------------------------------------- people files
def test_read_people_with_bom_blank_lines_and_empty_cells(tmp_path):
    p = tmp_path / "people.csv"
    p.write_bytes("\ufeffname,pronoun\r\n\r\nZoë,she\r\n山田 太郎,\r\n\r\n\"Smith, Ann\",they\r\n".encode("utf-8"))
    rows = read_people(p)
    assert rows == [{"name": "Zoë", "pronoun": "she"}, {"name": "山田 太郎"}, {"name": "Smith, Ann", "pronoun": "they"}]
    assert [r.line for r in rows] == [3, 4, 6]
    assert rows[1].label == "山田 太郎" and rows[0].columns == ["name", "pronoun"]


@pytest.mark.parametrize("raw, line, words", [
    (b"name,name\nA,B\n", 1, "twice"),
    (b"name,,x\nA,B,C\n", 1, "no name"),
    (b"name\nA\nB,C\n", 3, "2 cells"),
    (b"name\nA\nZo\xeb\n", 3, "UTF-8"),
    (b"name\n\n", 1, "no rows"),
    (b"\n\n", None, "empty"),
])
def test_bad_people_files(tmp_path, raw, line, words):
    p = tmp_path / "people.csv"
    p.write_bytes(raw)
    with pytest.raises(SeriesError) as e:
        read_people(p)
    assert e.value.path == str(p) and e.value.line == line and words in e.value.message, str(e.value)


# ---------------------------------------------------------------- safe folder names
HOSTILE = ["Zoë", "山田 太郎", "Ånne-Marie", "../../x", "..", ".", "", "CON", "nul", "a/b\\c", "Zoë", "ZOË",
           "/etc/passwd", "~root", "C:\\Windows", "-", " \t ", "x" * 300, "नमस्ते दुनिया", "\u202eevil", "a\x00b"]


def test_safe_slug_keeps_letters_of_any_script_and_stays_inside(tmp_path):
    taken: set = set()
    slugs = [safe_slug(t, taken) for t in HOSTILE]
    assert slugs[:4] == ["zoë", "山田-太郎", "ånne-marie", "x"]
    assert slugs[10:12] == ["zoë-2", "zoë-3"]
    assert slugs[7] not in ("con",) and slugs[8] != "nul"
    assert slugs[-3] == "नमस्ते-दुनिया"
    assert len(set(slugs)) == len(slugs) == len(taken)
    for s in slugs:
        assert s and s not in (".", "..") and len(s) <= 64
        assert "/" not in s and "\\" not in s and "\x00" not in s and not s.startswith("-")
        assert (tmp_path / s).resolve().parent == tmp_path.resolve()


# ---------------------------------------------------------------- batches
def test_series_batch_files_playlist_tags_and_progress(lib, monkeypatch):
    tmp, series = lib
    monkeypatch.chdir(tmp)
    rec = Recorder()
    report = run_batch(series, progress=rec)
    out = Path("audio_out") / "tiny"
    assert report.ok and report.rendered == 3 and report.skipped == 0 and report.failed == []
    assert mp3s(out) == ["01-p1.mp3", "02-p2.mp3", "03-p3.mp3"]
    assert report.outputs == [out / n for n in mp3s(out)]
    assert (out / PLAYLIST).read_text(encoding="utf-8") == (
        "#EXTM3U\n#PLAYLIST:Tiny Series\n"
        "#EXTINF:6,Practice 1\n01-p1.mp3\n#EXTINF:8,Practice 2\n02-p2.mp3\n#EXTINF:10,Practice 3\n03-p3.mp3\n")
    for name, length in zip(mp3s(out), (6, 8, 10)):
        f = MP3(out / name)
        assert abs(f.info.length - length) <= 0.5
        if HAS_TAGS:
            assert str(f.tags["TALB"]) == "Tiny Series"
            assert str(f.tags["TRCK"]) == f"{name[1]}/3"
    assert "Hello pal, welcome." in (out / "01-p1.vtt").read_text(encoding="utf-8")   # series variables reach the script
    from generator.output.encode import decode

    assert abs(len(decode(out / "02-p2.mp3", channels=1).samples) / 44100 - 8) < 0.1
    assert rec.calls[0] == ("start", 3, "checking")       # every job is checked before any renders
    batch = rec.calls.index(("start", 3, "batch"))
    assert rec.calls[batch + 1:].count(("advance", 1)) == 3
    assert "3 rendered, 0 up to date, 0 failed" in report.summary()


def test_people_batch_unicode_and_hostile_names_stay_inside(lib, tmp_path):
    write(tmp_path / "scripts" / "p1.md", tiny_script("Practice 1", variables="  name: friend\n  place: here\n"))
    one = one_practice_series(tmp_path)
    names = ["Zoë", "山田 太郎", "Ånne-Marie", "../../x", "..", "", "CON", "a/b\\c", "Zoë"]
    people = tmp_path / "people.csv"
    people.write_bytes(("\ufeffname,place\n" + "".join(f'"{n}",{i}\n' for i, n in enumerate(names))).encode("utf-8"))
    out = tmp_path / "DIR"
    report = run_batch(one, people, out)
    # an empty name cell means "no value" (the script's default); the row still gets its own folder
    assert report.ok and report.rendered == len(names), report.summary()
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert [p.name for p in folders] == sorted(
        ["zoë", "山田-太郎", "ånne-marie", "x", "person", "person-2", "con-person", "a-b-c", "zoë-2"])
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "x").exists()
    for f in folders:
        assert f.resolve().parent == out.resolve()
        assert mp3s(f) == ["01-p1.mp3"]
        assert "01-p1.mp3" in (f / PLAYLIST).read_text(encoding="utf-8")
    assert "Hello 山田 太郎, welcome." in (out / "山田-太郎" / "01-p1.vtt").read_text(encoding="utf-8")
    assert "Hello friend, welcome." in (out / "person-2" / "01-p1.vtt").read_text(encoding="utf-8")
    assert "Hello ../../x, welcome." in (out / "x" / "01-p1.vtt").read_text(encoding="utf-8")


def test_people_errors_name_the_row_before_anything_renders(lib, tmp_path):
    tmp, series = lib
    write(tmp / "scripts" / "p2.md", tiny_script("Practice 2", variables="  name: friend\n  pronoun: null\n"))
    people = tmp_path / "people.csv"
    out = tmp_path / "DIR"
    people.write_text("name,pronoun,colour\nAnn,she,red\n", encoding="utf-8")
    with pytest.raises(SeriesError) as e:
        run_batch(series, people, out)
    assert e.value.path == str(people) and e.value.line == 1 and "unknown column 'colour'" in e.value.message
    people.write_text("name,pronoun\nAnn,she\n\nBob,\nCy,they\nDee\n", encoding="utf-8")
    with pytest.raises(SeriesError) as e:
        run_batch(series, people, out)
    assert e.value.line == 4 and "pronoun" in e.value.message and "(and 1 more problem" in e.value.message
    assert "p2.md" in e.value.message
    assert not list(out.rglob("*.mp3"))


def test_every_problem_is_reported_before_anything_renders(lib, tmp_path):
    tmp, _ = lib
    write(tmp / "scripts" / "p3.md", tiny_script("Practice 3", extra="[pause banana]\n"))
    write(tmp / "scripts" / "p4.md", tiny_script("Practice 4", variables="  name: null\n"))
    series = write(tmp / "scripts" / "series" / "mixed.yaml", """\
        title: Mixed
        practices:
          - script: p1
            length: 6s
          - script: p2
            length: 5m
          - script: p3
          - script: p4
        """)
    out = tmp_path / "DIR"
    report = run_batch(series, out_dir=out)
    assert not report.ok and report.rendered == 0
    assert not out.exists()                      # nothing rendered, no folder made
    labels = [label for label, _ in report.failed]
    assert labels == ["02-p2", "03-p3", "04-p4"]
    msgs = dict(report.failed)
    # the length is the manifest's: its line is named, with the script and the reachable range
    assert msgs["02-p2"].startswith(f"{series}:6: practice 2 (p2.md): length 5m is out of reach: "
                                    f"this script can last ")
    assert msgs["03-p3"].startswith(str(tmp / "scripts" / "p3.md") + ":11: ")
    assert msgs["04-p4"].startswith(f"{series}:8: ") and "needs variable name" in msgs["04-p4"]
    assert all("\n" not in m for m in msgs.values())
    summary = report.summary()
    assert "0 rendered" in summary and "3 failed" in summary and "02-p2: Error: " in summary
    assert report.error_lines()[0] == f"Error: {msgs['02-p2']} (02-p2)"


def test_skip_up_to_date_and_force(lib, tmp_path):
    tmp, series = lib
    out = tmp_path / "DIR"
    assert run_batch(series, out_dir=out).rendered == 3
    before = {n: (out / n).stat().st_mtime_ns for n in mp3s(out)}
    again = run_batch(series, out_dir=out)
    assert (again.rendered, again.skipped, again.ok) == (0, 3, True)
    assert {n: (out / n).stat().st_mtime_ns for n in mp3s(out)} == before
    assert (out / PLAYLIST).read_text(encoding="utf-8").count(".mp3") == 3
    assert (out / BATCH_MANIFEST).is_file()

    p2 = tmp / "scripts" / "p2.md"
    p2.write_text(p2.read_text(encoding="utf-8").replace("Rest now.", "Rest now, gently."), encoding="utf-8")
    edited = run_batch(series, out_dir=out)
    assert (edited.rendered, edited.skipped) == (1, 2)
    assert (out / "02-p2.mp3").stat().st_mtime_ns != before["02-p2.mp3"]
    assert "gently" in (out / "02-p2.vtt").read_text(encoding="utf-8")

    (out / "03-p3.mp3").unlink()                   # a lost output is made again
    assert run_batch(series, out_dir=out).rendered == 1

    voice = tmp / "voices" / "tiny.yaml"           # the voice profile is part of the sound
    voice.write_text(TINY_VOICE.replace("rate: 180", "rate: 170"), encoding="utf-8")
    assert run_batch(series, out_dir=out).rendered == 3

    forced = run_batch(series, out_dir=out, force=True)
    assert (forced.rendered, forced.skipped) == (3, 0)


def test_jobs_2_makes_the_same_files_as_jobs_1(lib, tmp_path):
    tmp, series = lib
    one, two = tmp_path / "j1", tmp_path / "j2"
    r1 = run_batch(series, out_dir=one, jobs=1)
    r2 = run_batch(series, out_dir=two, jobs=2)
    assert r1.ok and r2.ok and r2.rendered == 3, r2.summary()
    assert mp3s(one) == mp3s(two) == ["01-p1.mp3", "02-p2.mp3", "03-p3.mp3"]
    for name in mp3s(one) + [PLAYLIST, "01-p1.vtt"]:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


def test_jobs_2_shows_the_workers_log_records(lib, tmp_path, caplog):
    """-v with -j: each worker's records (its stages, its mixing passes) reach the batch's process."""
    import logging

    tmp, series = lib
    with caplog.at_level(logging.INFO, logger="generator"):
        report = run_batch(series, out_dir=tmp_path / "j2", jobs=2)
    assert report.ok and report.rendered == 3
    done = sorted(r.getMessage().split(",")[0] for r in caplog.records if r.name == "generator.pipeline"
                  and r.getMessage().startswith("done: "))
    assert [d.rsplit("/", 1)[-1] for d in done] == ["01-p1.mp3", "02-p2.mp3", "03-p3.mp3"], done
    assert {r.process for r in caplog.records if r.name == "generator.pipeline"} - {os.getpid()}   # from the workers


@pytest.mark.parametrize("fmt", ["m4a", "opus"])
def test_batch_format_writes_that_format_with_track_tags(lib, fmt):
    from mutagen import File

    tmp, series = lib
    out = tmp / "out"
    report = run_batch(series, out_dir=out, fmt=fmt)
    assert report.ok and report.rendered == 3
    names = [p.name for p in report.outputs]
    assert names == [f"01-p1.{fmt}", f"02-p2.{fmt}", f"03-p3.{fmt}"]
    assert [ln for ln in (out / PLAYLIST).read_text().splitlines() if not ln.startswith("#")] == names
    f = File(out / names[1])
    assert f.info.length == pytest.approx(8.0, abs=0.03)
    if fmt == "opus":
        assert (f.tags["TRACKNUMBER"], f.tags["TRACKTOTAL"], f.tags["ALBUM"]) == (["2"], ["3"], ["Tiny Series"])
    else:
        assert f.tags["trkn"] == [(2, 3)] and f.tags["\xa9alb"] == ["Tiny Series"]
    assert not list(out.glob("*.mp3"))
    again = run_batch(series, out_dir=out, fmt=fmt)
    assert again.skipped == 3 and again.rendered == 0


def _espeak_workers_here(job: dict) -> dict:
    """(Runs in a batch's worker process.)"""
    return {"ok": True, "workers": os.environ.get(WORKERS_ENV)}


@pytest.mark.parametrize("processors, jobs, given, each", [(4, 2, None, "2"), (2, 2, None, "1"), (3, 2, None, "1"),
                                                         (8, 1, None, "8"), (4, 2, "3", "3")])
def test_a_parallel_batch_shares_the_processors_among_its_jobs_espeak(monkeypatch, processors, jobs, given, each):
    """-j N: each job's espeak speaks on its share of the processors (a setting of the user's stands)."""
    if given is None:
        monkeypatch.delenv(WORKERS_ENV, raising=False)
    else:
        monkeypatch.setenv(WORKERS_ENV, given)
    monkeypatch.setattr(batch, "processors", lambda: processors)
    got = []
    pending = [{"length": n, "script": f"p{n}"} for n in (1, 2, 3)]
    batch._run_pool(pending, jobs, lambda job, result: got.append(result["workers"]), work=_espeak_workers_here)
    assert got == [each] * 3

"""Sharded batches: ``--shard I/N`` splits the (listener x practice) jobs by a hash of each
job's identity; shards run at once into one folder; ``--finalize`` writes playlists and feeds."""
from __future__ import annotations

import json

import pytest

from generator.batch import BATCH_MANIFEST, PLAYLIST, parse_shard, plan, run_batch, shard_of
from generator.errors import MeditateError
from generator.output.feed import FEED
from generator.script.series import load_series, read_people

from tests.procs import Run
from tests.helpers import REPO, write

NAMES = ["Ann", "Bo", "Cy", "Dee", "Eve", "Fay", "Gus"]


def people_csv(tmp, names, name="people.csv"):
    return write(tmp / name, "name\n" + "".join(n + "\n" for n in names))


def labels_by_shard(series, csv, out, n):
    jobs = [j for f in plan(load_series(series), read_people(csv), out) for j in f.jobs]
    return {j["label"]: shard_of(j, n) for j in jobs}


@pytest.mark.parametrize("n", [1, 2, 3, 5, 21, 40])
def test_shards_cover_the_batch_once_and_ignore_the_csv_order(lib, n):
    tmp, series = lib
    forward = labels_by_shard(series, people_csv(tmp, NAMES), tmp / "out", n)
    assert len(forward) == 21
    shards = [{lbl for lbl, s in forward.items() if s == i} for i in range(1, n + 1)]
    assert set().union(*shards) == set(forward)                          # the union is the whole batch
    assert sum(len(s) for s in shards) == len(forward)                   # and the shards are disjoint
    if n in (2, 3):
        assert all(shards)                                               # (a split, not all in one)
    backward = labels_by_shard(series, people_csv(tmp, NAMES[::-1], "reversed.csv"), tmp / "out", n)
    assert backward == forward                                           # stable under reordering


def test_parse_shard_and_the_schedulers_indexes():
    assert parse_shard("2/4", {}) == (2, 4)
    assert parse_shard("auto/4", {"JOB_COMPLETION_INDEX": "0"}) == (1, 4)        # Kubernetes: 0-based
    assert parse_shard("auto/4", {"JOB_COMPLETION_INDEX": "3"}) == (4, 4)
    assert parse_shard("auto/4", {"SLURM_ARRAY_TASK_ID": "4"}) == (4, 4)         # --array=1-4
    assert parse_shard("auto/4", {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "0"}) == (1, 4)
    assert parse_shard("auto/4", {"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1"}) == (4, 4)
    for bad, msg in [("0/4", "outside 1..4"), ("5/4", "outside 1..4"), ("2", "I/N"), ("a/4", "I/N"),
                     ("1/0", "I/N"), ("auto/4", "JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID")]:
        with pytest.raises(MeditateError, match=msg):
            parse_shard(bad, {})


def test_two_shards_at_once_into_one_folder_then_finalize(lib):
    tmp, series = lib
    csv = people_csv(tmp, NAMES[:4])
    out = tmp / "out"
    runs = [Run(["batch", series, "--people", csv, "-o", out, "--shard", f"{i}/2", "--format", "opus"], cwd=tmp)
            for i in (1, 2)]
    results = [r.finish(timeout=600) for r in runs]
    assert [rc for rc, _, _ in results] == [0, 0], results
    expected = labels_by_shard(series, csv, out, 2)
    rendered = []
    for i, (_, stdout, _) in enumerate(results, start=1):
        line = stdout.splitlines()[0]
        n = sum(1 for s in expected.values() if s == i)
        assert f"[shard {i}/2]: {n} rendered, 0 up to date, 0 failed, of {n}" in line
        rendered.append(n)
    assert sum(rendered) == 12                                             # nothing rendered twice
    for slug in ("ann", "bo", "cy", "dee"):
        man = json.loads((out / slug / BATCH_MANIFEST).read_text(encoding="utf-8"))["files"]
        assert sorted(man) == ["01-p1.opus", "02-p2.opus", "03-p3.opus"]   # no shard's entries lost
        assert not (out / slug / PLAYLIST).exists() and not (out / slug / FEED).exists()
    # the state is whole: an unsharded rerun finds everything up to date
    again = run_batch(series, csv, out, fmt="opus")
    assert (again.rendered, again.skipped) == (0, 12)
    # finalize writes each listener's feed; a job gone missing is listed, exit status 1
    (out / "bo" / "02-p2.opus").unlink()
    r = Run(["batch", series, "--people", csv, "-o", out, "--format", "opus", "--finalize",
             "--feed", "https://example.org/c/"], cwd=tmp)
    rc, stdout, stderr = r.finish()
    assert rc == 1 and "bo/02-p2: " not in stdout
    assert f"Error: {out / 'bo' / '02-p2.opus'}: missing (not rendered, or failed)" in stderr
    assert stderr.count("missing") == 1
    for slug, n in (("ann", 3), ("bo", 2), ("cy", 3), ("dee", 3)):
        import feedparser

        assert len(feedparser.parse((out / slug / FEED).read_bytes()).entries) == n
        assert (out / slug / PLAYLIST).read_text(encoding="utf-8").count(".opus") == n


def test_shard_and_finalize_together_is_a_usage_error(lib):
    from click.testing import CliRunner

    from generator.cli import cli

    tmp, series = lib
    r = CliRunner().invoke(cli, ["batch", str(series), "--shard", "1/2", "--finalize"])
    assert r.exit_code == 2 and "separate runs" in r.output
    r = CliRunner().invoke(cli, ["batch", str(series), "--shard", "3/2"])
    assert r.exit_code == 2 and "outside 1..2" in r.output


def _example_env(tmp, series, csv, out, **extra):
    import os
    import sys
    from pathlib import Path

    bin_dir = str(Path(sys.executable).parent)          # the venv's `meditate`
    return dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), SERIES=str(series),
                PEOPLE=str(csv), OUT=str(out), FORMAT="opus", MEDITATE_ENGINE="fake", **extra)


def _done(out, csv_names):
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*.opus")) == sorted(
        f"{n.lower()}/{k}" for n in csv_names for k in ("01-p1.opus", "02-p2.opus", "03-p3.opus"))


def test_the_slurm_example_runs_as_written(lib):
    """examples/slurm.sbatch under bash with the variables Slurm sets for --array=1-2."""
    import subprocess


    tmp, series = lib
    csv, out = people_csv(tmp, NAMES[:3]), tmp / "out"
    for task in ("1", "2"):
        env = _example_env(tmp, series, csv, out, SLURM_ARRAY_TASK_ID=task, SLURM_ARRAY_TASK_MIN="1",
                           SLURM_ARRAY_TASK_COUNT="2", SLURM_CPUS_PER_TASK="1")
        r = subprocess.run(["bash", str(REPO / "examples" / "slurm.sbatch")], env=env, cwd=tmp,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
    assert _done(out, NAMES[:3])


def test_the_kubernetes_example_runs_as_written(lib):
    """The Indexed Job's container command under sh, with its env (paths pointed here) and each
    JOB_COMPLETION_INDEX; its image is the one the Containerfile says to build."""
    import subprocess

    import yaml


    job = yaml.safe_load((REPO / "examples" / "k8s-indexed-job.yaml").read_text(encoding="utf-8"))
    spec = job["spec"]
    (c,) = spec["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert spec["completionMode"] == "Indexed" and int(env["SHARDS"]) == spec["completions"]
    assert f"-t {c['image']} -f Containerfile" in (REPO / "Containerfile").read_text(encoding="utf-8")
    assert (REPO / env["SERIES"].replace("/app/", "")).is_file()          # the image's copy of the repo
    tmp, series = lib
    csv, out = people_csv(tmp, NAMES[:3]), tmp / "out"
    for index in ("0", "1"):
        run_env = _example_env(tmp, series, csv, out, JOB_COMPLETION_INDEX=index, SHARDS="2")
        r = subprocess.run([*c["command"], *c["args"]], env=run_env, cwd=tmp, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stderr
    assert _done(out, NAMES[:3])

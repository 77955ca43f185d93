"""Builds and sweeps on real Dask clusters: a `dask scheduler` and two `dask worker` processes on
127.0.0.1 (scheduler file in a temporary folder), one of them killed with SIGKILL while a run is in
flight; a `-j 2` LocalCluster build whose kernels get their thread limits and whose 06 waits for
03 and 04; and a small sweep of the real 02 notebook through `--scheduler`. Stand-in notebooks (the
``stand_ins`` fixture) that sleep a few seconds keep the cluster tests fast and deterministic."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat
import psutil
import pytest

from mnist_lib.runner import executors

REPO = Path(__file__).resolve().parent.parent
DASK = [sys.executable, "-m", "dask"]

pytestmark = pytest.mark.slow


def _stop(procs: list[subprocess.Popen]) -> None:
    """Terminate each process we started, by PID, with everything it started; kill what lingers."""
    family = []
    for proc in procs:
        try:
            parent = psutil.Process(proc.pid)
            family += parent.children(recursive=True) + [parent]
        except psutil.NoSuchProcess:
            pass
    for member in family:
        try:
            member.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(family, timeout=15)
    for member in alive:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    for proc in procs:
        proc.wait(timeout=10)


@contextmanager
def dask_cluster(folder: Path, workers: int = 2):
    """`dask scheduler` + ``workers`` x `dask worker --nthreads 1 --no-nanny` on 127.0.0.1; yields the
    scheduler file, the worker processes (no nanny: the PID is the process that runs the tasks) and the
    scheduler's process."""
    from distributed import Client

    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    # the tests folder too: a task may be a function of this module, which pytest imports as `test_dask`
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    procs: list[subprocess.Popen] = []
    logs = []
    try:
        logs.append(open(folder / "scheduler.log", "w"))
        procs.append(subprocess.Popen(DASK + ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                              "--scheduler-file", str(scheduler_file)], env=env, cwd=folder,
                                      stdout=logs[-1], stderr=subprocess.STDOUT))
        deadline = time.time() + 120
        while not scheduler_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        assert scheduler_file.exists(), (folder / "scheduler.log").read_text()
        for i in range(workers):
            logs.append(open(folder / f"worker{i}.log", "w"))
            procs.append(subprocess.Popen(DASK + ["worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1",
                                                  "--no-nanny", "--host", "127.0.0.1", "--no-dashboard",
                                                  "--memory-limit", "0", "--name", f"worker{i}"],
                                          env=env, cwd=folder, stdout=logs[-1], stderr=subprocess.STDOUT))
        if workers:
            with Client(scheduler_file=str(scheduler_file), timeout="60s") as client:
                client.wait_for_workers(workers, timeout=180)
        yield scheduler_file, procs[1:], procs[0]
    finally:
        _stop(procs)
        for log in logs:
            log.close()


def events(log: Path) -> list[tuple[str, str, str, int]]:
    """(start | done, notebook, the run's output folder, PID of the process running the task)."""
    if not log.exists():
        return []
    return [(kind, name, folder, int(pid))
            for kind, name, folder, pid in (line.split() for line in log.read_text().splitlines())]


def assert_complete_and_intact(folder: Path, runs: int) -> dict:
    """Every run once in the manifest, ok, with readable artifacts; no temporary file anywhere."""
    manifest = json.loads((folder / "sweep.json").read_text())
    ids = [r["id"] for r in manifest["runs"]]
    assert len(ids) == runs and len(set(ids)) == runs
    assert all(r["status"] == "ok" for r in manifest["runs"]), manifest["runs"]
    for run in manifest["runs"]:
        json.loads((folder / run["metrics"]).read_text())
        assert "</html>" in (folder / run["html"]).read_text()
        nbformat.read(folder / run["folder"] / "executed" / f"{run['notebook']}.ipynb", as_version=4)
        assert (folder / run["folder"] / "executed" / f"{run['notebook']}.run.json").exists()
    assert [str(p) for p in folder.rglob(".*")] == []
    return manifest


def runners_left(out: Path) -> list:
    return [p for p in psutil.process_iter(["cmdline"])
            if "mnist_lib.runner.job" in " ".join(p.info["cmdline"] or []) and str(out) in
            " ".join(p.info["cmdline"] or [])]


@pytest.mark.extended
def test_a_sweep_on_a_cluster_survives_a_worker_killed_mid_run_and_reruns_nothing(
        tmp_path, data, stand_ins, write_yaml, sweep_cli, executed_count):
    log = tmp_path / "events.log"
    nbs = stand_ins(tmp_path / "nbs", sleep=3, log=log)
    file = write_yaml(tmp_path / "seeds-standin.yaml", "notebooks: [02_ann, 05_optimizers]\nprofile: quick\n"
                                                       "grid:\n  seed: [0, 1, 2]\n")
    out = tmp_path / "out"
    with dask_cluster(tmp_path / "cluster") as (scheduler_file, workers, _):
        pids = {w.pid for w in workers}
        sweep = subprocess.Popen([sys.executable, "-m", "mnist_lib", "sweep", str(file), "--output", str(out),
                                  "--data-dir", str(data[0]), "--source", str(data[1]), "--notebooks", str(nbs),
                                  "--scheduler", str(scheduler_file)], cwd=REPO, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 300
            while not [e for e in events(log) if e[0] == "start" and e[3] in pids] and time.time() < deadline:
                time.sleep(0.2)
            victim_run = next(e for e in events(log) if e[0] == "start" and e[3] in pids)
            victim = victim_run[3]
            os.kill(victim, signal.SIGKILL)  # the worker dies with a run in flight
            stdout, stderr = sweep.communicate(timeout=900)
        finally:
            if sweep.poll() is None:
                sweep.kill()
        assert sweep.returncode == 0, stderr
        assert "Sweep seeds-standin: 6 runs: 6 executed, 0 up to date, 0 not ok" in stdout
        folder = out / "sweeps" / "seeds-standin"
        manifest = assert_complete_and_intact(folder, 6)
        seen = events(log)
        done = [e[2] for e in seen if e[0] == "done"]
        assert sorted(done) == sorted(set(done)) and len(done) == 6  # each run finished exactly once
        starts = [e[2] for e in seen if e[0] == "start"]
        assert starts.count(victim_run[2]) == 2  # the killed run started again, on the other worker
        assert all(pid != victim for kind, _, _, pid in seen if kind == "done")
        assert runners_left(out) == []  # the killed worker's runner and kernel are gone too
        assert "executor: Dask scheduler tcp://127.0.0.1:" in stdout and manifest["executor"].startswith("Dask")
        summary = (folder / "summary.html").read_text()
        assert "6 runs, 6 succeeded, none failed" in summary

        again = sweep_cli(file, out, data, nbs, "--scheduler", str(scheduler_file))
        assert again.returncode == 0, again.stderr
        assert executed_count(again) == 0 and "6 up to date" in again.stdout
        assert events(log) == seen  # nothing ran anywhere


@pytest.mark.extended
def test_a_scheduler_that_goes_away_mid_sweep_is_one_line_and_a_rerun_runs_only_what_was_not_recorded(
        tmp_path, data, stand_ins, write_yaml, sweep_cli, executed_count):
    log = tmp_path / "events.log"
    nbs = stand_ins(tmp_path / "nbs", sleep=4, log=log)
    file = write_yaml(tmp_path / "three.yaml", "notebooks: [02_ann]\nprofile: quick\ngrid:\n  seed: [0, 1, 2]\n")
    out = tmp_path / "out"
    with dask_cluster(tmp_path / "cluster", workers=1) as (scheduler_file, _, scheduler):
        sweep = subprocess.Popen([sys.executable, "-m", "mnist_lib", "sweep", str(file), "--output", str(out),
                                  "--data-dir", str(data[0]), "--notebooks", str(nbs), "--scheduler",
                                  str(scheduler_file), "--no-progress"], cwd=REPO, text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        # the command records a run (its stamp) when the result is back, after the notebook itself is done
        deadline = time.time() + 300
        while not list(out.glob("**/executed/*.run.json")) and time.time() < deadline:
            time.sleep(0.2)
        scheduler.kill()  # the cluster goes away with a run recorded and others to go
        stdout, stderr = sweep.communicate(timeout=300)
    assert sweep.returncode == 1 and "Traceback" not in stderr and "ERROR" not in stderr
    line = stderr.strip()
    assert "\n" not in line and line.startswith("error: the Dask scheduler at tcp://127.0.0.1:") and "went away" in line
    recorded = int(line.split(": ")[-1].split(" of 3 runs finished and recorded")[0])
    assert recorded >= 1 and line.endswith(f"rerun the same command to run the other {3 - recorded}")
    with dask_cluster(tmp_path / "cluster2", workers=1) as (scheduler_file, _, _):
        again = sweep_cli(file, out, data, nbs, "--scheduler", str(scheduler_file))
    assert again.returncode == 0, again.stderr
    assert executed_count(again) == 3 - recorded and f"{recorded} up to date" in again.stdout


def test_a_cluster_without_workers_stops_the_build_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(executors, "NO_WORKER_TIMEOUT", 3.0)
    monkeypatch.setattr(executors, "POLL_SECONDS", 0.5)
    with dask_cluster(tmp_path / "cluster", workers=0) as (scheduler_file, _, _):
        with executors.open_executor(scheduler=str(scheduler_file)) as ex:
            task = ex.submit("waits", _sleep_and_say_where, 0.1)
            with pytest.raises(executors.ClusterLost, match=r"has had no worker for 3 s"):
                list(ex.as_completed([task]))


def test_a_local_cluster_build_runs_in_parallel_with_each_notebooks_threads_and_06_after_03_and_04(
        tmp_path, data, stand_ins):
    log = tmp_path / "events.log"
    nbs = stand_ins(tmp_path / "nbs", sleep=3, log=log)
    out = tmp_path / "out"
    # as a nanny sets it for its worker: the notebooks must not inherit it
    nanny_env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    done = subprocess.run([sys.executable, "-m", "mnist_lib", "reports", "--profile", "quick", "--output", str(out),
                           "--data-dir", str(data[0]), "--source", str(data[1]), "--notebooks", str(nbs), "-j", "2"],
                          capture_output=True, text=True, cwd=REPO, timeout=900, env=nanny_env)
    assert done.returncode == 0, done.stderr
    assert "executor: LocalCluster of 2 single-threaded workers" in done.stdout
    seen = events(log)
    assert len(seen) == 14 and len({pid for *_, pid in seen}) == 2  # seven runs, on both workers
    order = [(kind, name) for kind, name, _, _ in seen]
    # 06 started only after 03 and 04 finished: dependencies per task, not waves
    assert order.index(("start", "06_feature_maps")) > max(order.index(("done", "03_lenet")),
                                                           order.index(("done", "04_cnn")))
    for name in ("02_ann", "06_feature_maps"):  # the notebook's `threads` parameter, not the share of the cores
        metrics = json.loads((out / f"{name}.metrics.json").read_text())
        assert metrics["omp_threads"] == "1" and metrics["malloc_trim"] is None
    build = json.loads((out / "build.json").read_text())
    assert all(run["status"] == "ok" for run in build["runs"].values())
    assert build["executor"].startswith("LocalCluster of 2")
    again = subprocess.run([sys.executable, "-m", "mnist_lib", "reports", "--profile", "quick", "--output", str(out),
                            "--data-dir", str(data[0]), "--source", str(data[1]), "--notebooks", str(nbs), "-j", "2"],
                           capture_output=True, text=True, cwd=REPO, timeout=900)
    assert again.returncode == 0 and "(0 run, 7 up to date" in again.stdout and "executor: none" in again.stdout
    assert events(log) == seen


@pytest.mark.extended
def test_the_real_02_notebook_swept_over_two_seeds_on_a_cluster(tmp_path, data, write_yaml, sweep_cli):
    file = write_yaml(tmp_path / "real.yaml", "notebooks: [02_ann]\nprofile: quick\nparams: {epochs: 1}\n"
                                              "grid:\n  seed: [0, 1]\n")
    out = tmp_path / "out"
    with dask_cluster(tmp_path / "cluster") as (scheduler_file, _, _):
        done = sweep_cli(file, out, data, REPO / "notebooks", "--scheduler", str(scheduler_file))
    assert done.returncode == 0, done.stderr
    folder = out / "sweeps" / "real"
    assert_complete_and_intact(folder, 2)
    accuracies = [json.loads((folder / f"seed={s}" / "02_ann" / "02_ann.metrics.json").read_text())
                  for s in (0, 1)]
    assert [m["params"]["seed"] for m in accuracies] == [0, 1]
    assert accuracies[0]["test_accuracy"] != accuracies[1]["test_accuracy"]
    assert all(m["environment"]["torch_threads"] == m["params"]["threads"] == 1 for m in accuracies)
    summary = json.loads((folder / "summary.metrics.json").read_text())
    assert summary["groups"][0]["n"] == 2 and summary["groups"][0]["mean"] == pytest.approx(
        sum(m["test_accuracy"] for m in accuracies) / 2)


def test_on_a_local_cluster_a_failed_notebook_is_reported_and_its_dependents_skipped(tmp_path, data, stand_ins):
    from mnist_lib.runner import pipeline

    folder = stand_ins(tmp_path / "notebooks", fail=["03_lenet"])
    out = tmp_path / "out"
    threads_before = {name: os.environ.get(name) for name in executors.THREAD_VARIABLES}
    result = pipeline.build_reports(profile="quick", output=out, data_dir=data[0], source=str(data[1]),
                                    notebook_dir=folder, log=lambda *a: None, jobs=2)
    # The cluster's nannies ran in this process and left its thread settings as they were (a later
    # in-process build must not run on one thread).
    assert {name: os.environ.get(name) for name in executors.THREAD_VARIABLES} == threads_before
    status = {name: run.status for name, run in result.runs.items()}
    assert status == {"01_eda": "ok", "02_ann": "ok", "03_lenet": "failed", "04_cnn": "ok", "05_optimizers": "ok",
                      "06_feature_maps": "skipped", "07_hyperparameters": "ok"}
    assert result.runs["06_feature_maps"].error == "depends on 03_lenet, which failed"
    assert "RuntimeError: stand-in failure in 03_lenet" in result.runs["03_lenet"].error
    assert "stand-in failure in 03_lenet" in (out / "03_lenet.html").read_text()
    assert not (out / "06_feature_maps.html").exists() and result.executor.startswith("LocalCluster of 2")
    assert list(out.glob(".*")) == [] and list((out / "executed").glob(".*")) == []


def _sleep_and_say_where(seconds: float, *_dependencies) -> tuple[str, float, float]:
    """A task: (the worker it ran on, start, end), after sleeping ``seconds``."""
    from distributed import get_worker

    start = time.time()
    time.sleep(seconds)
    return get_worker().address, start, time.time()


def _fail(*_dependencies):
    raise ValueError("this task fails")


def test_a_local_cluster_keeps_every_worker_busy_longest_chain_first():
    # Dask assigns a submitted task to a worker at once: four independent tasks submitted together
    # used to queue on one worker. Now they go out as threads free up, highest priority first.
    with executors.open_executor(2) as ex:
        slow = [ex.submit(f"t{i}", _sleep_and_say_where, 1.5, priority=0) for i in range(3)]
        first = ex.submit("urgent", _sleep_and_say_where, 1.5, priority=10)
        after = ex.submit("after", _sleep_and_say_where, 0.1, first)
        broken = ex.submit("broken", _fail, priority=5)
        skipped = ex.submit("skipped", _sleep_and_say_where, 0.1, broken)
        results, errors = {}, {}
        for key, result, error in ex.as_completed(slow + [first, after, broken, skipped]):
            if error is None:
                results[key] = result
            else:
                errors[key] = error
    assert set(errors) == {"broken", "skipped"} and errors["skipped"] is errors["broken"]  # as Dask ends it
    assert len({where for where, _, _ in results.values()}) == 2
    starts = sorted((start, key) for key, (_, start, _) in results.items())
    assert "urgent" in (starts[0][1], starts[1][1])  # the highest priority goes out first
    assert results["after"][1] >= results["urgent"][2]  # after what it depends on
    # Four 1.5 s sleeps on 2 workers: 3 s from the first start to the last end if both stay busy,
    # 4.5 s or more if one idles while a task waits (the time between tasks aside).
    sleeps = [results[key] for key in ("t0", "t1", "t2", "urgent")]
    span = max(end for _, _, end in sleeps) - min(start for _, start, _ in sleeps)
    assert span < 4.2, results

"""The series build: plan what is stale, run it on an executor, record it.

Planning happens here, in the main process: every notebook's run key
(:mod:`mnist_lib.runner.keys`) is compared with the stamp its last successful run
left in ``<output>/executed/<name>.run.json``. Equal keys and intact files (HTML,
metrics, executed notebook, predictions, checked by hash) mean the notebook is
up to date and is never submitted anywhere; a changed template only re-renders.
Only stale notebooks become tasks of the executor (:mod:`mnist_lib.runner.executors`:
in-process, or Dask for ``-j N`` / ``--scheduler``), a task depending on the tasks
of the notebooks it needs (06 on 03 and 04). A task runs its notebook in a child
process with a time limit (:mod:`mnist_lib.runner.job`) and renders its HTML
where it runs (the output folder is shared with every worker); the main process
writes each stamp as each task finishes, so an interrupted build keeps what
finished. Dependents of a failed notebook are skipped; dependents of a notebook
that reran run too. Every build writes ``build.json``, a history record and the
index. Sweeps (:mod:`mnist_lib.runner.sweep`) plan and run their targets with the same
functions.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mnist_lib import catalogue
from mnist_lib.catalogue import NOTEBOOK_DIR
from mnist_lib.datasets import dataset_title, ensure_dataset
from mnist_lib.environment import now_utc, pick_device
from mnist_lib.files import atomic_write_text, digest_of, sha256_file, write_json
from mnist_lib.params import ParameterError, checked_folder, notebook_parameters, validate
from mnist_lib.profiles import load_profile
from mnist_lib.reports import metrics_path, predictions_path
from mnist_lib.runner.build_dataset import choose_dataset
from mnist_lib.runner.diff import latest_changes
from mnist_lib.runner.executors import ClusterLost, gpu_resources, open_executor, thread_limits
from mnist_lib.runner.history import record_build
from mnist_lib.runner.job import Execution, run_notebook
from mnist_lib.runner.keys import RunKey, library_files, resolved_parameters, run_key
from mnist_lib.website.datasets_index import BUILD_FILE, BuiltDataset, built_datasets, datasets_page
from mnist_lib.website.index import write_index
from mnist_lib.website.pages import render_failure_page
from mnist_lib.website.render import render_digest, render_html


@dataclass
class NotebookRun:
    notebook: str
    status: str = "pending"  # ok, failed, skipped
    seconds: float = 0.0
    html: Path | None = None
    error: str | None = None
    metrics: dict | None = None
    cached: bool = False  # up to date: not run in this build
    built: str | None = None  # when the run that produced the report finished
    key: str | None = None
    reason: str | None = None  # why it ran


@dataclass
class BuildResult:
    runs: dict[str, NotebookRun]
    index_path: Path
    seconds: float
    record: Path | None = None
    executor: str = "none (everything up to date)"


def _series_names(option: str, names: list[str], extra: str = "") -> list[str]:
    """``names``, each a notebook of the series, or a one-line ParameterError for ``option``."""
    valid = catalogue.series_names()
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise ParameterError(f"{option}: unknown notebook '{unknown[0]}'; valid: {', '.join(valid)}{extra}")
    return names


def with_dependencies(only: list[str] | None) -> list[str]:
    """The notebooks to run, in series order, with what they depend on."""
    if not only:
        return list(catalogue.series_names())
    return catalogue.with_dependencies(_series_names("--only", only))


def forced_notebooks(force: str | list[str] | None) -> set[str]:
    """``None``: none; ``"all"``: every notebook; a list or comma-separated names: those."""
    if force is None:
        return set()
    names = [n.strip() for n in force.split(",")] if isinstance(force, str) else list(force)
    names = [n for n in names if n]
    if names == ["all"] or not names:
        return set(catalogue.series_names())
    return set(_series_names("--force", names, " (or no value for all)"))


def prepare_output(output: str | os.PathLike, executed: bool = True) -> Path:
    """The output folder, created if it can be (:func:`mnist_lib.params.checked_folder` says in one line
    why not). With ``executed`` its ``executed/`` folder too (not for a reports folder that only holds
    other data sets' folders)."""
    output = checked_folder("--output", output, must_exist=False, writable=True)
    output.mkdir(parents=True, exist_ok=True)
    if executed:
        (output / "executed").mkdir(exist_ok=True)
    return output


# --------------------------------------------------------------------------- stamps


def stamp_path(output: Path, name: str) -> Path:
    return output / "executed" / f"{name}.run.json"


def _artifacts(output: Path, name: str) -> dict[str, Path]:
    return {"html": output / f"{name}.html", "metrics": metrics_path(output, name),
            "executed": output / "executed" / f"{name}.ipynb", "predictions": predictions_path(output, name)}


def _file_hashes(output: Path, name: str) -> dict[str, str | None]:
    return {part: sha256_file(path) if path.exists() else None for part, path in _artifacts(output, name).items()}


def read_stamp(output: Path, name: str) -> dict | None:
    try:
        return json.loads(stamp_path(output, name).read_text())
    except (OSError, ValueError):
        return None


def check_stamp(output: Path, name: str, key: RunKey, render: str) -> tuple[str, dict | None, str]:
    """("current" | "rerender" | "stale", the stamp, why)."""
    stamp = read_stamp(output, name)
    if stamp is None:
        return "stale", None, "no earlier successful run"
    if stamp.get("key") != key.digest:
        return "stale", stamp, key.describe_change(stamp.get("components"))
    files = stamp.get("files", {})
    artifacts = _artifacts(output, name)
    for part in ("metrics", "executed", "predictions"):
        recorded = files.get(part)
        if recorded is None and part == "predictions":
            continue
        if not artifacts[part].exists() or sha256_file(artifacts[part]) != recorded:
            return "stale", stamp, f"its {part} file is missing or was modified"
    if not artifacts["html"].exists() or sha256_file(artifacts["html"]) != files.get("html"):
        return "rerender", stamp, "its HTML is missing or was modified"
    if stamp.get("render") != render:
        return "rerender", stamp, "the report template or render options changed"
    return "current", stamp, "up to date"


def _write_stamp(output: Path, name: str, key: RunKey, render: str, built: str, seconds: float) -> None:
    write_json(stamp_path(output, name), {"notebook": name, "key": key.digest, "components": key.components,
                                          "render": render, "built": built, "seconds": round(seconds, 2),
                                          "files": _file_hashes(output, name)})


# --------------------------------------------------------------------------- targets and the plan


@dataclass(frozen=True)
class Target:
    """One notebook run to produce: which notebook, its parameters, where its artifacts go.

    ``id`` names it among the targets of one build (the notebook's name in the
    series build, ``<point>/<notebook>`` in a sweep); ``depends`` holds the ids of
    the targets it needs. ``overrides`` are the settings the run key sees
    (profile, sweep values); ``paths`` are injected too but left out of the key.
    ``stem`` names the artifact files (default: the notebook). ``parameters``
    gives the resolved parameters of a notebook :mod:`mnist_lib.params` does not
    list (the sweep summary); ``data`` maps every input file to its SHA-256.
    """

    id: str
    notebook: str
    source: Path
    output: Path
    overrides: dict
    paths: dict
    data: dict
    timeout: int
    title: str
    depends: tuple[str, ...] = ()
    stem: str = ""
    parameters: dict | None = None
    profile: str | None = None  # named in the report's one-line run summary

    @property
    def files(self) -> str:
        return self.stem or self.notebook

    @property
    def trains(self) -> bool:
        return any(n.name == self.notebook and n.trains for n in catalogue.NOTEBOOKS)


@dataclass
class Planned:
    """A target with its run key and what the build must do: nothing, re-render, or run it."""

    target: Target
    run: NotebookRun
    key: RunKey
    render: str
    state: str  # current, rerender, stale
    stamp: dict | None
    device_type: str


def _device_type(device: str) -> str:
    return pick_device(device).type


def plan_targets(targets: list[Target], *, no_input: bool, forced: set[str] = frozenset(),
                 library: dict | None = None) -> list[Planned]:
    """Run keys and states of ``targets`` (given in dependency order), in the main process.

    A target in ``forced`` (by id) is stale; so is every target depending on a
    stale one. Parameters are validated here, before anything runs.
    """
    library = library if library is not None else library_files()
    planned: dict[str, Planned] = {}
    for target in targets:
        target.output.mkdir(parents=True, exist_ok=True)
        (target.output / "executed").mkdir(exist_ok=True)
        if target.parameters is None:
            validate(target.notebook, {**target.overrides, **target.paths}, partial=True)
            resolved = resolved_parameters(target.notebook, target.source, target.overrides)
        else:
            resolved = dict(target.parameters)
        deps = [planned[d] for d in target.depends if d in planned]
        device_type = _device_type(resolved.get("device", "auto"))
        key = run_key(target.notebook, target.source, resolved, data=target.data, device_type=device_type,
                      dependencies={d.target.notebook: d.key.digest for d in deps}, library=library)
        render = render_digest(no_input, target.title, target.profile)
        state, stamp, reason = check_stamp(target.output, target.files, key, render)
        reran = [d.target.id for d in deps if d.state == "stale"]
        if target.id in forced:
            state, reason = "stale", "forced (--force)"
        elif reran:
            state, reason = "stale", f"{', '.join(reran)} reran"
        run = NotebookRun(target.notebook, key=key.digest, reason=reason)
        planned[target.id] = Planned(target, run, key, render, state, stamp, device_type)
    return list(planned.values())


# --------------------------------------------------------------------------- one stale run, where it executes


@dataclass
class StaleRun:
    """Everything a worker needs to run one stale notebook; paths lie on the shared output folder."""

    id: str
    files: str
    output: str
    job: Execution
    title: str
    no_input: bool
    profile: str | None = None


@dataclass
class RunResult:
    id: str
    status: str  # ok or failed
    error: str | None
    seconds: float


class RunFailed(Exception):
    """A notebook run that failed (its HTML shows why). Raised so that the executor does not
    start what depends on it: a dependent ends with this same exception, naming the failed run."""

    def __init__(self, result: RunResult):
        super().__init__(f"{result.id}: {result.error}")
        self.result = result

    def __reduce__(self):
        return RunFailed, (self.result,)


def _remove_leftovers(output: Path, files: str) -> None:
    """Files of this run's earlier attempt: its last results (a failed run must not show them)
    and the temporary files of an attempt killed with its worker."""
    arts = _artifacts(output, files)
    stamp_path(output, files).unlink(missing_ok=True)
    for part in ("metrics", "predictions", "executed"):
        arts[part].unlink(missing_ok=True)
    for folder in (output, output / "executed"):
        for leftover in folder.glob(f".{files}.*"):
            leftover.unlink(missing_ok=True)
    (output / "executed" / f"{files}.progress.log").unlink(missing_ok=True)


def run_stale(task: StaleRun, *_dependencies: RunResult) -> RunResult:
    """Run one stale notebook and render its HTML, wherever the executor put this task.

    The dependencies' results are arguments only so that this waits for them;
    had one failed, this would not have started. Returns the result, or raises
    :class:`RunFailed` carrying it.
    """
    output = Path(task.output)
    _remove_leftovers(output, task.files)
    outcome = run_notebook(task.job)
    arts = _artifacts(output, task.files)
    error = outcome.error
    if error is None and not arts["metrics"].exists():
        error = "the notebook finished without writing its metrics file"
    if error is not None:
        arts["metrics"].unlink(missing_ok=True)
    if arts["executed"].exists():
        render_html(arts["executed"], arts["html"], no_input=task.no_input, title=task.title, failure=error,
                    profile=task.profile)
    else:
        render_failure_page(arts["html"], task.title, error or "no executed notebook",
                            dataset_title(task.job.parameters.get("dataset"), task.job.parameters.get("data_source")))
    result = RunResult(task.id, "ok" if error is None else "failed", error, outcome.seconds)
    if error is not None:
        raise RunFailed(result)
    return result


def _stale_task(planned: Planned, no_input: bool) -> StaleRun:
    target = planned.target
    out, files = target.output, target.files
    progress_log = out / "executed" / f"{files}.progress.log"
    job = Execution(source=str(target.source), executed=str(_artifacts(out, files)["executed"]),
                    parameters={**target.overrides, **target.paths}, cwd=str(target.source.parent),
                    timeout=target.timeout,
                    env={"MNIST_REPORTS_BATCH": "1", "MNIST_REPORTS_PROGRESS": str(progress_log),
                         **thread_limits(planned.key.components["parameters"].get("threads"))},
                    log=str(out / "executed" / f"{files}.kernel.log"))
    return StaleRun(target.id, files, str(out), job, target.title, no_input, target.profile)


def _task_key(planned: Planned) -> str:
    """The task's name on a cluster: the same run into the same folder is the same task."""
    return f"{planned.target.id}-{digest_of([str(planned.target.output), planned.key.digest])[:16]}"


# --------------------------------------------------------------------------- executing a plan


def _use_stamp(planned: Planned, no_input: bool, log) -> None:
    """An up-to-date target: its results from the stamp; re-rendered when only the HTML is stale."""
    target, run, stamp = planned.target, planned.run, planned.stamp
    run.status, run.cached, run.built = "ok", True, stamp["built"]
    run.seconds = float(stamp.get("seconds", 0.0))
    run.metrics = json.loads(metrics_path(target.output, target.files).read_text())
    arts = _artifacts(target.output, target.files)
    if planned.state == "rerender":
        run.html = render_html(arts["executed"], arts["html"], no_input=no_input, title=target.title,
                               profile=target.profile)
        _write_stamp(target.output, target.files, planned.key, planned.render, run.built, run.seconds)
        log(f"[{target.id}] re-rendered ({run.reason}); results up to date (built {run.built})")
    else:
        run.html = arts["html"]
        log(f"[{target.id}] up to date (built {run.built}, {run.seconds:.1f} s)")


def _finish(planned: Planned, result: RunResult | None, error: BaseException | None,
            runs: dict[str, NotebookRun], log) -> None:
    """Record a finished task in the main process: its status and, when it succeeded, its stamp."""
    target, run = planned.target, planned.run
    arts = _artifacts(target.output, target.files)
    dependency_failed = error is not None and any(runs[d].status != "ok" for d in target.depends if d in runs)
    if dependency_failed or (isinstance(error, RunFailed) and error.result.id != target.id):
        failed = [d for d in target.depends if d in runs and runs[d].status != "ok"]
        run.status, run.error = "skipped", f"depends on {', '.join(failed)}, which failed"
        log(f"[{target.id}] skipped: {run.error}")
        return
    if isinstance(error, RunFailed):
        result, error = error.result, None
    run.built = now_utc()
    if error is not None:  # the task itself broke (its worker lost too often, a rendering crash)
        run.status, run.error = "failed", f"{type(error).__name__}: {error}"
        run.html = render_failure_page(arts["html"], target.title, run.error,
                                       dataset_title(target.overrides.get("dataset"), target.paths.get("data_source")))
    else:
        run.status, run.error, run.seconds, run.html = result.status, result.error, result.seconds, arts["html"]
        if run.status == "ok":
            run.metrics = json.loads(arts["metrics"].read_text())
            _write_stamp(target.output, target.files, planned.key, planned.render, run.built, run.seconds)
    log(f"[{target.id}] {run.status} in {run.seconds:.1f} s" + (f": {run.error}" if run.error else ""))


def critical_paths(stale: list[Planned]) -> dict[str, float]:
    """Each stale target's longest chain of estimated seconds through what depends on it (itself
    included), for ``stale`` in dependency order. The executor starts the ready target with the
    longest chain first: on two workers 03 and 04 (06 waits for both) before the rest, and the
    longest runs early, not last. A target's estimate is its last run's seconds (from its stamp),
    else the median of the known ones, else 1 (a chain then counts runs)."""
    known = [p.stamp["seconds"] for p in stale if p.stamp and p.stamp.get("seconds")]
    default = statistics.median(known) if known else 1.0
    ids = {p.target.id for p in stale}
    dependents: dict[str, list[str]] = {p.target.id: [] for p in stale}
    for p in stale:
        for d in p.target.depends:
            if d in ids:
                dependents[d].append(p.target.id)
    chain: dict[str, float] = {}
    for p in reversed(stale):  # every dependent comes later in the list, so is done first here
        seconds = (p.stamp or {}).get("seconds") or default
        chain[p.target.id] = seconds + max((chain[d] for d in dependents[p.target.id]), default=0.0)
    return chain


def execute_plan(planned: list[Planned], *, no_input: bool, jobs: int = 1, scheduler: str | None = None,
                 log=print, on_finish=None) -> str | None:
    """Use the stamps of up-to-date targets and run the stale ones on an executor (opened only
    when something is stale). Each target's ``run`` is filled in; ``on_finish(planned)`` is called
    as each is settled. Returns the executor's description (None when nothing ran)."""
    stale = [p for p in planned if p.state == "stale"]
    for p in planned:
        if p.state != "stale":
            _use_stamp(p, no_input, log)
            if on_finish:
                on_finish(p)
    if not stale:
        return None
    by_key = {_task_key(p): p for p in stale}
    runs = {p.target.id: p.run for p in planned}

    def started(key: str, where: str | None) -> None:
        p = by_key[key]
        progress = p.target.output / "executed" / f"{p.target.files}.progress.log"
        log(f"[{p.target.id}] running ({p.run.reason}; progress in {progress})" + (f" on {where}" if where else ""))

    chains = critical_paths(stale)
    with open_executor(jobs, scheduler, on_start=started) as executor:
        handles: dict[str, object] = {}
        for p in stale:
            deps = [handles[d] for d in p.target.depends if d in handles]
            handles[p.target.id] = executor.submit(_task_key(p), run_stale, _stale_task(p, no_input), *deps,
                                                   resources=gpu_resources(p.target.trains, p.device_type),
                                                   priority=chains[p.target.id])
        errors: dict[str, BaseException] = {}
        try:
            for key, result, error in executor.as_completed(list(handles.values())):
                p = by_key[key]
                if error is not None and not (isinstance(error, RunFailed) and error.result.id == p.target.id):
                    errors[p.target.id] = error  # settled below, once what it depends on is settled
                    continue
                _finish(p, result, error, runs, log)
                if on_finish:
                    on_finish(p)
        except ClusterLost as exc:
            recorded = sum(p.run.status != "pending" for p in stale)
            raise ClusterLost(f"{exc}: {recorded} of {len(stale)} runs finished and recorded; rerun the same "
                              f"command to run the other {len(stale) - recorded}") from None
        for p in stale:  # in dependency order
            if p.target.id in errors:
                _finish(p, None, errors[p.target.id], runs, log)
                if on_finish:
                    on_finish(p)
        return executor.description


# --------------------------------------------------------------------------- the series build


def notebook_source(notebook_dir: Path, name: str) -> Path:
    """``<notebook_dir>/<name>.ipynb``, or a one-line ParameterError when it is not there."""
    source = Path(notebook_dir) / f"{name}.ipynb"
    if not source.is_file():
        raise ParameterError(f"--notebooks: {str(notebook_dir)!r} has no {name}.ipynb")
    return source


def notebook_paths(notebook: str, **paths: str | None) -> dict[str, str | None]:
    """The folder parameters a build gives ``notebook``: those of ``paths`` it has."""
    names = notebook_parameters(notebook)
    return {name: value for name, value in paths.items() if name in names}


def series_targets(names: list[str], profile, output: Path, notebook_dir: Path, data_dir: Path,
                   source_dir: str | None, data_hashes: dict, dataset: str = "mnist",
                   dataset_title: str = "MNIST") -> list[Target]:
    """One target per notebook of the series on ``dataset``, all writing to ``output``."""
    targets = []
    for name in names:
        paths = notebook_paths(name, data_dir=str(data_dir), data_source=source_dir, output_dir=str(output),
                               checkpoint_dir=str(output / "checkpoints"))
        targets.append(Target(id=name, notebook=name, source=notebook_source(notebook_dir, name), output=output,
                              overrides={**profile.params_for(name, dataset), "dataset": dataset}, paths=paths,
                              data=data_hashes, timeout=profile.timeout_for(name, dataset),
                              title=f"{name}: {catalogue.get(name).title_on(dataset_title)}",
                              profile=profile.name,
                              depends=tuple(d for d in catalogue.get(name).depends_on if d in names)))
    return targets


def build_reports(profile: str = "full", only: list[str] | None = None, output: Path = Path("reports"),
                  data_dir: Path = Path("data"), source: str | None = None, no_input: bool = False,
                  force: str | list[str] | None = None, log=print,
                  notebook_dir: Path = NOTEBOOK_DIR, jobs: int = 1, scheduler: str | None = None,
                  dataset: str | None = None) -> BuildResult:
    """Build the series: skip what is up to date, run the rest, render, record.

    ``force``: notebooks to rerun even when up to date (``"all"`` for every one);
    their dependents rerun too. ``notebook_dir`` is where the notebooks are
    (tests pass their own). ``jobs`` > 1 runs independent notebooks in parallel on
    a LocalCluster; ``scheduler`` (an address or a scheduler file) sends them to
    an existing Dask cluster. ``dataset`` (``--dataset``) overrides the profile's
    ``common.dataset``; a data set other than MNIST is built into its own folder
    of ``output`` (:mod:`mnist_lib.website.datasets_index`). Returns every run's
    status; the caller decides the exit code.
    """
    started = time.perf_counter()
    chosen = load_profile(profile)
    names = with_dependencies(only)
    forced = forced_notebooks(force)
    data_set = choose_dataset(chosen.common.get("dataset"), dataset, source, log)
    root = prepare_output(output, executed=not data_set.folder)
    output = prepare_output(data_set.output(root))
    data_dir = Path(data_dir).resolve()
    source_dir = data_set.source
    # Fail here, once, not in every notebook; the run keys hold the hashes of this data set's files.
    files = ensure_dataset(data_set.name, data_dir, source=source_dir)
    log(files.summary())
    targets = series_targets(names, chosen, output, Path(notebook_dir), data_dir, source_dir, dict(files.sha256),
                             data_set.name, data_set.title)
    planned = plan_targets(targets, no_input=no_input, forced=forced)
    executor = execute_plan(planned, no_input=no_input, jobs=jobs, scheduler=scheduler, log=log)
    runs = {p.target.id: p.run for p in planned}
    seconds = time.perf_counter() - started
    built = now_utc()
    write_json(output / "build.json", {
        "profile": chosen.name, "dataset": data_set.record(), "seconds": round(seconds, 2), "finished": built,
        "peak_rss_mb": peak_memory_mb(), "executor": executor,
        "runs": {n: {"status": r.status, "seconds": round(r.seconds, 2), "error": r.error, "cached": r.cached,
                     "built": r.built, "key": r.key, "reason": r.reason} for n, r in runs.items()},
    })
    record = record_build(output, runs, chosen.name, built, seconds)
    index = write_index(output, runs, chosen.name, seconds, built, changes=latest_changes(output))
    link_datasets(root, output, log)
    return BuildResult(runs=runs, index_path=index, seconds=seconds, record=record,
                       executor=executor or BuildResult.executor)


def peak_memory_mb() -> dict:
    """Peak resident memory of this process and of its largest finished child (the notebook runners).

    With a Dask executor the notebooks run under the workers, so the second number
    covers only what ran in this process."""
    import resource

    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20  # Linux reports kB, macOS bytes
    return {"build_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale, 1),
            "largest_kernel": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale, 1)}


def refresh_index(output: str | os.PathLike) -> Path:
    """Rewrite ``index.html`` from ``build.json`` and the metrics files (after ``make bench``
    adds its results, so the index links them)."""
    output = Path(output)
    build = json.loads((output / "build.json").read_text())
    runs = {}
    for name, info in build["runs"].items():
        metrics = metrics_path(output, name)
        report = output / f"{name}.html"
        runs[name] = NotebookRun(name, status=info["status"], seconds=info["seconds"], error=info.get("error"),
                                 html=report if report.exists() else None, cached=info.get("cached", False),
                                 built=info.get("built"),
                                 metrics=json.loads(metrics.read_text()) if info["status"] == "ok" else None)
    return write_index(output, runs, build["profile"], build["seconds"], build.get("finished", ""),
                       changes=latest_changes(output))


def link_datasets(root: str | os.PathLike, output: str | os.PathLike, log=print) -> list[BuiltDataset]:
    """After a build into ``output`` (a data set's folder under the reports folder ``root``): when the
    top holds no MNIST build, a minimal top page lists the built data sets (:func:`built_datasets`);
    when it does, its index is re-rendered from its ``build.json`` (:func:`refresh_index`) and the
    other data sets' indexes are named in the log, not linked from it. Returns them."""
    root, output = Path(root).resolve(), Path(output).resolve()
    datasets = built_datasets(root)
    if output != root:
        if (root / BUILD_FILE).is_file() and (root / "index.html").is_file():
            refresh_index(root)
        else:
            atomic_write_text(root / "index.html", datasets_page(root, datasets))
    if len(datasets) > 1 or output != root:
        log("Data sets built here: " + ", ".join(f"{d.title} ({d.index})" for d in datasets))
    return datasets

"""The series build: dependency order, skip what is up to date, run the rest, record it.

For every notebook the build computes its run key (:mod:`mnist_lib.build.keys`)
and compares it with the stamp its last successful run left in
``<output>/executed/<name>.run.json``. Equal keys and intact files (HTML,
metrics, executed notebook, predictions, checked by hash) mean the notebook is
up to date and does not run; a changed template only re-renders. Everything
else runs in a child process with a time limit (:mod:`mnist_lib.build.execute`),
so a dead kernel or a timeout fails that notebook, not the build. Dependents of a
failed notebook are skipped; dependents of a notebook that reran run too.
Every build writes ``build.json``, a history record and the index.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mnist_lib.build.datasets_index import choose_dataset, link_datasets
from mnist_lib.build.diff import latest_changes
from mnist_lib.build.execute import Execution, run_notebook
from mnist_lib.build.history import record_build
from mnist_lib.build.keys import RunKey, library_files, resolved_parameters, run_key
from mnist_lib.build.render import render_digest, render_failure_page, render_html
from mnist_lib.build.site import write_index
from mnist_lib.config import DEPENDENCIES, NOTEBOOKS, ParameterError, load_profile, validate_params
from mnist_lib.environment import now_utc
from mnist_lib.files import sha256_file, write_json
from mnist_lib.reports import NOTEBOOK_DIR, metrics_path, notebook_title, predictions_path


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


def with_dependencies(only: list[str] | None) -> list[str]:
    """The notebooks to run, in series order, with what they depend on."""
    if not only:
        return list(NOTEBOOKS)
    unknown = [name for name in only if name not in NOTEBOOKS]
    if unknown:
        raise ParameterError(f"--only: unknown notebook '{unknown[0]}'; valid: {', '.join(NOTEBOOKS)}")
    wanted = set(only)
    for name in only:
        wanted.update(DEPENDENCIES.get(name, ()))
    return [name for name in NOTEBOOKS if name in wanted]


def forced_notebooks(force: str | list[str] | None) -> set[str]:
    """``None``: none; ``"all"``: every notebook; a list or comma-separated names: those."""
    if force is None:
        return set()
    names = [n.strip() for n in force.split(",")] if isinstance(force, str) else list(force)
    names = [n for n in names if n]
    if names == ["all"] or not names:
        return set(NOTEBOOKS)
    unknown = [n for n in names if n not in NOTEBOOKS]
    if unknown:
        raise ParameterError(f"--force: unknown notebook '{unknown[0]}'; valid: {', '.join(NOTEBOOKS)} "
                             "(or no value for all)")
    return set(names)


def prepare_output(output: str | os.PathLike, executed: bool = True) -> Path:
    """The output folder, created if its parent exists; one-line errors otherwise. With
    ``executed`` its ``executed/`` folder too (not for a reports folder that only holds
    other data sets' folders)."""
    output = Path(output).resolve()
    if output.exists() and not output.is_dir():
        raise ParameterError(f"--output: {str(output)!r} is a file, not a folder")
    if not output.parent.is_dir():
        raise ParameterError(f"--output: the parent folder of {str(output)!r} does not exist")
    if not output.exists() and not os.access(output.parent, os.W_OK | os.X_OK):
        raise ParameterError(f"--output: cannot create {str(output)!r} (its parent folder is not writable)")
    output.mkdir(exist_ok=True)
    if not os.access(output, os.W_OK | os.X_OK):
        raise ParameterError(f"--output: folder {str(output)!r} is not writable")
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


# --------------------------------------------------------------------------- the build


@dataclass
class _Settings:
    output: Path
    notebook_dir: Path
    no_input: bool
    data_hashes: dict
    library: dict


def _device_type(device: str) -> str:
    from mnist_lib.training import pick_device

    return pick_device(device).type


def _render(run: NotebookRun, settings: _Settings, title: str) -> None:
    arts = _artifacts(settings.output, run.notebook)
    failure = run.error if run.status != "ok" else None
    if arts["executed"].exists():
        run.html = render_html(arts["executed"], arts["html"], no_input=settings.no_input, title=title,
                               failure=failure)
    else:
        run.html = render_failure_page(arts["html"], title, failure or "no executed notebook")


def _run_one(run: NotebookRun, params: dict, timeout: int, settings: _Settings, title: str, log) -> None:
    """Execute one stale notebook and render it; the caller writes its stamp."""
    out, name = settings.output, run.notebook
    arts = _artifacts(out, name)
    stamp_path(out, name).unlink(missing_ok=True)
    for part in ("metrics", "predictions", "executed"):  # a failed run must not show the last run's files
        arts[part].unlink(missing_ok=True)
    progress_log = out / "executed" / f"{name}.progress.log"
    progress_log.unlink(missing_ok=True)
    log(f"[{name}] running ({run.reason}; progress in {progress_log}) ...")
    job = Execution(source=str(settings.notebook_dir / f"{name}.ipynb"), executed=str(arts["executed"]),
                    parameters=params, cwd=str(settings.notebook_dir), timeout=timeout,
                    env={"MNIST_REPORTS_BATCH": "1", "MNIST_REPORTS_PROGRESS": str(progress_log)},
                    log=str(out / "executed" / f"{name}.kernel.log"))
    outcome = run_notebook(job)
    run.seconds, run.error = outcome.seconds, outcome.error
    if run.error is None and arts["metrics"].exists():
        run.status = "ok"
        run.metrics = json.loads(arts["metrics"].read_text())
    else:
        run.status = "failed"
        run.error = run.error or "the notebook finished without writing its metrics file"
        arts["metrics"].unlink(missing_ok=True)
    _render(run, settings, title)
    log(f"[{name}] {run.status} in {run.seconds:.1f} s" + (f": {run.error}" if run.error else ""))


def build_reports(profile: str = "full", only: list[str] | None = None, output: Path = Path("reports"),
                  data_dir: Path = Path("data"), source: str | None = None, no_input: bool = False,
                  force: str | list[str] | None = None, log=print,
                  notebook_dir: Path = NOTEBOOK_DIR, dataset: str | None = None) -> BuildResult:
    """Build the series: skip what is up to date, run the rest in dependency order, render, record.

    ``force``: notebooks to rerun even when up to date (``"all"`` for every one);
    their dependents rerun too. ``notebook_dir`` is where the notebooks are
    (tests pass their own). ``dataset`` (``--dataset``) overrides the profile's
    ``common.dataset``; a data set other than MNIST is built into its own folder
    of ``output`` (:mod:`mnist_lib.build.datasets_index`). Returns every run's
    status; the caller decides the exit code.
    """
    from mnist_lib.datasets import ensure_dataset

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
    settings = _Settings(output, Path(notebook_dir), no_input, dict(files.sha256), library_files())
    runs: dict[str, NotebookRun] = {}
    keys: dict[str, RunKey] = {}
    reran: set[str] = set()
    for name in names:
        run = runs[name] = NotebookRun(name)
        deps = [d for d in DEPENDENCIES.get(name, ()) if d in runs]
        failed_deps = [d for d in deps if runs[d].status != "ok"]
        if failed_deps:
            run.status, run.error = "skipped", f"depends on {', '.join(failed_deps)}, which failed"
            log(f"[{name}] skipped: {run.error}")
            continue
        overrides = {**chosen.params_for(name), "dataset": data_set.name}
        params = {**overrides, "data_dir": str(data_dir), "data_source": source_dir, "output_dir": str(output),
                  "checkpoint_dir": str(output / "checkpoints")}
        validate_params(name, params, partial=True)
        path = settings.notebook_dir / f"{name}.ipynb"
        resolved = resolved_parameters(name, path, overrides)
        key = keys[name] = run_key(name, path, resolved, data=settings.data_hashes,
                                   device_type=_device_type(resolved.get("device", "auto")),
                                   dependencies={d: keys[d].digest for d in deps}, library=settings.library)
        run.key = key.digest
        title = f"{name}: {notebook_title(name, data_set.title)}"
        render = render_digest(no_input, title)
        state, stamp, run.reason = check_stamp(output, name, key, render)
        if name in forced:
            state, run.reason = "stale", "forced (--force)"
        elif [d for d in deps if d in reran]:
            state, run.reason = "stale", f"{', '.join(d for d in deps if d in reran)} reran"
        if state in ("current", "rerender"):
            run.status, run.cached, run.built = "ok", True, stamp["built"]
            run.seconds = float(stamp.get("seconds", 0.0))
            run.metrics = json.loads(metrics_path(output, name).read_text())
            if state == "rerender":
                _render(run, settings, title)
                _write_stamp(output, name, key, render, run.built, run.seconds)
                log(f"[{name}] re-rendered ({run.reason}); results up to date (built {run.built})")
            else:
                run.html = output / f"{name}.html"
                log(f"[{name}] up to date (built {run.built}, {run.seconds:.1f} s)")
            continue
        reran.add(name)
        _run_one(run, params, chosen.timeout_for(name), settings, title, log)
        run.built = now_utc()
        if run.status == "ok":
            _write_stamp(output, name, key, render, run.built, run.seconds)
    seconds = time.perf_counter() - started
    built = now_utc()
    write_json(output / "build.json", {
        "profile": chosen.name, "dataset": data_set.record(), "seconds": round(seconds, 2), "finished": built, "peak_rss_mb": peak_memory_mb(),
        "runs": {n: {"status": r.status, "seconds": round(r.seconds, 2), "error": r.error, "cached": r.cached,
                     "built": r.built, "key": r.key, "reason": r.reason} for n, r in runs.items()},
    })
    record = record_build(output, runs, chosen.name, built, seconds)
    index = write_index(output, runs, chosen.name, seconds, built, changes=latest_changes(output))
    link_datasets(root, output, log)
    return BuildResult(runs=runs, index_path=index, seconds=seconds, record=record)


def peak_memory_mb() -> dict:
    """Peak resident memory of this process and of its largest finished child (the notebook runners)."""
    import resource

    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20  # Linux reports kB, macOS bytes
    return {"build_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale, 1),
            "largest_kernel": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale, 1)}

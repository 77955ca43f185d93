"""Sweeps: many runs of the series' notebooks over a grid of parameters, with a summary report.

``python -m mnist_lib sweep notebooks/sweeps/NAME.yaml [-j N | --scheduler ADDRESS]``
reads a sweep file::

    notebooks: [02_ann, 03_lenet, 04_cnn, 05_optimizers]
    profile: quick                  # base profile: quick, full or a path (relative to this file)
    params: {epochs: 2}             # optional: on top of the profile, for every notebook
    grid:                           # every combination is one point
      seed: [0, 1, 2, 3, 4]

Every name in ``params`` and ``grid`` must be a parameter of every notebook the
file names; dependencies it did not name (03 and 04 for 06) are added and get
only the values they accept.

Every point and notebook is one papermill run with its own folder,
``<output>/sweeps/NAME/<point>/<notebook>/`` (HTML, metrics, executed notebook,
stamp), planned and cached by its run key exactly as the series build does
(:mod:`mnist_lib.build.pipeline`), so rerunning an interrupted or partly failed
sweep runs only what is missing or failed. The runs go to the build's executor
(in-process, ``-j N`` LocalCluster, or an existing Dask cluster); a failed run is
reported and the others go on. Then ``sweep.json`` lists every run, and the
summary notebook ``08_sweep_summary`` (run in this process) renders
``<output>/sweeps/NAME/summary.html``. :func:`sweep_overview` gives the main
index what it shows of each sweep.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mnist_lib.build import pipeline
from mnist_lib.build.keys import PATH_PARAMETERS, library_files
from mnist_lib.config import (BUILD_SETTINGS, DEFAULT_TIMEOUT, DEPENDENCIES, NOTEBOOK_PARAMS, NOTEBOOKS, ParameterError, Profile,
                              load_profile, validate_params)
from mnist_lib.environment import now_utc
from mnist_lib.files import sha256_file, write_json
from mnist_lib.reports import NOTEBOOK_DIR, TITLES
from mnist_lib.sweep_stats import MANIFEST, SUMMARY

SWEEP_KEYS = ("notebooks", "profile", "params", "grid")
SUMMARY_NOTEBOOK = NOTEBOOK_DIR / "08_sweep_summary.ipynb"
SUMMARY_TITLE = "Sweep summary"
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+,:-]")


@dataclass(frozen=True)
class Point:
    """One combination of grid values; ``id`` names its folder ("seed=0", "lr=0.01,seed=0")."""

    id: str
    values: dict


@dataclass
class Sweep:
    name: str
    path: Path
    notebooks: list[str]
    profile: Profile
    params: dict
    grid: dict[str, list]
    points: list[Point] = field(default_factory=list)

    @property
    def seeds_only(self) -> bool:
        """Only the seed varies, on an unchanged profile: its numbers stand beside the series' own."""
        return list(self.grid) == ["seed"] and not self.params


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "+".join(_format(v) for v in value)
    if isinstance(value, dict):
        return "+".join(f"{k}:{_format(v)}" for k, v in value.items())
    return str(value)


def point_id(values: dict) -> str:
    """The folder name of a point: ``name=value`` pairs in grid order, joined by commas."""
    return _UNSAFE.sub("_", ",".join(f"{name}={_format(value)}" for name, value in values.items()))


def _check_values(where: str, notebooks: list[str], values: dict) -> dict:
    """Each value coerced by the parameter's own rules, for every notebook; one-line errors."""
    coerced = {}
    for name, value in values.items():
        if name in PATH_PARAMETERS:
            raise ParameterError(f"{where}: '{name}' names a place, not a setting; the sweep sets it "
                                 "(--output, --data-dir, --source)")
        if name in BUILD_SETTINGS:
            coerced[name] = BUILD_SETTINGS[name].coerce(name, value)
            continue
        for notebook in notebooks:
            if name not in NOTEBOOK_PARAMS[notebook]:
                raise ParameterError(f"{where}: unknown parameter '{name}' for {notebook}; valid: "
                                     f"{', '.join(k for k in NOTEBOOK_PARAMS[notebook] if k not in PATH_PARAMETERS)}")
            try:
                coerced[name] = validate_params(notebook, {name: value}, partial=True)[name]
            except ParameterError as exc:
                raise ParameterError(f"{where}: {exc}") from None
    return coerced


def load_sweep(path: str | os.PathLike) -> Sweep:
    """Read and validate a sweep file; every problem is one line naming the file, the key and
    what would be valid, before anything runs."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"sweep file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParameterError(f"{path}: malformed YAML: {' '.join(str(exc).split())}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"{path}: cannot read it ({exc})") from None
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: expected a mapping with keys {', '.join(SWEEP_KEYS)}")
    unknown = sorted(set(data) - set(SWEEP_KEYS))
    if unknown:
        raise ParameterError(f"{path}: unknown key '{unknown[0]}'; valid keys: {', '.join(SWEEP_KEYS)}")
    names = data.get("notebooks")
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not isinstance(names, list) or not names:
        raise ParameterError(f"{path}: notebooks: expected a list of notebooks from {', '.join(NOTEBOOKS)}")
    bad = [n for n in names if n not in NOTEBOOKS]
    if bad:
        raise ParameterError(f"{path}: notebooks: unknown notebook '{bad[0]}'; valid: {', '.join(NOTEBOOKS)}")
    named = [str(n) for n in names]
    notebooks = pipeline.with_dependencies(named)
    profile_name = data.get("profile", "quick")
    if not isinstance(profile_name, str):
        raise ParameterError(f"{path}: profile: expected quick, full or a path to a profile .yaml, "
                             f"got {profile_name!r}")
    if profile_name.endswith((".yaml", ".yml")) and not Path(profile_name).is_absolute():
        profile_name = str(path.parent / profile_name)
    profile = load_profile(profile_name)
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise ParameterError(f"{path}: params: expected a mapping of parameter: value")
    params = _check_values(f"{path}: params", named, params)
    grid = data.get("grid")
    if not isinstance(grid, dict) or not grid:
        raise ParameterError(f"{path}: grid: expected a mapping of parameter: [values], e.g. seed: [0, 1, 2]")
    checked: dict[str, list] = {}
    for name, values in grid.items():
        if name in BUILD_SETTINGS:
            raise ParameterError(f"{path}: grid: '{name}' is a build setting; set it under params")
        if not isinstance(values, list) or not values:
            raise ParameterError(f"{path}: grid: '{name}' needs a non-empty list of values, got {values!r}")
        checked[name] = [_check_values(f"{path}: grid", named, {name: v})[name] for v in values]
        seen = [json.dumps(v, sort_keys=True) for v in checked[name]]
        repeated = next((v for v, text in zip(checked[name], seen) if seen.count(text) > 1), None)
        if repeated is not None:
            raise ParameterError(f"{path}: grid: '{name}' lists the value {repeated!r} twice")
    sweep = Sweep(path.stem, path.resolve(), notebooks, profile, params, checked)
    for combination in itertools.product(*checked.values()):
        values = dict(zip(checked, combination))
        point = Point(point_id(values), values)
        for notebook in notebooks:  # the combination as a whole (batch_size against train_limit, ...)
            try:
                validate_params(notebook, _overrides(profile, notebook, params, values), partial=True)
            except ParameterError as exc:
                raise ParameterError(f"{path}: point {point.id}, {notebook}: {exc}") from None
        sweep.points.append(point)
    ids = [p.id for p in sweep.points]
    if len(set(ids)) != len(ids):
        raise ParameterError(f"{path}: grid: two points would share the folder "
                             f"'{next(i for i in ids if ids.count(i) > 1)}'; make the values distinct")
    return sweep


def _overrides(profile: Profile, notebook: str, params: dict, values: dict) -> dict:
    """What a run of ``notebook`` at a point is given: the profile, then the sweep's params and the
    point's values, each only where the notebook has that parameter (a dependency the file did not
    name, such as 03 for 06, gets only the values it accepts)."""
    spec = NOTEBOOK_PARAMS[notebook]
    return {**profile.params_for(notebook), **{k: v for k, v in {**params, **values}.items() if k in spec}}


# --------------------------------------------------------------------------- targets


def sweep_folder(output: str | os.PathLike, name: str) -> Path:
    return Path(output) / "sweeps" / name


def sweep_targets(sweep: Sweep, folder: Path, notebook_dir: Path, data_dir: Path, source_dir: str | None,
                  data_hashes: dict) -> list[pipeline.Target]:
    """One target per point and notebook, each in its own folder; a point's notebooks share its checkpoints."""
    targets = []
    for point in sweep.points:
        for notebook in sweep.notebooks:
            out = folder / point.id / notebook
            paths = {"data_dir": str(data_dir), "data_source": source_dir, "output_dir": str(out),
                     "checkpoint_dir": str(folder / point.id / "checkpoints")}
            overrides = _overrides(sweep.profile, notebook, sweep.params, point.values)
            timeout = sweep.params.get("timeout", sweep.profile.timeout_for(notebook))
            targets.append(pipeline.Target(
                id=f"{point.id}/{notebook}", notebook=notebook, source=notebook_dir / f"{notebook}.ipynb",
                output=out, overrides=overrides, paths=paths, data=data_hashes, timeout=timeout,
                title=f"{notebook}: {TITLES.get(notebook, notebook)} ({point.id})",
                depends=tuple(f"{point.id}/{d}" for d in DEPENDENCIES.get(notebook, ()) if d in sweep.notebooks)))
    return targets


def summary_target(sweep: Sweep, folder: Path, manifest_runs: list[dict],
                   source: Path = SUMMARY_NOTEBOOK) -> pipeline.Target:
    """The summary notebook as a target whose inputs are the runs' metrics files (and failures)."""
    data = {run["id"]: (sha256_file(folder / run["metrics"]) if run["status"] == "ok" and run.get("metrics")
                        else f"{run['status']}: {run.get('error')}") for run in manifest_runs}
    data["points"] = json.dumps([[p.id, p.values] for p in sweep.points], sort_keys=True)
    return pipeline.Target(id=SUMMARY, notebook=source.stem, source=source, output=folder, overrides={},
                           paths={"sweep_dir": str(folder), "output_dir": str(folder)}, data=data,
                           timeout=DEFAULT_TIMEOUT,
                           title=f"{SUMMARY_TITLE}: {sweep.name}", stem=SUMMARY, parameters={})


# --------------------------------------------------------------------------- running a sweep


@dataclass
class SweepResult:
    name: str
    folder: Path
    runs: dict[str, pipeline.NotebookRun]
    executed: int
    cached: int
    seconds: float
    summary: pipeline.NotebookRun | None
    executor: str | None

    @property
    def failed(self) -> list[str]:
        return [run_id for run_id, run in self.runs.items() if run.status != "ok"]


def _manifest_runs(planned: list[pipeline.Planned], folder: Path) -> list[dict]:
    rows = []
    for p in planned:
        t, run = p.target, p.run
        html = t.output / f"{t.files}.html"
        metrics = t.output / f"{t.files}.metrics.json"
        point = t.id.rsplit("/", 1)[0]
        rows.append({"id": t.id, "point": point, "notebook": t.notebook, "status": run.status, "error": run.error,
                     "seconds": round(run.seconds, 2), "cached": run.cached, "built": run.built, "key": run.key,
                     "folder": t.output.relative_to(folder).as_posix(),
                     "html": html.relative_to(folder).as_posix() if html.exists() else None,
                     "metrics": metrics.relative_to(folder).as_posix() if run.status == "ok" else None})
    return rows


def _progress(total: int, name: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=f"sweep {name}", unit="run", file=sys.stderr, disable=not enabled,
                dynamic_ncols=True)


def run_sweep(path: str | os.PathLike, output: str | os.PathLike = "reports", data_dir: str | os.PathLike = "data",
              source: str | None = None, jobs: int = 1, scheduler: str | None = None, force: bool = False,
              no_input: bool = False, notebook_dir: Path = NOTEBOOK_DIR, summary_notebook: Path = SUMMARY_NOTEBOOK,
              progress: bool = True, log=None) -> SweepResult:
    """Run every missing, stale or failed run of a sweep, then its summary. ``force`` reruns them all."""
    from mnist_lib.datasets import ensure_dataset

    started = time.perf_counter()
    sweep = load_sweep(path)
    output = pipeline.prepare_output(output)
    folder = sweep_folder(output, sweep.name)
    folder.mkdir(parents=True, exist_ok=True)
    data_dir = Path(data_dir).resolve()
    source_dir = str(Path(source).resolve()) if source else os.environ.get("MNIST_SOURCE") or None
    files = ensure_dataset("mnist", data_dir, source=source_dir)
    targets = sweep_targets(sweep, folder, Path(notebook_dir), data_dir, source_dir, dict(files.sha256))
    library = library_files()
    planned = pipeline.plan_targets(targets, no_input=no_input, library=library,
                                    forced={t.id for t in targets} if force else set())
    bar = _progress(len(planned), sweep.name, progress)

    def settled(p: pipeline.Planned) -> None:
        bar.update(1)
        if p.run.status != "ok":
            bar.write(f"[{p.target.id}] {p.run.status}: {p.run.error}", file=sys.stderr)

    quiet = log or (lambda message: None)
    with bar:
        executor = pipeline.execute_plan(planned, no_input=no_input, jobs=jobs, scheduler=scheduler, log=quiet,
                                         on_finish=settled)
    runs = _manifest_runs(planned, folder)
    manifest = {"name": sweep.name, "file": str(sweep.path), "profile": sweep.profile.name,
                "notebooks": sweep.notebooks, "params": sweep.params, "grid": sweep.grid,
                "seeds_only": sweep.seeds_only, "points": [{"id": p.id, "values": p.values} for p in sweep.points],
                "runs": runs, "executor": executor, "finished": now_utc()}
    write_json(folder / MANIFEST, manifest)
    summary = pipeline.plan_targets([summary_target(sweep, folder, runs, summary_notebook)], no_input=no_input,
                                    library=library)
    pipeline.execute_plan(summary, no_input=no_input, log=quiet)
    summary_run = summary[0].run
    if summary_run.status != "ok":
        print(f"[{SUMMARY}] {summary_run.status}: {summary_run.error}", file=sys.stderr)
    write_json(folder / MANIFEST, {**manifest, "summary": {"status": summary_run.status, "error": summary_run.error,
                                                            "html": f"{SUMMARY}.html"}})
    executed = sum(1 for p in planned if not p.run.cached and p.run.status != "skipped")
    return SweepResult(sweep.name, folder, {p.target.id: p.run for p in planned}, executed,
                       sum(p.run.cached for p in planned), time.perf_counter() - started, summary_run, executor)


# --------------------------------------------------------------------------- what the main index shows


@dataclass(frozen=True)
class SweepEntry:
    """One sweep for the main index: its link, what it varied, and its numbers per notebook."""

    name: str
    link: str  # relative to the reports folder
    profile: str
    grid: dict
    runs: int
    failed: int
    seeds_only: bool
    numbers: dict  # notebook -> {model: "98.12 ± 0.05% over 5 seeds"}


def sweep_overview(output: str | os.PathLike) -> list[SweepEntry]:
    """Every sweep under ``<output>/sweeps`` that has a summary, by name.

    For ``site.write_index``: link each entry (``entry.link``), and beside a
    notebook's single-run headline show ``entry.numbers[notebook]`` of the
    entries with ``seeds_only`` and ``profile`` equal to the build's profile
    ("mean ± sd over 5 seeds").
    """
    entries = []
    root = Path(output) / "sweeps"
    for manifest_path in sorted(root.glob(f"*/{MANIFEST}")) if root.is_dir() else []:
        folder = manifest_path.parent
        summary = folder / f"{SUMMARY}.metrics.json"
        if not (folder / f"{SUMMARY}.html").exists() or not summary.exists():
            continue
        try:
            manifest = json.loads(manifest_path.read_text())
            groups = json.loads(summary.read_text()).get("groups", [])
        except (OSError, ValueError):
            continue
        numbers: dict[str, dict[str, str]] = {}
        for group in groups:
            label = group["model"] + (f" ({group['setting']})" if group.get("setting") else "")
            numbers.setdefault(group["notebook"], {})[label] = group["text"]
        entries.append(SweepEntry(name=manifest["name"], link=f"sweeps/{folder.name}/{SUMMARY}.html",
                                  profile=manifest["profile"], grid=manifest["grid"], runs=len(manifest["runs"]),
                                  failed=sum(r["status"] != "ok" for r in manifest["runs"]),
                                  seeds_only=bool(manifest.get("seeds_only")), numbers=numbers))
    return entries

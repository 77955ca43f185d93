"""Sweeps: many runs of the series' notebooks over a grid of parameters, with a summary report.

``python -m mnist_lib sweep notebooks/sweeps/NAME.yaml [-j N | --scheduler ADDRESS]``
reads a sweep file::

    notebooks: [02_ann, 03_lenet, 04_cnn, 05_optimizers]
    profile: quick                  # base profile: quick, full or a path (relative to this file)
    dataset: fashion-mnist          # optional: the profile's data set (its sections for it apply), else MNIST
    params: {epochs: 2}             # optional: on top of the profile, for every notebook (a recipe
                                    # sweep states here the recipe it started from)
    settings:                       # optional: settings to compare, the first the baseline
      - {}
      - {ema_decay: 0.999}
    steps_budget: 1.0               # optional: the chosen setting may take at most this many times the
                                    # baseline's optimizer steps (the others are measured, not chosen)
    grid:                           # every combination (with each setting) is one point
      seed: [0, 1, 2, 3, 4]

Every name in ``params``, ``settings`` and ``grid`` must be a parameter of every notebook
the file names; dependencies it did not name (03 and 04 for 06) are added and get
only the values they accept. The summary compares each setting with the baseline on
the validation split, paired by seed, and chooses one by the one-standard-error rule
(:func:`mnist_lib.analysis.sweeps.choose_settings`).

Every point and notebook is one papermill run with its own folder,
``<output>/sweeps/NAME/<point>/<notebook>/`` (HTML, metrics, executed notebook,
stamp), planned and cached by its run key exactly as the series build does
(:mod:`mnist_lib.runner.pipeline`), so rerunning an interrupted or partly failed
sweep runs only what is missing or failed. The runs go to the build's executor
(in-process, ``-j N`` LocalCluster, or an existing Dask cluster); a failed run is
reported and the others go on. Then ``sweep.json`` lists every run, and the
summary notebook ``08_sweep_summary`` (run in this process) renders
``<output>/sweeps/NAME/summary.html``, which the main index links
(:func:`mnist_lib.website.sweeps.sweep_overview`).
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

from mnist_lib import catalogue
from mnist_lib.analysis.sweeps import MANIFEST, SUMMARY
from mnist_lib.catalogue import NOTEBOOK_DIR
from mnist_lib.datasets import DATASET_NAMES, dataset_title, ensure_dataset
from mnist_lib.environment import now_utc
from mnist_lib.files import sha256_file, write_json
from mnist_lib.params import PATH_PARAMETERS, ParameterError, notebook_parameters, validate
from mnist_lib.profiles import BUILD_SETTINGS, DEFAULT_TIMEOUT, Profile, load_profile, yaml_file
from mnist_lib.runner import pipeline
from mnist_lib.runner.build_dataset import choose_dataset
from mnist_lib.runner.keys import library_files

SWEEP_KEYS = ("notebooks", "profile", "dataset", "params", "settings", "steps_budget", "grid")
SUMMARY_NOTEBOOK = NOTEBOOK_DIR / f"{catalogue.sweep_summary().name}.ipynb"
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+,:-]")


@dataclass(frozen=True)
class Point:
    """One combination of grid values; ``id`` names its folder ("seed=0", "lr=0.01,seed=0")."""

    id: str
    values: dict


@dataclass
class Sweep:
    """A sweep file, checked: its notebooks with their dependencies, the profile and data set, the
    values for every run (``params``), the settings compared (the first is the baseline; ``[{}]``
    when the file has none) and the grid crossed with them; ``points`` are every setting x grid
    combination."""

    name: str
    path: Path
    notebooks: list[str]
    profile: Profile
    dataset: str
    params: dict
    grid: dict[str, list]
    settings: list[dict] = field(default_factory=lambda: [{}])
    steps_budget: float | None = None  # the most optimizer steps a chosen setting may take, x the baseline's
    points: list[Point] = field(default_factory=list)

    @property
    def seeds_only(self) -> bool:
        """Only the seed varies, on an unchanged profile: its numbers stand beside the series' own."""
        return list(self.grid) == ["seed"] and not self.params and self.settings == [{}]


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
            names = notebook_parameters(notebook)
            if name not in names:
                raise ParameterError(f"{where}: unknown parameter '{name}' for {notebook}; valid: "
                                     f"{', '.join(k for k in names if k not in PATH_PARAMETERS)}")
            try:
                coerced[name] = validate(notebook, {name: value}, partial=True)[name]
            except ParameterError as exc:
                raise ParameterError(f"{where}: {exc}") from None
    return coerced


def load_sweep(path: str | os.PathLike) -> Sweep:
    """Read and validate a sweep file; every problem is one line naming the file, the key and
    what would be valid, before anything runs."""
    path = Path(path)
    data = yaml_file(path, "sweep")
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: expected a mapping with keys {', '.join(SWEEP_KEYS)}")
    unknown = sorted(set(data) - set(SWEEP_KEYS))
    if unknown:
        raise ParameterError(f"{path}: unknown key '{unknown[0]}'; valid keys: {', '.join(SWEEP_KEYS)}")
    names = data.get("notebooks")
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not isinstance(names, list) or not names:
        raise ParameterError(f"{path}: notebooks: expected a list of notebooks from "
                             f"{', '.join(catalogue.series_names())}")
    bad = [n for n in names if n not in catalogue.series_names()]
    if bad:
        raise ParameterError(f"{path}: notebooks: unknown notebook '{bad[0]}'; valid: "
                             f"{', '.join(catalogue.series_names())}")
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
    dataset = data.get("dataset", profile.dataset)
    if dataset not in DATASET_NAMES:
        raise ParameterError(f"{path}: dataset: expected one of {', '.join(DATASET_NAMES)}, got {dataset!r}")
    settings = data.get("settings", [{}])
    if not isinstance(settings, list) or not settings or not all(isinstance(v, dict) for v in settings):
        raise ParameterError(f"{path}: settings: expected a list of mappings parameter: value (the first is the "
                             "baseline), e.g. [{}, {ema_decay: 0.999}]")
    settings = [_check_values(f"{path}: settings", named, values) for values in settings]
    texts = [json.dumps(v, sort_keys=True) for v in settings]
    if len(set(texts)) != len(texts):
        raise ParameterError(f"{path}: settings: {next(t for t in texts if texts.count(t) > 1)} is listed twice")
    budget = data.get("steps_budget")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0):
        raise ParameterError(f"{path}: steps_budget: expected a number > 0 (the most optimizer steps a chosen "
                             f"setting may take, as a multiple of the baseline's), got {budget!r}")
    grid = data.get("grid")
    if not isinstance(grid, dict) or not grid:
        raise ParameterError(f"{path}: grid: expected a mapping of parameter: [values], e.g. seed: [0, 1, 2]")
    checked: dict[str, list] = {}
    for name, values in grid.items():
        if name in BUILD_SETTINGS:
            raise ParameterError(f"{path}: grid: '{name}' is a build setting; set it under params")
        if any(name in setting for setting in settings):
            raise ParameterError(f"{path}: grid: '{name}' is set by the settings too; set it in one of them")
        if not isinstance(values, list) or not values:
            raise ParameterError(f"{path}: grid: '{name}' needs a non-empty list of values, got {values!r}")
        checked[name] = [_check_values(f"{path}: grid", named, {name: v})[name] for v in values]
        seen = [json.dumps(v, sort_keys=True) for v in checked[name]]
        repeated = next((v for v, text in zip(checked[name], seen) if seen.count(text) > 1), None)
        if repeated is not None:
            raise ParameterError(f"{path}: grid: '{name}' lists the value {repeated!r} twice")
    sweep = Sweep(path.stem, path.resolve(), notebooks, profile, dataset, params, checked, settings,
                  None if budget is None else float(budget))
    for setting, combination in itertools.product(settings, itertools.product(*checked.values())):
        values = {**setting, **dict(zip(checked, combination))}
        point = Point(point_id(values), values)
        for notebook in notebooks:  # the combination as a whole (batch_size against train_limit, ...)
            try:
                validate(notebook, _overrides(profile, notebook, params, values, dataset), partial=True)
            except ParameterError as exc:
                raise ParameterError(f"{path}: point {point.id}, {notebook}: {exc}") from None
        sweep.points.append(point)
    ids = [p.id for p in sweep.points]
    if len(set(ids)) != len(ids):
        raise ParameterError(f"{path}: grid: two points would share the folder "
                             f"'{next(i for i in ids if ids.count(i) > 1)}'; make the values distinct")
    return sweep


def _overrides(profile: Profile, notebook: str, params: dict, values: dict, dataset: str) -> dict:
    """What a run of ``notebook`` at a point on ``dataset`` is given: the profile (with its sections for
    that data set), then the sweep's params and the point's values, each only where the notebook has
    that parameter (a dependency the file did not name, such as 03 for 06, gets only the values it
    accepts)."""
    names = notebook_parameters(notebook)
    return {**profile.params_for(notebook, dataset), "dataset": dataset,
            **{k: v for k, v in {**params, **values}.items() if k in names}}


# --------------------------------------------------------------------------- targets


def sweep_folder(output: str | os.PathLike, name: str, dataset_folder: str = "") -> Path:
    """Where a sweep's runs and summary go: ``<output>/sweeps/NAME`` on MNIST, inside the data set's
    reports folder otherwise (``<output>/fashion-mnist/sweeps/NAME``), so each data set's index
    links its own sweeps."""
    return Path(output) / dataset_folder / "sweeps" / name


def sweep_targets(sweep: Sweep, folder: Path, notebook_dir: Path, data_dir: Path, source_dir: str | None,
                  data_hashes: dict) -> list[pipeline.Target]:
    """One target per point and notebook, each in its own folder; a point's notebooks share its checkpoints."""
    targets = []
    for point in sweep.points:
        for notebook in sweep.notebooks:
            out = folder / point.id / notebook
            paths = pipeline.notebook_paths(notebook, data_dir=str(data_dir), data_source=source_dir,
                                            output_dir=str(out), checkpoint_dir=str(folder / point.id / "checkpoints"))
            overrides = _overrides(sweep.profile, notebook, sweep.params, point.values, sweep.dataset)
            timeout = sweep.params.get("timeout", sweep.profile.timeout_for(notebook, sweep.dataset))
            targets.append(pipeline.Target(
                id=f"{point.id}/{notebook}", notebook=notebook, source=pipeline.notebook_source(notebook_dir, notebook),
                output=out, overrides=overrides, paths=paths, data=data_hashes, timeout=timeout,
                title=f"{notebook}: {catalogue.get(notebook).title_on(dataset_title(sweep.dataset, source_dir))} "
                      f"({point.id})",
                depends=tuple(f"{point.id}/{d}" for d in catalogue.get(notebook).depends_on if d in sweep.notebooks)))
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
                           title=f"{catalogue.sweep_summary().title}: {sweep.name}", stem=SUMMARY, parameters={})


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
    started = time.perf_counter()
    sweep = load_sweep(path)
    output = pipeline.prepare_output(output)
    data_set = choose_dataset(sweep.dataset, None, source)
    folder = sweep_folder(output, sweep.name, data_set.folder)
    folder.mkdir(parents=True, exist_ok=True)
    data_dir = Path(data_dir).resolve()
    source_dir = data_set.source
    files = ensure_dataset(data_set.name, data_dir, source=source_dir)
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
                "dataset": data_set.record(), "notebooks": sweep.notebooks, "params": sweep.params,
                "settings": sweep.settings, "steps_budget": sweep.steps_budget, "grid": sweep.grid,
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

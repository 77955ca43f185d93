"""Statistics over the runs of a sweep, and the sentences that state them.

Per model and setting: the mean, standard deviation and t-interval of test
accuracy over seeds (:func:`group_spreads`). Paired comparisons over seeds: the
paired t-test and the exact Wilcoxon signed-rank test (:func:`compare_paired`),
Holm-adjusted within each family of models, with the smallest p-value the
Wilcoxon test can give for that many seeds. The inference itself is in
:mod:`mnist_lib.stats`; this module picks the values it runs on and says what
the results mean. The runs come from a sweep's manifest (``sweep.json``, written
by :mod:`mnist_lib.runner.sweep`) and their metrics files (:func:`load_runs`).
The summary notebook ``08_sweep_summary`` calls these; this module never imports
the build.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from mnist_lib import catalogue, stats, words
from mnist_lib.environment import short_commit
from mnist_lib.params import ParameterError, Params, notebook_params
from mnist_lib.references import DEFAULT_DATASET, REFERENCES, ReferenceResult, SeedTarget, for_dataset

MANIFEST = "sweep.json"
SUMMARY = "summary"  # the summary's files: summary.html, summary.metrics.json
# The catalogue's sections whose notebooks each train one model worth comparing with the others, and whose
# notebooks train one model per optimizer.
MODELS_SECTION, OPTIMIZERS_SECTION = "Models", "Training"


def model_of(notebook: str) -> str:
    """What a run's single accuracy is of: the one model its notebook trains (``cnn``), else the
    notebook itself (07's best configuration)."""
    models = next((n.models for n in catalogue.NOTEBOOKS if n.name == notebook), ())
    return models[0] if len(models) == 1 else notebook


def summary_params(namespace: Mapping[str, Any]) -> Params:
    """The summary notebook's parameters from its namespace, validated; the sweep folder must hold a manifest."""
    values = notebook_params(catalogue.sweep_summary().name, namespace)
    if not (Path(values["sweep_dir"]) / MANIFEST).is_file():
        raise ParameterError(f"parameter 'sweep_dir': {values['sweep_dir']!r} holds no {MANIFEST} "
                             "(run `python -m mnist_lib sweep FILE.yaml` first)")
    return values


# --------------------------------------------------------------------------- paired comparisons


@dataclass(frozen=True)
class PairedComparison:
    """Model ``a`` against model ``b`` over the seeds both ran, accuracies in percent."""

    a: str
    b: str
    setting: str
    n: int
    mean_difference: float  # a - b, points
    sd_difference: float
    wins_a: int
    wins_b: int
    t: float
    t_p: float
    wilcoxon_w: float
    wilcoxon_p: float
    wilcoxon_min_p: float
    t_p_holm: float = math.nan

    def to_dict(self) -> dict:
        return asdict(self)


def compare_paired(name_a: str, a: Sequence[float], name_b: str, b: Sequence[float],
                   setting: str = "") -> PairedComparison:
    """Paired comparison of two models measured on the same seeds (``a[i]`` and ``b[i]`` share seed i)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired values need equal lengths, got {len(x)} and {len(y)}")
    d = x - y
    differences = stats.spread(d)
    t_stat, t_p = stats.paired_t(x, y)
    w, w_p, w_min = stats.wilcoxon_exact(x, y)
    return PairedComparison(name_a, name_b, setting, len(d), differences.mean, differences.sd, int((d > 0).sum()),
                            int((d < 0).sum()), t_stat, t_p, w, w_p, w_min)


# --------------------------------------------------------------------------- the sweep's runs


def read_manifest(sweep_dir: str | Path) -> dict:
    path = Path(sweep_dir) / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ParameterError(f"{path}: cannot read the sweep manifest ({exc})") from None


def _model_rows(notebook: str, metrics: Mapping[str, Any]) -> list[dict]:
    """The (model, test accuracy %, validation accuracy %, train seconds) a run's metrics file reports."""
    if isinstance(metrics.get("optimizers"), Mapping):  # one MLP per optimizer (05): mlp/<optimizer>
        return [{"model": f"{model_of(notebook)}/{name}", "accuracy": values.get("best_accuracy"),
                 "val_accuracy": values.get("val_accuracy"), "max_epoch_accuracy": values.get("max_epoch_accuracy"),
                 "train_seconds": values.get("train_seconds")}
                for name, values in metrics["optimizers"].items()]
    if metrics.get("test_accuracy") is None:
        return []
    return [{"model": model_of(notebook), "accuracy": metrics["test_accuracy"],
             "val_accuracy": metrics.get("val_accuracy"), "max_epoch_accuracy": None,
             "train_seconds": metrics.get("train_seconds")}]


def setting_label(values: Mapping[str, Any]) -> str:
    """The grid values of a point other than its seed: "lr=0.01, optimizer=adam" ("" for none)."""
    return ", ".join(f"{k}={v}" for k, v in values.items() if k != "seed")


def load_runs(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per run and model: point, notebook, model, setting, seed, status, test accuracy (%),
    validation accuracy (%, measured as the test accuracy is), max per-epoch accuracy (05), train
    seconds, the epochs and batch size it was given, and the run's report relative to the sweep folder."""
    sweep_dir = Path(sweep_dir)
    manifest = read_manifest(sweep_dir)
    points = {p["id"]: p["values"] for p in manifest["points"]}
    rows = []
    for run in manifest["runs"]:
        values = points[run["point"]]
        base = {"point": run["point"], "notebook": run["notebook"], "setting": setting_label(values),
                "status": run["status"], "error": run.get("error"), "html": run.get("html"),
                "seconds": run.get("seconds"), "metrics": run.get("metrics") if run["status"] == "ok" else None}
        metrics = None
        if run["status"] == "ok" and run.get("metrics"):
            metrics = json.loads((sweep_dir / run["metrics"]).read_text())
        run_params = (metrics or {}).get("params", {})
        seed = values.get("seed", run_params.get("seed"))
        base["full"] = bool(metrics) and run_params.get("train_limit") is None and run_params.get("test_limit") is None
        base["epochs"], base["batch_size"] = run_params.get("epochs"), run_params.get("batch_size")
        models = _model_rows(run["notebook"], metrics) if metrics else []
        if not models:
            rows.append({**base, "seed": seed, "model": model_of(run["notebook"]),
                         "accuracy": None, "val_accuracy": None, "max_epoch_accuracy": None, "train_seconds": None})
        for model in models:
            rows.append({**base, "seed": seed, **model})
    frame = pd.DataFrame(rows, columns=["point", "notebook", "model", "setting", "seed", "status", "accuracy",
                                        "val_accuracy", "max_epoch_accuracy", "train_seconds", "epochs", "batch_size",
                                        "seconds", "full", "html", "metrics", "error"])
    for column in ("accuracy", "val_accuracy", "max_epoch_accuracy", "train_seconds", "epochs", "batch_size",
                   "seconds"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def group_spreads(runs: pd.DataFrame, column: str = "accuracy", confidence: float = 0.95) -> pd.DataFrame:
    """Per model and setting (in the order they first appear): n, mean, sd, t-interval, min, max."""
    rows = []
    ok = runs[runs["status"] == "ok"]
    for (notebook, model, setting), group in ok.groupby(["notebook", "model", "setting"], sort=False):
        values = group[column].dropna().to_numpy(dtype=float)
        s = stats.spread(values, confidence)
        rows.append({"notebook": notebook, "model": model, "setting": setting, "n": s.n, "mean": s.mean,
                     "sd": s.sd, "low": s.low, "high": s.high,
                     "min": float(values.min()) if len(values) else math.nan,
                     "max": float(values.max()) if len(values) else math.nan,
                     "seeds": sorted(int(v) for v in group.loc[group[column].notna(), "seed"].dropna())})
    return pd.DataFrame(rows, columns=["notebook", "model", "setting", "n", "mean", "sd", "low", "high", "min",
                                       "max", "seeds"])


def comparison_families(runs: pd.DataFrame) -> list[list[str]]:
    """Models worth comparing pairwise: the optimizers of one notebook (05's, one family per
    notebook), and the models of the catalogue's single-model notebooks (02/03/04, another), each in
    the order they appear."""
    ok = runs[(runs["status"] == "ok") & runs["accuracy"].notna()]
    per_optimizer = ok[ok["model"].str.contains("/", regex=False)]
    families = [list(dict.fromkeys(group["model"])) for _, group in per_optimizer.groupby("notebook", sort=False)]
    singles_from = [n.name for n in catalogue.series() if n.section == MODELS_SECTION]
    singles = list(dict.fromkeys(ok.loc[ok["notebook"].isin(singles_from), "model"]))
    return [family for family in (*families, singles) if len(family) >= 2]


def paired_comparisons(runs: pd.DataFrame) -> list[PairedComparison]:
    """Every pair within each family and setting, paired by seed over the seeds both ran;
    Holm-adjusted t-test p-values within each family and setting."""
    ok = runs[(runs["status"] == "ok") & runs["accuracy"].notna()]
    results = []
    for family in comparison_families(runs):
        for setting, group in ok[ok["model"].isin(family)].groupby("setting", sort=False):
            table = group.pivot_table(index="seed", columns="model", values="accuracy", aggfunc="first")
            batch = []
            for a, b in itertools.combinations([m for m in family if m in table.columns], 2):
                both = table[[a, b]].dropna()
                if len(both) >= 2:
                    batch.append(compare_paired(a, both[a].to_numpy(), b, both[b].to_numpy(), setting))
            adjusted = stats.holm([c.t_p for c in batch])
            results += [PairedComparison(**{**c.to_dict(), "t_p_holm": p}) for c, p in zip(batch, adjusted)]
    return results


@dataclass(frozen=True)
class SettingChoice:
    """For one model: the setting chosen on the validation split over seeds (:func:`choose_settings`),
    against the baseline (the sweep's first setting), with the paired differences (chosen - baseline,
    points) over the seeds both ran, on validation (what chose it) and on test (what it gives)."""

    notebook: str
    model: str
    baseline: str
    chosen: str
    best: str  # the best mean validation accuracy within the budget (the chosen setting, or a costlier one)
    seeds: int
    val_baseline: float
    val_chosen: float
    val_best: float
    val_behind_best: stats.Spread  # chosen - best on validation, paired by seed (points)
    val_difference: stats.Spread
    val_wilcoxon_p: float
    test_baseline: float
    test_chosen: float
    test_difference: stats.Spread
    steps_ratio: float  # optimizer steps of the chosen setting over the baseline's (epochs / batch size)
    best_steps_ratio: float  # the same for the best setting
    seconds_ratio: float  # mean train seconds of the chosen setting over the baseline's
    steps_budget: float | None = None  # the sweep's cap on a chosen setting's steps (x the baseline's), if any
    over_budget: str | None = None  # the setting with the best mean validation accuracy of all, when over the budget
    val_over_budget: float = math.nan
    over_budget_steps_ratio: float = math.nan


def _steps(runs: pd.DataFrame) -> pd.Series:
    """Per run, optimizer steps up to the training-set size a model's settings share: epochs / batch size."""
    return runs["epochs"] / runs["batch_size"]


def choose_settings(runs: pd.DataFrame, baseline: str, confidence: float = 0.95,
                    steps_budget: float | None = None) -> list[SettingChoice]:
    """Per model, the setting chosen on the validation split, compared with ``baseline`` (a setting's
    text, :func:`setting_label`) over the seeds both ran.

    The choice is the one-standard-error rule with training steps as the cost: of the settings whose
    mean validation accuracy is within one standard error of the best mean's (the standard error of
    their paired per-seed differences from the best setting), the one with the fewest optimizer steps
    (epochs / batch size), the better mean among equal steps. A costlier setting is chosen only when
    it is ahead by more than the seeds' noise. With ``steps_budget`` only the baseline and the settings
    of at most that many times its steps are candidates (the others are reported, the best of them as
    ``over_budget`` when it beats every candidate). Settings without a validation accuracy for every
    seed of the baseline are left out of the choice."""
    ok = runs[(runs["status"] == "ok") & runs["val_accuracy"].notna()]
    choices = []
    for (notebook, model), group in ok.groupby(["notebook", "model"], sort=False):
        # one seed-by-setting table per measurement (one table with a column level per measurement
        # hands back a Series for a setting labelled "": pandas drops an empty last column level)
        val, test, seconds = (group.pivot_table(index="seed", columns="setting", values=v, aggfunc="first")
                              for v in ("val_accuracy", "accuracy", "train_seconds"))
        if baseline not in val.columns:
            continue
        base_seeds = val[baseline].dropna().index
        complete = [s for s in val.columns if val[s].reindex(base_seeds).notna().all()]
        val, test, seconds = val.loc[base_seeds, complete], test.reindex(base_seeds), seconds.reindex(base_seeds)
        means = val.mean()
        steps = _steps(group).groupby(group["setting"], sort=False).mean().reindex(complete).fillna(math.inf)
        within = [s for s in complete if s == baseline or steps_budget is None
                  or steps[s] <= steps_budget * steps[baseline] * (1 + 1e-9)]
        best = max(within, key=lambda s: (means[s], s == baseline))
        top = max(complete, key=lambda s: (means[s], s == baseline))
        over = top if means[top] > means[best] else None
        behind = {s: stats.spread((val[s] - val[best]).to_numpy(dtype=float), confidence) for s in within}
        near = [s for s in within if s == best or behind[s].mean >= -behind[s].standard_error]
        chosen = str(min(near, key=lambda s: (steps[s], -means[s], s != baseline)))
        choices.append(SettingChoice(
            notebook=notebook, model=model, baseline=baseline, chosen=chosen, best=best, seeds=len(base_seeds),
            val_baseline=float(means[baseline]), val_chosen=float(means[chosen]), val_best=float(means[best]),
            val_behind_best=behind[chosen],
            val_difference=stats.spread((val[chosen] - val[baseline]).to_numpy(dtype=float), confidence),
            val_wilcoxon_p=stats.wilcoxon_exact(val[chosen].to_numpy(dtype=float),
                                                val[baseline].to_numpy(dtype=float))[1],
            test_baseline=float(test[baseline].mean()),
            test_chosen=float(test[chosen].mean()),
            test_difference=stats.spread((test[chosen] - test[baseline]).to_numpy(dtype=float), confidence),
            steps_ratio=float(steps[chosen] / steps[baseline]),
            best_steps_ratio=float(steps[best] / steps[baseline]),
            seconds_ratio=float(seconds[chosen].mean() / seconds[baseline].mean()), steps_budget=steps_budget,
            over_budget=over, val_over_budget=float(means[over]) if over else math.nan,
            over_budget_steps_ratio=float(steps[over] / steps[baseline]) if over else math.nan))
    return choices


def baseline_setting(manifest: Mapping[str, Any]) -> str:
    """The text of the sweep's baseline: its first setting, with the first value of every grid list but
    the seed's (:func:`setting_label`)."""
    first = {k: v[0] for k, v in manifest["grid"].items()}
    return setting_label({**(manifest.get("settings") or [{}])[0], **first})


def setting_means(runs: pd.DataFrame) -> pd.DataFrame:
    """Per model and setting: seeds, mean validation and test accuracy (%), optimizer steps (epochs /
    batch size, relative to the model's first setting), mean train seconds."""
    ok = runs[runs["status"] == "ok"].assign(steps=_steps)
    table = ok.groupby(["notebook", "model", "setting"], sort=False).agg(
        seeds=("seed", "nunique"), validation=("val_accuracy", "mean"), test=("accuracy", "mean"),
        steps=("steps", "mean"), train_seconds=("train_seconds", "mean")).reset_index()
    table["steps"] = table["steps"] / table.groupby(["notebook", "model"], sort=False)["steps"].transform("first")
    return table


# --------------------------------------------------------------------------- reference numbers


def references_for(runs: pd.DataFrame, dataset: str = DEFAULT_DATASET) -> dict[str, ReferenceResult]:
    """The original reports' single-run results (:mod:`mnist_lib.references`) of the models in ``runs``."""
    models = set(runs["model"])
    return {model: result for model, result in for_dataset(dataset).results.items() if model in models}


@dataclass(frozen=True)
class SeedTargetCheck:
    """A model's test accuracy over a sweep's seeds against its seed target; applicable only to runs of
    the full data with at least the target's number of seeds."""

    model: str
    setting: str
    target: SeedTarget
    n: int
    mean: float
    low: float
    high: float
    lowest: float
    reason: str = ""  # why it is not checked, when it is not

    @property
    def applicable(self) -> bool:
        return not self.reason

    @property
    def met(self) -> bool | None:
        if not self.applicable:
            return None
        return self.mean >= self.target.mean and (self.target.every_seed is None
                                                  or self.lowest >= self.target.every_seed)


def seed_target_checks(runs: pd.DataFrame, groups: pd.DataFrame, dataset: str = DEFAULT_DATASET) -> list[SeedTargetCheck]:
    """Each group (model and setting, from :func:`group_spreads`) against its model's seed target on
    ``dataset``; groups of models without one are left out."""
    targets = REFERENCES[dataset].seed_targets if dataset in REFERENCES else {}
    checks = []
    for _, row in groups.iterrows():
        if row["model"] not in targets:
            continue
        target = targets[row["model"]]
        members = runs[(runs["model"] == row["model"]) & (runs["setting"] == row["setting"])
                       & (runs["status"] == "ok")]
        reasons = []
        if not members["full"].all():
            reasons.append("its runs use a subset of the data (train_limit or test_limit set)")
        if row["n"] < target.seeds:
            reasons.append(f"it has {row['n']} seeds, fewer than the {target.seeds} the target is set over")
        checks.append(SeedTargetCheck(row["model"], row["setting"], target, int(row["n"]), float(row["mean"]),
                                      float(row["low"]), float(row["high"]), float(row["min"]), "; ".join(reasons)))
    return checks


# --------------------------------------------------------------------------- the summary's tables and texts


SETTING_COLUMNS = ("epochs", "batch_size", "optimizer", "optimizers", "lr", "learning_rates", "scheduler",
                   "train_limit", "test_limit", "normalization", "augment")


def settings_table(sweep_dir: str | Path, runs: pd.DataFrame, manifest: Mapping[str, Any]) -> pd.DataFrame:
    """Per notebook, the training settings its successful runs used (from their metrics files);
    a value that differs between runs shows as "varies (grid)"."""
    rows = {}
    for notebook, group in runs[(runs["status"] == "ok") & runs["metrics"].notna()].groupby("notebook", sort=False):
        seen: dict[str, set] = {}
        for path in group["metrics"].drop_duplicates():
            params = json.loads((Path(sweep_dir) / path).read_text()).get("params", {})
            for name in SETTING_COLUMNS:
                if name in params:
                    seen.setdefault(name, set()).add(json.dumps(params[name], sort_keys=True))
        rows[notebook] = {name: ("varies (grid)" if len(values) > 1 else json.loads(next(iter(values))))
                          for name, values in seen.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "notebook"
    return table.astype(object).where(table.notna(), "")


def spread_table(groups: pd.DataFrame, references: Mapping[str, ReferenceResult],
                 confidence: float) -> pd.DataFrame:
    """The per-model table of the summary: runs, mean, sd, interval, range, original report."""
    level = f"{100 * confidence:g}%"
    table = pd.DataFrame({
        "model": groups["model"], "setting": groups["setting"].replace("", "base"), "runs": groups["n"],
        "mean (%)": groups["mean"].round(2), "sd (points)": groups["sd"].round(3),
        f"{level} t-interval (%)": [f"{lo:.2f}–{hi:.2f}" if np.isfinite(lo) else "n/a"
                                    for lo, hi in zip(groups["low"], groups["high"])],
        "range (%)": [f"{lo:.2f}–{hi:.2f}" for lo, hi in zip(groups["min"], groups["max"])],
        "original report (%)": [f"{references[m].accuracy:.2f}" if m in references else "—"
                                for m in groups["model"]],
    })
    return table.set_index(["model", "setting"])


def paired_differences(runs: pd.DataFrame, comparisons: Sequence[PairedComparison]) -> pd.DataFrame:
    """Long table of the per-seed differences a - b of every comparison (for the figure)."""
    ok = runs[(runs["status"] == "ok") & runs["accuracy"].notna()]
    rows = []
    for c in comparisons:
        table = ok[ok["setting"] == c.setting].pivot_table(index="seed", columns="model", values="accuracy",
                                                           aggfunc="first")[[c.a, c.b]].dropna()
        label = f"{c.a} − {c.b}" + (f" ({c.setting})" if c.setting else "")
        rows += [{"pair": label, "seed": int(seed), "difference": float(r[c.a] - r[c.b])}
                 for seed, r in table.iterrows()]
    return pd.DataFrame(rows, columns=["pair", "seed", "difference"])


def comparison_table(comparisons: Sequence[PairedComparison]) -> pd.DataFrame:
    return pd.DataFrame([{
        "a": c.a, "b": c.b, "setting": c.setting or "base", "seeds": c.n,
        "mean a − b (points)": round(c.mean_difference, 3), "sd (points)": round(c.sd_difference, 3),
        "a ahead on": c.wins_a, "b ahead on": c.wins_b, "paired t p": words.p_value(c.t_p), "t p (Holm)": words.p_value(c.t_p_holm),
        "Wilcoxon p": words.p_value(c.wilcoxon_p), "smallest possible Wilcoxon p": words.p_value(c.wilcoxon_min_p),
    } for c in comparisons]).set_index(["a", "b"])


def seconds_table(seconds: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "model": seconds["model"], "setting": seconds["setting"].replace("", "base"), "runs": seconds["n"],
        "mean training seconds": seconds["mean"].round(1), "sd": seconds["sd"].round(1),
        "fastest": seconds["min"].round(1), "slowest": seconds["max"].round(1),
    }).set_index(["model", "setting"])


def provenance_table(manifest: Mapping[str, Any], provenance: Mapping[str, Any]) -> pd.DataFrame:
    rows = [("sweep", manifest["name"]), ("sweep file", manifest["file"]), ("profile", manifest["profile"]),
            ("executor", manifest.get("executor") or "none (every run up to date)"),
            ("runs finished (UTC)", manifest.get("finished", "")), ("summary date (UTC)", provenance["date"]),
            ("git commit", short_commit(provenance["git"]))]
    rows += [(f"version: {k}", v) for k, v in provenance["versions"].items()]
    return pd.DataFrame(rows, columns=["item", "value"]).set_index("item")


def summary_metrics_path(output_dir: str | Path) -> Path:
    return Path(output_dir) / f"{SUMMARY}.metrics.json"


def summary_record(manifest: Mapping[str, Any], groups: pd.DataFrame, comparisons: Sequence[PairedComparison],
                   seconds: pd.DataFrame, params: Mapping[str, Any], provenance: Mapping[str, Any],
                   texts: Mapping[str, str], choices: Sequence[SettingChoice] = (),
                   targets: Sequence[SeedTargetCheck] = ()) -> dict:
    """The summary's metrics file: every group's numbers (and its "mean ± sd over n seeds" text from
    :func:`mnist_lib.prose.sweeps.headline_texts`), the comparisons, the settings chosen on validation,
    the seed targets and the provenance."""
    group_rows = []
    for (_, row), text in zip(groups.iterrows(), texts.values()):
        group_rows.append({**{k: row[k] for k in ("notebook", "model", "setting", "n", "mean", "sd", "low", "high",
                                                  "min", "max", "seeds")}, "text": text})
    summary = catalogue.sweep_summary()
    return {"notebook": summary.name, "title": f"{summary.title}: {manifest['name']}", "status": "ok",
            "sweep": manifest["name"], "profile": manifest["profile"], "headline": texts, "groups": group_rows,
            "comparisons": [c.to_dict() for c in comparisons],
            "seed_targets": [{**asdict(c), "met": c.met} for c in targets],
            "choices": [{**asdict(c), "val_difference": asdict(c.val_difference),
                         "test_difference": asdict(c.test_difference)} for c in choices],
            "train_seconds": {row["model"] + (f" ({row['setting']})" if row["setting"] else ""): row["mean"]
                              for _, row in seconds.iterrows()},
            "params": {k: str(v) if isinstance(v, Path) else v for k, v in params.items()},
            "environment": provenance}

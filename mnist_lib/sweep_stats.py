"""Statistics over the runs of a sweep, and the sentences that state them.

Per model and setting: the mean, standard deviation and t-interval of test
accuracy over seeds (:func:`spread`). Paired comparisons over seeds: the paired
t-test and the exact Wilcoxon signed-rank test (:func:`compare_paired`), with
the smallest p-value the Wilcoxon test can give for that many seeds. The runs
come from a sweep's manifest (``sweep.json``, written by :mod:`mnist_lib.sweep`)
and their metrics files (:func:`load_runs`). The summary notebook
``08_sweep_summary`` calls these; this module never imports the build.
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

from mnist_lib.config import Param, ParameterError
from mnist_lib.references import DEFAULT_DATASET, ReferenceResult, for_dataset

MANIFEST = "sweep.json"
SUMMARY = "summary"  # the summary's files: summary.html, summary.metrics.json
# The model each single-model notebook trains (05 trains one MLP per optimizer: mlp/<optimizer>).
MODELS = {"02_ann": "ann", "03_lenet": "lenet5", "04_cnn": "cnn"}
OPTIMIZER_NOTEBOOK = "05_optimizers"

SUMMARY_PARAMS: dict[str, Param] = {
    "sweep_dir": Param("path", "the sweep's folder (with its sweep.json)"),
    "output_dir": Param("dir", "where the summary's metrics file is written"),
    "confidence": Param("float", "confidence of the t-intervals", low=0.5, high=0.999),
}


def summary_params(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The summary notebook's parameters from its namespace, validated; the sweep folder must hold a manifest."""
    values = {}
    for name, param in SUMMARY_PARAMS.items():
        if name not in namespace:
            raise ParameterError(f"parameter '{name}' is missing for 08_sweep_summary")
        values[name] = param.coerce(name, namespace[name])
    if not (Path(values["sweep_dir"]) / MANIFEST).is_file():
        raise ParameterError(f"parameter 'sweep_dir': {values['sweep_dir']!r} holds no {MANIFEST} "
                             "(run `python -m mnist_lib sweep FILE.yaml` first)")
    return values


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation and t-interval of ``n`` values (sd and interval need n >= 2)."""

    n: int
    mean: float
    sd: float
    low: float
    high: float
    confidence: float

    def text(self, unit: str = "%", digits: int = 2) -> str:
        """"98.12 ± 0.05% over 5 seeds"."""
        if self.n == 0:
            return "no successful run"
        if self.n == 1:
            return f"{self.mean:.{digits}f}{unit} (one run: no spread)"
        return f"{self.mean:.{digits}f} ± {self.sd:.{digits}f}{unit} over {self.n} seeds"


def spread(values: Sequence[float], confidence: float = 0.95) -> Spread:
    """Mean, sd (n - 1 in the denominator) and the two-sided t-interval of the mean."""
    from scipy.stats import t

    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return Spread(0, math.nan, math.nan, math.nan, math.nan, confidence)
    mean = float(x.mean())
    if n == 1:
        return Spread(1, mean, math.nan, math.nan, math.nan, confidence)
    sd = float(x.std(ddof=1))
    half = float(t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
    return Spread(n, mean, sd, mean - half, mean + half, confidence)


def paired_t(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Paired t-test of a - b: (t statistic, two-sided p). nan when undefined (n < 2, or all
    differences equal: then p is 1 if they are all zero, else 0)."""
    from scipy.stats import t

    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = len(d)
    if n < 2:
        return math.nan, math.nan
    sd = d.std(ddof=1)
    if sd == 0:
        return (math.nan, 1.0) if d.mean() == 0 else (math.copysign(math.inf, d.mean()), 0.0)
    statistic = float(d.mean() / (sd / math.sqrt(n)))
    return statistic, float(min(1.0, 2 * t.sf(abs(statistic), n - 1)))


def _signed_rank_counts(doubled_ranks: np.ndarray) -> np.ndarray:
    """How many of the 2^n sign patterns give each rank sum W+ (in doubled-rank units)."""
    counts = np.zeros(int(doubled_ranks.sum()) + 1, dtype=object)  # exact integers for any n
    counts[0] = 1
    for r in doubled_ranks.astype(int):
        shifted = np.zeros_like(counts)
        shifted[r:] = counts[: len(counts) - r]
        counts = counts + shifted
    return counts


def wilcoxon_exact(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """Exact two-sided Wilcoxon signed-rank test of a - b: (W, p, smallest possible p).

    Differences are rounded to 9 decimals (float noise must not break ties); zero
    differences are dropped (Wilcoxon's rule); tied absolute differences get
    their mean rank, and the null distribution is enumerated exactly over every
    sign pattern of the observed ranks. W is the smaller of the positive and
    negative rank sums. nan when no difference is left.
    """
    from scipy.stats import rankdata

    # Rounded so that equal differences of percentages (0.1 from 97.1 - 97.0 and from 97.3 - 97.2) tie.
    d = np.round(np.asarray(a, dtype=float) - np.asarray(b, dtype=float), 9)
    d = d[d != 0]
    if len(d) == 0:
        return math.nan, math.nan, math.nan
    doubled = np.rint(2 * rankdata(np.abs(d))).astype(int)  # mean ranks are multiples of 1/2
    counts = _signed_rank_counts(doubled)
    total = int(doubled.sum())
    w_plus = int(doubled[d > 0].sum())
    sums = np.arange(total + 1)
    extreme = np.abs(2 * sums - total) >= abs(2 * w_plus - total)
    patterns = 2 ** len(d)
    p = float(sum(counts[extreme]) / patterns)
    smallest = float(min(1.0, 2 * counts[0] / patterns)) if total > 0 else 1.0
    return min(w_plus, total - w_plus) / 2, min(1.0, p), smallest


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (nan stays nan)."""
    p = np.asarray(p_values, dtype=float)
    finite = np.flatnonzero(np.isfinite(p))
    adjusted = np.full(len(p), np.nan)
    running = 0.0
    for rank, i in enumerate(finite[np.argsort(p[finite], kind="stable")]):
        running = max(running, min(1.0, (len(finite) - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


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
    t_stat, t_p = paired_t(x, y)
    w, w_p, w_min = wilcoxon_exact(x, y)
    return PairedComparison(name_a, name_b, setting, len(d), float(d.mean()) if len(d) else math.nan,
                            float(d.std(ddof=1)) if len(d) > 1 else math.nan, int((d > 0).sum()),
                            int((d < 0).sum()), t_stat, t_p, w, w_p, w_min)


# --------------------------------------------------------------------------- the sweep's runs


def read_manifest(sweep_dir: str | Path) -> dict:
    path = Path(sweep_dir) / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ParameterError(f"{path}: cannot read the sweep manifest ({exc})") from None


def _model_rows(notebook: str, metrics: Mapping[str, Any]) -> list[dict]:
    """The (model, accuracy %, train seconds) a run's metrics file reports."""
    if notebook == OPTIMIZER_NOTEBOOK and isinstance(metrics.get("optimizers"), Mapping):
        return [{"model": f"mlp/{name}", "accuracy": values.get("best_accuracy"),
                 "max_epoch_accuracy": values.get("max_epoch_accuracy"), "train_seconds": values.get("train_seconds")}
                for name, values in metrics["optimizers"].items()]
    if metrics.get("test_accuracy") is None:
        return []
    return [{"model": MODELS.get(notebook, notebook), "accuracy": metrics["test_accuracy"],
             "max_epoch_accuracy": None, "train_seconds": metrics.get("train_seconds")}]


def setting_text(values: Mapping[str, Any]) -> str:
    """The grid values of a point other than its seed: "lr=0.01, optimizer=adam" ("" for none)."""
    return ", ".join(f"{k}={v}" for k, v in values.items() if k != "seed")


def load_runs(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per run and model: point, notebook, model, setting, seed, status, accuracy (%),
    max per-epoch accuracy (05), train seconds, and the run's report relative to the sweep folder."""
    sweep_dir = Path(sweep_dir)
    manifest = read_manifest(sweep_dir)
    points = {p["id"]: p["values"] for p in manifest["points"]}
    rows = []
    for run in manifest["runs"]:
        values = points[run["point"]]
        base = {"point": run["point"], "notebook": run["notebook"], "setting": setting_text(values),
                "status": run["status"], "error": run.get("error"), "html": run.get("html"),
                "seconds": run.get("seconds"), "metrics": run.get("metrics") if run["status"] == "ok" else None}
        metrics = None
        if run["status"] == "ok" and run.get("metrics"):
            metrics = json.loads((sweep_dir / run["metrics"]).read_text())
        seed = values.get("seed", (metrics or {}).get("params", {}).get("seed"))
        models = _model_rows(run["notebook"], metrics) if metrics else []
        if not models:
            rows.append({**base, "seed": seed, "model": MODELS.get(run["notebook"], run["notebook"]),
                         "accuracy": None, "max_epoch_accuracy": None, "train_seconds": None})
        for model in models:
            rows.append({**base, "seed": seed, **model})
    frame = pd.DataFrame(rows, columns=["point", "notebook", "model", "setting", "seed", "status", "accuracy",
                                        "max_epoch_accuracy", "train_seconds", "seconds", "html", "metrics", "error"])
    for column in ("accuracy", "max_epoch_accuracy", "train_seconds", "seconds"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def group_spreads(runs: pd.DataFrame, column: str = "accuracy", confidence: float = 0.95) -> pd.DataFrame:
    """Per model and setting (in the order they first appear): n, mean, sd, t-interval, min, max."""
    rows = []
    ok = runs[runs["status"] == "ok"]
    for (notebook, model, setting), group in ok.groupby(["notebook", "model", "setting"], sort=False):
        values = group[column].dropna().to_numpy(dtype=float)
        s = spread(values, confidence)
        rows.append({"notebook": notebook, "model": model, "setting": setting, "n": s.n, "mean": s.mean,
                     "sd": s.sd, "low": s.low, "high": s.high,
                     "min": float(values.min()) if len(values) else math.nan,
                     "max": float(values.max()) if len(values) else math.nan,
                     "seeds": sorted(int(v) for v in group.loc[group[column].notna(), "seed"].dropna())})
    return pd.DataFrame(rows, columns=["notebook", "model", "setting", "n", "mean", "sd", "low", "high", "min",
                                       "max", "seeds"])


def comparison_families(runs: pd.DataFrame) -> list[list[str]]:
    """Models worth comparing pairwise: the optimizers of 05 (one family), and the models of the
    single-model notebooks 02/03/04 (another), each in the order they appear."""
    ok = runs[(runs["status"] == "ok") & runs["accuracy"].notna()]
    optimizers = list(dict.fromkeys(ok.loc[ok["notebook"] == OPTIMIZER_NOTEBOOK, "model"]))
    singles = list(dict.fromkeys(ok.loc[ok["notebook"].isin(list(MODELS)), "model"]))
    return [family for family in (optimizers, singles) if len(family) >= 2]


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
            adjusted = holm([c.t_p for c in batch])
            results += [PairedComparison(**{**c.to_dict(), "t_p_holm": p}) for c, p in zip(batch, adjusted)]
    return results


# --------------------------------------------------------------------------- reference numbers


def references_for(runs: pd.DataFrame, dataset: str = DEFAULT_DATASET) -> dict[str, ReferenceResult]:
    """The original reports' single-run results (:mod:`mnist_lib.references`) of the models in ``runs``."""
    models = set(runs["model"])
    return {model: result for model, result in for_dataset(dataset).results.items() if model in models}


# --------------------------------------------------------------------------- sentences


def _p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}" if p < 0.01 else f"{p:.3f}"


def spread_sentence(row: Mapping[str, Any], reference: ReferenceResult | None) -> str:
    """One model and setting: its mean, sd and interval, and where the original single run falls."""
    name = f"**{row['model']}**" + (f" ({row['setting']})" if row["setting"] else "")
    if row["n"] == 0:
        return f"{name}: no successful run."
    if row["n"] == 1:
        text = f"{name}: one successful run, {row['mean']:.2f}%; a spread needs at least two seeds."
    else:
        text = (f"{name}: {row['mean']:.2f}% ± {row['sd']:.2f} (mean ± sd over {row['n']} seeds; 95% t-interval "
                f"{row['low']:.2f}–{row['high']:.2f}%, runs from {row['min']:.2f}% to {row['max']:.2f}%).")
    if reference is not None and row["n"] >= 2:
        where = ("above" if reference.accuracy > row["high"] else "below" if reference.accuracy < row["low"]
                 else "inside")
        text += f" The original report's single run, {reference.describe()}, lies **{where}** this interval."
    return text


def comparison_sentence(c: PairedComparison, references: Mapping[str, ReferenceResult] | None = None,
                        alpha: float = 0.05) -> str:
    """What a paired comparison shows, and whether an original report's ordering of the two survives."""
    better, worse = (c.a, c.b) if c.mean_difference >= 0 else (c.b, c.a)
    label = f"**{better}** vs **{worse}**" + (f" ({c.setting})" if c.setting else "") + ": "
    if c.wins_a == c.wins_b == 0:
        return label + f"the same test accuracy on all {c.n} seeds: no difference."
    wins = c.wins_a if better == c.a else c.wins_b
    text = (label + f"{better} was ahead on {wins} of {c.n} seeds, by {abs(c.mean_difference):.2f} points on "
            f"average (sd {c.sd_difference:.2f}); paired t-test p = {_p(c.t_p)} (Holm-adjusted "
            f"{_p(c.t_p_holm)}), Wilcoxon p = {_p(c.wilcoxon_p)}.")
    real = np.isfinite(c.t_p_holm) and c.t_p_holm < alpha
    text += (" Unlikely to be seed-to-seed noise." if real else
             " Within what different seeds alone produce: no real difference shown.")
    refs = references or {}
    if c.a in refs and c.b in refs and refs[c.a].accuracy != refs[c.b].accuracy:
        ref_better, ref_worse = sorted((c.a, c.b), key=lambda m: refs[m].accuracy, reverse=True)
        same = ref_better == better and c.mean_difference != 0
        verdict = ("**survives**: same order, and more than noise" if same and real else
                   "does **not** survive: the order is the same, but the seeds do not show it is more than noise"
                   if same else "does **not** survive: over seeds the order is reversed" + (
                       ", and that reversal is more than noise" if real else ""))
        text += (f" The original reports' single runs put {ref_better} ({refs[ref_better].accuracy:.2f}%) above "
                 f"{ref_worse} ({refs[ref_worse].accuracy:.2f}%); that comparison {verdict}.")
    return text


def smallest_wilcoxon_p(n: int) -> float:
    """The smallest two-sided p-value the exact Wilcoxon test can give with ``n`` paired values
    (every difference the same sign, no ties): 2 / 2^n."""
    return min(1.0, 2 / 2**n) if n > 0 else math.nan


def few_seeds_caveat(n: int) -> str:
    """Why a handful of seeds limits what the tests can say, with the numbers for this ``n``."""
    if n < 2:
        return "With fewer than two seeds per model no comparison over seeds is possible."
    smallest = smallest_wilcoxon_p(n)
    reach = ("so it can never reach 0.05 here" if smallest >= 0.05 else
             "and gets below 0.05 only when nearly every seed agrees on the direction")
    return (f"A caveat: {n} seeds are few. The exact two-sided Wilcoxon test cannot give a p-value below "
            f"{smallest:.4f} with {n} paired values, {reach}. The paired t-test can go lower, but it assumes "
            f"roughly normal differences, which {n} values cannot check. Seeds vary the data split, the initial "
            "weights and the batch order together, so these intervals cover all three; read them as a rough "
            "guide, not a verdict.")


def headline(groups: pd.DataFrame) -> dict[str, str]:
    """Per model and setting, "98.12 ± 0.05% over 5 seeds", for the summary's metrics file and the index."""
    found = {}
    for _, row in groups.iterrows():
        label = row["model"] + (f" ({row['setting']})" if row["setting"] else "")
        found[label] = Spread(row["n"], row["mean"], row["sd"], row["low"], row["high"], math.nan).text()
    return found


# --------------------------------------------------------------------------- the summary's tables and texts


def _values_text(values: Sequence[Any]) -> str:
    return ", ".join(str(v) for v in values)


def describe_sweep(manifest: Mapping[str, Any], runs: pd.DataFrame) -> str:
    """What the sweep ran, from its manifest: notebooks, profile, grid, and how many runs succeeded."""
    statuses = [r["status"] for r in manifest["runs"]]
    failed = [r["id"] for r in manifest["runs"] if r["status"] != "ok"]
    grid = "; ".join(f"{name} in {{{_values_text(values)}}}" for name, values in manifest["grid"].items())
    params = manifest.get("params") or {}
    extra = (" with " + ", ".join(f"{k} = {v}" for k, v in params.items()) + " on top of it") if params else ""
    text = (f"This sweep, **{manifest['name']}**, ran {len(manifest['notebooks'])} notebook"
            f"{'s' if len(manifest['notebooks']) != 1 else ''} ({', '.join(manifest['notebooks'])}) on the "
            f"**{manifest['profile']}** profile{extra}, over {len(manifest['points'])} grid point"
            f"{'s' if len(manifest['points']) != 1 else ''} ({grid}): {len(statuses)} runs, "
            f"{statuses.count('ok')} succeeded")
    text += (f", {len(failed)} did not ({', '.join(failed)}; their reports say why)." if failed else
             ", none failed.")
    cached = sum(bool(r.get("cached")) for r in manifest["runs"])
    if cached:
        text += f" {cached} of the runs were up to date from an earlier invocation and were not rerun."
    return text


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


def subset_note(settings: pd.DataFrame) -> str:
    """Whether the runs trained and tested on subsets, which makes the original reports' numbers
    (full data) an orientation, not a like-for-like target."""
    if len(settings.index) == 0:
        return "No run succeeded, so there are no settings to show."
    if not {"train_limit", "test_limit"} & set(settings.columns):
        return "The runs' metrics files record no training-set or test-set size."
    subsets = [nb for nb, row in settings.iterrows()
               if any(row.get(c) not in ("", None) for c in ("train_limit", "test_limit") if c in settings.columns)]
    if not subsets:
        return ("Every run used the full training and test sets; the original reports' numbers marked below are "
                "single runs of their own settings (epochs and recipe may differ).")
    limits = ", ".join(f"{nb}: {settings.loc[nb].get('train_limit', '') or 'all'} training / "
                       f"{settings.loc[nb].get('test_limit', '') or 'all'} test images" for nb in subsets)
    return (f"These runs used subsets ({limits}); the original reports' numbers come from the full 60,000 / "
            "10,000 images, so they are marked for orientation only, not as targets these runs should reach.")


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
        "a ahead on": c.wins_a, "b ahead on": c.wins_b, "paired t p": _p(c.t_p), "t p (Holm)": _p(c.t_p_holm),
        "Wilcoxon p": _p(c.wilcoxon_p), "smallest possible Wilcoxon p": _p(c.wilcoxon_min_p),
    } for c in comparisons]).set_index(["a", "b"])


def no_comparison_reason(runs: pd.DataFrame) -> str:
    models = list(dict.fromkeys(runs.loc[runs["status"] == "ok", "model"]))
    return (f"No pair of models to compare over seeds here: paired comparisons need the optimizers of "
            f"{OPTIMIZER_NOTEBOOK} or at least two of {', '.join(MODELS)} with two or more seeds each "
            f"(models with successful runs: {', '.join(models) or 'none'}).")


def seconds_table(seconds: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "model": seconds["model"], "setting": seconds["setting"].replace("", "base"), "runs": seconds["n"],
        "mean training seconds": seconds["mean"].round(1), "sd": seconds["sd"].round(1),
        "fastest": seconds["min"].round(1), "slowest": seconds["max"].round(1),
    }).set_index(["model", "setting"])


def seconds_sentence(seconds: pd.DataFrame, runs: pd.DataFrame) -> str:
    """Training time per model and the runs' total notebook time."""
    parts = [f"{row['model']}" + (f" ({row['setting']})" if row["setting"] else "") + f" {row['mean']:.1f} s"
             + (f" ± {row['sd']:.1f}" if row["n"] > 1 else "")
             for _, row in seconds.iterrows() if row["n"] > 0]
    total = runs.drop_duplicates(["point", "notebook"])["seconds"].sum()
    text = ("Training took, per run: " + "; ".join(parts) + ". " if parts else
            "No run recorded its training seconds. ")
    return text + (f"All runs together took {total:,.0f} s of notebook time (each notebook's wall time from start "
                   "to finish, including data loading and evaluation; runs on a cluster overlap, so the sweep "
                   "itself took less).")


def runs_table_html(runs: pd.DataFrame) -> str:
    """Every run, one row each: a link to its own report (relative to the summary), its test
    accuracies (one per model of the run), notebook seconds and status."""
    import html

    rows = []
    for (point, notebook), run in runs.groupby(["point", "notebook"], sort=False):
        first = run.iloc[0]
        name = html.escape(f"{point}/{notebook}")
        link = f'<a href="{html.escape(first["html"])}">{name}</a>' if isinstance(first["html"], str) else name
        accuracies = ", ".join((f"{r['model']} " if len(run) > 1 else "") + f"{r['accuracy']:.2f}%"
                               for _, r in run.iterrows() if pd.notna(r["accuracy"])) or "—"
        status = html.escape(first["status"]) + (f": {html.escape(str(first['error'])[:200])}"
                                                 if isinstance(first["error"], str) else "")
        seconds = f"{first['seconds']:.1f}" if pd.notna(first["seconds"]) else "—"
        rows.append(f"<tr><td>{link}</td><td>{html.escape(accuracies)}</td><td>{seconds}</td>"
                    f"<td>{status}</td></tr>")
    return ('<table class="sweep-runs"><thead><tr><th>run</th><th>test accuracy</th><th>notebook seconds</th>'
            "<th>status</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def provenance_table(manifest: Mapping[str, Any], provenance: Mapping[str, Any]) -> pd.DataFrame:
    from mnist_lib.environment import short_commit

    rows = [("sweep", manifest["name"]), ("sweep file", manifest["file"]), ("profile", manifest["profile"]),
            ("executor", manifest.get("executor") or "none (every run up to date)"),
            ("runs finished (UTC)", manifest.get("finished", "")), ("summary date (UTC)", provenance["date"]),
            ("git commit", short_commit(provenance["git"]))]
    rows += [(f"version: {k}", v) for k, v in provenance["versions"].items()]
    return pd.DataFrame(rows, columns=["item", "value"]).set_index("item")


def summary_metrics_path(output_dir: str | Path) -> Path:
    return Path(output_dir) / f"{SUMMARY}.metrics.json"


def summary_record(manifest: Mapping[str, Any], groups: pd.DataFrame, comparisons: Sequence[PairedComparison],
                   seconds: pd.DataFrame, params: Mapping[str, Any], provenance: Mapping[str, Any]) -> dict:
    """The summary's metrics file: every group's numbers (and its "mean ± sd over n seeds" text),
    the comparisons, and the provenance."""
    texts = headline(groups)
    group_rows = []
    for (_, row), text in zip(groups.iterrows(), texts.values()):
        group_rows.append({**{k: row[k] for k in ("notebook", "model", "setting", "n", "mean", "sd", "low", "high",
                                                  "min", "max", "seeds")}, "text": text})
    return {"notebook": "08_sweep_summary", "title": f"Sweep summary: {manifest['name']}", "status": "ok",
            "sweep": manifest["name"], "profile": manifest["profile"], "headline": texts, "groups": group_rows,
            "comparisons": [c.to_dict() for c in comparisons],
            "train_seconds": {row["model"] + (f" ({row['setting']})" if row["setting"] else ""): row["mean"]
                              for _, row in seconds.iterrows()},
            "params": {k: str(v) if isinstance(v, Path) else v for k, v in params.items()},
            "environment": provenance}

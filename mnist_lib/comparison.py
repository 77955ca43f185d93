"""Comparing training runs of one architecture that differ only in their optimizer.

Every run starts from the same initial weights and sees the same data in the
same order (same seed). The validation split selects each run's weights (``fit``
restores its best validation epoch); the test split is also evaluated after
every epoch, but only to *monitor* the runs: the per-epoch test curve is drawn
and summarised, never used to choose anything.

Accuracies are fractions in ``[0, 1]`` throughout, as in :mod:`mnist_lib.metrics`;
only :func:`optimizer_metrics` (for the metrics file) converts to percent.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from mnist_lib import metrics
from mnist_lib.data import DataSplits
from mnist_lib.training import OPTIMIZERS, EpochRecord, History, Predictions, TrainConfig, evaluate, fit, seeded_model

__all__ = [
    "EpochMonitor",
    "MonitoredRun",
    "best_by_validation",
    "class_extremes",
    "compare_optimizers",
    "configs_text",
    "confused_pairs",
    "convergence_reading",
    "optimizer_configs",
    "optimizer_metrics",
    "optimizer_summary",
    "pairwise_mcnemar",
    "errors_reading",
    "reference_comparison",
    "reference_reading",
    "reference_setting",
    "summary_reading",
    "train_with_test_monitoring",
]

TEST_CURVE_COLUMNS = ("epoch", "test_loss", "test_accuracy")
# The only settings allowed to differ between the runs of one comparison; every
# other knob (epochs, batch size, seed, schedule, ...) must match for it to be fair.
VARYING_FIELDS = ("optimizer", "lr", "momentum")


# --------------------------------------------------------------------------- one monitored run


@dataclass
class EpochMonitor:
    """An ``on_epoch_end`` callback for :func:`mnist_lib.training.fit` that evaluates
    the model on a held-out set after every epoch and never stops training."""

    x: torch.Tensor
    y: torch.Tensor
    batch_size: int = 2000
    rows: list[dict[str, float]] = field(default_factory=list)

    def __call__(self, record: EpochRecord, model: nn.Module) -> None:
        """Evaluate ``model`` on the held-out set and note the result under ``record.epoch``."""
        result = evaluate(model, self.x, self.y, self.batch_size)
        self.rows.append({"epoch": record.epoch, "test_loss": result.loss, "test_accuracy": result.accuracy})

    def frame(self) -> pd.DataFrame:
        """One row per monitored epoch: epoch, test_loss, test_accuracy (a fraction)."""
        return pd.DataFrame(self.rows, columns=list(TEST_CURVE_COLUMNS))


@dataclass
class MonitoredRun:
    """A finished run: its weights (restored to the best validation epoch), what fit
    measured, the per-epoch test curve, and the test predictions of the selected weights."""

    name: str
    config: TrainConfig
    model: nn.Module
    history: History
    test_curve: pd.DataFrame
    test: Predictions

    @property
    def train_seconds(self) -> float:
        """Training seconds as fit records them, summed over epochs (the test monitoring is not counted)."""
        return self.history.train_seconds

    def curves(self) -> pd.DataFrame:
        """The history table joined with the test curve on ``epoch`` (for plots.compare_curves)."""
        return self.history.to_frame().merge(self.test_curve, on="epoch", how="left")


def train_with_test_monitoring(model: nn.Module | str, splits: DataSplits, cfg: TrainConfig, *,
                               name: str | None = None, desc: str | None = None,
                               progress: bool | None = None) -> MonitoredRun:
    """Train with :func:`~mnist_lib.training.fit`, evaluating the test split after every epoch.

    Parameters
    ----------
    model
        A module, or a registered model name (built with its initial weights
        seeded by ``cfg.seed``).
    splits, cfg
        The data and the training configuration.
    name
        Label of the run (defaults to ``cfg.optimizer``).

    Returns
    -------
    MonitoredRun
        Its ``test`` predictions come from the best-validation weights that fit
        restores; ``test_curve`` is for monitoring only.
    """
    if not isinstance(cfg, TrainConfig):
        raise ValueError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    if isinstance(model, str):
        model = seeded_model(model, cfg.seed, device=splits.device)
    elif not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module or a registered model name, got {type(model).__name__}")
    label = name or cfg.optimizer
    monitor = EpochMonitor(splits.x_test, splits.y_test, cfg.eval_batch_size)
    history = fit(model, splits, cfg, progress=progress, desc=desc or label, on_epoch_end=monitor)
    test = evaluate(model, splits.x_test, splits.y_test, cfg.eval_batch_size)
    return MonitoredRun(name=label, config=cfg, model=model, history=history, test_curve=monitor.frame(), test=test)


# --------------------------------------------------------------------------- several optimizers


def optimizer_configs(optimizers: Sequence[str], learning_rates: Mapping[str, float],
                      base: TrainConfig) -> dict[str, TrainConfig]:
    """One TrainConfig per optimizer: ``base`` with its optimizer and learning rate replaced.

    Raises ValueError for an empty list, an unknown or repeated optimizer, or an
    optimizer without a learning rate.
    """
    if isinstance(optimizers, str):
        optimizers = [part.strip() for part in optimizers.split(",") if part.strip()]
    optimizers = list(optimizers)
    if not optimizers:
        raise ValueError(f"optimizers must name at least one of {', '.join(OPTIMIZERS)}")
    unknown = [o for o in optimizers if o not in OPTIMIZERS]
    if unknown:
        raise ValueError(f"unknown optimizer {unknown[0]!r}; valid: {', '.join(OPTIMIZERS)}")
    repeated = sorted({o for o in optimizers if optimizers.count(o) > 1})
    if repeated:
        raise ValueError(f"optimizer {repeated[0]!r} is listed more than once")
    missing = [o for o in optimizers if o not in learning_rates]
    if missing:
        raise ValueError(f"no learning rate for optimizer {missing[0]!r}; learning_rates has "
                         f"{', '.join(learning_rates) or 'nothing'}")
    return {o: replace(base, optimizer=o, lr=float(learning_rates[o])) for o in optimizers}


def configs_text(configs: Mapping[str, TrainConfig], train_images: int, noun: str = "digit") -> str:
    """One sentence naming every optimizer with its learning rate and the settings the runs share
    (``noun``: what one class is called)."""
    from mnist_lib import describe

    if not configs:
        raise ValueError("configs must hold at least one label -> TrainConfig")
    first = next(iter(configs.values()))
    runs = "; ".join(f"{describe.optimizer_text(cfg.optimizer, cfg.weight_decay, cfg.momentum)}, learning rate "
                     f"{cfg.lr:g}" for cfg in configs.values())
    steps = -(-train_images // first.batch_size)
    return (f"{describe.plural(len(configs), 'optimizer')} ({runs}), each trained for "
            f"{describe.plural(first.epochs, 'epoch')} of {describe.plural(steps, 'step')} (batch size "
            f"{first.batch_size}) with {describe.schedule_text(first.scheduler, None)}; loss: "
            f"{describe.loss_text(first.label_smoothing, noun)}; {describe.augmentation_text(first.augment)}.")


def _check_same_setup(configs: Mapping[str, TrainConfig]) -> None:
    """ValueError unless the configs differ only in VARYING_FIELDS."""
    items = list(configs.items())
    first_name, first = items[0]
    for name, cfg in items[1:]:
        for f in fields(TrainConfig):
            if f.name not in VARYING_FIELDS and getattr(cfg, f.name) != getattr(first, f.name):
                raise ValueError(f"runs to compare may differ only in {', '.join(VARYING_FIELDS)}; {name!r} has "
                                 f"{f.name}={getattr(cfg, f.name)!r} but {first_name!r} has "
                                 f"{getattr(first, f.name)!r}")


def compare_optimizers(model_name: str, splits: DataSplits, configs: Mapping[str, TrainConfig], *,
                       progress: bool | None = None) -> dict[str, MonitoredRun]:
    """Train ``model_name`` once per config from one set of initial weights, with test monitoring.

    The initial weights are seeded by the configs' common seed and copied into
    every run; the configs must agree on everything but optimizer, lr and
    momentum (ValueError otherwise). Returns the runs by config label, in order.
    """
    if not configs:
        raise ValueError("configs must hold at least one label -> TrainConfig")
    for label, cfg in configs.items():
        if not isinstance(cfg, TrainConfig):
            raise ValueError(f"configs[{label!r}] must be a TrainConfig, got {type(cfg).__name__}")
    _check_same_setup(configs)
    seed = next(iter(configs.values())).seed
    initial = seeded_model(model_name, seed, device=splits.device)
    return {label: train_with_test_monitoring(copy.deepcopy(initial), splits, cfg, name=label, progress=progress)
            for label, cfg in configs.items()}


def _best_record(history: History) -> EpochRecord | None:
    if history.best_epoch is None:
        return None
    return next((r for r in history.records if r.epoch == history.best_epoch), None)


def best_by_validation(runs: Mapping[str, MonitoredRun]) -> str:
    """Label of the run whose selected (best) epoch has the highest validation accuracy.

    Ties go to the earlier run; a run with no usable epoch (diverged at once) never wins
    unless all are like that, in which case the first label is returned.
    """
    if not runs:
        raise ValueError("runs is empty")
    best_label, best_value = next(iter(runs)), -1.0
    for label, run in runs.items():
        record = _best_record(run.history)
        if record is not None and record.val_accuracy > best_value:
            best_label, best_value = label, record.val_accuracy
    return best_label


def optimizer_summary(runs: Mapping[str, MonitoredRun], target: float) -> pd.DataFrame:
    """The comparison table, one row per run (index ``optimizer``).

    Parameters
    ----------
    runs
        Finished runs by label.
    target
        Accuracy (a fraction, e.g. 0.97) whose first epoch on the per-epoch test
        curve is reported.

    Returns
    -------
    DataFrame
        ``lr``; ``first_epoch_at_target`` (nullable int: never reached is <NA>);
        ``convergence_rank`` (1 = reached the target first, see
        :func:`mnist_lib.metrics.convergence_rank`); ``best_val_epoch``;
        ``best_accuracy`` (test accuracy of the weights chosen by the best
        validation epoch); ``max_epoch_accuracy`` (highest per-epoch test
        accuracy: the reference report's optimistic definition, since it picks the
        epoch by the test set); ``last_accuracy``, ``last_train_loss`` and
        ``last_test_loss`` after the final epoch (nan for a diverged run);
        ``train_seconds``; ``diverged``.
    """
    if not runs:
        raise ValueError("runs is empty")
    if not 0 < target <= 1:
        raise ValueError(f"target must be a fraction in (0, 1] (e.g. 0.97, not 97), got {target!r}")
    rows, first_epochs = [], {}
    for label, run in runs.items():
        curve = run.test_curve.sort_values("epoch")
        reached = metrics.first_epoch_reaching(curve["test_accuracy"].to_numpy(dtype=float), target) \
            if len(curve) else None
        # first_epoch_reaching counts positions; map back to the epoch numbers monitored.
        first = int(curve["epoch"].iloc[reached - 1]) if reached is not None else None
        first_epochs[label] = first
        diverged = bool(run.history.diverged)
        last_curve = curve.iloc[-1] if len(curve) and not diverged else None
        last_record = run.history.records[-1] if run.history.records and not diverged else None
        rows.append({
            "optimizer": label,
            "lr": float(run.config.lr),
            "first_epoch_at_target": first,
            "best_val_epoch": run.history.best_epoch,
            "best_accuracy": run.test.accuracy,
            "max_epoch_accuracy": float(curve["test_accuracy"].max()) if len(curve) else float("nan"),
            "last_accuracy": float(last_curve["test_accuracy"]) if last_curve is not None else float("nan"),
            "last_train_loss": float(last_record.train_loss) if last_record is not None else float("nan"),
            "last_test_loss": float(last_curve["test_loss"]) if last_curve is not None else float("nan"),
            "train_seconds": run.train_seconds,
            "diverged": diverged,
        })
    table = pd.DataFrame(rows).set_index("optimizer")
    ranks = metrics.convergence_rank(first_epochs)
    table.insert(2, "convergence_rank", [ranks[label] for label in table.index])
    for column in ("first_epoch_at_target", "best_val_epoch"):
        table[column] = table[column].astype("Int64")
    return table


def optimizer_metrics(summary: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per-optimizer numbers for the metrics file, accuracies in percent (None where undefined)."""
    needed = ("lr", "first_epoch_at_target", "best_accuracy", "last_accuracy", "max_epoch_accuracy",
              "train_seconds")
    missing = [c for c in needed if c not in summary.columns]
    if missing:
        raise ValueError(f"summary is missing columns {missing}; build it with optimizer_summary")

    def percent(value: float) -> float | None:
        return round(100 * float(value), 4) if pd.notna(value) else None

    out = {}
    for label, row in summary.iterrows():
        first = row["first_epoch_at_target"]
        out[str(label)] = {
            "best_accuracy": percent(row["best_accuracy"]),
            "last_accuracy": percent(row["last_accuracy"]),
            "first_epoch_at_target": int(first) if pd.notna(first) else None,
            "max_epoch_accuracy": percent(row["max_epoch_accuracy"]),
            "train_seconds": round(float(row["train_seconds"]), 3),
            "lr": float(row["lr"]),
        }
    return out


def reference_comparison(summary: pd.DataFrame, reference: Mapping[str, float]) -> pd.DataFrame:
    """Measured accuracies beside a reference report's, per optimizer (fractions).

    The reference's "best" accuracy is the maximum over epochs of the test
    accuracy, so it is compared with ``max_epoch_accuracy`` (same definition) and,
    separately, with ``best_accuracy`` (validation-selected, the honest number).
    Optimizers without a reference value get nan differences.
    """
    for column in ("best_accuracy", "max_epoch_accuracy"):
        if column not in summary.columns:
            raise ValueError(f"summary is missing column {column!r}; build it with optimizer_summary")
    bad = {k: v for k, v in reference.items() if not 0 <= float(v) <= 1}
    if bad:
        raise ValueError(f"reference accuracies must be fractions in [0, 1], got {bad}")
    ref = pd.Series({k: float(v) for k, v in reference.items()}, dtype=float)
    table = pd.DataFrame(index=summary.index)
    table["reference"] = ref.reindex(summary.index)
    table["max_epoch_accuracy"] = summary["max_epoch_accuracy"]
    table["difference_max_epoch"] = table["max_epoch_accuracy"] - table["reference"]
    table["best_accuracy"] = summary["best_accuracy"]
    table["difference_best"] = table["best_accuracy"] - table["reference"]
    return table


def reference_setting(results: Mapping[str, Any], epochs: int, train_images: int) -> str:
    """How the reference values were measured (``results``: :class:`mnist_lib.references.ReferenceResult`
    by optimizer) beside this run's epoch budget and training images."""
    this_run = f"this run's budget was {_plural(epochs, 'epoch')} on {train_images:,} training images"
    if not results:
        return f"There are no reference values to compare with; {this_run}."

    def how(r) -> str:
        model = f" of {r.model}" if getattr(r, "model", "") else ""
        length = f" after {_plural(r.epochs, 'epoch')}" if r.epochs is not None else ""
        source = f", from {r.source}" if getattr(r, "source", "") else ""
        unstated = " (training length not stated)" if r.epochs is None else ""
        return f"the {r.metric}{model}{length} on {r.train_images:,} training images{source}{unstated}"

    measured = sorted({how(r) for r in results.values()})
    return f"The reference values are {'; '.join(measured)}; {this_run}."


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def convergence_reading(summary: pd.DataFrame, target: float) -> str:
    """One sentence: the runs in order of the first epoch reaching ``target`` on the test curve,
    with their convergence ranks, and the runs that never reached it."""
    for column in ("first_epoch_at_target", "convergence_rank"):
        if column not in summary.columns:
            raise ValueError(f"summary is missing column {column!r}; build it with optimizer_summary")
    reached = summary["first_epoch_at_target"].dropna().sort_values(kind="stable")
    never = [str(n) for n in summary.index if n not in reached.index]
    if reached.empty:
        return (f"No optimizer reached {target:.2%} test accuracy in the epochs run, so the convergence ranks "
                "are all tied.")
    order = ", ".join(f"{summary.loc[n, 'convergence_rank']}. {n} (epoch {int(e)})" for n, e in reached.items())
    return (f"Convergence to {target:.2%} test accuracy: {order}"
            + (f"; never reached: {', '.join(never)}." if never else "."))


def summary_reading(summary: pd.DataFrame, target: float, selected: str,
                    definition: str | None = "the reference report's definition") -> str:
    """A plain-language paragraph (Markdown) about the summary table.

    ``selected`` is the run chosen by validation (:func:`best_by_validation`).
    ``definition`` names whose definition the max per-epoch test accuracy is (None
    when no reference of this dataset uses it).
    """
    whose = f" ({definition})" if definition else ""
    if selected not in summary.index:
        raise ValueError(f"selected {selected!r} is not a row of summary ({', '.join(map(str, summary.index))})")
    row = summary.loc[selected]
    parts = [f"Chosen by validation accuracy, **{selected}** reaches **{row['best_accuracy']:.2%}** test accuracy "
             f"(weights of its epoch {row['best_val_epoch']})."]
    parts.append(convergence_reading(summary, target))
    gap = (summary["max_epoch_accuracy"] - summary["best_accuracy"]).dropna()
    if not gap.empty and gap.max() <= 0:
        parts.append("For every optimizer the validation-selected epoch is also its best test epoch, so picking "
                     f"the best epoch on the test set{whose} gives the same numbers here.")
    elif not gap.empty:
        widest = gap.idxmax()
        parts.append(f"Picking the epoch by the test set itself{whose} would add up to "
                     f"{gap.max() * 100:.2f} percentage points ({widest}): that optimism is why the honest column is "
                     f"the validation-selected one.")
    diverged = [str(n) for n in summary.index if summary.loc[n, "diverged"]]
    if diverged:
        parts.append(f"Diverged (non-finite loss): {', '.join(diverged)}.")
    return " ".join(parts)


def reference_reading(versus: pd.DataFrame) -> str:
    """Markdown bullets comparing each optimizer with the reference (from :func:`reference_comparison`),
    then both rankings; optimizers without a reference value are left out."""
    compared = versus.dropna(subset=["reference"])
    if compared.empty:
        return "None of the optimizers run here has a reference value."
    bullets = [f"- **{row.Index}**: {row.best_accuracy:.2%} validation-selected ({100 * row.difference_best:+.2f} "
               f"points), {row.max_epoch_accuracy:.2%} max per-epoch ({100 * row.difference_max_epoch:+.2f} points) "
               f"against the reference's {row.reference:.2%}" for row in compared.itertuples()]
    if len(compared) < 2:
        return "\n".join(bullets)
    reference_order = compared["reference"].sort_values(ascending=False, kind="stable").index
    measured_order = compared["best_accuracy"].sort_values(ascending=False, kind="stable").index
    same = list(reference_order) == list(measured_order)
    ranking = (f"The reference ranks them {' > '.join(map(str, reference_order))}; validation-selected, this run "
               f"ranks them {' > '.join(map(str, measured_order))}"
               + (" (the same order)." if same else " (a different order)."))
    return "\n".join(bullets) + "\n\n" + ranking


def errors_reading(extremes: pd.DataFrame, confused: pd.DataFrame, noun: str = "digit") -> str:
    """Markdown about each run's best and worst class (called ``noun``) and the mistakes the runs share.

    ``extremes`` and ``confused`` come from :func:`class_extremes` and :func:`confused_pairs`.
    """
    if extremes.empty:
        raise ValueError("extremes is empty")
    # itertuples keeps the class columns integer (iterrows would turn each row into floats).
    lines = [f"- **{row.Index}** recognises {row.best_class} best ({row.best_class_accuracy:.2%}) and "
             f"{row.worst_class} worst ({row.worst_class_accuracy:.2%})" for row in extremes.itertuples()]
    worst = extremes["worst_class"].value_counts(sort=True)
    text = "\n".join(lines) + (f"\n\n{noun[:1].upper() + noun[1:]} {worst.index[0]} is the hardest for "
                               f"{worst.iloc[0]} of {len(extremes)} run(s).")
    if not confused.empty:
        shared = confused.groupby(["true", "predicted"], sort=True).size().sort_values(ascending=False,
                                                                                       kind="stable")
        (true, predicted), runs = shared.index[0], int(shared.iloc[0])
        k = int(confused.groupby("optimizer").size().max())
        text += (f" The mistake {true} → {predicted} is in the top-{k} list of {runs} of "
                 f"{confused['optimizer'].nunique()} run(s).")
    return text


# --------------------------------------------------------------------------- errors and significance


def _checked_preds(y_true: Any, preds: Mapping[str, Any]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if not preds:
        raise ValueError("preds must map at least one name to predicted labels")
    t = np.asarray(y_true.detach().cpu() if hasattr(y_true, "detach") else y_true)
    out = {}
    for name, p in preds.items():
        arr = np.asarray(p.detach().cpu() if hasattr(p, "detach") else p)
        if arr.shape != t.shape:
            raise ValueError(f"preds[{name!r}] has shape {arr.shape}, y_true has {t.shape}")
        out[str(name)] = arr
    return t, out


def class_extremes(y_true: Any, preds: Mapping[str, Any], n_classes: int = 10,
                   class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Best and worst class (per-class accuracy, i.e. recall) of every model (index ``optimizer``),
    by label or, with ``class_names``, by name."""
    t, ps = _checked_preds(y_true, preds)
    rows = []
    for name, p in ps.items():
        (best, best_acc), (worst, worst_acc) = metrics.best_and_worst_class(t, p, n_classes, class_names)
        rows.append({"optimizer": name, "best_class": best, "best_class_accuracy": best_acc,
                     "worst_class": worst, "worst_class_accuracy": worst_acc})
    return pd.DataFrame(rows).set_index("optimizer")


def confused_pairs(y_true: Any, preds: Mapping[str, Any], k: int = 3, n_classes: int = 10,
                   class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """The ``k`` most frequent (true -> predicted) mistakes of every model, one row per pair
    (classes by name when ``class_names`` are given)."""
    t, ps = _checked_preds(y_true, preds)
    frames = []
    for name, p in ps.items():
        pairs = metrics.most_confused_pairs(metrics.confusion(t, p, n_classes), k, class_names)
        frames.append(pairs.assign(optimizer=name))
    table = pd.concat(frames, ignore_index=True)
    return table[["optimizer", "true", "predicted", "count", "share_of_true"]]


def _holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (monotone, capped at 1)."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, (m - rank) * p[idx])
        adjusted[idx] = min(running, 1.0)
    return adjusted


def pairwise_mcnemar(y_true: Any, preds: Mapping[str, Any], alpha: float = 0.05) -> pd.DataFrame:
    """McNemar's test between every pair of models scored on the same examples.

    p-values are also Holm-adjusted for the number of pairs; ``significant`` and
    the plain-language ``reading`` use the adjusted value at level ``alpha``.

    Returns
    -------
    DataFrame
        One row per pair (in input order): ``a``, ``b``, ``accuracy_a``,
        ``accuracy_b``, ``only_a_right``, ``only_b_right``, ``statistic``,
        ``p_value``, ``p_holm``, ``method``, ``significant``, ``reading``.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    t, ps = _checked_preds(y_true, preds)
    if len(ps) < 2:
        raise ValueError("McNemar's test needs at least two models")
    rows = []
    for a, b in itertools.combinations(ps, 2):
        result = metrics.mcnemar_test(t, ps[a], ps[b])
        rows.append({"a": a, "b": b, "accuracy_a": float((ps[a] == t).mean()),
                     "accuracy_b": float((ps[b] == t).mean()), "only_a_right": result.b,
                     "only_b_right": result.c, "statistic": result.statistic, "p_value": result.p_value,
                     "method": result.method})
    table = pd.DataFrame(rows)
    table.insert(table.columns.get_loc("method"), "p_holm", _holm(table["p_value"]))
    table["significant"] = table["p_holm"] < alpha
    table["reading"] = [_mcnemar_reading(row, alpha, len(table)) for row in table.itertuples()]
    return table


def _mcnemar_reading(row, alpha: float, n_pairs: int) -> str:
    if row.only_a_right == row.only_b_right == 0:
        return f"{row.a} and {row.b} make exactly the same mistakes: no difference to test."
    winner, loser = (row.a, row.b) if row.only_a_right >= row.only_b_right else (row.b, row.a)
    w_only, l_only = max(row.only_a_right, row.only_b_right), min(row.only_a_right, row.only_b_right)
    corrected = f", Holm-corrected for {n_pairs} comparisons" if n_pairs > 1 else ""
    if row.significant:
        return (f"{winner} is significantly more accurate than {loser}: it alone is right on {w_only} images "
                f"against {l_only} (p = {row.p_holm:.3g}{corrected}).")
    return (f"No significant difference between {row.a} and {row.b} at the {alpha:.0%} level: {w_only} vs "
            f"{l_only} images where only one is right is within chance (p = {row.p_holm:.3g}{corrected}).")

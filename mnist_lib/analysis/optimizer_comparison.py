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
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from mnist_lib import metrics, recipes, stats
from mnist_lib.data import DataSplits
from mnist_lib.training import EpochRecord, History, Predictions, TrainConfig, evaluate, fit, seeded_model

__all__ = [
    "EpochMonitor",
    "MonitoredRun",
    "best_by_validation",
    "class_extremes",
    "compare_optimizers",
    "confused_pairs",
    "optimizer_configs",
    "optimizer_metrics",
    "optimizer_summary",
    "pairwise_mcnemar",
    "reference_comparison",
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


def optimizer_configs(params: Mapping[str, Any], model: str, device: Any = "cpu") -> dict[str, TrainConfig]:
    """One TrainConfig per optimizer of 05's validated ``params`` (``optimizers``, each with its rate in
    ``lr_per_optimizer``): the same recipe otherwise, :func:`mnist_lib.recipes.train_config`."""
    return {name: recipes.train_config({**params, "optimizer": name, "lr": params["lr_per_optimizer"][name]},
                                       model, device)
            for name in params["optimizers"]}


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
            "best_val_accuracy": run.history.best_val_accuracy,
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
    needed = ("lr", "first_epoch_at_target", "best_accuracy", "best_val_accuracy", "last_accuracy",
              "max_epoch_accuracy", "train_seconds")
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
            "val_accuracy": percent(row["best_val_accuracy"]),
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


def pairwise_mcnemar(y_true: Any, preds: Mapping[str, Any], alpha: float = 0.05) -> pd.DataFrame:
    """McNemar's test between every pair of models scored on the same examples.

    p-values are also Holm-adjusted for the number of pairs (:func:`mnist_lib.stats.holm`);
    ``significant`` uses the adjusted value at level ``alpha``; :func:`mnist_lib.prose.optimizers.mcnemar_texts`
    reads the table out.

    Returns
    -------
    DataFrame
        One row per pair (in input order): ``a``, ``b``, ``accuracy_a``,
        ``accuracy_b``, ``only_a_right``, ``only_b_right``, ``statistic``,
        ``p_value``, ``p_holm``, ``method``, ``significant``.
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
    table.insert(table.columns.get_loc("method"), "p_holm", stats.holm(table["p_value"]))
    table["significant"] = table["p_holm"] < alpha
    return table



"""The hyperparameter study of notebook 07: configurable MLPs that differ from a base configuration
in one factor at a time. :class:`HyperparameterStudy` trains each distinct configuration once and
returns tidy DataFrames, one row per configuration, with validation accuracy (used for selection),
test accuracy (reported), training seconds and parameter count; the functions after it say what
the tables show.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from mnist_lib import models, training
from mnist_lib.data import NORMALIZATIONS, DataSplits, prepare_data, stratified_subset
from mnist_lib.datasets import RawDataset
from mnist_lib.runtime import ExecSettings, settings_from_params
from mnist_lib.training import History, Predictions, TrainConfig

# Guessing uniformly among the 10 digits costs ln(10) = 2.3026 per image. A network that has collapsed to
# predicting the class frequencies sits just below it (2.3012 on MNIST), so "worse than guessing" needs a margin.
CHANCE_LOSS = math.log(10)
CHANCE_MARGIN = 0.01



BASE_HIDDEN = (128, 64)  # the "mlp" model: 784-128-64-10
# The model whose measured execution setting (runtime.MEASURED) the study's networks run with: the base
# configuration's network is notebook 05's "mlp" (784-128-64-10, same layers and parameter count); the table has
# no entry of its own for "mlp_custom", the registry name the study builds its networks under.
EXECUTION_MODEL = "mlp"
FACTORS: dict[str, str] = {
    "normalization": "input normalization",
    "hidden": "hidden layers",
    "lr": "learning rate",
    "train_fraction": "share of the training split",
    "batch_size": "batch size",
}


def execution_settings(device: torch.device | str, params) -> ExecSettings:
    """How the study's networks run on ``device`` with a notebook's validated ``params``: the setting measured
    for :data:`EXECUTION_MODEL` (the base network, as notebook 05 looks it up), with the parameters' overrides."""
    return settings_from_params(EXECUTION_MODEL, device, params)


def hidden_label(hidden: Sequence[int]) -> str:
    """(128, 64) -> "128-64"; () -> "linear"."""
    return "-".join(str(h) for h in hidden) if hidden else "linear"


def architecture(hidden: Sequence[int]) -> str:
    """(128, 64) -> "784-128-64-10"."""
    return "-".join(str(n) for n in (28 * 28, *hidden, 10))


@dataclass(frozen=True)
class StudyConfig:
    """One configuration of the configurable MLP: the factors the study varies."""

    hidden: tuple[int, ...] = BASE_HIDDEN
    normalization: str = "dataset"
    lr: float = 0.05
    batch_size: int = 128
    train_fraction: float = 1.0

    def __post_init__(self):
        hidden = tuple(self.hidden)
        if any(isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1 for h in hidden):
            raise ValueError(f"hidden must be positive layer widths, got {self.hidden!r}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in hidden))
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {self.normalization!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, (int, np.integer)) \
                or self.batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1, got {self.batch_size!r}")
        if not (isinstance(self.train_fraction, (int, float)) and 0 < self.train_fraction <= 1):
            raise ValueError(f"train_fraction must be in (0, 1], got {self.train_fraction!r}")

    def setting(self, factor: str) -> str:
        """This configuration's value of ``factor`` as text (e.g. "128-64", "0.05", "50%")."""
        if factor not in FACTORS:
            raise ValueError(f"factor must be one of {', '.join(FACTORS)}, got {factor!r}")
        value = getattr(self, factor)
        if factor == "hidden":
            return hidden_label(value)
        if factor == "train_fraction":
            return f"{value:.0%}" if round(value * 100, 6).is_integer() else f"{value:.1%}"
        if factor == "lr":
            return f"{value:g}"
        return str(value)

    def label(self, base: "StudyConfig") -> str:
        """"baseline", or how this configuration differs from ``base`` ("lr=0.3", "hidden=linear")."""
        changes = [f"{factor}={self.setting(factor)}" for factor in FACTORS
                   if getattr(self, factor) != getattr(base, factor)]
        return ", ".join(changes) or "baseline"


def is_diverged(history: History, margin: float = CHANCE_MARGIN) -> bool:
    """A run diverged when fit says so, or its final training loss is not finite or not better than
    guessing: above ln(10) - ``margin``."""
    if history.diverged or not history.records:
        return True
    last = history.records[-1]
    loss = last.train_nll if math.isfinite(last.train_nll) else last.train_loss  # the NLL is what chance costs ln(10)
    return not math.isfinite(loss) or loss > CHANCE_LOSS - margin


@dataclass
class StudyRun:
    """One trained configuration: its history, its test predictions and its size."""

    config: StudyConfig
    label: str
    history: History
    val_accuracy: float
    test: Predictions
    params: int
    train_images: int

    @property
    def diverged(self) -> bool:
        return is_diverged(self.history)

    @property
    def final_train_loss(self) -> float:
        return self.history.records[-1].train_loss if self.history.records else float("nan")

    @property
    def test_accuracy(self) -> float:
        return self.test.accuracy

    @property
    def train_seconds(self) -> float:
        return self.history.train_seconds

    def record(self) -> dict:
        """A flat row (accuracies as fractions)."""
        c = self.config
        return {"configuration": self.label, "architecture": architecture(c.hidden), "hidden": hidden_label(c.hidden),
                "normalization": c.normalization, "lr": c.lr, "batch_size": c.batch_size,
                "train_fraction": c.train_fraction, "train_images": self.train_images, "params": self.params,
                "epochs_run": len(self.history.records), "best_epoch": self.history.best_epoch,
                "final_train_loss": self.final_train_loss, "diverged": self.diverged,
                "val_accuracy": self.val_accuracy, "test_accuracy": self.test_accuracy,
                "train_seconds": self.train_seconds}


RUN_COLUMNS = ["configuration", "architecture", "hidden", "normalization", "lr", "batch_size", "train_fraction",
               "train_images", "params", "epochs_run", "best_epoch", "final_train_loss", "diverged", "val_accuracy",
               "test_accuracy", "train_seconds"]


@dataclass
class HyperparameterStudy:
    """Configurable MLPs that differ from ``base`` in one factor at a time, each trained once.

    Every configuration starts from the same seed; validation and test sets
    are the same for all (a smaller training share is a stratified subset of
    the training split). Data is prepared once per normalization.
    """

    raw: RawDataset
    base: StudyConfig = field(default_factory=StudyConfig)
    epochs: int = 5
    optimizer: str = "momentum"
    scheduler: str = "none"
    seed: int = 0
    train_limit: int | None = None
    test_limit: int | None = None
    device: str | torch.device = "cpu"
    progress: bool | None = None
    execution: ExecSettings = ExecSettings()
    _splits: dict = field(default_factory=dict, init=False, repr=False)
    _runs: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        if not isinstance(self.base, StudyConfig):
            raise ValueError(f"base must be a StudyConfig, got {type(self.base).__name__}")
        # TrainConfig checks epochs, optimizer and scheduler with messages naming the valid choices.
        self.train_config(self.base)

    def train_config(self, config: StudyConfig) -> TrainConfig:
        """The TrainConfig of one configuration."""
        return TrainConfig(epochs=self.epochs, batch_size=config.batch_size, optimizer=self.optimizer, lr=config.lr,
                           scheduler=self.scheduler, seed=self.seed, execution=self.execution)

    def splits(self, normalization: str) -> DataSplits:
        """Train/validation/test data with ``normalization`` (prepared once)."""
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}")
        if normalization not in self._splits:
            self._splits[normalization] = prepare_data(self.raw, seed=self.seed, train_limit=self.train_limit,
                                                       test_limit=self.test_limit, normalization=normalization,
                                                       device=self.device)
        return self._splits[normalization]

    def training_data(self, config: StudyConfig) -> DataSplits:
        """The data of ``config``: its normalization and a stratified share of the training split."""
        full = self.splits(config.normalization)
        if config.train_fraction >= 1:
            return full
        n = len(full.y_train)
        keep = stratified_subset(full.y_train.cpu().numpy(), max(1, round(config.train_fraction * n)), self.seed)
        index = torch.from_numpy(keep).to(full.device)
        return DataSplits(**{**full.__dict__, "x_train": full.x_train.index_select(0, index),
                             "y_train": full.y_train.index_select(0, index), "train_index": full.train_index[keep]})

    def run(self, config: StudyConfig) -> StudyRun:
        """Train ``config`` (or return its earlier run) and measure it on validation and test."""
        if not isinstance(config, StudyConfig):
            raise ValueError(f"config must be a StudyConfig, got {type(config).__name__}")
        if config not in self._runs:
            data = self.training_data(config)
            label = config.label(self.base)
            model = training.seeded_model("mlp_custom", self.seed, device=self.device, hidden=config.hidden)
            history = training.fit(model, data, self.train_config(config), progress=self.progress, desc=label)
            val = training.evaluate(model, data.x_val, data.y_val, self.execution.eval_batch_size)
            test = training.evaluate(model, data.x_test, data.y_test, self.execution.eval_batch_size)
            self._runs[config] = StudyRun(config, label, history, val.accuracy, test,
                                          models.count_parameters(model), len(data.y_train))
        return self._runs[config]

    def sweep(self, factor: str, values: Sequence[Any]) -> pd.DataFrame:
        """One row per value of ``factor`` (others as in ``base``): "factor", "setting", then the run's columns."""
        if factor not in FACTORS:
            raise ValueError(f"factor must be one of {', '.join(FACTORS)}, got {factor!r}")
        if len(values) == 0:
            raise ValueError(f"values for {factor} must not be empty")
        rows = []
        for value in values:
            config = replace(self.base, **{factor: tuple(value) if factor == "hidden" else value})
            rows.append({"factor": factor, "setting": config.setting(factor), **self.run(config).record()})
        return pd.DataFrame(rows, columns=["factor", "setting"] + RUN_COLUMNS)

    @property
    def runs(self) -> list[StudyRun]:
        """Every distinct configuration trained so far, in training order."""
        return list(self._runs.values())

    def runs_frame(self) -> pd.DataFrame:
        """One row per distinct configuration trained so far."""
        return pd.DataFrame([run.record() for run in self.runs], columns=RUN_COLUMNS)

    def best_run(self) -> StudyRun:
        """The run with the highest validation accuracy among those that did not diverge (ties: trained first)."""
        candidates = [run for run in self.runs if not run.diverged and math.isfinite(run.val_accuracy)]
        if not candidates:
            raise ValueError("no configuration trained without diverging; nothing to select")
        return max(candidates, key=lambda run: run.val_accuracy)

    def test_pixels(self) -> torch.Tensor:
        """The test images as [0, 1] pixels (N, 28, 28), in the order of every run's test predictions."""
        index = torch.from_numpy(self.splits(self.base.normalization).test_index)
        return self.raw.test_images[index].float() / 255.0


def example_indices(predictions: Predictions, correct: bool, k: int) -> np.ndarray:
    """Positions of the first ``k`` correctly (or wrongly) predicted examples."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be a whole number >= 0, got {k!r}")
    hits = predictions.preds == predictions.targets
    return np.flatnonzero(hits if correct else ~hits)[:k]


def accuracy_long(frame: pd.DataFrame, x: str) -> pd.DataFrame:
    """Validation and test accuracy per ``x`` in long form: ``x``, "split", "accuracy (%)" (for hue plots)."""
    missing = [c for c in (x, "val_accuracy", "test_accuracy") if c not in frame.columns]
    if missing:
        raise ValueError(f"frame is missing columns {missing}; it has {list(frame.columns)}")
    parts = [pd.DataFrame({x: frame[x].to_numpy(), "split": name, "accuracy (%)": 100 * frame[column].to_numpy()})
             for name, column in (("validation", "val_accuracy"), ("test", "test_accuracy"))]
    return pd.concat(parts, ignore_index=True)


_HEADERS = {
    "setting": "setting", "configuration": "configuration", "architecture": "architecture",
    "hidden": "hidden layers", "normalization": "normalization", "lr": "learning rate", "batch_size": "batch size",
    "train_fraction": "training share", "train_images": "training images", "params": "parameters",
    "epochs_run": "epochs", "best_epoch": "best epoch", "final_train_loss": "final train loss",
    "diverged": "diverged", "val_accuracy": "validation accuracy", "test_accuracy": "test accuracy",
    "train_seconds": "train seconds",
}


def format_table(frame: pd.DataFrame, columns: Sequence[str]):
    """A display Styler of ``columns``: accuracies as percent (2 decimals), seconds, thousands separators."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"frame is missing columns {missing}; it has {list(frame.columns)}")
    view = frame[list(columns)].rename(columns={c: _HEADERS.get(c, c) for c in columns})
    formats = {
        "validation accuracy": "{:.2%}", "test accuracy": "{:.2%}", "train seconds": "{:.2f}",
        "parameters": "{:,}", "training images": "{:,}", "final train loss": "{:.4f}", "learning rate": "{:g}",
        "training share": "{:.0%}", "diverged": lambda v: "yes" if v else "no",
    }
    return view.style.format({k: v for k, v in formats.items() if k in view.columns}, na_rep="n/a").hide(axis="index")


def records_for_json(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain records for a metrics file; accuracies in percent (like its ``test_accuracy``)."""
    out = frame.copy()
    for column in ("val_accuracy", "test_accuracy"):
        if column in out.columns:
            out[column] = (100 * out[column].astype(float)).round(4)
    records = json.loads(out.to_json(orient="records"))
    return records


# =========================================================================== 07: what the tables say


def _require(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"frame is missing columns {missing}; it has {list(frame.columns)}")


def linear_rows(frame: pd.DataFrame, factor: str = "hidden") -> pd.Series:
    """Which rows of a sweep are the linear classifier (no hidden layer): by the "hidden" column, or by
    "setting" in a sweep of hidden layers."""
    column = "hidden" if "hidden" in frame.columns else "setting" if factor == "hidden" else None
    if column is None or column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column].astype(str) == hidden_label(())


def _spread(values: pd.Series) -> tuple[float, float, float]:
    """Lowest, highest and spread (points) of validation accuracies; NaN unless two or more were measured."""
    values = values.astype(float).dropna()
    if len(values) < 2:
        return (values.min() if len(values) else math.nan, values.max() if len(values) else math.nan, math.nan)
    return values.min(), values.max(), 100 * (values.max() - values.min())


def factor_effects(sweeps: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per factor (key of FACTORS): how much its settings moved the validation accuracy.

    Columns: "settings" (how many were swept), "diverged" (how many of them diverged: left out of every
    column after it, since a diverged run sits at chance whatever else the factor does and would decide
    the spread alone), "lowest", "highest" and "spread_points" (highest - lowest, in percentage points,
    over the runs that did not diverge; NaN with fewer than two), "linear" (how many settings are the
    linear classifier, no hidden layer: the "linear" setting of hidden layers) and
    "hidden_layers_spread_points" (the spread over the runs that did not diverge and have hidden layers,
    the linear classifier left out).
    """
    rows = []
    for factor, frame in sweeps.items():
        if factor not in FACTORS:
            raise ValueError(f"factor must be one of {', '.join(FACTORS)}, got {factor!r}")
        _require(frame, ["val_accuracy", "diverged"])
        diverged = frame.diverged.astype(bool)
        linear = linear_rows(frame, factor)
        lowest, highest, spread = _spread(frame.val_accuracy[~diverged])
        rows.append({"factor": factor, "settings": len(frame), "diverged": int(diverged.sum()), "lowest": lowest,
                     "highest": highest, "spread_points": spread, "linear": int(linear.sum()),
                     "hidden_layers_spread_points": _spread(frame.val_accuracy[~diverged & ~linear])[2]})
    return pd.DataFrame(rows, columns=["factor", "settings", "diverged", "lowest", "highest", "spread_points",
                                       "linear", "hidden_layers_spread_points"]).set_index("factor")


def size_extremes(frame: pd.DataFrame, hidden_layers_only: bool = False) -> tuple[pd.Series, pd.Series] | None:
    """The smallest and the largest network of a hidden-layer sweep by parameter count (ties: fewer layers
    first, then sweep order), among the runs that did not diverge (and, with ``hidden_layers_only``, have
    hidden layers); None unless two of them differ in size. The order of the sweep's rows plays no part."""
    _require(frame, ["params", "diverged"])
    keep = ~frame.diverged.astype(bool)
    if hidden_layers_only:
        keep &= ~linear_rows(frame)
    ok = frame[keep]
    if ok.empty:
        return None
    depth = ok["hidden"].astype(str).map(lambda h: 0 if h == hidden_label(()) else h.count("-") + 1) \
        if "hidden" in ok.columns else pd.Series(0, index=ok.index)
    order = ok.assign(_depth=depth.to_numpy(), _row=range(len(ok))).sort_values(["params", "_depth", "_row"])
    order = order.drop(columns=["_depth", "_row"])
    smallest, largest = order.iloc[0], order.iloc[-1]
    return None if smallest.params == largest.params else (smallest, largest)

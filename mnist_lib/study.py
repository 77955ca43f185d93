"""The logic behind notebooks 06 and 07.

* 06 (feature maps) looks inside the LeNet-5 and CNN that 03 and 04 trained:
  :func:`prepare_model` reuses the checkpoint a notebook recorded in its
  metrics file, or trains the model here with the same recipe when that
  checkpoint is missing or refused, and prepares the test images exactly as
  the model was trained (recorded mean, std and image size).
* 07 (hyperparameter study) trains configurable MLPs that differ from a base
  configuration in one factor at a time: :class:`HyperparameterStudy` trains
  each distinct configuration once and returns tidy DataFrames, one row per
  configuration, with validation accuracy (used for selection), test accuracy
  (reported), training seconds and parameter count.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from mnist_lib import models, training
from mnist_lib.data import NORMALIZATIONS, Augmentation, DataSplits, MnistRaw, prepare_data, stratified_subset
from mnist_lib.checkpoints import CheckpointError, checkpoint_key, fit_or_load, load_checkpoint
from mnist_lib.training import History, Predictions, TrainConfig
from mnist_lib.execution import ExecSettings, resolve, setting_name

__all__ = [
    "CHECKPOINT_FIELDS",
    "FACTORS",
    "RECIPES",
    "HyperparameterStudy",
    "PreparedModel",
    "Recipe",
    "StudyConfig",
    "StudyRun",
    "accuracy_long",
    "depth_reading",
    "divergence_rule",
    "example_indices",
    "factor_effects",
    "finding_reading",
    "format_table",
    "hidden_label",
    "is_diverged",
    "lr_reading",
    "lr_summary",
    "normalization_reading",
    "outcome",
    "prepare_model",
    "read_checkpoint_record",
    "records_for_json",
    "saliency_share",
    "size_reading",
    "val_text",
]

# Guessing uniformly among the 10 digits costs ln(10) = 2.3026 per image. A network that has collapsed to
# predicting the class frequencies sits just below it (2.3012 on MNIST), so "worse than guessing" needs a margin.
CHANCE_LOSS = math.log(10)
CHANCE_MARGIN = 0.01


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


# =========================================================================== 06: recorded checkpoints


@dataclass(frozen=True)
class Recipe:
    """How 03 or 04 trains its model by default; 06 trains with it when it cannot reuse a checkpoint."""

    notebook: str
    normalization: str
    image_size: int
    optimizer: str
    lr: float
    scheduler: str
    batch_size: int
    augment: Augmentation | None = None
    resize_mode: str | None = None  # part of the checkpoint's data settings when the notebook records it

    def train_config(self, epochs: int, seed: int, dataset: str = "mnist") -> TrainConfig:
        """The TrainConfig of this recipe for ``epochs`` epochs and ``seed`` on ``dataset``: the notebook's
        default augmentation, with horizontal flips where that dataset's default has them
        (:func:`mnist_lib.config.resolved_hflip`)."""
        from mnist_lib.config import resolved_hflip

        augment = self.augment
        if augment is not None:
            augment = replace(augment, hflip=resolved_hflip({"dataset": dataset, "hflip": None}))
        return TrainConfig(epochs=epochs, batch_size=self.batch_size, optimizer=self.optimizer, lr=self.lr,
                           scheduler=self.scheduler, augment=augment, seed=seed)

    def data_params(self, seed: int, train_limit: int | None, test_limit: int | None,
                    identity: dict | None = None) -> dict:
        """The data settings of the checkpoint key, shaped as the notebook shapes them; ``identity``
        names the data (:meth:`mnist_lib.datasets.RawDataset.identity`; MNIST when None)."""
        params = {**(identity or {"dataset": "mnist"}), "train_limit": train_limit, "test_limit": test_limit,
                  "normalization": self.normalization, "image_size": self.image_size, "seed": seed}
        if self.resize_mode is not None:
            params["resize_mode"] = self.resize_mode
        return params


# The defaults of 03_lenet and 04_cnn (their parameters cells).
RECIPES: dict[str, Recipe] = {
    "lenet5": Recipe("03_lenet", "dataset", 32, "adam", 0.003, "onecycle", 128,
                     augment=Augmentation(rotation=8.0, translate=0.08, scale=(0.92, 1.08), shear=8.0, brightness=0.0,
                                          contrast=0.0), resize_mode="pad"),
    "cnn": Recipe("04_cnn", "half", 28, "adam", 0.01, "onecycle", 128,
                  augment=Augmentation(rotation=10.0, translate=0.1, scale=(0.9, 1.1), shear=5.0, brightness=0.2,
                                       contrast=0.2)),
}
CHECKPOINT_FIELDS = ("path", "model", "params", "seed", "mean", "std", "normalization", "image_size")


@dataclass
class PreparedModel:
    """A trained model, the data prepared as it was trained, and where its weights came from.

    ``note`` is the sentence for the report: "reused the checkpoint from ..."
    or "trained here for N epochs because ...".
    """

    model_name: str
    model: nn.Module
    splits: DataSplits
    reused: bool
    epochs: int
    key: str
    note: str
    history: History | None = None
    checkpoint: str | None = None

    def summary(self) -> dict:
        """One row for a table: source, epochs, checkpoint key and the input preparation."""
        return {"model": self.model_name, "weights": "reused from " + RECIPES[self.model_name].notebook
                if self.reused else "trained here", "epochs": self.epochs, "checkpoint key": self.key,
                "normalization": self.splits.normalization, "mean": self.splits.mean, "std": self.splits.std,
                "image size": self.splits.image_size, "parameters": models.count_parameters(self.model)}

    def test_image(self, index: int) -> tuple[torch.Tensor, int, np.ndarray]:
        """Test image ``index`` as the model's input (1, 1, S, S), its label, and as [0, 1] pixels (S, S)."""
        n = len(self.splits.y_test)
        if not 0 <= index < n:
            raise ValueError(f"image index must be in 0..{n - 1} (the test set has {n} images), got {index}")
        x = self.splits.x_test[index : index + 1]
        pixels = self.splits.unnormalize(x)[0, 0].cpu().numpy()
        return x, int(self.splits.y_test[index]), pixels


def _check_model_name(model_name: str) -> Recipe:
    if model_name not in RECIPES:
        raise ValueError(f"model_name must be one of {', '.join(RECIPES)}, got {model_name!r}")
    return RECIPES[model_name]


def read_checkpoint_record(output_dir: str | os.PathLike, model_name: str) -> dict:
    """The ``checkpoint`` record that 03 (lenet5) or 04 (cnn) wrote to its metrics file.

    Raises CheckpointError with the reason when the metrics file is missing or
    unreadable, or its record is incomplete or for another model.
    """
    recipe = _check_model_name(model_name)
    path = Path(output_dir) / f"{recipe.notebook}.metrics.json"
    if not path.is_file():
        raise CheckpointError(f"{path.name} is missing from {Path(output_dir)} (run {recipe.notebook} first)")
    try:
        record = json.loads(path.read_text()).get("checkpoint")
    except (OSError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path.name} cannot be read ({exc})") from None
    if not isinstance(record, dict):
        raise CheckpointError(f"{path.name} records no checkpoint")
    missing = [name for name in CHECKPOINT_FIELDS if record.get(name) is None]
    if missing:
        raise CheckpointError(f"the checkpoint record in {path.name} lacks {', '.join(missing)}")
    if record["model"] != model_name:
        raise CheckpointError(f"{path.name} records a checkpoint of model {record['model']!r}, not {model_name!r}")
    try:
        record = {**record, "image_size": int(record["image_size"]), "seed": int(record["seed"]),
                  "mean": float(record["mean"]), "std": float(record["std"])}
    except (TypeError, ValueError):
        raise CheckpointError(f"the checkpoint record in {path.name} is malformed (image_size, seed, mean or std "
                              "is not a number)") from None
    if record["normalization"] not in NORMALIZATIONS or not isinstance(record["params"], dict):
        raise CheckpointError(f"the checkpoint record in {path.name} is malformed (normalization or params)")
    if record["image_size"] != models.model_input_size(model_name) or not record["std"] > 0:
        raise CheckpointError(f"the checkpoint record in {path.name} has image size {record['image_size']} and std "
                              f"{record['std']}; {model_name} needs {models.model_input_size(model_name)} and std > 0")
    return record


def _with_stats(splits: DataSplits, mean: float, std: float, normalization: str) -> DataSplits:
    """``splits`` prepared with normalization "none" (pixels in [0, 1]), normalized with ``mean``/``std``."""
    tensors = {k: (getattr(splits, k) - mean) / std for k in ("x_train", "x_val", "x_test")}
    return DataSplits(**{**splits.__dict__, **tensors, "mean": float(mean), "std": float(std),
                         "normalization": normalization})


def _reuse(model_name: str, raw: MnistRaw, output_dir: str | os.PathLike, seed: int, train_limit: int | None,
           test_limit: int | None, device: str | torch.device) -> PreparedModel:
    recipe = RECIPES[model_name]
    record = read_checkpoint_record(output_dir, model_name)
    path = Path(record["path"])
    if not path.is_file():
        raise CheckpointError(f"the checkpoint {path} recorded by {recipe.notebook} is missing")
    recorded_data = record["params"].get("data") or {}
    identity = raw.identity()
    if {k: recorded_data.get(k, "mnist" if k == "dataset" else None) for k in identity} != identity:
        raise CheckpointError(f"the checkpoint recorded by {recipe.notebook} was trained on other data "
                              f"({recorded_data.get('dataset', 'mnist')}, not {raw.title})")
    model = training.seeded_model(model_name, seed, device=device)
    try:
        info = load_checkpoint(path, model, model_name, record["params"], record["seed"])
    except CheckpointError as exc:
        raise CheckpointError(f"the checkpoint recorded by {recipe.notebook} was refused: {exc}") from None
    # Unit pixels first, then the recorded statistics: the model must see what it was trained on, even when
    # this notebook's data limits would give other dataset statistics.
    unit = prepare_data(raw, seed=seed, train_limit=train_limit, test_limit=test_limit, normalization="none",
                        image_size=record["image_size"], resize_mode=record.get("resize_mode") or "pad",
                        device=device)
    splits = _with_stats(unit, record["mean"], record["std"], record["normalization"])
    history = info.history
    epochs = len(history.records) if history is not None else int(record["params"].get("train", {}).get("epochs", 0))
    key = checkpoint_key(model_name, record["params"], record["seed"])
    note = (f"reused the checkpoint from {recipe.notebook} (trained {_plural(epochs, 'epoch')} on "
            f"{info.trained_at or 'an unrecorded date'} by commit {info.commit or 'unknown'}, key {key})")
    return PreparedModel(model_name, model.eval(), splits, True, epochs, key, note, history, str(path))


def prepare_model(model_name: str, raw: MnistRaw, *, output_dir: str | os.PathLike,
                  checkpoint_dir: str | os.PathLike, seed: int = 0, train_limit: int | None = None,
                  test_limit: int | None = None, fallback_epochs: int = 3, device: str | torch.device = "cpu",
                  progress: bool | None = None) -> PreparedModel:
    """LeNet-5 ("lenet5") or the CNN ("cnn"), ready to look inside.

    Reuses the checkpoint that 03 / 04 recorded in ``<output_dir>/<notebook>.metrics.json``
    when it exists and :func:`checkpoints.load_checkpoint` accepts it. Otherwise
    trains the model here for ``fallback_epochs`` epochs with that notebook's
    default recipe (:data:`RECIPES`), through :func:`checkpoints.fit_or_load` in
    ``checkpoint_dir`` so a rerun does not train again. The test split follows
    ``seed`` and ``test_limit`` either way.
    """
    recipe = _check_model_name(model_name)
    if isinstance(fallback_epochs, bool) or not isinstance(fallback_epochs, int) or fallback_epochs < 1:
        raise ValueError(f"fallback_epochs must be a whole number >= 1, got {fallback_epochs!r}")
    try:
        return _reuse(model_name, raw, output_dir, seed, train_limit, test_limit, device)
    except CheckpointError as exc:
        reason = str(exc).rstrip(".")
    splits = prepare_data(raw, seed=seed, train_limit=train_limit, test_limit=test_limit,
                          normalization=recipe.normalization, image_size=recipe.image_size,
                          resize_mode=recipe.resize_mode or "pad", device=device)
    # The fallback runs with the model's measured execution setting on this device, as 03 / 04 would.
    cfg = replace(recipe.train_config(fallback_epochs, seed, raw.name), execution=resolve(model_name, device))
    data_params = recipe.data_params(seed, train_limit, test_limit, raw.identity())
    params = {"train": cfg.to_dict(), "data": data_params}
    Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
    model = training.seeded_model(model_name, seed, device=device)
    weights = fit_or_load(model, model_name, splits, cfg, checkpoint_dir, data_params, progress=progress,
                          desc=f"{model_name} (fallback)")
    history, loaded, path = weights.history, weights.loaded, weights.path
    epochs = len(history.records) if history is not None else fallback_epochs
    note = (f"trained here for {_plural(epochs, 'epoch')} ({setting_name(cfg.execution)}, the {cfg.execution.source} "
            f"setting for {model_name} on this device) because {reason}")
    if loaded:
        note += f" (the weights of an earlier run of this notebook, cached as {path})"
    return PreparedModel(model_name, model.eval(), splits, False, epochs, checkpoint_key(model_name, params, seed),
                         note, history, str(path))


def saliency_share(saliency: np.ndarray, pixels: np.ndarray, threshold: float = 0.5,
                   radius: int = 3, foreground: str = "strokes", background: float = 0.0) -> pd.DataFrame:
    """Where the saliency lies: on the image's ``foreground`` (a digit's strokes, a garment), in a
    band around it, or far away.

    The foreground is the pixels that differ from the ``background`` value by more
    than ``threshold`` (pixels in [0, 1]: brighter than 0.5 on a black background);
    the band is the pixels within ``radius`` pixels (chessboard distance) of it.
    Returns one row per region (``foreground``, "around the <foreground>",
    "elsewhere") with its share of the total saliency and of the image area; a
    saliency share well above the area share means the gradient concentrates there.
    """
    from scipy import ndimage

    sal, img = np.abs(np.asarray(saliency, dtype=float)), np.asarray(pixels, dtype=float)
    if sal.shape != img.shape or sal.ndim != 2:
        raise ValueError(f"saliency {sal.shape} and pixels {img.shape} must be the same (H, W) shape")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 1:
        raise ValueError(f"radius must be a whole number >= 1, got {radius!r}")
    if not 0 <= background <= 1:
        raise ValueError(f"background must be a pixel value in [0, 1], got {background}")
    strokes = np.abs(img - background) > threshold
    near = ndimage.binary_dilation(strokes, structure=np.ones((3, 3), dtype=bool), iterations=int(radius)) & ~strokes
    regions = {foreground: strokes, f"around the {foreground}": near, "elsewhere": ~(strokes | near)}
    total = float(sal.sum())
    rows = {name: {"saliency share": float(sal[mask].sum()) / total if total > 0 else float("nan"),
                   "area share": float(mask.mean())} for name, mask in regions.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("region")


# =========================================================================== 07: hyperparameter study

BASE_HIDDEN = (128, 64)  # the "mlp" model: 784-128-64-10
FACTORS: dict[str, str] = {
    "normalization": "input normalization",
    "hidden": "hidden layers",
    "lr": "learning rate",
    "train_fraction": "share of the training split",
    "batch_size": "batch size",
}
NORMALIZATION_WORDS = {"none": "none (pixels in [0, 1])", "raw": "raw (pixels 0..255)",
                       "dataset": "dataset mean/std", "half": "mean 0.5, std 0.5"}


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

    def describe(self) -> str:
        """A sentence-sized description, e.g. "784-128-64-10 MLP, dataset mean/std normalization, lr 0.05, ..."."""
        return (f"{architecture(self.hidden)} MLP, {NORMALIZATION_WORDS[self.normalization]} normalization, "
                f"lr {self.lr:g}, batch {self.batch_size}, {self.setting('train_fraction')} of the training split")


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

    raw: MnistRaw
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


def divergence_rule(margin: float = CHANCE_MARGIN, classes: str = "digits") -> str:
    """The rule :func:`is_diverged` applies, with its numbers (``classes``: what the ten classes are called)."""
    return (f"A run counts as **diverged** when its loss became non-finite or its final training loss is no better "
            f"than guessing: above ln(10) − {margin:g} = {CHANCE_LOSS - margin:.3f}, where ln(10) = "
            f"{CHANCE_LOSS:.3f} is the loss of guessing uniformly among the ten {classes}.")


def outcome(row: Any) -> str:
    """"diverged" or "reaches 97.10% validation accuracy" for one row of a sweep."""
    return "diverged" if row.diverged else f"reaches {row.val_accuracy:.2%} validation accuracy"


def val_text(frame: pd.DataFrame, setting: str) -> str:
    """The validation accuracy of ``setting`` in a sweep ("97.10%", "9.80% (diverged)", or "n/a" if not run)."""
    row = frame[frame.setting == setting]
    if not len(row):
        return "n/a"
    return f"{row.val_accuracy.iloc[0]:.2%}" + (" (diverged)" if row.diverged.iloc[0] else "")


INPUT_WORDS = {"none": "pixels in [0, 1]", "raw": "raw pixels 0..255", "dataset": "dataset mean/std normalization",
               "half": "pixels mapped to [−1, 1]"}


def normalization_reading(frame: pd.DataFrame, lr: float) -> str:
    """What the normalization sweep measured, one clause per setting."""
    parts = [f"with {INPUT_WORDS[row.setting]} the MLP {outcome(row)}"
             + (f" (final training loss {row.final_train_loss:.4g})" if row.diverged else "")
             for row in frame.itertuples()]
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + f", all at the learning rate {lr:g}."


def depth_reading(frame: pd.DataFrame) -> str:
    """What the depth-and-width sweep measured: the best architecture, the linear classifier, the size range."""
    ok = frame[~frame.diverged]
    if ok.empty:
        return "Every architecture diverged."
    top = ok.loc[ok.val_accuracy.idxmax()]
    text = (f"The best architecture here is {top.architecture} with {top.val_accuracy:.2%} validation accuracy and "
            f"{top.params:,} parameters")
    linear = frame[frame.setting == "linear"]
    if len(linear) and top.setting != "linear":
        text += f"; the linear classifier ({linear.params.iloc[0]:,} parameters) {outcome(linear.iloc[0])}"
    if len(frame) > 1:
        low, high = frame.loc[frame.params.idxmin()], frame.loc[frame.params.idxmax()]
        text += (f". The largest network ({high.setting}) has {high.params / low.params:.0f} times the parameters "
                 f"of the smallest ({low.setting}), for {100 * (high.val_accuracy - low.val_accuracy):+.2f} points "
                 "of validation accuracy")
    return text + "."


def lr_summary(frame: pd.DataFrame) -> str:
    """"diverged at 3; the smallest rate, 0.0003, reaches ...; the best, 0.03, reaches ..."."""
    diverged = ", ".join(f"{v:g}" for v in frame.lr[frame.diverged]) or "none"
    smallest = frame.loc[frame.lr.idxmin()]
    good = frame[~frame.diverged]
    best = (f"the best, {good.loc[good.val_accuracy.idxmax()].lr:g}, reaches "
            f"{good.val_accuracy.max():.2%}" if len(good) else "no rate trained without diverging")
    return f"diverged at {diverged}; the smallest rate, {smallest.lr:g}, {outcome(smallest)}; {best}"


def lr_reading(frame: pd.DataFrame, epochs: int) -> str:
    """What the learning-rate sweep measured, for ``epochs`` epochs."""
    smallest = frame.loc[frame.lr.idxmin()]
    text = "Learning rates " + lr_summary(frame) + "."
    if not smallest.diverged:
        text += (f" The smallest ends at a training loss of {smallest.final_train_loss:.3f} after "
                 f"{_plural(epochs, 'epoch')}.")
    return text


def size_reading(frame: pd.DataFrame) -> str:
    """What the training-set-size sweep measured."""
    most, least = frame.loc[frame.train_images.idxmax()], frame.loc[frame.train_images.idxmin()]
    text = f"With {most.train_images:,} training images the validation accuracy is {most.val_accuracy:.2%}"
    if least.train_images < most.train_images:
        text += (f"; with {least.train_images:,} it is {least.val_accuracy:.2%} "
                 f"({100 * (most.val_accuracy - least.val_accuracy):+.2f} points for "
                 f"{most.train_images / least.train_images:.1f}x the data). Fewer images also mean fewer weight "
                 "updates in the same number of epochs")
    return text + "."


def _and(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def factor_effects(sweeps: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per factor (key of FACTORS): how many settings were swept and the lowest, highest and spread
    (highest - lowest, in percentage points) of their validation accuracy, diverged runs included at
    what they measured: a setting that makes training fail is part of the factor's effect."""
    rows = []
    for factor, frame in sweeps.items():
        if factor not in FACTORS:
            raise ValueError(f"factor must be one of {', '.join(FACTORS)}, got {factor!r}")
        values = frame.val_accuracy.astype(float)
        rows.append({"factor": factor, "settings": len(frame), "lowest": values.min(), "highest": values.max(),
                     "spread_points": 100 * (values.max() - values.min())})
    return pd.DataFrame(rows).set_index("factor")


def finding_reading(effects: pd.DataFrame, finding) -> str:
    """Set a reference report's finding (:class:`mnist_lib.references.Finding`) beside this run's factor effects.

    The finding holds when every swept factor of ``finding.stronger`` has a larger
    spread than every swept factor of ``finding.weaker``; the text says which
    comparison fails otherwise, and that the spreads depend on the ranges swept.
    """
    spreads = effects["spread_points"]
    measured = ", ".join(f"{FACTORS[f]} {spreads[f]:.2f}" for f in effects.index)
    text = (f"The reference report found that {finding.text}. Here the spread of validation accuracy across each "
            f"factor's settings (percentage points, for the ranges swept) is: {measured}.")
    stronger = [f for f in finding.stronger if f in spreads.index]
    weaker = [f for f in finding.weaker if f in spreads.index]
    if not stronger or not weaker:
        return text + " Not every factor of the finding was swept, so it is not checked."
    shown = spreads.round(2)  # compare what the text shows: a tie at two decimals is no "more"
    failures = [(s, w) for s in stronger for w in weaker if not shown[s] > shown[w]]
    if not failures:
        return (f"{text} This run agrees: {_and(FACTORS[f] for f in stronger)} each moved the accuracy more than "
                f"{_and(FACTORS[f] for f in weaker)}.")
    return text + " This run does not fully agree: " + "; ".join(
        f"{FACTORS[s]} moved it less than {FACTORS[w]}" for s, w in failures) + "."

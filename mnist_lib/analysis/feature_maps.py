"""What notebook 06 (feature maps) looks inside: the LeNet-5 and CNN that 03 and 04 trained.

:func:`prepare_model` reuses the checkpoint a notebook recorded in its metrics file, or trains
the model here with the same recipe when that checkpoint is missing or refused, and prepares
the test images exactly as the model was trained (recorded mean, std and image size);
:func:`saliency_share` says where a saliency map lies.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from mnist_lib import catalogue, models, recipes, training
from mnist_lib.checkpoints import CheckpointError, checkpoint_key, fit_or_load, load_checkpoint
from mnist_lib.data import NORMALIZATIONS, DataSplits, prepare_data
from mnist_lib.datasets import RawDataset
from mnist_lib.recipes import RESIZE_MODE
from mnist_lib.runtime import ExecSettings
from mnist_lib.training import History

CHECKPOINT_FIELDS = ("path", "model", "params", "seed", "mean", "std", "normalization", "image_size")


@dataclass
class PreparedModel:
    """A trained model, the data prepared as it was trained, and where its weights came from:
    reused from the notebook that trains it (when, by which commit), or trained here (why, with which
    execution setting, and whether an earlier run of this notebook had cached them);
    :func:`mnist_lib.prose.training.prepared_model_text` says it in a sentence."""

    model_name: str
    model: nn.Module
    splits: DataSplits
    reused: bool
    epochs: int
    key: str
    history: History | None = None
    checkpoint: str | None = None
    trained_at: str | None = None
    commit: str | None = None
    fallback_reason: str | None = None
    execution: ExecSettings | None = None
    cached: bool = False

    def summary(self) -> dict:
        """One row for a table: source, epochs, checkpoint key and the input preparation."""
        return {"model": self.model_name, "weights": "reused from " + trained_by(self.model_name)
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


def trained_by(model_name: str) -> str:
    """The notebook that trains ``model_name`` and records its checkpoint; a ValueError for a model no
    notebook trains."""
    try:
        return catalogue.notebook_for_model(model_name).name
    except catalogue.UnknownNotebookError as exc:
        raise ValueError(str(exc)) from None


def read_checkpoint_record(output_dir: str | os.PathLike, model_name: str) -> dict:
    """The ``checkpoint`` record that the notebook training ``model_name`` wrote to its metrics file.

    Raises CheckpointError with the reason when the metrics file is missing or
    unreadable, or its record is incomplete or for another model.
    """
    notebook = trained_by(model_name)
    path = Path(output_dir) / f"{notebook}.metrics.json"
    if not path.is_file():
        raise CheckpointError(f"{path.name} is missing from {Path(output_dir)} (run {notebook} first)")
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


def _reuse(model_name: str, raw: RawDataset, output_dir: str | os.PathLike, seed: int, train_limit: int | None,
           test_limit: int | None, device: str | torch.device) -> PreparedModel:
    notebook = trained_by(model_name)
    record = read_checkpoint_record(output_dir, model_name)
    path = Path(record["path"])
    if not path.is_file():
        raise CheckpointError(f"the checkpoint {path} recorded by {notebook} is missing")
    recorded_data = record["params"].get("data") or {}
    identity = raw.identity()
    if {k: recorded_data.get(k, "mnist" if k == "dataset" else None) for k in identity} != identity:
        raise CheckpointError(f"the checkpoint recorded by {notebook} was trained on other data "
                              f"({recorded_data.get('dataset', 'mnist')}, not {raw.title})")
    model = training.seeded_model(model_name, seed, device=device, **(record["params"].get("model") or {}))
    try:
        info = load_checkpoint(path, model, model_name, record["params"], record["seed"])
    except CheckpointError as exc:
        raise CheckpointError(f"the checkpoint recorded by {notebook} was refused: {exc}") from None
    # Unit pixels first, then the recorded statistics: the model must see what it was trained on, even when
    # this notebook's data limits would give other dataset statistics.
    unit = prepare_data(raw, seed=seed, train_limit=train_limit, test_limit=test_limit, normalization="none",
                        image_size=record["image_size"], resize_mode=record.get("resize_mode") or RESIZE_MODE,
                        device=device)
    splits = _with_stats(unit, record["mean"], record["std"], record["normalization"])
    history = info.history
    epochs = len(history.records) if history is not None else int(record["params"].get("train", {}).get("epochs", 0))
    key = checkpoint_key(model_name, record["params"], record["seed"], torch.device(device).type)
    return PreparedModel(model_name, model.eval(), splits, True, epochs, key, history, str(path),
                         trained_at=info.trained_at, commit=info.commit)


def prepare_model(model_name: str, raw: RawDataset, *, output_dir: str | os.PathLike,
                  checkpoint_dir: str | os.PathLike, seed: int = 0, train_limit: int | None = None,
                  test_limit: int | None = None, fallback_epochs: int = 3, device: str | torch.device = "cpu",
                  progress: bool | None = None) -> PreparedModel:
    """A trained model (LeNet-5, "lenet5"; the CNN, "cnn"), ready to look inside.

    Reuses the checkpoint that the notebook training it (03 / 04) recorded in
    ``<output_dir>/<notebook>.metrics.json`` when it exists and :func:`checkpoints.load_checkpoint`
    accepts it. Otherwise trains the model here for ``fallback_epochs`` epochs with that notebook's
    defaults (:func:`mnist_lib.recipes.recipe`, on this run's data set, seed, limits and threads),
    through :func:`checkpoints.fit_or_load` in ``checkpoint_dir`` so a rerun does not train again.
    The test split follows ``seed`` and ``test_limit`` either way.
    """
    trained_by(model_name)
    if isinstance(fallback_epochs, bool) or not isinstance(fallback_epochs, int) or fallback_epochs < 1:
        raise ValueError(f"fallback_epochs must be a whole number >= 1, got {fallback_epochs!r}")
    try:
        return _reuse(model_name, raw, output_dir, seed, train_limit, test_limit, device)
    except CheckpointError as exc:
        reason = str(exc).rstrip(".")
    params = recipes.recipe_on(model_name, dataset=raw.name, seed=seed, train_limit=train_limit,
                               test_limit=test_limit, epochs=fallback_epochs, threads=torch.get_num_threads())
    splits = prepare_data(raw, seed=seed, train_limit=train_limit, test_limit=test_limit,
                          normalization=params.normalization, image_size=models.model_input_size(model_name),
                          resize_mode=RESIZE_MODE, device=device)
    # The fallback runs as the notebook that trains the model would, on this device.
    cfg = recipes.train_config(params, model_name, device)
    data_params, model_args = recipes.data_params(params, raw, model_name), recipes.model_args(params)
    Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
    model = training.seeded_model(model_name, seed, device=device, **model_args)
    weights = fit_or_load(model, model_name, splits, cfg, checkpoint_dir, data_params, model_args, progress=progress,
                          desc=f"{model_name} (fallback)")
    history, loaded, path = weights.history, weights.loaded, weights.path
    epochs = len(history.records) if history is not None else fallback_epochs
    key = checkpoint_key(model_name, weights.key_params, seed, torch.device(device).type)
    return PreparedModel(model_name, model.eval(), splits, False, epochs, key, history, str(path),
                         fallback_reason=reason, execution=cfg.execution, cached=loaded)


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

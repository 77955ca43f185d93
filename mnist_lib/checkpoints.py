"""Checkpoints that cannot be stale: trained weights keyed by everything that shaped them.

The key hashes the model name, the training and data settings, the seed and the
source of the code that shapes the weights (models, training, data and
augmentation), so editing any of those retrains instead of loading weights the
old code produced. Files are written atomically and read with
``weights_only=True``; a file that is unsafe, foreign, damaged or does not fit
the model is refused with a one-line reason, and :func:`fit_or_load` retrains.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
import torch.nn as nn

from mnist_lib.environment import arithmetic, git_state, now_utc, short_commit
from mnist_lib.files import atomic_write, digest_of, sha256_file
from mnist_lib.training import History, fit

LIBRARY = Path(__file__).resolve().parent
# The modules whose source shapes trained weights; a change to any of them retrains.
WEIGHT_CODE = ("models.py", "training.py", "data.py", "augment.py")


class CheckpointError(RuntimeError):
    """A checkpoint that must not be loaded (unsafe, foreign, damaged or not fitting the model)."""


def weights_code_hash(library: Path | None = None) -> str:
    """Hash of the source of the modules in :data:`WEIGHT_CODE` that exist."""
    library = library or LIBRARY
    return digest_of({name: sha256_file(library / name) for name in WEIGHT_CODE if (library / name).exists()})


def checkpoint_key(model_name: str, params: dict, seed: int, device_type: str, code: str | None = None) -> str:
    """A short hash of what determines the trained weights: model, settings, seed, the code, and what
    decides the arithmetic on a device of ``device_type`` here (torch version, CPU instruction set,
    device type: :func:`mnist_lib.environment.arithmetic`)."""
    return digest_of({"model": model_name, "params": params, "seed": seed,
                      "code": code if code is not None else weights_code_hash(),
                      "arithmetic": arithmetic(device_type)})[:16]


def device_type_of(model: nn.Module) -> str:
    """The type of the device the model's weights are on ('cpu' for a model without any)."""
    return next((p.device.type for p in model.parameters()), "cpu")


def checkpoint_path(directory: str | os.PathLike, model_name: str, params: dict, seed: int, device_type: str) -> Path:
    return Path(directory) / f"{model_name}-{checkpoint_key(model_name, params, seed, device_type)}.pt"


@dataclass(frozen=True)
class CheckpointInfo:
    """Where loaded weights came from: when, by which commit, in how many seconds of training."""

    path: Path
    trained_at: str | None
    commit: str | None
    train_seconds: float | None
    history: object | None  # a training.History, or None when the file holds no log


def save_checkpoint(path: str | os.PathLike, model: nn.Module, model_name: str, params: dict, seed: int,
                    history=None) -> Path:
    """Write weights, their key and their provenance atomically (temporary file, then rename)."""
    path = Path(path)
    git = git_state()
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_name": model_name,
        "key": checkpoint_key(model_name, params, seed, device_type_of(model)),
        "params": json.dumps(params, sort_keys=True, default=str),
        "seed": seed,
        "history": json.dumps(history.to_dict()) if history is not None else None,
        "trained_at": now_utc(),
        "commit": short_commit(git) if git.get("commit") else None,
        "train_seconds": float(history.train_seconds) if history is not None else None,
        "torch": str(torch.__version__),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write(path, buffer.getvalue())
    return path


def _shape_problem(model: nn.Module, state: dict) -> str | None:
    """Why ``state`` does not fit ``model`` (first difference), or None."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing:
        return f"it lacks {missing[0]}" + (f" and {len(missing) - 1} more tensors" if len(missing) > 1 else "")
    if extra:
        return f"it has {extra[0]}, which the model does not" + (
            f" (and {len(extra) - 1} more)" if len(extra) > 1 else "")
    for name, tensor in own.items():
        theirs = state[name]
        if not isinstance(theirs, torch.Tensor) or tuple(theirs.shape) != tuple(tensor.shape):
            shape = tuple(theirs.shape) if isinstance(theirs, torch.Tensor) else type(theirs).__name__
            return f"{name} has shape {shape} there and {tuple(tensor.shape)} in the model"
    return None


def load_checkpoint(path: str | os.PathLike, model: nn.Module, model_name: str, params: dict,
                    seed: int) -> CheckpointInfo:
    """Load weights saved by :func:`save_checkpoint` into ``model``.

    Always ``weights_only=True``: a file carrying pickled code is refused, and
    so is one saved for another model, parameter set, seed or code version, and
    one whose tensors do not fit ``model``. The model is untouched when refused.
    """
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError or EOFError by case
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = next((line for line in lines if "Unsupported global" in line), lines[0] if lines else repr(exc))
        raise CheckpointError(f"refusing checkpoint {path.name}: it cannot be loaded safely with weights_only=True "
                              f"(pickled code, or a damaged file): {detail}") from None
    if not isinstance(payload, dict) or "state_dict" not in payload or "key" not in payload:
        raise CheckpointError(f"refusing {path.name}: not a mnist_lib checkpoint")
    expected = checkpoint_key(model_name, params, seed, device_type_of(model))
    if payload["key"] != expected or payload.get("model_name") != model_name:
        raise CheckpointError(f"refusing {path.name}: saved for model {payload.get('model_name')!r} with other "
                              f"parameters, seed, code, torch version, CPU instruction set or device (key "
                              f"{payload['key']}, expected {expected})")
    problem = _shape_problem(model, payload["state_dict"])
    if problem:
        raise CheckpointError(f"refusing {path.name}: it does not fit model {model_name}: {problem}")
    model.load_state_dict(payload["state_dict"])
    history = History.from_dict(json.loads(payload["history"])) if payload.get("history") else None
    seconds = payload.get("train_seconds")
    if seconds is None and history is not None:
        seconds = history.train_seconds
    return CheckpointInfo(path, payload.get("trained_at"), payload.get("commit"), seconds, history)


@dataclass(frozen=True)
class TrainedWeights:
    """What :func:`fit_or_load` did: trained here, or reused a checkpoint (and from when)."""

    path: Path
    loaded: bool
    history: object | None
    key_params: dict  # what the key holds (key_params): the record 06 reads back
    trained_at: str | None = None
    commit: str | None = None
    train_seconds: float | None = None
    refused: str | None = None  # why an existing checkpoint was not reused

    @property
    def this_run_seconds(self) -> float | None:
        """Training seconds spent by this run (None when the weights were reused)."""
        return None if self.loaded else self.train_seconds


def key_params(config, data_params: Mapping, model_args: Mapping) -> dict:
    """What a checkpoint's key holds besides the model's name, the seed and the code: the training
    configuration, the data settings and the model's constructor arguments (the CNN's dropout)."""
    return {"train": config.to_dict(), "data": dict(data_params), "model": dict(model_args)}


def fit_or_load(model: nn.Module, model_name: str, data, config, directory: str | os.PathLike,
                data_params: Mapping, model_args: Mapping | None = None, **fit_kwargs) -> TrainedWeights:
    """Reuse the checkpoint trained with exactly these settings and code, or train and save one.

    ``data_params`` are the data settings that shape the weights (limits, normalization, image
    size), ``model_args`` what ``model`` was built with; both are part of the key
    (:func:`key_params`). A checkpoint that is refused (damaged, foreign, not fitting the model)
    is reported and the model retrained.
    """
    params = key_params(config, data_params, model_args or {})
    path = checkpoint_path(directory, model_name, params, config.seed, device_type_of(model))
    refused = None
    if path.exists():
        try:
            info = load_checkpoint(path, model, model_name, params, config.seed)
            return TrainedWeights(path, True, info.history, params, info.trained_at, info.commit, info.train_seconds)
        except CheckpointError as exc:
            refused = str(exc)
    history = fit(model, data, config, **fit_kwargs)
    save_checkpoint(path, model, model_name, params, config.seed, history)
    return TrainedWeights(path, False, history, params, train_seconds=history.train_seconds, refused=refused)

"""Training: seeding and device choice, ``fit`` with a per-epoch ``History``,
and ``evaluate`` (checkpoints are in :mod:`mnist_lib.checkpoints`).

The loop is the plain one (zero_grad, forward, loss, backward, step) over
in-memory tensors from :func:`mnist_lib.data.batches`; augmentation, when asked
for, runs on whole batches on the data's device.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from mnist_lib.data import Augmentation, DataSplits, augment_batch, batches, num_batches

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
SCHEDULERS = ("none", "step", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
BATCH_ENV = "MNIST_REPORTS_BATCH"


# --------------------------------------------------------------------------- seeding, device


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and PyTorch; ask PyTorch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; an explicit name must be available."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {name!r}")
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise ValueError(f"device {name!r} is not available on this machine; use 'auto' or 'cpu'")
    return torch.device(name)


def seeded_model(name: str, seed: int, device: str | torch.device = "cpu", **kwargs) -> nn.Module:
    """Build a registered model with its initial weights fixed by ``seed``."""
    from mnist_lib.models import build_model

    seed_everything(seed)
    return build_model(name, **kwargs).to(device)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run, with its default."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "none"
    label_smoothing: float = 0.0
    augment: Augmentation | None = None
    seed: int = 0
    eval_batch_size: int = 2000
    restore_best: bool = True

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {getattr(self, name)!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1 or not 0 <= self.label_smoothing < 1:
            raise ValueError("weight_decay must be >= 0, momentum and label_smoothing in [0, 1)")

    def to_dict(self) -> dict:
        """Plain values (for reports, metrics files and checkpoint keys)."""
        d = asdict(self)
        d["augment"] = asdict(self.augment) if self.augment is not None else None
        return d


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
    """An optimizer by name: sgd, momentum, nesterov, adam, adamw or rmsprop."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=name == "nesterov", weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=0.0, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def make_scheduler(name: str, optimizer, total_steps: int):
    """A per-step learning-rate schedule by name: none, step, cosine or onecycle.

    ``step`` divides the rate by 10 at half and again at three quarters of training.
    """
    if name == "none":
        return None
    if name == "step":
        milestones = [total_steps // 2, (3 * total_steps) // 4]
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    if name == "onecycle":
        max_lr = [group["lr"] for group in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=max(total_steps, 2),
                                                   pct_start=0.25)
    raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {name!r}")


def loss_function(model: nn.Module, label_smoothing: float = 0.0) -> Callable:
    """NLL for models that output log-probabilities, cross-entropy for logits."""
    if getattr(model, "output_kind", "logits") == "log_softmax":
        if label_smoothing:
            def smoothed_nll(log_probs, target):
                nll = F.nll_loss(log_probs, target)
                return (1 - label_smoothing) * nll - label_smoothing * log_probs.mean(dim=1).mean()
            return smoothed_nll
        return F.nll_loss
    return lambda logits, target: F.cross_entropy(logits, target, label_smoothing=label_smoothing)


def to_probabilities(model: nn.Module, outputs: torch.Tensor) -> torch.Tensor:
    if getattr(model, "output_kind", "logits") == "log_softmax":
        return outputs.exp()
    return outputs.softmax(dim=1)


# --------------------------------------------------------------------------- history


@dataclass
class EpochRecord:
    """One epoch: training loss/accuracy (over the epoch's batches), validation
    loss/accuracy (after it), the learning rate it started with, and its
    training seconds (validation excluded)."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float
    seconds: float
    timestamp: str


@dataclass
class History:
    """What ``fit`` measured, epoch by epoch (accuracies are fractions)."""

    records: list[EpochRecord] = field(default_factory=list)
    best_epoch: int | None = None
    diverged: bool = False
    stopped_early: bool = False
    config: dict = field(default_factory=dict)

    def to_frame(self):
        import pandas as pd

        columns = [f for f in EpochRecord.__dataclass_fields__]
        return pd.DataFrame([asdict(r) for r in self.records], columns=columns)

    @property
    def best_val_accuracy(self) -> float:
        return max((r.val_accuracy for r in self.records), default=float("nan"))

    @property
    def train_seconds(self) -> float:
        return float(sum(r.seconds for r in self.records))

    def to_dict(self) -> dict:
        return {"records": [asdict(r) for r in self.records], "best_epoch": self.best_epoch,
                "diverged": self.diverged, "stopped_early": self.stopped_early, "config": self.config}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(records=[EpochRecord(**r) for r in d["records"]], best_epoch=d.get("best_epoch"),
                   diverged=d.get("diverged", False), stopped_early=d.get("stopped_early", False),
                   config=d.get("config", {}))


# --------------------------------------------------------------------------- progress


PROGRESS_ENV = "MNIST_REPORTS_PROGRESS"


def _progress_bar(total: int, desc: str, enabled: bool | None, stack: contextlib.ExitStack):
    """A tqdm bar: a widget in JupyterLab, text on stderr in a terminal.

    In papermill batch runs (``MNIST_REPORTS_BATCH`` set) the kernel captures
    stderr into the notebook, so the bar goes to the file named by
    ``MNIST_REPORTS_PROGRESS`` (the build's ``executed/<name>.progress.log``)
    or nowhere: no progress text ever lands in a report.
    """
    from tqdm import tqdm

    if enabled is False:
        return stack.enter_context(tqdm(total=total, disable=True))
    if os.environ.get(BATCH_ENV):
        log_path = os.environ.get(PROGRESS_ENV)
        if not log_path:
            return stack.enter_context(tqdm(total=total, disable=True))
        handle = stack.enter_context(open(log_path, "a", encoding="utf-8"))
        return stack.enter_context(tqdm(total=total, desc=desc, file=handle, mininterval=5.0, ascii=True))
    try:
        from IPython import get_ipython

        in_kernel = get_ipython() is not None and "IPKernelApp" in get_ipython().config
    except ImportError:
        in_kernel = False
    if in_kernel:
        from tqdm.auto import tqdm as auto_tqdm

        return stack.enter_context(auto_tqdm(total=total, desc=desc, leave=False))
    return stack.enter_context(tqdm(total=total, desc=desc, file=sys.stderr, leave=False))


# --------------------------------------------------------------------------- fit / evaluate


@dataclass
class Predictions:
    """Model outputs on a labelled set, as numpy arrays."""

    logits: np.ndarray
    probs: np.ndarray
    preds: np.ndarray
    targets: np.ndarray
    loss: float

    @property
    def accuracy(self) -> float:
        return float((self.preds == self.targets).mean()) if len(self.targets) else float("nan")

    @property
    def confidence(self) -> np.ndarray:
        return self.probs.max(axis=1)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2000) -> Predictions:
    """Outputs, probabilities, predictions and mean loss of ``model`` on (x, y), in eval mode."""
    was_training = model.training
    model.eval()
    try:
        outputs = torch.cat([model(xb) for xb in x.split(batch_size)]) if len(x) else torch.empty(0, 10)
    finally:
        model.train(was_training)
    loss = float(loss_function(model)(outputs, y)) if len(y) else float("nan")
    probs = to_probabilities(model, outputs)
    return Predictions(logits=outputs.cpu().numpy(), probs=probs.cpu().numpy(), preds=probs.argmax(1).cpu().numpy(),
                       targets=y.cpu().numpy(), loss=loss)


EpochCallback = Callable[[EpochRecord, nn.Module], bool | None]


def fit(model: nn.Module, data: DataSplits, config: TrainConfig = TrainConfig(), *, progress: bool | None = None,
        desc: str | None = None, on_epoch_end: EpochCallback | None = None) -> History:
    """Train ``model`` on ``data.x_train`` and measure it on the validation split each epoch.

    Seeded by ``config.seed`` (shuffling, dropout and augmentation), so the same
    seed gives the same History on CPU. With ``restore_best`` the model ends
    with the weights of its best validation epoch. A non-finite training loss
    stops the run and marks it ``diverged``. ``on_epoch_end(record, model)``
    returning True stops early (used by the benchmark's time-to-accuracy).
    """
    device = data.device
    model.to(device)
    torch.manual_seed(config.seed)
    aug_generator = torch.Generator(device=device).manual_seed(config.seed + 7)
    criterion = loss_function(model, config.label_smoothing)
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr, config.momentum, config.weight_decay)
    steps_per_epoch = num_batches(len(data.y_train), config.batch_size)
    scheduler = make_scheduler(config.scheduler, optimizer, steps_per_epoch * config.epochs)
    history = History(config=config.to_dict())
    best_state, best_acc = None, -1.0
    with contextlib.ExitStack() as stack:
        bar = _progress_bar(steps_per_epoch * config.epochs, desc or type(model).__name__, progress, stack)
        for epoch in range(1, config.epochs + 1):
            start = time.perf_counter()
            model.train()
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), dtype=torch.long, device=device)
            lr = optimizer.param_groups[0]["lr"]
            for xb, yb in batches(data.x_train, data.y_train, config.batch_size, seed=config.seed, epoch=epoch):
                if config.augment is not None:
                    xb = augment_batch(xb, config.augment, aug_generator, data.mean, data.std)
                optimizer.zero_grad(set_to_none=True)
                out = model(xb)
                loss = criterion(out, yb)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                loss_sum += loss.detach() * len(yb)
                correct += (out.detach().argmax(1) == yb).sum()
                bar.update(1)
            train_loss = float(loss_sum) / len(data.y_train)
            seconds = time.perf_counter() - start
            if not math.isfinite(train_loss):
                history.diverged = True
            val = evaluate(model, data.x_val, data.y_val, config.eval_batch_size)
            record = EpochRecord(
                epoch=epoch, train_loss=train_loss, train_accuracy=float(correct) / len(data.y_train),
                val_loss=val.loss, val_accuracy=val.accuracy, lr=lr, seconds=seconds,
                timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            )
            history.records.append(record)
            if not history.diverged and val.accuracy > best_acc:
                best_acc, history.best_epoch = val.accuracy, epoch
                if config.restore_best:
                    best_state = copy.deepcopy(model.state_dict())
            bar.set_postfix(loss=f"{train_loss:.4f}", val=f"{val.accuracy:.2%}", refresh=False)
            if history.diverged:
                break
            if on_epoch_end is not None and on_epoch_end(record, model):
                history.stopped_early = True
                break
    if config.restore_best and best_state is not None:
        model.load_state_dict(best_state)
    return history

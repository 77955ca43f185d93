"""Training: seeding and device choice, ``fit`` with a per-epoch ``History``,
and ``evaluate`` (checkpoints are in :mod:`mnist_lib.checkpoints`).

The loop is the plain one (zero_grad, forward, loss, backward, step) over
in-memory tensors from :func:`mnist_lib.data.batches`; augmentation, when asked
for, runs on whole batches on the data's device. How the model runs (memory
format, ``torch.compile``, threads, bf16 autocast, evaluation batch) is the
config's :class:`mnist_lib.runtime.ExecSettings`. Nothing in the step reads a
value back from the device: sums stay on it and are read once per epoch.
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

from mnist_lib import runtime
from mnist_lib.augment import Augmentation, augment_batch
from mnist_lib.choices import OPTIMIZERS, SCHEDULERS, TTA_MODES
from mnist_lib.data import DataSplits, batches, num_batches
from mnist_lib.models import build_model
from mnist_lib.runtime import ExecSettings

BATCH_ENV = "MNIST_REPORTS_BATCH"


# --------------------------------------------------------------------------- seeding, device


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and PyTorch; ask PyTorch for deterministic kernels.

    Deterministic mode would also fill every new tensor's memory with NaN (a debugging aid:
    correct kernels never read it, so results are bit-identical without it); that fill cost the CNN
    about 7% of its training time, so it is off (:func:`deterministic_kernels`).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        deterministic_kernels()
        torch.backends.cudnn.benchmark = False


def deterministic_kernels() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` without filling new memory (a
    debugging aid that costs time and changes no result)."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = False


def seeded_model(name: str, seed: int, device: str | torch.device = "cpu", **kwargs) -> nn.Module:
    """Build a registered model with its initial weights fixed by ``seed``."""
    seed_everything(seed)
    return build_model(name, **kwargs).to(device)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run, with its default.

    ``ema_decay`` > 0 keeps an exponential moving average of the weights (and batch-norm statistics)
    over the steps (:class:`WeightAverage`); validation, the best epoch and the weights the run ends
    with are then the average's.
    """

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "none"
    label_smoothing: float = 0.0
    augment: Augmentation | None = None
    ema_decay: float = 0.0
    seed: int = 0
    restore_best: bool = True
    execution: ExecSettings = ExecSettings()

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        for name in ("epochs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {getattr(self, name)!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1 or not 0 <= self.label_smoothing < 1:
            raise ValueError("weight_decay must be >= 0, momentum and label_smoothing in [0, 1)")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1) (0: no average), got {self.ema_decay!r}")
        if not isinstance(self.execution, ExecSettings):
            raise ValueError(f"execution must be an ExecSettings, got {self.execution!r}")

    @property
    def eval_batch_size(self) -> int:
        """Images per evaluation batch (the execution setting's)."""
        return self.execution.eval_batch_size

    def to_dict(self) -> dict:
        """Plain values (for reports, metrics files and checkpoint keys). Where the execution setting
        came from (``source``, ``overrides``) is left out: it does not shape the weights."""
        d = asdict(self)
        d["augment"] = asdict(self.augment) if self.augment is not None else None
        d["execution"] = {k: v for k, v in self.execution.to_dict().items() if k not in ("source", "overrides")}
        # Whether this config's optimizer runs fused is what shapes the weights, not the list it was chosen from.
        d["execution"]["fused_optimizer"] = self.execution.uses_fused(self.optimizer)
        d["execution"].pop("fused_for")
        return d


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                   fused: bool = False):
    """An optimizer by name: sgd, momentum, nesterov, adam, adamw or rmsprop. ``fused`` asks for
    torch's fused kernel where it has one (:data:`mnist_lib.runtime.FUSED_OPTIMIZERS`; RMSprop
    runs its foreach form either way)."""
    kernel = {"fused": True} if fused and name in runtime.FUSED_OPTIMIZERS else {}
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, **kernel)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=name == "nesterov", weight_decay=weight_decay,
                               **kernel)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **kernel)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **kernel)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=0.0, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def optimizer_state_values(name: str) -> int:
    """How many values the optimizer ``name`` keeps per parameter after a step (measured on a
    one-parameter tensor: 0 for plain SGD, 1 for momentum buffers, 2 for Adam's moments)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    weight = torch.nn.Parameter(torch.zeros(5))
    optimizer = make_optimizer(name, [weight], lr=0.1)
    weight.grad = torch.ones(5)
    optimizer.step()
    return sum(1 for value in optimizer.state[weight].values()
               if torch.is_tensor(value) and value.shape == weight.shape)


# The share of a one-cycle schedule's steps that warm the learning rate up (a library setting, not a parameter).
ONECYCLE_WARMUP = 0.25


def onecycle_warmup(total_steps: int) -> float:
    """The warm-up share of a one-cycle schedule of ``total_steps``: :data:`ONECYCLE_WARMUP`, but at least
    two steps, so very short runs (fewer than 8 steps) do not divide by zero."""
    return max(ONECYCLE_WARMUP, 2 / max(total_steps, 4))


def total_steps(train_images: int, batch_size: int, epochs: int) -> int:
    """The optimizer steps of a training run: batches per epoch times epochs."""
    return num_batches(train_images, batch_size) * epochs


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
        total = max(total_steps, 4)
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total,
                                                   pct_start=onecycle_warmup(total))
    raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {name!r}")


def log_probabilities(model: nn.Module, outputs: torch.Tensor) -> torch.Tensor:
    """The model's outputs as log-probabilities (models with ``output_kind = "log_softmax"`` give them already)."""
    if getattr(model, "output_kind", "logits") == "log_softmax":
        return outputs
    return F.log_softmax(outputs, dim=1)


def smoothed_nll(log_probs: torch.Tensor, target: torch.Tensor,
                 label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(the loss to optimize, the plain NLL) from one set of log-probabilities.

    The optimized loss is the cross-entropy against targets smoothed with
    ``label_smoothing`` (as ``F.cross_entropy(..., label_smoothing=...)``); the plain
    NLL is the mean negative log-probability of the true class, the quantity
    ``evaluate`` reports. Without smoothing the two are the same tensor.
    """
    nll = F.nll_loss(log_probs, target)
    if not label_smoothing:
        return nll, nll
    return (1 - label_smoothing) * nll - label_smoothing * log_probs.mean(dim=1).mean(), nll


def label_smoothing_floor(label_smoothing: float, classes: int = 10) -> float:
    """The lowest value the smoothed loss can take: the entropy of the smoothed target.

    0 without smoothing; about 0.50 for 0.1 over 10 classes. A training curve of
    the smoothed loss levels off here however well the model fits.
    """
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    if label_smoothing == 0:
        return 0.0
    other = label_smoothing / classes
    true = 1 - label_smoothing + other
    return float(-true * math.log(true) - (classes - 1) * other * math.log(other))


def loss_function(model: nn.Module, label_smoothing: float = 0.0) -> Callable:
    """The loss to optimize: NLL for models that output log-probabilities, cross-entropy for
    logits, both with optional label smoothing."""
    if getattr(model, "output_kind", "logits") == "log_softmax":
        if label_smoothing:
            return lambda log_probs, target: smoothed_nll(log_probs, target, label_smoothing)[0]
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
    training seconds (validation excluded).

    ``train_loss`` is the loss the optimizer minimized (with label smoothing, the
    smoothed cross-entropy); ``train_nll`` is the plain negative log-likelihood
    of the true class on the same batches and forward passes, the quantity
    ``val_loss`` measures, so the two curves compare like with like.
    """

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float
    seconds: float
    timestamp: str
    train_nll: float = math.nan  # nan only in histories saved before it was recorded (with label smoothing)


HISTORY_COLUMNS = ("epoch", "train_loss", "train_nll", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds",
                   "timestamp")


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

        return pd.DataFrame([asdict(r) for r in self.records], columns=list(HISTORY_COLUMNS))

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
        config = d.get("config", {})
        records = []
        for r in d["records"]:
            if "train_nll" not in r and not config.get("label_smoothing"):
                r = {**r, "train_nll": r["train_loss"]}  # saved before train_nll existed; without smoothing, equal
            records.append(EpochRecord(**r))
        return cls(records=records, best_epoch=d.get("best_epoch"), diverged=d.get("diverged", False),
                   stopped_early=d.get("stopped_early", False), config=config)


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


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             batch_size: int = runtime.DEFAULT_EVAL_BATCH, tta: str = "none") -> Predictions:
    """Outputs, probabilities, predictions and mean loss of ``model`` on (x, y), in eval mode,
    under ``torch.inference_mode`` in batches of ``batch_size``, in float32; one read from the
    device at the end. ``tta`` averages the probabilities over views of each image
    (:func:`tta_views`); the outputs are then the log of the averaged probabilities."""
    was_training = model.training
    model.eval()
    views = tta_views(tta)
    try:
        if not len(x):
            outputs = torch.empty(0, 10)
        elif len(views) == 1:
            outputs = torch.cat([model(xb) for xb in x.split(batch_size)])
        else:
            averaged = torch.cat([torch.stack([to_probabilities(model, model(view(xb))) for view in views]).mean(0)
                                  for xb in x.split(batch_size)])
    finally:
        model.train(was_training)
    if len(views) == 1 or not len(x):
        loss = float(loss_function(model)(outputs, y)) if len(y) else float("nan")
        probs = to_probabilities(model, outputs)
    else:
        outputs = averaged.clamp_min(1e-12).log()
        loss, probs = float(F.nll_loss(outputs, y)), averaged
    return Predictions(logits=outputs.cpu().numpy(), probs=probs.cpu().numpy(), preds=probs.argmax(1).cpu().numpy(),
                       targets=y.cpu().numpy(), loss=loss)


def final_evaluation(model: nn.Module, data: DataSplits, batch_size: int = runtime.DEFAULT_EVAL_BATCH,
                     tta: str = "none") -> tuple[Predictions, Predictions]:
    """(validation, test) predictions of the trained model, both measured the same way (``tta``), so a
    recipe can be chosen on the first and reported on the second."""
    return (evaluate(model, data.x_val, data.y_val, batch_size, tta),
            evaluate(model, data.x_test, data.y_test, batch_size, tta))


EpochCallback = Callable[[EpochRecord, nn.Module], bool | None]


def tta_views(mode: str) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """The views of a batch that ``mode`` averages over: ``none`` the images themselves; ``flip`` and
    their mirror images (where a mirrored image keeps its class); ``shift`` and the images moved by one
    pixel up, down, left and right (the border filled with the image's edge values)."""
    if mode not in TTA_MODES:
        raise ValueError(f"tta must be one of {', '.join(TTA_MODES)}, got {mode!r}")
    views: list[Callable[[torch.Tensor], torch.Tensor]] = [lambda x: x]
    if mode == "flip":
        views.append(lambda x: x.flip(-1))
    elif mode == "shift":
        def shifted(dy: int, dx: int):
            def view(x: torch.Tensor) -> torch.Tensor:
                padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
                h, w = x.shape[-2:]
                return padded[..., 1 + dy: 1 + dy + h, 1 + dx: 1 + dx + w]
            return view

        views += [shifted(dy, dx) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]
    return views


class WeightAverage:
    """An exponential moving average of a model's weights and buffers, updated after every optimizer
    step: ``average = d * average + (1 - d) * weights`` with ``d = min(decay, (1 + t) / (10 + t))``
    at step ``t``, so the average follows the weights closely at first and then settles (short runs
    are not stuck near the initial weights)."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model)
        self.steps = 0
        self._targets = [*self.model.parameters(), *self.model.buffers()]
        self._sources = [*model.parameters(), *model.buffers()]

    @torch.no_grad()
    def update(self) -> None:
        weight = 1 - min(self.decay, (1 + self.steps) / (10 + self.steps))
        floats = [(t, s) for t, s in zip(self._targets, self._sources) if t.is_floating_point()]
        torch._foreach_lerp_([t for t, _ in floats], [s for _, s in floats], weight)
        for target, source in zip(self._targets, self._sources):
            if not target.is_floating_point():  # batch norm's step counter
                target.copy_(source)
        self.steps += 1


def train_step(model: nn.Module, forward: Callable, optimizer, scheduler, xb: torch.Tensor, yb: torch.Tensor,
               config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One optimizer (and schedule) step on a batch: (optimized loss, plain NLL, correct answers),
    all left on the device, unread. ``forward`` is the model or its compiled form
    (:func:`mnist_lib.runtime.training_forward`); with ``precision = "bf16"`` the forward pass
    runs under bfloat16 autocast and the loss in float32."""
    settings = config.execution
    optimizer.zero_grad(set_to_none=True)
    with runtime.autocast(settings, xb.device):
        out = forward(runtime.as_input(xb, settings))
    log_probs = log_probabilities(model, out.float())
    loss, nll = smoothed_nll(log_probs, yb, config.label_smoothing)
    loss.backward()
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return loss.detach(), nll.detach(), (out.detach().argmax(1) == yb).sum()


def epoch_totals(steps: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], sizes: list[int]) -> tuple[float, float, int]:
    """(optimized loss, plain NLL, correct answers) summed over an epoch's steps, the losses weighted
    by their batch sizes (in float64), read from the device in one transfer."""
    if not steps:
        return 0.0, 0.0, 0
    losses, nlls, rights = (torch.stack(column) for column in zip(*steps))
    weights = torch.tensor(sizes, dtype=torch.float64, device=losses.device)
    totals = torch.stack((losses.double() @ weights, nlls.double() @ weights, rights.sum().double()))
    loss_total, nll_total, n_correct = totals.tolist()
    return loss_total, nll_total, int(n_correct)


def fit(model: nn.Module, data: DataSplits, config: TrainConfig = TrainConfig(), *, progress: bool | None = None,
        desc: str | None = None, on_epoch_end: EpochCallback | None = None) -> History:
    """Train ``model`` on ``data.x_train`` and measure it on the validation split each epoch.

    Seeded by ``config.seed`` (shuffling, dropout and augmentation), so the same
    seed gives the same History on CPU. With ``restore_best`` the model ends
    with the weights of its best validation epoch. A non-finite training loss
    stops the run and marks it ``diverged``. ``on_epoch_end(record, model)``
    returning True stops early (used by the benchmark's time-to-accuracy).

    Each step records the optimized loss and the plain NLL from its one forward
    pass. The step never waits for the device: loss sums and correct counts
    stay on it and are read once per epoch (where divergence is checked too).
    With ``config.ema_decay`` the weight average (:class:`WeightAverage`) is what
    validation measures and what the model ends with.
    """
    device = data.device
    model.to(device)
    runtime.prepare_model(model, config.execution)
    forward = runtime.training_forward(model, config.execution)
    torch.manual_seed(config.seed)
    aug_generator = torch.Generator(device=device).manual_seed(config.seed + 7)
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr, config.momentum, config.weight_decay,
                               fused=config.execution.uses_fused(config.optimizer))
    steps_per_epoch = num_batches(len(data.y_train), config.batch_size)
    scheduler = make_scheduler(config.scheduler, optimizer, total_steps(len(data.y_train), config.batch_size,
                                                                        config.epochs))
    history = History(config=config.to_dict())
    average = WeightAverage(model, config.ema_decay) if config.ema_decay else None
    measured = average.model if average is not None else model
    best_state, best_acc = None, -1.0
    with contextlib.ExitStack() as stack:
        stack.enter_context(runtime.intra_op_threads(config.execution.threads))
        bar = _progress_bar(steps_per_epoch * config.epochs, desc or type(model).__name__, progress, stack)
        for epoch in range(1, config.epochs + 1):
            start = time.perf_counter()
            model.train()
            # Each step's (optimized loss, plain NLL, correct answers) stay on the device, unsummed: adding
            # them up per step would cost the small models more than the reads it saves.
            steps: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
            sizes: list[int] = []
            lr = optimizer.param_groups[0]["lr"]
            for xb, yb in batches(data.x_train, data.y_train, config.batch_size, seed=config.seed, epoch=epoch):
                if config.augment is not None:
                    xb = augment_batch(xb, config.augment, aug_generator, data.mean, data.std)
                steps.append(train_step(model, forward, optimizer, scheduler, xb, yb, config))
                sizes.append(len(yb))
                if average is not None:
                    average.update()
                bar.update(1)
            loss_total, nll_total, n_correct = epoch_totals(steps, sizes)  # the epoch's one read from the device
            train_loss, train_nll = loss_total / len(data.y_train), nll_total / len(data.y_train)
            seconds = time.perf_counter() - start
            if not math.isfinite(train_loss):
                history.diverged = True
            val = evaluate(measured, data.x_val, data.y_val, config.eval_batch_size)
            record = EpochRecord(
                epoch=epoch, train_loss=train_loss, train_accuracy=n_correct / len(data.y_train),
                val_loss=val.loss, val_accuracy=val.accuracy, lr=lr, seconds=seconds,
                timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"), train_nll=train_nll,
            )
            history.records.append(record)
            if not history.diverged and val.accuracy > best_acc:
                best_acc, history.best_epoch = val.accuracy, epoch
                if config.restore_best:
                    best_state = copy.deepcopy(measured.state_dict())
            bar.set_postfix(loss=f"{train_loss:.4f}", val=f"{val.accuracy:.2%}", refresh=False)
            if history.diverged:
                break
            if on_epoch_end is not None and on_epoch_end(record, model):
                history.stopped_early = True
                break
    if config.restore_best and best_state is not None:
        model.load_state_dict(best_state)
    elif average is not None:
        model.load_state_dict(average.model.state_dict())
    return history

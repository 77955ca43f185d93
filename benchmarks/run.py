"""Speed benchmark: measured side by side in one process, repeated and interleaved,
reported as medians (these machines are noisy; ratios travel better).

Sections (``--pipelines``; all of them by default):

``floor``
    The compute floor: the CNN's forward + backward + optimizer and schedule step
    on pre-built tensors, with no data pipeline at all. Each pipeline's overhead
    is reported over it, in percent.
``in_memory``
    mnist_lib's path: the IDX files read once into tensors, batches by index,
    augmentation on whole batches (``mnist_lib.augment``).
``dataloader``
    The same CNN, recipe, optimizer and schedule through torchvision's Dataset +
    DataLoader with per-sample PIL transforms: ``RandomAffine`` with the same
    ranges and the same (bilinear) interpolation, then ``ColorJitter``. It runs
    at its fastest DataLoader setting on this machine (``num_workers`` 0, 1 or 2;
    ``pin_memory`` too on CUDA), chosen by a short timed calibration and recorded.
``canonical``
    The canonical PyTorch MNIST example, re-implemented: its recipe *and* its
    model (``CanonicalNet``, ``CANONICAL``), so its ratio is a recipe-and-model
    comparison, not a pipeline one.
``model_epochs``
    One epoch of ``training.fit`` per model on the in-memory path.
``settings``
    The execution-settings table: for ANN, MLP, LeNet-5 and CNN, training and
    evaluation images/s on pre-built random tensors in eager mode (intra-op
    threads as given by ``--threads``), ``channels_last``, ``torch.compile``
    (default mode; its compile seconds apart), and evaluation images/s by batch
    size.

The recipe pipelines report time to 99% test accuracy (training seconds,
evaluation excluded) and, beside it, their one-off preparation: reading the
files and building the in-memory tensors or the torchvision datasets.

Writes ``<output>/benchmarks.json`` and ``<output>/benchmarks.md`` and prints the markdown.
A partial run (``--pipelines settings``) updates those sections of the last record
made the same way (device, smoke or not, the same subset).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mnist_lib import catalogue, cells, data, datasets, models, recipes, reports, runtime, training
from mnist_lib.files import atomic_write_text, write_json  # noqa: E402
from mnist_lib.runner.pipeline import refresh_index  # noqa: E402

TARGET = 0.99
SECTIONS = ("floor", "in_memory", "dataloader", "canonical", "model_epochs", "settings")
RECIPE_PIPELINES = ("in_memory", "dataloader", "canonical")
DEVICES = ("cpu", "cuda")
EVAL_BATCH_SIZES = (250, 1000, 2000, 5000)
SMOKE_TRAIN_LIMIT = 640
SMOKE_TEST_LIMIT = 500
CANONICAL = {"batch_size": 64, "optimizer": "Adadelta", "lr": 1.0, "scheduler": "StepLR per epoch", "gamma": 0.7,
             "mean": 0.1307, "std": 0.3081, "augment": None}


@dataclass(frozen=True)
class Recipe:
    """The CNN recipe every pipeline but the canonical one trains with: the defaults of the notebook
    that trains the CNN (:func:`mnist_lib.recipes.recipe`, its parameters cell) with the one-cycle
    schedule compressed into ``epochs`` epochs, run with the CNN's execution setting on
    ``device_type`` (the library's measured default), so each pipeline runs at its best."""

    epochs: int = 3
    base: dict = field(default_factory=lambda: dict(recipes.recipe("cnn")))
    device_type: str = "cpu"

    @property
    def augment(self):
        return recipes.augmentation(self.base)

    @property
    def image_size(self) -> int:
        return models.model_input_size("cnn")

    def train_config(self, seed: int) -> training.TrainConfig:
        return recipes.train_config({**self.base, "epochs": self.epochs, "seed": seed}, "cnn", self.device_type,
                                    restore_best=False)

    def model_and_optimizer(self, seed: int, device) -> tuple[nn.Module, torch.optim.Optimizer]:
        """The seeded CNN in the setting's memory format, and the recipe's optimizer with its kernel."""
        config = self.train_config(seed)
        model = runtime.prepare_model(training.seeded_model("cnn", seed, device=device), config.execution)
        optimizer = training.make_optimizer(config.optimizer, model.parameters(), config.lr, config.momentum,
                                            config.weight_decay, fused=config.execution.uses_fused(config.optimizer))
        return model, optimizer

    def describe(self) -> dict:
        config = self.train_config(0)
        return {"source": f"{catalogue.notebook_for_model('cnn').name} defaults, schedule over {self.epochs} epochs",
                "epochs": self.epochs, "batch_size": config.batch_size, "optimizer": config.optimizer, "lr": config.lr,
                "scheduler": config.scheduler, "weight_decay": config.weight_decay,
                "label_smoothing": config.label_smoothing, "normalization": self.base["normalization"],
                "augment": config.augment.__dict__ if config.augment else None,
                "execution": runtime.setting_name(config.execution), "threads": config.execution.threads}


def sync(device: torch.device) -> None:
    """Wait for queued device work, so the clock measures it (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(device: torch.device) -> float:
    sync(device)
    return time.perf_counter()


# --------------------------------------------------------------------------- the compute floor


def prepare_in_memory(data_dir: Path, recipe: Recipe, seed: int, limits: tuple,
                      device) -> tuple[data.DataSplits, float]:
    """The in-memory tensors of the recipe, and the seconds it took to read the files and build them.
    ``limits`` is (train_limit, test_limit), (None, None) for the whole data set."""
    start = clock(device)
    raw = datasets.load_dataset("mnist", data_dir)
    splits = data.prepare_data(raw, val_size=0, normalization=recipe.base["normalization"],
                               image_size=recipe.image_size, seed=seed, train_limit=limits[0],
                               test_limit=limits[1], device=device)
    return splits, clock(device) - start


def run_floor(splits: data.DataSplits, recipe: Recipe, seed: int, device) -> dict:
    """One epoch of the recipe's training steps on pre-built batches: no shuffling, no
    indexing, no augmentation, nothing but forward, loss, backward, optimizer and schedule step."""
    config = recipe.train_config(seed)
    model, optimizer = recipe.model_and_optimizer(seed, device)
    xs, ys = splits.x_train.split(config.batch_size), splits.y_train.split(config.batch_size)
    scheduler = training.make_scheduler(config.scheduler, optimizer, len(xs) * recipe.epochs)
    criterion = training.loss_function(model, config.label_smoothing)
    model.train()
    start = clock(device)
    for xb, yb in zip(xs, ys):
        optimizer.zero_grad(set_to_none=True)
        criterion(model(xb), yb).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    seconds = clock(device) - start
    return {"images_per_s": len(splits.y_train) / seconds, "seconds_run": seconds}


# --------------------------------------------------------------------------- the recipe pipelines


def _time_to_target(seconds: list[float], accs: list[float]) -> float | None:
    total = 0.0
    for s, a in zip(seconds, accs):
        total += s
        if a >= TARGET:
            return total
    return None


def _result(seconds: list[float], accs: list[float], images: int, preparation_s: float) -> dict:
    return {"time_to_99_s": _time_to_target(seconds, accs), "seconds_run": sum(seconds),
            "images_per_s": images / sum(seconds), "accuracy_by_epoch": accs, "preparation_s": preparation_s}


def run_in_memory(data_dir: Path, recipe: Recipe, seed: int, max_epochs: int, limits: tuple, device) -> dict:
    """mnist_lib's path, through ``training.fit``; the test split is measured after every epoch."""
    splits, preparation = prepare_in_memory(data_dir, recipe, seed, limits, device)
    model = training.seeded_model("cnn", seed, device=device)
    accs, elapsed = [], []

    def on_epoch_end(record, m):
        elapsed.append(record.seconds)
        accs.append(training.evaluate(m, splits.x_test, splits.y_test).accuracy)
        return accs[-1] >= TARGET or len(accs) >= max_epochs

    training.fit(model, splits, recipe.train_config(seed), progress=False, on_epoch_end=on_epoch_end)
    return _result(elapsed, accs, len(splits.y_train) * len(elapsed), preparation)


def _evaluate_loader(model, loader, device) -> float:
    model.eval()
    correct = total = 0
    with torch.inference_mode():
        for x, y in loader:
            correct += int((model(x.to(device)).argmax(1) == y.to(device)).sum())
            total += len(y)
    model.train()
    return correct / total


def _subset(dataset, limit, seed):
    if limit is None:
        return dataset
    idx = data.stratified_subset(dataset.targets.numpy(), limit, seed)
    return torch.utils.data.Subset(dataset, idx.tolist())


def recipe_transforms(recipe: Recipe, mean: float, std: float):
    """The per-sample train transform equivalent to the batch path: the same affine ranges and
    interpolation (RandomAffine draws the transform ``mnist_lib.augment`` implements; it rounds
    translations to whole pixels), the same jitter ranges, the same normalization."""
    from torchvision import transforms

    aug = recipe.augment
    steps = []
    if aug is not None:
        steps += [transforms.RandomAffine(degrees=aug.rotation, translate=(aug.translate, aug.translate),
                                          scale=aug.scale, shear=aug.shear,
                                          interpolation=transforms.InterpolationMode.BILINEAR),
                  transforms.ColorJitter(brightness=aug.brightness, contrast=aug.contrast)]
    steps += [transforms.ToTensor(), transforms.Normalize((mean,), (std,))]
    return transforms.Compose(steps), transforms.Compose(steps[-2:])


@dataclass(frozen=True)
class LoaderSetting:
    num_workers: int
    pin_memory: bool

    def kwargs(self) -> dict:
        return {"num_workers": self.num_workers, "pin_memory": self.pin_memory,
                "persistent_workers": self.num_workers > 0}

    def label(self) -> str:
        return f"num_workers={self.num_workers}, pin_memory={self.pin_memory}"


def loader_settings(device: torch.device) -> list[LoaderSetting]:
    """What to try: 0, 1 and 2 workers; pinned host memory only matters when batches go to a GPU."""
    pins = (False, True) if device.type == "cuda" else (False,)
    return [LoaderSetting(w, p) for w in (0, 1, 2) for p in pins]


class _TrainStep:
    """The recipe's CNN, optimizer and loss, for timing loader settings (no schedule needed)."""

    def __init__(self, recipe: Recipe, seed: int, device):
        config = recipe.train_config(seed)
        self.device = device
        self.model, self.optimizer = recipe.model_and_optimizer(seed, device)
        self.criterion = training.loss_function(self.model, config.label_smoothing)

    def __call__(self, x, y, non_blocking: bool) -> None:
        x, y = x.to(self.device, non_blocking=non_blocking), y.to(self.device, non_blocking=non_blocking)
        self.optimizer.zero_grad(set_to_none=True)
        self.criterion(self.model(x), y).backward()
        self.optimizer.step()


def calibrate_loader(train, recipe: Recipe, seed: int, device, steps: int, rounds: int) -> tuple[LoaderSetting, dict]:
    """Training images/s of each loader setting over ``steps`` batches after a warm-up batch
    (worker start-up excluded: with persistent workers it is paid once per run), median of
    ``rounds`` interleaved rounds; the fastest setting and every measurement."""
    settings = loader_settings(device)
    measured: dict[str, list[float]] = {s.label(): [] for s in settings}
    step = _TrainStep(recipe, seed, device)
    for _ in range(rounds):
        for setting in settings:
            loader = torch.utils.data.DataLoader(train, batch_size=recipe.base["batch_size"], shuffle=True,
                                                 generator=torch.Generator().manual_seed(seed), **setting.kwargs())
            batches = iter(loader)
            step(*next(batches), setting.pin_memory)
            start, images = clock(device), 0
            for _, (x, y) in zip(range(steps), batches):
                step(x, y, setting.pin_memory)
                images += len(y)
            measured[setting.label()].append(images / (clock(device) - start))
            del batches, loader  # stops the workers
    medians = {label: statistics.median(v) for label, v in measured.items()}
    best = max(settings, key=lambda s: medians[s.label()])
    return best, {"steps": steps, "rounds": rounds, "images_per_s": measured, "images_per_s_median": medians,
                  "chosen": best.label()}


def load_torchvision(data_dir: Path, train_tf, test_tf, limits: tuple, seed):
    """torchvision's MNIST datasets (reading the files we verified) and the seconds that took."""
    from torchvision.datasets import MNIST

    start = time.perf_counter()
    datasets.ensure_dataset("mnist", data_dir, progress=False)
    train = _subset(MNIST(str(data_dir), train=True, download=False, transform=train_tf), limits[0], seed)
    test = _subset(MNIST(str(data_dir), train=False, download=False, transform=test_tf), limits[1], seed)
    return train, test, time.perf_counter() - start


def run_dataloader(data_dir: Path, recipe: Recipe, seed: int, max_epochs: int, limits: tuple, device,
                   setting: LoaderSetting, mean: float, std: float) -> dict:
    """The same CNN, recipe, optimizer and schedule through Dataset + DataLoader at ``setting``."""
    train_tf, test_tf = recipe_transforms(recipe, mean, std)
    train, test, preparation = load_torchvision(data_dir, train_tf, test_tf, limits, seed)
    config = recipe.train_config(seed)
    model, optimizer = recipe.model_and_optimizer(seed, device)
    loader = torch.utils.data.DataLoader(train, batch_size=config.batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed), **setting.kwargs())
    test_loader = torch.utils.data.DataLoader(test, batch_size=1000)
    scheduler = training.make_scheduler(config.scheduler, optimizer, recipe.epochs * len(loader))
    return _loader_loop(model, loader, test_loader, optimizer, scheduler, max_epochs, per_step=True,
                        loss=training.loss_function(model, config.label_smoothing), device=device,
                        non_blocking=setting.pin_memory, preparation=preparation)


class CanonicalNet(nn.Module):
    """The canonical example's network: conv 32, conv 64, max pool, dropout, fc 9216-128-10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def run_canonical(data_dir: Path, seed: int, max_epochs: int, limits: tuple, device) -> dict:
    """The canonical example as it is written (``CANONICAL``; on CUDA, its 1 worker and pinned memory)."""
    from torchvision import transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((CANONICAL["mean"],), (CANONICAL["std"],))])
    train, test, preparation = load_torchvision(data_dir, tf, tf, limits, seed)
    training.seed_everything(seed)
    model = CanonicalNet().to(device)
    extra = {"num_workers": 1, "pin_memory": True} if device.type == "cuda" else {}
    loader = torch.utils.data.DataLoader(train, batch_size=CANONICAL["batch_size"], shuffle=True,
                                         generator=torch.Generator().manual_seed(seed), **extra)
    test_loader = torch.utils.data.DataLoader(test, batch_size=1000)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=CANONICAL["lr"])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=CANONICAL["gamma"])
    return _loader_loop(model, loader, test_loader, optimizer, scheduler, max_epochs, per_step=False,
                        loss=F.nll_loss, device=device, non_blocking=bool(extra), preparation=preparation)


def _loader_loop(model, loader, test_loader, optimizer, scheduler, max_epochs, per_step, loss, device, non_blocking,
                 preparation) -> dict:
    seconds, accs, images = [], [], 0
    model.train()
    for _ in range(max_epochs):
        start = clock(device)
        for x, y in loader:
            x, y = x.to(device, non_blocking=non_blocking), y.to(device, non_blocking=non_blocking)
            optimizer.zero_grad(set_to_none=True)
            loss(model(x), y).backward()
            optimizer.step()
            if per_step:
                scheduler.step()
            images += len(y)
        if not per_step:
            scheduler.step()
        seconds.append(clock(device) - start)
        accs.append(_evaluate_loader(model, test_loader, device))
        if accs[-1] >= TARGET:
            break
    return _result(seconds, accs, images, preparation)


# --------------------------------------------------------------------------- per-model epoch seconds

EPOCH_CONFIG = training.TrainConfig(epochs=1, batch_size=128, optimizer="adam", lr=1e-3, restore_best=False)


def epoch_seconds(data_dir: Path, seed: int, train_limit, device) -> dict[str, float]:
    """One training epoch of each model on the in-memory path (``EPOCH_CONFIG``, no augmentation), each with
    its library execution setting."""
    raw = datasets.load_dataset("mnist", data_dir)
    out = {}
    for name in SETTINGS_MODELS:
        splits = data.prepare_data(raw, val_size=0, image_size=models.model_input_size(name), seed=seed,
                                   train_limit=train_limit, device=device)
        model = training.seeded_model(name, seed, device=device)
        config = replace(EPOCH_CONFIG, seed=seed, execution=runtime.resolve(name, device))  # its library setting
        out[name] = training.fit(model, splits, config, progress=False).records[0].seconds
    return out


# --------------------------------------------------------------------------- execution settings


@dataclass(frozen=True)
class ExecSetting:
    """One row of the settings table: a name and the :class:`mnist_lib.runtime.ExecSettings` it runs
    with (threads always explicit)."""

    name: str
    settings: runtime.ExecSettings

    @property
    def threads(self) -> int:
        return self.settings.threads

    @property
    def channels_last(self) -> bool:
        return self.settings.memory_format == "channels_last"

    @property
    def channels_last_from(self) -> int:
        return self.settings.channels_last_from

    @property
    def compile(self) -> bool:
        return self.settings.compile

    @property
    def precision(self) -> str:
        return self.settings.precision

    @property
    def fused_optimizer(self) -> bool:
        return self.settings.fused_optimizer


# Partial channels_last rows: channels_last from the 2nd and from the 3rd convolution on (with the fused kernel).
PARTIAL_CHANNELS_LAST = 2


def exec_settings(thread_counts: list[int], default_threads: int, compile_models: bool) -> list[ExecSetting]:
    """Every combination of memory format (contiguous, channels_last) and optimizer kernel (default,
    fused) at the default thread count and at each other count, and channels_last from a later
    convolution on (the first ones in the default format) with the fused kernel; then torch.compile (unless
    ``compile_models`` is False) and bf16 autocast (measured, never chosen: precision is the user's call)."""
    E = runtime.ExecSettings
    rows = []
    for threads in [default_threads] + [t for t in thread_counts if t != default_threads]:
        suffix = "" if threads == default_threads else f", {plural(threads, 'thread')}"
        for fmt in ("contiguous", "channels_last"):
            for fused in (False, True):
                parts = [p for p, on in (("channels_last", fmt == "channels_last"), ("fused optimizer", fused)) if on]
                name = (" + ".join(parts) or "eager") + suffix
                rows.append(ExecSetting(name, E(memory_format=fmt, fused_optimizer=fused, threads=threads)))
        for first in range(1, PARTIAL_CHANNELS_LAST + 1):  # the first convolutions left in the default format
            settings = E(memory_format="channels_last", channels_last_from=first, fused_optimizer=True, threads=threads)
            rows.append(ExecSetting(runtime.setting_name(settings) + suffix, settings))
    if compile_models:
        rows.append(ExecSetting("torch.compile", E(compile=True, threads=default_threads)))
    rows.append(ExecSetting("bf16 autocast", E(precision="bf16", threads=default_threads)))
    return rows


intra_op_threads = runtime.intra_op_threads


@dataclass(frozen=True)
class ModelRecipe:
    """How a notebook trains a model by default (its parameters cell): what the settings table
    measures with, and how many images one full-profile run trains on."""

    notebook: str
    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    runs: int = 1  # 05 trains one MLP per optimizer

    @property
    def full_run_images(self) -> int:
        """Training images over one full-profile run: all training images but prepare_data's validation share."""
        val_share = inspect.signature(data.prepare_data).parameters["val_size"].default
        return self.epochs * self.runs * (datasets.TRAIN_SIZE - round(datasets.TRAIN_SIZE * val_share))


SETTINGS_MODELS = ("ann", "mlp", "lenet5", "cnn")


def model_recipe(name: str) -> ModelRecipe:
    """The recipe of ``name`` read from its notebook's parameters cell (05: Adam, the costliest step of its
    optimizers, at its learning rate, times the number of optimizers)."""
    notebook = catalogue.notebook_for_model(name).name
    defaults = cells.defaults(cells.notebook_path(notebook))
    if "optimizers" in defaults:
        optimizers = [o.strip() for o in str(defaults["optimizers"]).split(",") if o.strip()]
        optimizer = "adam" if "adam" in optimizers else optimizers[0]
        return ModelRecipe(notebook, optimizer, float(defaults["lr_per_optimizer"][optimizer]),
                           int(defaults["batch_size"]), int(defaults["epochs"]), runs=len(optimizers))
    return ModelRecipe(notebook, defaults["optimizer"], float(defaults["lr"]), int(defaults["batch_size"]),
                       int(defaults["epochs"]))


class SettingRunner:
    """One model under one execution setting: the library's own training step
    (:func:`mnist_lib.training.train_step`) and evaluation on pre-built random batches on the device.

    Building it runs (and for ``torch.compile``, compiles) the first training step and the first
    evaluation batch; ``compile_s`` is the wall time of those first calls.
    """

    def __init__(self, name: str, setting: ExecSetting, device: torch.device, batch_size: int, eval_batch: int,
                 seed: int, backend: str, recipe: ModelRecipe | None = None):
        self.setting, self.device, self.eval_batch = setting, device, eval_batch
        recipe = recipe or ModelRecipe("", "adam", 1e-3, batch_size, 1)
        size = models.model_input_size(name)
        generator = torch.Generator().manual_seed(seed)
        self.x = list(torch.randn(8, batch_size, 1, size, size, generator=generator).to(device))
        self.y = torch.randint(0, 10, (8, batch_size), generator=generator).to(device)
        self.x_eval = torch.randn(max(EVAL_BATCH_SIZES), 1, size, size, generator=generator).to(device)
        self.y_eval = torch.randint(0, 10, (len(self.x_eval),), generator=generator).to(device)
        torch.manual_seed(seed)
        self.model = models.build_model(name).to(device)
        runtime.prepare_model(self.model, setting.settings)
        self.config = training.TrainConfig(batch_size=batch_size, optimizer=recipe.optimizer, lr=recipe.lr,
                                           execution=setting.settings)
        self.optimizer = training.make_optimizer(recipe.optimizer, self.model.parameters(), recipe.lr,
                                                 fused=setting.settings.uses_fused(recipe.optimizer))
        self.forward = torch.compile(self.model, backend=backend) if setting.compile else self.model
        with self.threads():
            start = clock(device)
            self.train_step(0)
            self.evaluate(self.x_eval[:eval_batch], self.y_eval[:eval_batch])
            self.compile_s = clock(device) - start if setting.compile else None

    def threads(self):
        return intra_op_threads(self.setting.threads)

    def train_step(self, i: int) -> None:
        xb, yb = self.x[i % len(self.x)], self.y[i % len(self.y)]
        # As in fit: the step's outputs stay on the device, unread and unsummed (training.epoch_totals sums an epoch).
        self.last = training.train_step(self.model, self.forward, self.optimizer, None, xb, yb, self.config)

    def evaluate(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        training.evaluate(self.model, xb, yb, len(xb))

    def train_images_per_s(self, min_seconds: float, min_steps: int = 3) -> float:
        with self.threads():
            self.train_step(0)  # warm-up
            steps, start = 0, clock(self.device)
            while steps < min_steps or time.perf_counter() - start < min_seconds:
                self.train_step(steps)
                steps += 1
            return steps * len(self.y[0]) / (clock(self.device) - start)

    def eval_images_per_s(self, batch_size: int, min_seconds: float, min_batches: int = 2) -> float:
        chunks = list(zip(self.x_eval.split(batch_size), self.y_eval.split(batch_size)))
        with self.threads():
            self.evaluate(*chunks[0])  # warm-up
            done, images, start = 0, 0, clock(self.device)
            while done < min_batches or time.perf_counter() - start < min_seconds:
                xb, yb = chunks[done % len(chunks)]
                self.evaluate(xb, yb)
                images += len(xb)
                done += 1
            return images / (clock(self.device) - start)


@dataclass
class SettingsPlan:
    repeats: int
    min_seconds: float
    thread_counts: list[int]
    compile_backend: str
    eval_batch_sizes: tuple[int, ...] = EVAL_BATCH_SIZES
    eval_batch: int = runtime.DEFAULT_EVAL_BATCH
    margin: float = 1.05


def eager_row(threads: int, default_threads: int) -> str:
    return "eager" if threads == default_threads else f"eager, {plural(threads, 'thread')}"


def choose_setting(entry: dict, recipe: ModelRecipe, default_threads: int, margin: float,
                   device_type: str = "cpu", process_threads: int | None = None) -> dict:
    """The setting a model should run with by default in a process of ``process_threads`` intra-op
    threads (default: the default count), from its measured rows.

    The candidates are the rows that use no more threads than the process has; a row other than
    eager (at the process's threads) is chosen only if it trains at least ``margin`` times faster
    (beyond the noise of these machines) and saves time over one full-profile run of its notebook
    once its compile seconds are paid; bf16 is never chosen (it changes the arithmetic; the user
    asks for it). The evaluation batch is the fastest measured.
    """
    process_threads = process_threads or default_threads
    rows = entry["rows"]
    base = eager_row(process_threads, default_threads)
    eager = rows[base]["train_images_per_s_median"]
    images = recipe.full_run_images
    best, best_saved, best_speedup = base, 0.0, 1.0
    for name, row in rows.items():
        ips = row["train_images_per_s_median"]
        if name == base or ips is None or row["precision"] != "fp32" or row["threads"] > process_threads:
            continue
        speedup = ips / eager
        saved = images / eager - images / ips - (row["compile_s"] or 0.0)
        if speedup >= margin and saved > best_saved:
            best, best_saved, best_speedup = name, saved, speedup
    row = rows[best]
    threads = None if row["threads"] == process_threads else row["threads"]
    measured = runtime.Measured(memory_format="channels_last" if row["channels_last"] else "contiguous",
                                  channels_last_from=row.get("channels_last_from", 0),
                                  compile=row["compile"],
                                  eval_batch_size=int(entry["fastest_eval_batch"]),
                                  fused_optimizer=row.get("fused_optimizer", False),
                                  fused_for=(recipe.optimizer,) if recipe.optimizer in runtime.FUSED_OPTIMIZERS else ())
    return {"setting": best, "speedup": best_speedup, "seconds_saved_full_run": best_saved,
            "full_run_images": images, "memory_format": measured.memory_format,
            "channels_last_from": measured.channels_last_from, "compile": measured.compile,
            "threads": threads, "eval_batch_size": measured.eval_batch_size,
            "fused_optimizer": measured.fused_optimizer, "fused_for": list(measured.fused_for),
            "process_threads": process_threads,
            "library_default": _library_default(entry["name"], device_type, process_threads, measured)}


def _library_default(name: str, device_type: str, threads: int, measured: runtime.Measured) -> bool:
    """Whether mnist_lib's table (``runtime.MEASURED``) already holds this choice for the device."""
    entry = runtime.measured_default(name, device_type, threads)
    current = entry or runtime.Measured()
    fields = ("memory_format", "channels_last_from", "compile", "eval_batch_size", "fused_optimizer", "fused_for")
    return all(getattr(current, f) == getattr(measured, f) for f in fields)


def settings_table(plan: SettingsPlan, device: torch.device, seed: int, log) -> dict:
    """Training and evaluation images/s of every model under every execution setting, median of
    ``plan.repeats`` rounds; within a round every (model, setting) is measured once, in turn. Each
    model trains with its notebook's optimizer, learning rate and batch size."""
    default_threads = torch.get_num_threads()
    settings = exec_settings(plan.thread_counts, default_threads, compile_models=plan.compile_backend != "none")
    out: dict = {"device": device.type, "default_threads": default_threads, "repeats": plan.repeats,
                 "eval_batch_size": plan.eval_batch, "eval_batch_sizes": list(plan.eval_batch_sizes),
                 "min_seconds": plan.min_seconds, "margin": plan.margin,
                 "compile": {"mode": "default", "backend": plan.compile_backend}, "models": {}}
    runners: dict[tuple[str, str], SettingRunner] = {}
    recipes = {name: model_recipe(name) for name in SETTINGS_MODELS}
    for name in SETTINGS_MODELS:
        probe, recipe = models.build_model(name), recipes[name]
        entry = out["models"][name] = {"name": name, "parameters": models.count_parameters(probe),
                                       "input_size": models.model_input_size(name), "recipe": asdict(recipe),
                                       "rows": {}, "eval_by_batch": {}}
        for setting in settings:
            row = entry["rows"][setting.name] = {"threads": setting.threads, "channels_last": setting.channels_last,
                                                 "channels_last_from": setting.channels_last_from,
                                                 "compile": setting.compile, "precision": setting.precision,
                                                 "fused_optimizer": setting.fused_optimizer,
                                                 "train_images_per_s": [], "eval_images_per_s": [],
                                                 "compile_s": None, "note": None}
            convolutions = len(runtime.convolutions(probe))
            if setting.channels_last and not convolutions:
                row["note"] = "n/a: no convolutions"
                continue
            if setting.channels_last_from >= max(convolutions, 1):
                row["note"] = f"n/a: fewer than {setting.channels_last_from + 1} convolutions"
                continue
            try:
                runner = SettingRunner(name, setting, device, recipe.batch_size, plan.eval_batch, seed,
                                       plan.compile_backend, recipe)
            except Exception as exc:  # a compiler missing on this machine, say: recorded, not fatal
                row["note"] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                log(f"settings: {name} / {setting.name}: {row['note']}")
                continue
            row["compile_s"] = runner.compile_s
            runners[name, setting.name] = runner
        entry["eval_by_batch"] = {str(b): [] for b in plan.eval_batch_sizes}
    for rep in range(plan.repeats):
        for name in SETTINGS_MODELS:
            entry = out["models"][name]
            for setting in settings:
                runner = runners.get((name, setting.name))
                if runner is None:
                    continue
                row = entry["rows"][setting.name]
                row["train_images_per_s"].append(runner.train_images_per_s(plan.min_seconds))
                row["eval_images_per_s"].append(runner.eval_images_per_s(plan.eval_batch, plan.min_seconds))
            eager = runners[name, settings[0].name]
            for b in plan.eval_batch_sizes:
                entry["eval_by_batch"][str(b)].append(eager.eval_images_per_s(b, plan.min_seconds))
            log(f"[{rep + 1}/{plan.repeats}] settings {name}: " + ", ".join(
                f"{s}: {fmt(median(r['train_images_per_s']), ',.0f', '-')}" for s, r in entry["rows"].items()))
    for name, entry in out["models"].items():
        for row in entry["rows"].values():
            row["train_images_per_s_median"] = median(row["train_images_per_s"])
            row["eval_images_per_s_median"] = median(row["eval_images_per_s"])
        entry["eval_by_batch_median"] = {b: median(v) for b, v in entry["eval_by_batch"].items()}
        measured = {s: r for s, r in entry["rows"].items() if r["train_images_per_s_median"] is not None}
        entry["fastest_train"] = max(measured, key=lambda s: measured[s]["train_images_per_s_median"])
        entry["fastest_eval"] = max(measured, key=lambda s: measured[s]["eval_images_per_s_median"])
        entry["fastest_eval_batch"] = int(max(entry["eval_by_batch_median"], key=entry["eval_by_batch_median"].get))
        entry["chosen"] = [choose_setting(entry, recipes[name], default_threads, plan.margin, device.type, t)
                           for t in sorted({default_threads, *plan.thread_counts}, reverse=True)]
    return out


# --------------------------------------------------------------------------- driver


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def fmt(value, spec=".1f", none="not reached"):
    return none if value is None else format(value, spec)


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line naming the value and the choices, exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message}\n")


def parse_args(argv):
    parser = OneLineParser(prog="benchmarks/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--output", default="reports")
    parser.add_argument("--device", default="cpu", help=f"one of {', '.join(DEVICES)} (default cpu)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per measurement (median reported)")
    parser.add_argument("--train-limit", type=int, default=None,
                        help="train on a stratified subset of this many images (default: all 60,000); images/s and "
                             "overheads stay comparable, time to 99%% is then not expected")
    parser.add_argument("--canonical-epochs", type=int, default=8,
                        help="epochs the canonical recipe may take before it is called 'not reached' (default 8)")
    parser.add_argument("--pipelines", default=",".join(SECTIONS), help=f"sections to run, from {', '.join(SECTIONS)}")
    parser.add_argument("--threads", default="1,2", help="intra-op thread counts for the settings table (default 1,2)")
    parser.add_argument("--settings-seconds", type=float, default=1.0,
                        help="least seconds per settings measurement (default 1.0)")
    parser.add_argument("--compile-backend", default="inductor",
                        help="torch.compile backend for the settings table: inductor (default), eager (graph "
                             "capture only, for tests), or none")
    parser.add_argument("--smoke", action="store_true",
                        help=f"a smoke run for tests: {SMOKE_TRAIN_LIMIT} training and {SMOKE_TEST_LIMIT} test images, "
                             "one repeat, one epoch, short settings timings with the 'eager' compile backend; "
                             "no numbers to quote")
    args = parser.parse_args(argv)
    args.sections = [p.strip() for p in args.pipelines.split(",") if p.strip()]
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown or not args.sections:
        parser.error(f"--pipelines: unknown section {unknown[0] if unknown else '(none)'!r}; "
                     f"choose from {', '.join(SECTIONS)}")
    if args.device not in DEVICES:
        parser.error(f"--device: {args.device!r} is not one of {', '.join(DEVICES)}")
    for name in ("repeats", "canonical_epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: expected a whole number >= 1, got {getattr(args, name)}")
    if args.train_limit is not None and not 1000 <= args.train_limit <= 60000:
        parser.error(f"--train-limit: expected a whole number in [1000, 60000], got {args.train_limit}")
    if not args.settings_seconds > 0:
        parser.error(f"--settings-seconds: expected a positive number, got {args.settings_seconds}")
    try:
        args.thread_counts = sorted({int(t) for t in args.threads.split(",") if t.strip()})
    except ValueError:
        args.thread_counts = []
    if not args.thread_counts or min(args.thread_counts) < 1:
        parser.error(f"--threads: expected thread counts >= 1 joined by ',', got {args.threads!r}")
    if args.compile_backend not in ("inductor", "eager", "none"):
        parser.error(f"--compile-backend: {args.compile_backend!r} is not one of inductor, eager, none")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device cuda: no CUDA device is available here (torch {torch.__version__}"
                     f"{', built without CUDA' if torch.version.cuda is None else ''}); use --device cpu")
    args.limits = (args.train_limit, None)
    if args.smoke:
        args.limits = (SMOKE_TRAIN_LIMIT, SMOKE_TEST_LIMIT)
        args.repeats, args.settings_seconds = 1, 0.02
        args.compile_backend = "eager" if args.compile_backend == "inductor" else args.compile_backend
    return args


def run_recipe_pipelines(args, device, data_dir: Path, log) -> dict:
    """floor, in_memory, dataloader and canonical, as many of them as asked, interleaved per repeat."""
    limits = args.limits
    recipe = Recipe(device_type=device.type)
    threads = recipe.train_config(0).execution.threads
    max_epochs = 1 if args.smoke else recipe.epochs  # the recipe stops at the end of its one-cycle schedule
    canonical_epochs = 1 if args.smoke else args.canonical_epochs
    chosen = [s for s in ("floor", *RECIPE_PIPELINES) if s in args.sections]
    out: dict = {"recipe": recipe.describe(), "canonical": {**CANONICAL, "epochs_allowed": canonical_epochs}}
    floor_splits, _ = prepare_in_memory(data_dir, recipe, 0, limits, device)
    if "dataloader" in chosen:
        train_tf, test_tf = recipe_transforms(recipe, floor_splits.mean, floor_splits.std)
        train, _, _ = load_torchvision(data_dir, train_tf, test_tf, limits, 0)
        steps, rounds = (3, 1) if args.smoke else (60, 2)
        setting, out["dataloader_calibration"] = calibrate_loader(train, recipe, 0, device, steps, rounds)
        log(f"dataloader: fastest setting {setting.label()} ({out['dataloader_calibration']['images_per_s_median']})")
    runners = {
        "floor": lambda rep: run_floor(floor_splits, recipe, rep, device),
        "in_memory": lambda rep: run_in_memory(data_dir, recipe, rep, max_epochs, limits, device),
        "dataloader": lambda rep: run_dataloader(data_dir, recipe, rep, max_epochs, limits, device, setting,
                                                 floor_splits.mean, floor_splits.std),
        "canonical": lambda rep: run_canonical(data_dir, rep, canonical_epochs, limits, device),
    }
    runs: dict[str, list[dict]] = {name: [] for name in chosen}
    for rep in range(args.repeats):
        for name in chosen:  # interleaved, so drift in machine load hits every pipeline alike
            with runtime.intra_op_threads(threads if name != "canonical" else None):
                result = runners[name](rep)
            runs[name].append(result)
            log(f"[{rep + 1}/{args.repeats}] {name:10s} {describe_run(result)}")
    out["pipelines"] = {}
    for name, results in runs.items():
        keys = results[0].keys()
        summary = {key: [r[key] for r in results] for key in keys}
        summary.update({f"{key}_median": median(summary[key]) for key in keys if key != "accuracy_by_epoch"})
        if "time_to_99_s" in summary and None in summary["time_to_99_s"]:
            summary["time_to_99_s_median"] = None  # a repeat that never got there: no median to quote
        summary["repeats"] = args.repeats
        out["pipelines"][name] = summary
    if "dataloader" in chosen:
        out["pipelines"]["dataloader"]["setting"] = setting.label()
    out["parameters"] = {"cnn": models.count_parameters(models.build_model("cnn")),
                         "canonical": models.count_parameters(CanonicalNet())}
    return out


def describe_run(result: dict) -> str:
    text = f"{result['images_per_s']:,.0f} images/s"
    if "accuracy_by_epoch" not in result:
        return text
    t = result["time_to_99_s"]
    return (text + f", time to 99% {'not reached' if t is None else f'{t:.1f} s'}, preparation "
            f"{result['preparation_s']:.2f} s, test accuracy by epoch "
            f"{[round(a * 100, 2) for a in result['accuracy_by_epoch']]}")


def derived(record: dict) -> dict:
    """Ratios and overheads from whatever pipelines the record holds."""
    p = record.get("pipelines", {})

    def get(name, key):
        return p.get(name, {}).get(key)

    ours = get("in_memory", "time_to_99_s_median")
    floor = get("floor", "images_per_s_median")
    out = {"cnn_time_to_99_s": ours, "overhead_vs_floor_percent": {}}
    for name in ("dataloader", "canonical"):
        other = get(name, "time_to_99_s_median")
        out[f"ratio_vs_{name}"] = None if ours is None or other is None else other / ours
        # When a baseline never got there: its training seconds so far over ours, a lower bound.
        out[f"ratio_vs_{name}_lower_bound"] = (get(name, "seconds_run_median") / ours
                                               if ours is not None and name in p and other is None else None)
    for name in ("in_memory", "dataloader"):
        ips = get(name, "images_per_s_median")
        out["overhead_vs_floor_percent"][name] = None if floor is None or ips is None else (floor / ips - 1) * 100
    ips_ours, ips_dl = get("in_memory", "images_per_s_median"), get("dataloader", "images_per_s_median")
    out["images_per_s_ratio_vs_dataloader"] = None if ips_ours is None or ips_dl is None else ips_ours / ips_dl
    return out


def load_average() -> float | None:
    """The machine's 1-minute load average (runnable processes), where the system reports one."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def load_text(r: dict, section: str) -> str:
    """One sentence on how busy the machine was around a section, from the record."""
    load = r.get("load_average", {}).get(section)
    if not load or load["before"] is None:
        return ""
    text = (f" Machine load average (1 min): {load['before']:.1f} before, {load['after']:.1f} after, "
            f"on {load['cores']} cores.")
    if max(load["before"], load["after"]) > load["cores"]:
        text += " More runnable work than cores: other processes competed for the CPU, so the numbers are noisy."
    return text


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    data_dir, out_dir = Path(args.data_dir), Path(args.output)

    def log(message):
        print(message, file=sys.stderr, flush=True)

    try:
        datasets.ensure_dataset("mnist", data_dir, progress=False)
    except datasets.DatasetUnavailableError as exc:
        print(f"benchmarks/run.py: --data-dir {str(data_dir)!r}: {exc}", file=sys.stderr)
        return 2
    previous_file = out_dir / "benchmarks.json"
    record: dict = {}
    if set(args.sections) != set(SECTIONS) and previous_file.exists():
        old = json.loads(previous_file.read_text())
        same = {"smoke": args.smoke, "device": args.device, "train_limit": args.limits[0], "test_limit": args.limits[1]}
        if all(old.get(k) == v for k, v in same.items()):
            record = old  # a partial run updates its sections of the last record made the same way
    record.update({"target_accuracy": TARGET, "smoke": args.smoke, "device": args.device,
                   "train_limit": args.limits[0], "test_limit": args.limits[1]})
    loads = record.setdefault("load_average", {})
    if any(s in args.sections for s in ("floor", *RECIPE_PIPELINES)):
        before = load_average()
        fresh = run_recipe_pipelines(args, device, data_dir, log)
        record["pipelines"] = {**record.get("pipelines", {}), **fresh.pop("pipelines")}
        record.update(fresh)
        loads["pipelines"] = {"before": before, "after": load_average(), "cores": os.cpu_count()}
    if "model_epochs" in args.sections:
        before = load_average()
        epochs = [epoch_seconds(data_dir, rep, args.limits[0], device) for rep in range(args.repeats)]
        record["epoch_seconds"] = {name: median([e[name] for e in epochs]) for name in epochs[0]}
        record["epoch_config"] = {"batch_size": EPOCH_CONFIG.batch_size, "optimizer": EPOCH_CONFIG.optimizer,
                                  "lr": EPOCH_CONFIG.lr, "repeats": args.repeats, "train_limit": args.limits[0]}
        loads["model_epochs"] = {"before": before, "after": load_average(), "cores": os.cpu_count()}
    if "settings" in args.sections:
        before = load_average()
        plan = SettingsPlan(repeats=args.repeats, min_seconds=args.settings_seconds, thread_counts=args.thread_counts,
                            compile_backend=args.compile_backend,
                            eval_batch_sizes=(250, 2000) if args.smoke else EVAL_BATCH_SIZES)
        record["settings"] = settings_table(plan, device, 0, log)
        loads["settings"] = {"before": before, "after": load_average(), "cores": os.cpu_count()}
    record.update(derived(record))
    build_file = out_dir / "build.json"
    build = json.loads(build_file.read_text()) if build_file.exists() else {}
    record["build"] = build or None
    record["full_build_s"] = build.get("seconds") if build.get("profile") == "full" else None
    record["environment"] = reports.provenance(args.device)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "benchmarks.json", record)
    table = markdown(record)
    atomic_write_text(out_dir / "benchmarks.md", table)
    if build_file.exists():
        refresh_index(out_dir)  # so the index links the benchmark results
    print(table)
    return 0


# --------------------------------------------------------------------------- markdown


def markdown(r: dict) -> str:
    env = r["environment"]
    lines = [f"# Benchmarks ({'smoke run, not for quoting' if r['smoke'] else 'measured'}; device {r['device']}, "
             f"{env.get('cpu')}, {env.get('torch_threads')} torch threads)", ""]
    if r.get("pipelines"):
        lines += pipelines_markdown(r)
    if r.get("epoch_seconds"):
        c = r["epoch_config"]
        lines += ["", f"## One epoch of `training.fit` per model (in-memory path, "
                  f"{c.get('train_limit') or 60000:,} training images, batch {c['batch_size']}, "
                  f"{c['optimizer']} lr {c['lr']:g}, no augmentation; median of {c['repeats']})", "",
                  load_text(r, "model_epochs").strip(), "",
                  "| model | seconds / epoch |", "| --- | --- |"]
        lines += [f"| {k} | {v:.2f} |" for k, v in r["epoch_seconds"].items()]
    if r.get("settings"):
        lines += settings_markdown(r["settings"], load_text(r, "settings").strip())
    build = r.get("build")
    if build:
        lines += ["", f"## Last report build ({build.get('profile')} profile)", "",
                  f"{build.get('seconds', 0):.0f} s wall, peak memory {build.get('peak_rss_mb')} MB", "",
                  "| notebook | seconds | status |", "| --- | --- | --- |"]
        lines += [f"| {k} | {v['seconds']:.1f} | {v['status']} |" for k, v in build.get("runs", {}).items()]
    return "\n".join(lines) + "\n"


def _aug_text(aug: dict | None) -> str:
    if not aug:
        return "no augmentation"
    return (f"rotation ±{aug['rotation']:g}°, shift ±{aug['translate']:.0%}, zoom {aug['scale'][0]:g}–"
            f"{aug['scale'][1]:g}, shear ±{aug['shear']:g}° (bilinear), brightness ±{aug['brightness']:.0%}, "
            f"contrast ±{aug['contrast']:.0%}")


def pipelines_markdown(r: dict) -> list[str]:
    p, rec, can = r["pipelines"], r["recipe"], r["canonical"]
    params = r["parameters"]
    labels = {
        "floor": ("compute floor: the CNN's forward + backward + step on pre-built tensors, no data pipeline",
                  f"CNN ({params['cnn']:,})"),
        "in_memory": ("in-memory tensors + batch augmentation (mnist_lib)", f"CNN ({params['cnn']:,})"),
        "dataloader": (f"torchvision Dataset + DataLoader, per-sample PIL transforms "
                       f"({p.get('dataloader', {}).get('setting', '')})", f"CNN ({params['cnn']:,})"),
        "canonical": ("canonical PyTorch example: its recipe and its model (a recipe-and-model comparison)",
                      f"CanonicalNet ({params['canonical']:,})"),
    }
    overheads = r.get("overhead_vs_floor_percent", {})
    lines = [f"## CNN training: pipelines against the compute floor (median of "
             f"{max(v.get('repeats', 1) for v in p.values())})", "",
             f"Recipe ({rec['source']}): {rec['optimizer']} lr {rec['lr']:g}, {rec['scheduler']} schedule, batch "
             f"{rec['batch_size']}, {rec['normalization']} normalization, {_aug_text(rec['augment'])}; the floor "
             f"and both pipelines run the CNN with its library setting ({rec.get('execution', 'eager')}). "
             f"The canonical example: {can['optimizer']} lr {can['lr']:g}, {can['scheduler']} gamma {can['gamma']:g}, "
             f"batch {can['batch_size']}, no augmentation, up to {plural(can['epochs_allowed'], 'epoch')}.", "",
             f"Training seconds to {r['target_accuracy']:.0%} test accuracy exclude evaluation; preparation is the "
             "one-off reading of the files into tensors or datasets. "
             + _data_text(r.get("train_limit"), r.get("test_limit")) + load_text(r, "pipelines"), "",
             "| pipeline | model (parameters) | preparation (s) | training to 99% (s) | images/s "
             "| overhead over the floor | time ratio vs in-memory |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name in ("floor", *RECIPE_PIPELINES):
        if name not in p:
            continue
        row = p[name]
        label, model = labels[name]
        if name == "floor":
            prep, t, overhead, ratio = "none", "-", "0% (reference)", "-"
        else:
            prep, t = f"{row['preparation_s_median']:.2f}", fmt(row["time_to_99_s_median"])
            o = overheads.get(name)
            overhead = "n/a (another model)" if name == "canonical" else ("n/a" if o is None else f"{o:+.0f}%")
            ratio = _ratio_text(r, name, row)
        lines.append(f"| {label} | {model} | {prep} | {t} | {row['images_per_s_median']:,.0f} | {overhead} | {ratio} |")
    cal = r.get("dataloader_calibration")
    if cal and "dataloader" in p:
        lines += ["", f"DataLoader settings tried (training images/s over {cal['steps']} batches after a warm-up, "
                  f"median of {cal['rounds']}); the fastest is used above:", "",
                  "| setting | images/s |", "| --- | --- |"]
        lines += [f"| {k}{' (chosen)' if k == cal['chosen'] else ''} | {v:,.0f} |"
                  for k, v in cal["images_per_s_median"].items()]
    return lines


def _data_text(train_limit, test_limit) -> str:
    if train_limit is None and test_limit is None:
        return "All 60,000 training and 10,000 test images."
    return (f"On a stratified subset of {train_limit or 60000:,} training and {test_limit or 10000:,} test images: "
            "images/s and overheads compare, time to 99% is not expected.")


def _ratio_text(r: dict, name: str, row: dict) -> str:
    if name == "in_memory":
        return "1.0 (baseline)"
    if r.get(f"ratio_vs_{name}") is not None:
        return f"{r[f'ratio_vs_{name}']:.1f}x"
    if r.get(f"ratio_vs_{name}_lower_bound") is not None:
        return f"> {r[f'ratio_vs_{name}_lower_bound']:.1f}x (not reached in {row['seconds_run_median']:.0f} s)"
    return "n/a"


def settings_markdown(s: dict, load: str = "") -> list[str]:
    backend = s["compile"]["backend"]
    lines = ["", f"## Execution settings per model ({s['device']}; the library's training step on pre-built random "
             f"tensors, each model with its notebook's optimizer, learning rate and batch size; evaluation in batches "
             f"of {s['eval_batch_size']:,} under inference_mode; median of {s['repeats']} interleaved rounds, at least "
             f"{s['min_seconds']:g} s each; default {s['default_threads']} intra-op threads)", "", load, "",
             "| model (recipe) | setting | threads | training images/s | vs eager | evaluation images/s | vs eager "
             "| compile (s) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, entry in s["models"].items():
        eager = entry["rows"]["eager"]
        r = entry.get("recipe") or {}
        model = f"{name} ({r['optimizer']}, batch {r['batch_size']})" if r else name
        for setting, row in entry["rows"].items():
            label = setting + (f" (backend {backend})" if row["compile"] and backend != "inductor" else "")
            if row["train_images_per_s_median"] is None:
                lines.append(f"| {model} | {label} | {row['threads']} | {row['note']} | | | | |")
                continue
            marks = [m for m, key in (("fastest training", "fastest_train"), ("fastest evaluation", "fastest_eval"))
                     if entry[key] == setting]
            lines.append(
                f"| {model} | {label}{' (' + ', '.join(marks) + ')' if marks else ''} | {row['threads']} "
                f"| {row['train_images_per_s_median']:,.0f} "
                f"| {row['train_images_per_s_median'] / eager['train_images_per_s_median']:.2f}x "
                f"| {row['eval_images_per_s_median']:,.0f} "
                f"| {row['eval_images_per_s_median'] / eager['eval_images_per_s_median']:.2f}x "
                f"| {fmt(row['compile_s'], '.1f', '-')} |")
    sizes = s["eval_batch_sizes"]
    lines += ["", "Evaluation images/s by batch size (eager, default threads):", "",
              "| model | " + " | ".join(str(b) for b in sizes) + " | fastest |",
              "| --- | " + " | ".join("---" for _ in sizes) + " | --- |"]
    for name, entry in s["models"].items():
        lines.append(f"| {name} | " + " | ".join(f"{entry['eval_by_batch_median'][str(b)]:,.0f}" for b in sizes)
                     + f" | {entry['fastest_eval_batch']} |")
    chosen = {name: entry["chosen"] for name, entry in s["models"].items() if entry.get("chosen")}
    if chosen:
        chosen = {(name, c["process_threads"]): c for name, choices in chosen.items() for c in choices}
        lines += ["", f"Chosen per model: a setting other than eager only where it trains at least "
                  f"{s.get('margin', 1.05):.2f}x faster and, its compile seconds paid, saves time over one full-profile "
                  "run of the notebook; bf16 is never chosen (precision is the user's choice). The library's table "
                  "(`mnist_lib.runtime.MEASURED`) takes these after the full series confirms the accuracy.", "",
                  "| model | process threads | chosen | training speed-up over eager | seconds saved per full run "
                  "| evaluation batch | in the library's table |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for (name, threads), c in chosen.items():
            lines.append(f"| {name} | {threads} | {c['setting']} | {c['speedup']:.2f}x | {c['seconds_saved_full_run']:.0f} "
                         f"({c['full_run_images']:,} images) | {c['eval_batch_size']:,} "
                         f"| {'yes' if c['library_default'] else 'no'} |")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())

"""Speed benchmark: measured side by side in one run, repeated, reported as medians
and ratios to the baselines (these machines are noisy; ratios travel better).

What it measures:
- time-to-99% test accuracy of the CNN through three pipelines:
  ``in_memory``   mnist_lib: uint8 tensors loaded once, batches by index, augmentation on whole batches;
  ``dataloader``  the same CNN and recipe through torchvision's Dataset + DataLoader, per-sample PIL transforms;
  ``canonical``   a re-implementation of the canonical PyTorch MNIST example's recipe (two conv layers 32/64,
                  Adadelta lr 1.0, StepLR 0.7, batch 64, per-sample ToTensor + Normalize);
- training images/s of each pipeline, and epoch seconds of every model on the in-memory path;
- wall seconds per notebook and peak memory of the last report build (reports/build.json), if there is one.

Writes ``<output>/benchmarks.json`` and ``<output>/benchmarks.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mnist_lib import data, models, reports, training  # noqa: E402

TARGET = 0.99
PIPELINES = ("in_memory", "dataloader", "canonical")


@dataclass(frozen=True)
class Recipe:
    """The CNN recipe timed through every pipeline but the canonical one (the 04 notebook's, shortened)."""

    epochs: int = 3
    batch_size: int = 128
    lr: float = 5e-3
    augment: data.Augmentation = data.Augmentation(rotation=10, translate=0.1, scale=(0.9, 1.1), shear=5,
                                                   brightness=0.2, contrast=0.2)


# --------------------------------------------------------------------------- the three pipelines


def run_in_memory(raw: data.MnistRaw, recipe: Recipe, seed: int, max_epochs: int, train_limit=None):
    """mnist_lib's path. Returns (train seconds to target or None, images/s, per-epoch test accuracies)."""
    splits = data.prepare_data(raw, val_size=0, normalization="half", seed=seed, train_limit=train_limit)
    model = training.seeded_model("cnn", seed)
    config = training.TrainConfig(epochs=recipe.epochs, batch_size=recipe.batch_size, optimizer="adam", lr=recipe.lr,
                                  scheduler="onecycle", augment=recipe.augment, seed=seed, restore_best=False)
    # No validation split here: the test split is measured per epoch through the callback.
    accs, elapsed = [], []

    def on_epoch_end(record, m):
        elapsed.append(record.seconds)
        accs.append(training.evaluate(m, splits.x_test, splits.y_test).accuracy)
        return accs[-1] >= TARGET or len(accs) >= max_epochs

    training.fit(model, splits, config, progress=False, on_epoch_end=on_epoch_end)
    return _time_to_target(elapsed, accs), len(splits.y_train) * len(elapsed) / sum(elapsed), accs, sum(elapsed)


def _time_to_target(seconds: list[float], accs: list[float]) -> float | None:
    total = 0.0
    for s, a in zip(seconds, accs):
        total += s
        if a >= TARGET:
            return total
    return None


def _evaluate_loader(model, loader) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    model.train()
    return correct / total


def _subset(dataset, limit, seed):
    if limit is None:
        return dataset
    idx = data.stratified_subset(dataset.targets.numpy(), limit, seed)
    return torch.utils.data.Subset(dataset, idx.tolist())


def run_dataloader(data_dir: Path, recipe: Recipe, seed: int, max_epochs: int, train_limit=None):
    """The same CNN and recipe through torchvision's Dataset + DataLoader with per-sample PIL transforms."""
    from torchvision import datasets, transforms

    aug = recipe.augment
    train_tf = transforms.Compose([
        transforms.RandomAffine(degrees=aug.rotation, translate=(aug.translate, aug.translate), scale=aug.scale,
                                shear=aug.shear),
        transforms.ColorJitter(brightness=aug.brightness, contrast=aug.contrast),
        transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,)),
    ])
    test_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    train = _subset(datasets.MNIST(str(data_dir), train=True, download=False, transform=train_tf), train_limit, seed)
    test = datasets.MNIST(str(data_dir), train=False, download=False, transform=test_tf)
    training.seed_everything(seed)
    model = models.build_model("cnn")
    generator = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(train, batch_size=recipe.batch_size, shuffle=True, generator=generator)
    test_loader = torch.utils.data.DataLoader(test, batch_size=1000)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, pct_start=0.25,
                                                    total_steps=recipe.epochs * len(loader))
    return _loader_loop(model, loader, test_loader, optimizer, scheduler, max_epochs, per_step=True,
                        loss=F.nll_loss)


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


def run_canonical(data_dir: Path, seed: int, max_epochs: int, train_limit=None):
    """The canonical example's recipe, re-implemented: Adadelta lr 1.0, StepLR gamma 0.7, batch 64."""
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train = _subset(datasets.MNIST(str(data_dir), train=True, download=False, transform=tf), train_limit, seed)
    test = datasets.MNIST(str(data_dir), train=False, download=False, transform=tf)
    training.seed_everything(seed)
    model = CanonicalNet()
    loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed))
    test_loader = torch.utils.data.DataLoader(test, batch_size=1000)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    return _loader_loop(model, loader, test_loader, optimizer, scheduler, max_epochs, per_step=False,
                        loss=F.nll_loss)


def _loader_loop(model, loader, test_loader, optimizer, scheduler, max_epochs, per_step, loss):
    seconds, accs, images = [], [], 0
    model.train()
    for _ in range(max_epochs):
        start = time.perf_counter()
        for x, y in loader:
            optimizer.zero_grad()
            loss(model(x), y).backward()
            optimizer.step()
            if per_step:
                scheduler.step()
            images += len(y)
        if not per_step:
            scheduler.step()
        seconds.append(time.perf_counter() - start)
        accs.append(_evaluate_loader(model, test_loader))
        if accs[-1] >= TARGET:
            break
    return _time_to_target(seconds, accs), images / sum(seconds), accs, sum(seconds)


# --------------------------------------------------------------------------- per-model epoch seconds


def epoch_seconds(raw: data.MnistRaw, seed: int, train_limit=None) -> dict[str, float]:
    """One training epoch of each model on the in-memory path (batch 128, Adam)."""
    out = {}
    for name in ("ann", "mlp", "lenet5", "cnn"):
        size = models.model_input_size(name)
        splits = data.prepare_data(raw, val_size=0, image_size=size, seed=seed, train_limit=train_limit)
        model = training.seeded_model(name, seed)
        history = training.fit(model, splits, training.TrainConfig(epochs=1, batch_size=128, seed=seed,
                                                                   restore_best=False), progress=False)
        out[name] = history.records[0].seconds
    return out


# --------------------------------------------------------------------------- driver


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, spec=".1f", none="not reached"):
    return none if value is None else format(value, spec)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--output", default="reports")
    parser.add_argument("--repeats", type=int, default=3, help="timings per measurement (median reported)")
    parser.add_argument("--canonical-epochs", type=int, default=8,
                        help="epochs the canonical recipe may take before it is called 'not reached' (default 8)")
    parser.add_argument("--pipelines", default=",".join(PIPELINES), help=f"subset of {', '.join(PIPELINES)}")
    parser.add_argument("--quick", action="store_true", help="a small subset and one repeat (tests only; no targets)")
    args = parser.parse_args(argv)
    chosen = [p.strip() for p in args.pipelines.split(",") if p.strip()]
    if args.repeats < 1 or args.canonical_epochs < 1 or not chosen or set(chosen) - set(PIPELINES):
        parser.error(f"--repeats and --canonical-epochs must be >= 1; --pipelines from {', '.join(PIPELINES)}")
    train_limit = 2000 if args.quick else None
    repeats = 1 if args.quick else args.repeats
    # The recipe pipelines stop at the end of their one-cycle schedule.
    max_epochs = 1 if args.quick else Recipe().epochs
    canonical_epochs = 1 if args.quick else args.canonical_epochs
    data_dir = Path(args.data_dir)
    raw = data.load_mnist(data_dir)
    recipe = Recipe()
    results = {name: {"time_to_99_s": [], "seconds_run": [], "images_per_s": [], "accuracy_by_epoch": []}
               for name in chosen}
    runners = {"in_memory": lambda rep: run_in_memory(raw, recipe, rep, max_epochs, train_limit),
               "dataloader": lambda rep: run_dataloader(data_dir, recipe, rep, max_epochs, train_limit),
               "canonical": lambda rep: run_canonical(data_dir, rep, canonical_epochs, train_limit)}
    for rep in range(repeats):
        # Interleaved, so drift in machine load hits every pipeline alike.
        for name in chosen:
            t, ips, accs, seconds_run = runners[name](rep)
            results[name]["time_to_99_s"].append(t)
            results[name]["seconds_run"].append(seconds_run)
            results[name]["images_per_s"].append(ips)
            results[name]["accuracy_by_epoch"].append(accs)
            print(f"[{rep + 1}/{repeats}] {name:10s} time-to-99 {fmt(t)} s, {ips:,.0f} images/s, "
                  f"test accuracy by epoch {[round(a * 100, 2) for a in accs]}", file=sys.stderr)
    summary = {name: {"time_to_99_s_median": median(r["time_to_99_s"]) if None not in r["time_to_99_s"] else None,
                      "seconds_run_median": median(r["seconds_run"]),
                      "images_per_s_median": median(r["images_per_s"]), **r} for name, r in results.items()}
    ours = summary.get("in_memory", {}).get("time_to_99_s_median")

    def ratio(name):
        other = summary.get(name, {}).get("time_to_99_s_median")
        return None if ours is None or other is None else other / ours

    def ratio_lower_bound(name):
        """When a baseline never got there: its training seconds so far over ours, a lower bound."""
        if ours is None or name not in summary or summary[name]["time_to_99_s_median"] is not None:
            return None
        return summary[name]["seconds_run_median"] / ours

    epochs = [epoch_seconds(raw, rep, train_limit) for rep in range(repeats)] if "in_memory" in chosen else [{}]
    epoch_median = {name: median([e[name] for e in epochs]) for name in epochs[0]}
    previous = Path(args.output) / "benchmarks.json"
    if set(chosen) != set(PIPELINES) and previous.exists():
        # A partial run (say --pipelines canonical) updates those rows of the last full record.
        old = json.loads(previous.read_text())
        summary = {**old.get("pipelines", {}), **summary}
        epoch_median = epoch_median or old.get("epoch_seconds", {})
        ours = summary.get("in_memory", {}).get("time_to_99_s_median")
    build = {}
    build_file = Path(args.output) / "build.json"
    if build_file.exists():
        build = json.loads(build_file.read_text())
    record = {
        "target_accuracy": TARGET, "repeats": repeats, "quick": args.quick, "recipe": {
            "epochs": recipe.epochs, "batch_size": recipe.batch_size, "lr": recipe.lr, "optimizer": "adam",
            "scheduler": "onecycle", "augment": recipe.augment.__dict__},
        "cnn_time_to_99_s": ours,
        "ratio_vs_dataloader": ratio("dataloader"),
        "ratio_vs_canonical": ratio("canonical"),
        "ratio_vs_dataloader_lower_bound": ratio_lower_bound("dataloader"),
        "ratio_vs_canonical_lower_bound": ratio_lower_bound("canonical"),
        "images_per_s_ratio_vs_dataloader": (summary["in_memory"]["images_per_s_median"]
                                             / summary["dataloader"]["images_per_s_median"])
        if {"in_memory", "dataloader"} <= set(summary) else None,
        "pipelines": summary,
        "epoch_seconds": epoch_median,
        "full_build_s": build.get("seconds") if build.get("profile") == "full" else None,
        "build": build or None,
        "environment": reports.provenance("cpu"),
    }
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    reports.atomic_write_text(out / "benchmarks.json", reports.to_json(record))
    table = markdown_table(record)
    reports.atomic_write_text(out / "benchmarks.md", table)
    if (out / "build.json").exists():
        reports.refresh_index(out)  # so the index links the benchmark results
    print(table)
    return 0


def markdown_table(r: dict) -> str:
    p = r["pipelines"]
    lines = [
        f"# Benchmarks ({'quick, not for targets' if r['quick'] else 'full'}; median of {r['repeats']})", "",
        f"CNN time to {r['target_accuracy']:.0%} test accuracy (training seconds, evaluation excluded):", "",
        "| pipeline | time to 99% (s) | images/s | ratio (time, vs in-memory) |",
        "| --- | --- | --- | --- |",
    ]
    for name, label in (("in_memory", "in-memory tensors + batch augmentation (mnist_lib)"),
                        ("dataloader", "torchvision Dataset + DataLoader, per-sample PIL transforms"),
                        ("canonical", "canonical PyTorch example recipe (re-implemented)")):
        if name not in p:
            continue
        key = {"dataloader": "ratio_vs_dataloader", "canonical": "ratio_vs_canonical"}.get(name)
        if key is None:
            ratio = "1.0 (baseline)"
        elif r[key] is not None:
            ratio = f"{r[key]:.1f}x"
        elif r[key + "_lower_bound"] is not None:
            ratio = f"> {r[key + '_lower_bound']:.1f}x (not reached in {p[name]['seconds_run_median']:.0f} s)"
        else:
            ratio = "n/a"
        lines.append(f"| {label} | {fmt(p[name]['time_to_99_s_median'])} | {p[name]['images_per_s_median']:,.0f} "
                     f"| {ratio} |")
    lines += ["", "Epoch seconds on the in-memory path (batch 128, Adam):", "", "| model | seconds / epoch |",
              "| --- | --- |"]
    lines += [f"| {k} | {v:.2f} |" for k, v in r["epoch_seconds"].items()]
    build = r.get("build")
    if build:
        lines += ["", f"Last report build ({build.get('profile')} profile): {build.get('seconds', 0):.0f} s wall, "
                  f"peak memory {build.get('peak_rss_mb')} MB", "", "| notebook | seconds | status |", "| --- | --- | --- |"]
        lines += [f"| {k} | {v['seconds']:.1f} | {v['status']} |" for k, v in build.get("runs", {}).items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())

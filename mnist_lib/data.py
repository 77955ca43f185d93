"""Data in memory: the dataset as tensors, stratified splits, normalization and batches
(batch augmentation is :mod:`mnist_lib.augment`).

Where the files come from and how they are verified is :mod:`mnist_lib.datasets`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from mnist_lib.choices import NORMALIZATIONS
from mnist_lib.datasets import RawDataset, ensure_dataset

RESIZE_MODES = ("pad", "resize")


# --------------------------------------------------------------------------- tensors


def stratified_subset(labels: torch.Tensor | np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of a seeded subset of ``size`` with every class in proportion (sorted)."""
    labels = np.asarray(labels)
    n = len(labels)
    if not 0 < size <= n:
        raise ValueError(f"subset size must be between 1 and {n}, got {size}")
    if size == n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    # Largest-remainder apportionment keeps the total exact and every share proportional.
    exact = counts * size / n
    quota = np.floor(exact).astype(int)
    remainder_order = np.argsort(-(exact - quota), kind="stable")
    quota[remainder_order[: size - quota.sum()]] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(chosen))


def to_unit_float(images: torch.Tensor, image_size: int = 28, resize_mode: str = "pad") -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, S, S) in [0, 1], padded or resized to ``image_size``."""
    if resize_mode not in RESIZE_MODES:
        raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {resize_mode!r}")
    x = images.to(torch.float32).div_(255.0).unsqueeze(1)
    if image_size == x.shape[-1]:
        return x
    if image_size < x.shape[-1]:
        raise ValueError(f"image_size must be >= {x.shape[-1]}, got {image_size}")
    if resize_mode == "pad":
        total = image_size - x.shape[-1]
        return F.pad(x, (total // 2, total - total // 2, total // 2, total - total // 2))
    return F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)


def normalization_stats(normalization: str, train_unit: torch.Tensor) -> tuple[float, float]:
    """(mean, std) to subtract and divide by, for values in [0, 1]."""
    if normalization == "dataset":
        return float(train_unit.mean()), float(train_unit.std())
    if normalization == "half":
        return 0.5, 0.5
    if normalization == "none":
        return 0.0, 1.0
    if normalization == "raw":
        return 0.0, 1.0 / 255.0
    raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")


@dataclass
class DataSplits:
    """Train / validation / test tensors, normalized, on one device.

    Images are float32 (N, 1, S, S) already normalized with ``(x - mean) / std``
    where x is in [0, 1]; labels are int64. ``*_index`` map rows back to the
    original training or test set.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    train_index: np.ndarray
    val_index: np.ndarray
    test_index: np.ndarray
    mean: float
    std: float
    normalization: str
    image_size: int
    seed: int
    info: dict = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def to(self, device: str | torch.device) -> "DataSplits":
        """A copy with every tensor on ``device``."""
        moved = {k: getattr(self, k).to(device) for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
        return DataSplits(**{**self.__dict__, **moved})

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Back to [0, 1] pixel values (for display and augmentation)."""
        return x * self.std + self.mean

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "validation": len(self.y_val), "test": len(self.y_test)}

    def describe(self):
        """A table of split sizes, shapes, dtypes and value ranges."""
        import pandas as pd

        rows = []
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            rows.append({
                "split": {"val": "validation"}.get(split, split), "images": len(y), "shape": tuple(x.shape[1:]),
                "dtype": str(x.dtype).replace("torch.", ""), "min": float(x.min()), "max": float(x.max()),
                "mean": float(x.mean()), "std": float(x.std()), "classes": int(y.unique().numel()),
            })
        return pd.DataFrame(rows).set_index("split")


def prepare_data(raw: RawDataset, *, val_size: int | float = 1 / 12, seed: int = 0, train_limit: int | None = None,
                 test_limit: int | None = None, normalization: str = "dataset", image_size: int = 28,
                 resize_mode: str = "pad", device: str | torch.device = "cpu") -> DataSplits:
    """Seeded, stratified train/validation split of the training set, optional stratified
    limits for quick runs, float conversion, padding/resizing and normalization.

    ``val_size`` is a count or a fraction of the (limited) training set (the
    default, 1/12, holds out 5,000 of the 60,000 training images). The
    normalization statistics come from the training split only.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    n_train_all, n_test_all = len(raw.train_labels), len(raw.test_labels)
    pool = np.arange(n_train_all)
    if train_limit is not None:
        if not 0 < train_limit <= n_train_all:
            raise ValueError(f"train_limit must be between 1 and {n_train_all}, got {train_limit}")
        pool = stratified_subset(raw.train_labels.numpy(), train_limit, seed)
    n_val = int(round(val_size * len(pool))) if isinstance(val_size, float) else int(val_size)
    if not 0 <= n_val < len(pool):
        raise ValueError(f"val_size must leave training data: got {n_val} of {len(pool)} images")
    if n_val:
        val_pos = stratified_subset(raw.train_labels.numpy()[pool], n_val, seed + 1)
        mask = np.zeros(len(pool), dtype=bool)
        mask[val_pos] = True
        train_index, val_index = pool[~mask], pool[mask]
    else:
        train_index, val_index = pool, pool[:0]
    test_index = np.arange(n_test_all)
    if test_limit is not None:
        if not 0 < test_limit <= n_test_all:
            raise ValueError(f"test_limit must be between 1 and {n_test_all}, got {test_limit}")
        test_index = stratified_subset(raw.test_labels.numpy(), test_limit, seed + 2)

    def images(source: torch.Tensor, index: np.ndarray) -> torch.Tensor:
        return to_unit_float(source[torch.from_numpy(index)], image_size, resize_mode)

    x_train = images(raw.train_images, train_index)
    mean, std = normalization_stats(normalization, x_train)
    device = torch.device(device)

    def norm(x: torch.Tensor) -> torch.Tensor:
        return x.sub_(mean).div_(std).to(device)

    return DataSplits(
        x_train=norm(x_train), y_train=raw.train_labels[torch.from_numpy(train_index)].to(device),
        x_val=norm(images(raw.train_images, val_index)), y_val=raw.train_labels[torch.from_numpy(val_index)].to(device),
        x_test=norm(images(raw.test_images, test_index)), y_test=raw.test_labels[torch.from_numpy(test_index)].to(device),
        train_index=train_index, val_index=val_index, test_index=test_index,
        mean=mean, std=std, normalization=normalization, image_size=image_size, seed=seed,
        info={"resize_mode": resize_mode, "train_limit": train_limit, "test_limit": test_limit, "val_size": n_val},
    )


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool = True, seed: int = 0,
            epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches straight from in-memory tensors, on their device.

    The order is a permutation seeded by ``(seed, epoch)``, so every epoch is
    reshuffled and every run repeats; the last partial batch is kept.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(y)
    if shuffle:
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        # Drawn on the CPU (the same order on every device), moved once per epoch.
        order = torch.randperm(n, generator=generator, device="cpu").to(x.device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            yield x.index_select(0, idx), y.index_select(0, idx)
    else:
        for start in range(0, n, batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]


def num_batches(n: int, batch_size: int) -> int:
    return -(-n // batch_size)




# --------------------------------------------------------------------------- conventional path


def torchvision_dataset(data_dir: str | os.PathLike = "data", train: bool = True, image_size: int = 28,
                        mean: float = 0.1307, std: float = 0.3081):
    """The conventional per-sample pipeline: torchvision's MNIST with ToTensor + Normalize.

    Reads the verified files we wrote (``download=False``); kept as the baseline
    the benchmark compares the in-memory path against.
    """
    from torchvision import datasets, transforms

    ensure_dataset("mnist", data_dir)
    steps = [transforms.ToTensor(), transforms.Normalize((mean,), (std,))]
    if image_size != 28:
        steps.insert(0, transforms.Pad((image_size - 28) // 2))
    return datasets.MNIST(str(data_dir), train=train, download=False, transform=transforms.Compose(steps))


def background_value(images) -> int:
    """The background of uint8 images (N, H, W): the commonest value of their border pixels (0 for
    MNIST and Fashion-MNIST, 255 for images drawn dark on light)."""
    images = torch.as_tensor(images)
    border = torch.cat([images[:, 0, :], images[:, -1, :], images[:, :, 0], images[:, :, -1]], dim=1)
    return int(torch.bincount(border.reshape(-1).to(torch.int64), minlength=256).argmax())

"""Where dataset files come from, verified: the registry (``mnist``, ``fashion-mnist``,
``idx``), the sources in order, IDX parsing and validation, and the four files read into
tensors with the dataset's class names and file hashes.

>>> raw = load_dataset("fashion-mnist", "data")        # doctest: +SKIP
>>> raw.classes[1], raw.dataset.hflip_preserves_label   # doctest: +SKIP
('Trouser', True)
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from mnist_lib.datasets.errors import (
    CorruptFileError,
    DatasetError,
    DatasetUnavailableError,
    UnknownDatasetError,
    WrongDatasetError,
)
from mnist_lib.datasets.idx import (
    FILE_NAMES,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    parse_idx,
    read_idx_file,
)
from mnist_lib.datasets.registry import (
    DATASET_NAMES,
    DATASETS,
    DEFAULT_DATASET,
    FASHION_MNIST,
    IDX,
    MNIST,
    MNIST_MANIFEST,
    TEST_SIZE,
    TRAIN_SIZE,
    Dataset,
    FileSpec,
    dataset_title,
    get_dataset,
    identify,
    idx_title,
)
from mnist_lib.datasets.sources import DatasetFiles, Source, default_sources, ensure_dataset

if TYPE_CHECKING:
    import torch

__all__ = [
    "CorruptFileError", "DatasetError", "DatasetUnavailableError", "UnknownDatasetError", "WrongDatasetError",
    "FILE_NAMES", "DATASET_NAMES", "DATASETS", "DEFAULT_DATASET", "FASHION_MNIST", "IDX", "MNIST", "MNIST_MANIFEST",
    "TEST_SIZE", "TRAIN_SIZE",
    "Dataset", "FileSpec", "get_dataset", "identify", "dataset_title", "idx_title", "DatasetFiles", "Source", "default_sources",
    "ensure_dataset",
    "RawDataset", "pixel_stats", "read_dataset", "load_dataset",
]


@dataclass(frozen=True)
class RawDataset:
    """A whole dataset in memory: uint8 images (N, 28, 28) and int64 labels (N,), with the
    registry entry, the class names (label k is ``classes[k]``), the SHA-256 of each file's
    decompressed content and the folder the files were read from (for provenance).

    Built by hand with only the four tensors it describes MNIST.
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    dataset: Dataset = MNIST
    classes: tuple[str, ...] = MNIST.classes
    sha256: Mapping[str, str] = field(default_factory=dict)
    directory: Path | None = None

    @property
    def name(self) -> str:
        return self.dataset.name

    @property
    def title(self) -> str:
        """The dataset's name in prose: the registry's title ("Fashion-MNIST"), or for an ``idx``
        folder "the IDX folder <its name>"."""
        return dataset_title(self.dataset.name, self.directory)

    @property
    def class_noun(self) -> str:
        return self.dataset.class_noun

    @property
    def class_noun_plural(self) -> str:
        return self.dataset.class_noun_plural

    def identity(self) -> dict:
        """What names these data in a checkpoint key: the dataset's name, and for files that are
        not pinned (an ``idx`` folder) a digest of their SHA-256, so other files give another key."""
        if self.dataset.pinned:
            return {"dataset": self.name}
        joined = "".join(f"{name}={digest};" for name, digest in sorted(self.sha256.items()))
        return {"dataset": self.name, "data_sha256": hashlib.sha256(joined.encode()).hexdigest()[:16]}

    def report_folder(self) -> str:
        """Where this dataset's reports go inside the reports folder (see :meth:`Dataset.report_folder`)."""
        return self.dataset.report_folder(self.directory)

    def pixel_stats(self) -> tuple[float, float]:
        """The training images' (mean, std) on the [0, 1] scale: the registry's published values
        when it has them, else computed here (as for an ``idx`` folder)."""
        if self.dataset.mean is not None and self.dataset.std is not None:
            return self.dataset.mean, self.dataset.std
        return pixel_stats(self.train_images)


def pixel_stats(images: torch.Tensor) -> tuple[float, float]:
    """(mean, std) of uint8 images on the [0, 1] scale, exact, from the histogram of pixel values."""
    import torch  # here, not at the top: acquisition and verification (the command line) need no torch

    counts = torch.bincount(images.reshape(-1).to(torch.int64), minlength=256).to(torch.float64)
    values = torch.arange(256, dtype=torch.float64) / 255.0
    n = counts.sum()
    mean = float((counts * values).sum() / n)
    var = float((counts * (values - mean) ** 2).sum() / (n - 1))
    return mean, var ** 0.5


def read_dataset(files: DatasetFiles) -> RawDataset:
    """Read verified files (from :func:`ensure_dataset`) into tensors."""
    import torch  # here, not at the top: see pixel_stats

    def read(name: str) -> torch.Tensor:
        return torch.from_numpy(parse_idx(read_idx_file(files.paths[name])).copy())

    return RawDataset(train_images=read(TRAIN_IMAGES), train_labels=read(TRAIN_LABELS).long(),
                      test_images=read(TEST_IMAGES), test_labels=read(TEST_LABELS).long(),
                      dataset=files.dataset, classes=tuple(files.classes), sha256=dict(files.sha256),
                      directory=files.directory)


def load_dataset(dataset: str | Dataset = DEFAULT_DATASET, data_dir: str | os.PathLike = "data",
                 source: str | os.PathLike | None = None, *, sources: Sequence[Source] | None = None,
                 offline: bool = False, progress: bool = True) -> RawDataset:
    """Acquire and verify (:func:`ensure_dataset`), then read the four files into memory."""
    return read_dataset(ensure_dataset(dataset, data_dir, source, sources=sources, offline=offline,
                                       progress=progress))

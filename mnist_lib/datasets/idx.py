"""IDX, the file format of MNIST and its kin: parse, check, encode, and validate a folder
holding the four files of a 10-class dataset of 28x28 uint8 images.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian 32-bit size per dimension, then the data. Every
dataset here is unsigned bytes (type code 0x08): images ``0x00000803`` (N, 28, 28),
labels ``0x00000801`` (N,).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_lib.datasets.errors import CorruptFileError, DatasetUnavailableError

UBYTE = 0x08
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
IMAGE_SIZE = (28, 28)
NUM_CLASSES = 10
TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
FILE_NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
SPLITS = {"train": (TRAIN_IMAGES, TRAIN_LABELS), "test": (TEST_IMAGES, TEST_LABELS)}
CLASS_FILES = ("classes.txt", "classes.json")


# --------------------------------------------------------------------------- bytes


def decompress_if_gzip(blob: bytes) -> bytes:
    """Return the decompressed content of gzip data, or the data unchanged."""
    if blob[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(blob)
        except (OSError, EOFError) as exc:
            raise CorruptFileError(f"broken gzip stream ({exc})") from exc
    return blob


def read_header(content: bytes) -> tuple[int, tuple[int, ...]]:
    """The magic number and the shape an IDX header declares."""
    if len(content) < 4:
        raise CorruptFileError(f"truncated: {len(content)} bytes, shorter than the IDX header")
    magic = struct.unpack(">I", content[:4])[0]
    ndim = content[3]
    if content[:2] != b"\x00\x00" or ndim == 0:
        raise CorruptFileError(f"not an IDX file: magic number 0x{magic:08x}")
    header = 4 + 4 * ndim
    if len(content) < header:
        raise CorruptFileError(f"truncated: {len(content)} bytes, shorter than the IDX header")
    return magic, struct.unpack(f">{ndim}I", content[4:header])


def check_idx(content: bytes, magic: int, shape: tuple[int | None, ...]) -> tuple[int, ...]:
    """Raise :class:`CorruptFileError` unless ``content`` is an IDX file with this magic number
    and shape (``None`` in ``shape`` admits any size) whose size matches its header; return
    the shape."""
    got_magic = struct.unpack(">I", content[:4])[0] if len(content) >= 4 else None
    if got_magic is not None and got_magic != magic:
        raise CorruptFileError(f"wrong magic number 0x{got_magic:08x} ({describe_magic(got_magic)}; expected "
                               f"0x{magic:08x}: {describe_magic(magic)})")
    _, got_shape = read_header(content)
    if len(got_shape) != len(shape) or any(want is not None and got != want for got, want in zip(got_shape, shape)):
        raise CorruptFileError(f"wrong shape {_shape_text(got_shape)} (expected {_shape_text(shape)})")
    expected_size = 4 + 4 * len(got_shape) + math.prod(got_shape)
    if len(content) != expected_size:
        raise CorruptFileError(f"truncated or padded: {len(content)} bytes (expected {expected_size})")
    return got_shape


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("N" if size is None else str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"


IDX_TYPES = {0x08: "uint8", 0x09: "int8", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}


def describe_magic(magic: int) -> str:
    """What an IDX magic number declares, e.g. ``uint8, 3 dimensions``."""
    if magic >> 16:
        return "not an IDX header"
    code = (magic >> 8) & 0xFF
    kind = IDX_TYPES.get(code, f"unknown type 0x{code:02x}")
    return f"{kind}, {magic & 0xFF} dimension{'s' if magic & 0xFF != 1 else ''}"


def parse_idx(content: bytes) -> np.ndarray:
    """Parse IDX bytes (ubyte data) into a numpy array of the header's shape."""
    ndim = content[3]
    shape = struct.unpack(f">{ndim}I", content[4 : 4 + 4 * ndim])
    return np.frombuffer(content, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def encode_idx(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX bytes (the inverse of :func:`parse_idx`)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", (UBYTE << 8) | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


# --------------------------------------------------------------------------- files and folders


def find_idx_file(folder: str | os.PathLike, name: str) -> Path | None:
    """``folder/name`` or ``folder/name.gz``, whichever exists (plain first)."""
    for candidate in (Path(folder) / name, Path(folder) / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx_file(path: str | os.PathLike) -> bytes:
    """The decompressed content of an IDX file, plain or gzipped."""
    try:
        return decompress_if_gzip(Path(path).read_bytes())
    except CorruptFileError as exc:
        raise CorruptFileError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class IdxFolder:
    """A validated folder of the four IDX files: where each is, the SHA-256 of its
    decompressed content, the class names and the number of images per split."""

    directory: Path
    paths: dict[str, Path]
    sha256: dict[str, str]
    classes: tuple[str, ...]
    sizes: dict[str, int]


def read_class_names(folder: str | os.PathLike, num_classes: int = NUM_CLASSES) -> tuple[str, ...] | None:
    """Class names from ``classes.txt`` (one per line) or ``classes.json`` (a list of strings)
    beside the IDX files; None when neither is there."""
    folder = Path(folder)
    present = [folder / name for name in CLASS_FILES if (folder / name).is_file()]
    if not present:
        return None
    if len(present) > 1:
        raise CorruptFileError(f"{folder}: both classes.txt and classes.json are there; keep one")
    path = present[0]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    if path.suffix == ".json":
        try:
            names = json.loads(text)
        except ValueError as exc:
            raise CorruptFileError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise CorruptFileError(f"{path}: expected a JSON list of {num_classes} strings")
        names = [n.strip() for n in names]
    else:
        names = [line.strip() for line in text.splitlines()]
        while names and not names[-1]:
            names.pop()
    if len(names) != num_classes:
        raise CorruptFileError(f"{path}: {len(names)} class names, expected {num_classes} (one per label 0-"
                               f"{num_classes - 1})")
    if not all(names):
        raise CorruptFileError(f"{path}: class name {names.index('')} is empty")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CorruptFileError(f"{path}: class names repeat: {', '.join(duplicates)}")
    return tuple(names)


def validate_folder(folder: str | os.PathLike, image_size: tuple[int, int] = IMAGE_SIZE,
                    num_classes: int = NUM_CLASSES) -> IdxFolder:
    """Check a folder holding the four IDX files (plain or .gz) of a ``num_classes``-class
    dataset of uint8 images: magic numbers, shapes, sizes, image and label counts that
    agree, labels in range and every class present in both splits. Class names come from
    ``classes.txt`` / ``classes.json`` beside them, else "0".."9". Raises
    :class:`DatasetUnavailableError` (folder or files missing) or :class:`CorruptFileError`
    with one line naming the file."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise DatasetUnavailableError(f"idx folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise DatasetUnavailableError(f"idx folder {str(folder)!r} is not a folder")
    paths = {name: find_idx_file(folder, name) for name in FILE_NAMES}
    missing = [name for name, path in paths.items() if path is None]
    if missing:
        raise DatasetUnavailableError(f"idx folder {folder}: missing {', '.join(missing)} (plain or .gz); expected "
                                      f"the four files {', '.join(FILE_NAMES)}")
    classes = read_class_names(folder, num_classes) or tuple(str(k) for k in range(num_classes))
    digests, sizes = {}, {}
    for split, (images_name, labels_name) in SPLITS.items():
        contents = {}
        for name, magic, shape in ((images_name, IMAGES_MAGIC, (None, *image_size)), (labels_name, LABELS_MAGIC, (None,))):
            content = read_idx_file(paths[name])
            try:
                check_idx(content, magic, shape)
            except CorruptFileError as exc:
                raise CorruptFileError(f"{paths[name]}: {exc}") from None
            contents[name] = content
            digests[name] = sha256(content)
        n_images, n_labels = read_header(contents[images_name])[1][0], read_header(contents[labels_name])[1][0]
        if n_images != n_labels:
            raise CorruptFileError(f"{folder}: {images_name} holds {n_images} images but {labels_name} holds "
                                   f"{n_labels} labels")
        if n_images == 0:
            raise CorruptFileError(f"{paths[images_name]}: no images")
        labels = parse_idx(contents[labels_name])
        if int(labels.max()) >= num_classes:
            raise CorruptFileError(f"{paths[labels_name]}: label {int(labels.max())} outside 0-{num_classes - 1} "
                                   f"(expected exactly {num_classes} classes)")
        absent = sorted(set(range(num_classes)) - set(np.unique(labels).tolist()))
        if absent:
            raise CorruptFileError(f"{paths[labels_name]}: class{'es' if len(absent) > 1 else ''} "
                                   f"{', '.join(map(str, absent))} never appear{'s' if len(absent) == 1 else ''} "
                                   f"(expected all {num_classes} classes in the {split} split)")
        sizes[split] = n_images
    return IdxFolder(directory=folder.resolve(), paths={n: paths[n].resolve() for n in FILE_NAMES},
                     sha256={n: digests[n] for n in FILE_NAMES}, classes=classes, sizes=sizes)

"""Files every artifact goes through: atomic writes, JSON that stays standard, content hashes.

A write goes to a temporary file in the same folder and is renamed into place,
so a reader (or a later build) never sees a half-written file.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Mapping


def atomic_write(path: str | os.PathLike, content: bytes) -> Path:
    """Write ``content`` through a temporary file in the same folder and a rename."""
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


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` as UTF-8, atomically."""
    return atomic_write(path, text.encode("utf-8"))


def _json_default(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _finite(value: Any) -> Any:
    """NaN and infinities become None so the JSON stays standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def to_json(data: Any) -> str:
    """Indented, standard JSON (numpy and torch scalars as numbers, NaN as null)."""
    return json.dumps(_finite(json.loads(json.dumps(data, default=_json_default))), indent=2, sort_keys=False)


def write_json(path: str | os.PathLike, data: Any) -> Path:
    return atomic_write_text(path, to_json(data))


def npz_bytes(arrays: Mapping[str, Any]) -> bytes:
    """A compressed ``.npz`` (what ``np.savez_compressed`` writes, ``np.load`` reads) whose bytes depend on
    the arrays alone: numpy stamps each member with the time it was written, here every member carries
    the same fixed date, so equal arrays give equal files (byte comparisons between builds,
    content-addressed copies in the build history)."""
    import numpy as np

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def sha256_bytes(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def digest_of(data: Any) -> str:
    """A short, stable hash of JSON-able ``data`` (keys sorted)."""
    return sha256_bytes(json.dumps(data, sort_keys=True, default=str).encode("utf-8"))[:20]

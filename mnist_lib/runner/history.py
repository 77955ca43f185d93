"""Build history: what every build ran, with which run keys and commit, and its numbers.

Each build writes ``<output>/history/<UTC time>.json`` with, per notebook, its
status, run key, numeric results (flattened from its metrics file) and the
per-image test predictions it saved, copied into ``history/predictions/`` under
their content hash so a later build cannot overwrite them. ``diff`` reads these.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from mnist_lib.environment import git_state, short_commit
from mnist_lib.files import sha256_file, write_json
from mnist_lib.reports import predictions_path

HISTORY = "history"
# Parts of a metrics file that are settings, provenance or logs, not results.
NOT_RESULTS = {"params", "environment", "history", "headline", "checkpoint", "title", "notebook", "status",
               "predictions_file"}


def history_dir(output: str | os.PathLike) -> Path:
    return Path(output) / HISTORY


def numeric_results(metrics: Mapping[str, Any], prefix: str = "", depth: int = 3) -> dict[str, float]:
    """The numbers of a metrics file, nested keys joined with '.' (settings and logs left out)."""
    found: dict[str, float] = {}
    for key, value in metrics.items():
        if not prefix and key in NOT_RESULTS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            found[name] = value
        elif isinstance(value, Mapping) and depth > 1:
            found.update(numeric_results(value, f"{name}.", depth - 1))
    return found


def is_timing(name: str) -> bool:
    return "seconds" in name.split(".")[-1]


def _keep_predictions(output: Path, notebook: str) -> str | None:
    source = predictions_path(output, notebook)
    if not source.exists():
        return None
    rel = f"predictions/{sha256_file(source)[:24]}.npz"
    target = history_dir(output) / rel
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    return rel


def record_build(output: str | os.PathLike, runs: Mapping, profile: str, built: str, seconds: float) -> Path:
    """Write this build's record; return its path."""
    output = Path(output)
    git = git_state()
    record = {"built": built, "commit": short_commit(git), "profile": profile, "seconds": round(seconds, 2),
              "runs": {}}
    for name, run in runs.items():
        ok = run.status == "ok" and run.metrics is not None
        record["runs"][name] = {
            "status": run.status, "cached": run.cached, "key": run.key,
            "results": numeric_results(run.metrics) if ok else {},
            "predictions": _keep_predictions(output, name) if ok else None,
        }
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    return write_json(history_dir(output) / f"{stamp}.json", record)


def list_records(output: str | os.PathLike) -> list[Path]:
    """This folder's build records, oldest first."""
    folder = history_dir(output)
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def load_record(path: str | os.PathLike) -> dict:
    return json.loads(Path(path).read_text())


def load_predictions(record_path: str | os.PathLike, rel: str | None) -> dict[str, dict[str, np.ndarray]]:
    """The per-image predictions a record points to: ``{metric: {"index", "target", "pred"}}``."""
    if not rel:
        return {}
    path = Path(record_path).parent / rel
    if not path.exists():
        return {}
    result: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path) as data:
        for key in data.files:
            metric, part = key.rsplit("::", 1)
            result.setdefault(metric, {})[part] = data[key]
    return result

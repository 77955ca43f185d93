"""What the main index shows of the sweeps under a reports folder: a link to each summary, and each
seeds-only sweep's spread beside the single-run headline of the notebooks it ran."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from mnist_lib.analysis.sweeps import MANIFEST, SUMMARY
from mnist_lib.datasets import DEFAULT_DATASET


@dataclass(frozen=True)
class SweepEntry:
    """One sweep for the main index: its link, what it varied, and its numbers per notebook."""

    name: str
    link: str  # relative to the reports folder
    profile: str
    grid: dict
    runs: int
    failed: int
    seeds_only: bool
    dataset: str  # the data set's name the sweep ran on
    numbers: dict  # notebook -> {model: "98.12 ± 0.05% over 5 seeds"}


def sweep_overview(output: str | os.PathLike) -> list[SweepEntry]:
    """Every sweep under ``<output>/sweeps`` that has a summary, by name.

    The index links each entry (``entry.link``) and, beside a notebook's single-run headline,
    shows ``entry.numbers[notebook]`` of the entries with ``seeds_only`` and ``profile`` equal to
    the build's profile ("mean ± sd over 5 seeds"): :func:`seed_headlines`.
    """
    entries = []
    root = Path(output) / "sweeps"
    for manifest_path in sorted(root.glob(f"*/{MANIFEST}")) if root.is_dir() else []:
        folder = manifest_path.parent
        summary = folder / f"{SUMMARY}.metrics.json"
        if not (folder / f"{SUMMARY}.html").exists() or not summary.exists():
            continue
        try:
            manifest = json.loads(manifest_path.read_text())
            groups = json.loads(summary.read_text()).get("groups", [])
        except (OSError, ValueError):
            continue
        numbers: dict[str, dict[str, str]] = {}
        for group in groups:
            label = group["model"] + (f" ({group['setting']})" if group.get("setting") else "")
            numbers.setdefault(group["notebook"], {})[label] = group["text"]
        entries.append(SweepEntry(name=manifest["name"], link=f"sweeps/{folder.name}/{SUMMARY}.html",
                                  profile=manifest["profile"], grid=manifest["grid"], runs=len(manifest["runs"]),
                                  failed=sum(r["status"] != "ok" for r in manifest["runs"]),
                                  seeds_only=bool(manifest.get("seeds_only")),
                                  dataset=(manifest.get("dataset") or {}).get("name", DEFAULT_DATASET),
                                  numbers=numbers))
    return entries


def seed_headlines(entries: list[SweepEntry], profile: str, dataset: str) -> dict[str, list[tuple[str, str]]]:
    """Per notebook, the headline items the seeds-only sweeps of ``profile`` on ``dataset`` add to the
    index's table: ("ann over seeds (sweep seeds)", "98.12 ± 0.05% over 5 seeds")."""
    found: dict[str, list[tuple[str, str]]] = {}
    for entry in entries:
        if entry.seeds_only and entry.profile == profile and entry.dataset == dataset:
            for notebook, numbers in entry.numbers.items():
                found.setdefault(notebook, []).extend((f"{model} over seeds (sweep {entry.name})", text)
                                                      for model, text in numbers.items())
    return found

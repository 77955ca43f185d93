"""``diff``: one build against another, every result that changed, and whether a
changed test accuracy is a real change.

For a test accuracy both builds measured on the same test images, the exact
McNemar test on the two builds' per-image predictions says whether the change
is more than chance: "98.36 -> 98.41" comes with "p = 0.62".
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mnist_lib.metrics import mcnemar_test
from mnist_lib.params import ParameterError
from mnist_lib.runner.history import history_dir, is_timing, list_records, load_predictions, load_record

SIGNIFICANCE = 0.05


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.2f}"


@dataclass
class ChangeRow:
    notebook: str
    metric: str
    old: float | None
    new: float | None
    p_value: float | None = None
    discordant: tuple[int, int] | None = None  # (right only in old, right only in new)
    note: str = ""

    @staticmethod
    def fmt(value) -> str:
        return _fmt(value)

    @property
    def difference(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old

    def fmt_difference(self) -> str:
        d = self.difference
        return "—" if d is None else ("+" if d > 0 else "") + _fmt(d)

    def verdict(self) -> str:
        if self.p_value is None:
            return self.note
        if self.p_value < SIGNIFICANCE:
            return f"p = {self.p_value:.2g}: a real change at the {SIGNIFICANCE:.0%} level"
        return f"p = {self.p_value:.2f}: not a real change (within chance)"


@dataclass
class BuildDiff:
    old_record: str
    new_record: str
    old_built: str
    new_built: str
    old_commit: str
    new_commit: str
    rows: list[ChangeRow] = field(default_factory=list)
    only_old: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        for row, out in zip(self.rows, data["rows"]):
            out["difference"] = row.difference
            out["verdict"] = row.verdict()
        return data

    def to_markdown(self) -> str:
        lines = [f"Build {self.new_built} (`{self.new_commit}`) against {self.old_built} (`{self.old_commit}`)", ""]
        if not self.rows:
            lines.append("No result changed.")
        else:
            lines += ["| notebook | number | old | new | difference | is it real? |",
                      "| --- | --- | --- | --- | --- | --- |"]
            lines += [f"| {r.notebook} | {r.metric} | {r.fmt(r.old)} | {r.fmt(r.new)} | {r.fmt_difference()} | "
                      f"{r.verdict()} |" for r in self.rows]
            if any(r.p_value is not None for r in self.rows):
                lines += ["", "p: exact McNemar test on the per-image test predictions of both builds "
                              "(same test images); a small p means the accuracies differ by more than chance."]
        if self.only_old or self.only_new:
            lines.append("")
            if self.only_new:
                lines.append(f"Only in the new build: {', '.join(self.only_new)}.")
            if self.only_old:
                lines.append(f"Only in the old build: {', '.join(self.only_old)}.")
        return "\n".join(lines) + "\n"


def _accuracy_test(old: dict, new: dict):
    """McNemar on the images both builds predicted; None when they are not the same test images."""
    if set(old) < {"index", "target", "pred"} or set(new) < {"index", "target", "pred"}:
        return None
    if old["index"].shape != new["index"].shape or not np.array_equal(old["index"], new["index"]) \
            or not np.array_equal(old["target"], new["target"]):
        return None
    result = mcnemar_test(old["target"], old["pred"], new["pred"], exact=True)
    return result


def diff_records(old_path: str | os.PathLike, new_path: str | os.PathLike, timings: bool = False) -> BuildDiff:
    """Every result that differs between two build records (timings only when asked)."""
    old, new = load_record(old_path), load_record(new_path)
    diff = BuildDiff(str(old_path), str(new_path), old["built"], new["built"], old["commit"], new["commit"])
    names = list(dict.fromkeys([*old["runs"], *new["runs"]]))
    for name in names:
        a, b = old["runs"].get(name), new["runs"].get(name)
        a_ok, b_ok = bool(a and a["status"] == "ok"), bool(b and b["status"] == "ok")
        if not a_ok or not b_ok:
            if a_ok:
                diff.only_old.append(name)
            elif b_ok:
                diff.only_new.append(name)
            continue
        old_preds = load_predictions(old_path, a.get("predictions"))
        new_preds = load_predictions(new_path, b.get("predictions"))
        for metric in sorted(set(a["results"]) | set(b["results"])):
            if is_timing(metric) and not timings:
                continue
            x, y = a["results"].get(metric), b["results"].get(metric)
            if x == y:
                continue
            row = ChangeRow(name, metric, x, y)
            if metric in old_preds and metric in new_preds:
                test = _accuracy_test(old_preds[metric], new_preds[metric])
                if test is None:
                    row.note = "different test images: no paired test"
                else:
                    row.p_value, row.discordant = float(test.p_value), (int(test.b), int(test.c))
            diff.rows.append(row)
    return diff


def resolve_record(spec: str | None, reports: str | os.PathLike, position: int) -> Path:
    """A build record named by ``spec``: a record file, a reports folder (its latest build),
    a record's name or prefix in ``<reports>/history``; None picks by ``position``
    (-1 the latest, -2 the one before)."""
    reports = Path(reports)
    if spec is None:
        records = list_records(reports)
        if len(records) < -position:
            raise ParameterError(f"diff: {history_dir(reports)} holds {len(records)} build record(s); two builds are "
                                 "needed (run the build again, or name two records or two reports folders)")
        return records[position]
    path = Path(spec)
    if path.is_file():
        return path
    if path.is_dir():
        records = list_records(path)
        if not records:
            raise ParameterError(f"diff: {spec!r} has no build records (no {history_dir(path)})")
        return records[-1]
    matches = [p for p in list_records(reports) if p.name.startswith(spec)]
    if len(matches) != 1:
        raise ParameterError(f"diff: {spec!r} names {'no' if not matches else 'more than one'} build record in "
                             f"{history_dir(reports)}; give a record file, a reports folder or a unique prefix")
    return matches[0]


def latest_changes(output: str | os.PathLike) -> BuildDiff | None:
    """The latest build against the one before it, or None when there is only one."""
    records = list_records(output)
    return diff_records(records[-2], records[-1]) if len(records) >= 2 else None

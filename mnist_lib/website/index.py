"""The index page: a summary figure of the headline results, one card per report with a thumbnail
of its key figure, the headline table, links to more results (benchmarks, sweeps), the changes
since the previous build, and the build's provenance, all named for the data set the build's
``build.json`` records. Its images live in ``assets/``.

The summary figure's dots are this build's measurements; its diamonds are published results
(:mod:`mnist_lib.references`), which its caption names by source and metric.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Mapping

from mnist_lib import catalogue, plots, references
from mnist_lib.environment import cpu_name, git_state, short_commit, versions
from mnist_lib.files import atomic_write, atomic_write_text
from mnist_lib.stats import wilson_interval
from mnist_lib.website import templates
from mnist_lib.website.datasets_index import built_dataset, built_title
from mnist_lib.website.masking import PathMask, parameter_paths, path_mask
from mnist_lib.website.navigation import INDEX, Entry, navigation, page_file, series_order, series_sections
from mnist_lib.website.pages import render_markdown_page
from mnist_lib.website.sweeps import seed_headlines, sweep_overview

ASSETS = "assets"
ERROR_SHOWN = 300  # characters of a run's error the headline table shows
# What a published result measures unless it says otherwise, and what a dot of the summary figure is:
# a test accuracy of one run; 05's dots are each optimizer's run at its validation-selected weights.
TEST_ACCURACY = next(f.default for f in fields(references.ReferenceResult) if f.name == "metric")
VALIDATION_SELECTED = f"{TEST_ACCURACY} at the weights chosen by validation"

# --------------------------------------------------------------------------- summary figure


@dataclass(frozen=True)
class HeadlineResult:
    """One row of the summary figure: a model's test accuracy (percent) in one notebook of this build
    (what it measures: ``measure``), and the published result drawn beside it, if any (``reference``
    is its accuracy)."""

    notebook: str
    label: str
    accuracy: float
    low: float | None = None
    high: float | None = None
    reference: float | None = None
    train_seconds: float | None = None
    published: references.ReferenceResult | None = None
    measure: str = TEST_ACCURACY


def _number_or_none(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _published(notebook: str, metrics: Mapping, run: str | None = None) -> references.ReferenceResult | None:
    """The published result of the model ``notebook`` trains (of its run ``run``: ``mlp/<optimizer>``
    for 05) on the data set of its parameters, from :mod:`mnist_lib.references`; None where there is
    none, and for a notebook of several models."""
    dataset = (metrics.get("params") or {}).get("dataset", references.DEFAULT_DATASET)
    models = catalogue.get(notebook).models
    if len(models) != 1:
        return None
    key = f"{models[0]}/{run}" if run else models[0]
    return references.for_dataset(dataset).results[key] if references.has_reference(key, dataset) else None


def _row(notebook: str, label: str, accuracy: float, low, high, seconds, published, measure=TEST_ACCURACY):
    return HeadlineResult(notebook, label, accuracy, low, high, published.accuracy if published else None,
                          _number_or_none(seconds), published, measure)


def _optimizer_rows(name: str, metrics: Mapping) -> list[HeadlineResult]:
    """05's rows, one per optimizer: its validation-selected test accuracy, the interval for the
    selected optimizer as recorded, a Wilson interval for the others when the metrics file records
    the test-set size."""
    rows = []
    size = metrics.get("test_size")
    for optimizer, values in metrics["optimizers"].items():
        accuracy = _number_or_none(values.get("best_accuracy"))
        if accuracy is None:
            continue
        low = high = None
        if (optimizer == metrics.get("selected_optimizer")
                and _number_or_none(metrics.get("test_accuracy")) is not None
                and abs(accuracy - float(metrics["test_accuracy"])) < 1e-6):
            low, high = _number_or_none(metrics.get("test_accuracy_low")), \
                _number_or_none(metrics.get("test_accuracy_high"))
        elif isinstance(size, int) and size > 0:
            low, high = (100 * v for v in wilson_interval(round(accuracy / 100 * size), size))
        rows.append(_row(name, f"{name} · {optimizer}", accuracy, low, high, values.get("train_seconds"),
                         _published(name, metrics, optimizer), VALIDATION_SELECTED))
    return rows


def _model_rows(name: str, metrics: Mapping) -> list[HeadlineResult]:
    """The row of a notebook that records ``test_accuracy`` and its interval (none otherwise); 07's
    is its best configuration, chosen by validation accuracy."""
    accuracy = _number_or_none(metrics.get("test_accuracy"))
    low = _number_or_none(metrics.get("test_accuracy_low"))
    high = _number_or_none(metrics.get("test_accuracy_high"))
    if accuracy is None or low is None or high is None:
        return []
    label = f"{name} · best configuration by validation" if "best_config" in metrics else name
    return [_row(name, label, accuracy, low, high, metrics.get("train_seconds"), _published(name, metrics))]


def headline_results(runs: Mapping) -> list[HeadlineResult]:
    """The models' test accuracies of a build, from its metrics files, each with the published
    result of its model (:func:`_published`): one row per optimizer of a notebook with
    per-optimizer results (05), one for every other notebook with a test accuracy."""
    rows: list[HeadlineResult] = []
    for name, run in runs.items():
        metrics = run.metrics if run.status == "ok" and run.metrics else None
        if not metrics:
            continue
        optimizers = metrics.get("optimizers")
        rows += _optimizer_rows(name, metrics) if isinstance(optimizers, Mapping) and optimizers \
            else _model_rows(name, metrics)
    return rows


def summary_figure_png(results: list[HeadlineResult]) -> tuple[bytes, tuple[int, int]]:
    """The summary figure (:func:`mnist_lib.plots.results_summary`) as PNG bytes, and its size."""
    import matplotlib.pyplot as plt  # heavy; only a build's index draws
    import pandas as pd  # heavy; the figure takes a frame

    columns = ("label", "accuracy", "low", "high", "reference", "train_seconds")
    frame = pd.DataFrame([{c: getattr(r, c) for c in columns} for r in results])
    fig = plots.results_summary(frame)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=192)  # sharp on high-density screens, shown at 96 dpi
    size = (round(fig.get_figwidth() * 96), round(fig.get_figheight() * 96))
    plt.close(fig)
    return buffer.getvalue(), size


# --------------------------------------------------------------------------- thumbnails


@dataclass(frozen=True)
class Image:
    """An image of the index: its path relative to the index, and its size in CSS pixels."""

    src: str
    width: int
    height: int


def key_figure(executed: Path) -> bytes | None:
    """The PNG that stands for a report: the first image of a cell tagged ``key-figure``,
    else the notebook's first image; None when it has none."""
    import nbformat  # heavy (JSON schemas); only thumbnails read notebooks here

    nb = nbformat.read(executed, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in code if "key-figure" in c.metadata.get("tags", [])]
    for cell in tagged + code:
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get("image/png")
            if data:
                return base64.b64decode("".join(data) if isinstance(data, list) else data)
    return None


def thumbnail(png: bytes, width: int = 480, height: int = 300) -> tuple[bytes, tuple[int, int]]:
    """``png`` scaled to fit ``width`` x ``height`` (never enlarged), and its size."""
    from PIL import Image as Picture  # heavy; only thumbnails need it

    with Picture.open(io.BytesIO(png)) as image:
        image = image.convert("RGB")
        image.thumbnail((width, height))
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        return out.getvalue(), image.size


def write_assets(output: Path, runs: Mapping) -> dict[str, Image]:
    """Thumbnails of the reports' key figures in ``assets/``, by notebook; a notebook that did not
    build loses its old thumbnail."""
    assets = output / ASSETS
    made = {}
    for name, run in runs.items():
        target = assets / f"{name}.png"
        executed = output / "executed" / f"{name}.ipynb"
        png = key_figure(executed) if run.status == "ok" and executed.exists() else None
        if png is None:
            target.unlink(missing_ok=True)
            continue
        small, (width, height) = thumbnail(png)
        atomic_write(target, small)
        made[name] = Image(f"{ASSETS}/{name}.png", width, height)
    return made


# --------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class Published:
    """Diamonds of the summary figure from one source and of one metric: published numbers, not this
    build's. ``measure`` is what the dots beside them measure when the metric is not a plain test
    accuracy (None when it is); ``other_models``: the published models are not this series' own."""

    source: str
    metric: str
    labels: tuple[str, ...]
    measure: str | None
    other_models: bool


def published_groups(results: list[HeadlineResult]) -> list[Published]:
    """The summary figure's published numbers grouped by what the caption must say of them, in row order."""
    groups: dict[tuple, list[str]] = {}
    for r in results:
        if r.published is not None:
            measure = r.measure if r.published.metric != TEST_ACCURACY else None
            key = (r.published.source, r.published.metric, measure, bool(r.published.model))
            groups.setdefault(key, []).append(r.label)
    return [Published(source, metric, tuple(labels), measure, other)
            for (source, metric, measure, other), labels in groups.items()]


@dataclass(frozen=True)
class SummaryFigure:
    """The summary figure and what its caption says: how many rows, which are timed, which lack an
    interval, and the published numbers drawn beside them."""

    image: Image
    models: int
    timed: int
    without_interval: list[str]
    published: list[Published]


@dataclass(frozen=True)
class Card:
    """A report on the index: its section, key figure and first headline (or its status)."""

    entry: Entry
    section: str
    href: str | None
    image: Image | None
    status: str
    line: str


@dataclass(frozen=True)
class Row:
    """A report in the headline table."""

    name: str
    title: str
    href: str | None
    headline: list[tuple[str, str]]
    seconds: float
    status: str
    up_to_date: str | None  # for a run not rerun because it was up to date: when it was built
    error: str | None


def _headline(run) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in ((run.metrics or {}).get("headline") or {}).items()]


def _cards(runs: Mapping, thumbs: Mapping[str, Image], dataset: str) -> list[Card]:
    """One card per report in reading order: its key figure, section, title on the data set titled
    ``dataset`` and first headline."""
    cards = []
    for section, members in series_sections(runs):
        for name in members:
            run = runs[name]
            first = next(iter(_headline(run)), None)
            line = f"{first[0]}: {first[1]}" if first and run.status == "ok" else \
                (run.status if run.status != "ok" else "built")
            cards.append(Card(Entry(name, dataset), section, run.html.name if run.html else None, thumbs.get(name),
                              run.status, line))
    return cards


def _summary_figure(output: Path, results: list[HeadlineResult]) -> SummaryFigure | None:
    """Draw the summary figure into ``assets/`` (or remove the last one when nothing was measured)."""
    path = output / ASSETS / "summary.png"
    if not results:
        path.unlink(missing_ok=True)
        return None
    png, (width, height) = summary_figure_png(results)
    atomic_write(path, png)
    return SummaryFigure(Image(f"{ASSETS}/{path.name}", width, height), len(results),
                         sum(r.train_seconds is not None for r in results),
                         [r.label for r in results if r.low is None or r.high is None], published_groups(results))


def _extras(output: Path, mask: PathMask, dataset: str) -> dict:
    """What else the reports folder holds (benchmarks, sweeps); the benchmarks' Markdown becomes a page."""
    markdown = output / "benchmarks.md"
    if markdown.exists():
        render_markdown_page(markdown, output / page_file("benchmarks"), "Benchmarks", mask, dataset)
    return {"benchmarks_page": markdown.exists(), "benchmarks_json": (output / "benchmarks.json").exists(),
            "sweeps": [(entry.link, f"{entry.name} ({entry.runs} runs"
                        + (f", {entry.failed} failed)" if entry.failed else ")")) for entry in sweep_overview(output)]}


def write_index(output: Path, runs: Mapping, profile: str, seconds: float, built: str, changes=None,
                show_changes: bool = True) -> Path:
    """``index.html``: the summary figure, a card per report, the headline table, changes since the
    previous build (``changes``, a :class:`mnist_lib.runner.diff.BuildDiff`, None for the first
    build) and the build's provenance, named for the data set its ``build.json`` records; images in
    ``assets/``."""
    output = Path(output)
    dataset = built_title(output)
    folders = {path: label for run in runs.values() for path, label in
               parameter_paths((run.metrics or {}).get("params")).items()}
    mask = path_mask(extra={**folders, str(output.resolve()): "<output_dir>"})
    env = next((r.metrics["environment"] for r in runs.values() if r.metrics and r.metrics.get("environment")),
               None) or {"git": git_state(), "versions": versions(), "device": "cpu", "cpu": cpu_name()}
    ordered = {name: runs[name] for name in series_order() if name in runs}
    ordered.update({name: run for name, run in runs.items() if name not in ordered})
    over_seeds = seed_headlines(sweep_overview(output), profile, built_dataset(output)["name"])
    rows = [Row(name, Entry(name, dataset).title, run.html.name if run.html else None,
                _headline(run) + over_seeds.get(name, []), run.seconds,
                run.status, (run.built or "") if run.status == "ok" and run.cached else None,
                mask.apply(run.error)[:ERROR_SHOWN] if run.error else None) for name, run in ordered.items()]
    failed = [n for n, r in runs.items() if r.status != "ok"]
    build = {"seeds": sorted({str(r.metrics.get("params", {}).get("seed")) for r in runs.values() if r.metrics}),
             "commit": short_commit(env.get("git", {})), "device": env.get("device"), "cpu": env.get("cpu"),
             "libraries": ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v),
             "built": built, "seconds": seconds}
    nav = navigation(INDEX, dataset)
    page = templates.render(
        "index.html.j2", title=f"{nav.site_name} ({profile} profile)", nav=nav, profile=profile,
        built=len(runs) - len(failed), failed=failed, cached=sum(r.status == "ok" and r.cached for r in runs.values()),
        figure=_summary_figure(output, headline_results(ordered)),
        cards=_cards(ordered, write_assets(output, ordered), dataset), rows=rows, extras=_extras(output, mask, dataset),
        changes=changes, show_changes=show_changes, build=build)
    return atomic_write_text(output / page_file(INDEX), page)

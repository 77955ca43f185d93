"""The report site: the series' navigation (header, sidebar, previous/next, shared
by every page) and the index page: a summary figure of the headline results, one
thumbnail of each report's key figure, the headline table, the changes since the
previous build, and the build's provenance.

Every link is relative and every page sits in one folder, so the site works from
``file://`` and from any web server. Images of the index live in ``assets/``.
"""

from __future__ import annotations

import html
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from mnist_lib.config import NOTEBOOKS, ParameterError
from mnist_lib.environment import cpu_name, git_state, short_commit, versions
from mnist_lib.files import atomic_write, atomic_write_text, digest_of
from mnist_lib.reports import TITLES, metrics_path

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "report"
SITE_NAME = "MNIST reports"
FAVICON = '<link rel="icon" href="data:,">'  # no favicon request, so no 404 in a server's console
ASSETS = "assets"

# The series grouped for the reader; a notebook in no section is listed under "More".
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Data", ("01_eda",)),
    ("Models", ("02_ann", "03_lenet", "04_cnn")),
    ("Training", ("05_optimizers",)),
    ("Inside the networks", ("06_feature_maps",)),
    ("Studies", ("07_hyperparameters",)),
)

# --------------------------------------------------------------------------- navigation


def series_sections(names: Iterable[str] = NOTEBOOKS) -> list[tuple[str, list[str]]]:
    """The notebooks of the series grouped by section, in series order, empty sections left out."""
    names = list(names)
    grouped = [(title, [n for n in names if n in members]) for title, members in SECTIONS]
    placed = {n for _, members in grouped for n in members}
    rest = [n for n in names if n not in placed]
    return [(title, members) for title, members in grouped + [("More", rest)] if members]


def series_order() -> list[str]:
    """The reading order: section by section."""
    return [n for _, members in series_sections() for n in members]


def neighbours(name: str | None) -> tuple[str | None, str | None]:
    """The previous and next report of ``name`` in reading order (None at either end)."""
    order = series_order()
    if name not in order:
        return None, None
    at = order.index(name)
    return (order[at - 1] if at > 0 else None), (order[at + 1] if at + 1 < len(order) else None)


def series_digest() -> str:
    """What the navigation of every page depends on (a change re-renders the reports)."""
    return digest_of({"sections": series_sections(), "titles": {n: TITLES.get(n, n) for n in NOTEBOOKS},
                      "site": SITE_NAME})


def _number(name: str) -> str:
    return name.split("_", 1)[0]


def _title(name: str) -> str:
    return html.escape(TITLES.get(name, name))


def _current(flag: bool) -> str:
    return ' aria-current="page"' if flag else ""


def series_list_html(current: str | None) -> str:
    """The series as a nested list: the overview, then each section with its reports."""
    sections = "".join(
        f'<li><span class="series-section">{html.escape(title)}</span><ol>'
        + "".join(f'<li><a href="{n}.html"{_current(n == current)}><span class="nb">{_number(n)}</span>'
                  f"{_title(n)}</a></li>" for n in members)
        + "</ol></li>" for title, members in series_sections())
    overview = f'<li><ol><li><a href="index.html"{_current(current == "index")}>Overview</a></li></ol></li>'
    return f'<ol class="series">{overview}{sections}</ol>'


def header_html(current: str | None, code_button: bool = False) -> str:
    """The header of every page: the site's name (a link to the index), the previous and next
    report, the series as a menu (narrow windows; wide ones have the sidebar) and, on
    reports with code, the "show all code" switch (hidden until the page's script runs)."""
    before, after = neighbours(current)
    pager = ""
    if before:
        pager += (f'<a rel="prev" href="{before}.html" title="Previous: {_title(before)}">&larr; '
                  f"{_number(before)} {_title(before)}</a>")
    if after:
        pager += (f'<a rel="next" href="{after}.html" title="Next: {_title(after)}">{_number(after)} '
                  f"{_title(after)} &rarr;</a>")
    button = ('<button type="button" class="show-code" aria-pressed="false" hidden>Show all code</button>'
              if code_button else "")
    return (f'<header class="site-header"><a class="site-brand" href="index.html"{_current(current == "index")}>'
            f"{SITE_NAME}</a>"
            f'<nav class="site-pager" aria-label="Previous and next report">{pager}</nav>'
            f'<div class="site-tools"><details class="site-menu"><summary>All reports</summary>'
            f"{series_list_html(current)}</details>{button}</div></header>")


def sidebar_html(current: str | None) -> str:
    return f'<nav class="site-sidebar" aria-label="Reports in this series">{series_list_html(current)}</nav>'


def pager_html(current: str | None) -> str:
    """Previous and next report at the end of a report page."""
    before, after = neighbours(current)
    if not before and not after:
        return ""
    links = ""
    if before:
        links += (f'<a class="prev" rel="prev" href="{before}.html"><small>&larr; Previous</small>'
                  f"{_number(before)} · {_title(before)}</a>")
    if after:
        links += (f'<a class="next" rel="next" href="{after}.html"><small>Next &rarr;</small>'
                  f"{_number(after)} · {_title(after)}</a>")
    return f'<nav class="page-pager" aria-label="Previous and next report">{links}</nav>'


def site_css() -> str:
    return (TEMPLATE_DIR / "site.css").read_text()


def site_js() -> str:
    return (TEMPLATE_DIR / "site.js").read_text()


def page(title: str, body: str, current: str | None = None, css: str = "") -> str:
    """A page of the site that is not a notebook (index, failure and placeholder pages, 404)."""
    pager = pager_html(current) if current in NOTEBOOKS else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>{FAVICON}<style>{site_css()}{css}</style></head>
<body class="site">
{header_html(current)}
<div class="site-layout">
{sidebar_html(current)}
<main class="site-main">
{body}
{pager}
</main>
</div>
</body></html>
"""


# --------------------------------------------------------------------------- summary figure


@dataclass(frozen=True)
class HeadlineResult:
    """One point of the summary figure: a model's test accuracy (percent) in one notebook."""

    notebook: str
    label: str
    accuracy: float
    low: float | None = None
    high: float | None = None
    reference: float | None = None
    train_seconds: float | None = None


def _number_or_none(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _optimizer_references(metrics: Mapping) -> dict[str, float]:
    """The original report's accuracy per optimizer of 05 (its metrics file holds none), from
    :mod:`mnist_lib.references`; none for a dataset without reference results."""
    from mnist_lib import references

    dataset = (metrics.get("params") or {}).get("dataset", references.DEFAULT_DATASET)
    try:
        return {name: r.accuracy for name, r in references.for_dataset(dataset).group("mlp").items()}
    except ParameterError:
        return {}


def headline_results(runs: Mapping) -> list[HeadlineResult]:
    """The models' test accuracies of a build, from its metrics files.

    A notebook with per-optimizer results (05) gives one row per optimizer: its
    validation-selected test accuracy, the interval for the selected optimizer as
    recorded, a Wilson interval for the others when the metrics file records the
    test-set size; every other notebook with ``test_accuracy`` and its interval
    gives one row.
    """
    from mnist_lib.metrics import wilson_interval

    rows: list[HeadlineResult] = []
    for name, run in runs.items():
        metrics = run.metrics if run.status == "ok" and run.metrics else None
        if not metrics:
            continue
        optimizers = metrics.get("optimizers")
        if isinstance(optimizers, Mapping) and optimizers:
            references = _optimizer_references(metrics)
            size = metrics.get("test_size")
            for optimizer, values in optimizers.items():
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
                rows.append(HeadlineResult(name, f"{name} · {optimizer}", accuracy, low, high,
                                           _number_or_none(values.get("reference_accuracy",
                                                                      references.get(optimizer))),
                                           _number_or_none(values.get("train_seconds"))))
            continue
        accuracy = _number_or_none(metrics.get("test_accuracy"))
        low, high = _number_or_none(metrics.get("test_accuracy_low")), _number_or_none(metrics.get("test_accuracy_high"))
        if accuracy is None or low is None or high is None:
            continue
        label = f"{name} · best configuration" if "best_config" in metrics else name
        rows.append(HeadlineResult(name, label, accuracy, low, high, _number_or_none(metrics.get("reference_accuracy")),
                                   _number_or_none(metrics.get("train_seconds"))))
    return rows


def summary_figure_png(results: list[HeadlineResult]) -> tuple[bytes, tuple[int, int]]:
    """The summary figure (:func:`mnist_lib.plots.results_summary`) as PNG bytes, and its size."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from mnist_lib import plots

    frame = pd.DataFrame([r.__dict__ for r in results])
    fig = plots.results_summary(frame)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=192)  # sharp on high-density screens, shown at 96 dpi
    size = (round(fig.get_figwidth() * 96), round(fig.get_figheight() * 96))
    plt.close(fig)
    return buffer.getvalue(), size


def summary_caption(results: list[HeadlineResult], profile: str) -> str:
    with_reference = sum(r.reference is not None for r in results)
    without_interval = [r.label for r in results if r.low is None or r.high is None]
    timed = sum(r.train_seconds is not None for r in results)
    text = (f"Left: test accuracy of {len(results)} model{'s' if len(results) != 1 else ''} in this build "
            f"({html.escape(profile)} profile), each with its 95% interval")
    if without_interval:
        text += f" (none recorded for {html.escape(', '.join(without_interval))})"
    text += (f"; diamonds: the original reports' numbers ({with_reference} of {len(results)} have one). "
             f"Right: seconds of training ({timed} of {len(results)} recorded; a reused checkpoint has none).")
    return text


# --------------------------------------------------------------------------- thumbnails


def key_figure(executed: Path) -> bytes | None:
    """The PNG that stands for a report: the first image of a cell tagged ``key-figure``,
    else the notebook's first image; None when it has none."""
    import base64

    import nbformat

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
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        image = image.convert("RGB")
        image.thumbnail((width, height))
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        return out.getvalue(), image.size


# --------------------------------------------------------------------------- the index

INDEX_CSS = """
.index-lead{font-size:1.02rem}
figure.summary{margin:1rem 0 2rem}
figure.summary img{display:block;max-width:100%;height:auto;border:1px solid var(--site-border);border-radius:6px;
background:#fff}
figure.summary figcaption{color:var(--site-muted);font-size:.88rem;margin-top:.4rem}
h2{margin-top:2.2rem;padding-bottom:.2rem;border-bottom:1px solid var(--site-border)}
.card-section{display:block;font-size:.7rem;font-weight:600;text-transform:uppercase;letter-spacing:.05em;
color:var(--site-muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(15rem,1fr));gap:1rem}
.card{display:flex;flex-direction:column;border:1px solid var(--site-border);border-radius:8px;overflow:hidden;
text-decoration:none;color:var(--site-fg)!important;background:var(--site-bg)}
a.card:hover{border-color:var(--site-accent)}
.card img,.card .no-figure{display:block;width:100%;height:9.5rem;object-fit:contain;background:#fff;
border-bottom:1px solid var(--site-border)}
.card .no-figure{display:flex;align-items:center;justify-content:center;color:#5f6368;font-size:.9rem}
.card-body{padding:.55rem .8rem .7rem}
.card-title{display:block;font-weight:600}
.card-line{display:block;color:var(--site-muted);font-size:.86rem;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{border-bottom:1px solid var(--site-border);padding:.45rem .6rem;text-align:left;vertical-align:top}
th{background:var(--site-surface)}
.wrap{overflow-x:auto}
.ok{color:var(--site-ok);font-weight:600}.failed{color:var(--site-failed);font-weight:600}
.skipped{color:var(--site-skipped);font-weight:600}
ul.headline{margin:0;padding-left:1.1rem}
td,li{overflow-wrap:anywhere}
code{font-size:.9em}
@media (max-width:640px){th,td{padding:.3rem}}
"""


def _status_cell(run, mask) -> str:
    text = html.escape(run.status)
    if run.status == "ok" and run.cached:
        text += f"<br><small>up to date (built {html.escape(run.built or '')})</small>"
    if run.error:
        text += f"<br><small>{html.escape(mask.apply(run.error)[:300])}</small>"
    return f'<td class="{html.escape(run.status)}">{text}</td>'


def _changes_section(changes) -> str:
    """HTML for a :class:`mnist_lib.build.diff.BuildDiff` (or a note when there is no earlier build)."""
    if changes is None:
        return "<h2>Changes since the previous build</h2><p>This is the first recorded build in this folder.</p>"
    head = (f"<h2>Changes since the previous build</h2><p>Against the build of {html.escape(changes.old_built)} "
            f"(commit <code>{html.escape(changes.old_commit)}</code>).")
    if not changes.rows:
        return head + " No result changed.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(r.notebook)}</td><td>{html.escape(r.metric)}</td><td>{r.fmt(r.old)}</td>"
        f"<td>{r.fmt(r.new)}</td><td>{r.fmt_difference()}</td><td>{html.escape(r.verdict())}</td></tr>"
        for r in changes.rows)
    return (head + " Accuracy changes come with the exact McNemar p-value on the same test images.</p>"
            '<div class="wrap"><table><thead><tr><th>notebook</th><th>number</th><th>old</th><th>new</th>'
            f"<th>difference</th><th>is it real?</th></tr></thead><tbody>{rows}</tbody></table></div>")


def write_assets(output: Path, runs: Mapping) -> dict[str, tuple[str, tuple[int, int]]]:
    """Thumbnails of the reports' key figures in ``assets/`` (relative path and size, by
    notebook); a notebook that did not build loses its old thumbnail."""
    assets = output / ASSETS
    made = {}
    for name, run in runs.items():
        target = assets / f"{name}.png"
        executed = output / "executed" / f"{name}.ipynb"
        png = key_figure(executed) if run.status == "ok" and executed.exists() else None
        if png is None:
            target.unlink(missing_ok=True)
            continue
        small, size = thumbnail(png)
        atomic_write(target, small)
        made[name] = (f"{ASSETS}/{name}.png", size)
    return made


def _cards(runs: Mapping, thumbs: Mapping) -> str:
    """One card per report in reading order: its key figure, section, title and first headline."""
    cards = []
    for section, members in series_sections(runs):
        for name in members:
            run = runs[name]
            headline = (run.metrics or {}).get("headline") or {}
            first = next(iter(headline.items()), None)
            line = (f"{html.escape(str(first[0]))}: {html.escape(str(first[1]))}" if first and run.status == "ok"
                    else html.escape(run.status if run.status != "ok" else "built"))
            if name in thumbs:
                src, (w, h) = thumbs[name]
                figure = f'<img src="{src}" width="{w}" height="{h}" alt="Key figure of {name}">'
            else:
                figure = f'<span class="no-figure">{"no figure" if run.status == "ok" else html.escape(run.status)}</span>'
            body = (f'{figure}<span class="card-body"><span class="card-section">{html.escape(section)}</span>'
                    f'<span class="card-title">{_number(name)} · {_title(name)}</span>'
                    f'<span class="card-line">{line}</span></span>')
            cards.append(f'<a class="card" href="{name}.html">{body}</a>' if run.html
                         else f'<div class="card">{body}</div>')
    return f'<div class="cards">{"".join(cards)}</div>'


def _extras(output: Path) -> str:
    """Links to what else the reports folder holds: benchmarks and sweeps."""
    links = []
    if (output / "benchmarks.md").exists():
        render_markdown_page(output / "benchmarks.md", output / "benchmarks.html", "Benchmarks")
        links.append('<a href="benchmarks.html">benchmarks</a> (<a href="benchmarks.md">benchmarks.md</a>')
        links[-1] += ', <a href="benchmarks.json">benchmarks.json</a>)' if (output / "benchmarks.json").exists() \
            else ")"
    elif (output / "benchmarks.json").exists():
        links.append('<a href="benchmarks.json">benchmarks.json</a>')
    sweeps = output / "sweeps"
    if sweeps.is_dir():
        pages = [sweeps / "index.html"] if (sweeps / "index.html").exists() else sorted(sweeps.glob("*.html"))
        links += [f'<a href="sweeps/{html.escape(p.name)}">sweeps: {html.escape(p.stem)}</a>' for p in pages]
    return f"<h2>More results</h2><p>{' · '.join(links)}</p>" if links else ""


def render_markdown_page(source: Path, target: Path, title: str) -> Path:
    """A Markdown file (the benchmarks) as a page of the site."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    from mnist_lib.build.render import path_mask

    mask = path_mask(extra={str(source.parent.resolve()): "<output_dir>"})
    body = markdown2html_mistune(mask.apply(source.read_text()))
    return atomic_write_text(target, page(f"{title} · {SITE_NAME}", f'<div class="wrap">{body}</div>', css=INDEX_CSS))


def write_index(output: Path, runs: Mapping, profile: str, seconds: float, built: str, changes=None,
                show_changes: bool = True) -> Path:
    """``index.html``: the summary figure, a thumbnail per report, the headline table, changes
    since the previous build and the build's provenance; images in ``assets/``."""
    from mnist_lib.build.render import path_mask

    output = Path(output)
    mask = path_mask(extra={str(output.resolve()): "<output_dir>"})
    env = next((r.metrics["environment"] for r in runs.values() if r.metrics and r.metrics.get("environment")),
               None) or {"git": git_state(), "versions": versions(), "device": "cpu", "cpu": cpu_name()}
    seeds = sorted({str(r.metrics.get("params", {}).get("seed")) for r in runs.values() if r.metrics})
    ordered = {name: runs[name] for name in series_order() if name in runs}
    ordered.update({name: run for name, run in runs.items() if name not in ordered})
    rows = []
    for name, run in ordered.items():
        link = f'<a href="{html.escape(run.html.name)}">{html.escape(name)}</a>' if run.html else html.escape(name)
        headline = (run.metrics or {}).get("headline") or {}
        items = "".join(f"<li>{html.escape(str(k))}: <strong>{html.escape(str(v))}</strong></li>"
                        for k, v in headline.items())
        rows.append(f"<tr><td>{link}<br><small>{_title(name)}</small></td><td><ul class=\"headline\">{items}</ul></td>"
                    f"<td>{run.seconds:.1f}</td>{_status_cell(run, mask)}</tr>")
    thumbs = write_assets(output, ordered)
    results = headline_results(ordered)
    summary_path = output / ASSETS / "summary.png"
    if results:
        png, (width, height) = summary_figure_png(results)
        atomic_write(summary_path, png)
        figure = (f'<figure class="summary"><a href="{ASSETS}/summary.png"><img src="{ASSETS}/summary.png" '
                  f'width="{width}" height="{height}" alt="Test accuracy with 95% intervals and training seconds of '
                  f'{len(results)} models"></a><figcaption>{summary_caption(results, profile)}</figcaption></figure>')
    else:
        summary_path.unlink(missing_ok=True)
        figure = "<p>No notebook of this build measured a test accuracy, so there is no summary figure.</p>"
    git = env.get("git", {})
    all_versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v)
    failed = [n for n, r in runs.items() if r.status != "ok"]
    cached = [n for n, r in runs.items() if r.status == "ok" and r.cached]
    summary = (f"{len(runs) - len(failed)} of {len(runs)} notebooks built"
               + (f" ({len(cached)} up to date, not rerun)" if cached else "")
               + (f"; not built: {', '.join(failed)}" if failed else ""))
    body = f"""<h1>{SITE_NAME}</h1>
<p class="index-lead">{html.escape(summary)}, {html.escape(profile)} profile. Every number below was measured by the
notebook it links to.</p>
{figure}
<h2 id="reports">Reports</h2>
{_cards(ordered, thumbs)}
<h2 id="results">Headline results</h2>
<div class="wrap"><table>
<thead><tr><th>report</th><th>headline results (test set)</th><th>seconds</th><th>status</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table></div>
{_extras(output)}
{_changes_section(changes) if show_changes else ''}
<h2 id="build">Build</h2>
<div class="wrap"><table><tbody>
<tr><th>profile</th><td>{html.escape(profile)}</td></tr>
<tr><th>seed</th><td>{html.escape(', '.join(seeds) or 'n/a')}</td></tr>
<tr><th>git commit</th><td><code>{html.escape(short_commit(git))}</code></td></tr>
<tr><th>device</th><td>{html.escape(str(env.get('device')))} ({html.escape(str(env.get('cpu')))})</td></tr>
<tr><th>libraries</th><td>{html.escape(all_versions)}</td></tr>
<tr><th>built (UTC)</th><td>{html.escape(built)}</td></tr>
<tr><th>build seconds</th><td>{seconds:.1f}</td></tr>
</tbody></table></div>"""
    return atomic_write_text(output / "index.html",
                             page(f"{SITE_NAME} ({profile} profile)", body, current="index", css=INDEX_CSS))


def refresh_index(output: str | os.PathLike) -> Path:
    """Rewrite ``index.html`` from ``build.json`` and the metrics files (after ``make bench``
    adds its results, so the index links them)."""
    from mnist_lib.build.diff import latest_changes
    from mnist_lib.build.pipeline import NotebookRun

    output = Path(output)
    build = json.loads((output / "build.json").read_text())
    runs = {}
    for name, info in build["runs"].items():
        metrics = metrics_path(output, name)
        report = output / f"{name}.html"
        runs[name] = NotebookRun(name, status=info["status"], seconds=info["seconds"], error=info.get("error"),
                                 html=report if report.exists() else None, cached=info.get("cached", False),
                                 built=info.get("built"),
                                 metrics=json.loads(metrics.read_text()) if info["status"] == "ok" else None)
    return write_index(output, runs, build["profile"], build["seconds"], build.get("finished", ""),
                       changes=latest_changes(output))

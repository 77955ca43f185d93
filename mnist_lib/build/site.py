"""The index page: one row per notebook (headline numbers, seconds, status, link),
the changes since the previous build, and the build's provenance."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Mapping

from mnist_lib.environment import cpu_name, git_state, short_commit, versions
from mnist_lib.files import atomic_write_text
from mnist_lib.reports import TITLES, metrics_path

INDEX_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:1rem;
color:#1d1d1f;line-height:1.45}
h1{font-size:1.6rem;margin:.5rem 0}
table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{border-bottom:1px solid #ddd;padding:.45rem .6rem;text-align:left;vertical-align:top}
th{background:#f5f5f7}
.wrap{overflow-x:auto}
.ok{color:#137333;font-weight:600}.failed{color:#b3261e;font-weight:600}.skipped{color:#8a6d00;font-weight:600}
ul.headline{margin:0;padding-left:1.1rem}
code{font-size:.9em}
@media (max-width:640px){th,td{padding:.3rem}body{padding:.5rem}}
"""


def _status_cell(run) -> str:
    text = html.escape(run.status)
    if run.status == "ok" and run.cached:
        text += f"<br><small>up to date (built {html.escape(run.built or '')})</small>"
    if run.error:
        text += f"<br><small>{html.escape(run.error[:300])}</small>"
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


def write_index(output: Path, runs: Mapping, profile: str, seconds: float, built: str, changes=None,
                show_changes: bool = True) -> Path:
    """``index.html``: one row per notebook, changes since the previous build, the build's provenance."""
    env = next((r.metrics["environment"] for r in runs.values() if r.metrics and r.metrics.get("environment")),
               None) or {"git": git_state(), "versions": versions(), "device": "cpu", "cpu": cpu_name()}
    seeds = sorted({str(r.metrics.get("params", {}).get("seed")) for r in runs.values() if r.metrics})
    rows = []
    for name, run in runs.items():
        title = html.escape(TITLES.get(name, name))
        link = f'<a href="{html.escape(run.html.name)}">{html.escape(name)}</a>' if run.html else html.escape(name)
        headline = (run.metrics or {}).get("headline") or {}
        items = "".join(f"<li>{html.escape(str(k))}: <strong>{html.escape(str(v))}</strong></li>"
                        for k, v in headline.items())
        rows.append(f"<tr><td>{link}<br><small>{title}</small></td><td><ul class=\"headline\">{items}</ul></td>"
                    f"<td>{run.seconds:.1f}</td>{_status_cell(run)}</tr>")
    extras = [f'<a href="{n}">{n}</a>' for n in ("benchmarks.md", "benchmarks.json") if (output / n).exists()]
    git = env.get("git", {})
    all_versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v)
    failed = [n for n, r in runs.items() if r.status != "ok"]
    cached = [n for n, r in runs.items() if r.status == "ok" and r.cached]
    summary = (f"{len(runs) - len(failed)} of {len(runs)} notebooks built"
               + (f" ({len(cached)} up to date, not rerun)" if cached else "")
               + (f"; not built: {', '.join(failed)}" if failed else ""))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>MNIST reports ({html.escape(profile)} profile)</title><style>{INDEX_CSS}</style></head>
<body><main>
<h1>MNIST reports</h1>
<p>{html.escape(summary)}. Every number below was measured by the notebook it links to.</p>
<div class="wrap"><table>
<thead><tr><th>report</th><th>headline results (test set)</th><th>seconds</th><th>status</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table></div>
{'<p>Benchmarks: ' + ' · '.join(extras) + '</p>' if extras else ''}
{_changes_section(changes) if show_changes else ''}
<h2>Build</h2>
<div class="wrap"><table><tbody>
<tr><th>profile</th><td>{html.escape(profile)}</td></tr>
<tr><th>seed</th><td>{html.escape(', '.join(seeds) or 'n/a')}</td></tr>
<tr><th>git commit</th><td><code>{html.escape(short_commit(git))}</code></td></tr>
<tr><th>device</th><td>{html.escape(str(env.get('device')))} ({html.escape(str(env.get('cpu')))})</td></tr>
<tr><th>libraries</th><td>{html.escape(all_versions)}</td></tr>
<tr><th>built (UTC)</th><td>{html.escape(built)}</td></tr>
<tr><th>build seconds</th><td>{seconds:.1f}</td></tr>
</tbody></table></div>
</main></body></html>
"""
    return atomic_write_text(output / "index.html", page)


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
        page = output / f"{name}.html"
        runs[name] = NotebookRun(name, status=info["status"], seconds=info["seconds"], error=info.get("error"),
                                 html=page if page.exists() else None, cached=info.get("cached", False),
                                 built=info.get("built"),
                                 metrics=json.loads(metrics.read_text()) if info["status"] == "ok" else None)
    return write_index(output, runs, build["profile"], build["seconds"], build.get("finished", ""),
                       changes=latest_changes(output))

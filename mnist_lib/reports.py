"""Reports: what a notebook records about its run (provenance, metrics file), and
the build that executes the notebooks with papermill, renders each to a
self-contained HTML file with nbconvert and writes the index page.

Every artifact is written to a temporary name and renamed, so an interrupted
build never leaves a half-written file that a later run would take as valid.
"""

from __future__ import annotations

import html
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

from mnist_lib.config import DEPENDENCIES, NOTEBOOKS, ParameterError, load_profile, validate_params

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO / "notebooks"
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
LIBRARIES = ("torch", "torchvision", "numpy", "pandas", "scikit-learn", "matplotlib", "seaborn", "papermill",
             "nbconvert")
TITLES = {
    "01_eda": "Exploring MNIST",
    "02_ann": "A fully connected network (784-120-84-10)",
    "03_lenet": "LeNet-5",
    "04_cnn": "A batch-normalized CNN",
    "05_optimizers": "Optimizers compared",
    "06_feature_maps": "Inside the networks: feature maps and saliency",
    "07_hyperparameters": "A hyperparameter study",
}


# --------------------------------------------------------------------------- small utilities


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically: temporary file in the same folder, then rename."""
    from mnist_lib.data import atomic_write

    return atomic_write(path, text.encode("utf-8"))


def _json_default(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (Path, os.PathLike)):
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
    return json.dumps(_finite(json.loads(json.dumps(data, default=_json_default))), indent=2, sort_keys=False)


def git_state(repo: Path = REPO) -> dict:
    """Commit and whether the work tree differs from it (None outside a checkout)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if commit.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(device: str | None = None) -> dict:
    """What a reader needs to trust and repeat a report: versions, device, commit, date."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    import torch

    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(),
        "versions": versions,
        "device": device or "cpu",
        "cpu": _cpu_name(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


# --------------------------------------------------------------------------- targets and references

# The reference results and accuracy targets live in mnist_lib.references (one table per dataset); these
# names stay here so notebooks can keep calling reports.check_target / reports.compare_with_reference.
from mnist_lib.references import (  # noqa: E402, F401  (re-exported)
    ReferenceComparison,
    TargetCheck,
    check_target,
    compare_with_reference,
)


# --------------------------------------------------------------------------- notebook side


@dataclass
class Run:
    """One notebook run: its validated parameters, device and provenance."""

    notebook: str
    params: dict
    device: Any
    provenance: dict
    started: float = field(default_factory=time.perf_counter)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def provenance_frame(self):
        """Parameters, seed, versions, device and commit as one two-column table."""
        import pandas as pd

        git = self.provenance["git"]
        commit = (git["commit"] or "unknown")[:12] + (" (dirty work tree)" if git["dirty"] else "")
        rows = [("notebook", self.notebook), ("date (UTC)", self.provenance["date"]), ("git commit", commit),
                ("device", f"{self.device} ({self.provenance['cpu']}, {self.provenance['torch_threads']} threads)")]
        rows += [(f"version: {k}", v) for k, v in self.provenance["versions"].items()]
        rows += [(f"parameter: {k}", _short(v)) for k, v in self.params.items()]
        return pd.DataFrame(rows, columns=["item", "value"]).set_index("item")


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) < 120 else text[:117] + "..."


def setup_notebook() -> None:
    """PNG figures at report resolution and compact pandas tables."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            shell.run_line_magic("matplotlib", "inline")
            shell.run_line_magic("config", "InlineBackend.figure_formats = ['png']")
            shell.run_line_magic("config", "InlineBackend.rc = {'figure.dpi': 96, 'savefig.dpi': 96}")
    except ImportError:
        pass
    import pandas as pd

    pd.set_option("display.precision", 4)
    pd.set_option("display.max_rows", 60)
    pd.set_option("display.max_colwidth", 120)


def start_run(notebook: str, namespace: Mapping[str, Any]) -> Run:
    """Validate the notebook's parameters (from ``globals()``), pick the device, note provenance."""
    from mnist_lib.config import notebook_params
    from mnist_lib.training import pick_device

    params = notebook_params(notebook, namespace)
    device = pick_device(params.get("device", "auto"))
    return Run(notebook=notebook, params=params, device=device, provenance=provenance(str(device)))


def show(fig) -> None:
    """Display a figure once and release it (pyplot would show it again at cell end)."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(fig)
    plt.close(fig)


def metrics_path(output_dir: str | os.PathLike, notebook: str) -> Path:
    return Path(output_dir) / f"{notebook}.metrics.json"


def finish_run(run: Run, headline: Mapping[str, str], **metrics: Any) -> Path:
    """Write ``<output_dir>/<notebook>.metrics.json``: headline numbers for the index,
    the measured metrics, parameters, seconds and environment."""
    record = {
        "notebook": run.notebook,
        "title": TITLES.get(run.notebook, run.notebook),
        "status": "ok",
        "headline": dict(headline),
        **metrics,
        "params": dict(run.params),
        "seconds": round(run.seconds, 2),
        "environment": run.provenance,
    }
    return atomic_write_text(metrics_path(run.params["output_dir"], run.notebook), to_json(record))


# --------------------------------------------------------------------------- build side


@dataclass
class NotebookRun:
    notebook: str
    status: str = "pending"  # ok, failed, skipped
    seconds: float = 0.0
    html: Path | None = None
    error: str | None = None
    metrics: dict | None = None


@dataclass
class BuildResult:
    runs: dict[str, NotebookRun]
    index_path: Path
    seconds: float


def with_dependencies(only: list[str] | None) -> list[str]:
    """The notebooks to run, in series order, with what they depend on."""
    if not only:
        return list(NOTEBOOKS)
    unknown = [name for name in only if name not in NOTEBOOKS]
    if unknown:
        raise ParameterError(f"--only: unknown notebook '{unknown[0]}'; valid: {', '.join(NOTEBOOKS)}")
    wanted = set(only)
    for name in only:
        wanted.update(DEPENDENCIES.get(name, ()))
    return [name for name in NOTEBOOKS if name in wanted]


def _html_exporter(no_input: bool):
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="report", extra_template_basedirs=[str(TEMPLATE_DIR)])
    exporter.exclude_input = no_input
    exporter.exclude_input_prompt = no_input
    exporter.exclude_output_prompt = True
    return exporter


_HEADING = re.compile(r'<h([23]) id="([^"]+)">(.*?)<a class="anchor-link"', re.S)


def add_table_of_contents(page: str) -> str:
    """Fill the template's ``<!--TOC-->`` slot with links to the page's h2/h3 headings."""
    items = []
    for level, anchor, text in _HEADING.findall(page):
        label = re.sub(r"<[^>]+>", "", text).strip()
        items.append(f'<li class="toc-h{level}"><a href="#{anchor}">{label}</a></li>')
    nav = ('<nav class="toc" aria-label="Contents"><strong>Contents</strong><ol>' + "".join(items) + "</ol></nav>"
           if items else "")
    return page.replace("<!--TOC-->", nav, 1)


def render_html(executed: Path, target: Path, no_input: bool = False, title: str | None = None) -> Path:
    """Render an executed notebook to one self-contained HTML file (images embedded)."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    if title:
        nb.metadata["title"] = title
    nb.metadata.pop("widgets", None)  # widget state needs a CDN script; reports have none
    body, _ = _html_exporter(no_input).from_notebook_node(nb, resources={"metadata": {"name": target.stem}})
    return atomic_write_text(target, add_table_of_contents(body))


def _execute(source: Path, params: dict, executed: Path, cwd: Path) -> str | None:
    """Run one notebook with papermill; return the error text, or None on success."""
    import papermill as pm

    fd, tmp = tempfile.mkstemp(dir=executed.parent, prefix=f".{executed.name}.", suffix=".ipynb")
    os.close(fd)
    error = None
    try:
        try:
            pm.execute_notebook(str(source), tmp, parameters=params, kernel_name="python3",
                                cwd=str(cwd), progress_bar=False, log_output=False, report_mode=False)
        except pm.PapermillExecutionError as exc:
            error = f"{exc.ename}: {exc.evalue}"
        if Path(tmp).stat().st_size:
            os.replace(tmp, executed)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return error


def build_reports(profile: str = "full", only: list[str] | None = None, output: Path = Path("reports"),
                  data_dir: Path = Path("data"), source: str | None = None, no_input: bool = False,
                  log=print, notebook_dir: Path = NOTEBOOK_DIR) -> BuildResult:
    """Run the notebooks in dependency order with the profile's parameters and render them.

    A failing notebook still gets its HTML (with the error visible) and is marked
    failed in the index; the notebooks that depend on it are skipped, the others
    run. Returns every run's status; the caller decides the exit code.
    ``notebook_dir`` is where the notebooks are (tests pass their own).
    """
    from mnist_lib.data import ensure_mnist

    started = time.perf_counter()
    chosen = load_profile(profile)
    names = with_dependencies(only)
    output = Path(output).resolve()
    if not output.parent.is_dir():
        raise ParameterError(f"--output: the parent folder of {str(output)!r} does not exist")
    output.mkdir(exist_ok=True)
    if not os.access(output, os.W_OK | os.X_OK):
        raise ParameterError(f"--output: folder {str(output)!r} is not writable")
    executed_dir = output / "executed"
    executed_dir.mkdir(exist_ok=True)
    data_dir = Path(data_dir).resolve()
    source_dir = str(Path(source).resolve()) if source else os.environ.get("MNIST_SOURCE") or None
    ensure_mnist(data_dir, source=source_dir)  # fail here, once, rather than in every notebook
    env_before = os.environ.get("MNIST_REPORTS_BATCH")
    os.environ["MNIST_REPORTS_BATCH"] = "1"
    runs: dict[str, NotebookRun] = {}
    try:
        for name in names:
            run = runs[name] = NotebookRun(name)
            failed_deps = [dep for dep in DEPENDENCIES.get(name, ()) if dep in runs and runs[dep].status != "ok"]
            if failed_deps:
                run.status, run.error = "skipped", f"depends on {', '.join(failed_deps)}, which failed"
                log(f"[{name}] skipped: {run.error}")
                continue
            params = {**chosen.params_for(name), "data_dir": str(data_dir), "data_source": source_dir,
                      "output_dir": str(output), "checkpoint_dir": str(output / "checkpoints")}
            validate_params(name, params, partial=True)
            metrics_file = metrics_path(output, name)
            metrics_file.unlink(missing_ok=True)  # a failed run must not show the last run's numbers
            progress_log = executed_dir / f"{name}.progress.log"
            progress_log.unlink(missing_ok=True)
            os.environ["MNIST_REPORTS_PROGRESS"] = str(progress_log)
            log(f"[{name}] running ({chosen.name} profile; progress in {progress_log}) ...")
            t0 = time.perf_counter()
            run.error = _execute(notebook_dir / f"{name}.ipynb", params, executed_dir / f"{name}.ipynb", notebook_dir)
            run.seconds = time.perf_counter() - t0
            if run.error is None and metrics_file.exists():
                run.status = "ok"
                run.metrics = json.loads(metrics_file.read_text())
            else:
                run.status = "failed"
                run.error = run.error or "the notebook finished without writing its metrics file"
            executed = executed_dir / f"{name}.ipynb"
            if executed.exists():
                run.html = render_html(executed, output / f"{name}.html", no_input=no_input,
                                       title=f"{name}: {TITLES[name]}")
            log(f"[{name}] {run.status} in {run.seconds:.1f} s" + (f": {run.error}" if run.error else ""))
    finally:
        os.environ.pop("MNIST_REPORTS_PROGRESS", None)
        if env_before is None:
            os.environ.pop("MNIST_REPORTS_BATCH", None)
        else:
            os.environ["MNIST_REPORTS_BATCH"] = env_before
    seconds = time.perf_counter() - started
    built = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write_text(output / "build.json", to_json({
        "profile": chosen.name, "seconds": round(seconds, 2), "finished": built, "peak_rss_mb": peak_memory_mb(),
        "runs": {n: {"status": r.status, "seconds": round(r.seconds, 2), "error": r.error} for n, r in runs.items()},
    }))
    index = write_index(output, runs, chosen.name, seconds, built)
    return BuildResult(runs=runs, index_path=index, seconds=seconds)


# --------------------------------------------------------------------------- index page

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


def _status_cell(run: NotebookRun) -> str:
    text = html.escape(run.status)
    if run.error:
        text += f"<br><small>{html.escape(run.error[:300])}</small>"
    return f'<td class="{html.escape(run.status)}">{text}</td>'


def peak_memory_mb() -> dict:
    """Peak resident memory of this process and of its largest finished child (the kernels)."""
    import resource

    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20  # Linux reports kB, macOS bytes
    return {"build_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale, 1),
            "largest_kernel": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale, 1)}


def refresh_index(output: str | os.PathLike) -> Path:
    """Rewrite ``index.html`` from ``build.json`` and the metrics files (after ``make bench``
    adds its results, so the index links them)."""
    output = Path(output)
    build = json.loads((output / "build.json").read_text())
    runs = {}
    for name, info in build["runs"].items():
        metrics = metrics_path(output, name)
        page = output / f"{name}.html"
        runs[name] = NotebookRun(name, status=info["status"], seconds=info["seconds"], error=info.get("error"),
                                 html=page if page.exists() else None,
                                 metrics=json.loads(metrics.read_text()) if info["status"] == "ok" else None)
    return write_index(output, runs, build["profile"], build["seconds"], build.get("finished", ""))


def write_index(output: Path, runs: Mapping[str, NotebookRun], profile: str, seconds: float, built: str) -> Path:
    """``index.html``: one row per notebook (headline numbers, seconds, status, link) and the build's provenance."""
    env = next((r.metrics["environment"] for r in runs.values() if r.metrics and r.metrics.get("environment")),
               None) or provenance()
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
    commit = (git.get("commit") or "unknown")[:12] + (" (dirty work tree)" if git.get("dirty") else "")
    versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v)
    failed = [n for n, r in runs.items() if r.status != "ok"]
    summary = (f"{len(runs) - len(failed)} of {len(runs)} notebooks built"
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
<h2>Build</h2>
<div class="wrap"><table><tbody>
<tr><th>profile</th><td>{html.escape(profile)}</td></tr>
<tr><th>seed</th><td>{html.escape(', '.join(seeds) or 'n/a')}</td></tr>
<tr><th>git commit</th><td><code>{html.escape(commit)}</code></td></tr>
<tr><th>device</th><td>{html.escape(str(env.get('device')))} ({html.escape(str(env.get('cpu')))})</td></tr>
<tr><th>libraries</th><td>{html.escape(versions)}</td></tr>
<tr><th>built (UTC)</th><td>{html.escape(built)}</td></tr>
<tr><th>build seconds</th><td>{seconds:.1f}</td></tr>
</tbody></table></div>
</main></body></html>
"""
    return atomic_write_text(output / "index.html", page)

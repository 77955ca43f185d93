"""Shared fixtures: the real MNIST and Fashion-MNIST, taken from the verified data folder that
`make test` fills through the project's own acquisition chain (`python -m mnist_lib data`, which
tries ../shared/mnist or $MNIST_SOURCE first where there is one), copied once per test session into
a temporary cache, and small splits of them; the command line in this process and in a child
process; the stand-in notebooks the build, sweep, cluster and site tests run instead of the series;
and the helpers more than one test file uses (fixtures, never imported: no test file imports
another, nor this one).

A test that starts a process (the CLI in a subprocess, a notebook kernel, a Dask cluster, a
browser) is marked ``slow``; ``-m "not slow"`` runs in-process tests only."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterable, Mapping
from unittest import mock

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parent.parent
# The data folder the tests read (make test passes its DATA_DIR); the project's data/ by default.
DATA_DIR_ENV = "MNIST_REPORTS_TEST_DATA"


def test_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or REPO / "data")


test_data_dir.__test__ = False  # a helper, not a test


def verified_folder(dataset: str) -> Path:
    """The folder of ``dataset``'s verified files in the test data folder; the test fails with the command
    that fetches them when they are not there (no network is used here)."""
    from mnist_lib import datasets

    folder = test_data_dir()
    try:
        return datasets.ensure_dataset(dataset, folder, sources=[]).directory
    except datasets.DatasetUnavailableError:
        option = "" if dataset == "mnist" else f" DATASET={dataset}"
        pytest.fail(f"{datasets.get_dataset(dataset).title} is not verified in {folder}: `make test` fetches it "
                    f"(or `make data{option}`)")


# --------------------------------------------------------------------------- order

# The test files that take longest in all, longest first (seconds of one worker in `make test`, 2026-12-07:
# test_reports.py ~390 (the quick build and what reads it), test_other_datasets.py ~200 (two real series),
# test_build.py ~105, test_notebook_text.py ~95, test_dask.py ~75, test_sweep.py ~75, test_site.py ~65,
# test_dataset_series.py ~40). `--dist loadfile` hands out whole files in collection order (the Makefile turns
# off xdist's reordering by test count, which put these last): started first, they do not leave one worker
# running a long file at the end while the other idles.
LONGEST_FILES = ("test_reports.py", "test_other_datasets.py", "test_build.py", "test_notebook_text.py",
                 "test_dask.py", "test_sweep.py", "test_site.py", "test_dataset_series.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its order


# --------------------------------------------------------------------------- data


@pytest.fixture(scope="session")
def mnist_source() -> Path:
    """MNIST's four verified IDX files (plain), as a folder to give a build as --source."""
    return verified_folder("mnist")


@pytest.fixture(scope="session")
def fashion_source() -> Path:
    """Fashion-MNIST's four verified IDX files (plain)."""
    return verified_folder("fashion-mnist")


@pytest.fixture(scope="session")
def mnist_data_dir(tmp_path_factory, mnist_source) -> Path:
    from mnist_lib.datasets import ensure_dataset

    data_dir = tmp_path_factory.mktemp("mnist-data")
    ensure_dataset("mnist", data_dir, source=mnist_source, progress=False)
    return data_dir


@pytest.fixture(scope="session")
def data(mnist_data_dir, mnist_source) -> tuple[Path, Path]:
    """(--data-dir, --source) of a build or sweep on MNIST."""
    return mnist_data_dir, mnist_source


@pytest.fixture(scope="session")
def mnist_raw(mnist_data_dir):
    from mnist_lib.datasets import load_dataset

    return load_dataset("mnist", mnist_data_dir)


@pytest.fixture(scope="session")
def small_splits(mnist_raw):
    from mnist_lib.data import prepare_data

    return prepare_data(mnist_raw, train_limit=3000, test_limit=1000, seed=0)


@pytest.fixture(scope="session")
def tiny_splits(mnist_raw):
    """550 training, 50 validation and 200 test images: for what a test checks of the training loop's
    mechanics (repeatability, reads, checkpoints, callbacks), not of how well it learns."""
    from mnist_lib.data import prepare_data

    return prepare_data(mnist_raw, train_limit=600, test_limit=200, seed=0)


@pytest.fixture(scope="session")
def write_idx_folder() -> Callable[..., Path]:
    """``write_idx_folder(folder, train, train_labels, test, test_labels, classes=None)``: the four IDX
    files of those arrays (uint8) in ``folder``, and a classes.txt when ``classes`` is given."""
    import numpy as np

    from mnist_lib.datasets import idx

    def write(folder: Path, train, train_labels, test, test_labels, classes: list[str] | None = None) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name, array in ((idx.TRAIN_IMAGES, train), (idx.TRAIN_LABELS, train_labels), (idx.TEST_IMAGES, test),
                            (idx.TEST_LABELS, test_labels)):
            (folder / name).write_bytes(idx.encode_idx(np.asarray(array, dtype=np.uint8)))
        if classes is not None:
            (folder / "classes.txt").write_text("\n".join(classes) + "\n")
        return folder

    return write


@pytest.fixture(scope="session")
def write_yaml() -> Callable[[Path, str], Path]:
    """``write_yaml(path, text)``: a sweep or profile file; its path."""
    def write(path: Path, text: str) -> Path:
        path.write_text(text)
        return path

    return write


@pytest.fixture(scope="session")
def lr_trace() -> Callable[..., list[float]]:
    """``lr_trace(scheduler, total_steps, lr=0.1)``: the learning rate of each of ``total_steps`` optimizer
    steps under a schedule of :func:`mnist_lib.training.make_scheduler`."""
    import torch

    from mnist_lib import training

    def trace(scheduler: str, total_steps: int, lr: float = 0.1) -> list[float]:
        model = torch.nn.Linear(4, 2)
        opt = training.make_optimizer("sgd", model.parameters(), lr=lr)
        sched = training.make_scheduler(scheduler, opt, total_steps=total_steps)
        rates = []
        for _ in range(total_steps):
            rates.append(opt.param_groups[0]["lr"])
            opt.step()
            if sched is not None:
                sched.step()
        return rates

    return trace


# --------------------------------------------------------------------------- the command line


@pytest.fixture
def run_cli(capsys) -> Callable[..., tuple[int, str, str]]:
    """``run_cli(*args)``: ``python -m mnist_lib ARGS`` in this process (what the entry point calls): exit
    code, stdout, stderr. One slow test per command family still runs the real entry point in a subprocess."""
    from mnist_lib import cli

    def run(*args) -> tuple[int, str, str]:
        code = cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _mnist_lib_process(*args, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mnist_lib", *[str(a) for a in args]], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout)


@pytest.fixture(scope="session")
def run_build() -> Callable[..., subprocess.CompletedProcess]:
    """``run_build(output, data_dir, source, *extra, timeout=900)``: the real report build on the quick
    profile, through the CLI in a subprocess, as a user runs it (slow)."""
    def build(output: Path, data_dir: Path, source: Path, *extra: str, timeout: int = 900):
        return _mnist_lib_process("reports", "--profile", "quick", "--output", output, "--data-dir", data_dir,
                                  "--source", source, *extra, timeout=timeout)

    return build


@pytest.fixture(scope="session")
def sweep_cli() -> Callable[..., subprocess.CompletedProcess]:
    """``sweep_cli(file, out, data, notebooks, *extra, timeout=900)``: ``python -m mnist_lib sweep`` in a
    subprocess (slow); ``data`` is the (data_dir, source) pair of the ``data`` fixture."""
    def sweep(file: Path, out: Path, data: tuple[Path, Path], notebooks: Path, *extra: str,
              timeout: int = 900) -> subprocess.CompletedProcess:
        return _mnist_lib_process("sweep", file, "--output", out, "--data-dir", data[0], "--source", data[1],
                                  "--notebooks", notebooks, *extra, timeout=timeout)

    return sweep


@pytest.fixture(scope="session")
def executed_count() -> Callable[[subprocess.CompletedProcess], int]:
    """``executed_count(done)``: how many runs a sweep says it executed (its ``Sweep ...`` line)."""
    def count(done: subprocess.CompletedProcess) -> int:
        line = next(line for line in done.stdout.splitlines() if line.startswith("Sweep "))
        return int(line.split(" runs: ")[1].split(" executed")[0])

    return count


@pytest.fixture(scope="session")
def quick_build(tmp_path_factory, mnist_data_dir, mnist_source, run_build) -> Path:
    """The whole series built once on the quick profile (papermill + nbconvert)."""
    output = tmp_path_factory.mktemp("reports")
    done = run_build(output, mnist_data_dir, mnist_source)
    if done.returncode != 0:
        pytest.fail(f"quick build failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return output


# --------------------------------------------------------------------------- stand-in notebooks

# The setup cell of every stand-in: it logs its start (LOG), sleeps (SLEEP), runs its notebook's extra
# code, fails if asked to, and with RICH shows a provenance table as reports.Run.show_provenance does.
STAND_IN_START = """
import json, os, pathlib, time
import numpy as np

def note(event):
    # one line per event; the PID is the process that runs the task (kernel -> runner -> worker)
    if LOG:
        import psutil
        with open(LOG, 'a') as f:
            f.write(f"{event} {NAME} {output_dir} {psutil.Process().parent().parent().pid}\\n")

note('start')
time.sleep(SLEEP)
"""
STAND_IN_CHECKS = """
if FAIL:
    raise RuntimeError(f'stand-in failure in {NAME}')
if FAIL_IF_SEED is not None and seed == FAIL_IF_SEED and not pathlib.Path(FAIL_IF_SEED_UNLESS).exists():
    raise RuntimeError(f'stand-in failure for seed {seed}')
if RICH:
    import matplotlib.pyplot as plt
    import pandas as pd
    from IPython.display import display
    from mnist_lib import reports
    from mnist_lib.environment import git_state
    reports.setup_notebook()
    run = reports.Run(notebook=NAME, params={'seed': seed, 'output_dir': output_dir, 'data_dir': data_dir},
                      device='cpu', provenance={'date': '2026-01-02T03:04:05+00:00', 'git': git_state(),
                                                'versions': {'python': '3'}, 'cpu': 'cpu', 'torch_threads': 1})
    run.show_provenance()
"""
# The results cell: per-image predictions of 2,000 test images, 3% of them wrong at random for the seed
# (05: each optimizer's seed-dependent accuracy instead); with RICH a figure wider than a phone, a wide
# table and a printed machine path; then the metrics file, and the log's `done`.
STAND_IN_RESULTS = """
rng = np.random.default_rng(seed)
targets = np.arange(2000) % 10
preds = targets.copy()
wrong = rng.random(2000) < 0.03
preds[wrong] = (targets[wrong] + 1) % 10
accuracy = 100 * float((preds == targets).mean())
if RICH:
    fig, ax = plt.subplots(figsize=(11, 3))  # wider than a phone: it must scale
    ax.plot(rng.random(30))
    reports.show(fig)
    display(pd.DataFrame(rng.random((3, 24)), columns=[f'a rather long column name {i}' for i in range(24)]))
    print(f'results written to {output_dir}')  # a machine path, masked in the report
metrics = {'status': 'ok', 'notebook': NAME, 'omp_threads': os.environ.get('OMP_NUM_THREADS'),
           'malloc_trim': os.environ.get('MALLOC_TRIM_THRESHOLD_'),
           'params': {'seed': seed, 'epochs': 3, 'train_limit': 6000, 'output_dir': output_dir, 'data_dir': data_dir},
           'train_seconds': 1.0 + seed, 'test_size': 2000}
if NAME == '05_optimizers':
    base = {'sgd': 97.0, 'momentum': 97.6, 'adam': 97.5}
    metrics['optimizers'] = {o: {'best_accuracy': round(b + rng.normal(0, 0.1), 2), 'max_epoch_accuracy': b,
                                 'train_seconds': 2.0} for o, b in base.items()}
    metrics['selected_optimizer'] = 'momentum'
    accuracy = metrics['optimizers']['momentum']['best_accuracy']
else:
    metrics['misses'] = int(wrong.sum())
    np.savez_compressed(pathlib.Path(output_dir, NAME + '.predictions.npz'),
                        **{'test_accuracy::index': np.arange(2000, dtype=np.int32),
                           'test_accuracy::target': targets.astype(np.int16),
                           'test_accuracy::pred': preds.astype(np.int16)})
metrics.update(headline={'test accuracy': f'{accuracy:.2f}%'}, test_accuracy=accuracy,
               test_accuracy_low=accuracy - 1, test_accuracy_high=accuracy + 0.8)
pathlib.Path(output_dir, NAME + '.metrics.json').write_text(json.dumps(metrics))
note('done')
"""


def stand_in_notebook(name: str, *, extra: str = "", fail: bool = False, fail_if_seed: int | None = None,
                      unless: Path | None = None, sleep: float = 0.0, log: Path | None = None, rich: bool = False):
    """The stand-in of notebook ``name`` (see :func:`stand_ins`)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell("output_dir = '.'\ndata_dir = '.'\nseed = 0\nthreads = 1")
    parameters.metadata["tags"] = ["parameters"]
    options = (f"NAME = {name!r}\nLOG = {str(log) if log else None!r}\nSLEEP = {sleep!r}\nFAIL = {fail!r}\n"
               f"FAIL_IF_SEED = {fail_if_seed!r}\nFAIL_IF_SEED_UNLESS = {str(unless or '/nonexistent')!r}\n"
               f"RICH = {rich!r}\n")
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}: a stand-in\n\nWhat this report shows."), parameters,
                nbformat.v4.new_markdown_cell("## Run settings\n\nThe table says how to repeat this report."),
                nbformat.v4.new_code_cell(options + STAND_IN_START + extra + "\n" + STAND_IN_CHECKS),
                nbformat.v4.new_markdown_cell("## Results\n\nA figure, a wide table, a line of text."),
                nbformat.v4.new_code_cell(STAND_IN_RESULTS + "# " + "a very long comment line " * 10)]
    return nb


@pytest.fixture(scope="session")
def stand_ins() -> Callable[..., Path]:
    """``stand_ins(folder, *, extra=None, fail=(), fail_if_seed=None, unless=None, sleep=0.0, log=None,
    rich=False)``: one stand-in notebook per notebook of the series in ``folder`` (made if need be); the
    folder, to give a build or sweep as ``--notebooks``.

    A stand-in has the series' shape (a title, a tagged parameters cell ``output_dir``, ``data_dir``,
    ``seed`` and ``threads``, "Run settings" and "Results" sections) and runs in a fraction of a second:
    it writes ``NAME.predictions.npz`` (2,000 test images, 3% wrong at random for its seed) and
    ``NAME.metrics.json`` (its test accuracy from those predictions, with an interval, ``misses``,
    ``train_seconds`` 1 + seed, the ``OMP_NUM_THREADS`` and ``MALLOC_TRIM_THRESHOLD_`` it ran with; 05 instead has seed-dependent
    accuracies of sgd, momentum and adam, momentum selected). Options:

    - ``extra``: {notebook: code} run after the sleep, before the results (kill the kernel, sleep on, ...)
    - ``fail``: notebooks that raise ``RuntimeError: stand-in failure in NAME`` before writing anything
    - ``fail_if_seed`` and ``unless``: every notebook raises ``RuntimeError: stand-in failure for seed N``
      when its seed is ``fail_if_seed``, unless the file ``unless`` exists
    - ``sleep``: seconds each notebook sleeps first
    - ``log``: a file each notebook appends ``start`` and ``done`` lines to: event, notebook, output
      folder, and the PID of the process that runs the task (kernel -> runner -> worker)
    - ``rich``: the outputs of a real report: a provenance table (``reports.Run.show_provenance``), a
      figure, a wide table and a printed machine path (imports mnist_lib, matplotlib and pandas: slower)
    """
    import nbformat

    from mnist_lib import catalogue

    def write(folder: Path, *, extra: Mapping[str, str] | None = None, fail: Iterable[str] = (),
              fail_if_seed: int | None = None, unless: Path | None = None, sleep: float = 0.0,
              log: Path | None = None, rich: bool = False) -> Path:
        names, failing = catalogue.series_names(), set(fail)
        unknown = (set(extra or {}) | failing) - set(names)
        assert not unknown, f"no such notebook in the series: {sorted(unknown)}"
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            nb = stand_in_notebook(name, extra=(extra or {}).get(name, ""), fail=name in failing,
                                   fail_if_seed=fail_if_seed, unless=unless, sleep=sleep, log=log, rich=rich)
            nbformat.write(nb, folder / f"{name}.ipynb")
        return folder

    return write


# --------------------------------------------------------------------------- the site: executed notebooks, runs


def _png_bytes(width: float = 6, height: float = 3) -> bytes:
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(width, height))
    ax.plot(np.arange(10) ** 2)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def png_bytes() -> Callable[..., bytes]:
    """``png_bytes(width=6, height=3)``: a small line plot as PNG bytes."""
    return _png_bytes


def _provenance_output(name: str, params: dict):
    """What a notebook's setup cell displays: the provenance table of reports.Run.show_provenance,
    with the metadata it attaches."""
    import nbformat
    import pandas as pd

    from mnist_lib import reports

    run = reports.Run(notebook=name, params=params, device="cpu",
                      provenance={"date": "2026-01-02T03:04:05+00:00", "git": {"commit": "0123456789abcdef0123",
                                                                              "dirty": False},
                                  "versions": {"python": "3.11.7", "torch": "2.14.1"}, "cpu": "Test CPU",
                                  "torch_threads": 2})
    with mock.patch("IPython.display.display") as display:
        run.show_provenance()
    (frame,), kwargs = display.call_args
    with pd.option_context("display.max_colwidth", 120):  # as reports.setup_notebook() sets it
        return nbformat.v4.new_output("display_data", data={"text/html": frame._repr_html_(),
                                                            "text/plain": repr(frame)}, metadata=kwargs["metadata"])


def _executed_notebook(name: str, out: Path, data_dir: Path, notebook_dir: Path):
    import nbformat
    import numpy as np
    import pandas as pd

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = {"data_dir": str(data_dir), "data_source": None, "output_dir": str(out),
              "checkpoint_dir": str(out / "checkpoints"), "seed": 3}
    nb.metadata["papermill"] = {"input_path": str(notebook_dir / f"{name}.ipynb"), "parameters": params}
    defaults = nbformat.v4.new_code_cell("output_dir = '../reports'\nseed = 0")
    defaults.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell("# Parameters\n" + "\n".join(f"{k} = {v!r}" for k, v in params.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    setup = nbformat.v4.new_code_cell("run = reports.start_run(NAME, globals())\ndisplay(run.provenance_frame())")
    setup.outputs = [_provenance_output(name, params)]
    figure = nbformat.v4.new_code_cell("plots.show(fig)  # " + "a long comment " * 12)
    figure.outputs = [nbformat.v4.new_output("display_data", data={
        "image/png": base64.b64encode(_png_bytes()).decode(), "text/plain": "<Figure>"})]
    wide = pd.DataFrame(np.arange(60).reshape(2, 30), columns=[f"a long column name {i}" for i in range(30)])
    table = nbformat.v4.new_code_cell("display(wide)")
    table.outputs = [nbformat.v4.new_output("display_data", data={"text/html": wide.to_html(),
                                                                  "text/plain": repr(wide)}),
                     nbformat.v4.new_output("stream", name="stdout", text=f"metrics written to {out}/{name}.json\n")]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name} — a report\n\nWhat this report shows."), defaults, injected,
                nbformat.v4.new_markdown_cell("## Run settings\n\nEverything needed to repeat this report."), setup,
                nbformat.v4.new_markdown_cell("## Results\n\nA figure and a wide table."), figure, table]
    return nb


@pytest.fixture(scope="session")
def executed_notebook() -> Callable:
    """``executed_notebook(name, out, data_dir, notebook_dir)``: an executed notebook as papermill leaves it
    (no kernel run): injected absolute paths, a provenance table, a figure, a wide table and a printed path."""
    return _executed_notebook


def _fake_runs(out: Path) -> dict:
    import nbformat

    from mnist_lib import catalogue
    from mnist_lib.runner.pipeline import NotebookRun

    metrics = {
        "01_eda": {"headline": {"train / validation / test": "5,500 / 500 / 2,000"}},
        "02_ann": {"headline": {"test accuracy": "97.50%"}, "test_accuracy": 97.5, "test_accuracy_low": 97.2,
                   "test_accuracy_high": 97.8, "train_seconds": 12.5, "reference_accuracy": 97.21},
        "05_optimizers": {"headline": {"selected optimizer": "adam"}, "test_accuracy": 97.9,
                          "test_accuracy_low": 97.6, "test_accuracy_high": 98.2, "selected_optimizer": "adam",
                          "test_size": 2000, "optimizers": {"sgd": {"best_accuracy": 97.0, "train_seconds": 5.0},
                                                            "adam": {"best_accuracy": 97.9, "train_seconds": 6.0}}},
        "07_hyperparameters": {"headline": {"best configuration": "lr 0.03"}, "test_accuracy": 96.0,
                               "test_accuracy_low": 95.5, "test_accuracy_high": 96.4, "train_seconds": 3.0,
                               "best_config": {"label": "lr 0.03"}},
    }
    (out / "executed").mkdir(parents=True, exist_ok=True)
    runs = {}
    for name in catalogue.series_names():
        if name in metrics:
            nb = nbformat.v4.new_notebook()
            cell = nbformat.v4.new_code_cell("show(fig)")
            cell.outputs = [nbformat.v4.new_output("display_data", data={
                "image/png": base64.b64encode(_png_bytes(8 if name != "01_eda" else 3, 4)).decode()})]
            nb.cells = [cell]
            nbformat.write(nb, out / "executed" / f"{name}.ipynb")
            (out / f"{name}.html").write_text("<html></html>")
            runs[name] = NotebookRun(name, status="ok", seconds=4.0, html=out / f"{name}.html",
                                     metrics={**metrics[name], "params": {"seed": 0}, "status": "ok"})
        else:
            runs[name] = NotebookRun(name, status="failed" if name == "03_lenet" else "skipped",
                                     error=f"it failed in {out}/executed")
    return runs


@pytest.fixture(scope="session")
def fake_runs() -> Callable[[Path], dict]:
    """``fake_runs(out)``: the runs of a build in ``out`` (no notebook run): metrics as the notebooks write
    them and executed notebooks with figures for 01, 02, 05 and 07; 03 failed, 04 and 06 skipped."""
    return _fake_runs


@pytest.fixture(scope="session")
def small_reports() -> Callable[[Path], Path]:
    """``small_reports(tmp_path)``: ``tmp_path/reports`` as a build leaves it (no notebook run), with two
    rendered reports (02, 05) and everything else a build writes: benchmarks, a sweep page, a checkpoint,
    build.json and the index."""
    import json

    import nbformat

    from mnist_lib.website import index, render

    def make(tmp_path: Path) -> Path:
        out = tmp_path / "reports"
        out.mkdir()
        runs = _fake_runs(out)
        for name in ("02_ann", "05_optimizers"):
            executed = out / "executed" / f"{name}.ipynb"
            nbformat.write(_executed_notebook(name, out, tmp_path / "data", tmp_path / "nbs"), executed)
            render.render_html(executed, out / f"{name}.html", title=name, profile="quick")
            (out / f"{name}.metrics.json").write_text(json.dumps({"params": {"data_dir": str(tmp_path / "data"),
                                                                             "output_dir": str(out)}}))
        for name in ("01_eda", "07_hyperparameters"):
            (out / f"{name}.html").unlink()
            runs[name].html = None
        (out / "benchmarks.md").write_text(f"# Benchmarks\n\n| a | b |\n|---|---|\n| 1 | {out} |\n")
        (out / "benchmarks.json").write_text(json.dumps({"output": str(out)}))
        (out / "sweeps").mkdir()
        (out / "sweeps" / "index.html").write_text('<html><body><a href="../index.html">up</a></body></html>')
        (out / "checkpoints").mkdir()
        (out / "checkpoints" / "x.pt").write_bytes(b"weights")
        (out / "build.json").write_text(json.dumps({"runs": {n: {"status": r.status, "error": r.error}
                                                             for n, r in runs.items()}}))
        index.write_index(out, runs, "quick", 5.0, "2026-01-02T03:04:05+00:00")
        return out

    return make

"""Reports: what a notebook calls to record its run: parameters and provenance,
targets and reference comparisons, the metrics file and the per-image test
predictions next to it. The build that runs the notebooks is :mod:`mnist_lib.runner`.

Every file is written to a temporary name and renamed, so an interrupted run
never leaves a half-written file that a later build would take as valid.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mnist_lib import catalogue
from mnist_lib.datasets.errors import DatasetError
from mnist_lib.environment import cpu_capability, cpu_name, git_state, now_utc, pick_device, short_commit, versions
from mnist_lib.files import atomic_write, npz_bytes, write_json
from mnist_lib.params import ParameterError, notebook_params


def dataset_record(raw) -> dict:
    """What a metrics file records about the data (a :class:`mnist_lib.datasets.RawDataset`): name,
    title, class names, where the files were read and each file's SHA-256 (pinned or, for an idx
    folder, computed), so the provenance of an idx report names its exact data."""
    return {"name": raw.name, "title": raw.title, "classes": list(raw.classes), "pinned": raw.dataset.pinned,
            "directory": str(raw.directory) if raw.directory is not None else None, "sha256": dict(raw.sha256)}


# --------------------------------------------------------------------------- provenance


def provenance(device: str | None = None) -> dict:
    """What a reader needs to trust and repeat a report: versions, device, commit, date."""
    import torch  # here, not at the top: the build reads this module's file names without loading torch

    return {
        "date": now_utc(),
        "git": git_state(),
        "versions": versions(),
        "device": device or "cpu",
        "cpu": cpu_name(),
        "cpu_capability": cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


# --------------------------------------------------------------------------- notebook side

OUTPUT_METADATA = "mnist_reports"  # this library's key in a notebook output's metadata


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

        commit = short_commit(self.provenance["git"])
        rows = [("notebook", self.notebook), ("date (UTC)", self.provenance["date"]), ("git commit", commit),
                ("device", f"{self.device} ({self.provenance['cpu']}, {self.provenance['torch_threads']} threads)"),
                ("CPU instruction set (torch kernels)", self.provenance.get("cpu_capability", "unknown"))]
        rows += [(f"version: {k}", v) for k, v in self.provenance["versions"].items()]
        rows += [(f"parameter: {k}", _short(v)) for k, v in self.params.items()]
        return pd.DataFrame(rows, columns=["item", "value"]).set_index("item")

    def provenance_summary(self) -> dict:
        """What the line under a report's title states: commit, seed, device and date."""
        return {"commit": short_commit(self.provenance["git"]), "seed": self.params.get("seed"),
                "device": str(self.device), "date": self.provenance["date"]}

    def show_provenance(self) -> None:
        """Display :meth:`provenance_frame` with its summary as the output's metadata, where the site
        finds it: the table goes to the report's appendix, the summary under its title."""
        from IPython.display import display

        display(self.provenance_frame(), metadata={OUTPUT_METADATA: {"provenance": self.provenance_summary()}})


def shown_provenance(output) -> dict | None:
    """The summary carried by a notebook output that is :meth:`Run.show_provenance`'s table, else None."""
    return ((output.get("metadata") or {}).get(OUTPUT_METADATA) or {}).get("provenance")


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) < 120 else text[:117] + "..."


def setup_notebook() -> None:
    """PNG figures at report resolution and compact pandas tables."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            shell.set_custom_exc(user_error_types(), _one_line_error)
            shell.run_line_magic("matplotlib", "inline")
            shell.run_line_magic("config", "InlineBackend.figure_formats = ['png']")
            shell.run_line_magic("config", "InlineBackend.rc = {'figure.dpi': 96, 'savefig.dpi': 96}")
    except ImportError:
        pass
    import pandas as pd

    pd.set_option("display.precision", 4)
    pd.set_option("display.max_rows", 60)
    pd.set_option("display.max_colwidth", 120)


def user_error_types() -> tuple[type[BaseException], ...]:
    """Errors that describe a bad value the user gave (a parameter, a path, a data file): a notebook
    shows them as one line, without the library's traceback."""
    return (ParameterError, DatasetError)


def _one_line_error(shell, etype, value, tb, tb_offset=None) -> list[str]:
    """IPython custom-exception handler: the error as ``Name: message`` and nothing else. The shell
    leaves showing it to the handler; ``_showtraceback`` is how IPython's own ``showtraceback`` emits
    an error output (ipykernel sends it as the cell's error, which papermill and nbconvert show)."""
    stb = [f"{etype.__name__}: {value}"]
    shell._showtraceback(etype, value, stb)
    return stb


def start_run(notebook: str, namespace: Mapping[str, Any]) -> Run:
    """Validate the notebook's parameters (from ``globals()``), fix the process's torch thread count to
    its ``threads`` parameter (torch's arithmetic depends on it, so it is part of the recipe, not of
    the machine), pick the device, note provenance."""
    import torch  # here, not at the top: see provenance

    params = notebook_params(notebook, namespace)
    if params.get("threads") is not None:
        torch.set_num_threads(params["threads"])
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


def predictions_path(output_dir: str | os.PathLike, notebook: str) -> Path:
    return Path(output_dir) / f"{notebook}.predictions.npz"


def save_predictions(run: Run, predictions: Mapping[str, Any], index) -> Path:
    """Save per-image test predictions next to the metrics file, for ``diff`` between builds.

    ``predictions`` maps the name of the accuracy in the metrics file (``"test_accuracy"``,
    or a dotted path such as ``"results.sgd.test_accuracy"``) to a
    :class:`mnist_lib.training.Predictions`; ``index`` holds the test-set indices of
    the images. A few tens of KB, compressed; the same predictions give the same bytes.
    """
    import numpy as np

    index = np.asarray(index.cpu() if hasattr(index, "cpu") else index, dtype=np.int32)
    arrays = {}
    for metric, pred in predictions.items():
        arrays[f"{metric}::index"] = index
        arrays[f"{metric}::target"] = np.asarray(pred.targets, dtype=np.int16)
        arrays[f"{metric}::pred"] = np.asarray(pred.preds, dtype=np.int16)
    return atomic_write(predictions_path(run.params["output_dir"], run.notebook), npz_bytes(arrays))


def finish_run(run: Run, headline: Mapping[str, str], **metrics: Any) -> Path:
    """Write ``<output_dir>/<notebook>.metrics.json``: headline numbers for the index,
    the measured metrics, parameters, seconds and environment."""
    data = metrics.get("dataset")
    record = {
        "notebook": run.notebook,
        "title": catalogue.get(run.notebook).title_on(data["title"] if isinstance(data, dict) else "MNIST"),
        "status": "ok",
        "headline": dict(headline),
        **metrics,
        "params": dict(run.params),
        "seconds": round(run.seconds, 2),
        "environment": run.provenance,
    }
    return write_json(metrics_path(run.params["output_dir"], run.notebook), record)

"""Reports: what a notebook calls to record its run: parameters and provenance,
targets and reference comparisons, the metrics file and the per-image test
predictions next to it. The build that runs the notebooks is :mod:`mnist_lib.build`.

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

from mnist_lib.environment import REPO, cpu_name, git_state, now_utc, short_commit, versions
from mnist_lib.files import atomic_write, write_json

NOTEBOOK_DIR = REPO / "notebooks"
TITLES = {
    "01_eda": "Exploring MNIST",
    "02_ann": "A fully connected network (784-120-84-10)",
    "03_lenet": "LeNet-5",
    "04_cnn": "A batch-normalized CNN with augmentation",
    "05_optimizers": "SGD, momentum and Adam compared",
    "06_feature_maps": "Inside the networks: feature maps and saliency",
    "07_hyperparameters": "A hyperparameter study",
}


# --------------------------------------------------------------------------- provenance


def provenance(device: str | None = None) -> dict:
    """What a reader needs to trust and repeat a report: versions, device, commit, date."""
    import torch

    return {
        "date": now_utc(),
        "git": git_state(),
        "versions": versions(),
        "device": device or "cpu",
        "cpu": cpu_name(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


# --------------------------------------------------------------------------- targets

# Test accuracy (percent) the full profile must reach, and within how many epochs: the
# reference reports' numbers, beaten (97.21, 98.73, 99.44 and 97.18 / 97.95 / 97.83).
ACCURACY_TARGETS: dict[str, tuple[float, int]] = {
    "ann": (98.0, 10), "lenet5": (99.0, 15), "cnn": (99.5, 20),
    "mlp/sgd": (97.5, 25), "mlp/momentum": (98.0, 25), "mlp/adam": (98.0, 25),
}


@dataclass(frozen=True)
class TargetCheck:
    """A measured test accuracy against its target; applicable only to the full setting."""

    model: str
    target: float
    max_epochs: int
    measured: float
    applicable: bool
    reason: str = ""

    @property
    def met(self) -> bool | None:
        return self.measured >= self.target if self.applicable else None

    def short(self) -> str:
        verdict = {True: "met", False: "missed", None: "not checked (subset)"}[self.met]
        return f">= {self.target:.2f}%: {verdict}"

    def text(self) -> str:
        head = f"Target of the full profile for `{self.model}`: at least **{self.target:.2f}%** within " \
               f"{self.max_epochs} epochs."
        if not self.applicable:
            return f"{head} Not checked here: {self.reason}."
        if self.met:
            return f"{head} **Met**: {self.measured:.2f}% (+{self.measured - self.target:.2f} points)."
        return f"{head} **Missed**: {self.measured:.2f}%, {self.target - self.measured:.2f} points short."

    def to_dict(self) -> dict:
        return {"model": self.model, "target": self.target, "max_epochs": self.max_epochs,
                "measured": self.measured, "applicable": self.applicable, "met": self.met}


def check_target(model: str, measured: float, params: Mapping[str, Any]) -> TargetCheck:
    """Compare ``measured`` (percent) with the target of ``model`` (a key of ACCURACY_TARGETS).

    The target applies to the full data (no train or test limit) within its epoch budget.
    """
    target, max_epochs = ACCURACY_TARGETS[model]
    reasons = []
    if params.get("train_limit") is not None or params.get("test_limit") is not None:
        reasons.append(f"this run uses a subset (train_limit={params.get('train_limit')}, "
                       f"test_limit={params.get('test_limit')})")
    if params.get("epochs") is not None and params["epochs"] > max_epochs:
        reasons.append(f"it trains {params['epochs']} epochs, more than {max_epochs}")
    return TargetCheck(model, target, max_epochs, float(measured), not reasons, "; ".join(reasons))


# The reference reports' test accuracy (percent) and the epochs it took.
REFERENCE_RESULTS: dict[str, tuple[float, int]] = {"ann": (97.21, 10), "lenet5": (98.73, 15), "cnn": (99.44, 100)}


@dataclass(frozen=True)
class ReferenceComparison:
    """A measured test accuracy (percent, with its 95% interval) beside the reference report's."""

    model: str
    reference: float
    reference_epochs: int
    measured: float
    low: float
    high: float
    epochs_run: int | None
    differences: tuple[str, ...]

    @property
    def difference(self) -> float:
        return self.measured - self.reference

    def table(self):
        import pandas as pd

        return pd.DataFrame(
            {"test accuracy (%)": [f"{self.measured:.2f}", f"{self.reference:.2f}"],
             "95% CI (%)": [f"{self.low:.2f}–{self.high:.2f}", ""],
             "epochs": [self.epochs_run if self.epochs_run is not None else "n/a (checkpoint)",
                        self.reference_epochs]},
            index=["this run", "reference report"])

    def text(self) -> str:
        inside = "inside" if self.low <= self.reference <= self.high else "outside"
        caveat = (f" This run differs from the reference setting ({'; '.join(self.differences)}), so the gap says "
                  "little about reproducing it." if self.differences else "")
        return (f"Against the reference **{self.reference:.2f}%** ({self.reference_epochs} epochs) that is "
                f"**{self.difference:+.2f} percentage points**, and the reference value lies **{inside}** this "
                f"run's 95% interval.{caveat}")


def compare_with_reference(model: str, accuracy, params: Mapping[str, Any],
                           epochs_run: int | None) -> ReferenceComparison:
    """Set a :class:`mnist_lib.metrics.AccuracyResult` beside the reference report of ``model``,
    noting how this run's setting (epochs, data limits) differs from it."""
    reference, reference_epochs = REFERENCE_RESULTS[model]
    epochs = params.get("epochs")
    differences = []
    if epochs is not None and epochs != reference_epochs:
        differences.append(f"{epochs} epoch{'' if epochs == 1 else 's'} instead of {reference_epochs}")
    if params.get("train_limit") is not None:
        differences.append(f"{params['train_limit']:,} of the 60,000 training images")
    if params.get("test_limit") is not None:
        differences.append(f"a {params['test_limit']:,}-image test subset")
    return ReferenceComparison(model, reference, reference_epochs, 100 * accuracy.accuracy, 100 * accuracy.low,
                               100 * accuracy.high, epochs_run, tuple(differences))


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

        commit = short_commit(self.provenance["git"])
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


def predictions_path(output_dir: str | os.PathLike, notebook: str) -> Path:
    return Path(output_dir) / f"{notebook}.predictions.npz"


def save_predictions(run: Run, predictions: Mapping[str, Any], index) -> Path:
    """Save per-image test predictions next to the metrics file, for ``diff`` between builds.

    ``predictions`` maps the name of the accuracy in the metrics file (``"test_accuracy"``,
    or a dotted path such as ``"results.sgd.test_accuracy"``) to a
    :class:`mnist_lib.training.Predictions`; ``index`` holds the test-set indices of
    the images. A few tens of KB, compressed.
    """
    import io

    import numpy as np

    index = np.asarray(index.cpu() if hasattr(index, "cpu") else index, dtype=np.int32)
    arrays = {}
    for metric, pred in predictions.items():
        arrays[f"{metric}::index"] = index
        arrays[f"{metric}::target"] = np.asarray(pred.targets, dtype=np.int16)
        arrays[f"{metric}::pred"] = np.asarray(pred.preds, dtype=np.int16)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return atomic_write(predictions_path(run.params["output_dir"], run.notebook), buffer.getvalue())


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
    return write_json(metrics_path(run.params["output_dir"], run.notebook), record)

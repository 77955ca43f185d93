"""Every sentence true: each notebook run with non-default parameters on a small subset says,
in its rendered text (Markdown cells and Markdown outputs), the values that actually ran,
and none of the defaults it did not run with."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from mnist_lib import params

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent

SMALL = {"train_limit": 1000, "test_limit": 500, "epochs": 1, "seed": 0, "device": "cpu"}

# Per notebook: the non-default parameters it runs with, fragments its text must contain, and patterns
# (regular expressions) it must not contain: its defaults, where the text would state them as this run's.
CASES = {
    "01_eda": dict(
        params={"augment": False, "examples_per_class": 3, "augment_examples": 2},
        present=["Augmentation is switched off (`augment=False`)", "stratified subsets (train_limit=1000, "
                 "test_limit=500)"],
        absent=[r"This run's augmentation", r"rotation up to"],
    ),
    "02_ann": dict(
        params={"optimizer": "rmsprop", "lr": 0.002, "scheduler": "step", "weight_decay": 0.0,
                "label_smoothing": 0.0, "batch_size": 100, "normalization": "half", "misses_shown": 4,
                "fused_optimizer": True},
        present=["the optimizer's default (unfused) implementation (`rmsprop` has no fused kernel)","`rmsprop` (RMSprop), no weight decay", "learning rate 0.002 divided by 10", "`step` schedule",
                 "batch size 100", "1 epoch;", "no label smoothing", "(x − 0.5) / 0.5 (`half`)",
                 "the optimizer `rmsprop` keeps one more value per parameter",
                 "Both loss curves are the negative log-likelihood", "1 epoch instead of 10"],
        absent=[r"(?i)\badamw?\b", r"(?i)one-?cycle", r"label smoothing 0\.1", r"weight decay 0\.05",
                r"(?<![\d.])0\.003(?!\d)", r"\b10 epochs;", r"batch size 128", r"\(`dataset`\)", r"dashed curve"],
    ),
    "03_lenet": dict(
        params={"optimizer": "momentum", "lr": 0.02, "scheduler": "cosine", "augment": False,
                "label_smoothing": 0.1, "normalization": "none", "batch_size": 64, "samples_shown": 8,
                "memory_format": "channels_last", "threads": 1},
        present=["the channels_last memory format, 1 intra-op thread,",
                 "`memory_format` set by this notebook's parameters",
                 "`momentum` (SGD with momentum 0.9)", "annealed from 0.02 towards 0 along a cosine",
                 "no augmentation", "label smoothing 0.1", "The dashed curve is the loss the optimizer minimized",
                 "pixel values in [0, 1] (`none`)", "batch size 64", "1 epoch;"],
        absent=[r"default \(contiguous\) memory format", r"(?i)\badamw?\b", r"(?i)one-?cycle", r"on augmented images",
                r"rotation up to", r"\b15 epochs;",
                r"batch size 128", r"no label smoothing", r"\(`dataset`\)"],
    ),
    "04_cnn": dict(
        params={"optimizer": "sgd", "lr": 0.05, "scheduler": "none", "augment": False, "normalization": "dataset",
                "label_smoothing": 0.05, "batch_size": 64, "precision": "bf16"},
        present=["bfloat16 autocast in the training step (evaluation in float32)", "`sgd` (plain SGD)", "constant learning rate of 0.05", "no augmentation",
                 "Augmentation is switched off for this run", "label smoothing 0.05", "(`dataset`)",
                 "with dropout active", "normalization dataset instead of half", "1 epoch instead of 100"],
        absent=[r"(?i)\badamw?\b", r"(?i)one-?cycle", r"on augmented images", r"\(`half`\)", r"\b20 epochs;",
                r"batch size 128", r"rotation up to", r"no label smoothing"],
    ),
    "05_optimizers": dict(
        params={"optimizers": "nesterov,rmsprop", "lr_per_optimizer": {"nesterov": 0.05, "rmsprop": 0.001},
                "scheduler": "step", "batch_size": 128, "target_accuracy": 80.0},
        present=["2 optimizers (`nesterov` (SGD with Nesterov momentum 0.9), no weight decay, learning rate 0.05; "
                 "`rmsprop` (RMSprop), no weight decay, learning rate 0.001)", "`step` schedule", "batch size 128",
                 "1 epoch of", "80.00% test accuracy", "None of the optimizers run here has a reference value",
                 "None of the optimizers run here has an accuracy target", "this run's budget was 1 epoch"],
        absent=[r"\bsgd\b", r"`momentum`", r"(?i)\badam\b", r"cosine", r"batch size 64", r"\b25 epochs of",
                r"97\.00%"],
    ),
    "06_feature_maps": dict(
        params={"image_index": 7, "fallback_epochs": 1},
        present=["Test image #7", "trained here for 1 epoch"],
        absent=[r"#0\b", r"trained here for 3 epochs"],
    ),
    "07_hyperparameters": dict(
        params={"optimizer": "adam", "lr": 0.001, "scheduler": "cosine", "batch_size": 64,
                "learning_rates": "0.001,0.1", "hidden_layers": "linear,64", "train_fractions": "1.0,0.5",
                "batch_sizes": "64,256"},
        present=["optimizer `adam` (Adam)", "`cosine` schedule", "1 epoch.", "lr 0.001, batch 64",
                 "The reference report found that", "smallest rate, 0.001,"],
        absent=[r"(?i)momentum", r"(?<![\d.])0\.05(?![\d%]| s\b)", r"256-128-64", r"512-256", r"0\.0003", r"\b5 epochs",
                r"\b3\.0\b"],
    ),
}


def rendered_text(nb) -> str:
    """What a reader of the report reads: Markdown cells and the Markdown the code displayed."""
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source)
        else:
            parts += [out["data"]["text/markdown"] for out in cell.get("outputs", [])
                      if "text/markdown" in out.get("data", {})]
    return "\n".join(parts)


@pytest.fixture(scope="module")
def kernel_env():
    """Kernels import this checkout's mnist_lib and send progress nowhere (as the build does)."""
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "MNIST_REPORTS_BATCH")}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), saved["PYTHONPATH"]]))
    os.environ["MNIST_REPORTS_BATCH"] = "1"
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.mark.parametrize("name", list(CASES))
def test_rendered_text_names_what_ran(name, tmp_path, mnist_data_dir, kernel_env):
    import papermill as pm

    case = CASES[name]
    names = params.notebook_parameters(name)
    given = {**SMALL, **case["params"], "data_dir": str(mnist_data_dir), "output_dir": str(tmp_path),
             "checkpoint_dir": str(tmp_path / "checkpoints")}
    given = {k: v for k, v in given.items() if k in names}
    out = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(str(REPO / "notebooks" / f"{name}.ipynb"), str(out), parameters=given, kernel_name="python3",
                        cwd=str(REPO / "notebooks"), progress_bar=False, log_output=False)
    text = rendered_text(nbformat.read(out, as_version=4))
    missing = [fragment for fragment in case["present"] if fragment not in text]
    assert not missing, f"{name} does not say {missing}"
    stated = {pattern: re.search(pattern, text).group(0) for pattern in case["absent"] if re.search(pattern, text)}
    assert not stated, f"{name} states settings it did not run with: {stated}"
    recorded = json.loads((tmp_path / f"{name}.metrics.json").read_text())["params"]
    expected = params.validate(name, case["params"], partial=True)
    assert {k: recorded[k] for k in expected} == dict(expected)

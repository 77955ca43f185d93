"""The real series, through the CLI, on Fashion-MNIST (Debian's dataset-fashion-mnist) and on an
idx folder made here (MNIST with inverted intensities and class names in classes.txt): every
notebook builds, the reports name the classes where they speak of classes, and nothing in them
is only true of MNIST. A small profile keeps each build to a few minutes on 2 cores."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from mnist_lib import catalogue, datasets

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent

SMALL = """
common:
  seed: 0
  train_limit: {train_limit}
  test_limit: {test_limit}
  device: cpu
01_eda:
  examples_per_class: 3
  augment_examples: 3
02_ann:
  epochs: 1
03_lenet:
  epochs: 1
04_cnn:
  epochs: 1
05_optimizers:
  epochs: 1
06_feature_maps:
  fallback_epochs: 1
07_hyperparameters:
  epochs: 1
  learning_rates: "0.01,0.1"
  hidden_layers: "linear,64"
  train_fractions: "1.0,0.5"
  batch_sizes: "64,256"
"""
# Words that would state something only true of MNIST in a report on other data. ("on MNIST (%)", the
# column of published MNIST results beside Fashion-MNIST's, is a true statement about MNIST.)
MNIST_ONLY = [r"(?i)\bdigits?\b", r"(?<!Fashion-)\bMNIST\b(?! \(%\))", r"(?i)\bink\b", r"(?i)\bstrokes?\b"]


def reader_text(path: Path) -> str:
    """What a reader of a report reads: Markdown cells, Markdown and HTML (tables) outputs, printed text."""
    parts = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source)
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            parts += [data[kind] for kind in ("text/markdown", "text/html") if kind in data]
            if out.get("output_type") == "stream":
                parts.append(out["text"])
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", "\n".join(parts)))


def build(tmp_path: Path, data_dir: Path, train_limit, test_limit, *args: str) -> tuple[Path, str]:
    profile = tmp_path / "small.yaml"
    profile.write_text(SMALL.format(train_limit=train_limit, test_limit=test_limit))
    out = tmp_path / "reports"
    done = subprocess.run([sys.executable, "-m", "mnist_lib", "reports", "--profile", str(profile), "--output", str(out),
                           "--data-dir", str(data_dir), *args], capture_output=True, text=True, cwd=REPO, timeout=1500)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return out, done.stdout


def check_reports(folder: Path, classes: list[str], noun: str,
                  notebooks: tuple[str, ...] = catalogue.series_names()) -> dict[str, str]:
    """Every report of ``notebooks``: built, naming classes where it speaks of them, and free of MNIST-only
    text."""
    build_record = json.loads((folder / "build.json").read_text())
    assert all(run["status"] == "ok" for run in build_record["runs"].values()), build_record["runs"]
    name = "|".join(re.escape(c) for c in classes)
    expected = {  # where each report names classes in its prose
        "01_eda": rf"the most frequent training {noun}, \*\*({name})\*\*",
        "02_ann": rf"{noun.capitalize()} \*\*({name})\*\* is recognized best",
        "03_lenet": rf"The best recognized {noun} is \*\*({name})\*\*",
        "04_cnn": rf"Every {noun}'s AUC is between \*\*[\d.]+\*\* \({noun} ({name})\)",
        "05_optimizers": rf"\*\*sgd\*\* recognises ({name}) best",
        "06_feature_maps": rf"Test image #0 shows a \*\*({name})\*\*",
        "07_hyperparameters": rf"The hardest {noun} is ({name})",
    }
    texts = {}
    for notebook in notebooks:
        text = texts[notebook] = reader_text(folder / "executed" / f"{notebook}.ipynb")
        assert re.search(expected[notebook], text), f"{notebook} does not name a class: {expected[notebook]}"
        found = {pattern: re.search(pattern, text) for pattern in MNIST_ONLY}
        stated = {p: text[max(0, m.start() - 60):m.end() + 60] for p, m in found.items() if m}
        assert not stated, f"{notebook} says what only holds for MNIST: {stated}"
        metrics = json.loads((folder / f"{notebook}.metrics.json").read_text())
        assert metrics["dataset"]["classes"] == classes and metrics["status"] == "ok"
    for notebook in {"02_ann", "03_lenet", "04_cnn", "07_hyperparameters"} & set(notebooks):  # tables by class name
        assert all(c in texts[notebook] for c in classes), notebook
    return texts


def test_the_quick_series_on_fashion_mnist(tmp_path, mnist_data_dir, fashion_source):
    out, log = build(tmp_path, mnist_data_dir, 1000, 500, "--dataset", "fashion-mnist", "--source", str(fashion_source))
    folder = out / "fashion-mnist"
    classes = list(datasets.FASHION_MNIST.classes)
    texts = check_reports(folder, classes, "class")
    assert '<a href="fashion-mnist/index.html">Fashion-MNIST</a>' in (out / "index.html").read_text()
    assert "<title>01_eda: Exploring Fashion-MNIST</title>" in (folder / "01_eda.html").read_text()
    # Flips are on for clothes by default, and the reports say why.
    assert "Random horizontal flips are **on** (the default for Fashion-MNIST" in texts["04_cnn"]
    assert "random horizontal flips, rotation" in texts["03_lenet"]
    # Published references, with their sources; no MNIST targets.
    assert "The Fashion-MNIST paper's scikit-learn benchmark measured 87.10%" in texts["02_ann"]
    assert "The Fashion-MNIST README's submitted benchmarks measured 92.10%" in texts["04_cnn"]
    assert "arXiv:1708.07747, Table 3" in texts["04_cnn"] and "SVC" in texts["04_cnn"]
    for notebook in ("02_ann", "03_lenet", "04_cnn"):
        assert "No accuracy target is set for Fashion-MNIST" in texts[notebook]
        assert "Target of the full profile" not in texts[notebook]
    assert "The target, 85%, is the default for Fashion-MNIST" in texts["05_optimizers"]
    assert "there is no reference finding for Fashion-MNIST" in texts["07_hyperparameters"]
    assert "The constants usually passed to `transforms.Normalize` for Fashion-MNIST are 0.286 and 0.353" in \
        texts["01_eda"]
    for notebook in ("02_ann", "03_lenet", "04_cnn", "05_optimizers", "07_hyperparameters"):
        accuracy = json.loads((folder / f"{notebook}.metrics.json").read_text())["test_accuracy"]
        assert 10.0 < accuracy <= 100.0, (notebook, accuracy)  # above chance after one short epoch


def test_the_quick_series_on_an_idx_folder(tmp_path, mnist_raw, write_idx_folder):
    """MNIST's first images, dark on light, with their classes named in classes.txt."""
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    folder = write_idx_folder(tmp_path / "inverted", 255 - mnist_raw.train_images[:1000].numpy(),
                              mnist_raw.train_labels[:1000].numpy(), 255 - mnist_raw.test_images[:400].numpy(),
                              mnist_raw.test_labels[:400].numpy(), classes=names)
    # the notebooks whose text depends on how the data looks (01) and how classes are named (02, 04); the
    # Fashion-MNIST test above runs every notebook of the series on data other than MNIST
    only = ("01_eda", "02_ann", "04_cnn")
    out, log = build(tmp_path, tmp_path / "data", "null", "null", "--dataset", "idx", "--source", str(folder),
                     "--only", ",".join(only))
    texts = check_reports(out / "idx-inverted", names, "class", only)
    files = datasets.ensure_dataset("idx", source=folder)
    assert "The data: the IDX folder **inverted**" in texts["01_eda"]
    assert f"`train-images-idx3-ubyte` {files.sha256['train-images-idx3-ubyte']}" in texts["01_eda"]
    assert "exactly 255 (background: the commonest value on the images' border)" in texts["01_eda"]
    assert "Random horizontal flips are **off** (the default for an IDX folder" in texts["04_cnn"]
    assert "There is no published result for this model on the IDX folder inverted" in texts["02_ann"]
    assert "- The IDX folder inverted here is 917 training" in texts["01_eda"]
    assert "<title>01_eda: Exploring the IDX folder inverted</title>" in (out / "idx-inverted" / "01_eda.html").read_text()
    record = json.loads((out / "idx-inverted" / "build.json").read_text())["dataset"]
    assert record == {"name": "idx", "title": "the IDX folder inverted", "source": str(folder.resolve()),
                      "folder": "idx-inverted"}
    assert json.loads((out / "idx-inverted" / "02_ann.metrics.json").read_text())["dataset"]["sha256"] == files.sha256

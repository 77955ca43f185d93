"""The one table of reference results and targets: lookups, comparisons, and that nothing else types them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mnist_lib import metrics, references, reports
from mnist_lib.config import ParameterError

REPO = Path(__file__).resolve().parent.parent


def test_lookups_by_dataset_and_model():
    mnist = references.for_dataset("mnist")
    assert mnist.result("cnn").accuracy == 99.44 and mnist.result("cnn").epochs == 100
    assert mnist.target("ann").accuracy == 98.0
    assert mnist.accuracies("mlp") == {"sgd": 0.9718, "momentum": 0.9795, "adam": 0.9783}
    assert set(mnist.group("mlp")) == {"sgd", "momentum", "adam"}
    with pytest.raises(ParameterError, match="no reference results for dataset 'fashion'; known: mnist"):
        references.for_dataset("fashion")
    with pytest.raises(ParameterError, match="no reference result for 'vit' on mnist; known: ann"):
        mnist.result("vit")
    assert references.has_target("mlp/adam") and not references.has_target("mlp/rmsprop")


def test_reports_keeps_the_notebook_api():
    assert reports.check_target is references.check_target
    assert reports.compare_with_reference is references.compare_with_reference


def test_comparison_names_every_difference_from_the_reference_setting():
    acc = metrics.accuracy_with_interval([1] * 95 + [0] * 5, [1] * 100)
    same = references.compare_with_reference("cnn", acc, {"epochs": 100, "normalization": "half",
                                                          "train_limit": None, "test_limit": None}, 100)
    assert same.differences == () and "differs" not in same.text()
    other = references.compare_with_reference("cnn", acc, {"epochs": 1, "normalization": "dataset",
                                                           "train_limit": 1000, "test_limit": 500}, 1)
    assert other.differences == ("1 epoch instead of 100", "normalization dataset instead of half",
                                 "1,000 of the 60,000 training images", "a 500-image test subset")
    assert "99.44%" in other.setting_text() and "normalization half" in other.setting_text()


def test_normalization_reading_compares_with_the_customary_constants():
    assert "the same to four decimals" in references.normalization_reading(0.13066, 0.30811)
    assert "a difference of +0.1693 and +0.0419" in references.normalization_reading(0.3, 0.35)


def test_no_notebook_or_module_types_a_reference_number():
    """The published accuracies and targets live in references.py only (a copy elsewhere would drift)."""
    numbers = {f"{r.accuracy:.2f}" for ds in references.REFERENCES.values() for r in ds.results.values()}
    pattern = re.compile("|".join(re.escape(n) for n in sorted(numbers)))
    files = [*(REPO / "notebooks").glob("*.ipynb"), *(REPO / "mnist_lib").glob("*.py")]
    offenders = [f"{path.name}: {m.group(0)}" for path in files if path.name != "references.py"
                 for m in pattern.finditer(path.read_text())]
    assert not offenders, offenders

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
    with pytest.raises(ParameterError, match="no reference results for dataset 'fashion'; known: mnist, fashion-mnist"):
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


def test_fashion_mnist_references_are_published_numbers_with_their_sources():
    fashion = references.for_dataset("fashion-mnist")
    assert not fashion.targets and not references.has_target("ann", "fashion-mnist")  # no targets off MNIST
    assert references.has_reference("cnn", "fashion-mnist") and not references.has_reference("cnn", "idx")
    assert not references.has_target("ann", "idx") and references.group("mlp", "idx") == {}
    for result in fashion.results.values():
        assert result.source in fashion.sources and result.model and result.epochs is None
    # The closest published model to each series model, each with its source.
    assert (fashion.result("ann").accuracy, fashion.result("ann").source) == (87.1, references.FASHION_PAPER)
    assert fashion.result("lenet5").accuracy == 91.6 and "convnet.py" in fashion.result("lenet5").model
    assert fashion.result("cnn").source == references.FASHION_README
    table = references.benchmark_table("fashion-mnist")
    assert table.iloc[0][["classifier", "parameters", "test accuracy (%)"]].tolist() == [
        "2 Conv, under 100K parameters (@hardmaru)", "no preprocessing", 92.5]
    svc = table[table.classifier == "SVC"].iloc[0]
    assert (svc.parameters, svc["test accuracy (%)"], svc["on MNIST (%)"]) == ("C=10, kernel=rbf", 89.7, 97.3)
    assert references.benchmark_table("mnist").empty and references.benchmark_table("idx").empty
    sources = references.sources_text("fashion-mnist")
    assert "arXiv:1708.07747, Table 3" in sources and "benchmark/baselines.json" in sources
    assert "README.md.gz" in sources and "not re-tested" in sources
    assert references.sources_text("mnist") == ""
    assert references.convergence_target("mnist") == 97.0 and references.convergence_target("idx") == 90.0
    assert references.finding("07_hyperparameters", "fashion-mnist") is None
    assert references.finding("07_hyperparameters") is references.for_dataset().findings["07_hyperparameters"]


def test_a_comparison_with_another_model_says_so_and_where_the_number_comes_from():
    acc = metrics.accuracy_with_interval([1] * 88 + [0] * 12, [1] * 100)
    versus = references.compare_with_reference("ann", acc, {"epochs": 10, "train_limit": None, "test_limit": None},
                                                10, dataset="fashion-mnist")
    assert versus.differences == ("another model: scikit-learn's MLPClassifier with one hidden layer of 100 ReLU "
                                  "units",)  # no epoch difference: the source does not state its epochs
    assert versus.setting_text().startswith("The Fashion-MNIST paper's scikit-learn benchmark measured 87.10% (mean "
                                            "test accuracy of 5 runs of scikit-learn's MLPClassifier")
    assert "(training length not stated)" in versus.text()
    table = versus.table()
    assert list(table.index) == ["this run", references.FASHION_PAPER] and table.iloc[1]["epochs"] == "not stated"
    mnist = references.compare_with_reference("ann", acc, {"epochs": 10, "train_limit": None, "test_limit": None}, 10)
    assert list(mnist.table().index) == ["this run", "the reference report"]
    assert mnist.setting_text().startswith("The reference report measured 97.21%")


def test_datasets_without_references_say_so():
    assert references.no_target_text("scans") == ("No accuracy target is set for scans; the series' targets belong to "
                                                  "the data it was tuned on.")
    assert "no published result for this model on scans" in references.no_reference_text("ann", "scans")
    assert references.normalization_reading(0.5, 0.2, "idx", "scans") == (
        "There are no customary normalization constants for scans to compare with.")
    assert "Fashion-MNIST are 0.286 and 0.353" in references.normalization_reading(0.286, 0.353, "fashion-mnist")

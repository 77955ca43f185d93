"""The one table of reference results and targets: lookups, comparisons, and that nothing else types them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mnist_lib import metrics, prose, references

REPO = Path(__file__).resolve().parent.parent


def test_lookups_by_dataset_and_model():
    mnist = references.for_dataset("mnist")
    assert mnist.result("cnn").accuracy == 99.44 and mnist.result("cnn").epochs == 100
    assert mnist.target("ann").accuracy == 98.0
    assert mnist.accuracies("mlp") == {"sgd": 0.9718, "momentum": 0.9795, "adam": 0.9783}
    assert set(mnist.group("mlp")) == {"sgd", "momentum", "adam"}
    with pytest.raises(KeyError, match="no reference results for dataset 'fashion'; known: mnist, fashion-mnist"):
        references.for_dataset("fashion")
    with pytest.raises(KeyError, match="no reference result for 'vit' on mnist; known: ann"):
        mnist.result("vit")
    assert references.has_target("mlp/adam") and not references.has_target("mlp/rmsprop")


def _accuracy(correct: int, n: int):
    return metrics.accuracy_with_interval([1] * correct + [0] * (n - correct), [1] * n)


# The parameters of a full run of 04 on MNIST: 55,000 of the reference's 60,000 images train it.
CNN_RUN = {"epochs": 20, "normalization": "half", "train_limit": None, "test_limit": None, "optimizer": "adam",
           "lr": 0.01, "scheduler": "onecycle", "augment": True, "rotation": 10.0, "hflip": None, "ema_decay": 0.0}


def test_a_comparison_names_the_training_images_even_on_the_full_profile():
    """A full run trains on 55,000 images (5,000 held out for validation); the reference on 60,000.
    The old sentence named the images only when train_limit was set."""
    versus = references.compare_with_reference("cnn", _accuracy(9940, 10000), CNN_RUN, 20, train_images=55000)
    found = prose.references.differences(versus)
    assert found == ["20 epochs instead of 100",
                     "55,000 training images instead of 60,000, 5,000 of its images held out for validation"]
    text = prose.references.comparison_text(versus)
    assert text.startswith("The reference report measured 99.44% (test accuracy; 100 epochs on 60,000 training "
                           "images, normalization half).")
    assert "differ in 2 known ways" in text and "55,000 training images instead of 60,000" in text
    assert list(versus.table()["training images"]) == ["55,000", "60,000"]


def test_a_comparison_says_what_the_source_leaves_unstated_with_this_runs_values():
    versus = references.compare_with_reference("cnn", _accuracy(9940, 10000), CNN_RUN, 20, train_images=55000)
    text = prose.references.comparison_text(versus)
    # The reference states its epochs and normalization; the rest of the recipe is unknown, not assumed equal.
    assert ("The source does not state its recipe beyond what is named here, so the two may differ in any of this "
            "run's settings: `optimizer` adam, `lr` 0.01, `scheduler` onecycle, `augment` true, `rotation` 10, "
            "`hflip` none and `ema_decay` 0.") in text
    assert "`normalization`" not in text and "`epochs`" not in text
    plain = references.compare_with_reference("cnn", _accuracy(9940, 10000), {**CNN_RUN, "augment": False}, 20, 55000)
    assert "`rotation`" not in prose.references.comparison_text(plain)  # augmentation settings only when it is on


def test_a_comparison_with_every_setting_equal_says_no_difference_is_known():
    same = references.compare_with_reference("cnn", _accuracy(95, 100), {"epochs": 100, "normalization": "half",
                                                                        "train_limit": None, "test_limit": None},
                                             100, train_images=60000)
    assert same.test_images == 100 and prose.references.differences(same) == ["a 100-image test subset instead of "
                                                                             "all 10,000"]
    full_test = references.compare_with_reference("cnn", _accuracy(9950, 10000), {"epochs": 100,
                                                  "normalization": "half"}, 100, train_images=60000)
    assert "No difference of setting is known." in prose.references.comparison_text(full_test)


def test_a_quick_run_names_every_difference():
    other = references.compare_with_reference("cnn", _accuracy(470, 500), {"epochs": 1, "normalization": "dataset",
                                                                          "train_limit": 1000, "test_limit": 500},
                                              1, train_images=917)
    assert prose.references.differences(other) == [
        "1 epoch instead of 100", "normalization dataset instead of half", "917 training images instead of 60,000",
        "a 500-image test subset instead of all 10,000"]
    assert "**outside**" in prose.references.comparison_text(other)
    loaded = references.compare_with_reference("cnn", _accuracy(9940, 10000), CNN_RUN, None, train_images=55000)
    assert prose.references.differences(loaded)[0] == ("weights from a checkpoint, whose training length this run "
                                                       "does not know")
    assert list(loaded.table()["epochs"]) == ["n/a (checkpoint)", 100]


def test_normalization_reading_compares_with_the_customary_constants():
    assert "the same to four decimals" in prose.data.normalization_constants_text(0.13066, 0.30811)
    assert "a difference of +0.1693 and +0.0419" in prose.data.normalization_constants_text(0.3, 0.35)


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
    sources = prose.references.sources_text("fashion-mnist")
    assert "arXiv:1708.07747, Table 3" in sources and "benchmark/baselines.json" in sources
    assert "README.md.gz" in sources and "not re-tested" in sources
    assert prose.references.sources_text("mnist") == ""
    assert references.convergence_target("mnist") == 97.0 and references.convergence_target("idx") == 90.0
    study = references.HYPERPARAMETER_STUDY
    assert references.finding(study, "fashion-mnist") is None
    assert references.finding(study) is references.for_dataset().findings[study]


def test_a_comparison_with_another_model_says_so_and_where_the_number_comes_from():
    versus = references.compare_with_reference("ann", _accuracy(88, 100), {"epochs": 10, "train_limit": None,
                                                                          "test_limit": None}, 10, 55000,
                                               dataset="fashion-mnist")
    assert prose.references.differences(versus) == [
        "another model: scikit-learn's MLPClassifier with one hidden layer of 100 ReLU units",
        "the published number is the mean test accuracy of 5 runs; this run's is the test accuracy of the weights "
        "validation chose",
        "55,000 training images instead of 60,000, 5,000 of its images held out for validation",
        "a 100-image test subset instead of all 10,000"]  # no epoch difference: the source does not state its epochs
    text = prose.references.comparison_text(versus)
    assert text.startswith("The Fashion-MNIST paper's scikit-learn benchmark measured 87.10% (mean test accuracy of "
                           "5 runs of scikit-learn's MLPClassifier")
    assert "(training length not stated)" in text and "does not state its training length or recipe" in text
    table = versus.table()
    assert list(table.index) == ["this run", references.FASHION_PAPER] and table.iloc[1]["epochs"] == "not stated"
    mnist = references.compare_with_reference("ann", _accuracy(88, 100), {"epochs": 10}, 10, 55000)
    assert list(mnist.table().index) == ["this run", "the reference report"]
    assert prose.references.comparison_text(mnist).startswith("The reference report measured 97.21%")
    assert "+0.79 percentage points" in prose.references.comparison_text(
        references.compare_with_reference("ann", _accuracy(980, 1000), {"epochs": 10}, 10, 60000))


def test_datasets_without_references_say_so():
    assert prose.references.no_target_text("scans") == ("No accuracy target is set for scans; the series' targets belong to "
                                                  "the data it was tuned on.")
    assert "no published result for this model on scans" in prose.references.no_reference_text("ann", "scans")
    assert prose.data.normalization_constants_text(0.5, 0.2, "idx", "scans") == (
        "There are no customary normalization constants for scans to compare with.")
    assert "Fashion-MNIST are 0.286 and 0.353" in prose.data.normalization_constants_text(0.286, 0.353, "fashion-mnist")

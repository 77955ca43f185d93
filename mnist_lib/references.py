"""Published results to compare with, and this project's accuracy targets: one table,
keyed by dataset, that every notebook and module reads.

A reference result is what an earlier report or a publication measured (its
number, its epochs, how much data, what the number means, and where it comes
from); a target is what the full profile of this series must reach, checked in
the reports. Notebooks compare their measurement with both through
:func:`compare_with_reference` and :func:`check_target`, which also say when a
comparison is not like for like. A dataset without an entry here (an ``idx``
folder) has no references and no targets: :func:`has_reference` and
:func:`has_target` are False and the reports say so instead of comparing.

MNIST: the original reports this series reproduces, and its targets.
Fashion-MNIST: published numbers, each with its source:

* the scikit-learn benchmark of Xiao, Rasul and Vollgraf (2017), "Fashion-MNIST: a
  Novel Image Dataset for Benchmarking Machine Learning Algorithms", arXiv:1708.07747,
  Table 3: every classifier and parameter of the grid in ``benchmark/baselines.json``
  (shipped by Debian's ``dataset-fashion-mnist`` under
  ``/usr/share/doc/dataset-fashion-mnist/benchmark/``; that file holds the grid, the
  paper the accuracies, each the mean test accuracy of 5 runs on shuffled training data);
* the table of submitted benchmarks in the Fashion-MNIST README (the same package's
  ``README.md.gz``), whose maintainers note they have not re-tested them; one of them,
  "2 Conv+pooling" (0.916), is ``benchmark/convnet.py``, shipped beside it.

Single-run targets are set for MNIST only (the series was first tuned on it); both data sets have
seed targets, means over the full profile's seeds sweep that the summary of that sweep checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

DEFAULT_DATASET = "mnist"


REFERENCE_REPORT = "the reference report"
MAX_EPOCH_METRIC = "maximum per-epoch test accuracy"


@dataclass(frozen=True)
class ReferenceResult:
    """One published test accuracy (percent) and the setting it was measured in.

    ``setting`` holds the reference's values of notebook parameters beyond
    ``epochs`` (for example its input normalization), so a comparison can name
    every way a run differs from it. ``epochs`` None: the source does not state
    how long it trained. ``model`` names the reference's model when it is not
    this series' own (a scikit-learn classifier, a submitted CNN); ``source``
    says where the number comes from.
    """

    accuracy: float
    epochs: int | None
    train_images: int
    metric: str = "test accuracy"
    test_images: int = 10000
    setting: Mapping[str, Any] = field(default_factory=dict)
    model: str = ""
    source: str = REFERENCE_REPORT


@dataclass(frozen=True)
class Benchmark:
    """One row of a published benchmark table: a classifier with its parameters, its test accuracy
    (percent) on the dataset and, where the source gives it, on MNIST, and where it comes from."""

    classifier: str
    parameters: str
    accuracy: float
    mnist_accuracy: float | None
    source: str


@dataclass(frozen=True)
class AccuracyTarget:
    """Test accuracy (percent) the full profile must reach within ``max_epochs``."""

    accuracy: float
    max_epochs: int


@dataclass(frozen=True)
class SeedTarget:
    """What the full profile must reach for one model over a seeds sweep: a mean test accuracy (percent)
    over at least ``seeds`` seeds and, where set, a floor every seed must clear."""

    mean: float
    every_seed: float | None = None
    seeds: int = 5


# The study a reference report drew a qualitative finding from (the key of DatasetReferences.findings).
HYPERPARAMETER_STUDY = "hyperparameter study"


@dataclass(frozen=True)
class Finding:
    """A qualitative result of a reference report: the factors in ``stronger`` each change
    validation accuracy more than every factor in ``weaker``."""

    text: str
    stronger: tuple[str, ...]
    weaker: tuple[str, ...]


@dataclass(frozen=True)
class DatasetReferences:
    """Everything known in advance about one dataset's reports."""

    dataset: str
    title: str  # the dataset's name in prose
    results: Mapping[str, ReferenceResult]
    targets: Mapping[str, AccuracyTarget]
    seed_targets: Mapping[str, SeedTarget] = field(default_factory=dict)
    pixel_mean: float | None = None  # the constants usually passed to transforms.Normalize
    pixel_std: float | None = None
    findings: Mapping[str, Finding] = field(default_factory=dict)
    benchmarks: tuple[Benchmark, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)  # short name -> full citation

    def result(self, model: str) -> ReferenceResult:
        if model not in self.results:
            raise KeyError(f"no reference result for {model!r} on {self.dataset}; known: "
                                 f"{', '.join(self.results)}")
        return self.results[model]

    def target(self, model: str) -> AccuracyTarget:
        if model not in self.targets:
            raise KeyError(f"no accuracy target for {model!r} on {self.dataset}; known: "
                                 f"{', '.join(self.targets)}")
        return self.targets[model]

    def accuracies(self, prefix: str) -> dict[str, float]:
        """The reference accuracies (fractions) of every model key ``prefix/<name>``, by name:
        ``accuracies("mlp")`` -> {"sgd": 0.9718, ...}."""
        return {name: round(r.accuracy / 100, 6) for name, r in self.group(prefix).items()}

    def group(self, prefix: str) -> dict[str, ReferenceResult]:
        """The results of every model key ``prefix/<name>``, by name."""
        return {key.split("/", 1)[1]: r for key, r in self.results.items() if key.startswith(prefix + "/")}


def _frozen(mapping: dict) -> Mapping:
    return MappingProxyType(mapping)


# Fashion-MNIST's sources (see the module docstring).
FASHION_PAPER = "the Fashion-MNIST paper's scikit-learn benchmark"
FASHION_README = "the Fashion-MNIST README's submitted benchmarks"
FASHION_SOURCES = _frozen({
    FASHION_PAPER: "Xiao, Rasul and Vollgraf (2017), Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine "
                   "Learning Algorithms, arXiv:1708.07747, Table 3: mean test accuracy of 5 runs of each "
                   "scikit-learn classifier over the parameter grid of benchmark/baselines.json (shipped by Debian's "
                   "dataset-fashion-mnist in /usr/share/doc/dataset-fashion-mnist/benchmark/)",
    FASHION_README: "the table of submitted benchmarks in the Fashion-MNIST README "
                    "(/usr/share/doc/dataset-fashion-mnist/README.md.gz); its maintainers note they have not "
                    "re-tested these results",
})
_SKLEARN_MLP = "scikit-learn's MLPClassifier"
FASHION_BENCHMARKS = (
    # The best of each scikit-learn classifier family in Table 3 (Fashion, MNIST).
    Benchmark("SVC", "C=10, kernel=rbf", 89.7, 97.3, FASHION_PAPER),
    Benchmark("GradientBoostingClassifier", "n_estimators=100, loss=deviance, max_depth=10", 88.0, 96.9,
              FASHION_PAPER),
    Benchmark("RandomForestClassifier", "n_estimators=100, criterion=entropy, max_depth=100", 87.3, 97.0,
              FASHION_PAPER),
    Benchmark("MLPClassifier", "activation=relu, hidden_layer_sizes=[100]", 87.1, 97.2, FASHION_PAPER),
    Benchmark("MLPClassifier", "activation=relu, hidden_layer_sizes=[100, 10]", 87.0, 97.2, FASHION_PAPER),
    Benchmark("KNeighborsClassifier", "weights=distance, n_neighbors=5, p=1", 85.4, 95.9, FASHION_PAPER),
    Benchmark("LogisticRegression", "C=1, multi_class=ovr, penalty=l1", 84.2, 91.7, FASHION_PAPER),
    # Simple CNNs from the README's table of submitted benchmarks (preprocessing: none).
    Benchmark("2 Conv+pooling (benchmark/convnet.py, TensorFlow's tutorial)", "no preprocessing", 91.6, None,
              FASHION_README),
    Benchmark("2 Conv+pooling (Kashif Rasul)", "no preprocessing", 87.6, None, FASHION_README),
    Benchmark("2 Conv, under 100K parameters (@hardmaru)", "no preprocessing", 92.5, 99.2, FASHION_README),
    Benchmark("3 Conv+pooling+BN (@meghanabhange)", "no preprocessing", 90.3, 99.4, FASHION_README),
    Benchmark("3 Conv+BN+pooling (@GunjanChhablani)", "no preprocessing", 92.1, 99.2, FASHION_README),
)

REFERENCES: Mapping[str, DatasetReferences] = _frozen({
    "mnist": DatasetReferences(
        dataset="mnist",
        title="MNIST",
        results=_frozen({
            "ann": ReferenceResult(97.21, 10, 60000),
            "lenet5": ReferenceResult(98.73, 15, 60000),
            "cnn": ReferenceResult(99.44, 100, 60000, setting=_frozen({"normalization": "half"})),
            # 05: the reference took the best per-epoch test accuracy of each optimizer over its 25 epochs.
            **{f"mlp/{name}": ReferenceResult(accuracy, 25, 60000, metric=MAX_EPOCH_METRIC)
               for name, accuracy in (("sgd", 97.18), ("momentum", 97.95), ("adam", 97.83))},
        }),
        targets=_frozen({
            "ann": AccuracyTarget(98.0, 10), "lenet5": AccuracyTarget(99.0, 15), "cnn": AccuracyTarget(99.5, 20),
            "mlp/sgd": AccuracyTarget(97.5, 25), "mlp/momentum": AccuracyTarget(98.0, 25),
            "mlp/adam": AccuracyTarget(98.0, 25),
        }),
        # Means over the full profile's seeds sweep: the CNN beats the batch-normalized CNN report's 99.44% on
        # every seed.
        seed_targets=_frozen({
            "cnn": SeedTarget(99.55, every_seed=99.45), "lenet5": SeedTarget(99.25), "ann": SeedTarget(98.40),
            **{f"mlp/{name}": SeedTarget(98.0) for name in ("sgd", "momentum", "adam")},
        }),
        pixel_mean=0.1307,
        pixel_std=0.3081,
        findings=_frozen({
            HYPERPARAMETER_STUDY: Finding(
                "input normalization, the learning rate and the amount of training data matter far more than "
                "extra depth or width",
                stronger=("normalization", "lr", "train_fraction"), weaker=("hidden",)),
        }),
    ),
    "fashion-mnist": DatasetReferences(
        dataset="fashion-mnist",
        title="Fashion-MNIST",
        results=_frozen({
            # The closest published model to each of this series' models, named in full.
            "ann": ReferenceResult(87.1, None, 60000, metric="mean test accuracy of 5 runs",
                                   model=f"{_SKLEARN_MLP} with one hidden layer of 100 ReLU units", source=FASHION_PAPER),
            "lenet5": ReferenceResult(91.6, None, 60000, model="benchmark/convnet.py (two 5×5 convolutions of 32 and "
                                      "64 filters with max pooling, a 1,024-unit dense layer with dropout 0.4, plain "
                                      "SGD at 0.001, batches of 400, the test set evaluated every 2,000 steps)",
                                      source=FASHION_README),
            "cnn": ReferenceResult(92.1, None, 60000, model="a CNN of three convolution, batch-normalization and "
                                   "pooling blocks submitted by @GunjanChhablani", source=FASHION_README),
            "mlp/adam": ReferenceResult(87.0, None, 60000, metric="mean test accuracy of 5 runs",
                                        model=f"{_SKLEARN_MLP} with hidden layers of 100 and 10 ReLU units (its "
                                              "default solver, Adam at learning rate 0.001)", source=FASHION_PAPER),
        }),
        targets=_frozen({}),
        # Means over the full profile's seeds sweep: about the published small networks (an MLP near 90%,
        # two-convolution networks under 100k parameters at 92.5%), the CNNs above the ANN.
        seed_targets=_frozen({"cnn": SeedTarget(92.5), "lenet5": SeedTarget(90.5), "ann": SeedTarget(89.5)}),
        pixel_mean=0.2860,
        pixel_std=0.3530,
        benchmarks=FASHION_BENCHMARKS,
        sources=FASHION_SOURCES,
    ),
})


def for_dataset(dataset: str = DEFAULT_DATASET) -> DatasetReferences:
    """The references of ``dataset``; a KeyError names the datasets that have some."""
    if dataset not in REFERENCES:
        raise KeyError(f"no reference results for dataset {dataset!r}; known: {', '.join(REFERENCES)}")
    return REFERENCES[dataset]


def has_reference(model: str, dataset: str = DEFAULT_DATASET) -> bool:
    """Whether ``dataset`` has a published result for ``model`` (False for a dataset without references)."""
    return dataset in REFERENCES and model in REFERENCES[dataset].results


def group(prefix: str, dataset: str = DEFAULT_DATASET) -> dict[str, ReferenceResult]:
    """The results of every model key ``prefix/<name>`` on ``dataset``, by name (empty for a dataset
    without references)."""
    return REFERENCES[dataset].group(prefix) if dataset in REFERENCES else {}


# 05's convergence threshold (percent) when its target_accuracy is left at None: MNIST's is the series'
# default; Fashion-MNIST's sits below the published MLP results (87.0-87.1%); any other data: 90.
CONVERGENCE_TARGETS = MappingProxyType({"mnist": 97.0, "fashion-mnist": 85.0})
DEFAULT_CONVERGENCE_TARGET = 90.0


def convergence_target(dataset: str = DEFAULT_DATASET) -> float:
    """The test accuracy (percent) whose first epoch 05 reports by default on ``dataset``."""
    return CONVERGENCE_TARGETS.get(dataset, DEFAULT_CONVERGENCE_TARGET)


def finding(study: str, dataset: str = DEFAULT_DATASET) -> Finding | None:
    """The reference finding of ``study`` (:data:`HYPERPARAMETER_STUDY`) on ``dataset``, if it has one."""
    return REFERENCES[dataset].findings.get(study) if dataset in REFERENCES else None


def benchmark_table(dataset: str = DEFAULT_DATASET):
    """The dataset's published benchmark (classifier, parameters, accuracies, source) as a DataFrame,
    best first; empty when it has none."""
    import pandas as pd

    rows = [{"classifier": b.classifier, "parameters": b.parameters, "test accuracy (%)": b.accuracy,
             "on MNIST (%)": b.mnist_accuracy, "source": b.source}
            for b in (REFERENCES[dataset].benchmarks if dataset in REFERENCES else ())]
    frame = pd.DataFrame(rows, columns=["classifier", "parameters", "test accuracy (%)", "on MNIST (%)", "source"])
    return frame.sort_values("test accuracy (%)", ascending=False, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- targets


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

    def to_dict(self) -> dict:
        return {"model": self.model, "target": self.target, "max_epochs": self.max_epochs,
                "measured": self.measured, "applicable": self.applicable, "met": self.met}


def check_target(model: str, measured: float, params: Mapping[str, Any],
                 dataset: str = DEFAULT_DATASET) -> TargetCheck:
    """Compare ``measured`` (percent) with the target of ``model`` on ``dataset``.

    The target applies to the full data (no train or test limit) within its epoch budget.
    """
    target = for_dataset(dataset).target(model)
    reasons = []
    if params.get("train_limit") is not None or params.get("test_limit") is not None:
        reasons.append(f"this run uses a subset (train_limit={params.get('train_limit')}, "
                       f"test_limit={params.get('test_limit')})")
    if params.get("epochs") is not None and params["epochs"] > target.max_epochs:
        reasons.append(f"it trains {params['epochs']} epochs, more than {target.max_epochs}")
    return TargetCheck(model, target.accuracy, target.max_epochs, float(measured), not reasons, "; ".join(reasons))


def has_target(model: str, dataset: str = DEFAULT_DATASET) -> bool:
    """Whether ``model`` has an accuracy target on ``dataset`` (False for a dataset without references)."""
    return dataset in REFERENCES and model in REFERENCES[dataset].targets


# --------------------------------------------------------------------------- reference results


@dataclass(frozen=True)
class ReferenceComparison:
    """A measured test accuracy (percent, with its 95% interval) beside a published one, with what the
    run was given: its parameters, the epochs it trained and the images it trained and was tested on.
    :mod:`mnist_lib.prose.references` says how the two settings differ."""

    model: str
    reference_result: ReferenceResult
    measured: float
    low: float
    high: float
    epochs_run: int | None  # None: the weights came from a checkpoint
    train_images: int
    test_images: int
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> float:
        return self.reference_result.accuracy

    @property
    def reference_epochs(self) -> int | None:
        return self.reference_result.epochs

    @property
    def difference(self) -> float:
        return self.measured - self.reference

    @property
    def inside(self) -> bool:
        """Whether the published value lies inside this run's interval."""
        return self.low <= self.reference <= self.high

    @property
    def source(self) -> str:
        return self.reference_result.source

    def table(self):
        import pandas as pd

        return pd.DataFrame(
            {"test accuracy (%)": [f"{self.measured:.2f}", f"{self.reference:.2f}"],
             "95% CI (%)": [f"{self.low:.2f}–{self.high:.2f}", ""],
             "epochs": [self.epochs_run if self.epochs_run is not None else "n/a (checkpoint)",
                        self.reference_epochs if self.reference_epochs is not None else "not stated"],
             "training images": [f"{self.train_images:,}", f"{self.reference_result.train_images:,}"],
             "test images": [f"{self.test_images:,}", f"{self.reference_result.test_images:,}"]},
            index=["this run", self.source])


def compare_with_reference(model: str, accuracy, params: Mapping[str, Any], epochs_run: int | None,
                           train_images: int, dataset: str = DEFAULT_DATASET) -> ReferenceComparison:
    """Set a :class:`mnist_lib.metrics.AccuracyResult` beside the published result of ``model`` on
    ``dataset``; ``train_images`` is how many images this run trained on (its training split)."""
    return ReferenceComparison(model, for_dataset(dataset).result(model), 100 * accuracy.accuracy,
                               100 * accuracy.low, 100 * accuracy.high, epochs_run, int(train_images),
                               int(accuracy.n), dict(params))



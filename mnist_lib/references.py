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

No accuracy targets are set for Fashion-MNIST: the series was tuned on MNIST.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from mnist_lib.config import ParameterError

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
    setting: Mapping[str, Any] = field(default_factory=dict)
    model: str = ""
    source: str = REFERENCE_REPORT

    def describe(self) -> str:
        """"99.44% (test accuracy; 100 epochs on 60,000 training images, normalization half)"."""
        extra = "".join(f", {name} {value}" for name, value in self.setting.items())
        length = f"{self.epochs} epochs on " if self.epochs is not None else "training length not stated; "
        model = f" of {self.model}" if self.model else ""
        return (f"{self.accuracy:.2f}% ({self.metric}{model}; {length}{self.train_images:,} training "
                f"images{extra})")


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
    pixel_mean: float | None = None  # the constants usually passed to transforms.Normalize
    pixel_std: float | None = None
    findings: Mapping[str, Finding] = field(default_factory=dict)
    benchmarks: tuple[Benchmark, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)  # short name -> full citation

    def result(self, model: str) -> ReferenceResult:
        if model not in self.results:
            raise ParameterError(f"no reference result for {model!r} on {self.dataset}; known: "
                                 f"{', '.join(self.results)}")
        return self.results[model]

    def target(self, model: str) -> AccuracyTarget:
        if model not in self.targets:
            raise ParameterError(f"no accuracy target for {model!r} on {self.dataset}; known: "
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
        pixel_mean=0.1307,
        pixel_std=0.3081,
        findings=_frozen({
            "07_hyperparameters": Finding(
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
        pixel_mean=0.2860,
        pixel_std=0.3530,
        benchmarks=FASHION_BENCHMARKS,
        sources=FASHION_SOURCES,
    ),
})


def for_dataset(dataset: str = DEFAULT_DATASET) -> DatasetReferences:
    """The references of ``dataset``; a ParameterError names the datasets that have some."""
    if dataset not in REFERENCES:
        raise ParameterError(f"no reference results for dataset {dataset!r}; known: {', '.join(REFERENCES)}")
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


def finding(notebook: str, dataset: str = DEFAULT_DATASET) -> Finding | None:
    """The reference finding a notebook sets its results beside, if ``dataset`` has one."""
    return REFERENCES[dataset].findings.get(notebook) if dataset in REFERENCES else None


def no_reference_text(model: str, title: str) -> str:
    """The sentence a report shows instead of a comparison when there is no published result."""
    return f"There is no published result for this model on {title} to compare with."


def no_target_text(title: str) -> str:
    """The sentence a report shows when ``title`` has no accuracy target (targets exist where the series was tuned)."""
    return f"No accuracy target is set for {title}; the series' targets belong to the data it was tuned on."


def benchmark_table(dataset: str = DEFAULT_DATASET):
    """The dataset's published benchmark (classifier, parameters, accuracies, source) as a DataFrame,
    best first; empty when it has none."""
    import pandas as pd

    rows = [{"classifier": b.classifier, "parameters": b.parameters, "test accuracy (%)": b.accuracy,
             "on MNIST (%)": b.mnist_accuracy, "source": b.source}
            for b in (REFERENCES[dataset].benchmarks if dataset in REFERENCES else ())]
    frame = pd.DataFrame(rows, columns=["classifier", "parameters", "test accuracy (%)", "on MNIST (%)", "source"])
    return frame.sort_values("test accuracy (%)", ascending=False, kind="stable").reset_index(drop=True)


def sources_text(dataset: str = DEFAULT_DATASET) -> str:
    """Markdown: where each of the dataset's published numbers comes from (empty when none is cited)."""
    refs = REFERENCES.get(dataset)
    if refs is None or not refs.sources:
        return ""
    return "Sources: " + "; ".join(f"*{name}*: {citation}" for name, citation in refs.sources.items()) + "."


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


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def setting_differences(reference: ReferenceResult, params: Mapping[str, Any]) -> tuple[str, ...]:
    """How a run with ``params`` differs from the reference's setting, one phrase per difference
    ("3 epochs instead of 100", "normalization dataset instead of half", ...)."""
    differences = []
    if reference.model:
        differences.append(f"another model: {reference.model}")
    epochs = params.get("epochs")
    if epochs is not None and reference.epochs is not None and epochs != reference.epochs:
        differences.append(f"{_plural(epochs, 'epoch')} instead of {reference.epochs}")
    for name, value in reference.setting.items():
        if name in params and params[name] != value:
            differences.append(f"{name} {params[name]} instead of {value}")
    if params.get("train_limit") is not None:
        differences.append(f"{params['train_limit']:,} of the {reference.train_images:,} training images")
    if params.get("test_limit") is not None:
        differences.append(f"a {params['test_limit']:,}-image test subset")
    return tuple(differences)


@dataclass(frozen=True)
class ReferenceComparison:
    """A measured test accuracy (percent, with its 95% interval) beside the reference report's."""

    model: str
    reference: float
    reference_epochs: int | None
    measured: float
    low: float
    high: float
    epochs_run: int | None
    differences: tuple[str, ...]
    reference_result: ReferenceResult | None = None

    @property
    def difference(self) -> float:
        return self.measured - self.reference

    @property
    def source(self) -> str:
        return self.reference_result.source if self.reference_result is not None else REFERENCE_REPORT

    def _epochs(self) -> str:
        return f"{self.reference_epochs} epochs" if self.reference_epochs is not None else "training length not stated"

    def table(self):
        import pandas as pd

        return pd.DataFrame(
            {"test accuracy (%)": [f"{self.measured:.2f}", f"{self.reference:.2f}"],
             "95% CI (%)": [f"{self.low:.2f}–{self.high:.2f}", ""],
             "epochs": [self.epochs_run if self.epochs_run is not None else "n/a (checkpoint)",
                        self.reference_epochs if self.reference_epochs is not None else "not stated"]},
            index=["this run", self.source])

    def setting_text(self) -> str:
        """What the reference measured and how: "The reference report measured 99.44% (...)."."""
        head = self.source[:1].upper() + self.source[1:]
        if self.reference_result is None:
            return f"{head} measured {self.reference:.2f}% ({self._epochs()})."
        return f"{head} measured {self.reference_result.describe()}."

    def text(self) -> str:
        inside = "inside" if self.low <= self.reference <= self.high else "outside"
        caveat = (f" This run differs from the reference setting ({'; '.join(self.differences)}), so the gap says "
                  "little about reproducing it." if self.differences else "")
        return (f"Against the reference **{self.reference:.2f}%** ({self._epochs()}) that is "
                f"**{self.difference:+.2f} percentage points**, and the reference value lies **{inside}** this "
                f"run's 95% interval.{caveat}")


def compare_with_reference(model: str, accuracy, params: Mapping[str, Any], epochs_run: int | None,
                           dataset: str = DEFAULT_DATASET) -> ReferenceComparison:
    """Set a :class:`mnist_lib.metrics.AccuracyResult` beside the reference report of ``model``,
    noting how this run's setting (epochs, data limits, the reference's other settings) differs from it."""
    reference = for_dataset(dataset).result(model)
    return ReferenceComparison(model, reference.accuracy, reference.epochs, 100 * accuracy.accuracy,
                               100 * accuracy.low, 100 * accuracy.high, epochs_run,
                               setting_differences(reference, params), reference)


def normalization_reading(mean: float, std: float, dataset: str = DEFAULT_DATASET, title: str | None = None) -> str:
    """A sentence comparing measured pixel statistics ([0, 1] scale) with the usual constants
    (``title`` names a dataset that has no references, such as an idx folder)."""
    refs = REFERENCES.get(dataset)
    if refs is None or refs.pixel_mean is None or refs.pixel_std is None:
        return (f"There are no customary normalization constants for {title or (refs.title if refs else dataset)} "
                "to compare with.")
    agree = round(mean, 4) == refs.pixel_mean and round(std, 4) == refs.pixel_std
    verdict = ("the same to four decimals" if agree else
               f"a difference of {mean - refs.pixel_mean:+.4f} and {std - refs.pixel_std:+.4f}")
    return (f"The constants usually passed to `transforms.Normalize` for {refs.title} are {refs.pixel_mean} and "
            f"{refs.pixel_std}; measured here: {mean:.4f} and {std:.4f}, {verdict}.")

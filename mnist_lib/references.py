"""The original reports' published results and this project's accuracy targets: one table,
keyed by dataset, that every notebook and module reads.

A reference result is what an earlier report measured (its number, its epochs,
how much data, what the number means); a target is what the full profile of
this series must reach, checked in the reports. Notebooks compare their
measurement with both through :func:`compare_with_reference` and
:func:`check_target`, which also say when a comparison is not like for like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from mnist_lib.config import ParameterError

DEFAULT_DATASET = "mnist"


@dataclass(frozen=True)
class ReferenceResult:
    """One published test accuracy (percent) and the setting it was measured in.

    ``setting`` holds the reference's values of notebook parameters beyond
    ``epochs`` (for example its input normalization), so a comparison can name
    every way a run differs from it.
    """

    accuracy: float
    epochs: int
    train_images: int
    metric: str = "test accuracy"
    setting: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """"99.44% (test accuracy; 100 epochs on 60,000 training images, normalization half)"."""
        extra = "".join(f", {name} {value}" for name, value in self.setting.items())
        return (f"{self.accuracy:.2f}% ({self.metric}; {self.epochs} epochs on {self.train_images:,} training "
                f"images{extra})")


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


REFERENCES: Mapping[str, DatasetReferences] = _frozen({
    "mnist": DatasetReferences(
        dataset="mnist",
        title="MNIST",
        results=_frozen({
            "ann": ReferenceResult(97.21, 10, 60000),
            "lenet5": ReferenceResult(98.73, 15, 60000),
            "cnn": ReferenceResult(99.44, 100, 60000, setting=_frozen({"normalization": "half"})),
            # 05: the reference took the best per-epoch test accuracy of each optimizer over its 25 epochs.
            **{f"mlp/{name}": ReferenceResult(accuracy, 25, 60000, metric="maximum per-epoch test accuracy")
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
})


def for_dataset(dataset: str = DEFAULT_DATASET) -> DatasetReferences:
    """The references of ``dataset``; a ParameterError names the datasets that have some."""
    if dataset not in REFERENCES:
        raise ParameterError(f"no reference results for dataset {dataset!r}; known: {', '.join(REFERENCES)}")
    return REFERENCES[dataset]


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
    return model in for_dataset(dataset).targets


# --------------------------------------------------------------------------- reference results


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def setting_differences(reference: ReferenceResult, params: Mapping[str, Any]) -> tuple[str, ...]:
    """How a run with ``params`` differs from the reference's setting, one phrase per difference
    ("3 epochs instead of 100", "normalization dataset instead of half", ...)."""
    differences = []
    epochs = params.get("epochs")
    if epochs is not None and epochs != reference.epochs:
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
    reference_epochs: int
    measured: float
    low: float
    high: float
    epochs_run: int | None
    differences: tuple[str, ...]
    reference_result: ReferenceResult | None = None

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

    def setting_text(self) -> str:
        """What the reference measured and how: "The reference report measured 99.44% (...)."."""
        if self.reference_result is None:
            return f"The reference report measured {self.reference:.2f}% after {self.reference_epochs} epochs."
        return f"The reference report measured {self.reference_result.describe()}."

    def text(self) -> str:
        inside = "inside" if self.low <= self.reference <= self.high else "outside"
        caveat = (f" This run differs from the reference setting ({'; '.join(self.differences)}), so the gap says "
                  "little about reproducing it." if self.differences else "")
        return (f"Against the reference **{self.reference:.2f}%** ({self.reference_epochs} epochs) that is "
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


def normalization_reading(mean: float, std: float, dataset: str = DEFAULT_DATASET) -> str:
    """A sentence comparing measured pixel statistics ([0, 1] scale) with the usual constants."""
    refs = for_dataset(dataset)
    if refs.pixel_mean is None or refs.pixel_std is None:
        return f"There are no customary normalization constants for {refs.title} to compare with."
    agree = round(mean, 4) == refs.pixel_mean and round(std, 4) == refs.pixel_std
    verdict = ("the same to four decimals" if agree else
               f"a difference of {mean - refs.pixel_mean:+.4f} and {std - refs.pixel_std:+.4f}")
    return (f"The constants usually passed to `transforms.Normalize` for {refs.title} are {refs.pixel_mean} and "
            f"{refs.pixel_std}; measured here: {mean:.4f} and {std:.4f}, {verdict}.")

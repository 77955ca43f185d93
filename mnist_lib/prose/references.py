"""Sentences that set a run beside published results and the series' targets: what the reference
measured and how this run's setting differs from it, the gap, the target check, and where each
published number comes from."""

from __future__ import annotations

from typing import Any, Mapping

from mnist_lib.params import AUGMENTATION, TRAINING_RECIPE
from mnist_lib.references import DEFAULT_DATASET, REFERENCES, ReferenceComparison, ReferenceResult, TargetCheck
from mnist_lib.words import and_list, plural


def result_text(result: ReferenceResult) -> str:
    """"99.44% (test accuracy; 100 epochs on 60,000 training images, normalization half)"."""
    extra = "".join(f", {name} {value}" for name, value in result.setting.items())
    length = f"{plural(result.epochs, 'epoch')} on " if result.epochs is not None else "training length not stated; "
    model = f" of {result.model}" if result.model else ""
    return f"{result.accuracy:.2f}% ({result.metric}{model}; {length}{result.train_images:,} training images{extra})"


def differences(comparison: ReferenceComparison) -> list[str]:
    """Every way this run's setting is known to differ from the published one, one phrase each: the
    model, what the number measures, the epochs, each setting the source states, the training and the
    test images."""
    ref, params = comparison.reference_result, comparison.params
    found = []
    if ref.model:
        found.append(f"another model: {ref.model}")
    if ref.metric != "test accuracy":
        found.append(f"the published number is the {ref.metric}; this run's is the test accuracy of the weights "
                     "validation chose")
    if comparison.epochs_run is None:
        found.append("weights from a checkpoint, whose training length this run does not know")
    elif ref.epochs is not None and comparison.epochs_run != ref.epochs:
        found.append(f"{plural(comparison.epochs_run, 'epoch')} instead of {ref.epochs}")
    for name, value in ref.setting.items():
        if name in params and params[name] != value:
            found.append(f"{name} {params[name]} instead of {value}")
    if comparison.train_images != ref.train_images:
        held_out = ("" if params.get("train_limit") is not None else
                    f", {ref.train_images - comparison.train_images:,} of its images held out for validation")
        found.append(f"{comparison.train_images:,} training images instead of {ref.train_images:,}{held_out}")
    if comparison.test_images != ref.test_images:
        found.append(f"a {comparison.test_images:,}-image test subset instead of all {ref.test_images:,}")
    return found


def unstated_text(ref: ReferenceResult, params: Mapping[str, Any]) -> str:
    """What the source does not state of its training recipe, with this run's values of it: an unknown
    recipe is said to be unknown, never taken to match."""
    stated = {"epochs"} if ref.epochs is not None else set()
    stated |= set(ref.setting)
    names = [n for n in TRAINING_RECIPE if n in params and n not in stated
             and not (n in AUGMENTATION and not params.get("augment"))]
    if not names:
        return ""
    values = and_list([f"`{n}` {_value(params[n])}" for n in names])
    return (f"The source does not state its {'training length or ' if 'epochs' not in stated else ''}recipe beyond "
            f"what is named here, so the two may differ in any of this run's settings: {values}.")


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    if value is None or isinstance(value, bool):
        return str(value).lower() if value is not None else "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def reference_setting_text(comparison: ReferenceComparison) -> str:
    """What the source measured and how: "The reference report measured 99.44% (...)."."""
    head = comparison.source[:1].upper() + comparison.source[1:]
    return f"{head} measured {result_text(comparison.reference_result)}."


def comparison_text(comparison: ReferenceComparison) -> str:
    """What the source measured, the gap, whether the published value lies in this run's interval,
    every known difference of setting, and what the source leaves unstated."""
    ref = comparison.reference_result
    length = plural(ref.epochs, "epoch") if ref.epochs is not None else "training length not stated"
    text = (f"{reference_setting_text(comparison)} Against the published **{comparison.reference:.2f}%** ({length}) that is "
            f"**{comparison.difference:+.2f} percentage points**, and the published value lies "
            f"**{'inside' if comparison.inside else 'outside'}** this run's 95% interval.")
    found = differences(comparison)
    if found:
        text += (f" The settings differ in {plural(len(found), 'known way')} ({'; '.join(found)}), so the gap "
                 "measures the two settings, not a reproduction.")
    else:
        text += " No difference of setting is known."
    unstated = unstated_text(ref, comparison.params)
    return text + (" " + unstated if unstated else "")


def gap_text(comparison: ReferenceComparison) -> str:
    """The comparison in one line, for a conclusion: the gap, and how many known differences and what
    unstated recipe stand behind it (named in full by :func:`comparison_text`)."""
    found = differences(comparison)
    caveat = (f"in a setting that differs in {plural(len(found), 'known way')}" if found else
              "with no known difference of setting")
    unstated = " and a recipe the source does not state" if unstated_text(comparison.reference_result,
                                                                           comparison.params) else ""
    return (f"Against the published {comparison.reference:.2f}% ({comparison.source}): "
            f"{comparison.difference:+.2f} percentage points, {caveat}{unstated} (named above).")


def target_short_text(check: TargetCheck) -> str:
    verdict = {True: "met", False: "missed", None: "not checked"}[check.met]
    return f">= {check.target:.2f}%: {verdict}"


def target_text(check: TargetCheck) -> str:
    head = (f"Target of the full profile for `{check.model}`: at least **{check.target:.2f}%** within "
            f"{check.max_epochs} epochs.")
    if not check.applicable:
        return f"{head} Not checked here: {check.reason}."
    if check.met:
        return f"{head} **Met**: {check.measured:.2f}% (+{check.measured - check.target:.2f} points)."
    return f"{head} **Missed**: {check.measured:.2f}%, {check.target - check.measured:.2f} points short."


def no_reference_text(model: str, title: str) -> str:
    """The sentence a report shows instead of a comparison when there is no published result."""
    return f"There is no published result for this model on {title} to compare with."


def no_target_text(title: str) -> str:
    """The sentence a report shows when ``title`` has no accuracy target (targets exist where the series was tuned)."""
    return f"No accuracy target is set for {title}; the series' targets belong to the data it was tuned on."


def sources_text(dataset: str = DEFAULT_DATASET) -> str:
    """Markdown: where each of the dataset's published numbers comes from (empty when none is cited)."""
    refs = REFERENCES.get(dataset)
    if refs is None or not refs.sources:
        return ""
    return "Sources: " + "; ".join(f"*{name}*: {citation}" for name, citation in refs.sources.items()) + "."

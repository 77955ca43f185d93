"""Sentences of the hyperparameter study (07): the divergence rule, how the networks ran, what each factor's
sweep measured, and the reference report's finding set beside this run's spreads."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import torch

from mnist_lib.analysis.hyperparameters import (
    BASE_HIDDEN,
    CHANCE_LOSS,
    CHANCE_MARGIN,
    EXECUTION_MODEL,
    FACTORS,
    StudyConfig,
    architecture,
    linear_rows,
    size_extremes,
)
from mnist_lib.prose import training as training_prose
from mnist_lib.runtime import ExecSettings
from mnist_lib.words import and_list, plural


def divergence_text(margin: float = CHANCE_MARGIN, classes: str = "digits") -> str:
    """The rule :func:`is_diverged` applies, with its numbers (``classes``: what the ten classes are called)."""
    return (f"A run counts as **diverged** when its loss became non-finite or its final training loss is no better "
            f"than guessing: above ln(10) − {margin:g} = {CHANCE_LOSS - margin:.3f}, where ln(10) = "
            f"{CHANCE_LOSS:.3f} is the loss of guessing uniformly among the ten {classes}.")


def study_execution_text(settings: ExecSettings, device: torch.device | str, optimizer: str) -> str:
    """How the study's networks ran (:func:`mnist_lib.analysis.hyperparameters.execution_settings`): the
    setting of the base network as measured for :data:`EXECUTION_MODEL`, which every architecture shares."""
    title = f"the base {architecture(BASE_HIDDEN)} MLP (`{EXECUTION_MODEL}`)"
    return (training_prose.execution_text(settings, title, device, optimizers=[optimizer])
            + " The study's other architectures run with the same setting.")


def outcome_text(row: Any) -> str:
    """"diverged" or "reaches 97.10% validation accuracy" for one row of a sweep."""
    return "diverged" if row.diverged else f"reaches {row.val_accuracy:.2%} validation accuracy"


def val_text(frame: pd.DataFrame, setting: str) -> str:
    """The validation accuracy of ``setting`` in a sweep ("97.10%", "9.80% (diverged)", or "n/a" if not run)."""
    row = frame[frame.setting == setting]
    if not len(row):
        return "n/a"
    return f"{row.val_accuracy.iloc[0]:.2%}" + (" (diverged)" if row.diverged.iloc[0] else "")


NORMALIZATION_WORDS = {"none": "none (pixels in [0, 1])", "raw": "raw (pixels 0..255)",
                       "dataset": "dataset mean/std", "half": "mean 0.5, std 0.5"}


INPUT_WORDS = {"none": "pixels in [0, 1]", "raw": "raw pixels 0..255", "dataset": "dataset mean/std normalization",
               "half": "pixels mapped to [−1, 1]"}


def normalization_sweep_text(frame: pd.DataFrame, lr: float) -> str:
    """What the normalization sweep measured, one clause per setting."""
    parts = [f"with {INPUT_WORDS[row.setting]} the MLP {outcome_text(row)}"
             + (f" (final training loss {row.final_train_loss:.4g})" if row.diverged else "")
             for row in frame.itertuples()]
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + f", all at the learning rate {lr:g}."


def _times(ratio: float) -> str:
    return f"{ratio:.0f}" if ratio >= 10 else f"{ratio:.1f}"


def _left_out_text(frame: pd.DataFrame) -> str:
    """" (512-256 diverged and is left out)" for the diverged architectures of a sweep, else ""."""
    diverged = list(frame.setting[frame.diverged.astype(bool)])
    if not diverged:
        return ""
    return f" ({and_list(diverged)} diverged and {'is' if len(diverged) == 1 else 'are'} left out)"


def depth_text(frame: pd.DataFrame) -> str:
    """What the depth-and-width sweep measured: the best architecture, the linear classifier, and the largest
    network against the smallest by parameter count (also among the networks with hidden layers when the
    linear classifier was swept), over the runs that did not diverge."""
    ok = frame[~frame.diverged.astype(bool)]
    if ok.empty:
        return "Every architecture diverged."
    top = ok.loc[ok.val_accuracy.idxmax()]
    text = (f"The best architecture here is {top.architecture} with {top.val_accuracy:.2%} validation accuracy and "
            f"{top.params:,} parameters")
    linear = frame[linear_rows(frame)]
    if len(linear) and top.setting != "linear":
        text += f"; the linear classifier ({linear.params.iloc[0]:,} parameters) {outcome_text(linear.iloc[0])}"
    text += "."
    comparisons = []
    for hidden_layers_only in (False, True) if len(linear) else (False,):
        extremes = size_extremes(frame, hidden_layers_only=hidden_layers_only)
        if extremes is None:
            continue
        low, high = extremes
        among = "Among the networks with hidden layers, the" if hidden_layers_only else "The"
        comparisons.append(
            f"{among} largest network ({high.setting}) has {_times(high.params / low.params)} times the parameters "
            f"of the smallest ({low.setting}), for {100 * (high.val_accuracy - low.val_accuracy):+.2f} points of "
            "validation accuracy.")
    if comparisons:
        text += " " + " ".join(comparisons)
        text = text[:-1] + _left_out_text(frame) + "."
    return text


def depth_summary_text(frame: pd.DataFrame) -> str:
    """The depth-and-width sweep in a clause: validation accuracy from the smallest network to the largest by
    parameter count (not the order of the sweep), and again among the networks with hidden layers when the
    linear classifier was swept; runs that diverged are left out."""
    def span(low, high) -> str:
        return (f"from {low.val_accuracy:.2%} ({low.setting}, {low.params:,} parameters) to {high.val_accuracy:.2%} "
                f"({high.setting}, {high.params:,} parameters), {100 * (high.val_accuracy - low.val_accuracy):+.2f} "
                "points")

    extremes = size_extremes(frame)
    if extremes is None:
        return "fewer than two network sizes trained without diverging" + _left_out_text(frame)
    text = "smallest to largest network " + span(*extremes)
    if linear_rows(frame).any():
        networks = size_extremes(frame, hidden_layers_only=True)
        text += ("; among the networks with hidden layers " + span(*networks) if networks is not None
                 else "; fewer than two networks with hidden layers trained without diverging")
    return text + _left_out_text(frame)


def lr_summary_text(frame: pd.DataFrame) -> str:
    """"diverged at 3; the smallest rate, 0.0003, reaches ...; the best, 0.03, reaches ..."."""
    diverged = ", ".join(f"{v:g}" for v in frame.lr[frame.diverged]) or "none"
    smallest = frame.loc[frame.lr.idxmin()]
    good = frame[~frame.diverged]
    best = (f"the best, {good.loc[good.val_accuracy.idxmax()].lr:g}, reaches "
            f"{good.val_accuracy.max():.2%}" if len(good) else "no rate trained without diverging")
    return f"diverged at {diverged}; the smallest rate, {smallest.lr:g}, {outcome_text(smallest)}; {best}"


def lr_text(frame: pd.DataFrame, epochs: int) -> str:
    """What the learning-rate sweep measured, for ``epochs`` epochs."""
    smallest = frame.loc[frame.lr.idxmin()]
    text = "Learning rates " + lr_summary_text(frame) + "."
    if not smallest.diverged:
        text += (f" The smallest ends at a training loss of {smallest.final_train_loss:.3f} after "
                 f"{plural(epochs, 'epoch')}.")
    return text


def size_text(frame: pd.DataFrame) -> str:
    """What the training-set-size sweep measured."""
    most, least = frame.loc[frame.train_images.idxmax()], frame.loc[frame.train_images.idxmin()]
    text = f"With {most.train_images:,} training images the validation accuracy is {most.val_accuracy:.2%}"
    if least.train_images < most.train_images:
        text += (f"; with {least.train_images:,} it is {least.val_accuracy:.2%} "
                 f"({100 * (most.val_accuracy - least.val_accuracy):+.2f} points for "
                 f"{most.train_images / least.train_images:.1f}x the data). Fewer images also mean fewer weight "
                 "updates in the same number of epochs")
    return text + "."


def _verdict_text(spreads: pd.Series, finding) -> str:
    """Whether ``spreads`` (points per factor) bear out ``finding``: a sentence starting "this run ..."."""
    stronger = [f for f in finding.stronger if f in spreads.index]
    weaker = [f for f in finding.weaker if f in spreads.index]
    if not stronger or not weaker:
        return "not every factor of the finding was swept, so it is not checked"
    shown = spreads.round(2)  # compare what the text shows: a tie at two decimals is no "more"
    unmeasured = [f for f in stronger + weaker if not math.isfinite(shown[f])]
    note = (f" ({and_list(FACTORS[f] for f in unmeasured)} "
            f"{'has' if len(unmeasured) == 1 else 'have'} fewer than two settings that did not diverge, so no spread "
            "to compare)") if unmeasured else ""
    stronger = [f for f in stronger if f not in unmeasured]
    weaker = [f for f in weaker if f not in unmeasured]
    if not stronger or not weaker:
        return "this run cannot check it" + note
    failures = [(s, w) for s in stronger for w in weaker if not shown[s] > shown[w]]
    if not failures:
        return (f"this run agrees{note}: {and_list(FACTORS[f] for f in stronger)} each moved the accuracy more than "
                f"{and_list(FACTORS[f] for f in weaker)}")
    return f"this run does not fully agree{note}: " + "; ".join(
        f"{FACTORS[s]} moved it less than {FACTORS[w]}" for s, w in failures)


def finding_text(effects: pd.DataFrame, finding) -> str:
    """Set a reference report's finding (:class:`mnist_lib.references.Finding`) beside this run's factor effects
    (:func:`mnist_lib.analysis.hyperparameters.factor_effects`).

    The spreads leave out the runs that diverged; the text says how many per factor. The finding
    holds when every swept factor of ``finding.stronger`` has a larger spread than every swept factor
    of ``finding.weaker``; the text says which comparison fails otherwise, and that the spreads depend
    on the ranges swept. When the linear classifier (no hidden layer) is among the hidden-layer
    settings, the verdict is given twice: with it, and among the networks with hidden layers only.
    """
    def entry(factor: str) -> str:
        row = effects.loc[factor]
        value = f"{row.spread_points:.2f}" if math.isfinite(row.spread_points) else "n/a"
        notes, diverged = [], int(row.diverged)
        if diverged:
            notes.append(f"{diverged} of {plural(int(row.settings), 'setting')} diverged and "
                         f"{'is' if diverged == 1 else 'are'} left out")
        if int(row.linear):
            among = row.hidden_layers_spread_points
            notes.append(f"{among:.2f} among the networks with hidden layers, without the linear classifier"
                         if math.isfinite(among) else "n/a among the networks with hidden layers")
        return f"{FACTORS[factor]} {value}" + (f" ({'; '.join(notes)})" if notes else "")

    diverged = int(effects.diverged.sum())
    runs = "runs that diverged left out" if diverged else "no run diverged"
    text = (f"The reference report found that {finding.text}. Here the spread of validation accuracy across each "
            f"factor's settings (percentage points, for the ranges swept; {runs}) is: "
            f"{', '.join(entry(f) for f in effects.index)}.")
    verdict = _verdict_text(effects.spread_points, finding)
    if not effects.linear.any() or "not checked" in verdict:
        return f"{text} {verdict[:1].upper()}{verdict[1:]}."
    networks = _verdict_text(effects.hidden_layers_spread_points, finding)
    return (f"{text} With the linear classifier (no hidden layer) counted among the hidden-layer settings, "
            f"{verdict}. Among the networks with hidden layers (the linear classifier left out), {networks}.")


def config_text(config: StudyConfig) -> str:
    """A configuration in a phrase, e.g. "784-128-64-10 MLP, dataset mean/std normalization, lr 0.05, ..."."""
    return (f"{architecture(config.hidden)} MLP, {NORMALIZATION_WORDS[config.normalization]} normalization, "
            f"lr {config.lr:g}, batch {config.batch_size}, {config.setting('train_fraction')} of the training split")

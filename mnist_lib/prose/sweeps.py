"""Sentences of the sweep summary (08): each model's spread over seeds, the paired comparisons and what
a few seeds can show, the sweep and its settings, training time, the settings chosen on validation,
and the table of every run."""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from mnist_lib import catalogue, stats, words
from mnist_lib.analysis.sweeps import (
    MODELS_SECTION,
    OPTIMIZERS_SECTION,
    PairedComparison,
    SeedTargetCheck,
    SettingChoice,
)
from mnist_lib.prose.references import result_text
from mnist_lib.references import ReferenceResult


def spread_text(row: Mapping[str, Any], reference: ReferenceResult | None) -> str:
    """One model and setting: its mean, sd and interval, and where the original single run falls."""
    name = f"**{row['model']}**" + (f" ({row['setting']})" if row["setting"] else "")
    if row["n"] == 0:
        return f"{name}: no successful run."
    if row["n"] == 1:
        text = f"{name}: one successful run, {row['mean']:.2f}%; a spread needs at least two seeds."
    else:
        text = (f"{name}: {row['mean']:.2f}% ± {row['sd']:.2f} (mean ± sd over {row['n']} seeds; 95% t-interval "
                f"{row['low']:.2f}–{row['high']:.2f}%, runs from {row['min']:.2f}% to {row['max']:.2f}%).")
    if reference is not None and row["n"] >= 2:
        where = ("above" if reference.accuracy > row["high"] else "below" if reference.accuracy < row["low"]
                 else "inside")
        text += f" The original report's single run, {result_text(reference)}, lies **{where}** this interval."
    return text


def comparison_text(c: PairedComparison, references: Mapping[str, ReferenceResult] | None = None,
                        alpha: float = 0.05) -> str:
    """What a paired comparison shows, and whether an original report's ordering of the two survives."""
    better, worse = (c.a, c.b) if c.mean_difference >= 0 else (c.b, c.a)
    label = f"**{better}** vs **{worse}**" + (f" ({c.setting})" if c.setting else "") + ": "
    if c.wins_a == c.wins_b == 0:
        return label + f"the same test accuracy on all {c.n} seeds: no difference."
    wins = c.wins_a if better == c.a else c.wins_b
    text = (label + f"{better} was ahead on {wins} of {c.n} seeds, by {abs(c.mean_difference):.2f} points on "
            f"average (sd {c.sd_difference:.2f}); paired t-test p = {words.p_value(c.t_p)} (Holm-adjusted "
            f"{words.p_value(c.t_p_holm)}), Wilcoxon p = {words.p_value(c.wilcoxon_p)}.")
    real = np.isfinite(c.t_p_holm) and c.t_p_holm < alpha
    text += (" Unlikely to be seed-to-seed noise." if real else
             " Within what different seeds alone produce: no real difference shown.")
    refs = references or {}
    if c.a in refs and c.b in refs and refs[c.a].accuracy != refs[c.b].accuracy:
        ref_better, ref_worse = sorted((c.a, c.b), key=lambda m: refs[m].accuracy, reverse=True)
        same = ref_better == better and c.mean_difference != 0
        verdict = ("**survives**: same order, and more than noise" if same and real else
                   "does **not** survive: the order is the same, but the seeds do not show it is more than noise"
                   if same else "does **not** survive: over seeds the order is reversed" + (
                       ", and that reversal is more than noise" if real else ""))
        text += (f" The original reports' single runs put {ref_better} ({refs[ref_better].accuracy:.2f}%) above "
                 f"{ref_worse} ({refs[ref_worse].accuracy:.2f}%); that comparison {verdict}.")
    return text


def few_seeds_text(n: int) -> str:
    """Why a handful of seeds limits what the tests can say, with the numbers for this ``n``."""
    if n < 2:
        return "With fewer than two seeds per model no comparison over seeds is possible."
    smallest = stats.smallest_wilcoxon_p(n)
    reach = ("so it can never reach 0.05 here" if smallest >= 0.05 else
             "and gets below 0.05 only when nearly every seed agrees on the direction")
    return (f"A caveat: {n} seeds are few. The exact two-sided Wilcoxon test cannot give a p-value below "
            f"{smallest:.4f} with {n} paired values, {reach}. The paired t-test can go lower, but it assumes "
            f"roughly normal differences, which {n} values cannot check. Seeds vary the data split, the initial "
            "weights and the batch order together, so these intervals cover all three; read them as a rough "
            "guide, not a verdict.")


def headline_texts(groups: pd.DataFrame) -> dict[str, str]:
    """Per model and setting, "98.12 ± 0.05% over 5 seeds", for the summary's metrics file and the index."""
    found = {}
    for _, row in groups.iterrows():
        label = row["model"] + (f" ({row['setting']})" if row["setting"] else "")
        found[label] = stats.Spread(row["n"], row["mean"], row["sd"], row["low"], row["high"], math.nan).text()
    return found


def _values_text(values: Sequence[Any]) -> str:
    return ", ".join(str(v) for v in values)


def sweep_text(manifest: Mapping[str, Any], runs: pd.DataFrame) -> str:
    """What the sweep ran, from its manifest: notebooks, profile, grid, and how many runs succeeded."""
    statuses = [r["status"] for r in manifest["runs"]]
    failed = [r["id"] for r in manifest["runs"] if r["status"] != "ok"]
    grid = "; ".join(f"{name} in {{{_values_text(values)}}}" for name, values in manifest["grid"].items())
    params = manifest.get("params") or {}
    extra = (" with " + ", ".join(f"{k} = {v}" for k, v in params.items()) + " on top of it") if params else ""
    text = (f"This sweep, **{manifest['name']}**, ran {len(manifest['notebooks'])} notebook"
            f"{'s' if len(manifest['notebooks']) != 1 else ''} ({', '.join(manifest['notebooks'])}) on the "
            f"**{manifest['profile']}** profile{extra}, over {len(manifest['points'])} grid point"
            f"{'s' if len(manifest['points']) != 1 else ''} ({grid}): {len(statuses)} runs, "
            f"{statuses.count('ok')} succeeded")
    text += (f", {len(failed)} did not ({', '.join(failed)}; their reports say why)." if failed else
             ", none failed.")
    cached = sum(bool(r.get("cached")) for r in manifest["runs"])
    if cached:
        text += f" {cached} of the runs were up to date from an earlier invocation and were not rerun."
    return text


def subset_text(settings: pd.DataFrame) -> str:
    """Whether the runs trained and tested on subsets, which makes the original reports' numbers
    (full data) an orientation, not a like-for-like target."""
    if len(settings.index) == 0:
        return "No run succeeded, so there are no settings to show."
    if not {"train_limit", "test_limit"} & set(settings.columns):
        return "The runs' metrics files record no training-set or test-set size."
    subsets = [nb for nb, row in settings.iterrows()
               if any(row.get(c) not in ("", None) for c in ("train_limit", "test_limit") if c in settings.columns)]
    if not subsets:
        return ("Every run used the full training and test sets; the original reports' numbers marked below are "
                "single runs of their own settings (epochs and recipe may differ).")
    limits = ", ".join(f"{nb}: {settings.loc[nb].get('train_limit', '') or 'all'} training / "
                       f"{settings.loc[nb].get('test_limit', '') or 'all'} test images" for nb in subsets)
    return (f"These runs used subsets ({limits}); the original reports' numbers come from the full 60,000 / "
            "10,000 images, so they are marked for orientation only, not as targets these runs should reach.")


def no_comparison_text(runs: pd.DataFrame) -> str:
    models = list(dict.fromkeys(runs.loc[runs["status"] == "ok", "model"]))
    per_optimizer = [n.name for n in catalogue.series() if n.section == OPTIMIZERS_SECTION]
    singles = [n.name for n in catalogue.series() if n.section == MODELS_SECTION]
    return (f"No pair of models to compare over seeds here: paired comparisons need the optimizers of "
            f"{' or '.join(per_optimizer)} or at least two of {', '.join(singles)} with two or more seeds each "
            f"(models with successful runs: {', '.join(models) or 'none'}).")


def seconds_text(seconds: pd.DataFrame, runs: pd.DataFrame) -> str:
    """Training time per model and the runs' total notebook time."""
    parts = [f"{row['model']}" + (f" ({row['setting']})" if row["setting"] else "") + f" {row['mean']:.1f} s"
             + (f" ± {row['sd']:.1f}" if row["n"] > 1 else "")
             for _, row in seconds.iterrows() if row["n"] > 0]
    total = runs.drop_duplicates(["point", "notebook"])["seconds"].sum()
    text = ("Training took, per run: " + "; ".join(parts) + ". " if parts else
            "No run recorded its training seconds. ")
    return text + (f"All runs together took {total:,.0f} s of notebook time (each notebook's wall time from start "
                   "to finish, including data loading and evaluation; runs on a cluster overlap, so the sweep "
                   "itself took less).")


def choice_text(choice: SettingChoice) -> str:
    """What the validation split chose for one model (the one-standard-error rule with training steps
    as the cost, :func:`mnist_lib.analysis.sweeps.choose_settings`), and what the choice gives on the
    test split."""
    def label(setting: str) -> str:
        return f"`{setting}`" if setting else "the baseline (the sweep's first setting)"

    def points(spread: stats.Spread) -> str:
        interval = (f" (95% interval {spread.low:+.2f} to {spread.high:+.2f})"
                    if spread.n >= 2 and math.isfinite(spread.low) else "")
        return f"{spread.mean:+.2f} points{interval}"

    def steps(ratio: float) -> str:
        return f"{ratio:.2f}x the baseline's training steps" if math.isfinite(ratio) else "training steps not recorded"

    head = f"**{choice.model}** ({choice.notebook}, {choice.seeds} seeds): "
    within = ""
    if choice.over_budget is not None:
        within = " within the budget"
        head += (f"{label(choice.over_budget)} has the best mean validation accuracy of all, "
                 f"{choice.val_over_budget:.2f}% at {steps(choice.over_budget_steps_ratio)}, over the sweep's budget "
                 f"of {choice.steps_budget:.2f}x, so it is not a candidate. ")
    if choice.best != choice.chosen:
        behind = choice.val_behind_best
        head += (f"{label(choice.best)} has the best mean validation accuracy{within}, {choice.val_best:.2f}% at "
                 f"{steps(choice.best_steps_ratio)}; {label(choice.chosen)} is within one standard error of it "
                 f"({behind.mean:+.2f} points paired by seed, standard error {behind.standard_error:.2f}) with fewer "
                 "steps, so it is "
                 "chosen (the one-standard-error rule). ")
    if choice.chosen == choice.baseline:
        if choice.best != choice.baseline:
            return head + f"So {label(choice.baseline)} stays (mean {choice.val_baseline:.2f}%)."
        return (head + f"No setting{within} beat {label(choice.baseline)} on the validation split (mean "
                f"{choice.val_baseline:.2f}%); it stays.")
    smallest = stats.smallest_wilcoxon_p(choice.seeds) if choice.seeds >= 1 else math.nan
    said = (f"{label(choice.chosen)} has the best mean validation accuracy{within}, " if choice.best == choice.chosen
            else "Its mean validation accuracy is ")
    return (head + f"{said}{choice.val_chosen:.2f}% against "
            f"{choice.val_baseline:.2f}% for {label(choice.baseline)}: {points(choice.val_difference)} paired by "
            f"seed (exact Wilcoxon p = {words.p_value(choice.val_wilcoxon_p)}; the smallest {choice.seeds} seeds can give is "
            f"{words.p_value(smallest)}). On the test split, which did not choose it: {choice.test_chosen:.2f}% against "
            f"{choice.test_baseline:.2f}%, {points(choice.test_difference)}. It costs {steps(choice.steps_ratio)}; "
            f"its runs' training time was {choice.seconds_ratio:.2f}x the baseline's (wall time, which other work "
            "on the machine can lengthen).")


# The characters Markdown reads as markup; an error message in a table cell must show them as they are.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|&~])")


def _cell(text: str) -> str:
    """Free ``text`` as one cell of a Markdown pipe table: on one line (a line break would end the
    row), markup escaped (a pipe would end the cell, a ``<`` start HTML)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def runs_table_text(runs: pd.DataFrame) -> str:
    """Every run, one row each, as a Markdown pipe table: a link to its own report (relative to the
    summary), its test accuracies (one per model of the run), notebook seconds and status."""
    rows = ["| run | test accuracy | notebook seconds | status |", "| --- | --- | --- | --- |"]
    for (point, notebook), run in runs.groupby(["point", "notebook"], sort=False):
        first = run.iloc[0]
        # Point ids and notebook names hold only letters, digits and ._=+,:- (runner.sweep.point_id),
        # nothing Markdown reads in a link, so the link shows them as they are.
        name = f"{point}/{notebook}"
        link = f"[{name}]({first['html']})" if isinstance(first["html"], str) else name
        accuracies = ", ".join((f"{r['model']} " if len(run) > 1 else "") + f"{r['accuracy']:.2f}%"
                               for _, r in run.iterrows() if pd.notna(r["accuracy"])) or "—"
        status = first["status"] + (f": {str(first['error'])[:200]}" if isinstance(first["error"], str) else "")
        seconds = f"{first['seconds']:.1f}" if pd.notna(first["seconds"]) else "—"
        rows.append(f"| {link} | {_cell(accuracies)} | {seconds} | {_cell(status)} |")
    return "\n".join(rows)


def seed_target_text(check: SeedTargetCheck) -> str:
    """A model's seed target and whether this sweep met it, with the measured mean, its interval and the
    lowest seed: a missed target is shown as missed, with how far it fell short."""
    target = check.target
    floor = f", every seed at least {target.every_seed:.2f}%" if target.every_seed is not None else ""
    setting = f" ({check.setting})" if check.setting else ""
    head = f"**{check.model}**{setting}: target a mean of at least {target.mean:.2f}% over {target.seeds} seeds{floor}"
    measured = (f"mean {check.mean:.2f}% over {words.plural(check.n, 'seed')} (95% interval {check.low:.2f}–"
                f"{check.high:.2f}%), lowest seed {check.lowest:.2f}%")
    if not check.applicable:
        return f"{head}. Not checked: {check.reason}; {measured}."
    if check.met:
        return f"{head}: **met**, {measured}."
    short = []
    if check.mean < target.mean:
        short.append(f"the mean {target.mean - check.mean:.2f} points short")
    if target.every_seed is not None and check.lowest < target.every_seed:
        short.append(f"the lowest seed {target.every_seed - check.lowest:.2f} points below the floor")
    return f"{head}: **missed** ({' and '.join(short)}), {measured}."

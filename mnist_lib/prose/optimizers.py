"""Sentences of the optimizer comparison (05): the runs' settings, convergence, the summary table, the
reference's numbers and ranking, the classes each optimizer finds hard, and the McNemar tests."""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from mnist_lib.prose import training as training_prose
from mnist_lib.prose.references import unstated_text
from mnist_lib.training import TrainConfig
from mnist_lib.words import plural


def configs_text(configs: Mapping[str, TrainConfig], train_images: int, noun: str = "digit") -> str:
    """One sentence naming every optimizer with its learning rate and the settings the runs share
    (``noun``: what one class is called)."""
    if not configs:
        raise ValueError("configs must hold at least one label -> TrainConfig")
    first = next(iter(configs.values()))
    runs = "; ".join(f"{training_prose.optimizer_text(cfg.optimizer, cfg.weight_decay, cfg.momentum)}, learning rate "
                     f"{cfg.lr:g}" for cfg in configs.values())
    steps = -(-train_images // first.batch_size)
    return (f"{plural(len(configs), 'optimizer')} ({runs}), each trained for "
            f"{plural(first.epochs, 'epoch')} of {plural(steps, 'step')} (batch size "
            f"{first.batch_size}) with {training_prose.schedule_text(first.scheduler, None)}; loss: "
            f"{training_prose.loss_text(first.label_smoothing, noun)}; {training_prose.augmentation_text(first.augment)}.")


def reference_setting_text(results: Mapping[str, Any], epochs: int, train_images: int,
                           params: Mapping[str, Any]) -> str:
    """How the reference values were measured (``results``: :class:`mnist_lib.references.ReferenceResult`
    by optimizer) beside this run's epoch budget and training images, and what the sources leave
    unstated of their recipe, with this run's values (``params``)."""
    this_run = f"this run's budget was {plural(epochs, 'epoch')} on {train_images:,} training images"
    if not results:
        return f"There are no reference values to compare with; {this_run}."

    def how(r) -> str:
        model = f" of {r.model}" if getattr(r, "model", "") else ""
        length = f" after {plural(r.epochs, 'epoch')}" if r.epochs is not None else ""
        source = f", from {r.source}" if getattr(r, "source", "") else ""
        unstated = " (training length not stated)" if r.epochs is None else ""
        return f"the {r.metric}{model}{length} on {r.train_images:,} training images{source}{unstated}"

    measured = sorted({how(r) for r in results.values()})
    unstated = sorted({unstated_text(r, params) for r in results.values()} - {""})
    return " ".join([f"The reference values are {'; '.join(measured)}; {this_run}.", *unstated])


def convergence_text(summary: pd.DataFrame, target: float) -> str:
    """One sentence: the runs in order of the first epoch reaching ``target`` on the test curve,
    with their convergence ranks, and the runs that never reached it."""
    for column in ("first_epoch_at_target", "convergence_rank"):
        if column not in summary.columns:
            raise ValueError(f"summary is missing column {column!r}; build it with optimizer_summary")
    reached = summary["first_epoch_at_target"].dropna().sort_values(kind="stable")
    never = [str(n) for n in summary.index if n not in reached.index]
    if reached.empty:
        return (f"No optimizer reached {target:.2%} test accuracy in the epochs run, so the convergence ranks "
                "are all tied.")
    order = ", ".join(f"{summary.loc[n, 'convergence_rank']}. {n} (epoch {int(e)})" for n, e in reached.items())
    return (f"Convergence to {target:.2%} test accuracy: {order}"
            + (f"; never reached: {', '.join(never)}." if never else "."))


def summary_text(summary: pd.DataFrame, target: float, selected: str,
                    definition: str | None = "the reference report's definition") -> str:
    """A plain-language paragraph (Markdown) about the summary table.

    ``selected`` is the run chosen by validation (:func:`best_by_validation`).
    ``definition`` names whose definition the max per-epoch test accuracy is (None
    when no reference of this dataset uses it).
    """
    whose = f" ({definition})" if definition else ""
    if selected not in summary.index:
        raise ValueError(f"selected {selected!r} is not a row of summary ({', '.join(map(str, summary.index))})")
    row = summary.loc[selected]
    parts = [f"Chosen by validation accuracy, **{selected}** reaches **{row['best_accuracy']:.2%}** test accuracy "
             f"(weights of its epoch {row['best_val_epoch']})."]
    parts.append(convergence_text(summary, target))
    gap = (summary["max_epoch_accuracy"] - summary["best_accuracy"]).dropna()
    if not gap.empty and gap.max() <= 0:
        parts.append("For every optimizer the validation-selected epoch is also its best test epoch, so picking "
                     f"the best epoch on the test set{whose} gives the same numbers here.")
    elif not gap.empty:
        widest = gap.idxmax()
        parts.append(f"Picking the epoch by the test set itself{whose} would add up to "
                     f"{gap.max() * 100:.2f} percentage points ({widest}): that optimism is why the honest column is "
                     f"the validation-selected one.")
    diverged = [str(n) for n in summary.index if summary.loc[n, "diverged"]]
    if diverged:
        parts.append(f"Diverged (non-finite loss): {', '.join(diverged)}.")
    return " ".join(parts)


def reference_text(versus: pd.DataFrame) -> str:
    """Markdown bullets comparing each optimizer with the reference (from :func:`reference_comparison`);
    optimizers without a reference value are left out. The rankings wait for McNemar's test
    (:func:`ranking_text`): an order within chance is no ranking."""
    compared = versus.dropna(subset=["reference"])
    if compared.empty:
        return "None of the optimizers run here has a reference value."
    return "\n".join(f"- **{row.Index}**: {row.best_accuracy:.2%} validation-selected ({100 * row.difference_best:+.2f} "
                     f"points), {row.max_epoch_accuracy:.2%} max per-epoch ({100 * row.difference_max_epoch:+.2f} "
                     f"points) against the reference's {row.reference:.2%}" for row in compared.itertuples())


def _apart(mcnemar: pd.DataFrame, a: str, b: str) -> bool:
    """Whether McNemar's test (Holm-corrected) tells ``a`` and ``b`` apart."""
    rows = mcnemar[((mcnemar.a == a) & (mcnemar.b == b)) | ((mcnemar.a == b) & (mcnemar.b == a))]
    return bool(len(rows)) and bool(rows.iloc[0].significant)


def ranking_text(versus: pd.DataFrame, mcnemar: pd.DataFrame) -> str:
    """This run's order of the optimizers by validation-selected test accuracy, where ">" needs
    McNemar's test (Holm-corrected) to tell the neighbours apart and "≈" marks a difference within
    chance; then whether that order agrees with the reference's, judged only on pairs this run tells
    apart. ``versus`` from :func:`reference_comparison`, ``mcnemar`` from :func:`pairwise_mcnemar`."""
    order = [str(n) for n in versus["best_accuracy"].sort_values(ascending=False, kind="stable").index]
    chain = order[0] + "".join(f" {'>' if _apart(mcnemar, a, b) else '≈'} {b}" for a, b in zip(order, order[1:]))
    text = (f"Validation-selected, this run ranks them {chain} (≈: the two are within chance by McNemar's test, "
            "Holm-corrected, so neither ranks above the other).")
    compared = versus.dropna(subset=["reference"])
    if len(compared) < 2:
        return text
    reference = [str(n) for n in compared["reference"].sort_values(ascending=False, kind="stable").index]
    pairs = [(a, b) for i, a in enumerate(reference) for b in reference[i + 1:]]
    told = [(a, b) for a, b in pairs if _apart(mcnemar, a, b)]
    reversed_ = [(a, b) for a, b in told if versus.loc[a, "best_accuracy"] < versus.loc[b, "best_accuracy"]]
    text += f" The reference ranks them {' > '.join(reference)}"
    if not told:
        return text + "; no pair differs beyond chance here, so this run neither confirms nor contradicts that order."
    if reversed_:
        return text + "; this run reverses it for " + ", ".join(f"{a} and {b}" for a, b in reversed_) + "."
    return text + (f"; this run agrees on every pair it tells apart ({', '.join(f'{a} > {b}' for a, b in told)})"
                   + (f" and cannot order the other {plural(len(pairs) - len(told), 'pair')}." if len(told) < len(pairs)
                      else "."))


def errors_text(extremes: pd.DataFrame, confused: pd.DataFrame, noun: str = "digit") -> str:
    """Markdown about each run's best and worst class (called ``noun``) and the mistakes the runs share.

    ``extremes`` and ``confused`` come from :func:`class_extremes` and :func:`confused_pairs`.
    """
    if extremes.empty:
        raise ValueError("extremes is empty")
    # itertuples keeps the class columns integer (iterrows would turn each row into floats).
    lines = [f"- **{row.Index}** recognises {row.best_class} best ({row.best_class_accuracy:.2%}) and "
             f"{row.worst_class} worst ({row.worst_class_accuracy:.2%})" for row in extremes.itertuples()]
    worst = extremes["worst_class"].value_counts(sort=True)
    text = "\n".join(lines) + (f"\n\n{noun[:1].upper() + noun[1:]} {worst.index[0]} is the hardest for "
                               f"{worst.iloc[0]} of {len(extremes)} run(s).")
    if not confused.empty:
        shared = confused.groupby(["true", "predicted"], sort=True).size().sort_values(ascending=False,
                                                                                       kind="stable")
        (true, predicted), runs = shared.index[0], int(shared.iloc[0])
        k = int(confused.groupby("optimizer").size().max())
        text += (f" The mistake {true} → {predicted} is in the top-{k} list of {runs} of "
                 f"{confused['optimizer'].nunique()} run(s).")
    return text


def mcnemar_texts(table: pd.DataFrame, alpha: float = 0.05) -> list[str]:
    """One sentence per row of :func:`mnist_lib.analysis.optimizer_comparison.pairwise_mcnemar`: each
    count is named with the model it belongs to, and a difference within chance is not a ranking."""
    return [_mcnemar_text(row, alpha, len(table)) for row in table.itertuples()]


def _mcnemar_text(row, alpha: float, n_pairs: int) -> str:
    a_only, b_only = int(row.only_a_right), int(row.only_b_right)
    if a_only == b_only == 0:
        return f"{row.a} and {row.b} make exactly the same mistakes: no difference to test."
    corrected = f", Holm-corrected for {n_pairs} comparisons" if n_pairs > 1 else ""
    counts = (f"{row.a} alone is right on {plural(a_only, 'image')}, {row.b} alone on {plural(b_only, 'image')}"
              if a_only != b_only else f"each alone is right on {plural(a_only, 'image')}")
    if row.significant:
        winner, loser = (row.a, row.b) if a_only > b_only else (row.b, row.a)
        return f"{winner} is significantly more accurate than {loser}: {counts} (p = {row.p_holm:.3g}{corrected})."
    return (f"No significant difference between {row.a} and {row.b} at the {alpha:.0%} level: {counts}, "
            f"within chance (p = {row.p_holm:.3g}{corrected}), so neither ranks above the other.")
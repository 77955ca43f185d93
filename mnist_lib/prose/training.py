"""Sentences about training: the optimizer, schedule, loss, augmentation, weight average, the whole
setup in one sentence, how the final evaluation is made, how the model ran, the learning curves,
the memory it takes, and where trained weights came from."""

from __future__ import annotations

from typing import Sequence

import pandas as pd
import torch

from mnist_lib import catalogue, metrics
from mnist_lib.augment import Augmentation
from mnist_lib.environment import cpu_name
from mnist_lib.plots import nll_column
from mnist_lib.runtime import FUSED_OPTIMIZERS, ExecSettings, setting_name
from mnist_lib.training import (
    ONECYCLE_WARMUP,
    OPTIMIZERS,
    SCHEDULERS,
    TrainConfig,
    label_smoothing_floor,
    onecycle_warmup,
    optimizer_state_values,
    total_steps,
)
from mnist_lib.words import and_list, code_list, ordinal, percent, plural

OPTIMIZER_NAMES = {
    "sgd": "plain SGD",
    "momentum": "SGD with momentum",
    "nesterov": "SGD with Nesterov momentum",
    "adam": "Adam",
    "adamw": "AdamW, Adam with decoupled weight decay",
    "rmsprop": "RMSprop",
}


def _check(name: str, value: str, valid: Sequence[str]) -> None:
    if value not in valid:
        raise ValueError(f"{name} must be one of {', '.join(valid)}, got {value!r}")


def optimizer_text(name: str, weight_decay: float = 0.0, momentum: float = 0.9) -> str:
    """"`momentum` (SGD with momentum 0.9), weight decay 0.0005"."""
    _check("optimizer", name, OPTIMIZERS)
    long = OPTIMIZER_NAMES[name]
    if name in ("momentum", "nesterov"):
        long += f" {momentum:g}"
    decay = f"weight decay {weight_decay:g}" if weight_decay else "no weight decay"
    return f"`{name}` ({long}), {decay}"


def schedule_text(scheduler: str, lr: float | None, steps: int | None = None) -> str:
    """How the learning rate moves under ``scheduler`` (as :func:`mnist_lib.training.make_scheduler` builds it).
    ``lr`` None leaves the rate out (runs that each have their own); ``steps``, the run's optimizer steps
    when known, gives the warm-up of a one-cycle schedule in steps."""
    _check("scheduler", scheduler, SCHEDULERS)
    if scheduler == "none":
        return f"a constant learning rate{f' of {lr:g}' if lr is not None else ''} (no schedule)"
    if scheduler == "step":
        return (f"the learning rate{f' {lr:g}' if lr is not None else ''} divided by 10 after half of the steps and "
                "again after three quarters (`step` schedule)")
    if scheduler == "cosine":
        return (f"the learning rate annealed{f' from {lr:g}' if lr is not None else ''} towards 0 along a cosine "
                "(`cosine` schedule)")
    if steps is None:
        warmup = f"the first {percent(ONECYCLE_WARMUP)} of the steps (at least two)"
    else:
        warmup = f"the first {round(onecycle_warmup(steps) * max(steps, 4)):,} of its {steps:,} steps"
    return (f"a one-cycle schedule (`onecycle`): the learning rate warms up to its peak"
            f"{f' {lr:g}' if lr is not None else ''} over {warmup}, then anneals towards 0")


def loss_text(label_smoothing: float, noun: str = "digit") -> str:
    """The loss the optimizer minimizes (``noun``: what one class is called)."""
    if not label_smoothing:
        return f"the plain cross-entropy (negative log-likelihood of the true {noun}, no label smoothing)"
    return (f"the cross-entropy with label smoothing {label_smoothing:g} (the target gives the true {noun} "
            f"{percent(1 - label_smoothing + label_smoothing / 10)} and every other {noun} "
            f"{percent(label_smoothing / 10)})")


def augmentation_text(augment: Augmentation | None) -> str:
    """"no augmentation" or the ranges of the batch augmentation."""
    if augment is None:
        return "no augmentation"
    return (f"batch augmentation ({'random horizontal flips, ' if augment.hflip else ''}rotation up to "
            f"±{augment.rotation:g}°, shift up to ±{augment.translate:.0%} of "
            f"the image, zoom {augment.scale[0]:g}–{augment.scale[1]:g}, shear up to ±{augment.shear:g}°, "
            f"brightness and contrast ±{augment.brightness:.0%} / ±{augment.contrast:.0%})")


def weight_average_text(ema_decay: float) -> str:
    """Whether the weights evaluated are an average over the steps, and how fast it forgets."""
    if not ema_decay:
        return "the weights evaluated are the last step's of each epoch (no weight average)"
    return (f"the weights evaluated are an exponential moving average of the steps' weights (decay {ema_decay:g}, "
            f"about the last {round(1 / (1 - ema_decay)):,} steps), batch-norm statistics included")


def training_text(cfg: TrainConfig, noun: str = "digit", train_images: int | None = None) -> str:
    """One sentence naming every training setting of ``cfg`` that shapes the result (``train_images``:
    the training split's size, which gives the schedule in steps)."""
    steps = None if train_images is None else total_steps(train_images, cfg.batch_size, cfg.epochs)
    return (f"Optimizer {optimizer_text(cfg.optimizer, cfg.weight_decay, cfg.momentum)}; "
            f"{schedule_text(cfg.scheduler, cfg.lr, steps)}; batch size {cfg.batch_size}; "
            f"{plural(cfg.epochs, 'epoch')}; loss: {loss_text(cfg.label_smoothing, noun)}; "
            f"{augmentation_text(cfg.augment)}; {weight_average_text(cfg.ema_decay)}.")


def evaluation_text(tta: str) -> str:
    """How the final predictions are made: one pass per image, or averaged over views of it
    (:func:`mnist_lib.training.tta_views`); the validation split is measured the same way."""
    views = {"none": None, "flip": "and its mirror image", "shift": "and the image shifted by one pixel up, down, "
             "left and right"}[tta]
    if views is None:
        return "Each image is classified once (no test-time augmentation)."
    return (f"Each image is classified by the average of the probabilities for the image {views} (test-time "
            f"augmentation, `tta = {tta}`); the validation split is measured the same way.")


def execution_text(settings: ExecSettings, model_title: str, device: torch.device | str,
                   process_threads: int | None = None, optimizers: Sequence[str] = ()) -> str:
    """How the training ran (memory format, compile, threads, optimizer kernel, precision, evaluation
    batch) and where that setting came from: the measured default for the model and device, the
    notebook's parameters, or the plain default where nothing was measured. ``process_threads``: the
    thread count the process had (default: torch's now), stated when the setting leaves threads
    alone; ``optimizers``: the optimizers that ran, to name those without a fused kernel."""
    device_type = torch.device(device).type
    threads = settings.threads or process_threads or torch.get_num_threads()
    layout = "the default (contiguous) memory format"
    if settings.memory_format == "channels_last":
        k = settings.channels_last_from
        layout = "the channels_last memory format" + (
            f" from the {ordinal(k + 1)} convolution on (before it the default format)" if k else "")
    mode = "compiled with `torch.compile` (default mode)" if settings.compile else "eager mode"
    precision = "bfloat16 autocast in the training step (evaluation in float32)" if settings.precision == "bf16" \
        else "float32"
    fused = [name for name in optimizers if settings.uses_fused(name)] if optimizers else \
        (list(settings.fused_for) if settings.fused_optimizer else [])
    unfused = [name for name in optimizers if name not in fused]
    no_kernel = [name for name in unfused if name not in FUSED_OPTIMIZERS] if settings.fused_optimizer else []
    notes = [f"the default implementation for {code_list(unfused)}"] if fused and unfused else []
    notes += [f"{code_list(no_kernel)} has no fused kernel"] if no_kernel else []
    kernel = (f"torch's fused optimizer kernel for {code_list(fused)}" if fused
              else "the optimizer's default (unfused) implementation") + (f" ({'; '.join(notes)})" if notes else "")
    origin = {
        "measured": f"the library's default for {model_title} on {device_type.upper()} with "
                    f"{plural(threads, 'thread')}, measured {settings.measured_on or 'with benchmarks/run.py'} "
                    f"(this run's CPU: {cpu_name()}); this run does not time it against the alternatives",
        "plain": f"the plain setting: no default was measured for {model_title} on {device_type.upper()}",
    }[settings.source]
    if settings.overrides:
        origin = (f"{code_list(settings.overrides, ' and ')} set by this notebook's parameters, "
                  f"the rest {origin}")
    return (f"Execution: {mode}, {layout}, {plural(threads, 'intra-op thread')}, {kernel}, {precision}, evaluation in "
            f"batches of {settings.eval_batch_size:,} under `torch.inference_mode`; {origin}.")


def curves_text(history_frame: pd.DataFrame, label_smoothing: float, noun: str = "digit") -> str:
    """Which losses :func:`mnist_lib.plots.learning_curves` draws for this history, and why the
    optimized loss (if drawn) is not comparable with the validation loss."""

    if not label_smoothing:
        return (f"Both loss curves are the negative log-likelihood (NLL) of the true {noun}: on the training batches "
                "it is also the loss the optimizer minimized, on the validation split it is measured after each "
                "epoch.")
    floor = label_smoothing_floor(label_smoothing)
    if nll_column(history_frame) is not None:
        return (f"The two solid loss curves are the plain negative log-likelihood (NLL) of the true {noun}, on the "
                "training batches and on the validation split, so they compare like with like. The dashed curve is "
                f"the loss the optimizer minimized, the cross-entropy with label smoothing {label_smoothing:g}: it "
                f"cannot fall below {floor:.2f} (the entropy of the smoothed targets) however well the network "
                "fits, so it lies above the NLL by construction, not because of overfitting.")
    return ("This history (from a checkpoint saved before the plain NLL was recorded) holds only the loss the "
            f"optimizer minimized on the training batches, the cross-entropy with label smoothing "
            f"{label_smoothing:g}, which cannot fall below {floor:.2f}; the validation curve is the plain NLL. "
            "Part of the gap between the two loss curves is therefore the smoothing, not overfitting.")


def train_metrics_text(augment: bool, model: torch.nn.Module | None = None) -> str:
    """Why training and validation metrics may differ, for this run's augmentation and
    ``model`` (whether it has dropout)."""
    dropout = model is not None and any(isinstance(m, torch.nn.modules.dropout._DropoutNd) for m in model.modules())
    conditions = [c for c, on in (("on augmented images", augment), ("with dropout active", dropout)) if on]
    text = ("Training loss and accuracy are averaged over the epoch's batches while the weights still change"
            + (", " + " and ".join(conditions) if conditions else "")
            + "; validation metrics are measured after the epoch, on unchanged images in evaluation mode")
    if conditions:
        return text + ", so the training accuracy can sit below the validation accuracy without any sign of trouble."
    return text + "."


def training_memory_text(n_params: int, optimizer: str) -> str:
    """The memory of parameters, gradients and optimizer state in float32, for ``optimizer``."""
    state = optimizer_state_values(optimizer)
    per_parameter = 2 + state  # the weight, its gradient, the optimizer's state
    mb = per_parameter * n_params * 4 / 2**20
    kept = {0: "no state of its own", 1: "one more value per parameter"}.get(state, f"{state} more values per "
                                                                                    "parameter")
    return (f"During training every parameter also has a gradient, and the optimizer `{optimizer}` keeps {kept}: "
            f"{per_parameter} float32 values per parameter, {mb:.2f} MB in all.")


def prepared_model_text(prepared) -> str:
    """Where the weights 06 looks inside come from (a
    :class:`mnist_lib.analysis.feature_maps.PreparedModel`): "reused the checkpoint from 03_lenet
    (trained 15 epochs on ... by commit ..., key ...)" or "trained here for 3 epochs (...) because ..."."""
    if prepared.reused:
        notebook = catalogue.notebook_for_model(prepared.model_name).name
        return (f"reused the checkpoint from {notebook} (trained {plural(prepared.epochs, 'epoch')} on "
                f"{prepared.trained_at or 'an unrecorded date'} by commit {prepared.commit or 'unknown'}, "
                f"key {prepared.key})")
    execution = prepared.execution
    text = (f"trained here for {plural(prepared.epochs, 'epoch')} ({setting_name(execution)}, the "
            f"{execution.source} setting for {prepared.model_name} on this device) because {prepared.fallback_reason}")
    if prepared.cached:
        text += f" (the weights of an earlier run of this notebook, cached as {prepared.checkpoint})"
    return text


def weights_text(weights) -> str:
    """Where a notebook's weights come from (a :class:`mnist_lib.checkpoints.TrainedWeights`): trained in
    this run, or reused from a checkpoint (when, by which commit, in how long)."""
    if weights.loaded:
        when = weights.trained_at.replace("T", " ").replace("+00:00", " UTC") if weights.trained_at else "an unknown date"
        seconds = f"{weights.train_seconds:.1f} s" if weights.train_seconds is not None else "an unrecorded time"
        return (f"The weights were **reused** from the checkpoint `{weights.path.name}`, trained on {when} by commit "
                f"`{weights.commit or 'unknown'}` in {seconds}; this run trained nothing, so the training log and "
                "seconds shown are that run's.")
    refused = f" An existing checkpoint was not reused: {weights.refused}." if weights.refused else ""
    return (f"The weights were **trained in this run** ({weights.train_seconds:.1f} s) and saved to "
            f"`{weights.path.name}`.{refused}")


def mistakes_text(cm, class_names=None, noun: str = "digit", shown: int = 5) -> str:
    """The most frequent mistakes of a confusion matrix ``cm``: every mistake tied for the top is named,
    each as "a 7 read as 2 (6 of the 1,028 test images of digit 7, 0.58%)", then what share of the
    errors the ``shown`` most frequent confusions (the table above the sentence) make up."""
    every = metrics.most_confused_pairs(cm, k=len(cm) ** 2, class_names=class_names)
    if every.empty:
        return "There is not a single mistake on the test images."
    top = every["count"].iloc[0]
    tied = every[every["count"] == top]
    named = and_list([f"a **{row.true}** read as **{row.predicted}** ({row.count:,} of the {row.true_total:,} test "
                      f"images of {noun} {row.true}, {row.share_of_true:.2%})" for row in tied.itertuples()])
    head = (f"The most frequent mistake is {named}." if len(tied) == 1 else
            f"{plural(len(tied), 'mistake').capitalize()} tie for the most frequent, {top:,} each: {named}.")
    listed = every.head(shown)
    share = f"{int(listed['count'].sum()):,} of the {int(every['count'].sum()):,} errors"
    if len(listed) == 1:
        return f"{head} The most frequent confusion alone makes up {share}."
    return f"{head} The {len(listed)} most frequent confusions make up {share}."


def top_mistake_text(cm, class_names=None) -> str:
    """The most frequent mistake in short, ties included: "7 → 2 (6 times)", "4 → 9 and 7 → 2 (6 times
    each)", or "none"."""
    every = metrics.most_confused_pairs(cm, k=len(cm) ** 2, class_names=class_names)
    if every.empty:
        return "none"
    top = int(every["count"].iloc[0])
    tied = every[every["count"] == top]
    return (and_list([f"{row.true} → {row.predicted}" for row in tied.itertuples()])
            + f" ({plural(top, 'time')}{' each' if len(tied) > 1 else ''})")

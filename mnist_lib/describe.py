"""Sentences for the reports, generated from a run's settings and measurements.

A report states a setting or a result only through these functions (or a
format string in the notebook), so its text names what actually ran: change a
parameter and the sentence changes with it. Each function returns Markdown.
What a class is called comes from the dataset (``noun``: "digit" for MNIST,
"class" for Fashion-MNIST and idx folders; see :func:`class_words`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd
import torch

from mnist_lib.data import Augmentation
from mnist_lib.execution import FUSED_OPTIMIZERS, ExecSettings, format_entry
from mnist_lib.training import OPTIMIZERS, SCHEDULERS, TrainConfig, label_smoothing_floor, make_optimizer

OPTIMIZER_NAMES = {
    "sgd": "plain SGD",
    "momentum": "SGD with momentum",
    "nesterov": "SGD with Nesterov momentum",
    "adam": "Adam",
    "adamw": "AdamW, Adam with decoupled weight decay",
    "rmsprop": "RMSprop",
}
NORMALIZATION_PHRASES = {
    "dataset": "standardized with the training split's own mean {mean:.4f} and standard deviation {std:.4f}",
    "half": "mapped to [−1, 1] as (x − 0.5) / 0.5",
    "none": "left as pixel values in [0, 1]",
    "raw": "left as raw pixel values 0..255",
}


def plural(n: int, word: str, many: str | None = None) -> str:
    """"1 epoch", "3 epochs"."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def ordinal(n: int) -> str:
    """1 -> "1st", 2 -> "2nd", 3 -> "3rd", 11 -> "11th", 22 -> "22nd"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def percent(fraction: float) -> str:
    """0.91 -> "91%", 0.005 -> "0.5%", 0.955 -> "95.5%" (no more decimals than needed, at most two)."""
    return f"{100 * fraction:.2f}".rstrip("0").rstrip(".") + "%"


def class_words(raw) -> tuple[str, str]:
    """(singular, plural) of what one class of ``raw`` (a :class:`mnist_lib.datasets.RawDataset`)
    is called in prose: ("digit", "digits") for MNIST, ("class", "classes") otherwise."""
    return raw.dataset.class_noun, raw.dataset.class_noun_plural


def foreground_word(raw) -> str:
    """What the bright (non-background) pixels of an image are: "strokes" for digits, "object" otherwise."""
    return "strokes" if raw.dataset.class_noun == "digit" else "object"


def _check(name: str, value: str, valid: Sequence[str]) -> None:
    if value not in valid:
        raise ValueError(f"{name} must be one of {', '.join(valid)}, got {value!r}")


# --------------------------------------------------------------------------- training setup


def optimizer_text(name: str, weight_decay: float = 0.0, momentum: float = 0.9) -> str:
    """"`momentum` (SGD with momentum 0.9), weight decay 0.0005"."""
    _check("optimizer", name, OPTIMIZERS)
    long = OPTIMIZER_NAMES[name]
    if name in ("momentum", "nesterov"):
        long += f" {momentum:g}"
    decay = f"weight decay {weight_decay:g}" if weight_decay else "no weight decay"
    return f"`{name}` ({long}), {decay}"


def schedule_text(scheduler: str, lr: float | None) -> str:
    """How the learning rate moves under ``scheduler`` (as :func:`mnist_lib.training.make_scheduler` builds it).
    ``lr`` None leaves the rate out (runs that each have their own)."""
    _check("scheduler", scheduler, SCHEDULERS)
    if scheduler == "none":
        return f"a constant learning rate{f' of {lr:g}' if lr is not None else ''} (no schedule)"
    if scheduler == "step":
        return (f"the learning rate{f' {lr:g}' if lr is not None else ''} divided by 10 after half of the steps and "
                "again after three quarters (`step` schedule)")
    if scheduler == "cosine":
        return (f"the learning rate annealed{f' from {lr:g}' if lr is not None else ''} towards 0 along a cosine "
                "(`cosine` schedule)")
    return (f"a one-cycle schedule (`onecycle`): the learning rate warms up to its peak"
            f"{f' {lr:g}' if lr is not None else ''} over the first quarter of the steps, then anneals towards 0")


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


def hflip_text(hflip: bool, requested: bool | None, dataset) -> str:
    """Why this run does or does not mirror training images: ``hflip`` what ran, ``requested`` the
    parameter (None: the dataset's default), ``dataset`` the registry entry."""
    noun, title = dataset.class_noun, dataset.title
    keeps = {True: f"a mirrored {title} image still shows its {noun}",
             False: f"a mirrored {noun} is not the same {noun}",
             None: f"whether a mirrored image keeps its {noun} is not known for an {title}; set `hflip=True` if it "
                   "does"}[dataset.hflip_preserves_label]
    state = "on" if hflip else "off"
    how = ("as the `hflip` parameter asks" if requested is not None
           else f"the default for {'' if dataset.pinned else 'an '}{title}")
    return f"Random horizontal flips are **{state}** ({how}; {keeps})."


def training_setup(cfg: TrainConfig, noun: str = "digit") -> str:
    """One sentence naming every training setting of ``cfg`` that shapes the result."""
    return (f"Optimizer {optimizer_text(cfg.optimizer, cfg.weight_decay, cfg.momentum)}; "
            f"{schedule_text(cfg.scheduler, cfg.lr)}; batch size {cfg.batch_size}; "
            f"{plural(cfg.epochs, 'epoch')}; loss: {loss_text(cfg.label_smoothing, noun)}; "
            f"{augmentation_text(cfg.augment)}.")


def _code_list(names: Sequence[str], separator: str = ", ") -> str:
    """Names as inline code: "`adam`, `sgd`"."""
    return separator.join(f"`{name}`" for name in names)


def execution_text(settings: ExecSettings, model_title: str, device: torch.device | str,
                   process_threads: int | None = None, optimizers: Sequence[str] = (),
                   model: torch.nn.Module | None = None) -> str:
    """How the training ran (memory format, compile, threads, optimizer kernel, precision, evaluation
    batch) and where that setting came from: the measured default for the model and device, the
    notebook's parameters, or the plain default where nothing was measured. ``process_threads``: the
    thread count the process had (default: torch's now), stated when the setting leaves threads
    alone; ``optimizers``: the optimizers that ran, to name those without a fused kernel; ``model``: the
    model that ran, to name a max pooling that switches format ahead of the first channels_last
    convolution (:func:`mnist_lib.execution.format_entry`)."""
    device_type = torch.device(device).type
    threads = settings.threads or process_threads or torch.get_num_threads()
    layout = "the default (contiguous) memory format"
    if settings.memory_format == "channels_last":
        k = settings.channels_last_from
        entry = format_entry(model, settings) if model is not None and k else None
        pooling = " (and the max pooling just before it)" if entry is not None and \
            isinstance(model.get_submodule(entry), torch.nn.MaxPool2d) else ""
        layout = "the channels_last memory format" + (
            f" from the {ordinal(k + 1)} convolution{pooling} on (before it the default format)" if k else "")
    mode = "compiled with `torch.compile` (default mode)" if settings.compile else "eager mode"
    precision = "bfloat16 autocast in the training step (evaluation in float32)" if settings.precision == "bf16" \
        else "float32"
    fused = [name for name in optimizers if settings.uses_fused(name)] if optimizers else \
        (list(settings.fused_for) if settings.fused_optimizer else [])
    unfused = [name for name in optimizers if name not in fused]
    no_kernel = [name for name in unfused if name not in FUSED_OPTIMIZERS] if settings.fused_optimizer else []
    notes = [f"the default implementation for {_code_list(unfused)}"] if fused and unfused else []
    notes += [f"{_code_list(no_kernel)} has no fused kernel"] if no_kernel else []
    kernel = (f"torch's fused optimizer kernel for {_code_list(fused)}" if fused
              else "the optimizer's default (unfused) implementation") + (f" ({'; '.join(notes)})" if notes else "")
    origin = {
        "measured": f"the setting measured fastest for {model_title} on {device_type.upper()} (`benchmarks/run.py`, "
                    "execution settings table)",
        "plain": f"the plain setting: no faster one was measured for {model_title} on {device_type.upper()}",
    }[settings.source]
    if settings.overrides:
        origin = (f"{_code_list(settings.overrides, ' and ')} set by this notebook's parameters, "
                  f"the rest {origin}")
    return (f"Execution: {mode}, {layout}, {plural(threads, 'intra-op thread')}, {kernel}, {precision}, evaluation in "
            f"batches of {settings.eval_batch_size:,} under `torch.inference_mode`; {origin}.")


def normalization_text(normalization: str, mean: float, std: float, padded: bool = False) -> str:
    """How the inputs were normalized: "inputs standardized with the training split's own mean ...".
    ``padded``: the images were zero-padded first, which the dataset statistics include."""
    _check("normalization", normalization, tuple(NORMALIZATION_PHRASES))
    text = f"inputs {NORMALIZATION_PHRASES[normalization].format(mean=mean, std=std)} (`{normalization}`)"
    if padded and normalization == "dataset":
        text += ", statistics computed after padding, so the padding counts as background"
    return text


# --------------------------------------------------------------------------- learning curves


def curves_text(history_frame: pd.DataFrame, label_smoothing: float, noun: str = "digit") -> str:
    """Which losses :func:`mnist_lib.plots.learning_curves` draws for this history, and why the
    optimized loss (if drawn) is not comparable with the validation loss."""
    from mnist_lib.plots import nll_column

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


def train_metrics_note(augment: bool, model: torch.nn.Module | None = None) -> str:
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


# --------------------------------------------------------------------------- model size


def optimizer_state_values(name: str) -> int:
    """How many values the optimizer ``name`` keeps per parameter after a step (measured on a
    one-parameter tensor: 0 for plain SGD, 1 for momentum buffers, 2 for Adam's moments)."""
    _check("optimizer", name, OPTIMIZERS)
    weight = torch.nn.Parameter(torch.zeros(5))
    optimizer = make_optimizer(name, [weight], lr=0.1)
    weight.grad = torch.ones(5)
    optimizer.step()
    return sum(1 for value in optimizer.state[weight].values()
               if torch.is_tensor(value) and value.shape == weight.shape)


def training_memory_text(n_params: int, optimizer: str) -> str:
    """The memory of parameters, gradients and optimizer state in float32, for ``optimizer``."""
    state = optimizer_state_values(optimizer)
    per_parameter = 2 + state  # the weight, its gradient, the optimizer's state
    mb = per_parameter * n_params * 4 / 2**20
    kept = {0: "no state of its own", 1: "one more value per parameter"}.get(state, f"{state} more values per "
                                                                                    "parameter")
    return (f"During training every parameter also has a gradient, and the optimizer `{optimizer}` keeps {kept}: "
            f"{per_parameter} float32 values per parameter, {mb:.2f} MB in all.")


# --------------------------------------------------------------------------- data


def class_balance_text(train_counts: Mapping[Any, int] | pd.Series, test_majority_share: float,
                       balanced_ratio: float = 1.5, noun: str = "digit") -> str:
    """How balanced the classes are (most / least frequent training class, by the names in the
    index of ``train_counts``), and what that means for accuracy.

    The classes count as close to balanced when the ratio is below ``balanced_ratio``.
    """
    counts = pd.Series(train_counts, dtype=float)
    if counts.empty or counts.min() <= 0:
        raise ValueError("train_counts must hold a positive count for every class")
    shares = counts / counts.sum()
    common, rare = shares.idxmax(), shares.idxmin()
    ratio = counts[common] / counts[rare]
    head = (f"the most frequent training {noun}, **{common}**, makes up **{shares[common]:.2%}** of the training "
            f"split and the rarest, **{rare}**, **{shares[rare]:.2%}** (a ratio of {ratio:.2f}). Always guessing "
            f"the commonest {noun} would score {test_majority_share:.1%} on the test split")
    if ratio < balanced_ratio:
        return (f"The classes are close to balanced: {head}, so accuracy is a fair headline metric; the stratified "
                "splits keep the shares equal across train, validation and test.")
    return (f"The classes are unbalanced: {head}, so per-class metrics matter more than plain accuracy here; the "
            "stratified splits keep the shares equal across train, validation and test.")


def background_value(images) -> int:
    """The background of uint8 images (N, H, W): the commonest value of their border pixels (0 for
    MNIST and Fashion-MNIST, 255 for images drawn dark on light)."""
    images = torch.as_tensor(images)
    border = torch.cat([images[:, 0, :], images[:, -1, :], images[:, :, 0], images[:, :, -1]], dim=1)
    return int(torch.bincount(border.reshape(-1).to(torch.int64), minlength=256).argmax())


def pixel_text(zero_share: float, full_share: float, n_pixels: int, binary_below: float = 0.2,
               background: int = 0) -> str:
    """The share of pixels at 0, at 255 and in between, naming which end is the ``background``
    (:func:`background_value`); "close to binary" when fewer than ``binary_below`` of the pixels lie
    in between."""
    between = 1 - zero_share - full_share
    role = {0: "", 255: ""}
    if background in role:
        role[background] = " (background: the commonest value on the images' border)"
        role[255 - background] = " (saturated)"
    else:
        role[0], role[255] = " (dark end)", " (bright end)"
    text = (f"**{zero_share:.2%}** of the {n_pixels:,} training pixels are exactly 0{role[0]} and "
            f"{full_share:.2%} are exactly 255{role[255]}; {between:.2%} lie in between.")
    if background not in (0, 255):
        text += f" The border's commonest value is {background}, so the background is not at either end."
    if between < binary_below:
        return text + (f" Fewer than {binary_below:.0%} of the pixels are grey, so the images are close to black and "
                       "white.")
    return text + " Many pixels are grey, so the images are far from binary."


# --------------------------------------------------------------------------- the dataset


def classes_text(classes: Sequence[str]) -> str:
    """"0 T-shirt/top, 1 Trouser, ..." (label and name), or "0–9" when the names are the labels."""
    if list(classes) == [str(k) for k in range(len(classes))]:
        return f"labelled {classes[0]}–{classes[-1]}"
    return ", ".join(f"{k} {name}" for k, name in enumerate(classes))


def dataset_text(raw) -> str:
    """What data this report is on (a :class:`mnist_lib.datasets.RawDataset`): its name, sizes, classes
    and how its files were checked; for an idx folder, where it is and the SHA-256 computed here."""
    n_train, n_test = len(raw.train_labels), len(raw.test_labels)
    shape = "×".join(str(n) for n in raw.train_images.shape[1:])
    head = (f"{n_train:,} training and {n_test:,} test images of {shape} pixels in {len(raw.classes)} classes "
            f"({classes_text(raw.classes)})")
    if raw.dataset.pinned:
        return (f"The data: **{raw.title}**, {head}. Every file was checked against the SHA-256 pinned for "
                f"{raw.title} in `mnist_lib.datasets`.")
    where = f"`{raw.directory}`" if raw.directory is not None else "a folder"
    name = raw.directory.name if raw.directory is not None else raw.title
    names = ("" if list(raw.classes) != [str(k) for k in range(len(raw.classes))]
             else "; the folder has no classes.txt or classes.json, so the classes are named by their labels")
    hashes = ", ".join(f"`{name}` {digest}" for name, digest in sorted(raw.sha256.items()))
    return (f"The data: the IDX folder **{name}** ({where}), {head}{names}. Its files are not pinned: they were "
            f"validated (magic numbers, shapes, label range, counts that agree) and their SHA-256 computed here: "
            f"{hashes}.")

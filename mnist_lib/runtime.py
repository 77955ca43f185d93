"""How a model runs on a device: memory format, ``torch.compile``, intra-op
threads, the optimizer's fused kernel, evaluation batch size and numeric precision.

Each model has a default per device type, chosen by measurement: the settings
table of ``benchmarks/run.py`` (training and evaluation images/s of every
model under every setting, median of interleaved repeats) picked it on the
machine :data:`MEASURED` names, with the numbers behind it; a report states that
default and where it was measured, never that it is the fastest where it runs.
A setting enters that table only where the full-profile accuracy stayed within
the 95% interval over seeds of the previous default (README, "Speed"). Every
choice can be overridden by a notebook parameter, and the report says which
setting ran and whether it was the measured default or a parameter.

Precision is never chosen for the user: ``fp32`` unless ``precision = "bf16"``
asks for bfloat16 autocast of the training step (evaluation stays float32, so
test numbers compare across precisions).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Iterator, Mapping

import torch
import torch.nn as nn

from mnist_lib.choices import MEMORY_FORMATS, PRECISIONS

# Optimizers torch has a fused kernel for (``fused=True``); the others always run torch's default implementation.
FUSED_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw")
DEFAULT_EVAL_BATCH = 2000


@dataclass(frozen=True)
class ExecSettings:
    """How one model runs.

    ``channels_last_from`` (with ``memory_format="channels_last"``): the index of the first
    convolution whose weights, and so whose output and everything after it, are channels_last; 0 is the
    whole model and its input batch, 1 keeps the first convolution (and its batch norm) in the default
    format, where a one-channel input makes channels_last slow (the switch: :func:`format_entry`);
    ``threads`` is the intra-op thread count of the training loop (None: the
    process's; a notebook fixes its whole process's count with its ``threads`` parameter);
    ``fused_optimizer`` asks for torch's fused optimizer kernel (one kernel for
    every parameter's update) for the optimizers in ``fused_for`` (a measured
    default names the optimizer it was measured with; a parameter, every one in
    :data:`FUSED_OPTIMIZERS`);
    ``source`` says where the base setting came from: ``measured`` (the table
    for this model and device) or ``plain`` (no table entry: eager,
    contiguous); ``measured_on`` where and how that entry was measured (not part of
    :meth:`to_dict`, so not of a checkpoint's key); ``overrides`` names the notebook
    parameters that changed it.
    """

    memory_format: str = "contiguous"
    channels_last_from: int = 0
    compile: bool = False
    threads: int | None = None
    eval_batch_size: int = DEFAULT_EVAL_BATCH
    precision: str = "fp32"
    fused_optimizer: bool = False
    fused_for: tuple[str, ...] = FUSED_OPTIMIZERS
    source: str = "plain"
    overrides: tuple[str, ...] = ()
    measured_on: str = ""

    def __post_init__(self):
        object.__setattr__(self, "overrides", tuple(self.overrides))  # a list from JSON, say
        object.__setattr__(self, "fused_for", tuple(self.fused_for))
        if not set(self.fused_for) <= set(FUSED_OPTIMIZERS):
            raise ValueError(f"fused_for must name optimizers from {FUSED_OPTIMIZERS}, got {self.fused_for!r}")
        if self.memory_format not in MEMORY_FORMATS[1:]:
            raise ValueError(f"memory_format must be one of {MEMORY_FORMATS[1:]}, got {self.memory_format!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be a whole number >= 1 or None, got {self.threads!r}")
        if not isinstance(self.channels_last_from, int) or self.channels_last_from < 0:
            raise ValueError(f"channels_last_from must be a whole number >= 0, got {self.channels_last_from!r}")
        if self.channels_last_from and self.memory_format != "channels_last":
            raise ValueError(f"channels_last_from={self.channels_last_from} needs memory_format='channels_last'")
        if not isinstance(self.eval_batch_size, int) or self.eval_batch_size < 1:
            raise ValueError(f"eval_batch_size must be a whole number >= 1, got {self.eval_batch_size!r}")

    def uses_fused(self, optimizer: str) -> bool:
        """Whether ``optimizer`` runs with torch's fused kernel under this setting."""
        return self.fused_optimizer and optimizer in self.fused_for

    def to_dict(self) -> dict:
        d = asdict(self)
        d["overrides"], d["fused_for"] = list(self.overrides), list(self.fused_for)
        del d["measured_on"]
        return d


@dataclass(frozen=True)
class Measured:
    """One entry of the table: the chosen setting and the measurement that chose it."""

    memory_format: str = "contiguous"
    channels_last_from: int = 0
    compile: bool = False
    eval_batch_size: int = DEFAULT_EVAL_BATCH
    fused_optimizer: bool = False
    fused_for: tuple[str, ...] = FUSED_OPTIMIZERS  # the optimizers it was measured with
    evidence: str = ""
    where: str = ""  # the machine, command and date of the measurement


# The fastest honest setting per (model, device type, intra-op threads of the process), from
# `python benchmarks/run.py --pipelines settings` (reports/benchmarks.md, "Chosen per model"). A model or
# device missing here runs plain. Thread counts matter: on this 2-core machine the CNN gains nothing from
# channels_last with 2 threads and 1.47x with 1 (a parallel build's notebooks run on one thread each).
#
# Measured 2026-11-30 on a 2-core Intel Xeon (torch 2.14.1, no GPU), load average 1.3 -> 1.7:
# `python benchmarks/run.py --pipelines settings --repeats 5`, training images/s with each notebook's
# optimizer and batch size, median of 5 interleaved rounds. Evaluation batches: eager, 2 threads.
_RUN = "`benchmarks/run.py --pipelines settings --repeats 5` on a 2-core Intel Xeon, 2026-11-30"
# The CNN's partial channels_last rows, measured with the benchmark's SettingRunner (the library's train_step,
# the notebook's recipe) in rounds of 2 s per row, one row after the other, median and per-round ratios.
_RUN2 = ("with `benchmarks/run.py`'s SettingRunner, 8 (2 threads) / 6 (1 thread) interleaved rounds of 2 s, on a "
         "2-core Intel Xeon, 2026-11-30")
MEASURED: dict[tuple[str, str, int], Measured] = {
    ("ann", "cpu", 2): Measured(where=_RUN, fused_optimizer=True, fused_for=("adamw",), eval_batch_size=5000, evidence=(
        f"{_RUN}: fused AdamW 98,250 vs 86,459 images/s (1.14x); evaluation 724,859 images/s in batches of "
        "5,000 vs 685,667 in 2,000")),
    ("ann", "cpu", 1): Measured(where=_RUN, fused_optimizer=True, fused_for=("adamw",), eval_batch_size=5000, evidence=(
        f"{_RUN}: fused AdamW on 1 thread 93,224 vs 78,415 images/s (1.19x)")),
    ("mlp", "cpu", 2): Measured(where=_RUN, fused_optimizer=True, fused_for=("adam",), eval_batch_size=5000, evidence=(
        f"{_RUN}: fused Adam 60,208 vs 47,703 images/s (1.26x); evaluation 746,029 images/s in batches of "
        "5,000 vs 695,644 in 2,000")),
    ("mlp", "cpu", 1): Measured(where=_RUN, fused_optimizer=True, fused_for=("adam",), eval_batch_size=5000, evidence=(
        f"{_RUN}: fused Adam on 1 thread 58,608 vs 45,782 images/s (1.28x)")),
    ("lenet5", "cpu", 2): Measured(where=_RUN, memory_format="channels_last", fused_optimizer=True, fused_for=("adam",), eval_batch_size=250,
                                   evidence=(f"{_RUN}: channels_last + fused Adam 15,320 vs 12,316 images/s (1.24x); "
                                             "evaluation 38,805 images/s in batches of 250 vs 25,277 in 2,000")),
    ("lenet5", "cpu", 1): Measured(where=_RUN, memory_format="channels_last", fused_optimizer=True, fused_for=("adam",), eval_batch_size=250,
                                   evidence=f"{_RUN}: channels_last + fused Adam on 1 thread 8,954 vs 7,651 images/s "
                                            "(1.17x)"),
    ("cnn", "cpu", 2): Measured(where=_RUN2, memory_format="channels_last", channels_last_from=1, fused_optimizer=True,
                                fused_for=("adam",), eval_batch_size=250, evidence=(
        f"{_RUN2}: channels_last from the 2nd convolution + fused Adam 6,776 vs 5,522 images/s (contiguous + fused "
        "Adam; 1.23x, 1.14-1.49x in each of 8 rounds; whole-model channels_last 0.91x: its first block, one input "
        "channel, runs batch norm slowly in that format); evaluation 13,258 images/s in batches of 250 vs 9,343 "
        "in 2,000")),
    ("cnn", "cpu", 1): Measured(where=_RUN2, memory_format="channels_last", channels_last_from=1, fused_optimizer=True,
                                fused_for=("adam",), eval_batch_size=250, evidence=(
        f"{_RUN2}: on 1 thread, channels_last from the 2nd convolution + fused Adam 4,444 vs 3,452 images/s "
        "(1.29x; whole-model channels_last 1.21x), 1.19-1.29x in each of 6 rounds")),
}


def measured_default(model_name: str, device_type: str, threads: int) -> Measured | None:
    """The table's entry for ``model_name`` on a device of ``device_type`` ('cpu', 'cuda', ...) trained with
    ``threads`` intra-op threads: the entry measured at the most threads not above it (else at the fewest),
    or None when the model and device were not measured."""
    counts = sorted(t for (model, device, t) in MEASURED if (model, device) == (model_name, device_type))
    if not counts:
        return None
    fitting = [t for t in counts if t <= threads]
    return MEASURED[model_name, device_type, fitting[-1] if fitting else counts[0]]


def resolve(model_name: str, device: torch.device | str, *, memory_format: str = "auto",
            compile: bool | None = None, threads: int | None = None, precision: str = "fp32",
            fused_optimizer: bool | None = None) -> ExecSettings:
    """The settings ``model_name`` runs with on ``device`` with ``threads`` intra-op threads (default:
    this process's count; a notebook's comes from its ``threads`` parameter): the measured default for
    that thread count, with every argument that is not ``auto`` / None overriding its part.
    """
    if memory_format not in MEMORY_FORMATS:
        raise ValueError(f"memory_format must be one of {MEMORY_FORMATS}, got {memory_format!r}")
    device_type = torch.device(device).type
    threads = threads if threads is not None else torch.get_num_threads()
    entry = measured_default(model_name, device_type, threads)
    base = entry or Measured()
    overrides = tuple(name for name, given in (("memory_format", memory_format != "auto"),
                                               ("compile_model", compile is not None),
                                               ("fused_optimizer", fused_optimizer is not None))
                      if given)
    return ExecSettings(
        memory_format=base.memory_format if memory_format == "auto" else memory_format,
        channels_last_from=base.channels_last_from if memory_format == "auto" else 0,
        compile=base.compile if compile is None else bool(compile),
        threads=threads,
        eval_batch_size=base.eval_batch_size,
        precision=precision,
        fused_optimizer=base.fused_optimizer if fused_optimizer is None else bool(fused_optimizer),
        fused_for=base.fused_for if fused_optimizer is None else FUSED_OPTIMIZERS,
        source="measured" if entry is not None else "plain",
        overrides=overrides,
        measured_on=entry.where if entry is not None else "",
    )


def settings_from_params(model_name: str, device: torch.device | str, params: Mapping) -> ExecSettings:
    """:func:`resolve` with a notebook's validated parameters (``memory_format``, ``compile_model``,
    ``threads``, ``fused_optimizer``, ``precision``; any of them missing counts as ``auto``)."""
    return resolve(model_name, device, memory_format=params.get("memory_format", "auto"),
                   compile=params.get("compile_model"), threads=params.get("threads"),
                   precision=params.get("precision", "fp32"), fused_optimizer=params.get("fused_optimizer"))


def convolutions(model: nn.Module) -> list[str]:
    """The qualified names of the model's 2-d convolutions, in definition order."""
    return [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]


def channels_last_modules(model: nn.Module, settings: ExecSettings) -> list[str]:
    """The convolutions the setting puts in channels_last (all of them from ``channels_last_from`` on)."""
    if settings.memory_format != "channels_last":
        return []
    convs = convolutions(model)
    if settings.channels_last_from >= max(len(convs), 1):
        raise ValueError(f"channels_last_from={settings.channels_last_from} but {type(model).__name__} has "
                         f"{len(convs)} convolution(s); valid: 0 to {max(len(convs) - 1, 0)}")
    return convs[settings.channels_last_from:]


def format_entry(model: nn.Module, settings: ExecSettings) -> str | None:
    """The module whose input enters channels_last when the model switches format inside
    (``channels_last_from`` > 0): the first channels_last convolution. None when nothing switches
    (no channels_last, or all of it)."""
    names = channels_last_modules(model, settings)
    if not names or settings.channels_last_from == 0:
        return None
    return names[0]


class _FormatBoundary(torch.autograd.Function):
    """``x`` in memory format ``fmt``, its gradient handed back in the format ``x`` came in."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, fmt: torch.memory_format) -> torch.Tensor:
        ctx.came_in = torch.contiguous_format if x.is_contiguous() else torch.channels_last
        return x.contiguous(memory_format=fmt)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad.contiguous(memory_format=ctx.came_in), None


def to_format(x: torch.Tensor, fmt: torch.memory_format) -> torch.Tensor:
    """An image batch in ``fmt`` (as it is when it already is), whose gradient goes back in the format
    the batch came in. ``x.contiguous(memory_format=...)`` alone passes the gradient on in the new
    format, so the layer before the change runs its backward in the wrong one (max pooling's
    backward then copies its input and indices into that format)."""
    if x.dim() != 4 or x.is_contiguous(memory_format=fmt):
        return x
    return _FormatBoundary.apply(x, fmt)


def prepare_model(model: nn.Module, settings: ExecSettings) -> nn.Module:
    """Put the model's weights in the setting's memory format (in place) and return it. From the
    first channels_last convolution on, the activations follow the weights' format (a convolution
    with channels_last weights gives a channels_last output, and batch norm, activations and
    pooling keep it).

    Where the format changes inside the model, hooks convert the activations with
    :func:`to_format`, so each part also runs its backward in its own format: before the first
    channels_last convolution when it is not the first (``channels_last_from`` > 0:
    :func:`format_entry`), and after the
    model's part that holds the last one (the CNN's third block, before ``flatten``). Calling it
    again replaces the hooks of an earlier call."""
    for handle in getattr(model, "_format_hooks", ()):
        handle.remove()
    modules = dict(model.named_modules())
    names = channels_last_modules(model, settings)
    for name in names:
        modules[name].to(memory_format=torch.channels_last)
    hooks = []
    entry = format_entry(model, settings)
    if entry is not None:
        hooks.append(modules[entry].register_forward_pre_hook(
            lambda module, args: (to_format(args[0], torch.channels_last), *args[1:])))
    if names:
        exit_part = modules[names[-1].split(".")[0]]  # the model's child that holds the last one
        hooks.append(exit_part.register_forward_hook(
            lambda module, args, output: to_format(output, torch.contiguous_format)))
    model._format_hooks = hooks
    return model


def training_forward(model: nn.Module, settings: ExecSettings):
    """What the training step calls: the model, or ``torch.compile(model)`` (default mode). The
    weights stay the model's own, so its state dict and evaluation are unaffected. Inductor's
    ``deterministic`` flag follows ``torch.are_deterministic_algorithms_enabled()`` (what
    ``torch.use_deterministic_algorithms`` would have set, had inductor been imported then)."""
    if not settings.compile:
        return model
    import torch._inductor.config as inductor_config

    inductor_config.deterministic = torch.are_deterministic_algorithms_enabled()
    return torch.compile(model)


def as_input(x: torch.Tensor, settings: ExecSettings) -> torch.Tensor:
    """A batch in the setting's memory format (image batches only, and only when the whole model is
    channels_last; a no-op otherwise)."""
    if x.dim() == 4 and settings.memory_format == "channels_last" and settings.channels_last_from == 0:
        return x.contiguous(memory_format=torch.channels_last)
    return x


@contextlib.contextmanager
def intra_op_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads (None: unchanged), then restore the count."""
    previous = torch.get_num_threads()
    if n is not None and n != previous:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def autocast(settings: ExecSettings, device: torch.device | str):
    """bfloat16 autocast on ``device`` when the setting asks for it, else a no-op context."""
    if settings.precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def setting_name(settings: ExecSettings) -> str:
    """A short name: 'eager', 'channels_last', 'channels_last from conv 2', 'fused optimizer',
    'channels_last + torch.compile', ..."""
    layout = "channels_last" + (f" from conv {settings.channels_last_from + 1}" if settings.channels_last_from else "")
    parts = [p for p, on in ((layout, settings.memory_format == "channels_last"),
                             ("fused optimizer", settings.fused_optimizer),
                             ("torch.compile", settings.compile)) if on]
    return " + ".join(parts) or "eager"


__all__ = ["MEMORY_FORMATS", "PRECISIONS", "FUSED_OPTIMIZERS", "DEFAULT_EVAL_BATCH", "ExecSettings", "Measured", "MEASURED",
           "measured_default", "resolve", "settings_from_params", "convolutions", "channels_last_modules",
           "prepare_model", "to_format", "training_forward", "as_input", "intra_op_threads", "autocast", "setting_name"]

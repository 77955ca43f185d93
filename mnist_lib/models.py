"""Reference MNIST architectures, built by name from a single registry.

Every model takes a float batch of shape ``(N, 1, H, W)`` and returns
``(N, 10)`` scores. Two class attributes tell the rest of the library how to
use a model without knowing its class:

* ``input_size`` -- the side ``H == W`` it expects (28, or 32 for LeNet-5,
  whose images are zero-padded by the data code);
* ``output_kind`` -- ``"logits"`` (train with ``CrossEntropyLoss``) or
  ``"log_softmax"`` (train with ``NLLLoss``).

The module also holds the inspection helpers the notebooks print: parameter
counts, a per-layer parameter table, a hook-based summary DataFrame and the
``torchsummary`` text.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import itertools
from collections.abc import Iterator, Sequence

import pandas as pd
import torch
import torch.nn.functional as F
import torchsummary
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "ANN",
    "CNN",
    "ConfigurableMLP",
    "LeNet5",
    "MLP",
    "MODEL_NAMES",
    "build_model",
    "count_parameters",
    "model_input_size",
    "model_summary",
    "parameter_table",
    "summary_text",
]

N_CLASSES = 10
OUTPUT_KINDS = ("logits", "log_softmax")


def _check_image_batch(x: torch.Tensor, size: int, model_name: str) -> None:
    """Raise a readable ValueError unless ``x`` is ``(N, 1, size, size)``."""
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, size, size):
        raise ValueError(
            f"{model_name} expects input of shape (N, 1, {size}, {size}), "
            f"got {tuple(x.shape)}"
        )


def _flatten_images(x: torch.Tensor, size: int, model_name: str) -> torch.Tensor:
    """Flatten ``(N, 1, size, size)`` (or already flat ``(N, size*size)``) to 2-D."""
    n_features = size * size
    if x.dim() == 2 and x.shape[1] == n_features:
        return x
    _check_image_batch(x, size, model_name)
    return x.reshape(x.shape[0], n_features)


class _TwoHiddenLayers(nn.Module):
    """Fully connected 784-h1-h2-10 network with ReLU; returns logits. Subclasses set ``hidden``."""

    input_size = 28
    output_kind = "logits"
    hidden: tuple[int, int]

    def __init__(self) -> None:
        super().__init__()
        first, second = self.hidden
        self.fc1 = nn.Linear(28 * 28, first)
        self.fc2 = nn.Linear(first, second)
        self.fc3 = nn.Linear(second, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a ``(N, 1, 28, 28)`` batch to ``(N, 10)`` logits."""
        x = _flatten_images(x, self.input_size, type(self).__name__)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class ANN(_TwoHiddenLayers):
    """Fully connected 784-120-84-10 network with ReLU (the ANN report's); returns logits."""

    hidden = (120, 84)


class MLP(_TwoHiddenLayers):
    """Fully connected 784-128-64-10 network with ReLU (the optimizer comparison's); returns logits."""

    hidden = (128, 64)


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
}


def _check_dropout(dropout: float) -> float:
    """Return ``dropout`` as a float, or raise ValueError unless 0 <= p < 1."""
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)):
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    return float(dropout)


class ConfigurableMLP(nn.Module):
    """Fully connected classifier with configurable depth, width and activation.

    Parameters
    ----------
    hidden
        Widths of the hidden layers; ``()`` gives a linear softmax classifier.
    activation
        One of ``ACTIVATIONS``.
    dropout
        Dropout probability after each hidden activation, in [0, 1).
    batch_norm
        Insert ``BatchNorm1d`` between each hidden Linear and its activation.
    """

    input_size = 28
    output_kind = "logits"

    def __init__(
        self,
        hidden: Sequence[int] = (128, 64),
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise ValueError(
                f"hidden must be a sequence of positive ints, got {hidden!r}"
            )
        for width in hidden:
            if isinstance(width, bool) or not isinstance(width, int) or width < 1:
                raise ValueError(
                    f"hidden must be a sequence of positive ints, got {hidden!r}"
                )
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}"
            )
        if not isinstance(batch_norm, bool):
            raise ValueError(f"batch_norm must be True or False, got {batch_norm!r}")
        self.hidden = tuple(hidden)
        self.activation = activation
        self.dropout = _check_dropout(dropout)
        self.batch_norm = batch_norm

        layers: list[nn.Module] = []
        width_in = 28 * 28
        for width in self.hidden:
            layers.append(nn.Linear(width_in, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(ACTIVATIONS[activation]())
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
            width_in = width
        layers.append(nn.Linear(width_in, N_CLASSES))
        self.layers = nn.Sequential(*layers)

    def extra_repr(self) -> str:
        """Show the configuration in ``repr(model)``."""
        return (
            f"hidden={self.hidden}, activation={self.activation!r}, "
            f"dropout={self.dropout}, batch_norm={self.batch_norm}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a ``(N, 1, 28, 28)`` batch to ``(N, 10)`` logits."""
        return self.layers(_flatten_images(x, self.input_size, type(self).__name__))


class LeNet5(nn.Module):
    """LeNet-5 (tanh, average pooling) on 32x32 inputs; returns logits."""

    input_size = 32
    output_kind = "logits"

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.act1 = nn.Tanh()
        self.pool1 = nn.AvgPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.act2 = nn.Tanh()
        self.pool2 = nn.AvgPool2d(2)
        self.conv3 = nn.Conv2d(16, 120, 5)
        self.act3 = nn.Tanh()
        self.fc1 = nn.Linear(120, 84)
        self.act4 = nn.Tanh()
        self.fc2 = nn.Linear(84, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a ``(N, 1, 32, 32)`` batch to ``(N, 10)`` logits."""
        _check_image_batch(x, self.input_size, type(self).__name__)
        x = self.pool1(self.act1(self.conv1(x)))
        x = self.pool2(self.act2(self.conv2(x)))
        x = self.act3(self.conv3(x))
        x = torch.flatten(x, 1)
        x = self.act4(self.fc1(x))
        return self.fc2(x)


def _conv_block(c_in: int, c_out: int, pool: nn.MaxPool2d) -> nn.Sequential:
    """Conv3x3 (same padding) -> BatchNorm -> ReLU and max pooling, the ReLU applied after the pooling.

    Max pooling commutes with the ReLU (both keep the larger of two values, ReLU against 0), so
    ``relu(pool(z))`` is ``pool(relu(z))`` to the last bit, gradients included (where a window has no
    positive value, the ReLU's gradient is zero either way), at a quarter or less of the ReLU's work.
    """
    if not isinstance(pool, nn.MaxPool2d):
        raise TypeError(f"a conv block's ReLU commutes only with max pooling, got {type(pool).__name__}")
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        pool,
        nn.ReLU(),
    )


class CNN(nn.Module):
    """Three conv blocks with batch norm and a 576-128-32-10 head; returns log-softmax.

    Parameters
    ----------
    dropout
        Dropout probability applied to the flattened 576 features, in [0, 1).
    """

    input_size = 28
    output_kind = "log_softmax"

    def __init__(self, dropout: float = 0.5) -> None:
        super().__init__()
        p = _check_dropout(dropout)
        self.conv1 = _conv_block(1, 4, nn.MaxPool2d(2))  # -> 4 x 14 x 14
        self.conv2 = _conv_block(4, 16, nn.MaxPool2d(2))  # -> 16 x 7 x 7
        self.conv3 = _conv_block(16, 64, nn.MaxPool2d(3, stride=2))  # -> 64 x 3 x 3
        self.dropout = nn.Dropout(p)
        self.fc1 = nn.Linear(64 * 3 * 3, 128)
        self.bn4 = nn.BatchNorm1d(128)
        self.fc2 = nn.Linear(128, 32)
        self.bn5 = nn.BatchNorm1d(32)
        self.fc3 = nn.Linear(32, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a ``(N, 1, 28, 28)`` batch to ``(N, 10)`` log-probabilities."""
        _check_image_batch(x, self.input_size, type(self).__name__)
        x = self.conv3(self.conv2(self.conv1(x)))
        x = self.dropout(torch.flatten(x, 1))
        x = F.relu(self.bn4(self.fc1(x)))
        x = F.relu(self.bn5(self.fc2(x)))
        return F.log_softmax(self.fc3(x), dim=1)


_REGISTRY: dict[str, type[nn.Module]] = {
    "ann": ANN,
    "mlp": MLP,
    "mlp_custom": ConfigurableMLP,
    "lenet5": LeNet5,
    "cnn": CNN,
}

MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def _model_class(name: str) -> type[nn.Module]:
    """Look ``name`` up in the registry, or raise ValueError naming the valid ones."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}"
        ) from None


def build_model(name: str, **kwargs: object) -> nn.Module:
    """Build a freshly initialised model by registry name.

    Parameters
    ----------
    name
        One of ``MODEL_NAMES``.
    **kwargs
        Constructor arguments; only ``mlp_custom`` (hidden, activation, dropout,
        batch_norm) and ``cnn`` (dropout) take any.

    Raises
    ------
    ValueError
        For an unknown name, an unknown keyword, or an invalid value.
    """
    cls = _model_class(name)
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown argument(s) for model {name!r}: {', '.join(unknown)}; "
            f"valid: {', '.join(valid) if valid else '(none)'}"
        )
    return cls(**kwargs)


def model_input_size(name: str) -> int:
    """Return the image side (28 or 32) that model ``name`` expects."""
    return int(_model_class(name).input_size)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of scalar parameters in ``model`` (only ``requires_grad`` ones by default)."""
    return sum(
        p.numel() for p in model.parameters() if p.requires_grad or not trainable_only
    )


def parameter_table(model: nn.Module) -> pd.DataFrame:
    """One row per module owning parameters directly, plus a final ``Total`` row.

    Columns: ``layer`` (qualified name), ``type``, ``weight shape``,
    ``weights``, ``biases``, ``params`` (all parameters of that module) and
    ``float32 MB`` (``params * 4 / 2**20``).
    """
    rows = []
    seen: set[int] = set()
    for qualname, module in model.named_modules():
        own = [
            (pname, p)
            for pname, p in module.named_parameters(recurse=False)
            if id(p) not in seen
        ]
        if not own:
            continue
        seen.update(id(p) for _, p in own)
        by_name = dict(own)
        weight = by_name.get("weight")
        bias = by_name.get("bias")
        rows.append(
            {
                "layer": qualname or type(module).__name__,
                "type": type(module).__name__,
                "weight shape": tuple(weight.shape) if weight is not None else (),
                "weights": weight.numel() if weight is not None else 0,
                "biases": bias.numel() if bias is not None else 0,
                "params": sum(p.numel() for _, p in own),
            }
        )
    total = {
        "layer": "Total",
        "type": "",
        "weight shape": "",
        "weights": sum(r["weights"] for r in rows),
        "biases": sum(r["biases"] for r in rows),
        "params": sum(r["params"] for r in rows),
    }
    table = pd.DataFrame(
        rows + [total],
        columns=["layer", "type", "weight shape", "weights", "biases", "params"],
    )
    table["float32 MB"] = table["params"] * 4 / 2**20
    return table


def _resolve_input_shape(
    model: nn.Module, input_size: int | Sequence[int] | None
) -> tuple[int, int, int]:
    """Turn ``input_size`` (None, a side, or ``(C, H, W)``) into ``(C, H, W)``."""
    if input_size is None:
        side = getattr(model, "input_size", None)
        if not isinstance(side, int):
            raise ValueError(
                f"{type(model).__name__} has no int input_size attribute; "
                "pass input_size as an int side or a (C, H, W) tuple"
            )
        return (1, side, side)
    if isinstance(input_size, int) and not isinstance(input_size, bool):
        if input_size < 1:
            raise ValueError(f"input_size must be positive, got {input_size!r}")
        return (1, input_size, input_size)
    shape = tuple(input_size)
    if len(shape) != 3 or not all(isinstance(s, int) and s >= 1 for s in shape):
        raise ValueError(
            f"input_size must be None, a positive int or a (C, H, W) tuple, "
            f"got {input_size!r}"
        )
    return shape  # type: ignore[return-value]


def _model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter or buffer (CPU if it has none)."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextlib.contextmanager
def _inspection_state(model: nn.Module, device: torch.device | None) -> Iterator[None]:
    """Put ``model`` in eval mode (optionally on ``device``) and restore both afterwards.

    Restores each submodule's own train/eval flag, since callers may have
    frozen parts of a model in eval mode on purpose.
    """
    modes = {m: m.training for m in model.modules()}
    original_device = _model_device(model)
    try:
        if device is not None:
            model.to(device)
        # Eval mode keeps BatchNorm running statistics untouched by the dummy batch.
        model.eval()
        with torch.no_grad():
            yield
    finally:
        if device is not None:
            model.to(original_device)
        for module, mode in modes.items():
            module.training = mode


def model_summary(
    model: nn.Module, input_size: int | Sequence[int] | None = None
) -> pd.DataFrame:
    """Per-layer output shapes and parameter counts from one dummy forward pass.

    Parameters
    ----------
    model
        Any module taking a single image batch.
    input_size
        Image side, or ``(C, H, W)``; defaults to ``(1, s, s)`` with
        ``s = model.input_size``.

    Returns
    -------
    pandas.DataFrame
        One row per call of a leaf module, in execution order, with columns
        ``layer`` (qualified name), ``type``, ``output shape`` (without the
        batch dimension) and ``params`` (parameters the module owns).
    """
    shape = _resolve_input_shape(model, input_size)
    rows: list[dict[str, object]] = []
    handles = []

    def make_hook(qualname: str):
        def hook(module: nn.Module, inputs: object, output: object) -> None:
            if isinstance(output, torch.Tensor):
                out_shape: object = tuple(output.shape[1:])
            elif isinstance(output, (list, tuple)):
                out_shape = [
                    tuple(o.shape[1:]) for o in output if isinstance(o, torch.Tensor)
                ]
            else:
                out_shape = None
            rows.append(
                {
                    "layer": qualname,
                    "type": type(module).__name__,
                    "output shape": out_shape,
                    "params": sum(p.numel() for p in module.parameters(recurse=False)),
                }
            )

        return hook

    with _inspection_state(model, device=None):
        try:
            for qualname, module in model.named_modules():
                if qualname and next(module.children(), None) is None:
                    handles.append(module.register_forward_hook(make_hook(qualname)))
            # Batch of 2 so that models with BatchNorm also work if run in train mode.
            model(torch.zeros(2, *shape, device=_model_device(model)))
        finally:
            for handle in handles:
                handle.remove()
    return pd.DataFrame(rows, columns=["layer", "type", "output shape", "params"])


def summary_text(model: nn.Module, input_size: int | Sequence[int] | None = None) -> str:
    """The ``torchsummary.summary`` printout for ``model``, run on CPU, as a string.

    Includes per-layer output shapes and parameter counts, the totals and the
    input / forward-backward / params / total size lines in MB. ``input_size``
    is interpreted as in :func:`model_summary`.
    """
    shape = _resolve_input_shape(model, input_size)
    # torchsummary leaves its hooks attached if the forward pass raises.
    hooks_before = {m: set(m._forward_hooks) for m in model.modules()}
    buffer = io.StringIO()
    try:
        with _inspection_state(model, device=torch.device("cpu")):
            with contextlib.redirect_stdout(buffer):
                torchsummary.summary(model, shape, device="cpu")
    finally:
        for module, keys in hooks_before.items():
            for key in set(module._forward_hooks) - keys:
                del module._forward_hooks[key]
    return buffer.getvalue()

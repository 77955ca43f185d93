"""Look inside trained models: activations, kernels, outputs and saliency.

Everything here goes through the model's own ``forward`` (via forward hooks or
autograd), so the pictures always show what the real network computes rather
than a re-implementation that could drift from it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

__all__ = [
    "capture_activations",
    "conv_kernels",
    "class_outputs",
    "gradient_saliency",
    "conv_layer_names",
]

_OUTPUT_KINDS = ("logits", "log_softmax")


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the block, then restore its previous mode."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _resolve_module(model: nn.Module, name: str) -> nn.Module:
    """Return ``model.get_submodule(name)`` or raise ValueError listing valid names."""
    valid = [n for n, _ in model.named_modules() if n]
    if not isinstance(name, str) or name not in valid:
        raise ValueError(
            f"unknown layer {name!r}; valid layer names are: {', '.join(valid)}"
        )
    return model.get_submodule(name)


def _output_kind(model: nn.Module) -> str:
    """The model's ``output_kind`` attribute (default "logits"), validated."""
    kind = getattr(model, "output_kind", "logits")
    if kind not in _OUTPUT_KINDS:
        raise ValueError(
            f"model.output_kind must be one of {_OUTPUT_KINDS}, got {kind!r}"
        )
    return kind


def _model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter (CPU for parameter-free models)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def capture_activations(
    model: nn.Module, x: torch.Tensor, layers: Sequence[str]
) -> dict[str, torch.Tensor]:
    """Run ``model(x)`` once and return the outputs of the named submodules.

    Parameters
    ----------
    model : the network; each name in ``layers`` must be one of
        ``model.named_modules()`` (e.g. ``"conv1"`` or ``"conv1.0"``).
    x : input batch, already shaped for the model.
    layers : submodule names to record.

    Returns
    -------
    dict mapping each layer name to its detached CPU output tensor.
    The model runs in eval mode under ``torch.no_grad``; its previous
    train/eval mode is restored and all hooks are removed afterwards.
    """
    if isinstance(layers, str):
        # A bare string would otherwise be iterated character by character.
        layers = [layers]
    if len(layers) == 0:
        raise ValueError("layers must name at least one submodule")
    modules = {name: _resolve_module(model, name) for name in layers}

    captured: dict[str, torch.Tensor] = {}

    def make_hook(name: str):
        def hook(_module: nn.Module, _inputs, output) -> None:
            if isinstance(output, (tuple, list)):
                output = output[0]
            captured[name] = output.detach().cpu().clone()

        return hook

    handles = []
    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(make_hook(name)))
        with _eval_mode(model), torch.no_grad():
            model(x.to(_model_device(model)))
    finally:
        for handle in handles:
            handle.remove()

    missing = [name for name in layers if name not in captured]
    if missing:
        raise ValueError(
            f"layers {missing} were not called during forward; they cannot be captured"
        )
    return {name: captured[name] for name in layers}


def conv_kernels(model: nn.Module, layer: str) -> np.ndarray:
    """Weights ``(out, in, kh, kw)`` of the Conv2d named ``layer``.

    ``layer`` may name a Conv2d directly or a container (e.g. an
    ``nn.Sequential`` block); for a container the first Conv2d inside is used.
    """
    module = _resolve_module(model, layer)
    if isinstance(module, nn.Conv2d):
        conv = module
    else:
        conv = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
        if conv is None:
            raise ValueError(
                f"layer {layer!r} is {type(module).__name__} and contains no Conv2d; "
                f"conv layers are: {', '.join(conv_layer_names(model)) or 'none'}"
            )
    return conv.weight.detach().cpu().numpy().copy()


def class_outputs(model: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Raw model outputs and the matching softmax probabilities.

    Returns
    -------
    (raw, probs), both shaped ``(n, n_classes)``: ``raw`` is exactly what the
    model returns (logits or log-probabilities, per ``model.output_kind``,
    default "logits"); ``probs`` rows sum to one.
    """
    kind = _output_kind(model)
    with _eval_mode(model), torch.no_grad():
        raw = model(x.to(_model_device(model))).detach().cpu().float()
    if raw.ndim != 2:
        raise ValueError(f"expected model output of shape (n, classes), got {tuple(raw.shape)}")
    probs = raw.exp() if kind == "log_softmax" else torch.softmax(raw, dim=1)
    return raw.numpy(), probs.numpy()


def gradient_saliency(
    model: nn.Module, x: torch.Tensor, target: int | None = None
) -> np.ndarray:
    """Vanilla gradient saliency ``|d score_target / d input|`` for one image.

    Parameters
    ----------
    model : the network.
    x : a single image, shape ``(1, C, H, W)``.
    target : class whose score is differentiated; defaults to the predicted class.

    Returns
    -------
    ``(H, W)`` non-negative array (maximum over channels). The model's
    parameter gradients are left untouched (only the input is differentiated).
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x must have shape (1, C, H, W), got {tuple(x.shape)}")
    inp = x.detach().to(_model_device(model)).float().clone().requires_grad_(True)
    with _eval_mode(model), torch.enable_grad():
        out = model(inp)
        if out.ndim != 2 or out.shape[0] != 1:
            raise ValueError(f"expected model output of shape (1, classes), got {tuple(out.shape)}")
        n_classes = out.shape[1]
        if target is None:
            target = int(out.argmax(dim=1).item())
        elif not 0 <= int(target) < n_classes:
            raise ValueError(f"target must be in 0..{n_classes - 1}, got {target}")
        # autograd.grad w.r.t. the input only, so no .grad is accumulated on params.
        (grad,) = torch.autograd.grad(out[0, int(target)], inp)
    return grad.detach().abs().amax(dim=1)[0].cpu().numpy()


def conv_layer_names(model: nn.Module) -> list[str]:
    """Names (as in ``named_modules``) of every Conv2d in the model, in order."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]

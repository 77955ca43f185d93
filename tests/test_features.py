"""Tests for mnist_lib.features on the real LeNet-5 and CNN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mnist_lib import features, models


@pytest.fixture()
def lenet() -> nn.Module:
    torch.manual_seed(0)
    return models.build_model("lenet5")


@pytest.fixture()
def cnn() -> nn.Module:
    torch.manual_seed(0)
    return models.build_model("cnn")


def _all_hooks_empty(model: nn.Module) -> bool:
    return all(len(m._forward_hooks) == 0 for m in model.modules())


def test_capture_activations_shapes_lenet(lenet: nn.Module) -> None:
    x = torch.randn(3, 1, 32, 32)
    acts = features.capture_activations(lenet, x, ["conv1", "pool2", "conv3", "fc2"])
    assert list(acts) == ["conv1", "pool2", "conv3", "fc2"]
    assert acts["conv1"].shape == (3, 6, 28, 28)
    assert acts["pool2"].shape == (3, 16, 5, 5)
    assert acts["conv3"].shape == (3, 120, 1, 1)
    assert acts["fc2"].shape == (3, 10)
    for t in acts.values():
        assert t.device.type == "cpu" and not t.requires_grad
    # The fc2 activation is the model output itself.
    with torch.no_grad():
        assert torch.allclose(acts["fc2"], lenet.eval()(x))


def test_capture_activations_sequential_and_inner_layers(cnn: nn.Module) -> None:
    x = torch.randn(2, 1, 28, 28)
    acts = features.capture_activations(cnn, x, ["conv1", "conv1.0", "conv2", "conv3"])
    assert acts["conv1.0"].shape == (2, 4, 28, 28)  # before pooling
    assert acts["conv1"].shape == (2, 4, 14, 14)
    assert acts["conv2"].shape == (2, 16, 7, 7)
    assert acts["conv3"].shape == (2, 64, 3, 3)


def test_capture_activations_restores_mode_and_removes_hooks(cnn: nn.Module) -> None:
    cnn.train()
    bn_mean_before = cnn.conv1[1].running_mean.clone()
    features.capture_activations(cnn, torch.randn(4, 1, 28, 28), ["conv2"])
    assert cnn.training and all(m.training for m in cnn.modules())
    assert _all_hooks_empty(cnn)
    # Ran in eval mode: batch-norm statistics were not updated.
    assert torch.equal(cnn.conv1[1].running_mean, bn_mean_before)

    cnn.eval()
    features.capture_activations(cnn, torch.randn(2, 1, 28, 28), ["conv1"])
    assert not cnn.training


def test_capture_activations_removes_hooks_when_forward_fails(lenet: nn.Module) -> None:
    lenet.train()
    with pytest.raises((RuntimeError, ValueError)):
        features.capture_activations(lenet, torch.randn(1, 1, 20, 20), ["conv1", "fc1"])
    assert _all_hooks_empty(lenet)
    assert lenet.training


def test_capture_activations_unknown_layer(lenet: nn.Module) -> None:
    with pytest.raises(ValueError, match="conv1") as info:
        features.capture_activations(lenet, torch.randn(1, 1, 32, 32), ["conv9"])
    assert "conv9" in str(info.value) and "fc2" in str(info.value)
    assert _all_hooks_empty(lenet)


def test_conv_kernels(lenet: nn.Module, cnn: nn.Module) -> None:
    w = features.conv_kernels(lenet, "conv2")
    assert isinstance(w, np.ndarray) and w.shape == (16, 6, 5, 5)
    np.testing.assert_array_equal(w, lenet.conv2.weight.detach().numpy())
    assert features.conv_kernels(cnn, "conv2").shape == (16, 4, 3, 3)  # inside Sequential
    with pytest.raises(ValueError, match="Conv2d"):
        features.conv_kernels(lenet, "fc1")
    with pytest.raises(ValueError, match="conv1"):
        features.conv_kernels(lenet, "nope")


def test_conv_layer_names(lenet: nn.Module, cnn: nn.Module) -> None:
    assert features.conv_layer_names(lenet) == ["conv1", "conv2", "conv3"]
    assert features.conv_layer_names(cnn) == ["conv1.0", "conv2.0", "conv3.0"]


@pytest.mark.parametrize("kind", ["lenet", "cnn"])
def test_class_outputs_probabilities(kind: str, lenet: nn.Module, cnn: nn.Module) -> None:
    model, size = (lenet, 32) if kind == "lenet" else (cnn, 28)
    model.train()
    x = torch.randn(5, 1, size, size)
    raw, probs = features.class_outputs(model, x)
    assert raw.shape == probs.shape == (5, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs >= 0).all()
    assert model.training
    if kind == "cnn":
        # log-softmax outputs: raw are log-probabilities, so exp(raw) == probs.
        np.testing.assert_allclose(np.exp(raw), probs, rtol=1e-5)
    else:
        assert not np.allclose(raw.sum(axis=1), 1.0)
        assert (np.argmax(raw, 1) == np.argmax(probs, 1)).all()


def test_class_outputs_default_kind_and_validation() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))  # no output_kind -> logits
    raw, probs = features.class_outputs(model, torch.randn(2, 1, 2, 2))
    np.testing.assert_allclose(probs, torch.softmax(torch.from_numpy(raw), 1).numpy(), rtol=1e-5)
    model.output_kind = "probabilities"
    with pytest.raises(ValueError, match="log_softmax"):
        features.class_outputs(model, torch.randn(2, 1, 2, 2))


@pytest.mark.parametrize("kind", ["lenet", "cnn"])
def test_gradient_saliency(kind: str, lenet: nn.Module, cnn: nn.Module) -> None:
    model, size = (lenet, 32) if kind == "lenet" else (cnn, 28)
    model.train()
    x = torch.randn(1, 1, size, size)
    sal = features.gradient_saliency(model, x)
    assert sal.shape == (size, size)
    assert (sal >= 0).all() and sal.max() > 0
    assert all(p.grad is None for p in model.parameters())
    assert model.training
    assert not x.requires_grad and x.grad is None


def test_gradient_saliency_target_matches_manual_gradient(lenet: nn.Module) -> None:
    x = torch.randn(1, 1, 32, 32)
    sal = features.gradient_saliency(lenet, x, target=3)
    inp = x.clone().requires_grad_(True)
    lenet.eval()
    lenet(inp)[0, 3].backward()
    np.testing.assert_allclose(sal, inp.grad.abs()[0, 0].numpy(), rtol=1e-5, atol=1e-8)


def test_gradient_saliency_validation(lenet: nn.Module) -> None:
    with pytest.raises(ValueError, match="shape"):
        features.gradient_saliency(lenet, torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="target"):
        features.gradient_saliency(lenet, torch.randn(1, 1, 32, 32), target=10)

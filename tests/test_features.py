"""Tests for mnist_lib.features on tiny stand-in models with the real attribute names."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mnist_lib import features


class TinyLeNet(nn.Module):
    """LeNet-5 layer names and shapes (32x32 input, logits), same forward structure."""

    output_kind = "logits"
    input_size = 32

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
        self.fc2 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.act1(self.conv1(x)))
        x = self.pool2(self.act2(self.conv2(x)))
        x = self.act3(self.conv3(x)).flatten(1)
        return self.fc2(self.act4(self.fc1(x)))


class TinyCNN(nn.Module):
    """CNN layer names (Sequential conv blocks, dropout, batch norm), log-softmax output."""

    output_kind = "log_softmax"
    input_size = 28

    def __init__(self) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout),
                                 nn.ReLU(), nn.MaxPool2d(2))

        self.conv1 = block(1, 4)
        self.conv2 = block(4, 16)
        self.conv3 = block(16, 64)
        self.dropout = nn.Dropout(0.5)
        self.fc1 = nn.Linear(64 * 3 * 3, 32)
        self.bn4 = nn.BatchNorm1d(32)
        self.fc2 = nn.Linear(32, 16)
        self.bn5 = nn.BatchNorm1d(16)
        self.fc3 = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3(self.conv2(self.conv1(x)))
        x = self.dropout(x.flatten(1))
        x = torch.relu(self.bn4(self.fc1(x)))
        x = torch.relu(self.bn5(self.fc2(x)))
        return torch.log_softmax(self.fc3(x), dim=1)


@pytest.fixture()
def lenet() -> TinyLeNet:
    torch.manual_seed(0)
    return TinyLeNet()


@pytest.fixture()
def cnn() -> TinyCNN:
    torch.manual_seed(0)
    return TinyCNN()


def _all_hooks_empty(model: nn.Module) -> bool:
    return all(len(m._forward_hooks) == 0 for m in model.modules())


def test_capture_activations_shapes_lenet(lenet: TinyLeNet) -> None:
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


def test_capture_activations_sequential_and_inner_layers(cnn: TinyCNN) -> None:
    x = torch.randn(2, 1, 28, 28)
    acts = features.capture_activations(cnn, x, ["conv1", "conv1.0", "conv2", "conv3"])
    assert acts["conv1.0"].shape == (2, 4, 28, 28)  # before pooling
    assert acts["conv1"].shape == (2, 4, 14, 14)
    assert acts["conv2"].shape == (2, 16, 7, 7)
    assert acts["conv3"].shape == (2, 64, 3, 3)


def test_capture_activations_restores_mode_and_removes_hooks(cnn: TinyCNN) -> None:
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


def test_capture_activations_removes_hooks_when_forward_fails(lenet: TinyLeNet) -> None:
    lenet.train()
    with pytest.raises(RuntimeError):
        features.capture_activations(lenet, torch.randn(1, 1, 20, 20), ["conv1", "fc1"])
    assert _all_hooks_empty(lenet)
    assert lenet.training


def test_capture_activations_unknown_layer(lenet: TinyLeNet) -> None:
    with pytest.raises(ValueError, match="conv1") as info:
        features.capture_activations(lenet, torch.randn(1, 1, 32, 32), ["conv9"])
    assert "conv9" in str(info.value) and "fc2" in str(info.value)
    assert _all_hooks_empty(lenet)


def test_conv_kernels(lenet: TinyLeNet, cnn: TinyCNN) -> None:
    w = features.conv_kernels(lenet, "conv2")
    assert isinstance(w, np.ndarray) and w.shape == (16, 6, 5, 5)
    np.testing.assert_array_equal(w, lenet.conv2.weight.detach().numpy())
    assert features.conv_kernels(cnn, "conv2").shape == (16, 4, 3, 3)  # inside Sequential
    with pytest.raises(ValueError, match="Conv2d"):
        features.conv_kernels(lenet, "fc1")
    with pytest.raises(ValueError, match="conv1"):
        features.conv_kernels(lenet, "nope")


def test_conv_layer_names(lenet: TinyLeNet, cnn: TinyCNN) -> None:
    assert features.conv_layer_names(lenet) == ["conv1", "conv2", "conv3"]
    assert features.conv_layer_names(cnn) == ["conv1.0", "conv2.0", "conv3.0"]


@pytest.mark.parametrize("kind", ["lenet", "cnn"])
def test_class_outputs_probabilities(kind: str, lenet: TinyLeNet, cnn: TinyCNN) -> None:
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
def test_gradient_saliency(kind: str, lenet: TinyLeNet, cnn: TinyCNN) -> None:
    model, size = (lenet, 32) if kind == "lenet" else (cnn, 28)
    model.train()
    x = torch.randn(1, 1, size, size)
    sal = features.gradient_saliency(model, x)
    assert sal.shape == (size, size)
    assert (sal >= 0).all() and sal.max() > 0
    assert all(p.grad is None for p in model.parameters())
    assert model.training
    assert not x.requires_grad and x.grad is None


def test_gradient_saliency_target_matches_manual_gradient(lenet: TinyLeNet) -> None:
    x = torch.randn(1, 1, 32, 32)
    sal = features.gradient_saliency(lenet, x, target=3)
    inp = x.clone().requires_grad_(True)
    lenet.eval()
    lenet(inp)[0, 3].backward()
    np.testing.assert_allclose(sal, inp.grad.abs()[0, 0].numpy(), rtol=1e-5, atol=1e-8)


def test_gradient_saliency_validation(lenet: TinyLeNet) -> None:
    with pytest.raises(ValueError, match="shape"):
        features.gradient_saliency(lenet, torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="target"):
        features.gradient_saliency(lenet, torch.randn(1, 1, 32, 32), target=10)

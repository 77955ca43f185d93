"""Tests for mnist_lib.models: registry, architectures, parameter tables and summaries."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mnist_lib.models import (
    ACTIVATIONS,
    ANN,
    CNN,
    MLP,
    MODEL_NAMES,
    ConfigurableMLP,
    LeNet5,
    build_model,
    count_parameters,
    model_input_size,
    model_summary,
    parameter_table,
    summary_text,
)


def _batch(name: str, n: int) -> torch.Tensor:
    side = model_input_size(name)
    return torch.randn(n, 1, side, side, generator=torch.Generator().manual_seed(n))


def _linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def _conv(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + c_out


def _bn(c: int) -> int:
    return 2 * c


# --- registry -----------------------------------------------------------------


def test_registry_names_and_classes():
    assert MODEL_NAMES == ("ann", "mlp", "mlp_custom", "lenet5", "cnn")
    expected = {"ann": ANN, "mlp": MLP, "mlp_custom": ConfigurableMLP,
                "lenet5": LeNet5, "cnn": CNN}
    for name, cls in expected.items():
        assert type(build_model(name)) is cls


@pytest.mark.parametrize(
    "name, size, kind",
    [("ann", 28, "logits"), ("mlp", 28, "logits"), ("mlp_custom", 28, "logits"),
     ("lenet5", 32, "logits"), ("cnn", 28, "log_softmax")],
)
def test_input_size_and_output_kind(name, size, kind):
    model = build_model(name)
    assert model_input_size(name) == size
    assert model.input_size == size
    assert model.output_kind == kind


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="resnet") as excinfo:
        build_model("resnet")
    for name in MODEL_NAMES:
        assert name in str(excinfo.value)
    with pytest.raises(ValueError, match="lenet5"):
        model_input_size("LeNet")


def test_unknown_kwargs_name_them_and_the_valid_ones():
    with pytest.raises(ValueError) as excinfo:
        build_model("mlp_custom", hiden=(10,), activaton="relu")
    message = str(excinfo.value)
    for word in ("hiden", "activaton", "hidden", "activation", "dropout", "batch_norm"):
        assert word in message
    with pytest.raises(ValueError, match="p_drop.*valid: dropout"):
        build_model("cnn", p_drop=0.1)
    with pytest.raises(ValueError, match="dropout"):
        build_model("ann", dropout=0.1)


# --- parameter counts -------------------------------------------------------------


@pytest.mark.parametrize("name, expected", [("ann", 105_214), ("mlp", 109_386), ("lenet5", 61_706)])
def test_exact_parameter_counts(name, expected):
    model = build_model(name)
    assert count_parameters(model) == expected
    assert count_parameters(model, trainable_only=False) == expected


def test_cnn_parameter_count_by_hand():
    by_hand = (
        _conv(1, 4, 3) + _bn(4)
        + _conv(4, 16, 3) + _bn(16)
        + _conv(16, 64, 3) + _bn(64)
        + _linear(64 * 3 * 3, 128) + _bn(128)
        + _linear(128, 32) + _bn(32)
        + _linear(32, 10)
    )
    assert by_hand == 88_714
    assert count_parameters(build_model("cnn")) == by_hand


def test_lenet5_and_cnn_attribute_names():
    lenet = build_model("lenet5")
    for attr, cls in [("conv1", nn.Conv2d), ("act1", nn.Tanh), ("pool1", nn.AvgPool2d),
                      ("conv2", nn.Conv2d), ("act2", nn.Tanh), ("pool2", nn.AvgPool2d),
                      ("conv3", nn.Conv2d), ("act3", nn.Tanh), ("fc1", nn.Linear),
                      ("act4", nn.Tanh), ("fc2", nn.Linear)]:
        assert isinstance(getattr(lenet, attr), cls), attr
    cnn = build_model("cnn")
    for attr, cls in [("conv1", nn.Sequential), ("conv2", nn.Sequential),
                      ("conv3", nn.Sequential), ("dropout", nn.Dropout),
                      ("fc1", nn.Linear), ("bn4", nn.BatchNorm1d), ("fc2", nn.Linear),
                      ("bn5", nn.BatchNorm1d), ("fc3", nn.Linear)]:
        assert isinstance(getattr(cnn, attr), cls), attr
    assert cnn.dropout.p == 0.5
    assert build_model("cnn", dropout=0.2).dropout.p == 0.2
    with pytest.raises(ValueError, match="dropout"):
        build_model("cnn", dropout=1.5)


def test_count_parameters_trainable_only():
    model = build_model("ann")
    model.fc1.requires_grad_(False)
    assert count_parameters(model) == 105_214 - 94_200
    assert count_parameters(model, trainable_only=False) == 105_214


# --- forward passes ---------------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_output_shapes_batch_1_and_5(name):
    torch.manual_seed(0)
    model = build_model(name)
    model.eval()
    with torch.no_grad():
        assert model(_batch(name, 1)).shape == (1, 10)
        assert model(_batch(name, 5)).shape == (5, 10)
    model.train()
    out = model(_batch(name, 5))
    assert out.shape == (5, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_cnn_log_softmax_rows_sum_to_one():
    torch.manual_seed(0)
    model = build_model("cnn").eval()
    with torch.no_grad():
        out = model(_batch("cnn", 5))
    assert (out <= 0).all()
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(5))


@pytest.mark.parametrize("pool", [nn.MaxPool2d(2), nn.MaxPool2d(3, stride=2)])
def test_a_conv_block_pools_before_its_relu_with_the_same_values_and_gradients(pool):
    # The block is conv -> batch norm -> max pooling -> ReLU; the textbook order puts the ReLU before the
    # pooling. Inputs with many all-negative windows and exact ties among positives, where the two could
    # differ if the order mattered.
    from mnist_lib.models import _conv_block

    torch.manual_seed(3)
    block = _conv_block(2, 3, pool).train()
    assert [type(m) for m in block] == [nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.ReLU]
    conv, bn = block[0], block[1]
    textbook = nn.Sequential(conv, bn, nn.ReLU(), pool)
    x = torch.randn(4, 2, 10, 10).round() - 0.5  # ties everywhere after the convolution
    x = x.requires_grad_()
    grad_out = torch.randn(4, 3, *pool(torch.zeros(1, 1, 10, 10)).shape[2:])
    results = []
    for module in (block, textbook):
        for p in module.parameters():
            p.grad = None
        x.grad = None
        out = module(x)
        out.backward(grad_out)
        results.append((out.detach().clone(), x.grad.clone(), [p.grad.clone() for p in module.parameters()]))
    (out_a, gx_a, gp_a), (out_b, gx_b, gp_b) = results
    assert (out_a == 0).any() and torch.equal(out_a, out_b)
    assert torch.equal(gx_a, gx_b)
    assert all(torch.equal(a, b) for a, b in zip(gp_a, gp_b))


def test_a_conv_block_refuses_a_pooling_its_relu_does_not_commute_with():
    from mnist_lib.models import _conv_block

    with pytest.raises(TypeError, match="AvgPool2d"):
        _conv_block(1, 4, nn.AvgPool2d(2))


def test_wrong_input_shape_raises():
    with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\)"):
        build_model("lenet5")(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        build_model("cnn")(torch.zeros(2, 3, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        build_model("ann")(torch.zeros(2, 1, 32, 32))


def test_fully_connected_models_also_accept_flat_input():
    model = build_model("ann").eval()
    images = _batch("ann", 3)
    with torch.no_grad():
        torch.testing.assert_close(model(images), model(images.reshape(3, 784)))


# --- mlp_custom ---------------------------------------------------------------------


def test_mlp_custom_default_matches_mlp_size():
    assert count_parameters(build_model("mlp_custom")) == 109_386


def test_mlp_custom_empty_hidden_is_linear_classifier():
    model = build_model("mlp_custom", hidden=())
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 1
    assert count_parameters(model) == _linear(784, 10)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_custom_configs(activation):
    hidden = (32, 16, 8)
    model = build_model("mlp_custom", hidden=hidden, activation=activation,
                        dropout=0.25, batch_norm=True)
    expected = (_linear(784, 32) + _bn(32) + _linear(32, 16) + _bn(16)
                + _linear(16, 8) + _bn(8) + _linear(8, 10))
    assert count_parameters(model) == expected
    kinds = [type(m) for m in model.modules()]
    assert kinds.count(ACTIVATIONS[activation]) == 3
    assert kinds.count(nn.Dropout) == 3
    assert kinds.count(nn.BatchNorm1d) == 3
    assert model(_batch("mlp_custom", 5)).shape == (5, 10)


def test_mlp_custom_without_dropout_or_batch_norm_adds_neither():
    model = build_model("mlp_custom", hidden=[50], activation="tanh")
    kinds = [type(m) for m in model.modules()]
    assert nn.Dropout not in kinds and nn.BatchNorm1d not in kinds
    assert model.hidden == (50,)
    assert count_parameters(model) == _linear(784, 50) + _linear(50, 10)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"activation": "swish"}, "relu, tanh, sigmoid, gelu, leaky_relu"),
     ({"hidden": (64, 0)}, "positive ints"),
     ({"hidden": "64"}, "positive ints"),
     ({"hidden": (64.0,)}, "positive ints"),
     ({"dropout": 1.0}, r"\[0, 1\)"),
     ({"dropout": -0.1}, r"\[0, 1\)"),
     ({"batch_norm": "yes"}, "batch_norm")],
)
def test_mlp_custom_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_model("mlp_custom", **kwargs)


# --- parameter_table ----------------------------------------------------------------


def test_parameter_table_ann_exact():
    table = parameter_table(build_model("ann"))
    assert list(table["layer"]) == ["fc1", "fc2", "fc3", "Total"]
    assert list(table["type"][:3]) == ["Linear"] * 3
    assert list(table["weight shape"][:3]) == [(120, 784), (84, 120), (10, 84)]
    assert list(table["weights"]) == [94_080, 10_080, 840, 105_000]
    assert list(table["biases"]) == [120, 84, 10, 214]
    assert list(table["params"]) == [94_200, 10_164, 850, 105_214]
    assert table["float32 MB"].iloc[-1] == pytest.approx(105_214 * 4 / 2**20)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_parameter_table_total_matches_count(name):
    model = build_model(name)
    table = parameter_table(model)
    total = table.iloc[-1]
    assert total["layer"] == "Total"
    assert total["params"] == count_parameters(model)
    assert table["params"].iloc[:-1].sum() == total["params"]
    assert (table["weights"] + table["biases"] == table["params"]).all()


def test_parameter_table_cnn_uses_qualified_names():
    layers = list(parameter_table(build_model("cnn"))["layer"])
    assert layers[:2] == ["conv1.0", "conv1.1"]
    assert "bn4" in layers and "bn5" in layers


# --- model_summary / summary_text ---------------------------------------------------


def test_model_summary_lenet5_shapes():
    model = build_model("lenet5")
    summary = model_summary(model).set_index("layer")
    assert summary.loc["conv1", "output shape"] == (6, 28, 28)
    assert summary.loc["pool1", "output shape"] == (6, 14, 14)
    assert summary.loc["conv2", "output shape"] == (16, 10, 10)
    assert summary.loc["conv3", "output shape"] == (120, 1, 1)
    assert summary.loc["fc2", "output shape"] == (10,)
    assert summary.loc["conv1", "params"] == 156
    assert summary["params"].sum() == 61_706


def test_model_summary_cnn_conv_blocks():
    summary = model_summary(build_model("cnn")).set_index("layer")
    assert summary.loc["conv1.0", "type"] == "Conv2d"
    assert summary.loc["conv1.3", "output shape"] == (4, 14, 14)
    assert summary.loc["conv2.3", "output shape"] == (16, 7, 7)
    assert summary.loc["conv3.3", "output shape"] == (64, 3, 3)
    assert summary.loc["dropout", "output shape"] == (576,)
    assert summary["params"].sum() == 88_714


def test_model_summary_explicit_input_size():
    summary = model_summary(build_model("cnn"), input_size=(1, 28, 28))
    assert summary.iloc[-1]["output shape"] == (10,)
    with pytest.raises(ValueError, match="input_size"):
        model_summary(build_model("cnn"), input_size=(28, 28))


def test_summaries_restore_modes_and_leave_state_untouched():
    model = build_model("cnn")
    model.train()
    model.conv2.eval()  # a deliberately frozen block must stay frozen
    modes = {name: m.training for name, m in model.named_modules()}
    state = {k: v.clone() for k, v in model.state_dict().items()}

    model_summary(model)
    text = summary_text(model)

    assert "Total params: 88,714" in text
    assert {name: m.training for name, m in model.named_modules()} == modes
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state[key], msg=key)
    assert all(not m._forward_hooks for m in model.modules())
    assert next(model.parameters()).device.type == "cpu"


def test_summary_text_lenet5():
    model = build_model("lenet5").eval()
    text = summary_text(model)
    assert "Total params: 61,706" in text
    assert "[-1, 6, 28, 28]" in text
    for line in ("Input size (MB)", "Params size (MB)", "Estimated Total Size (MB)"):
        assert line in text
    assert not model.training


def test_the_cnn_takes_its_dropout_probability():
    assert type(CNN().dropout) is nn.Dropout and CNN().dropout.p == 0.5 and CNN(dropout=0.3).dropout.p == 0.3

"""Execution settings: the measured default per model and device, overrides, and a training
step that is device-generic (no host reads per step, no tensor created without its device)."""

from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from mnist_lib import params, prose, recipes, runtime, training
from mnist_lib.augment import Augmentation
from mnist_lib.data import DataSplits
from mnist_lib.models import build_model
from mnist_lib.runtime import ExecSettings, Measured
from mnist_lib.training import TrainConfig

# Calls that make the host wait for the device (a value read back), and factories that put a tensor
# on the default device unless told otherwise.
HOST_READS = {"item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__", "__index__"}
FACTORIES = {"zeros", "ones", "empty", "full", "rand", "randn", "randint", "randperm", "arange", "linspace",
             "tensor", "as_tensor", "eye"}


class Recorder(TorchFunctionMode):
    """Records every host read and every factory call made without an explicit device.

    Reads made inside ``torch.optim`` are left out: without ``capturable`` the optimizers keep their
    step counters on the host on purpose (``state["step"]``), so reading them waits for nothing.
    """

    def __init__(self):
        super().__init__()
        self.reads: list[str] = []
        self.no_device: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in HOST_READS and f"torch{os.sep}optim{os.sep}" not in sys._getframe(1).f_code.co_filename:
            self.reads.append(name)
        if name in FACTORIES and getattr(func, "__module__", "") == "torch" and kwargs.get("device") is None:
            self.no_device.append(name)
        return func(*args, **kwargs)


def synthetic_splits(n_train: int, size: int = 28, seed: int = 0) -> DataSplits:
    """Learnable made-up data: class k has a bright square at a place of its own."""
    g = torch.Generator().manual_seed(seed)

    def images(n):
        y = torch.randint(0, 10, (n,), generator=g)
        x = torch.rand(n, 1, size, size, generator=g) * 0.2
        for k in range(10):
            r, c = divmod(k, 4)
            x[y == k, :, 2 + 6 * r: 6 + 6 * r, 2 + 6 * c: 6 + 6 * c] += 0.8
        return (x - 0.2) / 0.3, y

    (xt, yt), (xv, yv), (xs, ys) = images(n_train), images(128), images(128)
    idx = np.arange
    return DataSplits(xt, yt, xv, yv, xs, ys, idx(n_train), idx(128), idx(128), mean=0.2, std=0.3,
                      normalization="dataset", image_size=size, seed=seed)


@pytest.fixture
def table(monkeypatch):
    """A measured table of our own for the duration of a test."""
    entries = {("lenet5", "cpu", 4): Measured(memory_format="channels_last", eval_batch_size=5000, evidence="test"),
               ("lenet5", "cpu", 2): Measured(memory_format="channels_last", evidence="test"),
               ("cnn", "cpu", 1): Measured(memory_format="channels_last", fused_optimizer=True, evidence="test"),
               ("mlp", "cpu", 2): Measured(fused_optimizer=True, evidence="test")}
    monkeypatch.setattr(runtime, "MEASURED", entries)
    return entries


def test_the_measured_default_is_used_and_each_parameter_overrides_its_part(table):
    lenet = runtime.resolve("lenet5", "cpu", threads=8)
    assert (lenet.memory_format, lenet.compile, lenet.threads, lenet.eval_batch_size, lenet.source) == \
        ("channels_last", False, 8, 5000, "measured")
    # The entry measured at the most threads not above the run's: a 2-thread run takes the 2-thread entry.
    assert runtime.resolve("lenet5", "cpu", threads=2).threads == 2
    assert runtime.resolve("lenet5", "cpu", threads=2).eval_batch_size == 2000
    assert runtime.resolve("lenet5", "cpu", threads=4).eval_batch_size == 5000
    assert runtime.resolve("mlp", "cpu", threads=2).fused_optimizer
    # The CNN was measured on one thread only: with more it still takes that entry (the fewest measured).
    assert runtime.resolve("cnn", "cpu", threads=2).memory_format == "channels_last"
    forced = runtime.resolve("lenet5", "cpu", memory_format="contiguous", compile=True, threads=3,
                               fused_optimizer=True)
    assert (forced.memory_format, forced.compile, forced.threads, forced.fused_optimizer, forced.source,
            forced.overrides) == ("contiguous", True, 3, True, "measured",
                                  ("memory_format", "compile_model", "fused_optimizer"))
    # Nothing measured for this model or device: plain eager, contiguous.
    assert runtime.resolve("ann", "cpu", threads=1) == ExecSettings(threads=1)
    assert runtime.resolve("lenet5", "cuda").source == "plain"
    assert runtime.resolve("lenet5", "cpu", precision="bf16").precision == "bf16"
    with pytest.raises(ValueError, match="memory_format must be one of"):
        runtime.resolve("lenet5", "cpu", memory_format="nhwc")
    with pytest.raises(ValueError, match="precision must be one of"):
        ExecSettings(precision="fp16")


def test_notebook_parameters_reach_the_train_config(table, tmp_path):
    given = params.validate("03_lenet", {"memory_format": "auto", "compile_model": None, "threads": 4,
                                         "precision": "fp32"}, partial=True)
    values = {"epochs": 1, "batch_size": 32, "seed": 0, "optimizer": "adam", "lr": 1e-3, "scheduler": "none", **given}
    cfg = recipes.train_config(values, model="lenet5", device="cpu")
    assert cfg.execution.memory_format == "channels_last" and cfg.eval_batch_size == 5000
    cfg = recipes.train_config({**values, "memory_format": "contiguous"}, model="lenet5", device="cpu")
    assert cfg.execution.memory_format == "contiguous" and cfg.execution.overrides == ("memory_format",)
    # Where a setting came from does not shape the weights, so it is not part of the checkpoint key's config.
    assert not {"source", "overrides"} & set(cfg.to_dict()["execution"])
    assert cfg.to_dict()["execution"]["memory_format"] == "contiguous"


def test_the_librarys_table_has_one_entry_per_measured_thread_count_with_its_evidence():
    for (model, device, threads), entry in runtime.MEASURED.items():
        assert model in ("ann", "mlp", "lenet5", "cnn") and device in ("cpu", "cuda") and threads >= 1
        assert "benchmarks/run.py" in entry.evidence and "images/s" in entry.evidence


def test_the_sentence_states_the_setting_and_where_it_came_from(table):
    measured = prose.training.execution_text(runtime.resolve("lenet5", "cpu", threads=4), "LeNet-5", "cpu")
    assert "channels_last" in measured and "4 intra-op threads" in measured and "5,000" in measured
    assert "the library's default for LeNet-5 on CPU with 4 threads, measured " in measured and "float32" in measured
    assert "this run's CPU: " in measured and "fastest" not in measured  # measured elsewhere: never "fastest" here
    forced = prose.training.execution_text(runtime.resolve("lenet5", "cpu", compile=True, precision="bf16"), "LeNet-5",
                                     "cpu", process_threads=2)
    assert "torch.compile" in forced and "bfloat16 autocast" in forced and "channels_last" in forced
    assert "`compile_model` set by this notebook's parameters, the rest the library's default" in forced
    plain = prose.training.execution_text(ExecSettings(), "the CNN", "cpu", process_threads=3)
    assert "eager mode" in plain and "contiguous" in plain and "3 intra-op threads" in plain
    assert "no default was measured for the CNN on CPU" in plain


def _host_reads_in_one_epoch(n_train: int, **cfg) -> tuple[list[str], list[str]]:
    splits = synthetic_splits(n_train)
    model = training.seeded_model("cnn", 0)
    with Recorder() as rec:
        training.fit(model, splits, TrainConfig(epochs=1, batch_size=32, restore_best=False, **cfg), progress=False)
    return rec.reads, rec.no_device


@pytest.mark.parametrize("cfg", [
    dict(optimizer="adam", lr=1e-3, scheduler="onecycle", label_smoothing=0.1, augment=Augmentation()),
    dict(optimizer="momentum", lr=0.05, execution=ExecSettings(memory_format="channels_last", precision="bf16")),
])
def test_the_training_step_never_reads_from_the_device(cfg):
    """Host reads per epoch do not grow with the number of steps: 2 steps and 8 steps read the same."""
    few, no_device_few = _host_reads_in_one_epoch(64, **cfg)
    many, no_device_many = _host_reads_in_one_epoch(256, **cfg)
    assert sorted(few) == sorted(many), (few, many)
    assert len(few) < 40  # the epoch's one read of the sums, and the validation pass
    # Every tensor the loop, the step and the augmentation create names its device.
    assert no_device_few == [] and no_device_many == []


def test_a_step_runs_on_a_device_without_data_on_the_host():
    """The step on the meta device (shapes only, no values): any read back to the host, or a tensor made
    on the CPU and mixed in, would fail here; CUDA runs the same code."""
    meta = torch.device("meta")
    for name, size in (("mlp", 28), ("lenet5", 32), ("cnn", 28)):
        model = build_model(name).to(meta)
        settings = ExecSettings(memory_format="channels_last" if name != "mlp" else "contiguous")
        cfg = TrainConfig(batch_size=16, label_smoothing=0.1, execution=settings)
        runtime.prepare_model(model, settings)
        optimizer = training.make_optimizer("adam", model.parameters(), 1e-3)
        scheduler = training.make_scheduler("onecycle", optimizer, 10)
        xb = torch.randn(16, 1, size, size, device=meta)
        yb = torch.randint(0, 10, (16,), device=meta)
        loss, nll, correct = training.train_step(model, model, optimizer, scheduler, xb, yb, cfg)
        assert loss.device == nll.device == correct.device == meta


def test_channels_last_trains_the_same_model_in_another_layout():
    splits = synthetic_splits(256, size=32)
    results = {}
    for fmt in ("contiguous", "channels_last"):
        model = training.seeded_model("lenet5", 0)
        cfg = TrainConfig(epochs=2, batch_size=32, lr=3e-3, execution=ExecSettings(memory_format=fmt))
        history = training.fit(model, splits, cfg, progress=False)
        results[fmt] = (model, history)
    conv = results["channels_last"][0].conv2.weight  # 6 input channels (conv1's one channel is both layouts)
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert results["contiguous"][0].conv2.weight.is_contiguous()
    # The same arithmetic in another order: the same training to float rounding.
    plain, cl = (results[f][1].to_frame() for f in ("contiguous", "channels_last"))
    assert np.allclose(plain.train_loss, cl.train_loss, rtol=1e-3)
    assert (plain.val_accuracy - cl.val_accuracy).abs().max() <= 2 / 128


def test_channels_last_from_a_later_convolution_leaves_the_first_block_in_the_default_format():
    splits = synthetic_splits(256)
    layouts, results = {}, {}
    for name, settings in (("plain", ExecSettings()),
                           ("from 2nd", ExecSettings(memory_format="channels_last", channels_last_from=1))):
        model = training.seeded_model("cnn", 0)
        seen = layouts[name] = {}

        def record(module, inputs, out, seen=seen):
            cl = out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()
            seen.setdefault(module.block, (inputs[0].is_contiguous(), cl))

        for block in ("conv1", "conv2", "conv3"):
            getattr(model, block).block = block
            getattr(model, block).register_forward_hook(record)
        cfg = TrainConfig(epochs=2, batch_size=32, lr=3e-3, execution=settings)
        results[name] = (model, training.fit(model, splits, cfg, progress=False))
    assert runtime.channels_last_modules(results["from 2nd"][0], ExecSettings(
        memory_format="channels_last", channels_last_from=1)) == ["conv2.0", "conv3.0"]
    # The batch enters as it is (no conversion of the input), conv1's block stays contiguous, and from
    # conv2 on (format_entry) the activations are channels_last because conv2's weights are.
    assert layouts["from 2nd"] == {"conv1": (True, False), "conv2": (True, True), "conv3": (False, True)}
    assert layouts["plain"] == {"conv1": (True, False), "conv2": (True, False), "conv3": (True, False)}
    cl_model = results["from 2nd"][0]
    assert cl_model.conv1[0].weight.is_contiguous()
    assert cl_model.conv3[0].weight.is_contiguous(memory_format=torch.channels_last) and not cl_model.conv3[0].weight.is_contiguous()
    # The same training to float rounding (after one epoch the model is barely trained and its many near
    # ties on 128 validation images flip with the rounding: the accuracy is compared at the end).
    plain, cl = (results[f][1].to_frame() for f in ("plain", "from 2nd"))
    assert np.allclose(plain.train_loss, cl.train_loss, rtol=1e-3)
    assert abs(plain.val_accuracy.iloc[-1] - cl.val_accuracy.iloc[-1]) <= 2 / 128


def test_where_the_format_changes_each_part_runs_its_backward_in_its_own_format():
    model = training.seeded_model("cnn", 0)
    settings = ExecSettings(memory_format="channels_last", channels_last_from=1)
    runtime.prepare_model(model, settings)
    runtime.prepare_model(model, settings)  # again: the hooks are replaced, not added
    assert len(model._format_hooks) == 2
    grads, entering = {}, {}

    def keep_grad(module, grad_in, grad_out):
        grads[module.label] = grad_out[0]

    for block in ("conv1", "conv2", "conv3"):  # the gradient reaching each block's batch norm and max pooling
        for index, part in ((1, "bn"), (2, "pool")):
            getattr(model, block)[index].label = f"{block} {part}"
            getattr(model, block)[index].register_full_backward_hook(keep_grad)
    model.conv2[0].register_forward_pre_hook(lambda module, args: entering.update({"conv2.0": args[0]}))
    x = torch.randn(16, 1, 28, 28)
    out = model(x)
    out.sum().backward()
    cl = torch.channels_last
    # the switch comes right before the second convolution (format_entry)
    assert runtime.format_entry(model, settings) == "conv2.0"
    assert entering["conv2.0"].is_contiguous(memory_format=cl) and not entering["conv2.0"].is_contiguous()
    # conv1's block gets its gradients in its own (default) format, the channels_last parts in theirs
    assert grads["conv1 bn"].is_contiguous() and grads["conv1 pool"].is_contiguous()
    for label in ("conv2 bn", "conv2 pool", "conv3 bn", "conv3 pool"):
        assert grads[label].is_contiguous(memory_format=cl) and not grads[label].is_contiguous(), label
    # to_format leaves a batch already in the format alone; the plain setting has no hooks
    assert runtime.to_format(x, torch.contiguous_format) is x
    runtime.prepare_model(model, ExecSettings())
    assert model._format_hooks == []


def test_the_switch_to_channels_last_comes_right_before_the_first_channels_last_convolution():
    from torch import nn

    cnn = build_model("cnn")
    at = lambda k: ExecSettings(memory_format="channels_last", channels_last_from=k)  # noqa: E731
    assert runtime.format_entry(cnn, at(1)) == "conv2.0" and runtime.format_entry(cnn, at(2)) == "conv3.0"
    assert runtime.format_entry(cnn, at(0)) is None and runtime.format_entry(cnn, ExecSettings()) is None
    assert runtime.format_entry(build_model("lenet5"), at(1)) == "conv2"
    textbook = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3))
    assert runtime.format_entry(textbook, at(1)) == "4"


def test_channels_last_from_is_checked_against_the_model_and_the_format():
    with pytest.raises(ValueError, match="needs memory_format='channels_last'"):
        ExecSettings(channels_last_from=1)
    with pytest.raises(ValueError, match="channels_last_from must be a whole number >= 0, got -1"):
        ExecSettings(memory_format="channels_last", channels_last_from=-1)
    settings = ExecSettings(memory_format="channels_last", channels_last_from=3)
    with pytest.raises(ValueError, match=r"CNN has 3 convolution\(s\); valid: 0 to 2"):
        runtime.prepare_model(build_model("cnn"), settings)
    assert runtime.setting_name(dataclasses.replace(settings, channels_last_from=1, fused_optimizer=True)) == \
        "channels_last from conv 2 + fused optimizer"


def test_a_measured_partial_layout_is_used_on_auto_and_replaced_by_an_explicit_format(monkeypatch):
    monkeypatch.setattr(runtime, "MEASURED", {("cnn", "cpu", 2): Measured(
        memory_format="channels_last", channels_last_from=1, fused_optimizer=True, fused_for=("adam",), evidence="t")})
    auto = runtime.resolve("cnn", "cpu", threads=2)
    assert (auto.memory_format, auto.channels_last_from) == ("channels_last", 1)
    whole = runtime.resolve("cnn", "cpu", memory_format="channels_last", threads=2)
    assert (whole.memory_format, whole.channels_last_from, whole.overrides) == ("channels_last", 0, ("memory_format",))
    plain = runtime.resolve("cnn", "cpu", memory_format="contiguous", threads=2)
    assert (plain.memory_format, plain.channels_last_from) == ("contiguous", 0)
    text = prose.training.execution_text(auto, "the CNN", "cpu", optimizers=["adam"])
    assert "the channels_last memory format from the 2nd convolution on (before it the default format)" in text
    assert "from the" not in prose.training.execution_text(whole, "the CNN", "cpu", optimizers=["adam"])


def test_seeding_asks_for_deterministic_kernels_without_filling_memory():
    training.seed_everything(0)
    assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.utils.deterministic.fill_uninitialized_memory is False


def test_not_filling_new_memory_changes_no_result():
    splits = synthetic_splits(256)
    losses = {}
    for fill in (True, False):
        model = training.seeded_model("cnn", 0)
        torch.utils.deterministic.fill_uninitialized_memory = fill
        try:
            history = training.fit(model, splits, TrainConfig(epochs=1, batch_size=32, lr=3e-3), progress=False)
        finally:
            torch.utils.deterministic.fill_uninitialized_memory = False
        losses[fill] = ([r.train_loss for r in history.records], [p.detach().clone() for p in model.parameters()])
    assert losses[True][0] == losses[False][0]
    assert all(torch.equal(a, b) for a, b in zip(losses[True][1], losses[False][1]))


def test_compiling_carries_the_deterministic_switch_to_inductor():
    training.seed_everything(0)
    runtime.training_forward(training.seeded_model("mlp", 0), ExecSettings(compile=True))
    import torch._inductor.config as inductor_config

    assert inductor_config.deterministic is True


def test_bf16_autocast_runs_the_forward_in_bfloat16_and_evaluates_in_float32():
    splits = synthetic_splits(256)
    model = training.seeded_model("ann", 0)
    seen = []
    hook = model.fc1.register_forward_hook(lambda m, i, out: seen.append((out.dtype, torch.is_inference_mode_enabled())))
    cfg = TrainConfig(epochs=2, batch_size=32, lr=3e-3, execution=ExecSettings(precision="bf16"))
    history = training.fit(model, splits, cfg, progress=False)
    hook.remove()
    train_dtypes = {dtype for dtype, inference in seen if not inference}
    eval_dtypes = {dtype for dtype, inference in seen if inference}
    assert train_dtypes == {torch.bfloat16} and eval_dtypes == {torch.float32}
    assert all(np.isfinite(r.train_loss) for r in history.records)
    assert history.records[-1].val_accuracy > 0.5  # it learns (chance is 0.1)


def test_evaluate_runs_under_inference_mode_in_the_given_batches():
    splits = synthetic_splits(64)
    model = training.seeded_model("mlp", 0)
    seen = []
    model.fc1.register_forward_hook(lambda m, i, out: seen.append((len(out), torch.is_inference_mode_enabled())))
    training.evaluate(model, splits.x_val, splits.y_val, batch_size=50)
    assert seen == [(50, True), (50, True), (28, True)]


def test_threads_apply_while_training_and_are_restored():
    splits = synthetic_splits(64)
    before = torch.get_num_threads()
    model = training.seeded_model("mlp", 0)
    seen = []
    model.fc1.register_forward_hook(lambda m, i, out: seen.append(torch.get_num_threads()))
    training.fit(model, splits, TrainConfig(epochs=1, batch_size=32, execution=ExecSettings(threads=1)),
                 progress=False)
    assert set(seen) == {1} and torch.get_num_threads() == before


def test_compile_wraps_the_training_forward_and_keeps_the_models_weights():
    model = training.seeded_model("mlp", 0)
    compiled = runtime.training_forward(model, ExecSettings(compile=True))
    assert compiled is not model and compiled._orig_mod is model
    assert runtime.training_forward(model, ExecSettings()) is model
    assert list(model.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]


def test_a_fused_optimizer_where_torch_has_one():
    model = training.seeded_model("mlp", 0)
    for name in ("sgd", "momentum", "nesterov", "adam", "adamw"):
        optimizer = training.make_optimizer(name, model.parameters(), 0.01, fused=True)
        assert optimizer.defaults["fused"] is True, name
        assert not training.make_optimizer(name, model.parameters(), 0.01).defaults.get("fused")
    assert "fused" not in training.make_optimizer("rmsprop", model.parameters(), 0.01, fused=True).defaults
    settings = ExecSettings(fused_optimizer=True)
    text = prose.training.execution_text(settings, "the MLP", "cpu", optimizers=["sgd", "rmsprop"])
    assert "torch's fused optimizer kernel for `sgd` (the default implementation for `rmsprop`; `rmsprop` has no " \
        "fused kernel)" in text
    # A measured choice names the optimizer it was measured with; the others keep their default.
    measured = ExecSettings(fused_optimizer=True, fused_for=("adam",))
    assert measured.uses_fused("adam") and not measured.uses_fused("sgd")
    text = prose.training.execution_text(measured, "the MLP", "cpu", optimizers=["sgd", "adam"])
    assert "torch's fused optimizer kernel for `adam` (the default implementation for `sgd`)" in text
    assert TrainConfig(optimizer="sgd", execution=measured).to_dict()["execution"]["fused_optimizer"] is False
    assert TrainConfig(optimizer="adam", execution=measured).to_dict()["execution"]["fused_optimizer"] is True
    assert "default (unfused) implementation" in prose.training.execution_text(ExecSettings(), "the MLP", "cpu")
    # Fused and unfused Adam take the same steps, to float rounding.
    splits = synthetic_splits(128)
    runs = []
    for fused in (False, True):
        m = training.seeded_model("mlp", 0)
        cfg = TrainConfig(epochs=1, batch_size=32, execution=ExecSettings(fused_optimizer=fused))
        runs.append((training.fit(m, splits, cfg, progress=False), m))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(runs[0][1].parameters(), runs[1][1].parameters()))


def test_settings_are_frozen_and_serializable():
    s = ExecSettings(memory_format="channels_last", threads=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.threads = 3
    assert ExecSettings(**s.to_dict()) == s


def test_epoch_totals_weigh_each_step_by_its_batch_in_one_read():
    steps = [(torch.tensor(0.5), torch.tensor(0.25), torch.tensor(3)),
             (torch.tensor(1.0), torch.tensor(1.0), torch.tensor(1))]
    with Recorder() as rec:
        totals = training.epoch_totals(steps, [4, 2])
    assert totals == (0.5 * 4 + 1.0 * 2, 0.25 * 4 + 1.0 * 2, 4) and isinstance(totals[2], int)
    assert rec.reads == ["tolist"]
    assert training.epoch_totals([], []) == (0.0, 0.0, 0)

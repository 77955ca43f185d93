"""Training: a short real fit learns, runs repeat exactly, divergence is caught,
checkpoints are safe and keyed."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from mnist_lib import checkpoints, environment, training
from mnist_lib.augment import Augmentation
from mnist_lib.checkpoints import CheckpointError
from mnist_lib.training import TrainConfig


def test_short_fit_on_real_data_learns(small_splits):
    model = training.seeded_model("ann", seed=0)
    history = training.fit(model, small_splits, TrainConfig(epochs=3, batch_size=64, lr=2e-3), progress=False)
    frame = history.to_frame()
    assert list(frame.columns) == ["epoch", "train_loss", "train_nll", "train_accuracy", "val_loss", "val_accuracy",
                                   "lr", "seconds", "timestamp"]
    assert frame.train_loss.iloc[-1] < frame.train_loss.iloc[0] < math.log(10)
    assert frame.train_nll.equals(frame.train_loss)  # without label smoothing the optimized loss is the NLL
    test = training.evaluate(model, small_splits.x_test, small_splits.y_test)
    assert test.accuracy > 0.85  # chance is 0.10
    assert test.probs.shape == (1000, 10) and np.allclose(test.probs.sum(1), 1, atol=1e-5)
    assert history.best_epoch == int(frame.val_accuracy.idxmax()) + 1


def _run(splits, name, **cfg):
    model = training.seeded_model(name, seed=3)
    history = training.fit(model, splits, TrainConfig(seed=3, **cfg), progress=False)
    return history.to_frame().drop(columns=["seconds", "timestamp"]), model


@pytest.mark.parametrize("name,cfg", [
    ("mlp", dict(epochs=2, batch_size=128, optimizer="momentum", lr=0.05, scheduler="cosine")),
    ("cnn", dict(epochs=1, batch_size=256, optimizer="adam", lr=3e-3, scheduler="onecycle",
                 augment=Augmentation())),
])
def test_same_seed_same_history_to_the_last_digit(tiny_splits, name, cfg):
    first, model_a = _run(tiny_splits, name, **cfg)
    second, model_b = _run(tiny_splits, name, **cfg)
    assert first.equals(second)
    assert all(torch.equal(a, b) for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()))


def test_divergence_is_detected(tiny_splits):
    model = training.seeded_model("mlp", seed=0)
    history = training.fit(model, tiny_splits, TrainConfig(epochs=3, optimizer="sgd", lr=50.0), progress=False)
    assert history.diverged and len(history.records) <= 3


def test_early_stop_callback(tiny_splits):
    model = training.seeded_model("ann", seed=0)
    history = training.fit(model, tiny_splits, TrainConfig(epochs=5), progress=False,
                           on_epoch_end=lambda record, m: record.epoch == 2)
    assert history.stopped_early and len(history.records) == 2


OPTIMIZER_WIRING = {
    # name: (class, what its parameter group must say)
    "sgd": (torch.optim.SGD, {"momentum": 0, "nesterov": False}),
    "momentum": (torch.optim.SGD, {"momentum": 0.9, "nesterov": False}),
    "nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    "adam": (torch.optim.Adam, {}),
    "adamw": (torch.optim.AdamW, {}),
    "rmsprop": (torch.optim.RMSprop, {"momentum": 0}),
}


def test_every_optimizer_name_is_wired():
    assert set(OPTIMIZER_WIRING) == set(training.OPTIMIZERS)


@pytest.mark.parametrize("optimizer", training.OPTIMIZERS)
def test_each_optimizer_is_the_one_named_and_steps(optimizer):
    kind, settings = OPTIMIZER_WIRING[optimizer]
    model = torch.nn.Linear(4, 2)
    opt = training.make_optimizer(optimizer, model.parameters(), lr=0.1, weight_decay=0.01)
    assert type(opt) is kind
    group = opt.param_groups[0]
    assert group["lr"] == 0.1 and group["weight_decay"] == 0.01
    assert {k: group[k] for k in settings} == settings
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_every_scheduler_name_is_tested():
    assert set(training.SCHEDULERS) == {"none", "step", "cosine", "onecycle"}


def test_no_schedule_keeps_the_rate(lr_trace):
    assert lr_trace("none", 20) == [0.1] * 20


def test_step_schedule_divides_by_ten_at_half_and_three_quarters(lr_trace):
    trace = lr_trace("step", 100)
    assert trace[:50] == pytest.approx([0.1] * 50)
    assert trace[50:75] == pytest.approx([0.01] * 25)
    assert trace[75:] == pytest.approx([0.001] * 25)


def test_cosine_schedule_falls_from_the_rate_to_zero(lr_trace):
    trace = lr_trace("cosine", 100)
    assert trace[0] == 0.1 and trace[50] == pytest.approx(0.05) and trace[-1] < 0.1 * 0.01
    assert all(a >= b for a, b in zip(trace, trace[1:]))


def test_one_cycle_peaks_at_the_given_rate(lr_trace):
    trace = lr_trace("onecycle", 100, lr=0.1)
    peak = max(range(100), key=trace.__getitem__)
    assert trace[peak] == pytest.approx(0.1)  # max_lr is the optimizer's rate, not something else
    assert 0 < peak < 50 and trace[0] == pytest.approx(0.1 / 25) and trace[-1] < 0.1 * 1e-3
    assert all(a <= b for a, b in zip(trace[:peak], trace[1 : peak + 1]))
    assert all(a >= b for a, b in zip(trace[peak:], trace[peak + 1 :]))


def test_bad_names_list_the_choices():
    with pytest.raises(ValueError, match="sgd, momentum|'sgd', 'momentum'"):
        TrainConfig(optimizer="adagrad")
    with pytest.raises(ValueError, match="onecycle"):
        TrainConfig(scheduler="plateau")
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=-1.0)
    with pytest.raises(ValueError, match="device must be one of"):
        environment.pick_device("tpu")
    assert environment.pick_device("cpu").type == "cpu"


def test_log_softmax_models_use_nll():
    model = training.seeded_model("cnn", seed=0)
    assert training.loss_function(model) is torch.nn.functional.nll_loss
    logits_model = training.seeded_model("ann", seed=0)
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    out = logits_model(x)
    assert torch.allclose(training.loss_function(logits_model)(out, y), torch.nn.functional.cross_entropy(out, y))


def test_checkpoint_round_trip_and_refusals(tmp_path, tiny_splits):
    model = training.seeded_model("ann", seed=1)
    params = {"epochs": 1, "lr": 0.001}
    history = training.fit(model, tiny_splits, TrainConfig(epochs=1), progress=False)
    path = checkpoints.checkpoint_path(tmp_path, "ann", params, 1, "cpu")
    checkpoints.save_checkpoint(path, model, "ann", params, 1, history)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    fresh = training.seeded_model("ann", seed=2)
    loaded = checkpoints.load_checkpoint(path, fresh, "ann", params, 1)
    assert loaded.train_seconds == pytest.approx(history.train_seconds) and loaded.trained_at
    assert loaded.history.to_frame().equals(history.to_frame())
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))
    with pytest.raises(CheckpointError, match="other parameters, seed, code, torch version, CPU instruction set or device"):
        checkpoints.load_checkpoint(path, fresh, "ann", {"epochs": 2, "lr": 0.001}, 1)
    with pytest.raises(CheckpointError, match="other parameters, seed, code, torch version, CPU instruction set or device"):
        checkpoints.load_checkpoint(path, fresh, "ann", params, seed=2)


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "key": "x", "payload": _Payload()}, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        checkpoints.load_checkpoint(path, torch.nn.Linear(1, 1), "ann", {}, 0)
    truncated = tmp_path / "truncated.pt"
    checkpoints.save_checkpoint(truncated, torch.nn.Linear(2, 2), "ann", {}, 0)
    truncated.write_bytes(truncated.read_bytes()[:50])
    with pytest.raises(CheckpointError):
        checkpoints.load_checkpoint(truncated, torch.nn.Linear(2, 2), "ann", {}, 0)


def test_fit_or_load_reuses_matching_checkpoint(tmp_path, tiny_splits):
    config = TrainConfig(epochs=1, seed=4)
    model = training.seeded_model("ann", seed=4)
    first = checkpoints.fit_or_load(model, "ann", tiny_splits, config, tmp_path, {"limit": 3000}, progress=False)
    assert not first.loaded
    again = training.seeded_model("ann", seed=9)
    second = checkpoints.fit_or_load(again, "ann", tiny_splits, config, tmp_path, {"limit": 3000}, progress=False)
    assert second.loaded and second.history.to_frame().equals(first.history.to_frame())
    third = checkpoints.fit_or_load(training.seeded_model("ann", seed=4), "ann", tiny_splits,
                                    TrainConfig(epochs=1, seed=4, lr=0.01), tmp_path, {"limit": 3000},
                                    progress=False)
    assert not third.loaded


def test_batch_runs_send_progress_to_the_log_file_only(tiny_splits, tmp_path, monkeypatch, capfd):
    log = tmp_path / "progress.log"
    monkeypatch.setenv(training.BATCH_ENV, "1")
    monkeypatch.setenv(training.PROGRESS_ENV, str(log))
    training.fit(training.seeded_model("ann", 0), tiny_splits, TrainConfig(epochs=1), desc="ANN run")
    assert "ANN run" in log.read_text()
    monkeypatch.delenv(training.PROGRESS_ENV)
    training.fit(training.seeded_model("ann", 0), tiny_splits, TrainConfig(epochs=1), desc="ANN quiet")
    captured = capfd.readouterr()
    assert "ANN" not in captured.err and "ANN" not in captured.out


# --------------------------------------------------------------------------- fit: optimized loss and plain NLL


def test_smoothed_nll_matches_torch_and_its_floor():
    logits = torch.randn(16, 10, generator=torch.Generator().manual_seed(0))
    y = torch.arange(16) % 10
    loss, nll = training.smoothed_nll(torch.log_softmax(logits, 1), y, 0.1)
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(logits, y, label_smoothing=0.1), atol=1e-6)
    assert torch.allclose(nll, torch.nn.functional.cross_entropy(logits, y), atol=1e-6)
    plain, same = training.smoothed_nll(torch.log_softmax(logits, 1), y, 0.0)
    assert plain is same
    # The smoothed loss of a prediction equal to the smoothed target is the floor, about 0.50 at 0.1.
    target = torch.full((1, 10), 0.01)
    target[0, 3] = 0.91
    at_optimum, _ = training.smoothed_nll(target.log(), torch.tensor([3]), 0.1)
    assert float(at_optimum) == pytest.approx(training.label_smoothing_floor(0.1), abs=1e-6)
    assert training.label_smoothing_floor(0.1) == pytest.approx(0.5003, abs=1e-4)
    assert training.label_smoothing_floor(0.0) == 0.0


def test_fit_is_the_plain_loop_with_smoothed_cross_entropy(tiny_splits):
    """One epoch of fit equals the textbook loop with F.cross_entropy(label_smoothing=...), up to float rounding."""
    from mnist_lib.data import batches

    cfg = TrainConfig(epochs=1, batch_size=256, optimizer="adam", lr=2e-3, label_smoothing=0.1, seed=5,
                      restore_best=False)
    fitted = training.seeded_model("ann", seed=5)
    training.fit(fitted, tiny_splits, cfg, progress=False)
    manual = training.seeded_model("ann", seed=5)
    optimizer = torch.optim.Adam(manual.parameters(), lr=2e-3)
    for xb, yb in batches(tiny_splits.x_train, tiny_splits.y_train, 256, seed=5, epoch=1):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(manual(xb), yb, label_smoothing=0.1).backward()
        optimizer.step()
    for a, b in zip(fitted.state_dict().values(), manual.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5)


def test_fit_records_the_plain_nll_beside_the_smoothed_loss(small_splits):
    model = training.seeded_model("ann", seed=0)
    history = training.fit(model, small_splits, TrainConfig(epochs=2, lr=2e-3, label_smoothing=0.1), progress=False)
    frame = history.to_frame()
    floor = training.label_smoothing_floor(0.1)
    assert (frame.train_loss > floor).all() and (frame.train_nll < frame.train_loss).all()
    last = frame.iloc[-1]
    # The plain NLL measures what val_loss measures; the smoothed loss sits above both by construction.
    assert abs(last.train_nll - last.val_loss) < abs(last.train_loss - last.val_loss)
    restored = training.History.from_dict(history.to_dict())
    assert restored.to_frame().equals(frame)


def test_histories_saved_before_train_nll_load():
    old = {"records": [{"epoch": 1, "train_loss": 0.4, "train_accuracy": 0.9, "val_loss": 0.3, "val_accuracy": 0.9,
                        "lr": 0.1, "seconds": 1.0, "timestamp": "t"}], "config": {"label_smoothing": 0.0}}
    assert training.History.from_dict(old).records[0].train_nll == 0.4  # without smoothing, the same number
    smoothed = {**old, "config": {"label_smoothing": 0.1}}
    assert math.isnan(training.History.from_dict(smoothed).records[0].train_nll)  # unknown, not invented


def test_fit_reads_the_device_once_per_epoch_not_per_step(tiny_splits, monkeypatch):
    """No .item()/.tolist()/float()/.cpu() per step: the number of reads does not grow with the number of steps."""
    counts = {"n": 0}
    for name in ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__"):
        original = getattr(torch.Tensor, name)

        def counting(*args, _original=original, **kwargs):
            counts["n"] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)

    def reads(batch_size: int) -> int:
        counts["n"] = 0
        cfg = TrainConfig(epochs=2, batch_size=batch_size, optimizer="momentum", lr=0.05, label_smoothing=0.1)
        training.fit(training.seeded_model("ann", seed=0), tiny_splits, cfg, progress=False)
        return counts["n"]

    few_steps, many_steps = reads(1024), reads(32)  # 1 and 18 steps per epoch
    assert few_steps == many_steps and few_steps < 40


# --------------------------------------------------------------------------- weight average and test-time augmentation


def test_the_weight_average_follows_its_formula_and_ends_the_run(tiny_splits):
    model = training.seeded_model("ann", seed=0)
    average = training.WeightAverage(model, decay=0.99)
    before = [p.detach().clone() for p in average.model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    average.update()  # step 0: the average moves 0.9 of the way (decay min(0.99, 1/10))
    for old, new, now in zip(before, average.model.parameters(), model.parameters()):
        assert torch.allclose(new, 0.1 * old + 0.9 * now)
    cfg = TrainConfig(epochs=2, batch_size=256, ema_decay=0.99, seed=1)
    trained = training.seeded_model("ann", seed=1)
    history = training.fit(trained, tiny_splits, cfg, progress=False)
    again = training.seeded_model("ann", seed=1)
    repeat = training.fit(again, tiny_splits, cfg, progress=False)
    assert [(r.train_loss, r.val_loss) for r in history.records] == [(r.train_loss, r.val_loss) for r in repeat.records]
    assert history.to_dict()["config"]["ema_decay"] == 0.99
    best = history.records[history.best_epoch - 1].val_accuracy
    assert training.evaluate(trained, tiny_splits.x_val, tiny_splits.y_val).accuracy == pytest.approx(best)
    plain = training.fit(training.seeded_model("ann", seed=1), tiny_splits, TrainConfig(epochs=2, batch_size=256,
                                                                                         seed=1), progress=False)
    assert [r.val_accuracy for r in plain.records] != [r.val_accuracy for r in history.records]
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=1.0)


def test_test_time_augmentation_averages_the_views(small_splits):
    model = training.seeded_model("cnn", seed=0).eval()
    x, y = small_splits.x_test[:64], small_splits.y_test[:64]
    plain = training.evaluate(model, x, y)
    flipped = training.evaluate(model, x.flip(-1), y)
    both = training.evaluate(model, x, y, tta="flip")
    assert np.allclose(both.probs, (plain.probs + flipped.probs) / 2, atol=1e-6)
    assert both.loss == pytest.approx(float(-np.log(both.probs[np.arange(64), y.numpy()]).mean()), rel=1e-5)
    shifted = training.evaluate(model, x, y, tta="shift")
    assert shifted.probs.shape == (64, 10) and np.allclose(shifted.probs.sum(1), 1, atol=1e-5)
    assert [len(training.tta_views(m)) for m in training.TTA_MODES] == [1, 2, 5]
    with pytest.raises(ValueError, match="tta must be one of none, flip, shift"):
        training.evaluate(model, x, y, tta="rotate")

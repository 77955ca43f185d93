"""Training: a short real fit learns, runs repeat exactly, divergence is caught,
checkpoints are safe and keyed."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from mnist_lib import training
from mnist_lib.training import CheckpointError, TrainConfig


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
                 augment=__import__("mnist_lib.data", fromlist=["Augmentation"]).Augmentation())),
])
def test_same_seed_same_history_to_the_last_digit(small_splits, name, cfg):
    first, model_a = _run(small_splits, name, **cfg)
    second, model_b = _run(small_splits, name, **cfg)
    assert first.equals(second)
    assert all(torch.equal(a, b) for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()))


def test_divergence_is_detected(small_splits):
    model = training.seeded_model("mlp", seed=0)
    history = training.fit(model, small_splits, TrainConfig(epochs=3, optimizer="sgd", lr=50.0), progress=False)
    assert history.diverged and len(history.records) <= 3


def test_early_stop_callback(small_splits):
    model = training.seeded_model("ann", seed=0)
    history = training.fit(model, small_splits, TrainConfig(epochs=5), progress=False,
                           on_epoch_end=lambda record, m: record.epoch == 2)
    assert history.stopped_early and len(history.records) == 2


@pytest.mark.parametrize("optimizer", training.OPTIMIZERS)
@pytest.mark.parametrize("scheduler", training.SCHEDULERS)
def test_every_optimizer_and_scheduler_builds_and_steps(optimizer, scheduler):
    model = torch.nn.Linear(4, 2)
    opt = training.make_optimizer(optimizer, model.parameters(), lr=0.1)
    sched = training.make_scheduler(scheduler, opt, total_steps=10)
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    if sched is not None:
        sched.step()


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
        training.pick_device("tpu")
    assert training.pick_device("cpu").type == "cpu"


def test_log_softmax_models_use_nll():
    model = training.seeded_model("cnn", seed=0)
    assert training.loss_function(model) is torch.nn.functional.nll_loss
    logits_model = training.seeded_model("ann", seed=0)
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    out = logits_model(x)
    assert torch.allclose(training.loss_function(logits_model)(out, y), torch.nn.functional.cross_entropy(out, y))


def test_checkpoint_round_trip_and_refusals(tmp_path, small_splits):
    model = training.seeded_model("ann", seed=1)
    params = {"epochs": 1, "lr": 0.001}
    history = training.fit(model, small_splits, TrainConfig(epochs=1), progress=False)
    path = training.checkpoint_path(tmp_path, "ann", params, 1)
    training.save_checkpoint(path, model, "ann", params, 1, history)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    fresh = training.seeded_model("ann", seed=2)
    loaded = training.load_checkpoint(path, fresh, "ann", params, 1)
    assert loaded.to_frame().equals(history.to_frame())
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))
    with pytest.raises(CheckpointError, match="other parameters"):
        training.load_checkpoint(path, fresh, "ann", {"epochs": 2, "lr": 0.001}, 1)
    with pytest.raises(CheckpointError, match="other parameters"):
        training.load_checkpoint(path, fresh, "ann", params, seed=2)


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "key": "x", "payload": _Payload()}, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        training.load_checkpoint(path, torch.nn.Linear(1, 1), "ann", {}, 0)
    truncated = tmp_path / "truncated.pt"
    training.save_checkpoint(truncated, torch.nn.Linear(2, 2), "ann", {}, 0)
    truncated.write_bytes(truncated.read_bytes()[:50])
    with pytest.raises(CheckpointError):
        training.load_checkpoint(truncated, torch.nn.Linear(2, 2), "ann", {}, 0)


def test_fit_or_load_reuses_matching_checkpoint(tmp_path, small_splits):
    config = TrainConfig(epochs=1, seed=4)
    model = training.seeded_model("ann", seed=4)
    history, loaded = training.fit_or_load(model, "ann", small_splits, config, tmp_path, {"limit": 3000},
                                           progress=False)
    assert not loaded
    again = training.seeded_model("ann", seed=9)
    history2, loaded2 = training.fit_or_load(again, "ann", small_splits, config, tmp_path, {"limit": 3000},
                                             progress=False)
    assert loaded2 and history2.to_frame().equals(history.to_frame())
    _, loaded3 = training.fit_or_load(training.seeded_model("ann", seed=4), "ann", small_splits,
                                      TrainConfig(epochs=1, seed=4, lr=0.01), tmp_path, {"limit": 3000},
                                      progress=False)
    assert not loaded3


def test_batch_runs_send_progress_to_the_log_file_only(small_splits, tmp_path, monkeypatch, capfd):
    log = tmp_path / "progress.log"
    monkeypatch.setenv(training.BATCH_ENV, "1")
    monkeypatch.setenv(training.PROGRESS_ENV, str(log))
    training.fit(training.seeded_model("ann", 0), small_splits, TrainConfig(epochs=1), desc="ANN run")
    assert "ANN run" in log.read_text()
    monkeypatch.delenv(training.PROGRESS_ENV)
    training.fit(training.seeded_model("ann", 0), small_splits, TrainConfig(epochs=1), desc="ANN quiet")
    captured = capfd.readouterr()
    assert "ANN" not in captured.err and "ANN" not in captured.out

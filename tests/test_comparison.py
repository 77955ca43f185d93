"""Optimizer comparison: test monitoring never changes training and agrees with the
selected weights, runs start from the same weights, the summary table and the
pairwise McNemar readings say what the numbers say."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from mnist_lib import comparison, training
from mnist_lib.training import EpochRecord, History, Predictions, TrainConfig

FAST = TrainConfig(epochs=2, batch_size=128, optimizer="adam", lr=2e-3, seed=1)


# --------------------------------------------------------------------------- real (small) training


def test_monitoring_does_not_change_training_and_matches_selected_weights(small_splits):
    plain_model = training.seeded_model("mlp", seed=FAST.seed)
    plain = training.fit(plain_model, small_splits, FAST, progress=False)
    run = comparison.train_with_test_monitoring("mlp", small_splits, FAST, progress=False)

    drop = ["seconds", "timestamp"]
    assert run.history.to_frame().drop(columns=drop).equals(plain.to_frame().drop(columns=drop))
    assert list(run.test_curve.columns) == ["epoch", "test_loss", "test_accuracy"]
    assert run.test_curve["epoch"].tolist() == [1, 2]
    assert run.test_curve["test_accuracy"].between(0.5, 1).all()  # an MLP beats chance (0.1) after one epoch
    # fit restored the best validation epoch, so evaluating now repeats that epoch's monitored test numbers.
    at_best = run.test_curve.set_index("epoch").loc[run.history.best_epoch]
    assert run.test.accuracy == pytest.approx(at_best["test_accuracy"], abs=1e-12)
    assert run.test.loss == pytest.approx(at_best["test_loss"], rel=1e-6)
    assert len(run.test.preds) == len(small_splits.y_test)
    curves = run.curves()
    assert {"train_loss", "val_accuracy", "test_loss", "test_accuracy"} <= set(curves.columns)
    assert run.name == "adam" and run.train_seconds > 0


def test_runs_start_from_the_same_weights_and_data(small_splits):
    one_epoch = replace(FAST, epochs=1)
    runs = comparison.compare_optimizers("mlp", small_splits, {"first": one_epoch, "second": one_epoch},
                                         progress=False)
    assert list(runs) == ["first", "second"]
    a, b = runs["first"], runs["second"]
    assert a.test_curve.equals(b.test_curve)
    assert np.array_equal(a.test.preds, b.test.preds)
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    assert a.model is not b.model


def test_compare_optimizers_refuses_unfair_setups(small_splits):
    with pytest.raises(ValueError, match="epochs"):
        comparison.compare_optimizers("mlp", small_splits, {"a": FAST, "b": replace(FAST, epochs=3)})
    with pytest.raises(ValueError, match="seed"):
        comparison.compare_optimizers("mlp", small_splits, {"a": FAST, "b": replace(FAST, seed=2)})
    with pytest.raises(ValueError, match="at least one"):
        comparison.compare_optimizers("mlp", small_splits, {})


# --------------------------------------------------------------------------- configs


def test_optimizer_configs_replace_only_optimizer_and_lr():
    base = TrainConfig(epochs=4, batch_size=64, seed=5, weight_decay=1e-4)
    configs = comparison.optimizer_configs(["sgd", "adam"], {"sgd": 0.1, "adam": 1e-3, "momentum": 0.02}, base)
    assert list(configs) == ["sgd", "adam"]
    assert configs["sgd"].optimizer == "sgd" and configs["sgd"].lr == 0.1
    assert configs["adam"] == replace(base, optimizer="adam", lr=1e-3)
    assert list(comparison.optimizer_configs("sgd, adam", {"sgd": 0.1, "adam": 1e-3}, base)) == ["sgd", "adam"]


@pytest.mark.parametrize("optimizers,rates,message", [
    (["sgd", "lbfgs"], {"sgd": 0.1, "lbfgs": 1.0}, "unknown optimizer 'lbfgs'; valid: sgd, momentum"),
    (["sgd", "sgd"], {"sgd": 0.1}, "more than once"),
    (["sgd", "adam"], {"sgd": 0.1}, "no learning rate for optimizer 'adam'"),
    ([], {}, "at least one"),
])
def test_optimizer_configs_validation(optimizers, rates, message):
    with pytest.raises(ValueError, match=message):
        comparison.optimizer_configs(optimizers, rates, TrainConfig())


# --------------------------------------------------------------------------- summary (synthetic runs)


def _run(name: str, lr: float, val_acc, test_acc, train_loss=None, diverged=False, n_test=100):
    """A MonitoredRun built by hand: per-epoch validation/test accuracies and final test predictions."""
    epochs = len(val_acc)
    train_loss = train_loss or [1.0 / e for e in range(1, epochs + 1)]
    records = [EpochRecord(epoch=e, train_loss=train_loss[e - 1], train_accuracy=0.9, val_loss=0.3,
                           val_accuracy=val_acc[e - 1], lr=lr, seconds=1.5, timestamp="")
               for e in range(1, epochs + 1)]
    usable = val_acc[:-1] if diverged else val_acc
    best_epoch = int(np.argmax(usable)) + 1 if usable else None
    history = History(records=records, best_epoch=best_epoch, diverged=diverged)
    monitored = test_acc[:-1] if diverged else test_acc
    curve = pd.DataFrame({"epoch": range(1, len(monitored) + 1), "test_loss": [0.5 - a / 4 for a in monitored],
                          "test_accuracy": monitored})
    # Final predictions: the test accuracy of the best validation epoch.
    correct = int(round(test_acc[best_epoch - 1] * n_test)) if best_epoch else 0
    targets = np.zeros(n_test, dtype=int)
    preds = np.where(np.arange(n_test) < correct, 0, 1)
    probs = np.eye(10)[preds]
    test = Predictions(logits=probs, probs=probs, preds=preds, targets=targets, loss=0.1)
    return comparison.MonitoredRun(name=name, config=TrainConfig(optimizer=name, lr=lr), model=torch.nn.Identity(),
                                   history=history, test_curve=curve, test=test)


@pytest.fixture
def runs():
    return {
        # Validation picks epoch 2 (test 0.95) although epoch 3 scores 0.97 on test.
        "sgd": _run("sgd", 0.1, val_acc=[0.90, 0.96, 0.95], test_acc=[0.91, 0.95, 0.97]),
        "momentum": _run("momentum", 0.02, val_acc=[0.95, 0.97, 0.98], test_acc=[0.96, 0.97, 0.98]),
        "adam": _run("adam", 0.001, val_acc=[0.97, 0.985, 0.98], test_acc=[0.97, 0.98, 0.96]),
    }


def test_optimizer_summary_columns_and_definitions(runs):
    table = comparison.optimizer_summary(runs, target=0.97)
    assert list(table.index) == ["sgd", "momentum", "adam"]
    assert list(table.columns[:3]) == ["lr", "first_epoch_at_target", "convergence_rank"]
    assert table["first_epoch_at_target"].tolist() == [3, 2, 1]
    assert table["convergence_rank"].tolist() == [3, 2, 1]
    assert table.loc["sgd", "best_accuracy"] == pytest.approx(0.95)  # validation-selected (epoch 2)
    assert table.loc["sgd", "max_epoch_accuracy"] == pytest.approx(0.97)  # the optimistic definition
    assert table.loc["adam", "best_accuracy"] == pytest.approx(0.98)
    assert table.loc["adam", "last_accuracy"] == pytest.approx(0.96)
    assert table.loc["adam", "last_train_loss"] == pytest.approx(1 / 3)
    assert table.loc["adam", "last_test_loss"] == pytest.approx(0.5 - 0.96 / 4)
    assert table["best_val_epoch"].tolist() == [2, 3, 2]
    assert table["train_seconds"].tolist() == [4.5, 4.5, 4.5]
    assert not table["diverged"].any()


def test_target_never_reached_and_divergence(runs):
    runs["sgd"] = _run("sgd", 5.0, val_acc=[0.5, 0.6, 0.1], test_acc=[0.5, 0.6, 0.1], diverged=True)
    table = comparison.optimizer_summary(runs, target=0.975)
    assert table["first_epoch_at_target"].isna().tolist() == [True, False, False]
    assert table.loc["momentum", "first_epoch_at_target"] == 3
    assert table["convergence_rank"].tolist() == [3, 2, 1]
    assert table.loc["sgd", "diverged"]
    assert np.isnan(table.loc["sgd", "last_accuracy"]) and np.isnan(table.loc["sgd", "last_train_loss"])
    assert table.loc["sgd", "best_accuracy"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="fraction"):
        comparison.optimizer_summary(runs, target=97.0)


def test_best_by_validation(runs):
    # Best-epoch validation accuracies: sgd 0.96, momentum 0.98, adam 0.985.
    assert comparison.best_by_validation(runs) == "adam"
    runs["adam"] = _run("adam", 0.001, val_acc=[0.97, 0.98], test_acc=[0.99, 0.99])
    assert comparison.best_by_validation(runs) == "momentum"  # a tie goes to the earlier run
    with pytest.raises(ValueError, match="empty"):
        comparison.best_by_validation({})


def test_optimizer_metrics_are_percent(runs):
    summary = comparison.optimizer_summary(runs, target=0.975)
    out = comparison.optimizer_metrics(summary)
    assert set(out) == {"sgd", "momentum", "adam"}
    assert out["sgd"] == {"best_accuracy": 95.0, "last_accuracy": 97.0, "first_epoch_at_target": None,
                          "max_epoch_accuracy": 97.0, "train_seconds": 4.5, "lr": 0.1}
    assert out["adam"]["first_epoch_at_target"] == 2
    with pytest.raises(ValueError, match="missing columns"):
        comparison.optimizer_metrics(summary.drop(columns=["lr"]))


def test_reference_comparison_and_reading(runs):
    summary = comparison.optimizer_summary(runs, target=0.97)
    ref = comparison.reference_comparison(summary, {"sgd": 0.9718, "adam": 0.9783})
    assert ref.loc["sgd", "difference_max_epoch"] == pytest.approx(0.97 - 0.9718)
    assert ref.loc["sgd", "difference_best"] == pytest.approx(0.95 - 0.9718)
    assert np.isnan(ref.loc["momentum", "reference"]) and np.isnan(ref.loc["momentum", "difference_best"])
    with pytest.raises(ValueError, match="fractions"):
        comparison.reference_comparison(summary, {"sgd": 97.18})

    text = comparison.summary_reading(summary, 0.97, "adam")
    assert "**adam** reaches **98.00%**" in text
    assert "Convergence to 97.00% test accuracy: 1. adam (epoch 1), 2. momentum (epoch 2), 3. sgd (epoch 3)." in text
    assert "2.00 percentage points (sgd)" in text
    assert "itself (the reference report's definition) would add" in text
    plain = comparison.summary_reading(summary, 0.97, "adam", definition=None)
    assert "itself would add" in plain and "reference" not in plain
    with pytest.raises(ValueError, match="not a row"):
        comparison.summary_reading(summary, 0.97, "nesterov")


# --------------------------------------------------------------------------- errors and McNemar


def test_pairwise_mcnemar_readings():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 2000)
    perfect = y.copy()
    worse = y.copy()
    worse[:60] = (y[:60] + 1) % 10  # 60 mistakes the perfect model does not make
    similar = y.copy()
    similar[30:92] = (y[30:92] + 1) % 10  # 62 mistakes, partly overlapping with `worse`
    table = comparison.pairwise_mcnemar(y, {"perfect": perfect, "worse": worse, "similar": similar})
    assert list(zip(table.a, table.b)) == [("perfect", "worse"), ("perfect", "similar"), ("worse", "similar")]
    assert table.loc[0, "only_a_right"] == 60 and table.loc[0, "only_b_right"] == 0
    assert table.loc[0, "accuracy_a"] == 1.0 and table.loc[0, "accuracy_b"] == pytest.approx(0.97)
    assert (table["p_holm"] >= table["p_value"]).all() and (table["p_holm"] <= 1).all()
    assert table["significant"].tolist() == [True, True, False]
    assert table.loc[0, "reading"].startswith("perfect is significantly more accurate than worse")
    assert table.loc[2, "reading"].startswith("No significant difference between worse and similar")
    same = comparison.pairwise_mcnemar(y, {"a": perfect, "b": perfect.copy()})
    assert "exactly the same mistakes" in same.loc[0, "reading"] and same.loc[0, "p_value"] == 1.0
    with pytest.raises(ValueError, match="at least two"):
        comparison.pairwise_mcnemar(y, {"a": perfect})
    with pytest.raises(ValueError, match="shape"):
        comparison.pairwise_mcnemar(y, {"a": perfect, "b": perfect[:10]})


def test_holm_adjustment_matches_hand_computation():
    adjusted = comparison._holm([0.01, 0.04, 0.03])
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, 2*0.03, max(0.06, 1*0.04)
    assert adjusted.tolist() == pytest.approx([0.03, 0.06, 0.06])


def test_class_extremes_and_confused_pairs():
    y = np.repeat(np.arange(10), 10)
    a = y.copy()
    a[y == 4] = 9  # digit 4 always read as 9
    a[np.flatnonzero(y == 7)[:3]] = 1
    b = y.copy()
    b[np.flatnonzero(y == 3)[:2]] = 5
    extremes = comparison.class_extremes(y, {"a": a, "b": b})
    assert extremes.loc["a"].tolist() == [0, 1.0, 4, 0.0]
    assert extremes.loc["b", "worst_class"] == 3 and extremes.loc["b", "worst_class_accuracy"] == 0.8
    pairs = comparison.confused_pairs(y, {"a": a, "b": b}, k=2)
    assert pairs[["optimizer", "true", "predicted", "count"]].values.tolist() == [
        ["a", 4, 9, 10], ["a", 7, 1, 3], ["b", 3, 5, 2]]
    names = [f"class-{k}" for k in range(10)]
    named = comparison.class_extremes(y, {"a": a}, class_names=names)
    assert named.loc["a", "best_class"] == "class-0" and named.loc["a", "worst_class"] == "class-4"
    pairs = comparison.confused_pairs(y, {"a": a}, k=1, class_names=names)
    assert pairs[["true", "predicted"]].values.tolist() == [["class-4", "class-9"]]


def test_errors_reading_names_digits_and_shared_mistakes():
    y = np.repeat(np.arange(10), 10)
    a, b = y.copy(), y.copy()
    a[y == 4] = 9
    b[np.flatnonzero(y == 4)[:5]] = 9
    b[np.flatnonzero(y == 2)[:1]] = 7
    preds = {"a": a, "b": b}
    text = comparison.errors_reading(comparison.class_extremes(y, preds), comparison.confused_pairs(y, preds, k=2))
    assert "**a** recognises 0 best (100.00%) and 4 worst (0.00%)" in text
    assert "**b** recognises 0 best (100.00%) and 4 worst (50.00%)" in text
    assert "Digit 4 is the hardest for 2 of 2 run(s)." in text
    assert "The mistake 4 → 9 is in the top-2 list of 2 of 2 run(s)." in text
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    text = comparison.errors_reading(comparison.class_extremes(y, preds, class_names=names),
                                     comparison.confused_pairs(y, preds, k=2, class_names=names), noun="class")
    assert "**a** recognises T-shirt/top best (100.00%) and Coat worst (0.00%)" in text
    assert "Class Coat is the hardest for 2 of 2 run(s)." in text
    assert "The mistake Coat → Ankle boot is in the top-2 list" in text and "digit" not in text.lower()


def test_reference_reading_orders(runs):
    summary = comparison.optimizer_summary(runs, target=0.97)
    versus = comparison.reference_comparison(summary, {"sgd": 0.9718, "momentum": 0.9795, "adam": 0.9783})
    text = comparison.reference_reading(versus)
    assert "- **sgd**: 95.00% validation-selected (-2.18 points), 97.00% max per-epoch (-0.18 points)" in text
    assert "The reference ranks them momentum > adam > sgd" in text
    assert "this run ranks them momentum > adam > sgd (the same order)." in text  # a tie keeps the input order
    swapped = comparison.reference_comparison(summary, {"sgd": 0.99, "adam": 0.9783})
    assert "this run ranks them adam > sgd (a different order)." in comparison.reference_reading(swapped)
    single = comparison.reference_reading(comparison.reference_comparison(summary, {"adam": 0.87}))
    assert single.startswith("- **adam**") and "ranks" not in single  # one value: nothing to rank
    none = comparison.reference_comparison(summary, {})
    assert comparison.reference_reading(none) == "None of the optimizers run here has a reference value."


def test_convergence_reading_when_some_or_none_reach_the_target(runs):
    some = comparison.optimizer_summary(runs, target=0.975)
    assert comparison.convergence_reading(some, 0.975) == (
        "Convergence to 97.50% test accuracy: 1. adam (epoch 2), 2. momentum (epoch 3); never reached: sgd.")
    none = comparison.optimizer_summary(runs, target=0.999)
    assert comparison.convergence_reading(none, 0.999).startswith("No optimizer reached 99.90%")
    with pytest.raises(ValueError, match="convergence_rank"):
        comparison.convergence_reading(some.drop(columns=["convergence_rank"]), 0.975)


def test_configs_text_names_each_optimizer_and_what_they_share():
    base = TrainConfig(epochs=1, batch_size=100, scheduler="step")
    configs = comparison.optimizer_configs(["nesterov", "rmsprop"], {"nesterov": 0.05, "rmsprop": 0.001}, base)
    text = comparison.configs_text(configs, train_images=1000)
    for fragment in ("2 optimizers", "`nesterov` (SGD with Nesterov momentum 0.9), no weight decay, learning rate 0.05",
                     "`rmsprop` (RMSprop), no weight decay, learning rate 0.001", "1 epoch of 10 steps",
                     "batch size 100", "`step` schedule", "no label smoothing", "no augmentation"):
        assert fragment in text, (fragment, text)
    assert "adam" not in text.lower() and "cosine" not in text


def test_reference_setting_says_how_the_reference_measured():
    from mnist_lib import references

    group = references.for_dataset().group("mlp")
    text = comparison.reference_setting(group, epochs=3, train_images=5500)
    assert text == ("The reference values are the maximum per-epoch test accuracy after 25 epochs on 60,000 training "
                    "images, from the reference report; this run's budget was 3 epochs on 5,500 training images.")
    assert comparison.reference_setting({}, 1, 100).startswith("There are no reference values")
    fashion = comparison.reference_setting(references.for_dataset("fashion-mnist").group("mlp"), 3, 5500)
    assert ("the mean test accuracy of 5 runs of scikit-learn's MLPClassifier with hidden layers of 100 and 10 ReLU "
            "units") in fashion
    assert ("on 60,000 training images, from the Fashion-MNIST paper's scikit-learn benchmark (training length not "
            "stated)") in fashion

"""Optimizer comparison: test monitoring never changes training and agrees with the
selected weights, runs start from the same weights, the summary table and the
pairwise McNemar readings say what the numbers say."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from mnist_lib import params, prose, training
from mnist_lib.analysis import optimizer_comparison
from mnist_lib.params import ParameterError
from mnist_lib.training import EpochRecord, History, Predictions, TrainConfig

FAST = TrainConfig(epochs=2, batch_size=128, optimizer="adam", lr=2e-3, seed=1)


# --------------------------------------------------------------------------- real (small) training


def test_monitoring_does_not_change_training_and_matches_selected_weights(small_splits):
    plain_model = training.seeded_model("mlp", seed=FAST.seed)
    plain = training.fit(plain_model, small_splits, FAST, progress=False)
    run = optimizer_comparison.train_with_test_monitoring("mlp", small_splits, FAST, progress=False)

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
    runs = optimizer_comparison.compare_optimizers("mlp", small_splits, {"first": one_epoch, "second": one_epoch},
                                         progress=False)
    assert list(runs) == ["first", "second"]
    a, b = runs["first"], runs["second"]
    assert a.test_curve.equals(b.test_curve)
    assert np.array_equal(a.test.preds, b.test.preds)
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    assert a.model is not b.model


def test_compare_optimizers_refuses_unfair_setups(small_splits):
    with pytest.raises(ValueError, match="epochs"):
        optimizer_comparison.compare_optimizers("mlp", small_splits, {"a": FAST, "b": replace(FAST, epochs=3)})
    with pytest.raises(ValueError, match="seed"):
        optimizer_comparison.compare_optimizers("mlp", small_splits, {"a": FAST, "b": replace(FAST, seed=2)})
    with pytest.raises(ValueError, match="at least one"):
        optimizer_comparison.compare_optimizers("mlp", small_splits, {})


# --------------------------------------------------------------------------- configs


def _optimizer_params(**values) -> dict:
    base = dict(epochs=4, batch_size=64, seed=5, weight_decay=1e-4, scheduler="step", label_smoothing=0.0,
                normalization="dataset", augment=False, memory_format="auto", compile_model=None,
                fused_optimizer=None, precision="fp32", threads=1)
    return {**base, **values}


def test_optimizer_configs_replace_only_optimizer_and_lr():
    params = _optimizer_params(optimizers=["sgd", "adam"], lr_per_optimizer={"sgd": 0.1, "adam": 1e-3, "momentum": 0.02})
    configs = optimizer_comparison.optimizer_configs(params, "mlp")
    assert list(configs) == ["sgd", "adam"]
    assert configs["sgd"].optimizer == "sgd" and configs["sgd"].lr == 0.1
    assert configs["adam"] == replace(configs["sgd"], optimizer="adam", lr=1e-3,
                                      execution=configs["adam"].execution)
    assert (configs["adam"].epochs, configs["adam"].batch_size, configs["adam"].seed) == (4, 64, 5)


@pytest.mark.parametrize("optimizers,rates,message", [
    ("sgd,lbfgs", {"sgd": 0.1, "lbfgs": 1.0}, "parameter 'optimizers': expected a comma-separated list of sgd, momentum"),
    ("sgd,sgd", {"sgd": 0.1}, "'sgd' is listed more than once"),
    ("sgd,adam", {"sgd": 0.1}, "no learning rate for optimizer 'adam'"),
    ("", {}, "parameter 'optimizers': expected"),
])
def test_optimizer_parameters_are_checked_where_they_enter(optimizers, rates, message):
    with pytest.raises(ParameterError, match=message):
        given = params.validate("05_optimizers", {"optimizers": optimizers, "lr_per_optimizer": {"sgd": 0.1}}, partial=True)
        params.check_together({**given, "lr_per_optimizer": rates})


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
    return optimizer_comparison.MonitoredRun(name=name, config=TrainConfig(optimizer=name, lr=lr), model=torch.nn.Identity(),
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
    table = optimizer_comparison.optimizer_summary(runs, target=0.97)
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
    table = optimizer_comparison.optimizer_summary(runs, target=0.975)
    assert table["first_epoch_at_target"].isna().tolist() == [True, False, False]
    assert table.loc["momentum", "first_epoch_at_target"] == 3
    assert table["convergence_rank"].tolist() == [3, 2, 1]
    assert table.loc["sgd", "diverged"]
    assert np.isnan(table.loc["sgd", "last_accuracy"]) and np.isnan(table.loc["sgd", "last_train_loss"])
    assert table.loc["sgd", "best_accuracy"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="fraction"):
        optimizer_comparison.optimizer_summary(runs, target=97.0)


def test_best_by_validation(runs):
    # Best-epoch validation accuracies: sgd 0.96, momentum 0.98, adam 0.985.
    assert optimizer_comparison.best_by_validation(runs) == "adam"
    runs["adam"] = _run("adam", 0.001, val_acc=[0.97, 0.98], test_acc=[0.99, 0.99])
    assert optimizer_comparison.best_by_validation(runs) == "momentum"  # a tie goes to the earlier run
    with pytest.raises(ValueError, match="empty"):
        optimizer_comparison.best_by_validation({})


def test_optimizer_metrics_are_percent(runs):
    summary = optimizer_comparison.optimizer_summary(runs, target=0.975)
    out = optimizer_comparison.optimizer_metrics(summary)
    assert set(out) == {"sgd", "momentum", "adam"}
    assert out["sgd"] == {"best_accuracy": 95.0, "val_accuracy": 96.0, "last_accuracy": 97.0, "first_epoch_at_target": None,
                          "max_epoch_accuracy": 97.0, "train_seconds": 4.5, "lr": 0.1}
    assert out["adam"]["first_epoch_at_target"] == 2
    with pytest.raises(ValueError, match="missing columns"):
        optimizer_comparison.optimizer_metrics(summary.drop(columns=["lr"]))


def test_reference_comparison_and_reading(runs):
    summary = optimizer_comparison.optimizer_summary(runs, target=0.97)
    ref = optimizer_comparison.reference_comparison(summary, {"sgd": 0.9718, "adam": 0.9783})
    assert ref.loc["sgd", "difference_max_epoch"] == pytest.approx(0.97 - 0.9718)
    assert ref.loc["sgd", "difference_best"] == pytest.approx(0.95 - 0.9718)
    assert np.isnan(ref.loc["momentum", "reference"]) and np.isnan(ref.loc["momentum", "difference_best"])
    with pytest.raises(ValueError, match="fractions"):
        optimizer_comparison.reference_comparison(summary, {"sgd": 97.18})

    text = prose.optimizers.summary_text(summary, 0.97, "adam")
    assert "**adam** reaches **98.00%**" in text
    assert "Convergence to 97.00% test accuracy: 1. adam (epoch 1), 2. momentum (epoch 2), 3. sgd (epoch 3)." in text
    assert "2.00 percentage points (sgd)" in text
    assert "itself (the reference report's definition) would add" in text
    plain = prose.optimizers.summary_text(summary, 0.97, "adam", definition=None)
    assert "itself would add" in plain and "reference" not in plain
    with pytest.raises(ValueError, match="not a row"):
        prose.optimizers.summary_text(summary, 0.97, "nesterov")


# --------------------------------------------------------------------------- errors and McNemar


def test_pairwise_mcnemar_readings():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 2000)
    perfect = y.copy()
    worse = y.copy()
    worse[:60] = (y[:60] + 1) % 10  # 60 mistakes the perfect model does not make
    similar = y.copy()
    similar[30:92] = (y[30:92] + 1) % 10  # 62 mistakes, partly overlapping with `worse`
    table = optimizer_comparison.pairwise_mcnemar(y, {"perfect": perfect, "worse": worse, "similar": similar})
    assert list(zip(table.a, table.b)) == [("perfect", "worse"), ("perfect", "similar"), ("worse", "similar")]
    assert table.loc[0, "only_a_right"] == 60 and table.loc[0, "only_b_right"] == 0
    assert table.loc[0, "accuracy_a"] == 1.0 and table.loc[0, "accuracy_b"] == pytest.approx(0.97)
    assert (table["p_holm"] >= table["p_value"]).all() and (table["p_holm"] <= 1).all()
    assert table["significant"].tolist() == [True, True, False]
    readings = prose.optimizers.mcnemar_texts(table)
    assert readings[0].startswith("perfect is significantly more accurate than worse: perfect alone is right on 60 "
                                  "images, worse alone on 0 images")
    same = optimizer_comparison.pairwise_mcnemar(y, {"a": perfect, "b": perfect.copy()})
    assert "exactly the same mistakes" in prose.optimizers.mcnemar_texts(same)[0] and same.loc[0, "p_value"] == 1.0
    with pytest.raises(ValueError, match="at least two"):
        optimizer_comparison.pairwise_mcnemar(y, {"a": perfect})
    with pytest.raises(ValueError, match="shape"):
        optimizer_comparison.pairwise_mcnemar(y, {"a": perfect, "b": perfect[:10]})


def test_a_mcnemar_sentence_names_each_count_with_its_model_and_a_tie_within_chance_ranks_nothing():
    """05 printed the larger count first but named the pair in a/b order ("sgd and momentum: 68 vs 59"
    read reversed), and ranked two optimizers one image apart."""
    y = np.zeros(3000, dtype=int)
    sgd, momentum, adam = y.copy(), y.copy(), y.copy()
    sgd[:68] = 1  # sgd wrong on 68 images only it misses ...
    momentum[100:159] = 1  # ... momentum on 59 others
    adam[:67] = 1
    adam[200:201] = 1  # adam: 67 of sgd's mistakes and one of its own
    table = optimizer_comparison.pairwise_mcnemar(y, {"sgd": sgd, "momentum": momentum, "adam": adam})
    sgd_momentum, sgd_adam = prose.optimizers.mcnemar_texts(table)[:2]
    assert ("No significant difference between sgd and momentum at the 5% level: sgd alone is right on 59 images, "
            "momentum alone on 68 images, within chance") in sgd_momentum
    assert "neither ranks above the other" in sgd_momentum
    assert "sgd alone is right on 1 image, adam alone on 1 image" not in sgd_adam
    assert "each alone is right on 1 image" in sgd_adam and "neither ranks above the other" in sgd_adam


def test_class_extremes_and_confused_pairs():
    y = np.repeat(np.arange(10), 10)
    a = y.copy()
    a[y == 4] = 9  # digit 4 always read as 9
    a[np.flatnonzero(y == 7)[:3]] = 1
    b = y.copy()
    b[np.flatnonzero(y == 3)[:2]] = 5
    extremes = optimizer_comparison.class_extremes(y, {"a": a, "b": b})
    assert extremes.loc["a"].tolist() == [0, 1.0, 4, 0.0]
    assert extremes.loc["b", "worst_class"] == 3 and extremes.loc["b", "worst_class_accuracy"] == 0.8
    pairs = optimizer_comparison.confused_pairs(y, {"a": a, "b": b}, k=2)
    assert pairs[["optimizer", "true", "predicted", "count"]].values.tolist() == [
        ["a", 4, 9, 10], ["a", 7, 1, 3], ["b", 3, 5, 2]]
    names = [f"class-{k}" for k in range(10)]
    named = optimizer_comparison.class_extremes(y, {"a": a}, class_names=names)
    assert named.loc["a", "best_class"] == "class-0" and named.loc["a", "worst_class"] == "class-4"
    pairs = optimizer_comparison.confused_pairs(y, {"a": a}, k=1, class_names=names)
    assert pairs[["true", "predicted"]].values.tolist() == [["class-4", "class-9"]]


def test_errors_reading_names_digits_and_shared_mistakes():
    y = np.repeat(np.arange(10), 10)
    a, b = y.copy(), y.copy()
    a[y == 4] = 9
    b[np.flatnonzero(y == 4)[:5]] = 9
    b[np.flatnonzero(y == 2)[:1]] = 7
    preds = {"a": a, "b": b}
    text = prose.optimizers.errors_text(optimizer_comparison.class_extremes(y, preds), optimizer_comparison.confused_pairs(y, preds, k=2))
    assert "**a** recognises 0 best (100.00%) and 4 worst (0.00%)" in text
    assert "**b** recognises 0 best (100.00%) and 4 worst (50.00%)" in text
    assert "Digit 4 is the hardest for 2 of 2 run(s)." in text
    assert "The mistake 4 → 9 is in the top-2 list of 2 of 2 run(s)." in text
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    text = prose.optimizers.errors_text(optimizer_comparison.class_extremes(y, preds, class_names=names),
                                     optimizer_comparison.confused_pairs(y, preds, k=2, class_names=names), noun="class")
    assert "**a** recognises T-shirt/top best (100.00%) and Coat worst (0.00%)" in text
    assert "Class Coat is the hardest for 2 of 2 run(s)." in text
    assert "The mistake Coat → Ankle boot is in the top-2 list" in text and "digit" not in text.lower()


def test_reference_reading_lists_each_optimizer(runs):
    summary = optimizer_comparison.optimizer_summary(runs, target=0.97)
    versus = optimizer_comparison.reference_comparison(summary, {"sgd": 0.9718, "momentum": 0.9795, "adam": 0.9783})
    text = prose.optimizers.reference_text(versus)
    assert "- **sgd**: 95.00% validation-selected (-2.18 points), 97.00% max per-epoch (-0.18 points)" in text
    assert "ranks" not in text  # the order waits for McNemar's test
    none = optimizer_comparison.reference_comparison(summary, {})
    assert prose.optimizers.reference_text(none) == "None of the optimizers run here has a reference value."


def _mcnemar_table(significant: dict[tuple[str, str], bool]) -> pd.DataFrame:
    return pd.DataFrame([{"a": a, "b": b, "significant": s} for (a, b), s in significant.items()])


def test_a_ranking_within_chance_is_a_tie_not_an_order():
    """05 ranked sgd over adam on one image of difference (p = 1)."""
    versus = pd.DataFrame({"reference": [0.9718, 0.9795, 0.9783], "best_accuracy": [0.9812, 0.9830, 0.9811]},
                          index=["sgd", "momentum", "adam"])
    none_apart = _mcnemar_table({("sgd", "momentum"): False, ("sgd", "adam"): False, ("momentum", "adam"): False})
    text = prose.optimizers.ranking_text(versus, none_apart)
    assert "this run ranks them momentum ≈ sgd ≈ adam" in text and "sgd > adam" not in text
    assert ("The reference ranks them momentum > adam > sgd; no pair differs beyond chance here, so this run neither "
            "confirms nor contradicts that order.") in text
    momentum_apart = _mcnemar_table({("sgd", "momentum"): True, ("sgd", "adam"): False, ("momentum", "adam"): True})
    text = prose.optimizers.ranking_text(versus, momentum_apart)
    assert "ranks them momentum > sgd ≈ adam" in text
    assert "agrees on every pair it tells apart (momentum > adam, momentum > sgd) and cannot order the other 1 pair." \
        in text
    flipped = versus.assign(reference=[0.99, 0.9795, 0.9783])
    assert "this run reverses it for sgd and momentum." in prose.optimizers.ranking_text(flipped, momentum_apart)
    single = versus.assign(reference=[float("nan"), 0.9795, float("nan")])
    assert "The reference ranks" not in prose.optimizers.ranking_text(single, momentum_apart)


def test_convergence_reading_when_some_or_none_reach_the_target(runs):
    some = optimizer_comparison.optimizer_summary(runs, target=0.975)
    assert prose.optimizers.convergence_text(some, 0.975) == (
        "Convergence to 97.50% test accuracy: 1. adam (epoch 2), 2. momentum (epoch 3); never reached: sgd.")
    none = optimizer_comparison.optimizer_summary(runs, target=0.999)
    assert prose.optimizers.convergence_text(none, 0.999).startswith("No optimizer reached 99.90%")
    with pytest.raises(ValueError, match="convergence_rank"):
        prose.optimizers.convergence_text(some.drop(columns=["convergence_rank"]), 0.975)


def test_configs_text_names_each_optimizer_and_what_they_share():
    configs = optimizer_comparison.optimizer_configs(
        _optimizer_params(optimizers=["nesterov", "rmsprop"], lr_per_optimizer={"nesterov": 0.05, "rmsprop": 0.001},
                          epochs=1, batch_size=100, weight_decay=0.0), "mlp")
    text = prose.optimizers.configs_text(configs, train_images=1000)
    for fragment in ("2 optimizers", "`nesterov` (SGD with Nesterov momentum 0.9), no weight decay, learning rate 0.05",
                     "`rmsprop` (RMSprop), no weight decay, learning rate 0.001", "1 epoch of 10 steps",
                     "batch size 100", "`step` schedule", "no label smoothing", "no augmentation"):
        assert fragment in text, (fragment, text)
    assert "adam" not in text.lower() and "cosine" not in text


def test_reference_setting_says_how_the_reference_measured():
    from mnist_lib import references

    group = references.for_dataset().group("mlp")
    run = {"epochs": 3, "batch_size": 64, "scheduler": "cosine", "lr_per_optimizer": {"sgd": 0.1, "adam": 0.001}}
    text = prose.optimizers.reference_setting_text(group, epochs=3, train_images=5500, params=run)
    assert text == ("The reference values are the maximum per-epoch test accuracy after 25 epochs on 60,000 training "
                    "images, from the reference report; this run's budget was 3 epochs on 5,500 training images. "
                    "The source does not state its recipe beyond what is named here, so the two may differ in any of "
                    "this run's settings: `batch_size` 64, `lr_per_optimizer` sgd 0.1, adam 0.001 and `scheduler` "
                    "cosine.")
    assert prose.optimizers.reference_setting_text({}, 1, 100, run).startswith("There are no reference values")
    fashion = prose.optimizers.reference_setting_text(references.for_dataset("fashion-mnist").group("mlp"), 3, 5500,
                                                      run)
    assert ("the mean test accuracy of 5 runs of scikit-learn's MLPClassifier with hidden layers of 100 and 10 ReLU "
            "units") in fashion
    assert ("on 60,000 training images, from the Fashion-MNIST paper's scikit-learn benchmark (training length not "
            "stated)") in fashion

"""Tests for mnist_lib.metrics: cross-checks against scikit-learn and hand-computed values."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import metrics as skm

from mnist_lib import metrics as M
from mnist_lib import stats

K = 10


def _mostly_right(n: int = 600, accuracy: float = 0.85, seed: int = 0):
    """Seeded labels, predictions and softmax-like probabilities of a decent classifier."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, K, n)
    wrong = rng.random(n) > accuracy
    y_pred = y_true.copy()
    # Shift by 1..9 so a "wrong" prediction is really wrong.
    y_pred[wrong] = (y_true[wrong] + rng.integers(1, K, wrong.sum())) % K
    logits = rng.normal(0.0, 1.0, (n, K))
    logits[np.arange(n), y_pred] += 3.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y_true, y_pred, probs


# --------------------------------------------------------------------------
# Accuracy and its interval (the interval itself: test_stats.py)
# --------------------------------------------------------------------------


def test_accuracy_with_interval_and_str():
    y_true = np.zeros(10000, dtype=int)
    y_pred = np.r_[np.zeros(9873, dtype=int), np.ones(127, dtype=int)]
    res = M.accuracy_with_interval(y_true, y_pred)
    assert (res.correct, res.n) == (9873, 10000)
    assert res.accuracy == pytest.approx(0.9873)
    assert (res.low, res.high) == stats.wilson_interval(9873, 10000)
    assert str(res) == "98.73% (95% CI 98.49\u201398.93%, 9873/10000)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.accuracy = 1.0  # type: ignore[misc]


def test_accuracy_with_interval_other_confidence_in_str():
    res = M.accuracy_with_interval([0, 1, 1, 1], [0, 1, 1, 0], confidence=0.9)
    assert str(res).startswith("75.00% (90% CI ")
    assert res.accuracy == 0.75


def test_accuracy_accepts_torch_tensors():
    y_true, y_pred, _ = _mostly_right(200)
    a = M.accuracy_with_interval(torch.from_numpy(y_true), torch.from_numpy(y_pred))
    b = M.accuracy_with_interval(y_true, y_pred)
    assert a == b


def test_accuracy_rejects_mismatched_and_empty():
    with pytest.raises(ValueError, match="same length"):
        M.accuracy_with_interval([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="at least one"):
        M.accuracy_with_interval([], [])
    with pytest.raises(ValueError, match="1-D"):
        M.accuracy_with_interval(np.zeros((2, 2), int), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match="integer"):
        M.accuracy_with_interval([0.5, 1.0], [0, 1])


# --------------------------------------------------------------------------
# Summary, per-class, confusion, report: cross-checks against scikit-learn
# --------------------------------------------------------------------------


def test_classification_summary_matches_sklearn():
    y_true, y_pred, probs = _mostly_right()
    s = M.classification_summary(y_true, y_pred, probs)
    assert set(s) == {
        "accuracy", "accuracy_low", "accuracy_high",
        "precision_macro", "recall_macro", "f1_macro",
        "precision_weighted", "recall_weighted", "f1_weighted",
        "auc_roc_ovr", "log_loss", "ece",
    }
    assert all(type(v) is float for v in s.values())
    assert 0.8 < s["accuracy"] < 0.9
    assert s["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert s["accuracy_low"] < s["accuracy"] < s["accuracy_high"]
    for avg in ("macro", "weighted"):
        assert s[f"precision_{avg}"] == pytest.approx(skm.precision_score(y_true, y_pred, average=avg))
        assert s[f"recall_{avg}"] == pytest.approx(skm.recall_score(y_true, y_pred, average=avg))
        assert s[f"f1_{avg}"] == pytest.approx(skm.f1_score(y_true, y_pred, average=avg))
    assert s["auc_roc_ovr"] == pytest.approx(
        skm.roc_auc_score(y_true, probs, multi_class="ovr", average="macro")
    )
    assert s["log_loss"] == pytest.approx(skm.log_loss(y_true, probs, labels=list(range(K))))
    assert s["ece"] == pytest.approx(M.calibration(y_true, probs).ece)


def test_classification_summary_accepts_torch_and_float32():
    y_true, y_pred, probs = _mostly_right(300, seed=1)
    s_np = M.classification_summary(y_true, y_pred, probs)
    s_t = M.classification_summary(
        torch.from_numpy(y_true), torch.from_numpy(y_pred), torch.from_numpy(probs.astype(np.float32))
    )
    for key in s_np:
        assert s_t[key] == pytest.approx(s_np[key], rel=1e-5, abs=1e-6)


def test_summary_auc_with_absent_class_is_mean_of_the_rest():
    y_true, y_pred, probs = _mostly_right(400, seed=2)
    keep = y_true != 3
    y_true, y_pred, probs = y_true[keep], y_pred[keep], probs[keep]
    s = M.classification_summary(y_true, y_pred, probs)
    expected = np.mean(
        [skm.roc_auc_score(y_true == c, probs[:, c]) for c in range(K) if c != 3]
    )
    assert s["auc_roc_ovr"] == pytest.approx(expected)
    assert np.isfinite(s["auc_roc_ovr"])


def test_summary_log_loss_clips_zero_probabilities():
    y_true = np.array([0, 1])
    y_pred = np.array([0, 0])
    probs = np.array([[1.0, 0.0], [1.0, 0.0]])
    s = M.classification_summary(y_true, y_pred, probs)
    # Second example: p(true) = 0 is clipped to 1e-15; first contributes log(1) = 0.
    assert s["log_loss"] == pytest.approx(-math.log(1e-15) / 2)


def test_summary_validates_probs():
    y_true, y_pred, probs = _mostly_right(50)
    with pytest.raises(ValueError, match="2-D"):
        M.classification_summary(y_true, y_pred, probs[:, 0])
    with pytest.raises(ValueError, match="rows"):
        M.classification_summary(y_true, y_pred, probs[:-1])
    with pytest.raises(ValueError, match="logits"):
        M.classification_summary(y_true, y_pred, np.log(probs))
    with pytest.raises(ValueError, match="same length"):
        M.classification_summary(y_true, y_pred[:-1], probs)
    with pytest.raises(ValueError, match="column"):
        M.classification_summary(y_true, y_pred, np.full((50, 5), 0.2))


def test_confusion_matches_sklearn():
    y_true, y_pred, _ = _mostly_right()
    cm = M.confusion(y_true, y_pred)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y_true, y_pred, labels=list(range(K))))
    assert cm.shape == (K, K) and cm.sum() == len(y_true)


def test_confusion_rows_are_true_and_labels_validated():
    cm = M.confusion([0, 0, 1], [1, 1, 1], n_classes=3)
    np.testing.assert_array_equal(cm, [[0, 2, 0], [0, 1, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match="0..2"):
        M.confusion([0, 3], [0, 1], n_classes=3)
    with pytest.raises(ValueError, match="n_classes"):
        M.confusion([0, 1], [0, 1], n_classes=0)


def test_per_class_metrics_matches_sklearn():
    y_true, y_pred, _ = _mostly_right()
    df = M.per_class_metrics(y_true, y_pred)
    prec, rec, f1, sup = skm.precision_recall_fscore_support(y_true, y_pred, labels=list(range(K)))
    assert list(df.index) == list(range(K))
    assert list(df.columns) == ["precision", "recall", "f1", "support", "accuracy"]
    np.testing.assert_allclose(df["precision"], prec)
    np.testing.assert_allclose(df["recall"], rec)
    np.testing.assert_allclose(df["f1"], f1)
    np.testing.assert_array_equal(df["support"], sup)
    np.testing.assert_allclose(df["accuracy"], df["recall"])


def test_per_class_metrics_undefined_ratios_are_nan():
    # Class 2 is never seen nor predicted; class 1 is present but never predicted.
    df = M.per_class_metrics([0, 0, 1], [0, 0, 0], n_classes=3)
    assert df.loc[0, "precision"] == pytest.approx(2 / 3)
    assert df.loc[1, "recall"] == 0.0 and np.isnan(df.loc[1, "precision"]) and df.loc[1, "f1"] == 0.0
    assert df.loc[2, "support"] == 0
    assert np.isnan(df.loc[2, "accuracy"]) and np.isnan(df.loc[2, "f1"])


def test_classification_report_frame():
    y_true, y_pred, _ = _mostly_right(300, seed=3)
    df = M.classification_report_frame(y_true, y_pred, digits=3)
    report = skm.classification_report(y_true, y_pred, output_dict=True)
    assert list(df.index) == [str(c) for c in range(K)] + ["accuracy", "macro avg", "weighted avg"]
    assert list(df.columns) == ["precision", "recall", "f1-score", "support"]
    assert df.loc["macro avg", "f1-score"] == round(report["macro avg"]["f1-score"], 3)
    assert df.loc["7", "precision"] == round(report["7"]["precision"], 3)
    assert df.loc["accuracy", "f1-score"] == round(report["accuracy"], 3)
    assert df.loc["accuracy", "support"] == 300
    assert df["support"].dtype == np.int64
    with pytest.raises(ValueError, match="digits"):
        M.classification_report_frame(y_true, y_pred, digits=-1)


# --------------------------------------------------------------------------
# Misses, confused pairs, best / worst class
# --------------------------------------------------------------------------


def test_find_misses_tiny_example():
    y_true = np.array([0, 1, 2, 1])
    y_pred = np.array([0, 2, 2, 0])
    probs = np.array(
        [[0.9, 0.05, 0.05], [0.1, 0.3, 0.6], [0.0, 0.0, 1.0], [0.7, 0.2, 0.1]]
    )
    df = M.find_misses(y_true, y_pred, probs)
    assert list(df.columns) == ["index", "true", "predicted", "confidence", "true_prob"]
    assert df["index"].tolist() == [1, 3]
    assert df["true"].tolist() == [1, 1]
    assert df["predicted"].tolist() == [2, 0]
    np.testing.assert_allclose(df["confidence"], [0.6, 0.7])
    np.testing.assert_allclose(df["true_prob"], [0.3, 0.2])


def test_find_misses_maps_and_sorts_by_dataset_index():
    y_true = np.array([0, 1, 2, 1])
    y_pred = np.array([1, 1, 0, 0])
    probs = np.array(
        [[0.4, 0.6, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.8, 0.2, 0.0]]
    )
    df = M.find_misses(y_true, y_pred, probs, indices=[900, 12, 40, 7])
    assert df["index"].tolist() == [7, 40, 900]
    assert df["true"].tolist() == [1, 2, 0]
    np.testing.assert_allclose(df["confidence"], [0.8, 0.5, 0.6])
    with pytest.raises(ValueError, match="indices"):
        M.find_misses(y_true, y_pred, probs, indices=[1, 2])


def test_find_misses_none_wrong_gives_empty_frame():
    df = M.find_misses([0, 1], [0, 1], np.eye(2))
    assert df.empty and list(df.columns) == ["index", "true", "predicted", "confidence", "true_prob"]


def test_most_confused_pairs_hand_made_matrix():
    cm = np.array(
        [
            [50, 3, 0, 7],
            [3, 40, 5, 0],
            [0, 7, 30, 1],
            [2, 0, 0, 60],
        ]
    )
    df = M.most_confused_pairs(cm, k=4)
    assert list(df.columns) == ["true", "predicted", "count", "true_total", "share_of_true"]
    # Tie at 7 broken by (true, predicted); tie at 3 likewise.
    assert list(zip(df["true"], df["predicted"], df["count"])) == [(0, 3, 7), (2, 1, 7), (1, 2, 5), (0, 1, 3)]
    np.testing.assert_allclose(df["share_of_true"], [7 / 60, 7 / 38, 5 / 48, 3 / 60])
    # Only 7 non-zero off-diagonal cells exist, and the diagonal never appears.
    all_pairs = M.most_confused_pairs(cm, k=100)
    assert len(all_pairs) == 7
    assert not (all_pairs["true"] == all_pairs["predicted"]).any()


def test_most_confused_pairs_validates():
    with pytest.raises(ValueError, match="square"):
        M.most_confused_pairs(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="k"):
        M.most_confused_pairs(np.eye(3), k=0)


def test_best_and_worst_class():
    # Class accuracies: 0 -> 1.0, 1 -> 0.5, 2 -> 1.0, 3 -> 0.5, 4 absent.
    y_true = [0, 0, 1, 1, 2, 3, 3]
    y_pred = [0, 0, 1, 0, 2, 3, 1]
    (best, best_acc), (worst, worst_acc) = M.best_and_worst_class(y_true, y_pred, n_classes=5)
    assert (best, best_acc) == (0, 1.0)
    assert (worst, worst_acc) == (1, 0.5)
    assert isinstance(best, int) and isinstance(worst_acc, float)


# --------------------------------------------------------------------------
# McNemar: the counts (the test itself: test_stats.py)
# --------------------------------------------------------------------------


def _mcnemar_data(b: int, c: int, both_right: int = 20, both_wrong: int = 5):
    """Labels and two models' predictions with exactly b and c discordant pairs."""
    n = b + c + both_right + both_wrong
    y_true = np.zeros(n, dtype=int)
    a_right = np.r_[np.ones(b), np.zeros(c), np.ones(both_right), np.zeros(both_wrong)].astype(bool)
    b_right = np.r_[np.zeros(b), np.ones(c), np.ones(both_right), np.zeros(both_wrong)].astype(bool)
    return y_true, np.where(a_right, 0, 1), np.where(b_right, 0, 2)


@pytest.mark.parametrize("b, c", [(0, 0), (3, 10), (12, 12), (13, 12), (30, 10), (20, 20)])
@pytest.mark.parametrize("exact", [None, True, False])
def test_mcnemar_counts_the_discordant_pairs_and_tests_them(b, c, exact):
    y_true, pa, pb = _mcnemar_data(b, c)
    assert M.mcnemar_test(y_true, pa, pb, exact) == stats.mcnemar(b, c, exact)
    assert M.mcnemar_test(torch.from_numpy(y_true), torch.from_numpy(pa), pb, exact) == stats.mcnemar(b, c, exact)
    # swapping the models swaps the counts
    assert M.mcnemar_test(y_true, pb, pa, exact) == stats.mcnemar(c, b, exact)


@pytest.mark.slow  # a fresh interpreter
def test_importing_the_metrics_loads_neither_scikit_learn_nor_scipy_stats():
    import subprocess
    import sys

    code = "import sys, mnist_lib.metrics; print(sorted(m for m in ('sklearn', 'scipy.stats') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_mcnemar_validates():
    with pytest.raises(ValueError, match="pred_b"):
        M.mcnemar_test([0, 1, 2], [0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="exact"):
        M.mcnemar_test([0], [0], [0], exact="yes")  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# Calibration and ROC
# --------------------------------------------------------------------------


def _probs_with_confidence(predicted: np.ndarray, conf: float) -> np.ndarray:
    """Rows whose argmax is ``predicted`` with probability ``conf``; the rest spread evenly."""
    n = len(predicted)
    probs = np.full((n, K), (1.0 - conf) / (K - 1))
    probs[np.arange(n), predicted] = conf
    return probs


def test_ece_perfectly_calibrated_is_zero():
    # 100 rows at confidence 0.8 of which 80 are right; 100 at 0.6 of which 60 are right.
    y_true = np.zeros(200, dtype=int)
    pred = np.r_[np.zeros(80), np.ones(20), np.zeros(60), np.ones(40)].astype(int)
    probs = np.r_[_probs_with_confidence(pred[:100], 0.8), _probs_with_confidence(pred[100:], 0.6)]
    res = M.calibration(y_true, probs, n_bins=10)
    assert res.ece == pytest.approx(0.0, abs=1e-12)
    assert res.bin_count.sum() == 200
    assert res.bin_count[8] == 100 and res.bin_count[6] == 100


def test_ece_overconfident_gives_known_gap():
    # Always 99% confident, right 70% of the time -> ECE = 0.29.
    y_true = np.zeros(100, dtype=int)
    pred = np.r_[np.zeros(70), np.ones(30)].astype(int)
    res = M.calibration(y_true, _probs_with_confidence(pred, 0.99))
    assert res.ece == pytest.approx(0.29)
    # Two bins: 200 at 0.95 with 75% right (gap 0.2), 100 at 0.55 with 55% right (gap 0).
    y_true = np.zeros(300, dtype=int)
    pred = np.r_[np.zeros(150), np.ones(50), np.zeros(55), np.ones(45)].astype(int)
    probs = np.r_[_probs_with_confidence(pred[:200], 0.95), _probs_with_confidence(pred[200:], 0.55)]
    assert M.calibration(y_true, probs).ece == pytest.approx(200 / 300 * 0.2)


def test_calibration_bins_layout_and_empty_bins():
    y_true = np.array([0, 0, 1])
    probs = np.array([[1.0, 0.0], [0.5, 0.5], [0.2, 0.8]])
    res = M.calibration(y_true, probs, n_bins=5)
    np.testing.assert_allclose(res.bin_edges, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    # 0.5 -> [0.4, 0.6); 0.8 and 1.0 -> the last bin [0.8, 1.0].
    np.testing.assert_array_equal(res.bin_count, [0, 0, 1, 0, 2])
    assert np.isnan(res.bin_confidence[[0, 1, 3]]).all() and np.isnan(res.bin_accuracy[0])
    assert res.bin_confidence[4] == pytest.approx(0.9)
    assert res.bin_accuracy[4] == 1.0 and res.bin_accuracy[2] == 1.0
    assert res.ece == pytest.approx(1 / 3 * 0.5 + 2 / 3 * 0.1)


def test_calibration_matches_brute_force_loop():
    y_true, _, probs = _mostly_right(500, seed=4)
    res = M.calibration(y_true, probs, n_bins=15)
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == y_true
    edges = np.linspace(0, 1, 16)
    ece = 0.0
    for i in range(15):
        hi_ok = conf <= edges[i + 1] if i == 14 else conf < edges[i + 1]
        in_bin = (conf >= edges[i]) & hi_ok
        if in_bin.any():
            ece += in_bin.mean() * abs(right[in_bin].mean() - conf[in_bin].mean())
    assert res.ece == pytest.approx(ece)
    assert res.ece > 0.0


def test_calibration_validates():
    with pytest.raises(ValueError, match="n_bins"):
        M.calibration([0], [[1.0, 0.0]], n_bins=0)
    with pytest.raises(ValueError, match="2-D"):
        M.calibration([0, 1], [0.3, 0.7])


def test_roc_curves_match_sklearn_and_handle_absent_class():
    y_true, _, probs = _mostly_right(300, seed=5)
    curves = M.roc_curves(y_true, probs)
    assert sorted(curves) == list(range(K))
    for c, (fpr, tpr, auc) in curves.items():
        exp_fpr, exp_tpr, _ = skm.roc_curve(y_true == c, probs[:, c])
        np.testing.assert_allclose(fpr, exp_fpr)
        np.testing.assert_allclose(tpr, exp_tpr)
        assert auc == pytest.approx(skm.roc_auc_score(y_true == c, probs[:, c]))
    keep = y_true != 4
    curves = M.roc_curves(y_true[keep], probs[keep])
    fpr, tpr, auc = curves[4]
    assert fpr.size == 0 and tpr.size == 0 and np.isnan(auc)
    assert np.isfinite(curves[5][2])


# --------------------------------------------------------------------------
# Convergence helpers
# --------------------------------------------------------------------------


def test_first_epoch_reaching():
    accs = [0.90, 0.95, 0.97, 0.96, 0.99]
    assert M.first_epoch_reaching(accs, 0.97) == 3  # equality counts
    assert M.first_epoch_reaching(accs, 0.5) == 1
    assert M.first_epoch_reaching(accs, 0.995) is None
    assert M.first_epoch_reaching([], 0.9) is None
    assert M.first_epoch_reaching([float("nan"), 0.98], 0.9) == 2
    assert M.first_epoch_reaching(np.array(accs), 0.96) == 3
    with pytest.raises(ValueError, match="target"):
        M.first_epoch_reaching(accs, float("nan"))


def test_convergence_rank():
    ranks = M.convergence_rank({"mlp": 5, "cnn": 2, "lenet": 2, "tiny": None, "resnet": 3, "linear": None})
    assert ranks == {"cnn": 1, "lenet": 1, "resnet": 3, "mlp": 4, "tiny": 5, "linear": 5}
    assert list(ranks) == ["cnn", "lenet", "resnet", "mlp", "tiny", "linear"]
    assert M.convergence_rank({}) == {}
    assert M.convergence_rank({"a": None, "b": None}) == {"a": 1, "b": 1}
    assert M.convergence_rank({"a": 1}) == {"a": 1}
    # Agrees with pandas' "min" ranking, None treated as +inf.
    values = {"a": 4, "b": 1, "c": 4, "d": None, "e": 2}
    expected = pd.Series({k: (np.inf if v is None else v) for k, v in values.items()}).rank(method="min")
    assert M.convergence_rank(values) == {k: int(r) for k, r in expected.items()}
    with pytest.raises(ValueError, match="positive integer"):
        M.convergence_rank({"a": 0})


# --------------------------------------------------------------------------
# Class names (other datasets)
# --------------------------------------------------------------------------

NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def test_tables_and_rankings_name_the_classes():
    y = np.repeat(np.arange(10), 10)
    p = y.copy()
    p[y == 6] = 0  # every Shirt read as T-shirt/top
    p[np.flatnonzero(y == 4)[:3]] = 2
    per_class = M.per_class_metrics(y, p, class_names=NAMES)
    assert list(per_class.index) == NAMES and per_class.index.name == "class"
    assert per_class.loc["Shirt", "recall"] == 0 and per_class.loc["Coat", "recall"] == 0.7
    (best, best_acc), (worst, worst_acc) = M.best_and_worst_class(y, p, class_names=NAMES)
    assert (best, worst, worst_acc) == ("T-shirt/top", "Shirt", 0.0)  # ties go to the lowest label
    assert M.best_and_worst_class(y, p)[1][0] == 6  # without names: the label, as before
    pairs = M.most_confused_pairs(M.confusion(y, p), k=2, class_names=NAMES)
    assert pairs[["true", "predicted", "count"]].values.tolist() == [["Shirt", "T-shirt/top", 10], ["Coat", "Pullover", 3]]
    report = M.classification_report_frame(y, p, class_names=NAMES)
    assert list(report.index[:10]) == NAMES and report.loc["Shirt", "recall"] == 0
    probs = np.eye(10)[p] * 0.9 + 0.01
    misses = M.find_misses(y, p, probs, class_names=NAMES)
    assert set(misses["true"]) == {"Shirt", "Coat"} and set(misses["predicted"]) == {"T-shirt/top", "Pullover"}
    roc = M.roc_curves(y, probs, class_names=NAMES)
    assert list(roc) == NAMES and roc["Trouser"][2] == pytest.approx(1.0)
    assert M.class_name(9, NAMES) == "Ankle boot" and M.class_name(9, None) == "9"
    with pytest.raises(ValueError, match="class_names has 2 entries for 10 classes"):
        M.per_class_metrics(y, p, class_names=NAMES[:2])

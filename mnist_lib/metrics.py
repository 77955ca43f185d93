"""Classification metrics for 10-class predictions (MNIST, Fashion-MNIST, an idx folder).

Everything here works on plain arrays: ``y_true`` and ``y_pred`` are 1-D
integer labels of length ``n`` and ``probs`` is an ``(n, k)`` array of class
probabilities whose rows sum to 1. Torch tensors are accepted and converted to
numpy. Results are plain data (floats, small frozen dataclasses, pandas
DataFrames) so the notebooks decide how to present them; accuracies are
fractions in ``[0, 1]``, never percentages. The functions whose results a
reader sees by class take ``class_names`` (label ``k`` is ``class_names[k]``)
and then name classes instead of numbering them.

The module also holds expected calibration error, the counts McNemar's test
compares two models by, and helpers that rank models by how quickly they reach a
target accuracy. The inference itself (the Wilson interval of an accuracy,
McNemar's p-value) is in :mod:`mnist_lib.stats`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mnist_lib import stats
from mnist_lib.stats import wilson_interval

__all__ = [
    "AccuracyResult",
    "CalibrationResult",
    "accuracy_with_interval",
    "best_and_worst_class",
    "calibration",
    "class_name",
    "classification_report_frame",
    "classification_summary",
    "confusion",
    "convergence_rank",
    "find_misses",
    "first_epoch_reaching",
    "mcnemar_test",
    "most_confused_pairs",
    "per_class_metrics",
    "roc_curves",
]


def _skm():
    """scikit-learn's metrics, imported when first needed: importing them (and the scipy.stats they
    load) takes about 1.5 s, which a notebook that never calls them should not pay."""
    from sklearn import metrics

    return metrics


# Keeps log(p) finite when a model puts (numerically) zero mass on the truth.
_LOG_LOSS_EPS = 1e-15
# Loose enough for float32 softmax outputs, tight enough to catch logits.
_ROW_SUM_ATOL = 1e-3


# --------------------------------------------------------------------------
# Input conversion and validation
# --------------------------------------------------------------------------


def _to_numpy(x: Any) -> np.ndarray:
    """Return ``x`` as a numpy array, detaching and moving torch tensors."""
    # Duck-typed so that importing this module never imports torch.
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _labels(x: Any, name: str) -> np.ndarray:
    """Return ``x`` as a 1-D int64 array of non-negative class labels."""
    arr = _to_numpy(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n,), got shape {arr.shape}")
    if arr.dtype.kind == "b":
        raise ValueError(f"{name} must hold integer class labels, got booleans")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer class labels, got non-integer floats")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must hold labels >= 0, got {int(arr.min())}")
    return arr


def _pair(y_true: Any, y_pred: Any, pred_name: str = "y_pred") -> tuple[np.ndarray, np.ndarray]:
    """Convert and check a pair of equally long label arrays."""
    t = _labels(y_true, "y_true")
    p = _labels(y_pred, pred_name)
    if t.shape[0] != p.shape[0]:
        raise ValueError(
            f"y_true and {pred_name} must have the same length, got {t.shape[0]} and {p.shape[0]}"
        )
    return t, p


def _probs(probs: Any, n: int) -> np.ndarray:
    """Return ``probs`` as a float64 ``(n, k)`` array whose rows sum to 1."""
    arr = _to_numpy(probs)
    if arr.ndim != 2:
        raise ValueError(f"probs must be 2-D (n, n_classes), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"probs must have one row per label: expected {n} rows, got {arr.shape[0]}")
    if arr.shape[1] < 2:
        raise ValueError(f"probs must have at least 2 columns (classes), got {arr.shape[1]}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError("probs must be finite (no nan or inf)")
    if np.any(arr < 0) or np.any(arr > 1 + _ROW_SUM_ATOL):
        raise ValueError("probs must lie in [0, 1]; pass softmax outputs, not logits")
    if n and not np.allclose(arr.sum(axis=1), 1.0, atol=_ROW_SUM_ATOL):
        raise ValueError("each row of probs must sum to 1; pass softmax outputs, not logits")
    return arr


def _check_n_classes(n_classes: int, *label_arrays: np.ndarray) -> int:
    """Check ``n_classes`` is a positive int covering every label given."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    for arr in label_arrays:
        if arr.size and arr.max() >= n_classes:
            raise ValueError(
                f"labels must be in 0..{n_classes - 1} for n_classes={n_classes}, "
                f"got {int(arr.max())}"
            )
    return int(n_classes)


def _names(class_names: Sequence[str] | None, k: int) -> list[str] | None:
    """``class_names`` as a list of ``k`` strings (None stays None), else ValueError."""
    if class_names is None:
        return None
    names = [str(c) for c in class_names]
    if len(names) != k:
        raise ValueError(f"class_names has {len(names)} entries for {k} classes")
    return names


def class_name(label: int, class_names: Sequence[str] | None) -> str:
    """The name of ``label`` (its number as text when there are no names)."""
    return str(label) if class_names is None else str(class_names[int(label)])


def _check_labels_fit_probs(y: np.ndarray, k: int) -> None:
    if y.size and y.max() >= k:
        raise ValueError(f"label {int(y.max())} has no column in probs with {k} columns (0..{k - 1})")


# --------------------------------------------------------------------------
# Accuracy and its uncertainty
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class AccuracyResult:
    """Accuracy with its Wilson confidence interval.

    ``accuracy``, ``low`` and ``high`` are fractions; ``correct`` out of ``n``
    were right; ``confidence`` is the interval's level.
    """

    accuracy: float
    low: float
    high: float
    correct: int
    n: int
    confidence: float = 0.95

    def __str__(self) -> str:
        level = f"{self.confidence * 100:g}%"
        return (
            f"{self.accuracy * 100:.2f}% ({level} CI {self.low * 100:.2f}\u2013"
            f"{self.high * 100:.2f}%, {self.correct}/{self.n})"
        )


def accuracy_with_interval(y_true: Any, y_pred: Any, confidence: float = 0.95) -> AccuracyResult:
    """Accuracy of ``y_pred`` against ``y_true`` with its Wilson interval
    (:func:`mnist_lib.stats.wilson_interval`).

    Raises ValueError on empty input or mismatched lengths.
    """
    t, p = _pair(y_true, y_pred)
    n = int(t.shape[0])
    if n == 0:
        raise ValueError("accuracy needs at least one example, got empty arrays")
    correct = int(np.count_nonzero(t == p))
    low, high = wilson_interval(correct, n, confidence)
    return AccuracyResult(
        accuracy=correct / n, low=low, high=high, correct=correct, n=n, confidence=float(confidence)
    )


# --------------------------------------------------------------------------
# Summaries, per-class metrics, confusion
# --------------------------------------------------------------------------


def _ovr_auc_per_class(y_true: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """One-vs-rest ROC AUC per column of ``probs``; nan where undefined."""
    k = probs.shape[1]
    out = np.full(k, np.nan)
    for c in range(k):
        positives = y_true == c
        # AUC needs both positives and negatives for the class.
        if positives.all() or not positives.any():
            continue
        out[c] = _skm().roc_auc_score(positives, probs[:, c])
    return out


def classification_summary(y_true: Any, y_pred: Any, probs: Any) -> dict[str, float]:
    """Headline metrics for one model's predictions.

    Macro/weighted precision, recall and F1 average over the classes present in
    ``y_true`` or ``y_pred`` (scikit-learn's convention; 0/0 counts as 0).
    ``auc_roc_ovr`` is the mean one-vs-rest AUC over classes for which it is
    defined (a class absent from ``y_true`` is skipped). ``log_loss`` clips
    probabilities to ``[1e-15, 1]``. ``ece`` uses :func:`calibration` with its
    default bins.

    Returns
    -------
    dict
        Keys ``accuracy``, ``accuracy_low``, ``accuracy_high``,
        ``precision_macro``, ``recall_macro``, ``f1_macro``,
        ``precision_weighted``, ``recall_weighted``, ``f1_weighted``,
        ``auc_roc_ovr``, ``log_loss``, ``ece``; all plain floats.
    """
    t, p = _pair(y_true, y_pred)
    pr = _probs(probs, t.shape[0])
    _check_labels_fit_probs(t, pr.shape[1])
    acc = accuracy_with_interval(t, p)

    out: dict[str, float] = {
        "accuracy": acc.accuracy,
        "accuracy_low": acc.low,
        "accuracy_high": acc.high,
    }
    for average in ("macro", "weighted"):
        prec, rec, f1, _ = _skm().precision_recall_fscore_support(
            t, p, average=average, zero_division=0
        )
        out[f"precision_{average}"] = float(prec)
        out[f"recall_{average}"] = float(rec)
        out[f"f1_{average}"] = float(f1)

    aucs = _ovr_auc_per_class(t, pr)
    out["auc_roc_ovr"] = float(np.nanmean(aucs)) if np.any(np.isfinite(aucs)) else float("nan")

    p_true = np.clip(pr[np.arange(t.shape[0]), t], _LOG_LOSS_EPS, 1.0)
    out["log_loss"] = float(-np.mean(np.log(p_true)))
    out["ece"] = float(calibration(t, pr).ece)
    return out


def confusion(y_true: Any, y_pred: Any, n_classes: int = 10) -> np.ndarray:
    """Confusion matrix of counts, rows = true class, columns = predicted class."""
    t, p = _pair(y_true, y_pred)
    k = _check_n_classes(n_classes, t, p)
    flat = np.bincount(t * k + p, minlength=k * k)
    return flat.reshape(k, k).astype(np.int64)


def per_class_metrics(y_true: Any, y_pred: Any, n_classes: int = 10,
                      class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Precision, recall, F1, support and accuracy for every class.

    Index is the class ``0..n_classes-1``, or its name when ``class_names`` are
    given (index name ``class`` either way). ``accuracy`` is the per-class
    accuracy, i.e. recall. Undefined ratios are nan rather than 0: precision of
    a class never predicted, recall of a class with no support, F1 of a class
    that is neither present nor predicted.
    """
    cm = confusion(y_true, y_pred, n_classes)
    names = _names(class_names, cm.shape[0])
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, np.nan)
        recall = np.where(support > 0, tp / support, np.nan)
        # 2TP / (2TP + FP + FN) stays defined when only one of P and R is.
        f1_denom = support + predicted
        f1 = np.where(f1_denom > 0, 2.0 * tp / f1_denom, np.nan)
    frame = pd.DataFrame(
        {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support.astype(np.int64),
            "accuracy": recall,
        },
        index=pd.RangeIndex(cm.shape[0], name="class") if names is None else pd.Index(names, name="class"),
    )
    return frame


def classification_report_frame(y_true: Any, y_pred: Any, digits: int = 4,
                                class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """scikit-learn's classification report as a DataFrame.

    One row per class label (as a string; with ``class_names``, one row per
    class by name, every class listed), then ``accuracy``, ``macro avg`` and
    ``weighted avg``; columns ``precision``, ``recall``, ``f1-score``,
    ``support``. As in the text report, the ``accuracy`` row holds the accuracy
    in ``f1-score`` and the total count in ``support``. Floats are rounded to
    ``digits`` decimals.
    """
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 0:
        raise ValueError(f"digits must be a non-negative integer, got {digits!r}")
    t, p = _pair(y_true, y_pred)
    if t.shape[0] == 0:
        raise ValueError("classification report needs at least one example, got empty arrays")
    names = _names(class_names, len(class_names)) if class_names is not None else None
    if names is not None and max(int(t.max()), int(p.max())) >= len(names):
        raise ValueError(f"labels must be in 0..{len(names) - 1} for {len(names)} class names")
    labeled = {} if names is None else {"labels": list(range(len(names))), "target_names": names}
    report = _skm().classification_report(t, p, output_dict=True, zero_division=0, **labeled)
    columns = ["precision", "recall", "f1-score", "support"]
    rows: dict[str, dict[str, float]] = {}
    for key, value in report.items():
        if isinstance(value, dict):
            rows[str(key)] = {c: value[c] for c in columns}
        else:
            # "accuracy" is a bare float in output_dict; lay it out like the text report.
            rows[str(key)] = {
                "precision": np.nan,
                "recall": np.nan,
                "f1-score": value,
                "support": float(t.shape[0]),
            }
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    frame[["precision", "recall", "f1-score"]] = frame[["precision", "recall", "f1-score"]].round(
        int(digits)
    )
    frame["support"] = frame["support"].round().astype(np.int64)
    return frame


# --------------------------------------------------------------------------
# Errors: misclassified examples, confused pairs, best / worst class
# --------------------------------------------------------------------------


def find_misses(
    y_true: Any, y_pred: Any, probs: Any, indices: Any | None = None,
    class_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Table of misclassified examples.

    Parameters
    ----------
    y_true, y_pred : array-like (n,)
    probs : array-like (n, k)
    indices : array-like (n,), optional
        Dataset index of each position, for when the evaluated set is a subset;
        defaults to the positions ``0..n-1``.

    Returns
    -------
    DataFrame
        Columns ``index``, ``true``, ``predicted``, ``confidence`` (probability
        of the predicted class) and ``true_prob``, sorted by ``index``;
        ``true`` and ``predicted`` hold class names when ``class_names`` are given.
    """
    t, p = _pair(y_true, y_pred)
    n = t.shape[0]
    pr = _probs(probs, n)
    _check_labels_fit_probs(t, pr.shape[1])
    _check_labels_fit_probs(p, pr.shape[1])
    if indices is None:
        idx = np.arange(n, dtype=np.int64)
    else:
        idx = _labels(indices, "indices")
        if idx.shape[0] != n:
            raise ValueError(f"indices must have one entry per label: expected {n}, got {idx.shape[0]}")
    pos = np.flatnonzero(t != p)
    names = _names(class_names, pr.shape[1])
    frame = pd.DataFrame(
        {
            "index": idx[pos],
            "true": t[pos] if names is None else [names[c] for c in t[pos]],
            "predicted": p[pos] if names is None else [names[c] for c in p[pos]],
            "confidence": pr[pos, p[pos]],
            "true_prob": pr[pos, t[pos]],
        }
    )
    return frame.sort_values("index", kind="stable").reset_index(drop=True)


def most_confused_pairs(cm: Any, k: int = 5, class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """The ``k`` most frequent off-diagonal cells of a confusion matrix.

    Only cells with a non-zero count are listed, so fewer than ``k`` rows may
    come back. Sorted by count (descending), ties by ``(true, predicted)``.

    Returns
    -------
    DataFrame
        Columns ``true``, ``predicted``, ``count``, ``true_total`` (the examples of the true
        class) and ``share_of_true`` (count / true_total); ``true``
        and ``predicted`` hold class names when ``class_names`` are given.
    """
    m = _to_numpy(cm)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"cm must be a square 2-D matrix, got shape {m.shape}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if np.any(m < 0):
        raise ValueError("cm must hold non-negative counts")
    rows, cols = np.nonzero(m)
    off = rows != cols
    rows, cols = rows[off], cols[off]
    counts = m[rows, cols]
    # lexsort sorts by its last key first: count desc, then true, then predicted.
    order = np.lexsort((cols, rows, -counts))[: int(k)]
    rows, cols, counts = rows[order], cols[order], counts[order]
    row_totals = m.sum(axis=1)[rows]
    names = _names(class_names, m.shape[0])
    return pd.DataFrame(
        {
            "true": rows.astype(np.int64) if names is None else pd.Series([names[r] for r in rows], dtype=object),
            "predicted": cols.astype(np.int64) if names is None else pd.Series([names[c] for c in cols],
                                                                                 dtype=object),
            "count": counts.astype(np.int64),
            "true_total": row_totals.astype(np.int64),
            "share_of_true": counts / row_totals,
        }
    )


def best_and_worst_class(
    y_true: Any, y_pred: Any, n_classes: int = 10, class_names: Sequence[str] | None = None
) -> tuple[tuple[Any, float], tuple[Any, float]]:
    """Classes with the highest and lowest per-class accuracy (recall), as labels
    or, with ``class_names``, as names.

    Classes with no examples in ``y_true`` are ignored; ties go to the lowest
    label.

    Returns
    -------
    ((best_class, best_accuracy), (worst_class, worst_accuracy))
    """
    acc = per_class_metrics(y_true, y_pred, n_classes)["accuracy"].to_numpy()
    if not np.any(np.isfinite(acc)):
        raise ValueError("no class has any example in y_true; cannot rank classes")
    # nanargmax / nanargmin return the first index on ties, i.e. the lowest digit.
    best = int(np.nanargmax(acc))
    worst = int(np.nanargmin(acc))
    names = _names(class_names, acc.shape[0])
    if names is not None:
        return (names[best], float(acc[best])), (names[worst], float(acc[worst]))
    return (best, float(acc[best])), (worst, float(acc[worst]))


# --------------------------------------------------------------------------
# Comparing two models: McNemar's test
# --------------------------------------------------------------------------


def mcnemar_test(
    y_true: Any, pred_a: Any, pred_b: Any, exact: bool | None = None
) -> stats.McNemarResult:
    """McNemar's test of whether two models have the same error rate on the same examples.

    Counts ``b`` (A right, B wrong) and ``c`` (A wrong, B right) from the
    predictions; :func:`mnist_lib.stats.mcnemar` tests them (``exact`` as there).
    """
    t, a = _pair(y_true, pred_a, "pred_a")
    _, bb = _pair(t, pred_b, "pred_b")
    a_right = a == t
    b_right = bb == t
    b = int(np.count_nonzero(a_right & ~b_right))
    c = int(np.count_nonzero(~a_right & b_right))
    return stats.mcnemar(b, c, exact)


# --------------------------------------------------------------------------
# Calibration and ROC
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationResult:
    """Reliability-diagram data and expected calibration error.

    ``bin_edges`` has ``n_bins + 1`` entries; the per-bin arrays have
    ``n_bins``. Empty bins have nan confidence and accuracy and a count of 0.
    """

    ece: float
    bin_edges: np.ndarray
    bin_confidence: np.ndarray
    bin_accuracy: np.ndarray
    bin_count: np.ndarray


def calibration(y_true: Any, probs: Any, n_bins: int = 15) -> CalibrationResult:
    """Bin top-1 confidence into equal-width bins and compute ECE.

    Confidence is the maximum probability of each row and a prediction is
    correct when its argmax equals ``y_true``. Bins are ``[lo, hi)`` except the
    last, which also includes 1.0. ECE is
    ``sum(count / n * |accuracy - confidence|)`` over non-empty bins.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    t = _labels(y_true, "y_true")
    pr = _probs(probs, t.shape[0])
    _check_labels_fit_probs(t, pr.shape[1])
    n = t.shape[0]
    if n == 0:
        raise ValueError("calibration needs at least one example, got empty arrays")

    confidence = pr.max(axis=1)
    correct = (pr.argmax(axis=1) == t).astype(np.float64)
    # Rounding makes decimal edges exact (linspace gives 0.6000000000000001 for
    # 10 bins), so a confidence of exactly 0.6 lands in [0.6, 0.7) as documented.
    edges = np.round(np.linspace(0.0, 1.0, int(n_bins) + 1), 12)
    # searchsorted against the same edges keeps bin membership consistent with
    # bin_edges, which floor(conf * n_bins) does not always do in floating point.
    bin_idx = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, n_bins - 1)

    count = np.bincount(bin_idx, minlength=n_bins).astype(np.int64)
    conf_sum = np.bincount(bin_idx, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(bin_idx, weights=correct, minlength=n_bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        bin_conf = np.where(count > 0, conf_sum / count, np.nan)
        bin_acc = np.where(count > 0, acc_sum / count, np.nan)
    filled = count > 0
    ece = float(np.sum(count[filled] / n * np.abs(bin_acc[filled] - bin_conf[filled])))
    return CalibrationResult(
        ece=ece, bin_edges=edges, bin_confidence=bin_conf, bin_accuracy=bin_acc, bin_count=count
    )


def roc_curves(y_true: Any, probs: Any,
               class_names: Sequence[str] | None = None) -> dict[Any, tuple[np.ndarray, np.ndarray, float]]:
    """One-vs-rest ROC curve for every column (class) of ``probs``.

    Returns
    -------
    dict
        ``{class: (fpr, tpr, auc)}`` for every class ``0..k-1`` (keyed by name
        when ``class_names`` are given, in label order). A class with
        no positives or no negatives in ``y_true`` gets empty arrays and a nan
        AUC, so callers can index every class without special cases.
    """
    t = _labels(y_true, "y_true")
    pr = _probs(probs, t.shape[0])
    _check_labels_fit_probs(t, pr.shape[1])
    names = _names(class_names, pr.shape[1])
    out: dict[Any, tuple[np.ndarray, np.ndarray, float]] = {}
    for c in range(pr.shape[1]):
        key = c if names is None else names[c]
        positives = t == c
        if positives.all() or not positives.any():
            out[key] = (np.array([], dtype=np.float64), np.array([], dtype=np.float64), float("nan"))
            continue
        fpr, tpr, _ = _skm().roc_curve(positives, pr[:, c])
        out[key] = (fpr, tpr, float(_skm().auc(fpr, tpr)))
    return out


# --------------------------------------------------------------------------
# Convergence: how fast models reach a target
# --------------------------------------------------------------------------


def first_epoch_reaching(accuracies: Sequence[float], target: float) -> int | None:
    """1-based epoch at which ``accuracies`` first reaches ``target`` (``>=``).

    ``accuracies`` and ``target`` must use the same units (fractions
    throughout this library). Returns None if the target is never reached;
    nan values never count as reaching it.
    """
    values = _to_numpy(accuracies)
    if values.ndim != 1:
        raise ValueError(f"accuracies must be a 1-D sequence, got shape {values.shape}")
    if not np.isfinite(target):
        raise ValueError(f"target must be a finite number, got {target!r}")
    for epoch, value in enumerate(values.astype(np.float64), start=1):
        if value >= target:
            return epoch
    return None


def convergence_rank(values: dict[str, int | None]) -> dict[str, int]:
    """Rank models by the first epoch at which they reached a target.

    Earlier is better (rank 1). Ties share the lowest rank of the group
    (pandas' ``"min"`` method), and every None (never reached) shares the rank
    after all the models that did. The result is ordered by rank, keeping the
    input order within a rank.
    """
    if not isinstance(values, dict):
        raise ValueError(f"values must be a dict of name -> epoch or None, got {type(values).__name__}")
    for name, epoch in values.items():
        if epoch is None:
            continue
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 1:
            raise ValueError(f"epoch for {name!r} must be a positive integer or None, got {epoch!r}")
    reached = [int(e) for e in values.values() if e is not None]
    n_reached = len(reached)
    ranks: dict[str, int] = {}
    for name, epoch in values.items():
        if epoch is None:
            ranks[name] = n_reached + 1
        else:
            ranks[name] = 1 + sum(1 for other in reached if other < epoch)
    return dict(sorted(ranks.items(), key=lambda item: item[1]))

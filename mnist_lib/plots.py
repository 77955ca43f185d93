"""Every figure of the report series (MNIST, Fashion-MNIST or an idx folder).

Each function takes plain data (numpy arrays, torch tensors for images, or
pandas DataFrames) and returns a :class:`matplotlib.figure.Figure`; none calls
``plt.show()``. Styling (seaborn "whitegrid", report-sized fonts) is applied
inside a context per call, so importing or using this module never changes
global matplotlib state. Figures are 8-12 inches wide so they read at the
width of an HTML report. Functions that show classes take ``class_names``
(label ``k`` is ``class_names[k]``; default: the labels themselves) and, where
an axis names the kind of class, ``noun`` ("digit" by default).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

__all__ = [
    "image_grid",
    "examples_per_digit",
    "class_distribution",
    "mean_images",
    "pixel_histogram",
    "normalization_effect",
    "augmentation_preview",
    "learning_curves",
    "compare_curves",
    "confusion_heatmap",
    "confusion_grid",
    "prediction_grid",
    "misses_gallery",
    "roc_curves_plot",
    "reliability_diagram",
    "feature_maps",
    "kernel_grid",
    "output_grid",
    "saliency_plot",
    "metric_bar",
    "lr_sweep_plot",
    "metric_line",
    "per_class_bar",
    "sweep_strip",
    "paired_differences",
]

_MAX_WIDTH = 12.0
_RC = {
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 13,
    "image.interpolation": "nearest",
}
_HISTORY_COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
_WRONG_COLOR = "tab:red"
_RIGHT_COLOR = "black"

ArrayLike = Any  # numpy array, torch tensor or nested sequence


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


# seaborn's "whitegrid" axes style (``seaborn.axes_style("whitegrid")``, which the tests compare with
# this), written out so that a report that draws no seaborn plot does not import seaborn (0.9 s: it
# imports scipy.stats). Without its default colormap ("rocket", which exists only once seaborn is
# imported): every image here names its colormap.
_WHITEGRID = {
    "figure.facecolor": "white", "axes.labelcolor": ".15", "xtick.direction": "out", "ytick.direction": "out",
    "xtick.color": ".15", "ytick.color": ".15", "axes.axisbelow": True, "grid.linestyle": "-", "text.color": ".15",
    "font.family": ["sans-serif"],
    "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "Bitstream Vera Sans", "sans-serif"],
    "lines.solid_capstyle": "round", "patch.edgecolor": "w", "patch.force_edgecolor": True,
    "xtick.top": False, "ytick.right": False, "axes.grid": True, "axes.facecolor": "white", "axes.edgecolor": ".8",
    "grid.color": ".8", "axes.spines.left": True, "axes.spines.bottom": True, "axes.spines.right": True,
    "axes.spines.top": True, "xtick.bottom": False, "ytick.left": False,
}


@contextmanager
def _style() -> Iterator[None]:
    """Seaborn's whitegrid style plus report font sizes, for the duration of one figure."""
    with plt.rc_context(_WHITEGRID), plt.rc_context(_RC):
        yield


def _seaborn():
    """seaborn, imported by the plots that draw with it (bars, lines, strips, boxes)."""
    import seaborn

    return seaborn


def _heatmap(ax: Axes, values: np.ndarray, annot: np.ndarray, vmax: float | None, names: Sequence[str],
             fontsize: float, cbar_label: str | None) -> None:
    """An annotated heatmap like ``seaborn.heatmap(..., cmap="Blues", square=True, vmin=0,
    linewidths=0.5, linecolor="white")``: first row at the top, a tick per cell, each number in
    dark grey on light cells and white on dark ones."""
    k = values.shape[0]
    mesh = ax.pcolormesh(values, cmap="Blues", vmin=0, vmax=vmax if vmax is not None else values.max(),
                         edgecolors="white", linewidth=0.5)
    ax.set(xlim=(0, k), ylim=(k, 0), aspect="equal")
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    centers = np.arange(k) + 0.5
    ax.set_xticks(centers, names)
    ax.set_yticks(centers, names)
    for (row, col), value in np.ndenumerate(values):
        r, g, b = to_rgb(mesh.cmap(mesh.norm(value)))
        lum = 0.2126 * _linear(r) + 0.7152 * _linear(g) + 0.0722 * _linear(b)
        ax.text(col + 0.5, row + 0.5, annot[row, col], ha="center", va="center", fontsize=fontsize,
                color=".15" if lum > 0.408 else "w")
    if cbar_label is not None:
        colorbar = ax.figure.colorbar(mesh, ax=ax)
        colorbar.set_label(cbar_label)
        colorbar.outline.set_visible(False)


def _linear(channel: float) -> float:
    """An sRGB channel in linear light (for relative luminance)."""
    return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4


def _as_numpy(x: ArrayLike) -> np.ndarray:
    """Convert a tensor / sequence to a numpy array without importing torch."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _to_images(images: ArrayLike, name: str = "images") -> np.ndarray:
    """Return images as ``(n, H, W)``; accepts ``(n, H, W)``, ``(n, 1, H, W)`` or ``(H, W)``."""
    arr = _as_numpy(images)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(
            f"{name} must have shape (n, H, W) or (n, 1, H, W), got {arr.shape}"
        )
    if len(arr) == 0:
        raise ValueError(f"{name} is empty")
    return arr


def _to_1d(x: ArrayLike, name: str) -> np.ndarray:
    """Flatten to a non-empty 1-D numpy array."""
    arr = _as_numpy(x).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    return arr


def _require_columns(df: pd.DataFrame, columns: Sequence[str], name: str = "df") -> None:
    """Raise ValueError unless ``df`` is a DataFrame holding every column."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{name} is missing columns {missing}; it has {list(df.columns)}"
        )


def _label(column: str) -> str:
    """Human axis label for a column name such as ``val_accuracy``."""
    words = column.replace("_", " ").split()
    mapped = {"val": "validation", "lr": "learning rate", "acc": "accuracy"}
    text = " ".join(mapped.get(w, w) for w in words)
    return text[:1].upper() + text[1:]


def _is_accuracy(column: str) -> bool:
    return "accuracy" in column or column.endswith("_acc")


def _cell_figsize(nrows: int, ncols: int, max_cell: float = 2.0, title_lines: int = 0,
                  suptitle: bool = True) -> tuple[float, float]:
    """Figure size for a grid of square image cells capped at the report width."""
    cell = min(max_cell, _MAX_WIDTH / ncols)
    height = nrows * (cell + 0.18 * title_lines) + (0.5 if suptitle else 0.0)
    return ncols * cell, height


def _hide_frame(ax: Axes) -> None:
    """Image cell: no ticks, no grid, no spines (pixel coordinates mean nothing here)."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _image_cells(fig: Figure, axes: np.ndarray, n: int) -> list[Axes]:
    """First ``n`` axes of a grid; the unused trailing cells are removed."""
    flat = list(axes.flat)
    for ax in flat[n:]:
        fig.delaxes(ax)
    return flat[:n]


def _mean_std(values: np.ndarray, block: int = 1 << 20) -> tuple[float, float]:
    """Mean and population std in float64, blockwise so 47M uint8 pixels stay cheap."""
    flat = values.reshape(-1)
    n = flat.size
    total = 0.0
    for i in range(0, n, block):
        total += float(flat[i:i + block].sum(dtype=np.float64))
    mean = total / n
    sq = 0.0
    for i in range(0, n, block):
        d = flat[i:i + block].astype(np.float64) - mean
        sq += float(np.dot(d, d))
    return mean, math.sqrt(sq / n)


def _value_range(values: np.ndarray) -> tuple[float, float, str]:
    """Histogram range and a label describing the pixel scale."""
    lo, hi = float(values.min()), float(values.max())
    if lo >= 0 and hi <= 1:
        return 0.0, 1.0, "Pixel value (0-1 scale)"
    if lo >= 0 and hi <= 255:
        return 0.0, 255.0, "Pixel value (0-255 scale)"
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi, "Value"


def _histogram(ax: Axes, values: np.ndarray, bins: int, color: str | None = None) -> None:
    """Histogram drawn from precomputed counts (one rectangle per bin, cheap for 47M values)."""
    lo, hi, xlabel = _value_range(values)
    counts, edges = np.histogram(values.reshape(-1), bins=bins, range=(lo, hi))
    ax.hist(edges[:-1], bins=edges, weights=counts, color=color, edgecolor="white",
            linewidth=0.3)
    ax.set_xlabel(xlabel)


def _check_bins(bins: int) -> None:
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")


def _check_fractions(values: np.ndarray, name: str) -> None:
    finite = values[np.isfinite(values)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise ValueError(f"{name} must be fractions in [0, 1] (not percent)")


def _log_ticks(ax: Axes, values: np.ndarray, max_ticks: int = 12) -> None:
    """On a log x axis, tick exactly the tested values (when few) instead of 3x10^1-style labels."""
    vals = np.unique(values[np.isfinite(values) & (values > 0)])
    if 0 < vals.size <= max_ticks:
        ax.set_xticks(vals, [f"{v:g}" for v in vals])
        ax.xaxis.set_minor_formatter(NullFormatter())


def _first_present(df: pd.DataFrame, candidates: Sequence[str]) -> str | None:
    return next((c for c in candidates if c in df.columns), None)


def _class_names(class_names: Sequence[Any] | None, k: int = 10) -> list[str]:
    """``k`` class names as strings (the labels ``0..k-1`` when None), else ValueError."""
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    if len(names) != k:
        raise ValueError(f"class_names has {len(names)} entries, expected {k}")
    return names


def _long(names: Sequence[str]) -> bool:
    """Names too long to sit side by side as horizontal tick labels."""
    return max((len(n) for n in names), default=0) > 3


def _class_ticks(ax: Axes, positions: Any, names: Sequence[str]) -> None:
    """Class names on the x axis, slanted when they are words rather than digits."""
    if _long(names):
        ax.set_xticks(positions, names, rotation=30, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticks(positions, names)


def _title_case(noun: str) -> str:
    return noun[:1].upper() + noun[1:]


# --------------------------------------------------------------------------
# images and data
# --------------------------------------------------------------------------


def image_grid(
    images: ArrayLike,
    titles: Sequence[str] | None = None,
    ncols: int = 10,
    cmap: str = "gray",
    suptitle: str | None = None,
    title_colors: Sequence[str] | None = None,
) -> Figure:
    """Grid of images, one axes per image, optional per-image titles and colours.

    Parameters
    ----------
    images : ``(n, H, W)`` or ``(n, 1, H, W)`` array or tensor.
    titles, title_colors : optional, one per image.
    ncols : maximum number of columns.
    """
    imgs = _to_images(images)
    n = len(imgs)
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles has {len(titles)} entries for {n} images")
    if title_colors is not None and len(title_colors) != n:
        raise ValueError(f"title_colors has {len(title_colors)} entries for {n} images")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    lines = max((str(t).count("\n") + 1 for t in titles), default=0) if titles else 0
    with _style():
        fig, axes = plt.subplots(
            nrows, ncols, squeeze=False, layout="constrained",
            figsize=_cell_figsize(nrows, ncols, title_lines=lines, suptitle=bool(suptitle)),
        )
        for i, ax in enumerate(_image_cells(fig, axes, n)):
            ax.imshow(imgs[i], cmap=cmap)
            _hide_frame(ax)
            if titles is not None:
                color = title_colors[i] if title_colors is not None else _RIGHT_COLOR
                ax.set_title(str(titles[i]), fontsize=8, color=color)
        if suptitle:
            fig.suptitle(suptitle)
    return fig


def examples_per_digit(
    images: ArrayLike, labels: ArrayLike, per_digit: int = 10, seed: int = 0,
    class_names: Sequence[Any] | None = None, noun: str = "digit",
) -> Figure:
    """Random examples of each class: row ``d`` holds ``per_digit`` images labelled ``d``,
    named by ``class_names``."""
    imgs = _to_images(images)
    y = _to_1d(labels, "labels").astype(int)
    if len(y) != len(imgs):
        raise ValueError(f"{len(imgs)} images but {len(y)} labels")
    if per_digit < 1:
        raise ValueError(f"per_digit must be >= 1, got {per_digit}")
    names = _class_names(class_names)
    rng = np.random.default_rng(seed)
    with _style():
        fig, axes = plt.subplots(
            len(names), per_digit, squeeze=False, layout="constrained",
            figsize=_cell_figsize(len(names), per_digit, max_cell=1.2),
        )
        for d in range(len(names)):
            idx = np.flatnonzero(y == d)
            picked = np.sort(rng.choice(idx, size=min(per_digit, idx.size), replace=False))
            for j in range(per_digit):
                ax = axes[d, j]
                _hide_frame(ax)
                if j < picked.size:
                    ax.imshow(imgs[picked[j]], cmap="gray")
            axes[d, 0].set_ylabel(names[d], rotation=0, fontsize=9 if _long(names) else 12, labelpad=12,
                                  va="center", ha="right" if _long(names) else "center")
        fig.supylabel(_title_case(noun))
        fig.suptitle(f"{per_digit} random examples per {noun} (seed {seed})")
    return fig


def class_distribution(train_labels: ArrayLike, test_labels: ArrayLike,
                       class_names: Sequence[Any] | None = None, noun: str = "digit") -> Figure:
    """Grouped bar chart of samples per class in train and test, counts on each bar
    (classes named by ``class_names``, indexed by label)."""
    train = _to_1d(train_labels, "train_labels").astype(int)
    test = _to_1d(test_labels, "test_labels").astype(int)
    classes = np.union1d(np.unique(train), np.unique(test))
    x = np.arange(classes.size)
    width = 0.4
    with _style():
        fig, ax = plt.subplots(figsize=(11, 4.8), layout="constrained")
        for offset, labels, name in ((-width / 2, train, "train"), (width / 2, test, "test")):
            counts = (labels[:, None] == classes[None, :]).sum(axis=0)
            bars = ax.bar(x + offset, counts, width, label=f"{name} (n={labels.size:,})")
            ax.bar_label(bars, labels=[f"{c:,}" for c in counts], fontsize=7, padding=2)
        names = [str(c) for c in classes] if class_names is None else [str(class_names[c]) for c in classes]
        _class_ticks(ax, x, names)
        ax.set_xlabel(_title_case(noun))
        ax.set_ylabel("Number of images")
        ax.margins(y=0.12)
        ax.legend(loc="upper right")
        ax.set_title("Class distribution: train vs test")
    return fig


def mean_images(images: ArrayLike, labels: ArrayLike, class_names: Sequence[Any] | None = None,
                noun: str = "digit") -> Figure:
    """The mean image of each of the ten classes, on one shared intensity scale."""
    imgs = _to_images(images)
    y = _to_1d(labels, "labels").astype(int)
    if len(y) != len(imgs):
        raise ValueError(f"{len(imgs)} images but {len(y)} labels")
    names = _class_names(class_names)
    means: list[np.ndarray | None] = []
    counts = []
    for d in range(10):
        mask = y == d
        counts.append(int(mask.sum()))
        means.append(imgs[mask].mean(axis=0, dtype=np.float64) if mask.any() else None)
    present = [m for m in means if m is not None]
    # One scale for all digits so brightness is comparable across panels.
    vmin = min(float(m.min()) for m in present)
    vmax = max(float(m.max()) for m in present)
    with _style():
        fig, axes = plt.subplots(2, 5, figsize=(10, 4.9), layout="constrained")
        for d, ax in enumerate(axes.flat):
            _hide_frame(ax)
            if means[d] is None:
                ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.imshow(means[d], cmap="magma", vmin=vmin, vmax=vmax)
            ax.set_title(f"{names[d]}  (n={counts[d]:,})", fontsize=10)
        fig.suptitle(f"Mean image per {noun}")
    return fig


def pixel_histogram(images: ArrayLike, bins: int = 50, log_y: bool = True) -> Figure:
    """Histogram of all pixel values, with the share of pixels that are exactly zero."""
    _check_bins(bins)
    values = _as_numpy(images).reshape(-1)
    if values.size == 0:
        raise ValueError("images is empty")
    zeros = int(np.count_nonzero(values == 0))
    share = zeros / values.size
    with _style():
        fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
        _histogram(ax, values, bins)
        if log_y:
            ax.set_yscale("log")
        ax.set_ylabel("Pixel count" + (" (log scale)" if log_y else ""))
        ax.set_title(
            f"Pixel intensity distribution: {share:.1%} of {values.size:,} pixels are exactly 0"
        )
        ax.text(0.98, 0.95, f"zeros: {zeros:,}\nnon-zero: {values.size - zeros:,}",
                transform=ax.transAxes, ha="right", va="top", fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85})
    return fig


def normalization_effect(
    raw_values: ArrayLike, normalized_values: ArrayLike, bins: int = 50, log_y: bool = True
) -> Figure:
    """Side-by-side histograms before and after normalization, mean/std annotated."""
    _check_bins(bins)
    panels = (
        ("Before normalization", _as_numpy(raw_values), "tab:blue"),
        ("After normalization", _as_numpy(normalized_values), "tab:orange"),
    )
    with _style():
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
        for ax, (name, values, color) in zip(axes, panels):
            if values.size == 0:
                raise ValueError(f"{name.lower()} values are empty")
            mean, std = _mean_std(values)
            _histogram(ax, values, bins, color=color)
            ax.axvline(mean, color="black", linestyle="--", linewidth=1, label="mean")
            # round then add 0.0 so a mean of -0.00001 reads 0.0000, not -0.0000
            ax.text(0.97, 0.95, f"mean = {round(mean, 4) + 0.0:.4f}\nstd = {std:.4f}", transform=ax.transAxes,
                    ha="right", va="top", fontsize=9,
                    bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85})
            if log_y:
                ax.set_yscale("log")
            ax.set_ylabel("Count" + (" (log scale)" if log_y else ""))
            ax.set_title(name)
            ax.legend(loc="center right")
        fig.suptitle("Effect of normalization on pixel values")
    return fig


def augmentation_preview(originals: ArrayLike, augmented_list: Sequence[ArrayLike]) -> Figure:
    """One row per image: the original, then ``k`` augmented versions of it.

    Parameters
    ----------
    originals : ``(n, H, W)`` or ``(n, 1, H, W)``.
    augmented_list : ``k`` batches, each shaped like ``originals``
        (batch ``j`` holds the ``j``-th augmented version of every original).
    """
    orig = _to_images(originals, "originals")
    augs = [_to_images(a, f"augmented_list[{j}]") for j, a in enumerate(augmented_list)]
    if not augs:
        raise ValueError("augmented_list must hold at least one augmented batch")
    for j, a in enumerate(augs):
        if a.shape != orig.shape:
            raise ValueError(
                f"augmented_list[{j}] has shape {a.shape}, expected {orig.shape} like originals"
            )
    n, k = len(orig), len(augs)
    with _style():
        fig, axes = plt.subplots(
            n, k + 1, squeeze=False, layout="constrained",
            figsize=_cell_figsize(n, k + 1, max_cell=1.5, title_lines=1),
        )
        for i in range(n):
            row = [orig[i]] + [a[i] for a in augs]
            # Same intensity scale across a row so brightness changes are visible.
            vmin = min(float(r.min()) for r in row)
            vmax = max(float(r.max()) for r in row)
            for j, img in enumerate(row):
                ax = axes[i, j]
                ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax)
                _hide_frame(ax)
                if i == 0:
                    ax.set_title("original" if j == 0 else f"augmented {j}", fontsize=9)
        fig.suptitle("Data augmentation preview")
    return fig


# --------------------------------------------------------------------------
# training curves
# --------------------------------------------------------------------------


def nll_column(history_df: pd.DataFrame) -> str | None:
    """The column holding the plain NLL on training batches (``train_nll``), or None when
    the history has none (saved before it was recorded) and only the optimized loss is known."""
    if "train_nll" in history_df.columns and history_df["train_nll"].notna().all():
        return "train_nll"
    return None



def learning_curves(history_df: pd.DataFrame, title: str | None = None,
                    label_smoothing: float | None = None) -> Figure:
    """Loss and accuracy (percent) per epoch, train vs validation, best epoch marked.

    ``history_df`` needs columns epoch, train_loss, train_accuracy, val_loss,
    val_accuracy (accuracies as fractions), and ideally ``train_nll``. The loss
    panel compares like with like: the plain NLL on the training batches
    (``train_nll``) against the validation NLL. When the optimized loss differs
    from it (label smoothing), it is drawn too, dashed and labelled as such;
    without ``train_nll`` the optimized loss is drawn and labelled for what it is.
    ``label_smoothing`` only names the setting in the legend.
    """
    _require_columns(history_df, _HISTORY_COLUMNS, "history_df")
    if history_df.empty:
        raise ValueError("history_df has no rows")
    h = history_df.sort_values("epoch")
    marker = "o" if len(h) <= 30 else None
    best_epoch = None
    if h["val_accuracy"].notna().any():
        best_row = h.loc[h["val_accuracy"].idxmax()]
        best_epoch = best_row["epoch"]
    smoothing = f" (label smoothing {label_smoothing:g})" if label_smoothing else ""
    nll = nll_column(h)
    with _style():
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
        if nll is not None:
            ax_loss.plot(h["epoch"], h[nll], marker=marker, color="tab:blue", label="train NLL")
            if not np.allclose(h["train_loss"].to_numpy(float), h[nll].to_numpy(float), equal_nan=True):
                ax_loss.plot(h["epoch"], h["train_loss"], marker=marker, color="tab:blue", linestyle="--", alpha=0.6,
                             label=f"train, optimized loss{smoothing}")
        else:
            ax_loss.plot(h["epoch"], h["train_loss"], marker=marker, color="tab:blue",
                         label=f"train, optimized loss{smoothing}" if label_smoothing != 0 else "train NLL")
        ax_loss.plot(h["epoch"], h["val_loss"], marker=marker, color="tab:orange", label="validation NLL")
        ax_acc.plot(h["epoch"], 100 * h["train_accuracy"], marker=marker, label="train")
        ax_acc.plot(h["epoch"], 100 * h["val_accuracy"], marker=marker, label="validation")
        if best_epoch is not None:
            best_acc = 100 * float(best_row["val_accuracy"])
            for ax in (ax_loss, ax_acc):
                ax.axvline(best_epoch, color="gray", linestyle="--", linewidth=1,
                           label=f"best validation epoch ({best_epoch:g})")
            ax_acc.scatter([best_epoch], [best_acc], s=90, marker="*", color="tab:red",
                           zorder=5, label=f"best validation accuracy {best_acc:.2f}%")
        ax_loss.set_ylabel("Loss")
        ax_loss.set_title("Loss")
        ax_acc.set_ylabel("Accuracy (%)")
        ax_acc.set_title("Accuracy")
        for ax in (ax_loss, ax_acc):
            ax.set_xlabel("Epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=8)
        fig.suptitle(title or "Learning curves")
    return fig


def compare_curves(
    frames: Mapping[str, pd.DataFrame],
    columns: Sequence[str] = ("train_loss", "val_loss", "val_accuracy"),
    title: str | None = None,
) -> Figure:
    """One panel per history column, one line per run name (accuracies in percent)."""
    if not frames:
        raise ValueError("frames must map at least one run name to a history DataFrame")
    columns = list(columns)
    if not columns:
        raise ValueError("columns must name at least one history column")
    for name, df in frames.items():
        _require_columns(df, ["epoch", *columns], f"frames[{name!r}]")
    ncols = min(3, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    with _style():
        fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                                 figsize=(min(_MAX_WIDTH, 4.0 * ncols + 0.5), 3.8 * nrows + 0.8))
        used = _image_cells(fig, axes, len(columns))
        for ax, col in zip(used, columns):
            scale = 100.0 if _is_accuracy(col) else 1.0
            for name, df in frames.items():
                d = df.sort_values("epoch")
                marker = "o" if len(d) <= 30 else None
                ax.plot(d["epoch"], scale * d[col], marker=marker, markersize=3, label=name)
            ax.set_xlabel("Epoch")
            ax.set_ylabel(_label(col) + (" (%)" if scale == 100.0 else ""))
            ax.set_title(_label(col))
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        handles, labels = used[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5))
        fig.suptitle(title or "Run comparison")
    return fig


# --------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------


def _check_cm(cm: ArrayLike, name: str = "cm") -> np.ndarray:
    """A square confusion matrix as float64, else ValueError."""
    arr = _as_numpy(cm)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a square 2-D matrix, got shape {arr.shape}")
    return arr.astype(np.float64)


def _draw_confusion(ax: Axes, cm: np.ndarray, normalize: bool, cbar: bool,
                    class_names: Sequence[str] | None) -> None:
    """Annotated heatmap of one confusion matrix on ``ax``."""
    k = cm.shape[0]
    names = [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"class_names has {len(names)} entries for a {k}x{k} matrix")
    if normalize:
        sums = cm.sum(axis=1, keepdims=True)
        values = np.divide(cm, sums, out=np.zeros_like(cm), where=sums > 0)
        annot = np.vectorize(lambda v: f"{100 * v:.1f}")(values)
        cbar_label, vmax = "Share of true class", 1.0
    else:
        values = cm
        integral = np.allclose(cm, np.round(cm))
        annot = np.vectorize(lambda v: f"{int(round(v))}" if integral else f"{v:.3g}")(values)
        cbar_label, vmax = "Count", None
    fontsize = 9 if k <= 10 else 7
    _heatmap(ax, values, annot, vmax, names, fontsize, cbar_label if cbar else None)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.tick_params(axis="y", rotation=0)
    if _long(names):
        plt.setp(ax.get_xticklabels(), rotation=40, ha="right", rotation_mode="anchor")


def confusion_heatmap(
    cm: ArrayLike,
    title: str | None = None,
    normalize: bool = False,
    class_names: Sequence[str] | None = None,
) -> Figure:
    """Annotated confusion-matrix heatmap (rows true, columns predicted).

    ``normalize=True`` divides each row by its total and annotates percentages.
    """
    arr = _check_cm(cm)
    with _style():
        fig, ax = plt.subplots(figsize=(8, 6.8), layout="constrained")
        _draw_confusion(ax, arr, normalize, cbar=True, class_names=class_names)
        default = "(% of each true class)" if normalize else "(counts)"
        ax.set_title(title or f"Confusion matrix {default}")
    return fig


def confusion_grid(
    cms: Mapping[str, ArrayLike], normalize: bool = False, ncols: int = 2,
    class_names: Sequence[str] | None = None,
) -> Figure:
    """Confusion matrices of several models side by side, titled with their accuracy."""
    if not cms:
        raise ValueError("cms must map at least one name to a confusion matrix")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    mats = {name: _check_cm(cm, f"cms[{name!r}]") for name, cm in cms.items()}
    n = len(mats)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    cell = min(6.0, _MAX_WIDTH / ncols)
    with _style():
        fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                                 figsize=(cell * ncols, cell * nrows * 0.95 + 0.5))
        for ax, (name, cm) in zip(_image_cells(fig, axes, n), mats.items()):
            _draw_confusion(ax, cm, normalize, cbar=False, class_names=class_names)
            total = cm.sum()
            acc = np.trace(cm) / total if total > 0 else float("nan")
            ax.set_title(f"{name}: accuracy {acc:.2%}")
        kind = "% of each true class" if normalize else "counts"
        fig.suptitle(f"Confusion matrices ({kind})")
    return fig


def _prediction_arrays(images: ArrayLike, y_true: ArrayLike, y_pred: ArrayLike,
                       confidence: ArrayLike) -> tuple[np.ndarray, ...]:
    """Validated images, true labels, predictions and confidences of equal length."""
    imgs = _to_images(images)
    t = _to_1d(y_true, "y_true").astype(int)
    p = _to_1d(y_pred, "y_pred").astype(int)
    c = _to_1d(confidence, "confidence").astype(np.float64)
    if not len(imgs) == len(t) == len(p) == len(c):
        raise ValueError(
            f"lengths differ: images {len(imgs)}, y_true {len(t)}, y_pred {len(p)}, "
            f"confidence {len(c)}"
        )
    _check_fractions(c, "confidence")
    return imgs, t, p, c


def prediction_grid(
    images: ArrayLike, y_true: ArrayLike, y_pred: ArrayLike, confidence: ArrayLike,
    ncols: int = 8, class_names: Sequence[str] | None = None,
) -> Figure:
    """Images titled "pred 7 (99.2%)" plus the true label; wrong predictions in red."""
    imgs, t, p, c = _prediction_arrays(images, y_true, y_pred, confidence)
    names = _class_names(class_names, len(class_names)) if class_names is not None else None
    name = (lambda k: str(k)) if names is None else (lambda k: names[k])
    titles = [f"pred {name(pi)} ({ci:.1%})\ntrue {name(ti)}" for ti, pi, ci in zip(t, p, c)]
    colors = [_RIGHT_COLOR if ti == pi else _WRONG_COLOR for ti, pi in zip(t, p)]
    correct = int((t == p).sum())
    return image_grid(imgs, titles=titles, ncols=ncols, title_colors=colors,
                      suptitle=f"Predictions: {correct}/{len(t)} correct (wrong in red)")


def misses_gallery(
    images: ArrayLike, y_true: ArrayLike, y_pred: ArrayLike, confidence: ArrayLike,
    max_items: int = 32, ncols: int = 8, class_names: Sequence[str] | None = None,
) -> Figure:
    """Only the misclassified images, most confident mistakes first: "true 4 → pred 9 (87%)"."""
    if max_items < 1:
        raise ValueError(f"max_items must be >= 1, got {max_items}")
    imgs, t, p, c = _prediction_arrays(images, y_true, y_pred, confidence)
    wrong = np.flatnonzero(t != p)
    if wrong.size == 0:
        with _style():
            fig, ax = plt.subplots(figsize=(8, 2), layout="constrained")
            _hide_frame(ax)
            ax.text(0.5, 0.5, f"No misclassified images among {len(t):,}", ha="center",
                    va="center", fontsize=12, transform=ax.transAxes)
            ax.set_title("Misclassified images")
        return fig
    order = wrong[np.argsort(-c[wrong], kind="stable")][:max_items]
    names = _class_names(class_names, len(class_names)) if class_names is not None else None
    if names is None:
        titles = [f"true {t[i]} → pred {p[i]} ({c[i]:.0%})" for i in order]
    else:  # words: one line each, so neighbouring titles do not run into each other
        titles = [f"true {names[t[i]]}\n→ {names[p[i]]} ({c[i]:.0%})" for i in order]
    return image_grid(
        imgs[order], titles=titles, ncols=ncols, title_colors=[_WRONG_COLOR] * len(order),
        suptitle=(f"Misclassified images: {len(order)} of {wrong.size:,} shown, "
                  "most confident first"),
    )


def roc_curves_plot(
    roc: Mapping[int, tuple[ArrayLike, ArrayLike, float]], zoom: bool = True
) -> Figure:
    """One-vs-rest ROC curve per class with its AUC; ``zoom`` adds a top-left close-up."""
    if not roc:
        raise ValueError("roc must map at least one class to (fpr, tpr, auc)")
    curves = {}
    for cls, entry in roc.items():
        if len(entry) != 3:
            raise ValueError(f"roc[{cls!r}] must be a (fpr, tpr, auc) tuple")
        fpr, tpr = _to_1d(entry[0], "fpr").astype(float), _to_1d(entry[1], "tpr").astype(float)
        if fpr.shape != tpr.shape:
            raise ValueError(f"roc[{cls!r}]: fpr and tpr lengths differ")
        curves[cls] = (fpr, tpr, float(entry[2]))
    palette = plt.get_cmap("tab10").colors[:len(curves)] if len(curves) <= 10 else \
        _seaborn().color_palette("husl", len(curves))
    with _style():
        fig, axes = plt.subplots(1, 2 if zoom else 1, squeeze=False, layout="constrained",
                                 figsize=(11.5, 5.2) if zoom else (7, 6))
        axes = list(axes.flat)
        for ax in axes:
            for color, (cls, (fpr, tpr, auc)) in zip(palette, curves.items()):
                ax.plot(fpr, tpr, color=color, linewidth=1.4, label=f"{cls}: AUC {auc:.4f}")
            ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1,
                    label="chance (AUC 0.5)")
            ax.set_xlabel("False positive rate")
            ax.set_ylabel("True positive rate")
        axes[0].set_xlim(0, 1)
        axes[0].set_ylim(0, 1.01)
        axes[0].set_title("ROC curves (one vs rest)")
        axes[0].legend(loc="lower right", fontsize=8)
        if zoom:
            # Near-perfect curves hug the corner; zoom so classes can be told apart.
            at = min(float(np.interp(0.02, fpr, tpr)) for fpr, tpr, _ in curves.values())
            low = max(0.0, min(0.95, math.floor((at - 0.02) * 20) / 20))
            axes[1].set_xlim(0, 0.1)
            axes[1].set_ylim(low, 1.002)
            axes[1].set_title("Zoom on the top-left corner")
    return fig


def reliability_diagram(
    bin_confidence: ArrayLike, bin_accuracy: ArrayLike, bin_count: ArrayLike, ece: float
) -> Figure:
    """Accuracy per confidence bin against the diagonal, with a sample-count histogram.

    Bins are taken as equal-width on [0, 1]; empty (NaN) bins are skipped.
    """
    conf = _to_1d(bin_confidence, "bin_confidence").astype(float)
    acc = _to_1d(bin_accuracy, "bin_accuracy").astype(float)
    count = _to_1d(bin_count, "bin_count").astype(float)
    if not conf.size == acc.size == count.size:
        raise ValueError(
            f"bin arrays differ in length: confidence {conf.size}, accuracy {acc.size}, "
            f"count {count.size}"
        )
    n_bins = conf.size
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    width = 1.0 / n_bins
    ok = np.isfinite(conf) & np.isfinite(acc) & (np.nan_to_num(count) > 0)
    with _style():
        fig, (ax, ax_n) = plt.subplots(
            2, 1, sharex=True, figsize=(8, 7.5), layout="constrained",
            gridspec_kw={"height_ratios": [3, 1]},
        )
        ax.bar(centers[ok], acc[ok], width=width, color="tab:blue", edgecolor="white",
               label="accuracy in bin")
        # The gap spans accuracy to confidence whichever is higher (over- or under-confident).
        low, high = np.minimum(acc[ok], conf[ok]), np.maximum(acc[ok], conf[ok])
        ax.bar(centers[ok], high - low, bottom=low, width=width, color="tab:red",
               alpha=0.3, edgecolor="tab:red", hatch="//", label="gap to mean confidence")
        ax.plot([0, 1], [0, 1], color="gray", linestyle="--", label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_ylabel("Accuracy")
        ax.legend(loc="upper left")
        ax.set_title(f"Reliability diagram: ECE = {float(ece):.4f}")
        counts = np.nan_to_num(count)
        ax_n.bar(centers, counts, width=width, color="tab:gray", edgecolor="white")
        if (counts > 0).any():
            ax_n.set_yscale("log")
        ax_n.set_xlabel("Confidence (max softmax probability)")
        ax_n.set_ylabel("Samples (log)")
    return fig


# --------------------------------------------------------------------------
# model internals
# --------------------------------------------------------------------------


def feature_maps(
    maps: ArrayLike, title: str, ncols: int = 8, zoom: int | None = None, cmap: str = "viridis"
) -> Figure:
    """Activation maps of one layer for one image, one panel per channel.

    Parameters
    ----------
    maps : ``(C, H, W)`` (or ``(1, C, H, W)``).
    zoom : show only the first ``zoom`` maps, drawn larger.
    Maps of spatial size 1x1 (e.g. LeNet-5 conv3) are drawn as one bar chart.
    """
    arr = _as_numpy(maps)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3 or arr.shape[0] == 0:
        raise ValueError(f"maps must have shape (C, H, W), got {arr.shape}")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    total = arr.shape[0]
    if zoom is not None:
        if zoom < 1:
            raise ValueError(f"zoom must be a positive number of maps, got {zoom}")
        arr = arr[:zoom]
    n = arr.shape[0]
    shown = f"{title}: first {n} of {total} maps" if n < total else f"{title}: {total} maps"
    with _style():
        if arr.shape[1] * arr.shape[2] == 1:
            # A 1x1 "map" is a single number; a bar per channel reads far better.
            fig, ax = plt.subplots(figsize=(min(_MAX_WIDTH, max(8.0, 0.09 * n)), 3.8),
                                   layout="constrained")
            ax.bar(np.arange(n), arr[:, 0, 0], width=0.8, color="tab:blue")
            ax.set_xlabel("Channel")
            ax.set_ylabel("Activation")
            ax.set_title(shown + " (1x1 each)")
            return fig
        if zoom is not None:
            ncols = min(ncols, math.ceil(math.sqrt(n)))
        ncols = min(ncols, n)
        nrows = math.ceil(n / ncols)
        fig, axes = plt.subplots(
            nrows, ncols, squeeze=False, layout="constrained",
            figsize=_cell_figsize(nrows, ncols, max_cell=3.0 if zoom else 1.6, title_lines=1),
        )
        for i, ax in enumerate(_image_cells(fig, axes, n)):
            ax.imshow(arr[i], cmap=cmap)
            _hide_frame(ax)
            ax.set_title(f"#{i}", fontsize=8)
        fig.suptitle(shown)
    return fig


def kernel_grid(weights: ArrayLike, title: str, ncols: int = 8) -> Figure:
    """Conv kernels ``(out, in, kh, kw)``: first input channel, diverging colours centred at 0."""
    w = _as_numpy(weights)
    if w.ndim != 4 or w.shape[0] == 0:
        raise ValueError(f"weights must have shape (out, in, kh, kw), got {w.shape}")
    kernels = w[:, 0]
    n = kernels.shape[0]
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    # Shared symmetric scale so colour means the same weight in every panel.
    vmax = float(np.abs(kernels).max()) or 1.0
    with _style():
        fig, axes = plt.subplots(
            nrows, ncols, squeeze=False, layout="constrained",
            figsize=_cell_figsize(nrows, ncols, max_cell=1.6, title_lines=1),
        )
        used = _image_cells(fig, axes, n)
        for i, ax in enumerate(used):
            im = ax.imshow(kernels[i], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            _hide_frame(ax)
            ax.set_title(f"#{i}", fontsize=8)
        fig.colorbar(im, ax=used, shrink=0.8, label="Weight")
        suffix = f" (input channel 0 of {w.shape[1]})" if w.shape[1] > 1 else ""
        fig.suptitle(f"{title}: {n} kernels {w.shape[2]}x{w.shape[3]}{suffix}")
    return fig


def output_grid(
    raw_outputs: ArrayLike,
    probs: ArrayLike,
    class_names: Sequence[Any] = range(10),
    raw_label: str = "Raw output",
) -> Figure:
    """For one image: the raw outputs as an annotated colour strip and the softmax bars."""
    raw = _to_1d(raw_outputs, "raw_outputs").astype(float)
    p = _to_1d(probs, "probs").astype(float)
    names = [str(c) for c in class_names]
    if not raw.size == p.size == len(names):
        raise ValueError(
            f"raw_outputs ({raw.size}), probs ({p.size}) and class_names ({len(names)}) "
            "must have the same length"
        )
    pred = int(np.argmax(p))
    x = np.arange(len(names))
    with _style():
        fig, (ax_raw, ax_p) = plt.subplots(
            2, 1, figsize=(10, 5.5), layout="constrained", gridspec_kw={"height_ratios": [1, 3]},
        )
        im = ax_raw.imshow(raw[None, :], cmap="viridis", aspect="auto")
        ax_raw.grid(False)
        mid = (np.nanmin(raw) + np.nanmax(raw)) / 2
        for i, v in enumerate(raw):
            ax_raw.text(i, 0, f"{v:.2f}", ha="center", va="center", fontsize=9,
                        color="black" if v > mid else "white")
        _class_ticks(ax_raw, x, names)
        ax_raw.set_yticks([])
        ax_raw.set_xlabel("Class")
        ax_raw.set_ylabel(raw_label)
        ax_raw.set_title(f"{raw_label} per class")
        fig.colorbar(im, ax=ax_raw, label=raw_label, pad=0.01)
        colors = ["tab:red" if i == pred else "tab:gray" for i in x]
        bars = ax_p.bar(x, p, color=colors)
        ax_p.bar_label(bars, labels=[f"{v:.1%}" if v >= 0.001 else "" for v in p],
                       fontsize=8, padding=2)
        _class_ticks(ax_p, x, names)
        ax_p.set_ylim(0, 1.1)
        ax_p.set_xlabel("Class")
        ax_p.set_ylabel("Softmax probability")
        ax_p.set_title(f"Softmax probabilities: predicted {names[pred]} ({p[pred]:.1%})")
    return fig


def saliency_plot(image: ArrayLike, saliency: ArrayLike, title: str | None = None) -> Figure:
    """Input image, its gradient-saliency heatmap, and the two overlaid."""
    img = _to_images(image, "image")
    if len(img) != 1:
        raise ValueError(f"image must be a single image, got {len(img)}")
    img = img[0]
    sal = _as_numpy(saliency).squeeze()
    if sal.shape != img.shape:
        raise ValueError(f"saliency shape {sal.shape} differs from image shape {img.shape}")
    with _style():
        fig, axes = plt.subplots(1, 3, figsize=(11, 4), layout="constrained")
        axes[0].imshow(img, cmap="gray")
        axes[0].set_title("Input")
        im = axes[1].imshow(sal, cmap="hot")
        axes[1].set_title("Saliency |d score / d pixel|")
        fig.colorbar(im, ax=axes[1], shrink=0.85, label="Gradient magnitude")
        axes[2].imshow(img, cmap="gray")
        axes[2].imshow(sal, cmap="hot", alpha=0.55)
        axes[2].set_title("Overlay")
        for ax in axes:
            _hide_frame(ax)
        fig.suptitle(title or "Gradient saliency")
    return fig


# --------------------------------------------------------------------------
# study tables
# --------------------------------------------------------------------------


def _ordered(values: pd.Series) -> list:
    """Unique values, sorted when they are comparable, else in order of appearance."""
    uniq = list(dict.fromkeys(values.tolist()))
    try:
        return sorted(uniq)
    except TypeError:
        return uniq


def metric_bar(
    df: pd.DataFrame, x: str, y: str, title: str, ylabel: str | None = None,
    hue: str | None = None, annotate: bool = True,
) -> Figure:
    """Bar chart of ``y`` per ``x`` (optionally grouped by ``hue``), values on the bars.

    One row per bar is expected; repeated rows are averaged.
    """
    _require_columns(df, [x, y] + ([hue] if hue else []))
    if df.empty:
        raise ValueError("df has no rows")
    order = [str(v) for v in dict.fromkeys(df[x].tolist())]
    data = df.assign(**{x: df[x].astype(str)})
    hue_order = None
    if hue:
        hue_order = [str(v) for v in _ordered(df[hue])]
        data = data.assign(**{hue: df[hue].astype(str)})
    n_bars = len(order) * (len(hue_order) if hue_order else 1)
    with _style():
        fig, ax = plt.subplots(figsize=(min(_MAX_WIDTH, max(8.0, 2.0 + 0.6 * n_bars)), 4.8),
                               layout="constrained")
        kwargs = {"hue": hue, "hue_order": hue_order} if hue else {"color": "tab:blue"}
        _seaborn().barplot(data=data, x=x, y=y, order=order, errorbar=None, ax=ax, **kwargs)
        if annotate:
            for container in ax.containers:
                labels = [f"{v:.4g}" if np.isfinite(v) else "" for v in container.datavalues]
                ax.bar_label(container, labels=labels, fontsize=8, padding=2)
            ax.margins(y=0.1)
        if max((len(s) for s in order), default=0) > 8:
            plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
        ax.set_xlabel(_label(x))
        ax.set_ylabel(ylabel or _label(y))
        if hue:
            ax.legend(title=_label(hue), fontsize=8)
        ax.set_title(title)
    return fig


def lr_sweep_plot(df: pd.DataFrame) -> Figure:
    """Validation accuracy and final train loss against learning rate (log x).

    ``df`` columns: lr, val_accuracy (fraction), final_train_loss, diverged (bool).
    Diverged runs get a red "X" labelled "diverged"; when their metric is not
    finite the marker sits at the panel edge.
    """
    _require_columns(df, ["lr", "val_accuracy", "final_train_loss", "diverged"])
    if df.empty:
        raise ValueError("df has no rows")
    d = df.sort_values("lr")
    lr = d["lr"].to_numpy(dtype=float)
    if not (np.isfinite(lr) & (lr > 0)).all():
        raise ValueError("lr must be positive and finite (it is drawn on a log axis)")
    diverged = d["diverged"].to_numpy(dtype=bool)
    acc = 100 * d["val_accuracy"].to_numpy(dtype=float)
    loss = d["final_train_loss"].to_numpy(dtype=float)
    with _style():
        fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11.5, 4.5), layout="constrained")
        panels = (
            (ax_acc, acc, "Validation accuracy (%)", 0.04),
            (ax_loss, loss, "Final train loss", 0.96),
        )
        for ax, y, ylabel, edge in panels:
            ok = ~diverged & np.isfinite(y)
            ax.plot(lr[ok], y[ok], "o-", color="tab:blue", label="converged")
            if diverged.any():
                finite = diverged & np.isfinite(y)
                off = diverged & ~np.isfinite(y)
                ax.scatter(lr[finite], y[finite], marker="X", s=90, color="tab:red",
                           zorder=5, label="diverged")
                # Non-finite metrics cannot be placed on the y axis: pin them to the edge.
                ax.scatter(lr[off], np.full(off.sum(), edge), marker="X", s=90,
                           color="tab:red", zorder=5, transform=ax.get_xaxis_transform(),
                           label=None if finite.any() else "diverged", clip_on=False)
                for xi, yi, on_axis in zip(lr[diverged], y[diverged], finite[diverged]):
                    ax.annotate("diverged", (xi, yi if on_axis else edge),
                                xycoords=("data", "data" if on_axis else "axes fraction"),
                                xytext=(6, 6 if edge < 0.5 else -12), textcoords="offset points",
                                fontsize=8, color="tab:red")
            ax.set_xscale("log")
            # Edge-pinned markers do not autoscale x, so cover every tested lr explicitly.
            pad = 10 ** max(0.1, 0.08 * math.log10(lr.max() / lr.min()))
            ax.set_xlim(lr.min() / pad, lr.max() * pad)
            _log_ticks(ax, lr)
            ax.set_xlabel("Learning rate (log scale)")
            ax.set_ylabel(ylabel)
        finite_loss = loss[~diverged & np.isfinite(loss)]
        if finite_loss.size and (finite_loss > 0).all():
            if finite_loss.max() / finite_loss.min() > 20:
                ax_loss.set_yscale("log")
        ok_acc = ~diverged & np.isfinite(acc)
        if ok_acc.any():
            best = np.flatnonzero(ok_acc)[np.argmax(acc[ok_acc])]
            ax_acc.scatter([lr[best]], [acc[best]], marker="*", s=200, color="gold",
                           edgecolor="black", zorder=6,
                           label=f"best: lr={lr[best]:g} ({acc[best]:.2f}%)")
        ax_acc.set_title("Validation accuracy")
        ax_loss.set_title("Final training loss")
        for ax in (ax_acc, ax_loss):
            ax.legend(fontsize=8)
        fig.suptitle("Learning-rate sweep")
    return fig


def metric_line(
    df: pd.DataFrame, x: str, y: str, title: str, hue: str | None = None, logx: bool = False
) -> Figure:
    """Line plot of ``y`` against ``x`` (one line per ``hue`` value), markers on points."""
    _require_columns(df, [x, y] + ([hue] if hue else []))
    if df.empty:
        raise ValueError("df has no rows")
    if logx and not (pd.to_numeric(df[x], errors="coerce") > 0).all():
        raise ValueError(f"logx=True needs positive numeric values in column {x!r}")
    data = df
    kwargs: dict[str, Any] = {}
    if hue:
        # Categorical colours separate a handful of settings better than a gradient.
        hue_order = [str(v) for v in _ordered(df[hue])]
        data = df.assign(**{hue: df[hue].astype(str)})
        kwargs = {"hue": hue, "hue_order": hue_order}
    with _style():
        fig, ax = plt.subplots(figsize=(9, 4.6), layout="constrained")
        _seaborn().lineplot(data=data, x=x, y=y, marker="o", errorbar=None, ax=ax, **kwargs)
        if logx:
            ax.set_xscale("log")
            _log_ticks(ax, pd.to_numeric(df[x]).to_numpy(dtype=float))
        ax.set_xlabel(_label(x) + (" (log scale)" if logx else ""))
        ax.set_ylabel(_label(y))
        if hue:
            ax.legend(title=_label(hue), fontsize=8)
        ax.set_title(title)
    return fig


def per_class_bar(
    per_class_df: pd.DataFrame, column: str = "f1", title: str | None = None,
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """One bar per class for a per-class metric, values on bars and the mean dashed.

    Classes come from a ``class`` / ``digit`` / ``label`` column, else the index.
    """
    _require_columns(per_class_df, [column], "per_class_df")
    if per_class_df.empty:
        raise ValueError("per_class_df has no rows")
    key = _first_present(per_class_df, ("class", "digit", "label"))
    classes = per_class_df[key] if key else per_class_df.index.to_series()
    names = [str(c) for c in classes]
    values = per_class_df[column].to_numpy(dtype=float)
    x = np.arange(len(names))
    with _style():
        fig, ax = plt.subplots(figsize=(min(_MAX_WIDTH, max(8.0, 0.7 * len(names) + 2)), 4.5),
                               layout="constrained")
        bars = ax.bar(x, values, color="tab:blue")
        ax.bar_label(bars, labels=[f"{v:.3f}" if np.isfinite(v) else "" for v in values],
                     fontsize=8, padding=2)
        mean = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        if np.isfinite(mean):
            ax.axhline(mean, color="tab:red", linestyle="--", linewidth=1,
                       label=f"mean {mean:.3f}")
            ax.legend(loc="lower right")
        _class_ticks(ax, x, names)
        if ylim is not None:
            ax.set_ylim(*ylim)
        elif np.isfinite(values).any() and np.nanmin(values) >= 0 and np.nanmax(values) <= 1:
            ax.set_ylim(0, 1.08)
        ax.set_xlabel("Class")
        ax.set_ylabel(_label(column))
        name = _label(column)
        # Keep acronyms such as "F1" intact; lower-case ordinary words.
        if not any(ch.isdigit() for ch in name):
            name = name.lower()
        ax.set_title(title or f"Per-class {name}")
    return fig


# --------------------------------------------------------------------------
# the index page
# --------------------------------------------------------------------------


def results_summary(results: pd.DataFrame, title: str | None = None) -> Figure:
    """The series at a glance: test accuracy per model with its 95% interval and the
    original reports' numbers as markers (left), seconds of training (right).

    ``results`` has one row per model: ``label`` and ``accuracy`` (percent), and
    optionally ``low`` / ``high`` (the interval, percent), ``reference`` (percent)
    and ``train_seconds``; a missing value (NaN or None) leaves that mark out. Rows
    are drawn top to bottom in order.
    """
    _require_columns(results, ["label", "accuracy"], "results")
    if results.empty:
        raise ValueError("results has no rows")
    frame = results.reset_index(drop=True)

    def column(name: str) -> np.ndarray:
        if name not in frame:
            return np.full(len(frame), np.nan)
        return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)

    accuracy, low, high = column("accuracy"), column("low"), column("high")
    reference, seconds = column("reference"), column("train_seconds")
    if not np.isfinite(accuracy).all():
        raise ValueError("results: every row needs a finite accuracy")
    y = np.arange(len(frame))
    interval = np.isfinite(low) & np.isfinite(high)
    with _style():
        fig, (ax, ax_time) = plt.subplots(
            1, 2, sharey=True, figsize=(8.0, max(2.6, 0.4 * len(frame) + 1.7)),
            gridspec_kw={"width_ratios": [3, 2]}, layout="constrained")
        if interval.any():
            ax.errorbar(accuracy[interval], y[interval],
                        xerr=[accuracy[interval] - low[interval], high[interval] - accuracy[interval]],
                        fmt="o", color="tab:blue", capsize=3, label="this build, 95% interval")
        if (~interval).any():
            ax.plot(accuracy[~interval], y[~interval], "o", color="tab:blue", markerfacecolor="white",
                    linestyle="none", label="this build (no interval recorded)")
        marked = np.isfinite(reference)
        if marked.any():
            ax.plot(reference[marked], y[marked], "D", color="tab:red", markerfacecolor="none", markersize=7,
                    markeredgewidth=1.5, linestyle="none", label="original report")
        for yy, value in zip(y, accuracy):
            ax.annotate(f"{value:.2f}", (value, yy), xytext=(0, 7), textcoords="offset points", ha="center",
                        va="bottom", fontsize=8)
        every = np.concatenate([accuracy, low[np.isfinite(low)], high[np.isfinite(high)], reference[marked]])
        pad = max(0.15, 0.08 * float(every.max() - every.min()))
        ax.set_xlim(float(every.min()) - pad, float(every.max()) + pad)
        ax.set_yticks(y, [str(label) for label in frame["label"]])
        ax.set_ylim(len(frame) - 0.4, -0.8)
        ax.set_xlabel("test accuracy (%)")
        ax.set_title("Test accuracy")
        fig.legend(loc="outside lower center", ncols=3, fontsize=8, frameon=False)

        timed = np.isfinite(seconds)
        bars = ax_time.barh(y[timed], seconds[timed], color="tab:gray", height=0.55)
        ax_time.bar_label(bars, labels=[f"{s:.1f} s" for s in seconds[timed]], padding=3, fontsize=8)
        for yy in y[~timed]:
            ax_time.annotate("not recorded", (0, yy), xytext=(3, 0), textcoords="offset points", va="center",
                             fontsize=8, color="dimgray")
        top = float(seconds[timed].max()) if timed.any() else 1.0
        if timed.any() and top / max(float(seconds[timed].min()), 1e-9) > 50:
            ax_time.set_xscale("log")
            ax_time.set_xlim(max(float(seconds[timed].min()) / 2, 1e-3), top * 4)
        else:
            ax_time.set_xlim(0, top * 1.3)
        ax_time.set_xlabel("training seconds")
        ax_time.set_title("Training time")
        if title:
            fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------
# sweeps
# --------------------------------------------------------------------------


def sweep_strip(
    runs: pd.DataFrame, references: Mapping[str, float] | None = None, value: str = "accuracy",
    ylabel: str = "Test accuracy (%)", title: str | None = None,
) -> Figure:
    """One panel per model: a box of ``value`` over the runs of each setting, every run a dot,
    and the original report's single-run number (``references[model]``) as a dashed red line.

    ``runs`` columns: model, setting ("" for the base setting), ``value``; rows
    without a value (failed runs) are left out.
    """
    _require_columns(runs, ["model", "setting", value], "runs")
    data = runs.dropna(subset=[value]).assign(setting=lambda d: d["setting"].replace("", "base"))
    if data.empty:
        raise ValueError(f"runs has no {value!r} values")
    models = list(dict.fromkeys(data["model"]))
    ncols = min(len(models), 4)
    nrows = math.ceil(len(models) / ncols)
    with _style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(min(_MAX_WIDTH, 1.0 + 2.9 * ncols), 3.8 * nrows),
                                 squeeze=False, layout="constrained")
        for ax, model in zip(axes.flat, models):
            sub = data[data["model"] == model]
            order = list(dict.fromkeys(sub["setting"]))
            sns = _seaborn()
            sns.boxplot(data=sub, x="setting", y=value, order=order, color="0.88", width=0.5, showfliers=False,
                        ax=ax)
            sns.stripplot(data=sub, x="setting", y=value, order=order, color="tab:blue", size=6, jitter=0.08,
                          ax=ax)
            reference = (references or {}).get(model)
            if reference is not None and np.isfinite(reference):
                ax.axhline(reference, color="tab:red", linestyle="--", linewidth=1.2,
                           label=f"original report: {reference:.2f}")
                ax.legend(loc="best", fontsize=8)
            ax.set_title(model)
            ax.set_xlabel("" if order == ["base"] else "setting")
            if order == ["base"]:
                ax.set_xticks([])
            ax.set_ylabel(ylabel)
        for ax in list(axes.flat)[len(models):]:
            ax.set_visible(False)
        if title:
            fig.suptitle(title)
    return fig


def paired_differences(differences: pd.DataFrame, unit: str = "points") -> Figure:
    """Per pair of models, the difference a - b on each seed (dots) and its mean (black bar),
    zero dashed: dots on one side of zero on every seed is what a real difference looks like.

    ``differences`` columns: pair (label "a - b"), seed, difference.
    """
    _require_columns(differences, ["pair", "seed", "difference"], "differences")
    if differences.empty:
        raise ValueError("differences has no rows")
    order = list(dict.fromkeys(differences["pair"]))
    means = differences.groupby("pair", sort=False)["difference"].mean()
    with _style():
        fig, ax = plt.subplots(figsize=(min(_MAX_WIDTH, 2.5 + 1.6 * len(order)), 4.2), layout="constrained")
        _seaborn().stripplot(data=differences, x="pair", y="difference", order=order, hue="seed",
                             palette="tab10", size=7, jitter=0.06, ax=ax)
        for i, pair in enumerate(order):
            ax.plot([i - 0.25, i + 0.25], [means[pair]] * 2, color="black", linewidth=2,
                    label="mean" if i == 0 else None)
        ax.axhline(0, color="0.4", linestyle="--", linewidth=1)
        ax.set_xlabel("")
        ax.set_ylabel(f"difference in test accuracy ({unit})")
        if max(len(p) for p in order) > 14:
            plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
        ax.legend(title="seed", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.set_title("Paired differences over seeds")
    return fig

"""Tests for mnist_lib.plots: each figure builds from small synthetic data."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mnist_lib import plots  # noqa: E402

RNG_SEED = 0


@pytest.fixture(autouse=True)
def _no_leaked_figures():
    """Every test must close what it opens; fail loudly otherwise."""
    plt.close("all")
    yield
    leaked = plt.get_fignums()
    plt.close("all")
    assert not leaked, f"figures left open: {leaked}"


def _finish(fig: Figure, n_axes: int | None = None) -> list:
    """Common checks: a Figure, the only open one, drawable, titled; return its axes."""
    assert isinstance(fig, Figure)
    assert plt.get_fignums() == [fig.number], "function opened extra figures"
    fig.canvas.draw()  # catches layout/rendering errors
    axes = fig.get_axes()
    if n_axes is not None:
        assert len(axes) == n_axes
    has_title = bool(fig._suptitle and fig._suptitle.get_text()) or any(
        ax.get_title() for ax in axes
    )
    assert has_title, "figure has no title"
    plt.close(fig)
    return axes


def _images(n: int = 12, size: int = 8, seed: int = RNG_SEED) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size)).astype(np.uint8)


def _history(epochs: int = 5, seed: int = RNG_SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    e = np.arange(1, epochs + 1)
    return pd.DataFrame({
        "epoch": e,
        "train_loss": 1.0 / e,
        "train_accuracy": 1 - 0.5 / e,
        "val_loss": 1.1 / e + rng.uniform(0, 0.05, epochs),
        "val_accuracy": [0.80, 0.90, 0.95, 0.93, 0.94][:epochs],
        "lr": 0.01,
        "seconds": 1.0,
    })


def test_no_global_style_change() -> None:
    before = dict(matplotlib.rcParams)
    _finish(plots.learning_curves(_history()))
    _finish(plots.confusion_heatmap(np.eye(3) * 5))
    after = dict(matplotlib.rcParams)
    changed = [k for k in before if before[k] != after[k] and k != "backend"]
    assert not changed


@pytest.mark.parametrize("shape", [(7, 8, 8), (7, 1, 8, 8)])
def test_image_grid_shapes_and_titles(shape: tuple[int, ...]) -> None:
    imgs = torch.rand(shape)
    titles = [f"t{i}" for i in range(7)]
    colors = ["red"] + ["black"] * 6
    fig = plots.image_grid(imgs, titles=titles, ncols=3, suptitle="grid", title_colors=colors)
    axes = _finish(fig, n_axes=7)  # trailing empty cells are removed
    assert all(len(ax.images) == 1 for ax in axes)
    assert axes[0].get_title() == "t0"
    assert matplotlib.colors.same_color(axes[0].title.get_color(), "red")
    assert fig.get_figwidth() <= 12


def test_image_grid_validation() -> None:
    with pytest.raises(ValueError, match="titles"):
        plots.image_grid(_images(3), titles=["a"])
    with pytest.raises(ValueError, match="shape"):
        plots.image_grid(np.zeros((2, 3, 8, 8)))


def test_examples_per_digit() -> None:
    labels = np.repeat(np.arange(10), 4)
    imgs = _images(40)
    fig = plots.examples_per_digit(imgs, labels, per_digit=3, seed=1)
    axes = _finish(fig, n_axes=30)
    assert sum(len(ax.images) for ax in axes) == 30
    assert [axes[3 * d].get_ylabel() for d in range(10)] == [str(d) for d in range(10)]


def test_examples_per_digit_missing_digit_leaves_blank_cells() -> None:
    labels = np.array([0, 0, 1, 2, 3, 4, 5, 6, 7, 8])  # no 9, only one of most
    axes = _finish(plots.examples_per_digit(_images(10), labels, per_digit=2))
    assert sum(len(ax.images) for ax in axes) == 10


def test_class_distribution_bars_and_labels() -> None:
    train = np.repeat(np.arange(10), np.arange(1, 11))
    test = np.repeat(np.arange(10), 2)
    fig = plots.class_distribution(train, torch.as_tensor(test))
    (ax,) = _finish(fig, n_axes=1)
    assert len(ax.patches) == 20
    texts = [t.get_text() for t in ax.texts]
    assert texts == [str(c) for c in range(1, 11)] + ["2"] * 10
    assert ax.get_xlabel() and ax.get_ylabel()


def test_mean_images() -> None:
    labels = np.arange(20) % 10
    axes = _finish(plots.mean_images(_images(20), labels), n_axes=10)
    assert all(len(ax.images) == 1 for ax in axes)
    assert axes[3].get_title().startswith("3")


@pytest.mark.parametrize("scale", [255, 1])
def test_pixel_histogram_reports_zero_share(scale: int) -> None:
    imgs = np.zeros((4, 5, 5), dtype=np.float32)
    imgs[:, :, :2] = scale * 0.5  # 40% non-zero
    fig = plots.pixel_histogram(imgs, bins=10)
    (ax,) = _finish(fig, n_axes=1)
    assert "60.0%" in ax.get_title()
    assert len(ax.patches) == 10
    assert ax.get_yscale() == "log"
    assert str(scale) in ax.get_xlabel()


def test_normalization_effect_annotates_mean_std() -> None:
    raw = np.array([0.0, 0.0, 1.0, 1.0])
    fig = plots.normalization_effect(raw, (raw - 0.5) / 0.5, bins=5)
    axes = _finish(fig, n_axes=2)
    texts = [t.get_text() for t in axes[0].texts + axes[1].texts]
    assert "mean = 0.5000\nstd = 0.5000" in texts
    assert "mean = 0.0000\nstd = 1.0000" in texts


def test_augmentation_preview() -> None:
    orig = _images(3)
    augs = [np.roll(orig, 1, axis=2), np.roll(orig, -1, axis=1)]
    axes = _finish(plots.augmentation_preview(orig, augs), n_axes=9)
    assert [ax.get_title() for ax in axes[:3]] == ["original", "augmented 1", "augmented 2"]
    with pytest.raises(ValueError, match="shape"):
        plots.augmentation_preview(orig, [orig[:2]])


def test_learning_curves_marks_best_epoch() -> None:
    fig = plots.learning_curves(_history(), title="run")
    ax_loss, ax_acc = _finish(fig, n_axes=2)
    assert ax_acc.get_ylabel() == "Accuracy (%)"
    # Two curves each plus the best-epoch marker line at epoch 3.
    vlines = [line for line in ax_acc.get_lines() if "best validation epoch" in line.get_label()]
    assert vlines and vlines[0].get_xdata()[0] == 3
    ys = ax_acc.get_lines()[1].get_ydata()
    assert np.isclose(max(ys), 95.0)  # percent, not fraction


def test_learning_curves_requires_columns() -> None:
    with pytest.raises(ValueError, match="val_accuracy"):
        plots.learning_curves(_history().drop(columns="val_accuracy"))


def test_compare_curves() -> None:
    frames = {"a": _history(), "b": _history(4, seed=1)}
    axes = _finish(plots.compare_curves(frames), n_axes=3)
    assert all(len(ax.get_lines()) == 2 for ax in axes)
    assert "(%)" in axes[2].get_ylabel()
    axes = _finish(plots.compare_curves(frames, columns=["val_loss"], title="x"), n_axes=1)
    with pytest.raises(ValueError, match="nonexistent"):
        plots.compare_curves(frames, columns=["nonexistent"])


@pytest.mark.parametrize("normalize", [False, True])
def test_confusion_heatmap(normalize: bool) -> None:
    cm = np.array([[8, 2, 0], [1, 9, 0], [0, 0, 10]])
    ax, cbar = _finish(plots.confusion_heatmap(cm, normalize=normalize), n_axes=2)
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 9
    assert ("80.0" if normalize else "8") in texts
    assert ax.get_xlabel() == "Predicted" and ax.get_ylabel() == "True"


def test_the_heatmap_reads_like_seaborns() -> None:
    # The confusion heatmap is drawn with matplotlib alone; seaborn's heatmap with the same arguments
    # puts the same numbers in the same cells and colours, with the same text colour on each.
    import seaborn as sns

    cm = np.array([[950, 3, 40], [0, 1100, 2], [7, 300, 500]])
    ax = _finish(plots.confusion_heatmap(cm, class_names=["a", "b", "c"]), n_axes=2)[0]
    fig, ref = plt.subplots()
    sns.heatmap(cm.astype(float), annot=cm.astype(str), fmt="", cmap="Blues", square=True, vmin=0, ax=ref,
                xticklabels=["a", "b", "c"], yticklabels=["a", "b", "c"], linewidths=0.5, linecolor="white")
    fig.canvas.draw()

    def cells(axes):
        return sorted((round(t.get_position()[0], 2), round(t.get_position()[1], 2), t.get_text(),
                       matplotlib.colors.to_hex(t.get_color())) for t in axes.texts)

    assert cells(ax) == cells(ref)
    assert [t.get_text() for t in ax.get_yticklabels()] == [t.get_text() for t in ref.get_yticklabels()]
    assert ax.get_ylim() == ref.get_ylim() and ax.get_xlim() == ref.get_xlim()  # first row on top
    mine, theirs = ax.collections[0], ref.collections[0]
    assert np.allclose(mine.get_facecolors(), theirs.get_facecolors())
    plt.close(fig)


def test_the_report_style_is_seaborns_whitegrid() -> None:
    import seaborn as sns

    expected = dict(sns.axes_style("whitegrid"))
    del expected["image.cmap"]  # seaborn's own colormap; every image here names its colormap
    assert plots._WHITEGRID == expected


@pytest.mark.slow  # a fresh interpreter
def test_drawing_in_the_report_style_needs_no_seaborn() -> None:
    import subprocess
    import sys

    code = ("import sys, matplotlib; matplotlib.use('Agg'); import numpy as np; from mnist_lib import plots; "
            "plots.confusion_heatmap(np.eye(3)); plots.learning_curves; print('seaborn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_confusion_heatmap_rejects_non_square() -> None:
    with pytest.raises(ValueError, match="square"):
        plots.confusion_heatmap(np.zeros((2, 3)))


def test_confusion_grid() -> None:
    cms = {name: np.eye(4, dtype=int) * 3 + 1 for name in ("a", "b", "c")}
    axes = _finish(plots.confusion_grid(cms), n_axes=3)
    assert all(len(ax.texts) == 16 for ax in axes)
    assert axes[0].get_title().startswith("a")


def test_prediction_grid_colours_wrong_red() -> None:
    y_true = np.array([1, 2, 3, 4])
    y_pred = np.array([1, 2, 5, 4])
    conf = np.array([0.992, 0.5, 0.87, 0.6])
    axes = _finish(plots.prediction_grid(_images(4), y_true, y_pred, conf), n_axes=4)
    assert axes[0].get_title() == "pred 1 (99.2%)\ntrue 1"
    assert matplotlib.colors.same_color(axes[2].title.get_color(), "tab:red")
    assert not matplotlib.colors.same_color(axes[0].title.get_color(), "tab:red")
    with pytest.raises(ValueError, match="fractions"):
        plots.prediction_grid(_images(4), y_true, y_pred, conf * 100)


def test_misses_gallery_only_misses_most_confident_first() -> None:
    y_true = np.array([4, 1, 2, 3, 7, 0])
    y_pred = np.array([9, 1, 5, 3, 1, 0])
    conf = np.array([0.87, 0.99, 0.95, 0.9, 0.4, 0.8])
    axes = _finish(plots.misses_gallery(_images(6), y_true, y_pred, conf), n_axes=3)
    assert [ax.get_title() for ax in axes] == [
        "true 2 → pred 5 (95%)", "true 4 → pred 9 (87%)", "true 7 → pred 1 (40%)"
    ]
    _finish(plots.misses_gallery(_images(6), y_true, y_pred, conf, max_items=2), n_axes=2)
    _finish(plots.misses_gallery(_images(2), [1, 2], [1, 2], [0.9, 0.9]), n_axes=1)


def test_roc_curves_plot() -> None:
    fpr = np.array([0.0, 0.01, 0.1, 1.0])
    roc = {c: (fpr, np.array([0.0, 0.9, 0.99, 1.0]), 0.98 + c / 1000) for c in range(3)}
    axes = _finish(plots.roc_curves_plot(roc), n_axes=2)
    assert len(axes[0].get_lines()) == 4  # 3 classes + chance diagonal
    labels = axes[0].get_legend_handles_labels()[1]
    assert "1: AUC 0.9810" in labels
    _finish(plots.roc_curves_plot(roc, zoom=False), n_axes=1)


def test_reliability_diagram_skips_nan_bins() -> None:
    conf = np.array([np.nan, 0.35, 0.55, 0.95])
    acc = np.array([np.nan, 0.3, 0.6, 0.97])
    count = np.array([0, 5, 10, 200])
    ax, ax_n = _finish(plots.reliability_diagram(conf, acc, count, ece=0.0123), n_axes=2)
    assert "0.0123" in ax.get_title()
    assert len(ax.containers[0]) == 3  # accuracy bars for the 3 non-empty bins
    assert len(ax_n.patches) == 4
    assert ax_n.get_xlabel() and ax.get_ylabel()


def test_feature_maps_and_zoom() -> None:
    maps = torch.rand(6, 5, 5)
    axes = _finish(plots.feature_maps(maps, "conv1", ncols=4), n_axes=6)
    assert all(len(ax.images) == 1 for ax in axes)
    big = np.random.default_rng(0).random((1, 20, 4, 4))
    fig = plots.feature_maps(big, "conv2", zoom=4)
    assert "first 4 of 20" in fig._suptitle.get_text()
    axes = _finish(fig, n_axes=4)
    # 1x1 maps (LeNet conv3) become a single bar chart.
    (ax,) = _finish(plots.feature_maps(np.ones((120, 1, 1)), "conv3"), n_axes=1)
    assert len(ax.patches) == 120


def test_kernel_grid_diverging_centred() -> None:
    w = np.random.default_rng(0).normal(size=(6, 2, 5, 5))
    axes = _finish(plots.kernel_grid(w, "conv1"), n_axes=7)  # 6 kernels + colorbar
    images = [im for ax in axes for im in ax.images]
    assert len(images) == 6
    vmin, vmax = images[0].get_clim()
    assert np.isclose(vmin, -vmax) and np.isclose(vmax, np.abs(w[:, 0]).max())
    with pytest.raises(ValueError, match="out, in"):
        plots.kernel_grid(w[0], "bad")


def test_output_grid_highlights_prediction() -> None:
    raw = np.linspace(-2, 3, 10)
    probs = np.exp(raw) / np.exp(raw).sum()
    ax_raw, ax_p, _cbar = _finish(plots.output_grid(raw[None, :], probs), n_axes=3)
    assert len(ax_raw.texts) == 10 and len(ax_p.patches) == 10
    colors = [p.get_facecolor() for p in ax_p.patches]
    assert matplotlib.colors.same_color(colors[9], "tab:red")
    assert sum(matplotlib.colors.same_color(c, colors[9]) for c in colors) == 1
    with pytest.raises(ValueError, match="same length"):
        plots.output_grid(raw, probs[:5])


def test_saliency_plot() -> None:
    img = torch.rand(1, 1, 8, 8)
    axes = _finish(plots.saliency_plot(img, np.random.default_rng(0).random((8, 8))), n_axes=4)
    assert sum(len(ax.images) for ax in axes) == 4  # input, heatmap, overlay (2 layers)
    with pytest.raises(ValueError, match="saliency shape"):
        plots.saliency_plot(img, np.zeros((4, 4)))


def test_metric_bar_plain_and_hue() -> None:
    df = pd.DataFrame({"model": ["lenet", "cnn", "mlp"], "test_accuracy": [0.99, 0.995, 0.98]})
    (ax,) = _finish(plots.metric_bar(df, "model", "test_accuracy", "acc"), n_axes=1)
    assert len(ax.patches) == 3
    assert {t.get_text() for t in ax.texts} == {"0.99", "0.995", "0.98"}
    assert [t.get_text() for t in ax.get_xticklabels()] == ["lenet", "cnn", "mlp"]
    df2 = pd.DataFrame({"opt": ["sgd", "sgd", "adam", "adam"], "bs": [32, 128, 32, 128],
                        "acc": [0.9, 0.8, 0.95, 0.85]})
    (ax,) = _finish(plots.metric_bar(df2, "opt", "acc", "t", hue="bs", annotate=False), n_axes=1)
    assert len(ax.containers) == 2 and not ax.texts
    with pytest.raises(ValueError, match="missing"):
        plots.metric_bar(df, "model", "nope", "t")


def test_lr_sweep_plot_marks_diverged() -> None:
    df = pd.DataFrame({
        "lr": [1e-3, 1e-2, 1e-1, 1.0, 10.0],
        "val_accuracy": [0.9, 0.97, 0.95, 0.1, np.nan],
        "final_train_loss": [0.3, 0.1, 0.2, 2.3, np.nan],
        "diverged": [False, False, False, True, True],
    })
    ax_acc, ax_loss = _finish(plots.lr_sweep_plot(df), n_axes=2)
    for ax in (ax_acc, ax_loss):
        assert ax.get_xscale() == "log"
        assert sum(t.get_text() == "diverged" for t in ax.texts) == 2
        assert "diverged" in ax.get_legend_handles_labels()[1]
        lo, hi = ax.get_xlim()
        assert lo < 1e-3 and hi > 10.0  # the NaN-metric run at lr=10 stays in view
    assert any("lr=0.01" in lab for lab in ax_acc.get_legend_handles_labels()[1])
    bad = df.assign(lr=[0.0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="positive"):
        plots.lr_sweep_plot(bad)


@pytest.mark.parametrize("hue", [None, "model"])
def test_metric_line(hue: str | None) -> None:
    df = pd.DataFrame({"batch_size": [16, 64, 256] * 2, "acc": [0.9, 0.95, 0.93, 0.8, 0.85, 0.9],
                       "model": ["a"] * 3 + ["b"] * 3})
    (ax,) = _finish(plots.metric_line(df, "batch_size", "acc", "bs", hue=hue, logx=True),
                    n_axes=1)
    assert ax.get_xscale() == "log"
    data_lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 3]
    assert len(data_lines) == (2 if hue else 1)


def test_per_class_bar() -> None:
    df = pd.DataFrame({"class": range(10), "f1": np.linspace(0.9, 0.99, 10),
                       "precision": 0.95})
    (ax,) = _finish(plots.per_class_bar(df), n_axes=1)
    assert len(ax.patches) == 10
    assert ax.get_ylabel() == "F1"
    (ax,) = _finish(plots.per_class_bar(df.set_index("class"), column="precision"), n_axes=1)
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(i) for i in range(10)]


def _loss_lines(fig: Figure) -> dict[str, np.ndarray]:
    ax_loss = fig.get_axes()[0]
    return {line.get_label(): np.asarray(line.get_ydata(), dtype=float) for line in ax_loss.get_lines()
            if not line.get_label().startswith("best")}


def test_learning_curves_compare_nll_with_nll_and_label_the_smoothed_loss() -> None:
    h = _history().assign(train_nll=lambda d: d.train_loss - 0.4)  # smoothed loss above the plain NLL
    fig = plots.learning_curves(h, label_smoothing=0.1)
    lines = _loss_lines(fig)
    assert set(lines) == {"train NLL", "validation NLL", "train, optimized loss (label smoothing 0.1)"}
    np.testing.assert_allclose(lines["train NLL"], h.train_nll)
    np.testing.assert_allclose(lines["train, optimized loss (label smoothing 0.1)"], h.train_loss)
    _finish(fig, n_axes=2)
    # Without smoothing the two training losses are one curve.
    assert set(_loss_lines(plots.learning_curves(_history().assign(train_nll=lambda d: d.train_loss)))) == {
        "train NLL", "validation NLL"}
    plt.close("all")


def test_learning_curves_without_train_nll_say_which_loss_is_drawn() -> None:
    assert "train NLL" in _loss_lines(plots.learning_curves(_history(), label_smoothing=0.0))
    plt.close("all")
    unknown = _loss_lines(plots.learning_curves(_history()))  # smoothing unknown: only the optimized loss is known
    assert "train, optimized loss" in unknown and "train NLL" not in unknown
    plt.close("all")
    assert plots.nll_column(_history()) is None
    assert plots.nll_column(_history().assign(train_nll=np.nan)) is None
    assert plots.nll_column(_history().assign(train_nll=0.1)) == "train_nll"


# --------------------------------------------------------------------------- class names (other datasets)

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _texts(fig: Figure) -> list[str]:
    """Every text a reader sees on the figure: titles, axis labels and tick labels."""
    out = [fig._suptitle.get_text() if fig._suptitle else "", fig._supylabel.get_text() if fig._supylabel else ""]
    for ax in fig.get_axes():
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    return out


def test_class_figures_name_the_classes_and_the_noun() -> None:
    labels = np.repeat(np.arange(10), 3)
    images = _images(30)
    for fig in (plots.examples_per_digit(images, labels, per_digit=2, class_names=FASHION, noun="class"),
                plots.class_distribution(labels, labels, class_names=FASHION, noun="class"),
                plots.mean_images(images, labels, class_names=FASHION, noun="class")):
        fig.canvas.draw()
        texts = " ".join(_texts(fig))
        assert "Ankle boot" in texts and "T-shirt/top" in texts, texts
        assert "digit" not in texts.lower(), texts
        plt.close(fig)
    default = plots.class_distribution(labels, labels)  # MNIST: as before
    assert default.get_axes()[0].get_xlabel() == "Digit"
    plt.close(default)


def test_evaluation_figures_name_the_classes() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 5)
    p = np.where(rng.random(50) < 0.3, (y + 1) % 10, y)
    cm = np.bincount(y * 10 + p, minlength=100).reshape(10, 10)
    heat = plots.confusion_heatmap(cm, class_names=FASHION)
    heat.canvas.draw()
    assert [t.get_text() for t in heat.get_axes()[0].get_xticklabels()] == FASHION
    plt.close(heat)
    grid = plots.confusion_grid({"a": cm, "b": cm}, class_names=FASHION)
    assert [t.get_text() for t in grid.get_axes()[1].get_yticklabels()] == FASHION
    plt.close(grid)
    conf = rng.uniform(0.3, 1, 50)
    preds = plots.prediction_grid(_images(50), y, p, conf, class_names=FASHION)
    titles = [ax.get_title() for ax in preds.get_axes()]
    assert titles[0] == f"pred {FASHION[p[0]]} ({conf[0]:.1%})\ntrue {FASHION[y[0]]}"
    plt.close(preds)
    misses = plots.misses_gallery(_images(50), y, p, conf, class_names=FASHION)
    first = int(np.flatnonzero(y != p)[np.argmax(conf[y != p])])
    assert misses.get_axes()[0].get_title() == f"true {FASHION[y[first]]}\n→ {FASHION[p[first]]} ({conf[first]:.0%})"
    plt.close(misses)
    out = plots.output_grid(rng.normal(size=10), np.full(10, 0.1), class_names=FASHION)
    assert [t.get_text() for t in out.get_axes()[1].get_xticklabels()] == FASHION  # the softmax bars
    plt.close(out)
    with pytest.raises(ValueError, match="class_names has 3 entries"):
        plots.mean_images(_images(30), np.repeat(np.arange(10), 3), class_names=FASHION[:3])

"""Report sentences name the settings that ran, and say what the code does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mnist_lib import data, prose, training, words
from mnist_lib.augment import Augmentation
from mnist_lib.training import TrainConfig


def test_training_setup_names_every_setting_that_ran():
    text = prose.training.training_text(TrainConfig(epochs=1, batch_size=100, optimizer="rmsprop", lr=0.002,
                                               scheduler="step", weight_decay=0.0, label_smoothing=0.0))
    for fragment in ("`rmsprop` (RMSprop)", "no weight decay", "learning rate 0.002 divided by 10", "`step` schedule",
                     "batch size 100", "1 epoch;", "no label smoothing", "no augmentation"):
        assert fragment in text, (fragment, text)
    assert "Adam" not in text and "one-cycle" not in text
    other = prose.training.training_text(TrainConfig(epochs=3, optimizer="adamw", lr=0.003, scheduler="onecycle",
                                                weight_decay=0.05, label_smoothing=0.1, augment=Augmentation()))
    for fragment in ("`adamw`", "weight decay 0.05", "its peak 0.003 over", "3 epochs", "label smoothing 0.1",
                     "true digit 91%", "rotation up to ±10°"):
        assert fragment in other, (fragment, other)


def test_schedule_sentences_say_what_make_scheduler_does(lr_trace):
    step = lr_trace("step", 100, lr=1.0)
    assert "divided by 10 after half of the steps and again after three quarters" in prose.training.schedule_text("step", 1)
    assert step[49] == 1 and step[50] == pytest.approx(0.1) and step[75] == pytest.approx(0.01)
    onecycle = lr_trace("onecycle", 100, lr=1.0)
    assert "peak 1 over the first 25% of the steps (at least two)" in prose.training.schedule_text("onecycle", 1.0)
    assert int(np.argmax(onecycle)) in (24, 25) and max(onecycle) == pytest.approx(1.0, rel=1e-3)
    assert onecycle[-1] < 0.01
    assert "towards 0 along a cosine" in prose.training.schedule_text("cosine", 1.0)
    assert lr_trace("cosine", 100, lr=1.0)[-1] < 0.01
    assert set(lr_trace("none", 100, lr=1.0)) == {1.0} and "constant learning rate of 0.5" in prose.training.schedule_text("none", 0.5)
    assert "0" not in prose.training.schedule_text("cosine", None).replace("towards 0", "")
    with pytest.raises(ValueError, match="scheduler must be one of"):
        prose.training.schedule_text("plateau", 1.0)


def test_optimizer_state_is_measured():
    assert [training.optimizer_state_values(o) for o in ("sgd", "momentum", "adam", "adamw", "rmsprop")] == \
        [0, 1, 2, 2, 1]
    assert "keeps 2 more values per parameter: 4 float32 values per parameter" in \
        prose.training.training_memory_text(1000, "adam")
    assert "keeps no state of its own" in prose.training.training_memory_text(1000, "sgd")


def test_curve_text_follows_label_smoothing_and_the_history():
    with_nll = pd.DataFrame({"train_loss": [0.9], "train_nll": [0.4]})
    assert "cannot fall below 0.50" in prose.training.curves_text(with_nll, 0.1)
    assert "dashed" in prose.training.curves_text(with_nll, 0.1)
    plain = prose.training.curves_text(with_nll.assign(train_nll=0.9), 0.0)
    assert "label smoothing" not in plain and "dashed" not in plain
    old = prose.training.curves_text(pd.DataFrame({"train_loss": [0.9]}), 0.2)
    assert "holds only the loss the optimizer minimized" in old and "label smoothing 0.2" in old


def test_train_metrics_note_reads_augmentation_and_dropout():
    cnn = training.seeded_model("cnn", 0)
    assert "on augmented images and with dropout active" in prose.training.train_metrics_text(True, cnn)
    ann = prose.training.train_metrics_text(False, training.seeded_model("ann", 0))
    assert "augmented" not in ann and "dropout" not in ann and "without any sign of trouble" not in ann


def test_normalization_and_data_sentences():
    assert "training split's own mean 0.1300 and standard deviation 0.3000" in \
        prose.data.normalization_text("dataset", 0.13, 0.3)
    assert "padding counts as background" in prose.data.normalization_text("dataset", 0.1, 0.3, padded=True)
    assert "padding" not in prose.data.normalization_text("half", 0.5, 0.5, padded=True)
    balanced = prose.data.class_balance_text(pd.Series([100, 110, 120]), 0.36)
    assert balanced.startswith("The classes are close to balanced") and "ratio of 1.20" in balanced
    assert prose.data.class_balance_text(pd.Series([100, 300]), 0.75).startswith("The classes are unbalanced")
    assert "close to black and white" in prose.data.pixel_text(0.8, 0.1, 100)
    assert "far from binary" in prose.data.pixel_text(0.3, 0.1, 100)
    assert words.plural(1, "epoch") == "1 epoch" and words.plural(1200, "step") == "1,200 steps"
    assert [words.percent(x) for x in (0.91, 0.005, 0.955, 1.0)] == ["91%", "0.5%", "95.5%", "100%"]
    assert "true digit 95.5% and every other digit 0.5%" in prose.training.loss_text(0.05)


def test_class_words_backgrounds_and_the_data_sentence(tmp_path):
    from mnist_lib import datasets

    fashion = datasets.RawDataset(torch.zeros(2, 28, 28, dtype=torch.uint8), torch.tensor([0, 1]),
                                  torch.zeros(1, 28, 28, dtype=torch.uint8), torch.tensor([1]),
                                  dataset=datasets.FASHION_MNIST, classes=datasets.FASHION_MNIST.classes)
    mnist = datasets.RawDataset(*(getattr(fashion, k) for k in ("train_images", "train_labels", "test_images",
                                                                 "test_labels")))
    assert words.class_nouns(mnist) == ("digit", "digits") and words.class_nouns(fashion) == ("class", "classes")
    assert words.foreground_noun(mnist) == "strokes" and words.foreground_noun(fashion) == "object"
    assert "true class 95.5% and every other class 0.5%" in prose.training.loss_text(0.05, "class")
    assert "true class" in prose.training.curves_text(pd.DataFrame({"epoch": [1]}), 0.0, "class")
    assert "the most frequent training class, **Dress**" in prose.data.class_balance_text(
        pd.Series({"Dress": 120, "Coat": 100}), 0.5, noun="class")
    text = prose.data.dataset_text(fashion)
    assert text.startswith("The data: **Fashion-MNIST**, 2 training and 1 test images of 28×28 pixels in 10 classes "
                           "(0 T-shirt/top, 1 Trouser,") and "pinned for Fashion-MNIST" in text
    assert "(labelled 0–9)" in prose.data.dataset_text(mnist)
    folder = tmp_path / "scans"
    folder.mkdir()
    idx = datasets.RawDataset(*(getattr(fashion, k) for k in ("train_images", "train_labels", "test_images",
                                                               "test_labels")), dataset=datasets.IDX,
                              classes=tuple(str(k) for k in range(10)), sha256={"t10k-labels-idx1-ubyte": "ab" * 32},
                              directory=folder)
    text = prose.data.dataset_text(idx)
    assert text.startswith("The data: the IDX folder **scans**") and "`t10k-labels-idx1-ubyte` " + "ab" * 32 in text
    assert "has no classes.txt or classes.json" in text and "not pinned" in text
    # Background: the border's commonest value, so dark-on-light images are read right.
    light = torch.full((3, 28, 28), 255, dtype=torch.uint8)
    light[:, 10:18, 10:18] = 0
    assert data.background_value(light) == 255 and data.background_value(255 - light) == 0
    assert "exactly 255 (background: the commonest value on the images' border)" in prose.data.pixel_text(
        0.1, 0.8, 100, background=255)
    assert "exactly 0 (background" in prose.data.pixel_text(0.8, 0.1, 100)


def test_hflip_sentences_follow_the_dataset_and_the_parameter():
    from mnist_lib import datasets

    assert prose.data.hflip_text(True, None, datasets.FASHION_MNIST) == (
        "Random horizontal flips are **on** (the default for Fashion-MNIST; a mirrored Fashion-MNIST image still "
        "shows its class).")
    assert prose.data.hflip_text(False, None, datasets.MNIST) == (
        "Random horizontal flips are **off** (the default for MNIST; a mirrored digit is not the same digit).")
    assert "as the `hflip` parameter asks" in prose.data.hflip_text(False, False, datasets.FASHION_MNIST)
    assert "not known for an IDX folder" in prose.data.hflip_text(False, None, datasets.IDX)
    flips = Augmentation(hflip=True)
    assert prose.training.augmentation_text(flips).startswith("batch augmentation (random horizontal flips, rotation")
    assert "flips" not in prose.training.augmentation_text(Augmentation())


def test_the_most_frequent_mistake_names_every_tie_and_counts_the_right_images():
    """03 picked one of a tie without saying so, and wrote "0.58% of the 7 test images" for 6 of 1,028 sevens."""
    cm = np.zeros((10, 10), dtype=int)
    np.fill_diagonal(cm, 1000)
    cm[7, 7], cm[7, 2], cm[4, 9], cm[3, 5] = 1022, 6, 6, 2
    text = prose.training.mistakes_text(cm)
    assert text.startswith("2 mistakes tie for the most frequent, 6 each: a **4** read as **9** (6 of the 1,006 test "
                           "images of digit 4, 0.60%) and a **7** read as **2** (6 of the 1,028 test images of digit 7, "
                           "0.58%).")
    assert text.endswith("The 3 most frequent confusions make up 14 of the 14 errors.")
    assert prose.training.mistakes_text(cm, shown=1).endswith("The most frequent confusion alone makes up 6 of the 14 "
                                                              "errors.")
    assert "2 mistakes tie" in prose.training.mistakes_text(cm, shown=1)  # a tie beyond the table is still named
    cm[7, 2] = 7
    single = prose.training.mistakes_text(cm, [str(i) for i in range(10)], "class")
    assert single.startswith("The most frequent mistake is a **7** read as **2** (7 of the 1,029 test images of "
                             "class 7, 0.68%).")
    assert prose.training.mistakes_text(np.eye(10, dtype=int)) == "There is not a single mistake on the test images."


def test_the_schedule_and_the_splits_are_stated_as_this_run_made_them():
    """The warm-up was "the first quarter of the steps" while the code takes max(0.25, 2 / steps), and the
    validation split "a stratified twelfth" while it is whatever prepare_data held out."""
    assert "over the first 2 of its 4 steps" in prose.training.schedule_text("onecycle", 0.01, steps=4)
    assert "over the first 250 of its 1,000 steps" in prose.training.schedule_text("onecycle", 0.01, steps=1000)
    assert "over the first 2 of its 6 steps" in prose.training.schedule_text("onecycle", 0.01, steps=6)
    assert "over the first 25% of the steps (at least two)" in prose.training.schedule_text("onecycle", None)
    cfg = TrainConfig(epochs=2, batch_size=100, scheduler="onecycle", lr=0.01)
    assert "over the first 5 of its 20 steps" in prose.training.training_text(cfg, "digit", train_images=1000)
    raw = data_stand_in(train=120, test=30)
    splits = data.prepare_data(raw, seed=0, val_size=24)
    assert prose.data.splits_text(splits) == (
        "**96** training, **24** validation and **30** test images (the validation images held out of the 120 "
        "training images, 20.0% of them, stratified by class and drawn with the run's seed)")


def data_stand_in(train: int, test: int):
    """A small RawDataset with every class present: ten classes in turn."""
    from mnist_lib.datasets import RawDataset

    generator = torch.Generator().manual_seed(0)
    images = lambda n: torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=generator)  # noqa: E731
    labels = lambda n: torch.arange(n) % 10  # noqa: E731
    return RawDataset(images(train), labels(train), images(test), labels(test))

"""Sentences about the data: what data set a report is on, its classes, their balance, the pixels,
the normalization and how it compares with the customary constants, and horizontal flips."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from mnist_lib.references import DEFAULT_DATASET, REFERENCES

NORMALIZATION_PHRASES = {
    "dataset": "standardized with the training split's own mean {mean:.4f} and standard deviation {std:.4f}",
    "half": "mapped to [−1, 1] as (x − 0.5) / 0.5",
    "none": "left as pixel values in [0, 1]",
    "raw": "left as raw pixel values 0..255",
}


def hflip_text(hflip: bool, requested: bool | None, dataset) -> str:
    """Why this run does or does not mirror training images: ``hflip`` what ran, ``requested`` the
    parameter (None: the dataset's default), ``dataset`` the registry entry."""
    noun, title = dataset.class_noun, dataset.title
    keeps = {True: f"a mirrored {title} image still shows its {noun}",
             False: f"a mirrored {noun} is not the same {noun}",
             None: f"whether a mirrored image keeps its {noun} is not known for an {title}; set `hflip=True` if it "
                   "does"}[dataset.hflip_preserves_label]
    state = "on" if hflip else "off"
    how = ("as the `hflip` parameter asks" if requested is not None
           else f"the default for {'' if dataset.pinned else 'an '}{title}")
    return f"Random horizontal flips are **{state}** ({how}; {keeps})."


def normalization_text(normalization: str, mean: float, std: float, padded: bool = False) -> str:
    """How the inputs were normalized: "inputs standardized with the training split's own mean ...".
    ``padded``: the images were zero-padded first, which the dataset statistics include."""
    if normalization not in NORMALIZATION_PHRASES:
        raise ValueError(f"normalization must be one of {', '.join(NORMALIZATION_PHRASES)}, got {normalization!r}")
    text = f"inputs {NORMALIZATION_PHRASES[normalization].format(mean=mean, std=std)} (`{normalization}`)"
    if padded and normalization == "dataset":
        text += ", statistics computed after padding, so the padding counts as background"
    return text


def class_balance_text(train_counts: Mapping[Any, int] | pd.Series, test_majority_share: float,
                       balanced_ratio: float = 1.5, noun: str = "digit") -> str:
    """How balanced the classes are (most / least frequent training class, by the names in the
    index of ``train_counts``), and what that means for accuracy.

    The classes count as close to balanced when the ratio is below ``balanced_ratio``.
    """
    counts = pd.Series(train_counts, dtype=float)
    if counts.empty or counts.min() <= 0:
        raise ValueError("train_counts must hold a positive count for every class")
    shares = counts / counts.sum()
    common, rare = shares.idxmax(), shares.idxmin()
    ratio = counts[common] / counts[rare]
    head = (f"the most frequent training {noun}, **{common}**, makes up **{shares[common]:.2%}** of the training "
            f"split and the rarest, **{rare}**, **{shares[rare]:.2%}** (a ratio of {ratio:.2f}). Always guessing "
            f"the commonest {noun} would score {test_majority_share:.1%} on the test split")
    if ratio < balanced_ratio:
        return (f"The classes are close to balanced: {head}, so accuracy is a fair headline metric; the stratified "
                "splits keep the shares equal across train, validation and test.")
    return (f"The classes are unbalanced: {head}, so per-class metrics matter more than plain accuracy here; the "
            "stratified splits keep the shares equal across train, validation and test.")


def pixel_text(zero_share: float, full_share: float, n_pixels: int, binary_below: float = 0.2,
               background: int = 0) -> str:
    """The share of pixels at 0, at 255 and in between, naming which end is the ``background``
    (:func:`background_value`); "close to binary" when fewer than ``binary_below`` of the pixels lie
    in between."""
    between = 1 - zero_share - full_share
    role = {0: "", 255: ""}
    if background in role:
        role[background] = " (background: the commonest value on the images' border)"
        role[255 - background] = " (saturated)"
    else:
        role[0], role[255] = " (dark end)", " (bright end)"
    text = (f"**{zero_share:.2%}** of the {n_pixels:,} training pixels are exactly 0{role[0]} and "
            f"{full_share:.2%} are exactly 255{role[255]}; {between:.2%} lie in between.")
    if background not in (0, 255):
        text += f" The border's commonest value is {background}, so the background is not at either end."
    if between < binary_below:
        return text + (f" Fewer than {binary_below:.0%} of the pixels are grey, so the images are close to black and "
                       "white.")
    return text + " Many pixels are grey, so the images are far from binary."


def classes_text(classes: Sequence[str]) -> str:
    """"0 T-shirt/top, 1 Trouser, ..." (label and name), or "0–9" when the names are the labels."""
    if list(classes) == [str(k) for k in range(len(classes))]:
        return f"labelled {classes[0]}–{classes[-1]}"
    return ", ".join(f"{k} {name}" for k, name in enumerate(classes))


def dataset_text(raw) -> str:
    """What data this report is on (a :class:`mnist_lib.datasets.RawDataset`): its name, sizes, classes
    and how its files were checked; for an idx folder, where it is and the SHA-256 computed here."""
    n_train, n_test = len(raw.train_labels), len(raw.test_labels)
    shape = "×".join(str(n) for n in raw.train_images.shape[1:])
    head = (f"{n_train:,} training and {n_test:,} test images of {shape} pixels in {len(raw.classes)} classes "
            f"({classes_text(raw.classes)})")
    if raw.dataset.pinned:
        return (f"The data: **{raw.title}**, {head}. Every file was checked against the SHA-256 pinned for "
                f"{raw.title} in `mnist_lib.datasets`.")
    where = f"`{raw.directory}`" if raw.directory is not None else "a folder"
    name = raw.directory.name if raw.directory is not None else raw.title
    names = ("" if list(raw.classes) != [str(k) for k in range(len(raw.classes))]
             else "; the folder has no classes.txt or classes.json, so the classes are named by their labels")
    hashes = ", ".join(f"`{name}` {digest}" for name, digest in sorted(raw.sha256.items()))
    return (f"The data: the IDX folder **{name}** ({where}), {head}{names}. Its files are not pinned: they were "
            f"validated (magic numbers, shapes, label range, counts that agree) and their SHA-256 computed here: "
            f"{hashes}.")


def normalization_constants_text(mean: float, std: float, dataset: str = DEFAULT_DATASET, title: str | None = None) -> str:
    """A sentence comparing measured pixel statistics ([0, 1] scale) with the usual constants
    (``title`` names a dataset that has no references, such as an idx folder)."""
    refs = REFERENCES.get(dataset)
    if refs is None or refs.pixel_mean is None or refs.pixel_std is None:
        return (f"There are no customary normalization constants for {title or (refs.title if refs else dataset)} "
                "to compare with.")
    agree = round(mean, 4) == refs.pixel_mean and round(std, 4) == refs.pixel_std
    verdict = ("the same to four decimals" if agree else
               f"a difference of {mean - refs.pixel_mean:+.4f} and {std - refs.pixel_std:+.4f}")
    return (f"The constants usually passed to `transforms.Normalize` for {refs.title} are {refs.pixel_mean} and "
            f"{refs.pixel_std}; measured here: {mean:.4f} and {std:.4f}, {verdict}.")


def splits_text(splits) -> str:
    """The three splits a run uses (a :class:`mnist_lib.data.DataSplits`): how many images train, how
    many were held out for validation and how, and how many test, all as this run prepared them."""
    sizes = splits.sizes()
    pool = sizes["train"] + sizes["validation"]
    return (f"**{sizes['train']:,}** training, **{sizes['validation']:,}** validation and **{sizes['test']:,}** test "
            f"images (the validation images held out of the {pool:,} training images, "
            f"{sizes['validation'] / pool:.1%} of them, stratified by class and drawn with the run's seed)")

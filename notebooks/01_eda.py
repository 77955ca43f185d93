# %% [markdown]
# # 01_eda — Exploring the data set
#
# Before any model is trained, this report looks at the data itself (the data set the `dataset` parameter
# names; the section *The data set* says which): how the images are split into training, validation and
# test sets, what one raw record looks like, how balanced the ten classes are, what the images of each
# class look like one by one and on average, how the pixel values are distributed, what normalization
# does to them and what the batch augmentation produces with this run's settings. It also sets the pixel
# statistics of the whole training set beside the constants usually passed to `transforms.Normalize`,
# where the data set has customary ones.

# %% tags=["parameters"]
from typing import Optional

dataset: str = "mnist"  # the data set of the whole series (idx: the folder given as data_source): mnist, fashion-mnist, idx
data_dir: Optional[str] = None  # where the data set is cached (torchvision layout: MNIST/raw, FashionMNIST/raw); None: the project's data/
data_source: Optional[str] = None  # a folder with the four IDX files, tried before the mirrors (for idx: the data set itself)
seed: int = 0  # seed of every random choice: split, subsets, initial weights, shuffling, dropout, augmentation, in [0, 2147483647]
device: str = "auto"  # where to run: auto, cpu, cuda, mps
threads: int = 1  # torch threads of the whole run, fixed so the numbers do not depend on -j, the worker or the machine, in [1, 256]
train_limit: Optional[int] = None  # a stratified subset of the training images (quick runs), in [100, 60000]; None: all
test_limit: Optional[int] = None  # a stratified subset of the test images (quick runs), in [100, 10000]; None: all
output_dir: Optional[str] = None  # where the metrics and predictions files are written; None: the project's reports/
examples_per_class: int = 10  # examples per class in the grid, in [1, 30]
augment_examples: int = 6  # augmented versions shown next to each original, in [1, 12]
augment: bool = True  # random affine + brightness/contrast jitter on training batches
rotation: float = 10.0  # max rotation, degrees, in [0, 180]
translate: float = 0.1  # max shift, fraction of the image, in [0, 0.5]
scale_range: float = 0.1  # max relative zoom in or out, in [0, 0.5]
shear: float = 10.0  # max shear, degrees, in [0, 45]
brightness: float = 0.2  # max relative brightness change, in [0, 0.9]
contrast: float = 0.2  # max relative contrast change, in [0, 0.9]
hflip: Optional[bool] = None  # random horizontal flips of training images; None: the data set's default (on only where a mirrored image keeps its class)

# %% [markdown]
# ## Run settings
#
# The table lists everything needed to repeat this report: the parameters it ran with (including the
# seed), the library versions, the device and the git commit of the code.

# %%
from dataclasses import asdict

import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from mnist_lib import data, datasets, plots, prose, recipes, reports, words
from mnist_lib.augment import augment_batch

reports.setup_notebook()
run = reports.start_run("01_eda", globals())
P = run.params
run.show_provenance()

# %% [markdown]
# ## The data set
#
# `data.load_dataset` reads the four IDX files of the data set named by the `dataset` parameter after
# checking each: against the SHA-256 digest pinned for a registered data set, or, for an idx folder,
# its format (magic numbers, shapes, label range, counts that agree), recording the SHA-256 it computes.
# The raw arrays are stored exactly as in the files: 8-bit unsigned integers from 0 to 255, with integer
# labels 0-9 that stand for the ten classes named below.

# %%
raw = datasets.load_dataset(P.dataset, P.data_dir, source=P.data_source)
NOUN, NOUNS = words.class_nouns(raw)  # what one class is called: digit(s) for MNIST, class(es) otherwise
splits = data.prepare_data(raw, seed=P.seed, train_limit=P.train_limit, test_limit=P.test_limit,
                           normalization="dataset", image_size=28, device=run.device)
raw_table = pd.DataFrame([
    {"array": name, "shape": tuple(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
     "min": int(t.min()), "max": int(t.max())}
    for name, t in [("train_images", raw.train_images), ("train_labels", raw.train_labels),
                    ("test_images", raw.test_images), ("test_labels", raw.test_labels)]
]).set_index("array")
display(raw_table)
display(Markdown(prose.data.dataset_text(raw)))

# %% [markdown]
# `prepare_data` holds out a seeded, stratified share of the training images as a validation set
# (used for model selection in the later notebooks), converts every image to a float32 tensor of shape
# 1×28×28 and normalizes it with the training split's own mean and standard deviation. The test set is
# never used for any choice. The table describes the three splits as the models see them.

# %%
sizes = splits.sizes()
split_stats = splits.describe()
display(split_stats.style.format({"min": "{:.4f}", "max": "{:.4f}", "mean": "{:.4f}", "std": "{:.4f}",
                               "images": "{:,}"}))
subset_note = ""
if P.train_limit is not None or P.test_limit is not None:
    subset_note = (f" These are stratified subsets (train_limit={P.train_limit}, test_limit={P.test_limit}) "
                   f"of the {len(raw.train_labels):,} training and {len(raw.test_labels):,} test images.")
display(Markdown(
    f"The splits hold {prose.data.splits_text(splits)}.{subset_note} After normalization the training pixels run from "
    f"**{split_stats.loc['train', 'min']:.4f}** (pixel value 0) to **{split_stats.loc['train', 'max']:.4f}** "
    f"(pixel value 255), with mean {round(split_stats.loc['train', 'mean'], 4) + 0.0:.4f} and standard deviation "
    f"{split_stats.loc['train', 'std']:.4f} by construction."
))

# %% [markdown]
# ## One raw record
#
# The first training image, printed as the raw 28×28 `uint8` tensor: each number is one pixel, from 0
# to 255. The shape can be read in the numbers; the image below shows the same record, with its label
# and the name of its class.

# %%
# Wide enough for one image row per line; restored afterwards so later tensors print as usual.
torch.set_printoptions(linewidth=200, threshold=28 * 28 + 1)
print(raw.train_images[0])
torch.set_printoptions(profile="default")
first_label = int(raw.train_labels[0])
print(f"label: {first_label}, {raw.classes[first_label]}  (dtype {raw.train_labels.dtype}, shape {tuple(raw.train_images[0].shape)})")

# %%
reports.show(plots.image_grid(raw.train_images[:1], titles=[f"training image 0, label {first_label} ({raw.classes[first_label]})"],
                              suptitle="The record above as an image"))

# %% [markdown]
# ## Class distribution
#
# How many images each class has in the training and test splits. A strongly unbalanced set would make
# plain accuracy misleading and call for per-class metrics or reweighting; the bars show whether that
# is needed here.

# %%
train_idx = torch.from_numpy(splits.train_index)
train_images = raw.train_images[train_idx]
train_labels = raw.train_labels[train_idx]
reports.show(plots.class_distribution(train_labels, raw.test_labels[torch.from_numpy(splits.test_index)],
                                      class_names=raw.classes, noun=NOUN))

# %% [markdown]
# The same counts as a table, with each class's share of its split (the validation split included):

# %%
counts = pd.DataFrame({name: np.bincount(y.cpu().numpy(), minlength=10)
                       for name, y in [("train", splits.y_train), ("validation", splits.y_val),
                                       ("test", splits.y_test)]})
counts.index = pd.Index(raw.classes, name=NOUN)
shares = counts / counts.sum()
class_table = pd.concat([counts.add_suffix(" count"), shares.add_suffix(" share")], axis=1)
class_table.loc["total"] = class_table.sum()
display(class_table.style.format({c: "{:,.0f}" for c in class_table.columns if c.endswith("count")})
        .format({c: "{:.2%}" for c in class_table.columns if c.endswith("share")}))
display(Markdown(prose.data.class_balance_text(counts["train"], shares["test"].max(), noun=NOUN)))

# %% [markdown]
# ## Examples of every class
#
# Randomly chosen (seeded) training images, one row per class. The variety within a row is what a
# classifier has to absorb; the likeness between rows is what it has to tell apart.

# %%
reports.show(plots.examples_per_digit(train_images, train_labels, per_digit=P.examples_per_class, seed=P.seed,
                                      class_names=raw.classes, noun=NOUN))

# %% [markdown]
# ## Mean image per class
#
# Averaging all training images of a class shows where its foreground (the pixels that differ from the
# background) usually lies. Sharp regions mean the images of the class agree; blurred ones mean they
# vary. Below the figure, the share of the foreground inside the central 20×20 box shows how much of the
# border stays empty.

# %%
reports.show(plots.mean_images(train_images, train_labels, class_names=raw.classes, noun=NOUN))
height, width = train_images.shape[1:]
top, left = (height - 20) // 2, (width - 20) // 2
background = data.background_value(train_images)  # the commonest value on the images' border
foreground = (train_images.double() - background).abs()
centre_share = float(foreground[:, top:top + 20, left:left + 20].sum() / foreground.sum())
display(Markdown(f"**{centre_share:.2%}** of the training split's foreground (the summed distance of every pixel from "
                 f"the background value {background}) lies in the central 20×20 box, which is "
                 f"{400 / (height * width):.0%} of the {height}×{width} frame."))

# %% [markdown]
# ## Pixel intensities
#
# The histogram of every pixel value in the training split (log scale, so that rare values stay visible):

# %%
reports.show(plots.pixel_histogram(train_images))
n_pixels = train_images.numel()
zero_share = float((train_images == 0).sum()) / n_pixels
full_share = float((train_images == 255).sum()) / n_pixels
background_share = float((train_images == background).sum()) / n_pixels
display(Markdown(prose.data.pixel_text(zero_share, full_share, n_pixels, background=background)))

# %% [markdown]
# ## Normalization
#
# This notebook normalizes with `normalization="dataset"`: the inputs become `(x - mean) / std`, where `x`
# is the pixel value on the [0, 1] scale and mean and std are computed on the training split only (never on
# validation or test data). This is what `transforms.Normalize((mean,), (std,))` does in the usual
# torchvision pipeline: it shifts and rescales the values so that they have mean 0 and standard deviation 1,
# which keeps the first layer's inputs on the scale its initialization assumes. The model notebooks choose
# their own normalization with their `normalization` parameter.

# %%
unit_train = data.to_unit_float(train_images)
before_mean, before_std = float(unit_train.mean()), float(unit_train.std())
after_mean, after_std = float(splits.x_train.mean()), float(splits.x_train.std())
# The whole training set, for comparison with the customary normalization constants; computed from the
# 256-bin pixel histogram so that no float copy of every pixel is needed.
levels = torch.arange(256, dtype=torch.float64) / 255
level_counts = torch.bincount(raw.train_images.flatten(), minlength=256).to(torch.float64)
all_mean = float((level_counts * levels).sum() / level_counts.sum())
all_std = float(((level_counts * (levels - all_mean) ** 2).sum() / (level_counts.sum() - 1)).sqrt())
norm_table = pd.DataFrame(
    {"mean": [all_mean, before_mean, after_mean], "std": [all_std, before_std, after_std],
     "min": [0.0, float(unit_train.min()), float(splits.x_train.min())],
     "max": [1.0, float(unit_train.max()), float(splits.x_train.max())]},
    index=[f"all {len(raw.train_labels):,} training images, [0, 1] scale",
           f"training split ({sizes['train']:,}), [0, 1] scale", "training split, normalized"])
display(norm_table.style.format("{:.4f}"))
reports.show(plots.normalization_effect(unit_train, splits.x_train))
display(Markdown(
    f"The training split has mean **{splits.mean:.4f}** and standard deviation **{splits.std:.4f}** "
    f"(all {len(raw.train_labels):,} training images: {all_mean:.4f} / {all_std:.4f}). Normalizing "
    f"with them gives mean {round(after_mean, 4) + 0.0:.4f} and standard deviation {after_std:.4f}: "
    f"pixel value 0 moves "
    f"from 0 to {-splits.mean / splits.std:.4f} and pixel value 255 from 1 to {(1 - splits.mean) / splits.std:.4f}. "
    "The shape of the histogram does not change; only its axis is shifted and stretched. "
    + prose.data.normalization_constants_text(all_mean, all_std, P.dataset, raw.title)
))

# %% [markdown]
# ## Augmentation preview
#
# Data augmentation shows the network a slightly different version of each training image every epoch:
# a random rotation, shift, zoom and shear, plus a brightness and contrast jitter, each drawn within the
# ranges set by the parameters. When `augment` is on, each row below is one training image (the first six
# of the training split) followed by augmented versions drawn with a seeded generator. The transforms
# should stay small enough that every version still clearly shows its class. Horizontal flips, when on,
# mirror half of the images; the sentence under the figure says whether they are on and why.

# %%
aug = recipes.augmentation(P)
if aug is None:
    display(Markdown("Augmentation is switched off (`augment=False`), so there is nothing to preview."))
else:
    display(pd.DataFrame({"setting": [str(v) for v in asdict(aug).values()]}, index=list(asdict(aug))))
    originals = splits.x_train[:6]
    generator = torch.Generator(device=originals.device).manual_seed(P.seed)
    augmented = [splits.unnormalize(augment_batch(originals, aug, generator, splits.mean, splits.std))
                 for _ in range(P.augment_examples)]
    reports.show(plots.augmentation_preview(splits.unnormalize(originals), augmented))
    display(Markdown(f"This run's augmentation: {prose.training.augmentation_text(aug)}. "
                     + prose.data.hflip_text(aug.hflip, P.hflip, raw.dataset)))

# %% [markdown]
# ## Conclusions

# %%
image_shape = "×".join(str(n) for n in raw.train_images.shape[1:])
image_dtype = str(raw.train_images.dtype).replace("torch.", "")
display(Markdown(
    f"- {raw.title[:1].upper() + raw.title[1:]} here is {sizes['train']:,} training, {sizes['validation']:,} validation and {sizes['test']:,} "
    f"test images of {image_shape} `{image_dtype}` pixels, stored as float32 tensors for the models.\n"
    f"- The training shares of the ten classes lie between {shares['train'].min():.2%} and "
    f"{shares['train'].max():.2%}.\n"
    f"- {background_share:.1%} of the training pixels are exactly the background value {background}; "
    f"{centre_share:.1%} of the foreground lies in the central 20×20 box.\n"
    f"- The training split's mean and standard deviation are {splits.mean:.4f} and {splits.std:.4f}; "
    "normalizing with them centres the inputs at 0 with unit spread."
))

# %%
metrics_file = reports.finish_run(
    run,
    headline={"train / validation / test": f"{sizes['train']:,} / {sizes['validation']:,} / {sizes['test']:,}",
              "training mean / std": f"{splits.mean:.4f} / {splits.std:.4f}",
              f"background pixels (value {background})": f"{background_share:.2%}"},
    dataset=reports.dataset_record(raw),
    sizes=sizes,
    train_mean=splits.mean,
    train_std=splits.std,
    all_train_mean=all_mean,
    all_train_std=all_std,
    normalized_mean=after_mean,
    normalized_std=after_std,
    zero_pixel_share=zero_share,
    background_value=background,
    background_share=background_share,
    centre_ink_share=centre_share,
    class_counts={name: counts[name].tolist() for name in counts.columns},
)

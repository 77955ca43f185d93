# %% [markdown]
# # 01_eda — Exploring MNIST
#
# Before any model is trained, this report looks at the data itself: how the images are split into
# training, validation and test sets, what one raw record looks like, how balanced the ten classes are,
# what the digits look like one by one and on average, how the pixel values are distributed, what
# normalization does to them and what the batch augmentation produces with this run's settings. It also
# sets the pixel statistics of the whole training set beside the constants usually passed to
# `transforms.Normalize`.

# %% tags=["parameters"]
data_dir = None  # where MNIST is cached (torchvision layout under MNIST/raw); None: the project's data/
data_source = None  # a folder with the four IDX files, tried before the mirrors
seed = 0  # seed for the split, the example picks and the augmentation preview
device = "auto"  # auto, cpu, cuda or mps
train_limit = None  # a stratified subset of the training images (quick runs); None for all
test_limit = None  # a stratified subset of the test images (quick runs); None for all
output_dir = None  # where the metrics file is written; None: the project's reports/
checkpoint_dir = None  # where trained weights are cached (nothing is trained here); None: the project's checkpoints/
examples_per_digit = 10  # examples per digit in the grid
augment_examples = 6  # augmented versions shown next to each original
augment = True  # preview the augmentation (random affine + brightness/contrast jitter)
rotation = 10.0  # max rotation, degrees
translate = 0.1  # max shift, fraction of the image
scale_range = 0.1  # max relative zoom in or out
shear = 10.0  # max shear, degrees
brightness = 0.2  # max relative brightness change
contrast = 0.2  # max relative contrast change

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

from mnist_lib import config, data, describe, plots, references, reports

reports.setup_notebook()
run = reports.start_run("01_eda", globals())
P = run.params
display(run.provenance_frame())

# %% [markdown]
# ## The data set
#
# `load_mnist` reads the four IDX files after checking each against its SHA-256 digest. The raw arrays
# are stored exactly as in the files: 8-bit unsigned integers from 0 (background) to 255 (full ink),
# with integer labels 0-9.

# %%
raw = data.load_mnist(P.data_dir, source=P.data_source)
splits = data.prepare_data(raw, seed=P.seed, train_limit=P.train_limit, test_limit=P.test_limit,
                           normalization="dataset", image_size=28, device=run.device)
raw_table = pd.DataFrame([
    {"array": name, "shape": tuple(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
     "min": int(t.min()), "max": int(t.max())}
    for name, t in [("train_images", raw.train_images), ("train_labels", raw.train_labels),
                    ("test_images", raw.test_images), ("test_labels", raw.test_labels)]
]).set_index("array")
display(raw_table)

# %% [markdown]
# `prepare_data` holds out a seeded, stratified twelfth of the training images as a validation set
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
    f"The splits hold **{sizes['train']:,}** training, **{sizes['validation']:,}** validation and "
    f"**{sizes['test']:,}** test images.{subset_note} After normalization the training pixels run from "
    f"**{split_stats.loc['train', 'min']:.4f}** (background) to **{split_stats.loc['train', 'max']:.4f}** "
    f"(full ink), with mean {round(split_stats.loc['train', 'mean'], 4) + 0.0:.4f} and standard deviation "
    f"{split_stats.loc['train', 'std']:.4f} by construction."
))

# %% [markdown]
# ## One raw record
#
# The first training image, printed as the raw 28×28 `uint8` tensor: each number is one pixel, 0 is
# background and 255 is full ink. The digit can be read in the numbers; the image below shows the same
# record.

# %%
# Wide enough for one image row per line; restored afterwards so later tensors print as usual.
torch.set_printoptions(linewidth=200, threshold=28 * 28 + 1)
print(raw.train_images[0])
torch.set_printoptions(profile="default")
first_label = int(raw.train_labels[0])
print(f"label: {first_label}  (dtype {raw.train_labels.dtype}, shape {tuple(raw.train_images[0].shape)})")

# %%
reports.show(plots.image_grid(raw.train_images[:1], titles=[f"training image 0, label {first_label}"],
                              suptitle="The record above as an image"))

# %% [markdown]
# ## Class distribution
#
# How many images each digit has in the training and test splits. A strongly unbalanced set would make
# plain accuracy misleading and call for per-class metrics or reweighting; the bars show whether that
# is needed here.

# %%
train_idx = torch.from_numpy(splits.train_index)
train_images = raw.train_images[train_idx]
train_labels = raw.train_labels[train_idx]
reports.show(plots.class_distribution(train_labels, raw.test_labels[torch.from_numpy(splits.test_index)]))

# %% [markdown]
# The same counts as a table, with each digit's share of its split (the validation split included):

# %%
counts = pd.DataFrame({name: np.bincount(y.cpu().numpy(), minlength=10)
                       for name, y in [("train", splits.y_train), ("validation", splits.y_val),
                                       ("test", splits.y_test)]})
counts.index.name = "digit"
shares = counts / counts.sum()
class_table = pd.concat([counts.add_suffix(" count"), shares.add_suffix(" share")], axis=1)
class_table.loc["total"] = class_table.sum()
display(class_table.style.format({c: "{:,.0f}" for c in class_table.columns if c.endswith("count")})
        .format({c: "{:.2%}" for c in class_table.columns if c.endswith("share")}))
display(Markdown(describe.class_balance_text(counts["train"], shares["test"].max())))

# %% [markdown]
# ## Examples of every digit
#
# Randomly chosen (seeded) training images, one row per digit. The variety within a row is what a
# classifier has to absorb: stroke thickness, slant, open or closed loops, the crossed 7 and the many
# shapes of 2 and 4.

# %%
reports.show(plots.examples_per_digit(train_images, train_labels, per_digit=P.examples_per_digit, seed=P.seed))

# %% [markdown]
# ## Mean image per digit
#
# Averaging all training images of a digit shows where its ink usually lies. Sharp, bright regions mean
# the writers agree; blurred ones mean they vary. MNIST digits were size-normalized to fit a 20×20 box
# and centred by their centre of mass in the 28×28 frame; the share of ink inside the central 20×20 box,
# below the figure, shows how much of the border stays empty.

# %%
reports.show(plots.mean_images(train_images, train_labels))
height, width = train_images.shape[1:]
top, left = (height - 20) // 2, (width - 20) // 2
centre_share = float(train_images[:, top:top + 20, left:left + 20].double().sum() / train_images.double().sum())
display(Markdown(f"**{centre_share:.2%}** of the training split's ink (summed pixel values) lies in the central "
                 f"20×20 box of the {height}×{width} frame."))

# %% [markdown]
# ## Pixel intensities
#
# The histogram of every pixel value in the training split (log scale, because one value dominates):

# %%
reports.show(plots.pixel_histogram(train_images))
n_pixels = train_images.numel()
zero_share = float((train_images == 0).sum()) / n_pixels
full_share = float((train_images == 255).sum()) / n_pixels
display(Markdown(describe.pixel_text(zero_share, full_share, n_pixels)))

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
    f"the background moves "
    f"from 0 to {-splits.mean / splits.std:.4f} and full ink from 1 to {(1 - splits.mean) / splits.std:.4f}. "
    "The shape of the histogram does not change; only its axis is shifted and stretched. "
    + references.normalization_reading(all_mean, all_std)
))

# %% [markdown]
# ## Augmentation preview
#
# Data augmentation shows the network a slightly different version of each training image every epoch:
# a random rotation, shift, zoom and shear, plus a brightness and contrast jitter, each drawn within the
# ranges set by the parameters. When `augment` is on, each row below is one training image (the first six
# of the training split) followed by augmented versions drawn with a seeded generator. The transforms
# should stay small enough that every version is still clearly the same digit; a 6 rotated too far becomes
# a 9.

# %%
aug = config.augmentation_from(P)
if aug is None:
    display(Markdown("Augmentation is switched off (`augment=False`), so there is nothing to preview."))
else:
    display(pd.DataFrame({"setting": [str(v) for v in asdict(aug).values()]}, index=list(asdict(aug))))
    originals = splits.x_train[:6]
    generator = torch.Generator(device=originals.device).manual_seed(P.seed)
    augmented = [splits.unnormalize(data.augment_batch(originals, aug, generator, splits.mean, splits.std))
                 for _ in range(P.augment_examples)]
    reports.show(plots.augmentation_preview(splits.unnormalize(originals), augmented))
    display(Markdown(f"This run's augmentation: {describe.augmentation_text(aug)}."))

# %% [markdown]
# ## Conclusions

# %%
image_shape = "×".join(str(n) for n in raw.train_images.shape[1:])
image_dtype = str(raw.train_images.dtype).replace("torch.", "")
display(Markdown(
    f"- MNIST here is {sizes['train']:,} training, {sizes['validation']:,} validation and {sizes['test']:,} "
    f"test images of {image_shape} `{image_dtype}` pixels, stored as float32 tensors for the models.\n"
    f"- The training shares of the ten classes lie between {shares['train'].min():.2%} and "
    f"{shares['train'].max():.2%}.\n"
    f"- {zero_share:.1%} of the training pixels are background; {centre_share:.1%} of the ink lies in the "
    "central 20×20 box.\n"
    f"- The training split's mean and standard deviation are {splits.mean:.4f} and {splits.std:.4f}; "
    "normalizing with them centres the inputs at 0 with unit spread."
))

# %%
metrics_file = reports.finish_run(
    run,
    headline={"train / validation / test": f"{sizes['train']:,} / {sizes['validation']:,} / {sizes['test']:,}",
              "training mean / std": f"{splits.mean:.4f} / {splits.std:.4f}",
              "zero pixels": f"{zero_share:.2%}"},
    sizes=sizes,
    train_mean=splits.mean,
    train_std=splits.std,
    all_train_mean=all_mean,
    all_train_std=all_std,
    normalized_mean=after_mean,
    normalized_std=after_std,
    zero_pixel_share=zero_share,
    centre_ink_share=centre_share,
    class_counts={name: counts[name].tolist() for name in counts.columns},
)

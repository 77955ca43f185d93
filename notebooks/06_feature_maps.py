# %% [markdown]
# # 06_feature_maps — Inside the networks: feature maps and saliency
#
# What do the convolutional networks of this series actually compute? For one test
# image (the parameter `image_index`) this report shows, for LeNet-5 (report 03)
# and for the batch-normalized CNN (report 04): the feature maps of their three
# convolutional stages, the learned kernels of the first convolution, the ten
# outputs of the last layer (raw and as softmax probabilities), and a gradient
# saliency map of the predicted class, i.e. which pixels would change the
# prediction's score most. The models are the ones trained by 03 and 04 when their
# recorded checkpoints are available; otherwise they are trained here, briefly,
# with the same recipe (the section *Models* says which happened).

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
checkpoint_dir: Optional[str] = None  # where trained weights are cached and reused; None: the project's checkpoints/
image_index: int = 0  # position of the test image to look at, within the (limited) test set, in [0, 9999]
fallback_epochs: int = 3  # epochs of a model trained here when the checkpoint of the notebook that trains it cannot be reused, in [1, 1000]

# %% [markdown]
# ## Run settings
#
# The table lists every parameter of this run (after validation), the seed, the
# versions of the libraries, the device and the git commit, so the numbers below
# can be traced and repeated.

# %%
import pandas as pd
from IPython.display import Markdown, display

from mnist_lib import data, datasets, features, plots, prose, reports, training, words
from mnist_lib.analysis import feature_maps

reports.setup_notebook()
run = reports.start_run("06_feature_maps", globals())
P = run.params
run.show_provenance()

# %% [markdown]
# ## Models
#
# Each model is loaded from the checkpoint that its notebook (03 for LeNet-5, 04
# for the CNN) recorded in its metrics file, provided the checkpoint exists and
# its key matches the recorded model, training parameters and seed. Otherwise the
# model is trained here for `fallback_epochs` epochs with the default recipe of
# its notebook (`mnist_lib.analysis.feature_maps.RECIPES`, kept equal to the parameters-cell defaults of 03
# and 04 by a test). Either way the test images are prepared
# exactly as the model saw its training images: the same image size and the
# recorded mean and standard deviation.

# %%
raw = datasets.load_dataset(P.dataset, P.data_dir, source=P.data_source)
NOUN, NOUNS = words.class_nouns(raw)  # what one class is called: digit(s) for MNIST, class(es) otherwise
common = dict(output_dir=P.output_dir, checkpoint_dir=P.checkpoint_dir, seed=P.seed, train_limit=P.train_limit,
              test_limit=P.test_limit, fallback_epochs=P.fallback_epochs, device=run.device)
lenet = feature_maps.prepare_model("lenet5", raw, **common)
cnn = feature_maps.prepare_model("cnn", raw, **common)
lenet_test = training.evaluate(lenet.model, lenet.splits.x_test, lenet.splits.y_test)
cnn_test = training.evaluate(cnn.model, cnn.splits.x_test, cnn.splits.y_test)
display(Markdown(prose.data.dataset_text(raw) + f"\n\n- **LeNet-5**: {prose.training.prepared_model_text(lenet)}.\n- **CNN**: {prose.training.prepared_model_text(cnn)}."))
sources = pd.DataFrame([{**m.summary(), "test accuracy": p.accuracy}
                        for m, p in ((lenet, lenet_test), (cnn, cnn_test))]).set_index("model")
display(sources.style.format({"test accuracy": "{:.2%}", "mean": "{:.4f}", "std": "{:.4f}", "parameters": "{:,}"}))

# %% [markdown]
# The test accuracy is measured on the same (possibly limited) test set for both
# models. It tells how much to trust the pictures below: the less a network has
# learned, the less its deeper feature maps mean.

# %% [markdown]
# ## The chosen test image
#
# The image both networks look at in the rest of this report, with its true label
# and each model's prediction. LeNet-5 sees it zero-padded to 32x32, the CNN at
# 28x28.

# %%
x_lenet, label, pixels_lenet = lenet.test_image(P.image_index)
x_cnn, _, pixels_cnn = cnn.test_image(P.image_index)
lenet_raw, lenet_probs = features.class_outputs(lenet.model, x_lenet)
cnn_raw, cnn_probs = features.class_outputs(cnn.model, x_cnn)
lenet_pred, cnn_pred = int(lenet_probs[0].argmax()), int(cnn_probs[0].argmax())
NAMES = raw.classes  # label k is NAMES[k]
reports.show(plots.image_grid(pixels_cnn[None], titles=[f"test #{P.image_index}: {NAMES[label]} (label {label})"],
                              suptitle="The chosen test image"))
display(Markdown(
    f"Test image #{P.image_index} shows a **{NAMES[label]}**. LeNet-5 predicts **{NAMES[lenet_pred]}** "
    f"({lenet_probs[0, lenet_pred]:.1%} confidence), the CNN predicts **{NAMES[cnn_pred]}** "
    f"({cnn_probs[0, cnn_pred]:.1%})."))

# %% [markdown]
# ## LeNet-5: feature maps
#
# The output of each convolution (before its tanh and pooling) for the chosen image,
# one panel per channel, each on its own colour scale (yellow: the map's largest
# values, dark purple: its smallest).
# `conv1` has 6 maps of 28x28: each is one 5x5 filter slid over the image, and they
# typically respond to edges or lines of one orientation. `conv2`
# combines them into 16 maps of 10x10 at a coarser scale. `conv3` has 120 maps of
# size 1x1 (its 5x5 kernels cover the whole 5x5 input), so each map is a single
# number: they are drawn as bars, first all 120, then the first 24 enlarged.

# %%
lenet_maps = features.capture_activations(lenet.model, x_lenet, ["conv1", "conv2", "conv3"])
reports.show(plots.feature_maps(lenet_maps["conv1"][0], "LeNet-5 conv1", ncols=6))

# %%
reports.show(plots.feature_maps(lenet_maps["conv2"][0], "LeNet-5 conv2", ncols=8))

# %% [markdown]
# In `conv2` each map marks where a combination of `conv1` patterns occurs, at a
# coarser scale.

# %%
reports.show(plots.feature_maps(lenet_maps["conv3"][0], "LeNet-5 conv3"))
reports.show(plots.feature_maps(lenet_maps["conv3"][0], "LeNet-5 conv3 (zoom)", zoom=24))

# %%
conv3 = lenet_maps["conv3"][0].flatten()
display(Markdown(
    f"The 120 `conv3` values of this image range from {float(conv3.min()):.2f} to {float(conv3.max()):.2f}; "
    f"{int((conv3.abs() > 1).sum())} of them exceed 1 in magnitude (tanh maps those beyond ±0.76). "
    "This 120-number code is all the fully connected head sees of the image."))

# %% [markdown]
# ## LeNet-5: learned conv1 kernels
#
# The six 5x5 kernels of the first convolution, on one shared colour scale (red
# positive, blue negative weights). A kernel with a red band next to a blue band is
# an edge or line detector of that orientation; compare each with its feature map
# above.

# %%
reports.show(plots.kernel_grid(features.conv_kernels(lenet.model, "conv1"), "LeNet-5 conv1", ncols=6))

# %% [markdown]
# ## LeNet-5: the ten outputs
#
# The last layer's ten raw outputs (logits) as a colour strip, and the softmax
# probabilities they turn into. The gap between the largest logit and the
# runner-up decides how confident the prediction is.

# %%
reports.show(plots.output_grid(lenet_raw[0], lenet_probs[0], class_names=NAMES, raw_label="Logit"))
runner_up = int(lenet_probs[0].argsort()[-2])
display(Markdown(
    f"LeNet-5's largest logit is class {NAMES[lenet_pred]} ({lenet_raw[0, lenet_pred]:.2f}), the runner-up class "
    f"{NAMES[runner_up]} ({lenet_raw[0, runner_up]:.2f}, probability {lenet_probs[0, runner_up]:.2%})."))

# %% [markdown]
# ## CNN: feature maps
#
# The CNN's three blocks (3x3 convolution, batch normalization, max pooling, ReLU),
# captured at each block's output: `conv1` gives 4 maps of 14x14, `conv2` 16 maps of 7x7,
# `conv3` 64 maps of 3x3. Being after a ReLU, the maps are zero (dark) wherever a
# filter does not respond; with each block the maps get smaller and more abstract.
# The 64 `conv3` maps are shown in full and then the first 16 enlarged.

# %%
cnn_maps = features.capture_activations(cnn.model, x_cnn, ["conv1", "conv2", "conv3"])
reports.show(plots.feature_maps(cnn_maps["conv1"][0], "CNN conv1 block", ncols=4))
reports.show(plots.feature_maps(cnn_maps["conv2"][0], "CNN conv2 block", ncols=8))

# %%
reports.show(plots.feature_maps(cnn_maps["conv3"][0], "CNN conv3 block", ncols=8))
reports.show(plots.feature_maps(cnn_maps["conv3"][0], "CNN conv3 block (zoom)", zoom=16))
active = (cnn_maps["conv3"][0].flatten(1) > 0).float().mean(1)
silent = int((active == 0).sum())
display(Markdown(
    f"On average {float(active.mean()):.0%} of the 9 positions of a `conv3` map are active (above zero) for this "
    f"image; {silent} of the 64 maps are silent everywhere"
    + (", their filters look for patterns this image does not contain." if silent else ".")))

# %% [markdown]
# ## CNN: learned conv1 kernels
#
# The CNN starts with only four 3x3 kernels. They are too small to describe whole
# shapes; they act as simple gradient or blob detectors, and the later layers
# build shapes from them.

# %%
reports.show(plots.kernel_grid(features.conv_kernels(cnn.model, "conv1"), "CNN conv1", ncols=4))

# %% [markdown]
# ## CNN: the ten outputs
#
# The CNN ends in a log-softmax, so its raw outputs are log-probabilities (all at
# most 0); the softmax bars are their exponentials.

# %%
reports.show(plots.output_grid(cnn_raw[0], cnn_probs[0], class_names=NAMES, raw_label="Log-probability"))

# %% [markdown]
# ## Gradient saliency
#
# For each model, the magnitude of the gradient of the predicted class's score
# with respect to every input pixel: where a small change of the image would move
# that score most. The overlay shows whether the network's attention lies on the
# image's foreground (the pixels that differ from the background), around it (where
# a missing or extra part would change the class), or elsewhere. The CNN's map is usually speckled: max pooling passes
# the gradient back through only one pixel of each pooling window.

# %%
lenet_saliency = features.gradient_saliency(lenet.model, x_lenet)
cnn_saliency = features.gradient_saliency(cnn.model, x_cnn)
reports.show(plots.saliency_plot(pixels_lenet, lenet_saliency,
                                 title=f"LeNet-5: saliency of class {NAMES[lenet_pred]} (label {NAMES[label]})"))
reports.show(plots.saliency_plot(pixels_cnn, cnn_saliency,
                                 title=f"CNN: saliency of class {NAMES[cnn_pred]} (label {NAMES[label]})"))

# %%
FOREGROUND = words.foreground_noun(raw)  # "strokes" for digits, "object" otherwise
BACKGROUND = data.background_value(raw.train_images) / 255  # the border's commonest value, on the [0, 1] scale
lenet_share = feature_maps.saliency_share(lenet_saliency, pixels_lenet, foreground=FOREGROUND, background=BACKGROUND)
cnn_share = feature_maps.saliency_share(cnn_saliency, pixels_cnn, foreground=FOREGROUND, background=BACKGROUND)
shares = pd.concat({"LeNet-5": lenet_share, "CNN": cnn_share}, axis=1)
display(shares.style.format("{:.1%}"))
lenet_on, cnn_on = lenet_share.loc[FOREGROUND, "saliency share"], cnn_share.loc[FOREGROUND, "saliency share"]
around = {name: share.loc[f"around the {FOREGROUND}"]
          for name, share in (("LeNet-5", lenet_share), ("the CNN", cnn_share))}
display(Markdown(
    f"The table splits each saliency map into the image's {FOREGROUND} (pixels that differ from the background "
    f"value {BACKGROUND:g} by more than 0.5), the band within 3 pixels around it, and the rest of the image "
    "(LeNet-5's input is padded to 32x32, so its areas differ). "
    + " ".join(f"For {name}, the band around the {FOREGROUND} holds {row['saliency share']:.1%} of the saliency on "
               f"{row['area share']:.1%} of the area"
               + (" (more than its share: the network watches where more or less foreground would change the "
                  "class)." if row["saliency share"] > row["area share"] else ".")
               for name, row in around.items())))


# %% [markdown]
# ## Conclusions

# %%
def verdict(pred):
    return "correctly" if pred == label else f"wrongly (as {NAMES[pred]})"


def maps_text(maps):
    first, last = maps["conv1"][0], maps["conv3"][0]
    return (f"{first.shape[0]} maps of {first.shape[1]}x{first.shape[2]} to {last.shape[0]} maps of "
            f"{last.shape[1]}x{last.shape[2]}")


display(Markdown(f"""
- Weights of LeNet-5: {prose.training.prepared_model_text(lenet)}; of the CNN: {prose.training.prepared_model_text(cnn)}.
- On the {len(lenet.splits.y_test):,} test images, LeNet-5 reaches **{lenet_test.accuracy:.2%}** and the CNN
  **{cnn_test.accuracy:.2%}** accuracy.
- Test image #{P.image_index} (a {NAMES[label]}) is classified {verdict(lenet_pred)} by LeNet-5 with
  {lenet_probs[0, lenet_pred]:.1%} confidence and {verdict(cnn_pred)} by the CNN with {cnn_probs[0, cnn_pred]:.1%}.
- Layer by layer the maps lose spatial detail and gain channels: LeNet-5 goes from {maps_text(lenet_maps)},
  the CNN from {maps_text(cnn_maps)}.
- Share of the saliency on the {FOREGROUND}: {lenet_on:.1%} (LeNet-5) and {cnn_on:.1%} (CNN); around
  it: {around["LeNet-5"]["saliency share"]:.1%} and {around["the CNN"]["saliency share"]:.1%}.
"""))

# %%
reports.finish_run(
    run,
    headline={
        "image": f"test #{P.image_index}, {NAMES[label]}",
        "LeNet-5": f"predicts {NAMES[lenet_pred]} ({lenet_probs[0, lenet_pred]:.1%}); test accuracy {lenet_test.accuracy:.2%}",
        "CNN": f"predicts {NAMES[cnn_pred]} ({cnn_probs[0, cnn_pred]:.1%}); test accuracy {cnn_test.accuracy:.2%}",
        "weights": ", ".join(f"{name} {'reused' if m.reused else 'trained here'}"
                             for name, m in (("LeNet-5", lenet), ("CNN", cnn))),
    },
    dataset=reports.dataset_record(raw),
    image_index=P.image_index,
    image_label=label,
    image_class=NAMES[label],
    predictions={"lenet5": {"predicted": lenet_pred, "confidence": float(lenet_probs[0, lenet_pred])},
                 "cnn": {"predicted": cnn_pred, "confidence": float(cnn_probs[0, cnn_pred])}},
    reused_checkpoints={"lenet5": lenet.reused, "cnn": cnn.reused},
    model_sources={"lenet5": {"note": prose.training.prepared_model_text(lenet), "key": lenet.key, "epochs": lenet.epochs},
                   "cnn": {"note": prose.training.prepared_model_text(cnn), "key": cnn.key, "epochs": cnn.epochs}},
    lenet_test_accuracy=round(100 * lenet_test.accuracy, 4),
    cnn_test_accuracy=round(100 * cnn_test.accuracy, 4),
    test_images=len(lenet.splits.y_test),
    saliency_shares={"lenet5": lenet_share["saliency share"].to_dict(), "cnn": cnn_share["saliency share"].to_dict()},
)

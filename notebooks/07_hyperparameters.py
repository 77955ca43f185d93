# %% [markdown]
# # 07_hyperparameters — A hyperparameter study
#
# How much do the usual knobs matter for a fully connected network on MNIST? Starting
# from a base configuration (the 784-128-64-10 MLP, inputs normalized with the
# training set's mean and standard deviation, SGD with momentum), this report changes
# one factor at a time: input normalization, depth and width, learning rate, the
# size of the training set and the batch size. Each table gives the validation
# accuracy (used to choose between configurations), the test accuracy (reported
# only), training seconds and the parameter count. The best configuration by
# validation accuracy is then examined class by class, with examples of its correct
# and wrong predictions. It reproduces the reference findings: normalization,
# a sensible learning rate and more data matter far more than extra depth or width.

# %% tags=["parameters"]
data_dir = "../data"  # where MNIST is cached (torchvision layout under MNIST/raw)
data_source = None  # a folder with the four IDX files, tried before the mirrors
seed = 0  # seed for splits, initial weights, shuffling and augmentation
device = "auto"  # auto, cpu, cuda or mps
train_limit = None  # a stratified subset of the training set (quick runs); None for all 60,000
test_limit = None  # a stratified subset of the test set (quick runs); None for all 10,000
output_dir = "../reports"  # where the metrics file is written
checkpoint_dir = "../checkpoints"  # where trained weights are cached
epochs = 5  # passes over the training set, for every configuration
batch_size = 128  # batch size of the base configuration
optimizer = "momentum"  # optimizer of every configuration
lr = 0.05  # learning rate of the base configuration
scheduler = "none"  # learning-rate schedule of every configuration
learning_rates = "0.0003,0.003,0.03,0.3,3.0"  # learning rates of the sweep, from too small to too large
hidden_layers = "linear,128,128-64,256-128-64,512-256"  # hidden sizes, '-'-joined ('linear' for none)
train_fractions = "1.0,0.5,0.25"  # shares of the training split (stratified subsets)
batch_sizes = "32,128,512"  # batch sizes of the sweep

# %% [markdown]
# ## Run settings
#
# The table lists every parameter of this run (after validation), the seed, the
# versions of the libraries, the device and the git commit, so the numbers below
# can be traced and repeated.

# %%
import math

from IPython.display import Markdown, display

from mnist_lib import config, data, metrics, plots, reports, study

reports.setup_notebook()
run = reports.start_run("07_hyperparameters", globals())
P = run.params
run.provenance_frame()

# %% [markdown]
# ## Data and the base configuration
#
# The training set is split once (seeded and stratified) into training and
# validation parts; validation and test images are the same for every
# configuration. Every configuration starts from the same seed, so differences come
# from the factor that changed, not from a luckier initialization. Where several
# studies share a configuration (the base appears in most of them), it is trained
# once. A run counts as **diverged** when its loss became non-finite or its final
# training loss is no better than guessing: above ln(10) − 0.01 = 2.293, where
# ln(10) = 2.303 is the loss of guessing uniformly among the ten digits (a network
# that has collapsed to predicting the class frequencies ends at about 2.301).

# %%
raw = data.load_mnist(P.data_dir, source=P.data_source)
base = study.StudyConfig(hidden=study.BASE_HIDDEN, normalization="dataset", lr=P.lr, batch_size=P.batch_size)
hp = study.HyperparameterStudy(raw, base=base, epochs=P.epochs, optimizer=P.optimizer, scheduler=P.scheduler,
                               seed=P.seed, train_limit=P.train_limit, test_limit=P.test_limit, device=run.device)
display(hp.splits(base.normalization).describe())
display(Markdown(f"Base configuration: {base.describe()}; optimizer {P.optimizer}, schedule {P.scheduler}, "
                 f"{P.epochs} epochs."))

# %% [markdown]
# ## Normalization
#
# The same network trained on pixels in [0, 1] ("none"), on raw pixel values 0..255
# ("raw") and on pixels standardized with the training set's mean and standard
# deviation ("dataset"). Large, all-positive inputs make the first layer's
# pre-activations huge, so the same learning rate takes far too large steps.

# %%
norm = hp.sweep("normalization", ["none", "raw", "dataset"])
display(study.format_table(norm, ["setting", "val_accuracy", "test_accuracy", "final_train_loss", "diverged", "train_seconds", "params"]))
reports.show(plots.metric_bar(study.accuracy_long(norm, "setting"), x="setting", y="accuracy (%)", hue="split",
                              title="Accuracy by input normalization", ylabel="Accuracy (%)"))

# %%
by_norm = norm.set_index("setting")


def outcome(row):
    return "diverged" if row.diverged else f"reaches {row.val_accuracy:.2%} validation accuracy"


display(Markdown(
    f"With dataset normalization the MLP {outcome(by_norm.loc['dataset'])}; with pixels in [0, 1] it "
    f"{outcome(by_norm.loc['none'])}; with raw 0..255 pixels it {outcome(by_norm.loc['raw'])} "
    f"(final training loss {by_norm.loc['raw', 'final_train_loss']:.4g}) at the same learning rate {P.lr:g}."))

# %% [markdown]
# ## Depth and width
#
# From a linear classifier (no hidden layer) to three hidden layers, and a wide
# two-layer network. The parameter count grows much faster than the accuracy.

# %%
hidden = hp.sweep("hidden", [config.parse_hidden(text) for text in P.hidden_layers])
display(study.format_table(hidden, ["setting", "architecture", "val_accuracy", "test_accuracy", "diverged",
                                    "train_seconds", "params"]))
reports.show(plots.metric_bar(study.accuracy_long(hidden, "setting"), x="setting", y="accuracy (%)", hue="split",
                              title="Accuracy by hidden layers", ylabel="Accuracy (%)"))

# %%
ok = hidden[~hidden.diverged]
linear = hidden[hidden.setting == "linear"]
top = ok.loc[ok.val_accuracy.idxmax()]
text = (f"The best architecture here is {top.architecture} with {top.val_accuracy:.2%} validation accuracy and "
        f"{top.params:,} parameters")
if len(linear) and top.setting != "linear":
    text += (f"; the linear classifier ({linear.params.iloc[0]:,} parameters) reaches "
             f"{linear.val_accuracy.iloc[0]:.2%}")
if len(hidden) > 1:
    text += (f". The largest network has {hidden.params.max() / hidden.params.min():.0f} times the parameters of "
             "the smallest")
display(Markdown(text + "."))

# %% [markdown]
# ## Learning rate
#
# The base configuration at learning rates from far too small to far too large
# (log scale). Too small a rate barely moves the weights in the given epochs; too
# large a rate overshoots and the loss explodes (a red X marks a diverged run).

# %%
lrs = hp.sweep("lr", P.learning_rates)
display(study.format_table(lrs, ["setting", "val_accuracy", "test_accuracy", "final_train_loss", "diverged", "train_seconds", "params"]))
reports.show(plots.lr_sweep_plot(lrs))

# %%
good = lrs[~lrs.diverged]
smallest = lrs.loc[lrs.lr.idxmin()]
diverged_lrs = ", ".join(f"{v:g}" for v in lrs.lr[lrs.diverged]) or "none"
text = f"Diverged: {diverged_lrs}. "
best_lr_text = "no rate trained without diverging"
if len(good):
    best_lr = good.loc[good.val_accuracy.idxmax()]
    best_lr_text = f"the best, {best_lr.lr:g}, reaches {best_lr.val_accuracy:.2%}"
    text += f"The best learning rate is {best_lr.lr:g} ({best_lr.val_accuracy:.2%} validation accuracy). "
if not smallest.diverged:
    text += (f"The smallest, {smallest.lr:g}, ends at a training loss of {smallest.final_train_loss:.3f} and "
             f"{smallest.val_accuracy:.2%} validation accuracy after {P.epochs} epoch{'s' * (P.epochs != 1)}.")
display(Markdown(text))

# %% [markdown]
# ## Training-set size
#
# The base configuration trained on the whole training split and on stratified
# halves and quarters of it (validation and test sets unchanged).

# %%
fractions = hp.sweep("train_fraction", P.train_fractions)
display(study.format_table(fractions, ["setting", "train_images", "val_accuracy", "test_accuracy", "diverged",
                                       "train_seconds", "params"]))
reports.show(plots.metric_line(study.accuracy_long(fractions, "train_images"), x="train_images", y="accuracy (%)",
                               hue="split", title="Accuracy by number of training images"))

# %%
most, least = fractions.loc[fractions.train_images.idxmax()], fractions.loc[fractions.train_images.idxmin()]
text = f"With {most.train_images:,} training images the validation accuracy is {most.val_accuracy:.2%}"
if least.train_images < most.train_images:
    text += (f"; with {least.train_images:,} it is {least.val_accuracy:.2%} "
             f"({100 * (most.val_accuracy - least.val_accuracy):+.2f} points for "
             f"{most.train_images / least.train_images:.1f}x the data). Fewer images also mean fewer weight updates "
             "in the same number of epochs")
display(Markdown(text + "."))

# %% [markdown]
# ## Batch size
#
# The base configuration with different batch sizes at the same learning rate and
# number of epochs. Small batches make many more (noisier) updates per epoch, large
# batches fewer but cheaper per image.

# %%
batches = hp.sweep("batch_size", P.batch_sizes)
display(study.format_table(batches, ["setting", "val_accuracy", "test_accuracy", "final_train_loss", "diverged", "train_seconds", "params"]))
reports.show(plots.metric_bar(study.accuracy_long(batches, "setting"), x="setting", y="accuracy (%)", hue="split",
                              title="Accuracy by batch size", ylabel="Accuracy (%)"))

# %%
ordered = batches.sort_values("batch_size")
display(Markdown(", ".join(
    f"batch {row.batch_size}: {row.val_accuracy:.2%} validation accuracy in {row.train_seconds:.2f} s"
    for row in ordered.itertuples()) + "."))

# %% [markdown]
# ## Training time
#
# Every distinct configuration trained above, with its training time (the
# optimization steps of all epochs; the validation pass after each epoch is not
# counted). Time grows with the parameter count,
# the number of training images and the number of (small) batches. The seconds are
# wall-clock times on the machine that built this report: on a shared or busy
# machine they are noisy, so only large differences are meaningful.

# %%
every = hp.runs_frame()
display(study.format_table(every, ["configuration", "architecture", "train_images", "batch_size", "epochs_run",
                                   "val_accuracy", "test_accuracy", "diverged", "train_seconds", "params"]))
reports.show(plots.metric_bar(every, x="configuration", y="train_seconds", ylabel="Training seconds",
                              title=f"Training time of each configuration ({P.epochs} epochs)"))
slowest, fastest = every.loc[every.train_seconds.idxmax()], every.loc[every.train_seconds.idxmin()]
display(Markdown(
    f"{len(every)} configurations trained in {every.train_seconds.sum():.1f} s in total. The slowest was "
    f"{slowest.configuration} ({slowest.train_seconds:.2f} s), the fastest {fastest.configuration} "
    f"({fastest.train_seconds:.2f} s)."))

# %% [markdown]
# ## The best configuration
#
# The configuration with the highest validation accuracy among those that did not
# diverge (the test set plays no part in the choice). Its per-class F1 score on the
# test set shows which digits remain hardest; the classification report gives
# precision, recall and F1 for every class.

# %%
best = hp.best_run()
best_acc = metrics.accuracy_with_interval(best.test.targets, best.test.preds)
display(Markdown(f"Best by validation accuracy: **{best.label}** — {best.config.describe()}: "
                 f"{best.val_accuracy:.2%} validation accuracy, test accuracy **{best_acc}**."))
per_class = metrics.per_class_metrics(best.test.targets, best.test.preds)
reports.show(plots.per_class_bar(per_class, "f1", title=f"Per-class F1 on the test set: {best.label}"))
display(metrics.classification_report_frame(best.test.targets, best.test.preds))
worst = per_class.f1.idxmin()
display(Markdown(f"The hardest digit is {worst} (F1 {per_class.f1.min():.3f}), the easiest "
                 f"{per_class.f1.idxmax()} (F1 {per_class.f1.max():.3f})."))

# %% [markdown]
# ## Correct and wrong predictions
#
# Test images the best configuration gets right (with its confidence), then the
# ones it gets wrong, most confident mistakes first. Many mistakes are digits that
# a person would also hesitate over; confident mistakes on clear digits show what
# a fully connected network, which ignores the spatial layout, cannot learn.

# %%
pixels = hp.test_pixels()
right = study.example_indices(best.test, correct=True, k=16)
reports.show(plots.prediction_grid(pixels[right], best.test.targets[right], best.test.preds[right],
                                   best.test.confidence[right]))
reports.show(plots.misses_gallery(pixels, best.test.targets, best.test.preds, best.test.confidence, max_items=24))
n_wrong = int((best.test.preds != best.test.targets).sum())
display(Markdown(f"{n_wrong:,} of {len(best.test.targets):,} test images are misclassified."))


# %% [markdown]
# ## Conclusions

# %%
def val_of(frame, setting):
    row = frame[frame.setting == setting]
    return f"{row.val_accuracy.iloc[0]:.2%}" + (" (diverged)" if row.diverged.iloc[0] else "") if len(row) else "n/a"


display(Markdown(f"""
- **Normalization**: validation accuracy {val_of(norm, 'dataset')} with dataset normalization,
  {val_of(norm, 'none')} with pixels in [0, 1], {val_of(norm, 'raw')} with raw 0..255 pixels.
- **Depth and width**: from {val_of(hidden, hidden.setting.iloc[0])} ({hidden.setting.iloc[0]},
  {hidden.params.iloc[0]:,} parameters) to {val_of(hidden, hidden.setting.iloc[-1])}
  ({hidden.setting.iloc[-1]}, {hidden.params.iloc[-1]:,} parameters).
- **Learning rate**: diverged at {diverged_lrs}; the smallest rate, {smallest.lr:g}, reaches
  {smallest.val_accuracy:.2%}; {best_lr_text}.
- **Training-set size**: {most.val_accuracy:.2%} with {most.train_images:,} images, {least.val_accuracy:.2%} with
  {least.train_images:,}.
- **Best configuration** (by validation): {best.label}, test accuracy **{best_acc}**, trained in
  {best.train_seconds:.2f} s.
"""))

# %%
reports.finish_run(
    run,
    headline={
        "best configuration": best.label,
        "test accuracy": str(best_acc),
        "configurations": f"{len(every)} trained in {every.train_seconds.sum():.1f} s",
    },
    test_accuracy=round(100 * best_acc.accuracy, 4),
    test_accuracy_low=round(100 * best_acc.low, 4),
    test_accuracy_high=round(100 * best_acc.high, 4),
    val_accuracy=round(100 * best.val_accuracy, 4),
    train_seconds=round(best.train_seconds, 2),
    epochs_run=len(best.history.records),
    best_epoch=best.history.best_epoch,
    best_config={"label": best.label, "description": best.config.describe(), "hidden": list(best.config.hidden),
                 "normalization": best.config.normalization, "lr": best.config.lr,
                 "batch_size": best.config.batch_size, "train_fraction": best.config.train_fraction,
                 "optimizer": P.optimizer, "scheduler": P.scheduler, "epochs": P.epochs},
    total_train_seconds=round(float(every.train_seconds.sum()), 2),
    study={name: study.records_for_json(frame) for name, frame in (
        ("normalization", norm), ("hidden_layers", hidden), ("learning_rate", lrs), ("train_fraction", fractions),
        ("batch_size", batches), ("all_configurations", every))},
)

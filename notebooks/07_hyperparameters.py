# %% [markdown]
# # 07_hyperparameters — A hyperparameter study
#
# How much do the usual knobs matter for a fully connected network on this data set? Starting
# from a base configuration (the 784-128-64-10 MLP on inputs standardized with the
# training split's mean and standard deviation, trained with the `optimizer`, `lr`,
# `batch_size`, `scheduler` and `epochs` parameters; the section *Data and the base
# configuration* states this run's), this report changes one factor at a time: input
# normalization, depth and width, learning rate, the size of the training set and the
# batch size. Each table gives the validation accuracy (used to choose between
# configurations), the test accuracy (reported only), training seconds and the
# parameter count. The best configuration by validation accuracy is then examined
# class by class, with examples of its correct and wrong predictions. The conclusions
# set the measured effect of each factor beside a reference finding where the data set has
# one (from `mnist_lib.references`).

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
epochs: int = 5  # passes over the training set, in [1, 1000]
batch_size: int = 128  # images per optimizer step, in [1, 60000]
optimizer: str = "momentum"  # optimizer: sgd, momentum, nesterov, adam, adamw, rmsprop
lr: float = 0.05  # (peak) learning rate, in (0, 100]
scheduler: str = "none"  # learning-rate schedule: none, step, cosine, onecycle
learning_rates: str = "0.0003,0.003,0.03,0.3,3.0"  # learning rates of the sweep, from too small to too large
hidden_layers: str = "linear,128,128-64,256-128-64,512-256"  # hidden sizes of the sweep, '-'-joined ('linear' for none)
train_fractions: str = "1.0,0.5,0.25"  # shares of the training split (stratified subsets)
batch_sizes: str = "32,128,512"  # batch sizes of the sweep
memory_format: str = "auto"  # memory format of weights and activations (auto: the setting measured for this model and device): auto, contiguous, channels_last
compile_model: Optional[bool] = None  # torch.compile the training step; None: the measured choice
fused_optimizer: Optional[bool] = None  # torch's fused optimizer kernel (Adam, AdamW, SGD); None: the measured choice
precision: str = "fp32"  # fp32, or bf16 autocast of the training step (devices that support it): fp32, bf16

# %% [markdown]
# ## Run settings
#
# The table lists every parameter of this run (after validation), the seed, the
# versions of the libraries, the device and the git commit, so the numbers below
# can be traced and repeated.

# %%

from IPython.display import Markdown, display

from mnist_lib import datasets, metrics, params, plots, prose, references, reports, words
from mnist_lib.analysis import hyperparameters

reports.setup_notebook()
run = reports.start_run("07_hyperparameters", globals())
P = run.params
run.show_provenance()

# %% [markdown]
# ## Data and the base configuration
#
# The training set is split once (seeded and stratified) into training and
# validation parts; validation and test images are the same for every
# configuration. Every configuration starts from the same seed, so differences come
# from the factor that changed, not from a luckier initialization. Where several
# studies share a configuration (the base appears in most of them), it is trained
# once.

# %%
raw = datasets.load_dataset(P.dataset, P.data_dir, source=P.data_source)
NOUN, NOUNS = words.class_nouns(raw)  # what one class is called: digit(s) for MNIST, class(es) otherwise
base = hyperparameters.StudyConfig(hidden=hyperparameters.BASE_HIDDEN, normalization="dataset", lr=P.lr, batch_size=P.batch_size)
hp = hyperparameters.HyperparameterStudy(raw, base=base, epochs=P.epochs, optimizer=P.optimizer, scheduler=P.scheduler,
                               seed=P.seed, train_limit=P.train_limit, test_limit=P.test_limit, device=run.device,
                               execution=hyperparameters.execution_settings(run.device, P))
display(hp.splits(base.normalization).describe())
display(Markdown(prose.data.dataset_text(raw)))
display(Markdown(f"Base configuration: {prose.hyperparameters.config_text(base)}; optimizer {prose.training.optimizer_text(P.optimizer)}; "
                 f"{prose.training.schedule_text(P.scheduler, None)}; {words.plural(P.epochs, 'epoch')}. "
                 + prose.hyperparameters.divergence_text(classes=NOUNS) + " "
                 + prose.hyperparameters.study_execution_text(hp.execution, run.device, P.optimizer)))

# %% [markdown]
# ## Normalization
#
# The same network trained on pixels in [0, 1] ("none"), on raw pixel values 0..255
# ("raw") and on pixels standardized with the training set's mean and standard
# deviation ("dataset"), all at the base learning rate. Large, all-positive inputs
# make the first layer's pre-activations large, so the same learning rate takes much
# larger steps.

# %%
norm = hp.sweep("normalization", ["none", "raw", "dataset"])
display(hyperparameters.format_table(norm, ["setting", "val_accuracy", "test_accuracy", "final_train_loss", "diverged", "train_seconds", "params"]))
reports.show(plots.metric_bar(hyperparameters.accuracy_long(norm, "setting"), x="setting", y="accuracy (%)", hue="split",
                              title="Accuracy by input normalization", ylabel="Accuracy (%)"))

# %%
display(Markdown(prose.hyperparameters.normalization_sweep_text(norm, P.lr)))

# %% [markdown]
# ## Depth and width
#
# The base configuration with each of the hidden-layer settings of the
# `hidden_layers` parameter ("linear" is a linear classifier, with no hidden layer).
# Networks are compared by size (parameter count), whatever the order of the
# parameter's list; where the linear classifier is swept, the comparison is made
# again among the networks with hidden layers, so that it does not rest on the
# linear classifier alone.

# %%
hidden = hp.sweep("hidden", [params.parse_hidden(text) for text in P.hidden_layers])
display(hyperparameters.format_table(hidden, ["setting", "architecture", "val_accuracy", "test_accuracy", "diverged",
                                    "train_seconds", "params"]))
reports.show(plots.metric_bar(hyperparameters.accuracy_long(hidden, "setting"), x="setting", y="accuracy (%)", hue="split",
                              title="Accuracy by hidden layers", ylabel="Accuracy (%)"))

# %%
display(Markdown(prose.hyperparameters.depth_text(hidden)))

# %% [markdown]
# ## Learning rate
#
# The base configuration at each learning rate of the `learning_rates` parameter
# (log scale). Too small a rate barely moves the weights in the given epochs; too
# large a rate overshoots and the loss can explode (a red X marks a diverged run).

# %%
lrs = hp.sweep("lr", P.learning_rates)
display(hyperparameters.format_table(lrs, ["setting", "val_accuracy", "test_accuracy", "final_train_loss", "diverged", "train_seconds", "params"]))
reports.show(plots.lr_sweep_plot(lrs))

# %%
display(Markdown(prose.hyperparameters.lr_text(lrs, P.epochs)))

# %% [markdown]
# ## Training-set size
#
# The base configuration trained on each share of the training split in the
# `train_fractions` parameter (stratified subsets; validation and test sets
# unchanged).

# %%
fractions = hp.sweep("train_fraction", P.train_fractions)
display(hyperparameters.format_table(fractions, ["setting", "train_images", "val_accuracy", "test_accuracy", "diverged",
                                       "train_seconds", "params"]))
reports.show(plots.metric_line(hyperparameters.accuracy_long(fractions, "train_images"), x="train_images", y="accuracy (%)",
                               hue="split", title="Accuracy by number of training images"))

# %%
display(Markdown(prose.hyperparameters.size_text(fractions)))

# %% [markdown]
# ## Batch size
#
# The base configuration with different batch sizes at the same learning rate and
# number of epochs. Small batches make many more (noisier) updates per epoch, large
# batches fewer but cheaper per image.

# %%
batches = hp.sweep("batch_size", P.batch_sizes)
display(hyperparameters.format_table(batches, ["setting", "val_accuracy", "test_accuracy", "final_train_loss", "diverged", "train_seconds", "params"]))
reports.show(plots.metric_bar(hyperparameters.accuracy_long(batches, "setting"), x="setting", y="accuracy (%)", hue="split",
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
# counted). Time is expected to grow with the
# parameter count, the number of training images and the number of (small) batches. The seconds are
# wall-clock times on the machine that built this report: on a shared or busy
# machine they are noisy, so only large differences are meaningful.

# %%
every = hp.runs_frame()
display(hyperparameters.format_table(every, ["configuration", "architecture", "train_images", "batch_size", "epochs_run",
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
# test set shows which classes remain hardest; the classification report gives
# precision, recall and F1 for every class.

# %%
best = hp.best_run()
best_acc = metrics.accuracy_with_interval(best.test.targets, best.test.preds)
display(Markdown(f"Best by validation accuracy: **{best.label}** — {prose.hyperparameters.config_text(best.config)}: "
                 f"{best.val_accuracy:.2%} validation accuracy, test accuracy **{best_acc}**."))
per_class = metrics.per_class_metrics(best.test.targets, best.test.preds, class_names=raw.classes)
reports.show(plots.per_class_bar(per_class, "f1", title=f"Per-class F1 on the test set: {best.label}"))
display(metrics.classification_report_frame(best.test.targets, best.test.preds, class_names=raw.classes))
worst = per_class.f1.idxmin()
display(Markdown(f"The hardest {NOUN} is {worst} (F1 {per_class.f1.min():.3f}), the easiest "
                 f"{per_class.f1.idxmax()} (F1 {per_class.f1.max():.3f})."))

# %% [markdown]
# ## Correct and wrong predictions
#
# Test images the best configuration gets right (with its confidence), then the
# ones it gets wrong, most confident mistakes first. Some mistakes may be images that
# a person would also hesitate over; confident mistakes on clear images show what
# a fully connected network, which ignores the spatial layout, fails to learn here.

# %%
pixels = hp.test_pixels()
right = hyperparameters.example_indices(best.test, correct=True, k=16)
reports.show(plots.prediction_grid(pixels[right], best.test.targets[right], best.test.preds[right],
                                   best.test.confidence[right], class_names=raw.classes))
reports.show(plots.misses_gallery(pixels, best.test.targets, best.test.preds, best.test.confidence, max_items=24,
                                  class_names=raw.classes))
n_wrong = int((best.test.preds != best.test.targets).sum())
display(Markdown(f"{n_wrong:,} of {len(best.test.targets):,} test images are misclassified."))

# %% [markdown]
# ## Conclusions
#
# A factor's effect is the spread of validation accuracy across its settings (highest minus
# lowest), over the runs that did not diverge: a diverged run sits near chance whatever else
# the factor does, so it would decide the spread on its own. Each factor says how many of its
# runs were left out.

# %%
effects = hyperparameters.factor_effects({"normalization": norm, "hidden": hidden, "lr": lrs,
                                "train_fraction": fractions, "batch_size": batches})
finding = references.finding(references.HYPERPARAMETER_STUDY, P.dataset)
finding_text = (prose.hyperparameters.finding_text(effects, finding) if finding is not None
                else f"there is no reference finding for {raw.title} to compare with.")
most, least = fractions.loc[fractions.train_images.idxmax()], fractions.loc[fractions.train_images.idxmin()]
display(Markdown(f"""
- **Normalization**: validation accuracy {prose.hyperparameters.val_text(norm, 'dataset')} with dataset normalization,
  {prose.hyperparameters.val_text(norm, 'none')} with pixels in [0, 1], {prose.hyperparameters.val_text(norm, 'raw')} with raw 0..255 pixels.
- **Depth and width**: {prose.hyperparameters.depth_summary_text(hidden)}.
- **Learning rate**: {prose.hyperparameters.lr_summary_text(lrs)}.
- **Training-set size**: {most.val_accuracy:.2%} with {most.train_images:,} images, {least.val_accuracy:.2%} with
  {least.train_images:,}.
- **Best configuration** (by validation): {best.label}, test accuracy **{best_acc}**, trained in
  {best.train_seconds:.2f} s.
- **Against the reference**: {finding_text}
"""))

# %%
reports.save_predictions(run, {"test_accuracy": best.test}, hp.splits(best.config.normalization).test_index)
reports.finish_run(
    run,
    headline={
        "best configuration": best.label,
        "test accuracy": str(best_acc),
        "configurations": f"{len(every)} trained in {every.train_seconds.sum():.1f} s",
    },
    dataset=reports.dataset_record(raw),
    test_accuracy=round(100 * best_acc.accuracy, 4),
    test_accuracy_low=round(100 * best_acc.low, 4),
    test_accuracy_high=round(100 * best_acc.high, 4),
    val_accuracy=round(100 * best.val_accuracy, 4),
    train_seconds=round(best.train_seconds, 2),
    epochs_run=len(best.history.records),
    best_epoch=best.history.best_epoch,
    best_config={"label": best.label, "description": prose.hyperparameters.config_text(best.config), "hidden": list(best.config.hidden),
                 "normalization": best.config.normalization, "lr": best.config.lr,
                 "batch_size": best.config.batch_size, "train_fraction": best.config.train_fraction,
                 "optimizer": P.optimizer, "scheduler": P.scheduler, "epochs": P.epochs},
    total_train_seconds=round(float(every.train_seconds.sum()), 2),
    factor_spread_points={factor: round(float(value), 4) for factor, value in effects["spread_points"].items()},
    factor_spread_points_hidden_layers={factor: round(float(value), 4)
                                        for factor, value in effects["hidden_layers_spread_points"].items()},
    factor_diverged_runs={factor: int(value) for factor, value in effects["diverged"].items()},
    study={name: hyperparameters.records_for_json(frame) for name, frame in (
        ("normalization", norm), ("hidden_layers", hidden), ("learning_rate", lrs), ("train_fraction", fractions),
        ("batch_size", batches), ("all_configurations", every))},
)

# %% [markdown]
# # 04_cnn — A batch-normalized CNN
#
# This report trains the convolutional network of the series: three blocks of 3×3 convolution, batch
# normalization, max pooling and ReLU (4, 16 and 64 channels; the ReLU after the pooling, which gives the same
# values as before it on a quarter of them or fewer), then a 576-128-32-10 head with dropout and
# batch normalization, ending in a log-softmax (trained with the negative log-likelihood). Training batches
# can be augmented on the fly with a random affine transform (rotation, shift, zoom, shear), brightness /
# contrast jitter and, where the data set allows it, horizontal flips (the `augment` and `hflip`
# parameters), and the input normalization is the `normalization` parameter; the sections below state the
# settings of this run, and the last one sets its test accuracy beside a published result where the data
# set has one (from `mnist_lib.references`), naming every way the two settings differ.
#
# The weights are chosen by validation accuracy (the best epoch is restored); the test set is used once, at
# the end, for every number below: accuracy with its 95% interval, precision, recall and F1, one-vs-rest
# ROC curves and AUC, log loss, the confusion matrix and a calibration check. The trained weights are saved
# as a checkpoint that `06_feature_maps` reuses.

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
epochs: int = 20  # passes over the training set, in [1, 1000]
batch_size: int = 128  # images per optimizer step, in [1, 60000]
optimizer: str = "adam"  # optimizer: sgd, momentum, nesterov, adam, adamw, rmsprop
lr: float = 0.01  # (peak) learning rate, in (0, 100]
scheduler: str = "onecycle"  # learning-rate schedule: none, step, cosine, onecycle
weight_decay: float = 0.0  # weight decay (AdamW: decoupled; the others: L2 penalty), in [0, 1]
label_smoothing: float = 0.1  # label smoothing of the cross-entropy loss, in [0, 0.5]
normalization: str = "half"  # input normalization (dataset: the training split's mean/std; half: (x - 0.5) / 0.5): dataset, half, none, raw
ema_decay: float = 0.999  # decay of an exponential moving average of the weights, which validation, the best epoch and the result use (0: none), in [0, 0.9999]
tta: str = "shift"  # test-time augmentation of the final evaluation: the probabilities averaged over mirrored (flip) or one-pixel-shifted (shift) views: none, flip, shift
dropout: float = 0.25  # dropout probability on the CNN's flattened features, in [0, 0.9]
memory_format: str = "auto"  # memory format of weights and activations (auto: the setting measured for this model and device): auto, contiguous, channels_last
compile_model: Optional[bool] = None  # torch.compile the training step; None: the measured choice
fused_optimizer: Optional[bool] = None  # torch's fused optimizer kernel (Adam, AdamW, SGD); None: the measured choice
precision: str = "fp32"  # fp32, or bf16 autocast of the training step (devices that support it): fp32, bf16
augment: bool = True  # random affine + brightness/contrast jitter on training batches
rotation: float = 10.0  # max rotation, degrees, in [0, 180]
translate: float = 0.1  # max shift, fraction of the image, in [0, 0.5]
scale_range: float = 0.1  # max relative zoom in or out, in [0, 0.5]
shear: float = 5.0  # max shear, degrees, in [0, 45]
brightness: float = 0.2  # max relative brightness change, in [0, 0.9]
contrast: float = 0.2  # max relative contrast change, in [0, 0.9]
hflip: Optional[bool] = None  # random horizontal flips of training images; None: the data set's default (on only where a mirrored image keeps its class)

# %% [markdown]
# ## Run settings
#
# The table lists everything needed to repeat this report: the parameters it ran with (including the seed),
# the library versions, the device and the git commit of the code.

# %%
from pathlib import Path

import pandas as pd
import torch
from IPython.display import Markdown, display

from mnist_lib import (
    checkpoints,
    data,
    datasets,
    metrics,
    models,
    plots,
    prose,
    recipes,
    references,
    reports,
    training,
    words,
)
from mnist_lib.augment import augment_batch

reports.setup_notebook()
run = reports.start_run("04_cnn", globals())
P = run.params
run.show_provenance()

# %% [markdown]
# ## Data
#
# The training images are split into a training set and a stratified validation set, which
# picks the epoch whose weights are kept. The network expects 28×28 inputs, normalized here with the
# `normalization` parameter.

# %%
MODEL = "cnn"
IMAGE_SIZE = models.model_input_size(MODEL)
raw = datasets.load_dataset(P.dataset, P.data_dir, source=P.data_source)
NOUN, NOUNS = words.class_nouns(raw)  # what one class is called: digit(s) for MNIST, class(es) otherwise
splits = data.prepare_data(raw, seed=P.seed, train_limit=P.train_limit, test_limit=P.test_limit,
                           normalization=P.normalization, image_size=IMAGE_SIZE, device=run.device)
sizes = splits.sizes()
display(splits.describe().style.format({"min": "{:.3f}", "max": "{:.3f}", "mean": "{:.4f}", "std": "{:.4f}",
                                        "images": "{:,}"}))
display(Markdown(
    f"{prose.data.splits_text(splits)}; {prose.data.normalization_text(P.normalization, splits.mean, splits.std)}, so the pixels run from "
    f"{float(splits.x_train.min()):.1f} (pixel value 0) to {float(splits.x_train.max()):.1f} (pixel value 255). "
    + prose.data.dataset_text(raw)
))

# %% [markdown]
# ## Architecture
#
# The `torchsummary` printout lists every layer with its output shape and parameter count for one
# 1×28×28 image; the table below it is the same pass recorded with forward hooks. Batch normalization
# follows every convolution and both hidden dense layers; the dropout acts on the 576 flattened
# features.

# %%
model = training.seeded_model(MODEL, P.seed, device=run.device, **recipes.model_args(P))
print(models.summary_text(model))
display(models.model_summary(model).style.format({"params": "{:,}"}))
n_params = models.count_parameters(model)
display(Markdown(f"The network has **{n_params:,}** trainable parameters."))

# %% [markdown]
# ## Augmentation preview
#
# Each row shows a training image (left) and random versions of it as the network sees them during
# training, drawn with the parameters of this run. Validation and test images are never augmented.

# %%
augmentation = recipes.augmentation(P)
if augmentation is None:
    display(Markdown("Augmentation is switched off for this run (`augment = False`)."))
else:
    originals = splits.x_train[:6]
    generator = torch.Generator(device=splits.device).manual_seed(P.seed)
    versions = [splits.unnormalize(augment_batch(originals, augmentation, generator, splits.mean, splits.std))
                for _ in range(7)]
    reports.show(plots.augmentation_preview(splits.unnormalize(originals), versions))
    display(Markdown(
        f"Rotation up to ±{augmentation.rotation:g}°, shift up to ±{augmentation.translate:.0%} of the image, "
        f"zoom {augmentation.scale[0]:g}–{augmentation.scale[1]:g}, shear up to ±{augmentation.shear:g}°, "
        f"brightness and contrast ±{augmentation.brightness:.0%} / ±{augmentation.contrast:.0%}. "
        + prose.data.hflip_text(augmentation.hflip, P.hflip, raw.dataset)
    ))

# %% [markdown]
# ## Training
#
# `fit_or_load` reuses a checkpoint trained with exactly these settings (model, training configuration,
# data settings, seed and the source of the code that shapes the weights, hashed into the file name) or trains the network and saves one; when it reuses one, the sentence below says when, by which commit and in how many seconds those weights were trained. The optimizer,
# learning rate, schedule, loss and augmentation come from the parameters; the sentence below names the
# ones this run used.

# %%
cfg = recipes.train_config(P, model=MODEL, device=run.device)
Path(P.checkpoint_dir).mkdir(parents=True, exist_ok=True)
data_params = recipes.data_params(P, raw, MODEL)
weights = checkpoints.fit_or_load(model, MODEL, splits, cfg, P.checkpoint_dir, data_params, recipes.model_args(P),
                                  desc=MODEL)
history, loaded, checkpoint_file = weights.history, weights.loaded, weights.path
display(Markdown(prose.training.training_text(cfg, NOUN, sizes["train"]) + " " + prose.training.weights_text(weights) + " "
                 + prose.training.execution_text(cfg.execution, "the CNN", run.device, optimizers=[cfg.optimizer])))

# %% [markdown]
# ### Learning curves
#
# Loss and accuracy per epoch on the training batches and on the validation set; the grey dashed line marks
# the epoch with the best validation accuracy, whose weights are kept. The text under the figure says which
# losses are drawn and how the training and validation measurements differ.

# %%
if history is None:
    display(Markdown("The checkpoint holds no training history, so there are no curves to draw."))
else:
    epoch_log = history.to_frame()
    reports.show(plots.learning_curves(epoch_log, title=f"CNN: learning curves ({P.optimizer}, {P.scheduler})",
                                       label_smoothing=P.label_smoothing))
    best = epoch_log.loc[epoch_log["epoch"] == history.best_epoch].iloc[0]
    display(Markdown(
        prose.training.curves_text(epoch_log, P.label_smoothing, NOUN) + " "
        + prose.training.train_metrics_text(cfg.augment is not None, model) + " "
        f"Validation accuracy peaks at **{best['val_accuracy']:.2%}** in epoch **{history.best_epoch}** of "
        f"{len(epoch_log)}; the final training loss is {epoch_log['train_loss'].iloc[-1]:.4f} "
        f"(validation loss {epoch_log['val_loss'].iloc[-1]:.4f}). Training took "
        f"{history.train_seconds:.1f} s in total" + (" in the run that trained these weights." if loaded else ".")
    ))

# %% [markdown]
# ### Per-epoch log
#
# Every epoch as `fit` recorded it: the loss the optimizer minimized (`train_loss`), the plain negative
# log-likelihood on the same training batches (`train_nll`), the training accuracy on the batches as the
# network saw them, the validation loss and accuracy on unchanged images, the learning rate at the start of
# the epoch and the seconds it took.

# %%
if history is not None:
    display(epoch_log.drop(columns=["timestamp"]).set_index("epoch").style.format({
        "train_loss": "{:.4f}", "train_nll": "{:.4f}", "val_loss": "{:.4f}", "train_accuracy": "{:.2%}", "val_accuracy": "{:.2%}",
        "lr": "{:.2e}", "seconds": "{:.1f}"}))

# %% [markdown]
# ## Test metrics
#
# The selected weights are evaluated once on the test set. Accuracy comes with a 95% Wilson interval;
# precision, recall and F1 are averaged over the ten classes either equally (macro) or by class frequency
# (weighted); the AUC is the mean one-vs-rest area under the ROC curve; log loss is the mean negative
# log-probability of the true class; the expected calibration error (ECE) is the average gap between
# confidence and accuracy.

# %%
val_pred, pred = training.final_evaluation(model, splits, cfg.eval_batch_size, P.tta)
display(Markdown(prose.training.evaluation_text(P.tta)))
summary = metrics.classification_summary(pred.targets, pred.preds, pred.probs)
acc = metrics.accuracy_with_interval(pred.targets, pred.preds)
LABELS = {"accuracy": "accuracy", "accuracy_low": "accuracy, 95% interval low",
          "accuracy_high": "accuracy, 95% interval high", "precision_macro": "precision (macro)",
          "recall_macro": "recall (macro)", "f1_macro": "F1 (macro)", "precision_weighted": "precision (weighted)",
          "recall_weighted": "recall (weighted)", "f1_weighted": "F1 (weighted)",
          "auc_roc_ovr": "AUC-ROC (one vs rest, mean)", "log_loss": "log loss", "ece": "expected calibration error"}
AS_NUMBER = ("auc_roc_ovr", "log_loss", "ece")
metrics_table = pd.DataFrame(
    {"value": [f"{v:.4f}" if k in AS_NUMBER else f"{v:.2%}" for k, v in summary.items()]},
    index=pd.Index([LABELS[k] for k in summary], name="metric"))
display(metrics_table)
display(Markdown(
    f"The CNN classifies **{acc.correct:,} of {acc.n:,}** test images correctly: **{acc.accuracy:.2%}** "
    f"(95% interval {acc.low:.2%}–{acc.high:.2%}). Macro F1 is {summary['f1_macro']:.2%}, the mean AUC "
    f"{summary['auc_roc_ovr']:.4f} and the log loss {summary['log_loss']:.4f}."
))

# %%
if references.has_target("cnn", P.dataset):
    target_check = references.check_target("cnn", 100 * acc.accuracy, P, dataset=P.dataset)
    display(Markdown(prose.references.target_text(target_check)))
else:
    target_check = None
    display(Markdown(prose.references.no_target_text(raw.title)))

# %% [markdown]
# ## Confusion matrix
#
# Rows are the true classes, columns the predictions: everything off the diagonal is a mistake. The table
# after it lists the most frequent mistakes.

# %%
cm = metrics.confusion(pred.targets, pred.preds)
reports.show(plots.confusion_heatmap(cm, title=f"CNN confusion matrix on {acc.n:,} test images (counts)",
                                     class_names=raw.classes))
pairs = metrics.most_confused_pairs(cm, k=5, class_names=raw.classes)
display(pairs.style.format({"share_of_true": "{:.2%}"}).hide(axis="index"))
per_class = metrics.per_class_metrics(pred.targets, pred.preds, class_names=raw.classes)
(best_class, best_acc), (worst_class, worst_acc) = metrics.best_and_worst_class(pred.targets, pred.preds,
                                                                                class_names=raw.classes)
display(Markdown(prose.training.mistakes_text(cm, raw.classes, NOUN, shown=len(pairs))
                 + f" The best-recognised {NOUN} is {best_class} ({best_acc:.2%}), the hardest {worst_class} "
                 f"({worst_acc:.2%})."))

# %% [markdown]
# ## ROC curves
#
# One curve per class, treating that class as the positive one and the other nine as negatives, with its
# area under the curve (AUC). The right panel zooms into the top-left corner, where the curves of a strong
# classifier crowd together.

# %%
roc = metrics.roc_curves(pred.targets, pred.probs, class_names=raw.classes)
reports.show(plots.roc_curves_plot(roc))
auc_by_class = pd.Series({name: auc for name, (_, _, auc) in roc.items()})
display(Markdown(
    f"Every {NOUN}'s AUC is between **{auc_by_class.min():.4f}** ({NOUN} {auc_by_class.idxmin()}) and "
    f"**{auc_by_class.max():.4f}** ({NOUN} {auc_by_class.idxmax()}), with a mean of {auc_by_class.mean():.4f}. "
    f"A {NOUN}'s AUC is the probability that a random image of that {NOUN} gets a higher probability for it than a "
    f"random image of another {NOUN}: 0.5 is chance, 1 a perfect ranking."
))

# %% [markdown]
# ## Calibration
#
# A reliability diagram groups the test images by the model's confidence (its top probability) and compares
# each group's mean confidence with its accuracy. Bars below the diagonal mean over-confidence, above it
# under-confidence; the histogram underneath shows how many images fall in each bin (log scale).

# %%
calib = metrics.calibration(pred.targets, pred.probs)
reports.show(plots.reliability_diagram(calib.bin_confidence, calib.bin_accuracy, calib.bin_count, calib.ece))
mean_confidence = float(pred.confidence.mean())
display(Markdown(
    f"The expected calibration error is **{calib.ece:.4f}**: the mean confidence is {mean_confidence:.2%} "
    f"against an accuracy of {acc.accuracy:.2%}, so on average the network is "
    f"{'over' if mean_confidence > acc.accuracy else 'under'}-confident by "
    f"{abs(mean_confidence - acc.accuracy) * 100:.2f} percentage points."
))

# %% [markdown]
# ## Comparison with the reference
#
# The published test accuracy for this architecture, where the data set has one (from
# `mnist_lib.references`), beside this run's measurement; the text names where the reference comes from,
# how it was measured and every way this run's setting differs from it.

# %%
epochs_run = len(history.records) if history is not None else None
if references.has_reference("cnn", P.dataset):
    reference = references.compare_with_reference("cnn", acc, P, epochs_run=epochs_run, train_images=sizes["train"],
                                                   dataset=P.dataset)
    REFERENCE_ACCURACY, REFERENCE_EPOCHS = reference.reference / 100, reference.reference_epochs
    difference = reference.difference / 100
    display(reference.table())
    display(Markdown(f"This run measures **{acc}**. " + prose.references.comparison_text(reference)))
else:
    reference, REFERENCE_ACCURACY, REFERENCE_EPOCHS, difference = None, None, None, None
    display(Markdown(f"This run measures **{acc}**. " + prose.references.no_reference_text("cnn", raw.title)))
benchmarks = references.benchmark_table(P.dataset)
if len(benchmarks):
    display(Markdown(f"Published results on {raw.title}, for context (best first):"))
    display(benchmarks.style.format({"test accuracy (%)": "{:.1f}", "on MNIST (%)": "{:.1f}"}, na_rep="—")
            .hide(axis="index"))
if prose.references.sources_text(P.dataset):
    display(Markdown(prose.references.sources_text(P.dataset)))

# %% [markdown]
# ## Conclusions

# %%
train_seconds = weights.this_run_seconds  # None when the weights were reused: this run trained nothing
best_epoch = history.best_epoch if history is not None else None
display(Markdown(
    f"- The batch-normalized CNN ({n_params:,} parameters) reaches **{acc.accuracy:.2%}** test accuracy "
    f"(95% interval {acc.low:.2%}–{acc.high:.2%}) with the weights of its best validation epoch"
    + (f" ({best_epoch} of {epochs_run})" if best_epoch is not None else "") + ".\n"
    f"- Macro F1 {summary['f1_macro']:.2%}, mean one-vs-rest AUC {summary['auc_roc_ovr']:.4f}, "
    f"log loss {summary['log_loss']:.4f}, expected calibration error {calib.ece:.4f}.\n"
    f"- Hardest {NOUN}: {worst_class} ({worst_acc:.2%} recognised); most frequent mistake: "
    f"{prose.training.top_mistake_text(cm, raw.classes)}."
    + (f"\n- {prose.references.gap_text(reference)}" if reference is not None else "")
))

# %%
checkpoint = {"path": str(checkpoint_file), "model": MODEL, "params": weights.key_params, "seed": P.seed,
              "mean": splits.mean, "std": splits.std, "normalization": P.normalization, "image_size": IMAGE_SIZE,
              "reused": loaded}
reports.save_predictions(run, {"test_accuracy": pred}, splits.test_index)
metrics_file = reports.finish_run(
    run,
    headline={"test accuracy": f"{acc.accuracy:.2%} (95% CI {100 * acc.low:.2f}–{100 * acc.high:.2f}%)",
              **({"target": prose.references.target_short_text(target_check)} if target_check is not None else {}),
              "parameters": f"{n_params:,}",
              "ECE": f"{calib.ece:.4f}",
              "train seconds": f"{train_seconds:.1f}" if train_seconds is not None else
              f"none: weights reused (trained in {weights.train_seconds:.1f} s on {weights.trained_at})"},
    dataset=reports.dataset_record(raw),
    target=target_check.to_dict() if target_check is not None else None,
    test_accuracy=round(100 * acc.accuracy, 4),
    test_accuracy_low=round(100 * acc.low, 4),
    test_accuracy_high=round(100 * acc.high, 4),
    val_accuracy=round(100 * val_pred.accuracy, 4),
    train_seconds=train_seconds,
    checkpoint_train_seconds=weights.train_seconds,
    checkpoint_trained_at=weights.trained_at,
    checkpoint_commit=weights.commit,
    epochs_run=epochs_run,
    best_epoch=best_epoch,
    parameters=n_params,
    **{k: summary[k] for k in ("precision_macro", "recall_macro", "f1_macro", "precision_weighted",
                               "recall_weighted", "f1_weighted", "auc_roc_ovr", "log_loss", "ece")},
    reference_accuracy=100 * REFERENCE_ACCURACY if reference is not None else None,
    difference_to_reference=round(100 * difference, 4) if reference is not None else None,
    checkpoint=checkpoint,
)

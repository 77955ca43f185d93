# %% [markdown]
# # 03_lenet — LeNet-5
#
# LeNet-5 (LeCun et al., 1998) was the first convolutional network to be used in production, reading
# handwritten cheques. Instead of connecting every pixel to every unit, it slides small 5×5 filters over
# the image, so the same feature detector is reused at every position, and average pooling halves the
# resolution between the convolutions. It expects 32×32 inputs, so the 28×28 images are padded with two
# pixels of zeros on each side. This report shows the architecture and its size, the training log,
# sample predictions, the confusion matrix, the best and worst recognized classes and the test accuracy
# beside a published result and the series' target where the data set has them (both from
# `mnist_lib.references`). The trained weights are saved as a checkpoint that 06_feature_maps reuses.

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
epochs: int = 15  # passes over the training set, in [1, 1000]
batch_size: int = 128  # images per optimizer step, in [1, 60000]
optimizer: str = "adam"  # optimizer: sgd, momentum, nesterov, adam, adamw, rmsprop
lr: float = 0.003  # (peak) learning rate, in (0, 100]
scheduler: str = "onecycle"  # learning-rate schedule: none, step, cosine, onecycle
weight_decay: float = 0.0  # weight decay (AdamW: decoupled; the others: L2 penalty), in [0, 1]
label_smoothing: float = 0.1  # label smoothing of the cross-entropy loss, in [0, 0.5]
normalization: str = "dataset"  # input normalization (dataset: the training split's mean/std; half: (x - 0.5) / 0.5): dataset, half, none, raw
ema_decay: float = 0.999  # decay of an exponential moving average of the weights, which validation, the best epoch and the result use (0: none), in [0, 0.9999]
tta: str = "shift"  # test-time augmentation of the final evaluation: the probabilities averaged over mirrored (flip) or one-pixel-shifted (shift) views: none, flip, shift
memory_format: str = "auto"  # memory format of weights and activations (auto: the setting measured for this model and device): auto, contiguous, channels_last
compile_model: Optional[bool] = None  # torch.compile the training step; None: the measured choice
fused_optimizer: Optional[bool] = None  # torch's fused optimizer kernel (Adam, AdamW, SGD); None: the measured choice
precision: str = "fp32"  # fp32, or bf16 autocast of the training step (devices that support it): fp32, bf16
augment: bool = True  # random affine + brightness/contrast jitter on training batches
rotation: float = 8.0  # max rotation, degrees, in [0, 180]
translate: float = 0.08  # max shift, fraction of the image, in [0, 0.5]
scale_range: float = 0.08  # max relative zoom in or out, in [0, 0.5]
shear: float = 8.0  # max shear, degrees, in [0, 45]
brightness: float = 0.0  # max relative brightness change, in [0, 0.9]
contrast: float = 0.0  # max relative contrast change, in [0, 0.9]
hflip: Optional[bool] = None  # random horizontal flips of training images; None: the data set's default (on only where a mirrored image keeps its class)
samples_shown: int = 32  # test images in the prediction grid, in [1, 200]

# %% [markdown]
# ## Run settings
#
# The table lists everything needed to repeat this report: the parameters it ran with (including the
# seed), the library versions, the device and the git commit of the code.

# %%
from pathlib import Path

import pandas as pd
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

reports.setup_notebook()
run = reports.start_run("03_lenet", globals())
P = run.params
run.show_provenance()

# %% [markdown]
# ## Data
#
# The images are padded from 28×28 to 32×32 (zeros, two pixels on every side) and then
# normalized as the `normalization` parameter asks. The validation split picks the best epoch; the test
# split is only used for the final numbers.

# %%
IMAGE_SIZE, RESIZE_MODE = models.model_input_size("lenet5"), recipes.RESIZE_MODE
raw = datasets.load_dataset(P.dataset, P.data_dir, source=P.data_source)
NOUN, NOUNS = words.class_nouns(raw)  # what one class is called: digit(s) for MNIST, class(es) otherwise
splits = data.prepare_data(raw, seed=P.seed, train_limit=P.train_limit, test_limit=P.test_limit,
                           normalization=P.normalization, image_size=IMAGE_SIZE, resize_mode=RESIZE_MODE,
                           device=run.device)
sizes = splits.sizes()
display(splits.describe().style.format({"min": "{:.4f}", "max": "{:.4f}", "mean": "{:.4f}", "std": "{:.4f}",
                                        "images": "{:,}"}))
display(Markdown(
    f"{prose.data.splits_text(splits)}, each {IMAGE_SIZE}×{IMAGE_SIZE}; "
    f"{prose.data.normalization_text(P.normalization, splits.mean, splits.std, padded=True)}. "
    + prose.data.dataset_text(raw)
))

# %% [markdown]
# ## Architecture
#
# The `torchsummary` table: every layer in execution order with its output shape (`-1` stands for the
# batch dimension) and parameter count, followed by the memory estimates for one image.

# %%
model = training.seeded_model("lenet5", P.seed, device=run.device)
print(models.summary_text(model))

# %% [markdown]
# The same information as a table, from forward hooks on one dummy batch:

# %%
summary = models.model_summary(model)
display(summary.style.format({"params": "{:,}"}).hide(axis="index"))
n_params = models.count_parameters(model)
params_mb = n_params * 4 / 2**20
conv_params = int(summary.loc[summary["type"] == "Conv2d", "params"].sum())
biggest = summary.loc[summary["params"].idxmax()]
display(Markdown(
    f"LeNet-5 has **{n_params:,}** trainable parameters, **{params_mb:.2f} MB** as float32. "
    f"The three convolutions hold {conv_params:,} of them ({conv_params / n_params:.0%}); the largest layer is "
    f"`{biggest['layer']}` with {int(biggest['params']):,}, because its 120 filters each see all 16 maps of "
    "the previous layer through a 5×5 window. The first convolution has only "
    f"{int(summary.loc[summary['layer'] == 'conv1', 'params'].iloc[0]):,} parameters yet produces the largest "
    "activation maps: weight sharing makes a convolutional network small while its activations stay large."
))

# %% [markdown]
# ## Training
#
# The optimizer, learning rate, schedule, loss and augmentation come from the parameters; the sentence
# under the log names the ones this run used. Training is skipped when a checkpoint trained with exactly
# these settings (model, training configuration, data settings, seed and the source of the code that shapes the weights) already exists in
# `checkpoint_dir`; its weights and its training log are loaded instead. Either way the checkpoint is what
# 06_feature_maps inspects. Each row of the log carries the time (UTC) at which the epoch ended;
# `train_loss` is the loss the optimizer minimized and `train_nll` the plain negative log-likelihood of
# the true class on the same batches (equal without label smoothing).

# %%
cfg = recipes.train_config(P, model="lenet5", device=run.device)
data_params = recipes.data_params(P, raw, "lenet5")
Path(P.checkpoint_dir).mkdir(parents=True, exist_ok=True)
weights = checkpoints.fit_or_load(model, "lenet5", splits, cfg, P.checkpoint_dir, data_params=data_params,
                                  desc="LeNet-5")
history, loaded, checkpoint = weights.history, weights.loaded, weights.path
if history is None:
    frame = None
    display(Markdown(prose.training.weights_text(weights) + " That checkpoint holds no training log, so the log and the "
                     "learning curves are not available."))
else:
    frame = history.to_frame()
    display(frame.set_index("epoch").style
            .format({"train_loss": "{:.4f}", "train_nll": "{:.4f}", "val_loss": "{:.4f}", "train_accuracy": "{:.2%}",
                     "val_accuracy": "{:.2%}", "lr": "{:.2e}", "seconds": "{:.1f}"})
            .highlight_max(subset=["val_accuracy"], color="#d7f0d7"))
    display(Markdown(
        f"{prose.training.weights_text(weights)} {prose.training.training_text(cfg, NOUN, sizes['train'])} "
        f"{words.plural(len(history.records), 'epoch')} took "
        f"**{history.train_seconds:.1f} s** of training{' in that run' if loaded else ''}; the best "
        f"validation accuracy, **{history.best_val_accuracy:.2%}**, came in epoch **{history.best_epoch}** "
        "(highlighted), and those weights are the ones evaluated below. "
        + prose.training.execution_text(cfg.execution, "LeNet-5", run.device, optimizers=[cfg.optimizer])
    ))

# %% [markdown]
# ## Learning curves
#
# Loss and accuracy per epoch on the training and validation splits; the text under the figure says which
# losses are drawn and how the training and validation measurements differ.

# %%
if frame is None:
    display(Markdown("No training log in the checkpoint, so no learning curves."))
else:
    reports.show(plots.learning_curves(frame, title="LeNet-5: learning curves", label_smoothing=P.label_smoothing))
    last = frame.iloc[-1]
    display(Markdown(
        prose.training.curves_text(frame, P.label_smoothing, NOUN) + " "
        + prose.training.train_metrics_text(cfg.augment is not None, model) + " "
        f"In the last epoch the training accuracy is {last['train_accuracy']:.2%} and the validation "
        f"accuracy {last['val_accuracy']:.2%} (gap {100 * (last['train_accuracy'] - last['val_accuracy']):+.2f} "
        f"percentage points); the validation loss went from {frame['val_loss'].iloc[0]:.4f} after the first "
        f"epoch to {last['val_loss']:.4f}."
    ))

# %% [markdown]
# ## Sample predictions
#
# The first test images with the network's prediction and its confidence (the softmax probability of
# the predicted class); wrong predictions are in red. The images are shown un-normalized, with the
# two-pixel padding the network sees.

# %%
val_pred, pred = training.final_evaluation(model, splits, cfg.eval_batch_size, P.tta)
display(Markdown(prose.training.evaluation_text(P.tta)))
shown = min(P.samples_shown, len(pred.targets))
reports.show(plots.prediction_grid(splits.unnormalize(splits.x_test[:shown]), pred.targets[:shown],
                                   pred.preds[:shown], pred.confidence[:shown], class_names=raw.classes))
sample_conf = pred.confidence[:shown]
display(Markdown(
    f"{int((pred.preds[:shown] == pred.targets[:shown]).sum())} of these {shown} images are right. The median "
    f"confidence is {100 * float(pd.Series(sample_conf).median()):.1f}% and the lowest "
    f"{100 * float(sample_conf.min()):.1f}%; over the whole test split "
    f"{(pred.confidence > 0.99).mean():.1%} of the predictions are made with more than 99% confidence."
))

# %% [markdown]
# ## Confusion matrix
#
# Rows are the true classes, columns the predictions; the diagonal holds the correct answers and every
# off-diagonal cell counts one kind of mistake.

# %%
cm = metrics.confusion(pred.targets, pred.preds)
reports.show(plots.confusion_heatmap(cm, title="LeNet-5: confusion matrix on the test split (counts)",
                                     class_names=raw.classes))
pairs = metrics.most_confused_pairs(cm, k=5, class_names=raw.classes)
display(pairs.style.format({"share_of_true": "{:.2%}"}).hide(axis="index"))
display(Markdown(prose.training.mistakes_text(cm, raw.classes, NOUN, shown=len(pairs))))

# %% [markdown]
# ## Best and worst class
#
# Precision, recall (the per-class accuracy), F1 and support for every class:

# %%
per_class = metrics.per_class_metrics(pred.targets, pred.preds, class_names=raw.classes)
display(per_class.style.format({"precision": "{:.2%}", "recall": "{:.2%}", "f1": "{:.4f}",
                                "accuracy": "{:.2%}"}))
(best, best_acc), (worst, worst_acc) = metrics.best_and_worst_class(pred.targets, pred.preds,
                                                                    class_names=raw.classes)
display(Markdown(
    f"The best recognized {NOUN} is **{best}** ({best_acc:.2%} of its {int(per_class.loc[best, 'support'])} "
    f"test images right) and the worst is **{worst}** ({worst_acc:.2%} of "
    f"{int(per_class.loc[worst, 'support'])})."
))

# %% [markdown]
# ## Test accuracy
#
# The 95% interval is the Wilson score interval: the range of accuracies consistent with this many
# correct answers out of this many test images.

# %%
acc = metrics.accuracy_with_interval(pred.targets, pred.preds)
epochs_run = len(history.records) if history is not None else None
measured, low, high = 100 * acc.accuracy, 100 * acc.low, 100 * acc.high
if references.has_reference("lenet5", P.dataset):
    reference = references.compare_with_reference("lenet5", acc, P, epochs_run=epochs_run, train_images=sizes["train"],
                                                   dataset=P.dataset)
    REFERENCE = reference.reference  # the published test accuracy (%) this run is set beside
    display(reference.table())
    display(Markdown(f"Test accuracy: **{acc}**. " + prose.references.comparison_text(reference) + " "
                     + prose.references.sources_text(P.dataset)))
else:
    reference, REFERENCE = None, None
    display(Markdown(f"Test accuracy: **{acc}**. " + prose.references.no_reference_text("lenet5", raw.title)))

# %%
if references.has_target("lenet5", P.dataset):
    target_check = references.check_target("lenet5", measured, P, dataset=P.dataset)
    display(Markdown(prose.references.target_text(target_check)))
else:
    target_check = None
    display(Markdown(prose.references.no_target_text(raw.title)))

# %% [markdown]
# ## Conclusions

# %%
train_seconds = weights.this_run_seconds  # None when the weights were reused: this run trained nothing
ann_params = models.count_parameters(models.build_model("ann"))
display(Markdown(
    f"- LeNet-5 has {n_params:,} parameters ({params_mb:.2f} MB as float32), "
    f"{ann_params / n_params:.1f}× fewer than the fully connected network of 02_ann ({ann_params:,}).\n"
    f"- It reaches **{measured:.2f}%** test accuracy (95% CI {low:.2f}–{high:.2f}%)"
    + ".\n" + (f"- {prose.references.gap_text(reference)}\n" if reference is not None else "")
    + f"- {NOUN.capitalize()} {best} is recognized best ({best_acc:.2%}), {NOUN} {worst} worst ({worst_acc:.2%}).\n"
    f"- The weights are in `{checkpoint}` for 06_feature_maps."
))

# %%
reports.save_predictions(run, {"test_accuracy": pred}, splits.test_index)
metrics_file = reports.finish_run(
    run,
    headline={"test accuracy": f"{measured:.2f}% (95% CI {low:.2f}–{high:.2f}%)",
              **({"target": prose.references.target_short_text(target_check)} if target_check is not None else {}),
              "parameters": f"{n_params:,}",
              "train seconds": f"{train_seconds:.1f}" if train_seconds is not None else
              f"none: weights reused (trained in {weights.train_seconds:.1f} s on {weights.trained_at})"},
    dataset=reports.dataset_record(raw),
    target=target_check.to_dict() if target_check is not None else None,
    test_accuracy=measured,
    test_accuracy_low=low,
    test_accuracy_high=high,
    train_seconds=train_seconds,
    epochs_run=epochs_run,
    best_epoch=history.best_epoch if history is not None else None,
    best_val_accuracy=100 * history.best_val_accuracy if history is not None else None,
    val_accuracy=100 * val_pred.accuracy,
    loaded_from_checkpoint=loaded,
    checkpoint_train_seconds=weights.train_seconds,
    checkpoint_trained_at=weights.trained_at,
    checkpoint_commit=weights.commit,
    parameters=n_params,
    parameters_mb=params_mb,
    misses=int(cm.sum() - cm.trace()),
    test_size=len(pred.targets),
    reference_accuracy=REFERENCE,
    difference_to_reference=measured - REFERENCE if REFERENCE is not None else None,
    best_class={"label": raw.classes.index(best), "name": best, "recall": best_acc},
    worst_class={"label": raw.classes.index(worst), "name": worst, "recall": worst_acc},
    checkpoint={"path": str(checkpoint.resolve()), "model": "lenet5", "params": weights.key_params,
                "seed": P.seed, "mean": splits.mean, "std": splits.std, "normalization": P.normalization,
                "image_size": IMAGE_SIZE, "resize_mode": RESIZE_MODE},
    history=history.to_dict()["records"] if history is not None else None,
)

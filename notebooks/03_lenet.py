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
dataset = "mnist"  # mnist, fashion-mnist or idx (data_source is then the folder)
data_dir = None  # where the data set is cached (torchvision layout: MNIST/raw, FashionMNIST/raw); None: the project's data/
data_source = None  # a folder with the four IDX files, tried before the mirrors (for idx: the data set itself)
seed = 0  # seed for the split, the initial weights, the shuffling and the augmentation
device = "auto"  # auto, cpu, cuda or mps
train_limit = None  # a stratified subset of the training images (quick runs); None for all
test_limit = None  # a stratified subset of the test images (quick runs); None for all
output_dir = None  # where the metrics file is written; None: the project's reports/ (reports/<dataset>/ for another dataset)
checkpoint_dir = None  # where trained weights are cached and reused; None: the project's checkpoints/
epochs = 15  # passes over the training set
batch_size = 128  # images per optimizer step
optimizer = "adam"  # sgd, momentum, nesterov, adam, adamw or rmsprop
lr = 0.003  # (peak) learning rate
scheduler = "onecycle"  # none, step, cosine or onecycle
weight_decay = 0.0  # L2 penalty
label_smoothing = 0.0  # label smoothing of the cross-entropy loss
normalization = "dataset"  # dataset (train mean/std), half, none or raw
memory_format = "auto"  # auto (the setting measured fastest for this model and device), contiguous or channels_last
compile_model = None  # torch.compile the training step: True or False; None: the measured choice
threads = None  # intra-op threads while training; None: the measured choice (at most the process's)
fused_optimizer = None  # torch's fused optimizer kernel (Adam, AdamW, SGD): True or False; None: the measured choice
precision = "fp32"  # fp32, or bf16 (bfloat16 autocast of the training step, for devices that support it)
augment = True  # random affine + brightness/contrast jitter on training batches
rotation = 8.0  # max rotation, degrees (with augment)
translate = 0.08  # max shift, fraction of the image (with augment)
scale_range = 0.08  # max relative zoom in or out (with augment)
shear = 8.0  # max shear, degrees (with augment)
brightness = 0.0  # max relative brightness change (with augment)
contrast = 0.0  # max relative contrast change (with augment)
hflip = None  # random horizontal flips of training images; None: the dataset's default (on only where a mirrored image keeps its class)
samples_shown = 32  # test images in the prediction grid

# %% [markdown]
# ## Run settings
#
# The table lists everything needed to repeat this report: the parameters it ran with (including the
# seed), the library versions, the device and the git commit of the code.

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display

from mnist_lib import checkpoints, config, data, describe, metrics, models, plots, references, reports, training

reports.setup_notebook()
run = reports.start_run("03_lenet", globals())
P = run.params
display(run.provenance_frame())

# %% [markdown]
# ## Data
#
# The images are padded from 28×28 to 32×32 (zeros, two pixels on every side) and then
# normalized as the `normalization` parameter asks. The validation split picks the best epoch; the test
# split is only used for the final numbers.

# %%
IMAGE_SIZE, RESIZE_MODE = models.model_input_size("lenet5"), "pad"
raw = data.load_dataset(P.dataset, P.data_dir, source=P.data_source)
NOUN, NOUNS = describe.class_words(raw)  # what one class is called: digit(s) for MNIST, class(es) otherwise
splits = data.prepare_data(raw, seed=P.seed, train_limit=P.train_limit, test_limit=P.test_limit,
                           normalization=P.normalization, image_size=IMAGE_SIZE, resize_mode=RESIZE_MODE,
                           device=run.device)
sizes = splits.sizes()
display(splits.describe().style.format({"min": "{:.4f}", "max": "{:.4f}", "mean": "{:.4f}", "std": "{:.4f}",
                                        "images": "{:,}"}))
display(Markdown(
    f"Training on **{sizes['train']:,}** images of {IMAGE_SIZE}×{IMAGE_SIZE}, selecting on "
    f"**{sizes['validation']:,}** and testing on **{sizes['test']:,}**; "
    f"{describe.normalization_text(P.normalization, splits.mean, splits.std, padded=True)}. "
    + describe.dataset_text(raw)
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
cfg = config.train_config_from(P, model="lenet5", device=run.device)
data_params = {**raw.identity(), "train_limit": P.train_limit, "test_limit": P.test_limit, "normalization": P.normalization,
               "image_size": IMAGE_SIZE, "resize_mode": RESIZE_MODE, "seed": P.seed}
checkpoint_params = {"train": cfg.to_dict(), "data": data_params}
Path(P.checkpoint_dir).mkdir(parents=True, exist_ok=True)
weights = checkpoints.fit_or_load(model, "lenet5", splits, cfg, P.checkpoint_dir, data_params=data_params,
                                  desc="LeNet-5")
history, loaded, checkpoint = weights.history, weights.loaded, weights.path
if history is None:
    frame = None
    display(Markdown(weights.sentence() + " That checkpoint holds no training log, so the log and the "
                     "learning curves are not available."))
else:
    frame = history.to_frame()
    display(frame.set_index("epoch").style
            .format({"train_loss": "{:.4f}", "train_nll": "{:.4f}", "val_loss": "{:.4f}", "train_accuracy": "{:.2%}",
                     "val_accuracy": "{:.2%}", "lr": "{:.2e}", "seconds": "{:.1f}"})
            .highlight_max(subset=["val_accuracy"], color="#d7f0d7"))
    display(Markdown(
        f"{weights.sentence()} {describe.training_setup(cfg, NOUN)} "
        f"{describe.plural(len(history.records), 'epoch')} took "
        f"**{history.train_seconds:.1f} s** of training{' in that run' if loaded else ''}; the best "
        f"validation accuracy, **{history.best_val_accuracy:.2%}**, came in epoch **{history.best_epoch}** "
        "(highlighted), and those weights are the ones evaluated below. "
        + describe.execution_text(cfg.execution, "LeNet-5", run.device, optimizers=[cfg.optimizer])
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
        describe.curves_text(frame, P.label_smoothing, NOUN) + " "
        + describe.train_metrics_note(cfg.augment is not None, model) + " "
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
pred = training.evaluate(model, splits.x_test, splits.y_test, cfg.eval_batch_size)
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
if len(pairs):
    top = pairs.iloc[0]
    display(Markdown(
        f"The most frequent mistake is a **{top['true']}** read as **{top['predicted']}** "
        f"({int(top['count'])} times, {top['share_of_true']:.2%} of the {top['true']} test images). The {len(pairs)} most "
        f"frequent confusions make up {int(pairs['count'].sum())} of the {int(cm.sum() - cm.trace())} errors."
    ))

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
    reference = reports.compare_with_reference("lenet5", acc, P, epochs_run=epochs_run, dataset=P.dataset)
    REFERENCE = reference.reference  # the published test accuracy (%) this run is set beside
    display(reference.table())
    display(Markdown(f"Test accuracy: **{acc}**. " + reference.setting_text() + " " + reference.text() + " "
                     + references.sources_text(P.dataset)))
else:
    reference, REFERENCE = None, None
    display(Markdown(f"Test accuracy: **{acc}**. " + references.no_reference_text("lenet5", raw.title)))

# %%
if references.has_target("lenet5", P.dataset):
    target_check = reports.check_target("lenet5", measured, P, dataset=P.dataset)
    display(Markdown(target_check.text()))
else:
    target_check = None
    display(Markdown(references.no_target_text(raw.title)))

# %% [markdown]
# ## Conclusions

# %%
train_seconds = weights.this_run_seconds  # None when the weights were reused: this run trained nothing
ann_params = models.count_parameters(models.build_model("ann"))
display(Markdown(
    f"- LeNet-5 has {n_params:,} parameters ({params_mb:.2f} MB as float32), "
    f"{ann_params / n_params:.1f}× fewer than the fully connected network of 02_ann ({ann_params:,}).\n"
    f"- It reaches **{measured:.2f}%** test accuracy (95% CI {low:.2f}–{high:.2f}%)"
    + (f", {measured - REFERENCE:+.2f} points from the published {REFERENCE:.2f}% ({reference.source})"
       if reference is not None else "") + ".\n"
    f"- {NOUN.capitalize()} {best} is recognized best ({best_acc:.2%}), {NOUN} {worst} worst ({worst_acc:.2%}).\n"
    f"- The weights are in `{checkpoint}` for 06_feature_maps."
))

# %%
reports.save_predictions(run, {"test_accuracy": pred}, splits.test_index)
metrics_file = reports.finish_run(
    run,
    headline={"test accuracy": f"{measured:.2f}% (95% CI {low:.2f}–{high:.2f}%)",
              **({"target": target_check.short()} if target_check is not None else {}),
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
    checkpoint={"path": str(checkpoint.resolve()), "model": "lenet5", "params": checkpoint_params,
                "seed": P.seed, "mean": splits.mean, "std": splits.std, "normalization": P.normalization,
                "image_size": IMAGE_SIZE, "resize_mode": RESIZE_MODE},
    history=history.to_dict()["records"] if history is not None else None,
)

# %% [markdown]
# # 02_ann — A fully connected network (784-120-84-10)
#
# The simplest neural network of the series: every 28×28 image is flattened into a vector of 784 pixel
# values and passed through two fully connected hidden layers of 120 and 84 ReLU units to 10 output
# scores, one per class. The network knows nothing about the image's 2-D structure, which makes it the
# baseline the convolutional networks of the next notebooks are measured against. This report shows
# its size, how it trains, how accurate it is on the test set (beside a published result and the
# series' target where the data set has them, both from `mnist_lib.references`) and which images it
# gets wrong.

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
epochs: int = 10  # passes over the training set, in [1, 1000]
batch_size: int = 128  # images per optimizer step, in [1, 60000]
optimizer: str = 'adamw'  # optimizer: sgd, momentum, nesterov, adam, adamw, rmsprop
lr: float = 0.003  # (peak) learning rate, in (0, 100]
scheduler: str = "onecycle"  # learning-rate schedule: none, step, cosine, onecycle
weight_decay: float = 0.05  # weight decay (AdamW: decoupled; the others: L2 penalty), in [0, 1]
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
shear: float = 0.0  # max shear, degrees, in [0, 45]
brightness: float = 0.0  # max relative brightness change, in [0, 0.9]
contrast: float = 0.0  # max relative contrast change, in [0, 0.9]
hflip: Optional[bool] = None  # random horizontal flips of training images; None: the data set's default (on only where a mirrored image keeps its class)
misses_shown: int = 32  # misclassified images in the gallery (0 for none), in [0, 200]

# %% [markdown]
# ## Run settings
#
# The table lists everything needed to repeat this report: the parameters it ran with (including the
# seed), the library versions, the device and the git commit of the code.

# %%
from IPython.display import Markdown, display

from mnist_lib import data, datasets, metrics, models, plots, prose, recipes, references, reports, training, words

reports.setup_notebook()
run = reports.start_run("02_ann", globals())
P = run.params
run.show_provenance()

# %% [markdown]
# ## Data
#
# The verified data files are split into training, validation (a stratified share of the training
# images, used to pick the best epoch; the sizes are below) and test sets; the test set is only used for the
# final numbers.

# %%
raw = datasets.load_dataset(P.dataset, P.data_dir, source=P.data_source)
NOUN, NOUNS = words.class_nouns(raw)  # what one class is called: digit(s) for MNIST, class(es) otherwise
splits = data.prepare_data(raw, seed=P.seed, train_limit=P.train_limit, test_limit=P.test_limit,
                           normalization=P.normalization, image_size=28, device=run.device)
sizes = splits.sizes()
display(splits.describe().style.format({"min": "{:.4f}", "max": "{:.4f}", "mean": "{:.4f}", "std": "{:.4f}",
                                        "images": "{:,}"}))
display(Markdown(
    f"{prose.data.splits_text(splits)}; {prose.data.normalization_text(P.normalization, splits.mean, splits.std)}. "
    + prose.data.dataset_text(raw)
))

# %% [markdown]
# ## The model and its size
#
# One row per layer: the shape of its weight matrix, its weights and biases, and the memory its
# parameters take as 32-bit floats.

# %%
model = training.seeded_model("ann", P.seed, device=run.device)
print(model)
param_table = models.parameter_table(model)
display(param_table.style.format({"weights": "{:,}", "biases": "{:,}", "params": "{:,}",
                                  "float32 MB": "{:.3f}"}).hide(axis="index"))

# %%
n_params = int(param_table["params"].iloc[-1])
params_mb = n_params * 4 / 2**20
first = param_table.iloc[0]
display(Markdown(
    f"The network has **{n_params:,}** trainable parameters, **{params_mb:.2f} MB** as float32. "
    f"The first layer, `{first['layer']}`, holds {first['params'] / n_params:.1%} of them: it connects "
    f"every one of the {first['weight shape'][1]} pixels to each of its {first['weight shape'][0]} units, so the "
    "size of a fully connected network is dominated by the input resolution. "
    + prose.training.training_memory_text(n_params, P.optimizer)
))

# %% [markdown]
# ## Training
#
# The optimizer, learning rate, schedule, loss and batch size come from the parameters; the sentence
# under the log names the ones this run used. The mini-batches are reshuffled every epoch. After each
# epoch the model is measured on the validation split; at the end the weights of the best validation
# epoch are restored. In the log, `train_loss` is the loss the optimizer minimized and `train_nll` the
# plain negative log-likelihood of the true class on the same batches (the two are equal without label
# smoothing); `val_loss` is the negative log-likelihood on the validation split.

# %%
cfg = recipes.train_config(P, model="ann", device=run.device)
history = training.fit(model, splits, cfg, desc="ANN 784-120-84-10")
n_epochs = len(history.records)
epochs_text = words.plural(n_epochs, "epoch")
log = history.to_frame().drop(columns="timestamp").set_index("epoch")
display(log.style.format({"train_loss": "{:.4f}", "train_nll": "{:.4f}", "val_loss": "{:.4f}",
                          "train_accuracy": "{:.2%}", "val_accuracy": "{:.2%}", "lr": "{:.2e}", "seconds": "{:.1f}"})
        .highlight_max(subset=["val_accuracy"], color="#d7f0d7"))
display(Markdown(
    prose.training.training_text(cfg, NOUN, sizes["train"]) + f" {epochs_text} ran in **{history.train_seconds:.1f} s** of training on "
    f"{run.device}. The best validation accuracy, **{history.best_val_accuracy:.2%}**, came in epoch "
    f"**{history.best_epoch}** (highlighted); those weights are the ones evaluated below. The `lr` column "
    "is the learning rate at the start of each epoch. "
    + prose.training.execution_text(cfg.execution, "the ANN", run.device, optimizers=[cfg.optimizer])
))

# %% [markdown]
# ## Learning curves
#
# Loss and accuracy per epoch on the training and validation splits; the text under the figure says which
# losses are drawn. Training metrics are averaged over the epoch while the weights still change;
# validation metrics are measured at its end. A validation loss that turns up while the training loss of
# the same kind keeps falling would signal overfitting.

# %%
frame = history.to_frame()
reports.show(plots.learning_curves(frame, title="ANN 784-120-84-10: learning curves",
                                   label_smoothing=P.label_smoothing))
last = frame.iloc[-1]
gap = last["train_accuracy"] - last["val_accuracy"]
display(Markdown(
    prose.training.curves_text(frame, P.label_smoothing, NOUN) + " "
    f"In the last epoch the training accuracy is {last['train_accuracy']:.2%} and the validation accuracy "
    f"{last['val_accuracy']:.2%}, a gap of {100 * gap:+.2f} percentage points; validation loss went from "
    f"{frame['val_loss'].iloc[0]:.4f} after the first epoch to {last['val_loss']:.4f}."
))

# %% [markdown]
# ## Test accuracy
#
# The restored model classifies the held-out test images once. The 95% interval is the Wilson score
# interval: the range of accuracies consistent with this many correct answers out of this many images.

# %%
val_pred, pred = training.final_evaluation(model, splits, cfg.eval_batch_size, P.tta)
acc = metrics.accuracy_with_interval(pred.targets, pred.preds)
display(Markdown(prose.training.evaluation_text(P.tta)))
measured, low, high = 100 * acc.accuracy, 100 * acc.low, 100 * acc.high
if references.has_reference("ann", P.dataset):
    reference = references.compare_with_reference("ann", acc, P, epochs_run=len(history.records), train_images=sizes["train"],
                                                   dataset=P.dataset)
    REFERENCE = reference.reference  # the published test accuracy (%) this run is set beside
    display(reference.table())
    display(Markdown(f"Test accuracy: **{acc}**. " + prose.references.comparison_text(reference)))
else:
    reference, REFERENCE = None, None
    display(Markdown(f"Test accuracy: **{acc}**. " + prose.references.no_reference_text("ann", raw.title)))
benchmarks = references.benchmark_table(P.dataset)
if len(benchmarks):
    display(Markdown(f"Published results on {raw.title}, for context (best first):"))
    display(benchmarks.style.format({"test accuracy (%)": "{:.1f}", "on MNIST (%)": "{:.1f}"}, na_rep="—")
            .hide(axis="index"))
if prose.references.sources_text(P.dataset):
    display(Markdown(prose.references.sources_text(P.dataset)))

# %%
if references.has_target("ann", P.dataset):
    target_check = references.check_target("ann", measured, P, dataset=P.dataset)
    display(Markdown(prose.references.target_text(target_check)))
else:
    target_check = None
    display(Markdown(prose.references.no_target_text(raw.title)))

# %% [markdown]
# ## Misclassified images
#
# Every test image the network gets wrong, with its index in the full test set, the true label, the
# prediction and the probability the network gave its (wrong) answer.

# %%
misses = metrics.find_misses(pred.targets, pred.preds, pred.probs, indices=splits.test_index,
                             class_names=raw.classes)
first_indices = misses["index"].head(20).tolist()
display(Markdown(
    f"**{len(misses):,}** of {len(pred.targets):,} test images are misclassified "
    f"({len(misses) / len(pred.targets):.2%}). The first test-set indices: "
    f"{', '.join(str(i) for i in first_indices)}{' …' if len(misses) > len(first_indices) else ''}."
))
display(misses.head(10).style.format({"confidence": "{:.1%}", "true_prob": "{:.1%}"}).hide(axis="index"))

# %% [markdown]
# The gallery shows the mistakes the network was most confident about (pixel values un-normalized for
# display). Some may be ambiguous even for a human reader; the ones that look clear hint
# at what a network that ignores the 2-D layout of the pixels misses.

# %%
if P.misses_shown == 0 or len(misses) == 0:
    display(Markdown("No gallery: " + ("`misses_shown` is 0." if P.misses_shown == 0
                                        else "there are no misclassified test images.")))
else:
    reports.show(plots.misses_gallery(splits.unnormalize(splits.x_test), pred.targets, pred.preds,
                                      pred.confidence, max_items=P.misses_shown, class_names=raw.classes))
    confident = misses.sort_values("confidence", ascending=False).iloc[0]
    display(Markdown(
        f"The most confident mistake is test image {int(confident['index'])}: a **{confident['true']}** "
        f"read as **{confident['predicted']}** with {confident['confidence']:.1%} probability. "
        f"{(misses['confidence'] > 0.9).mean():.0%} of the mistakes were made with more than 90% confidence."
    ))

# %% [markdown]
# ## Classification report
#
# Precision (of the images predicted as a class, the share that really are that class), recall (of the
# images of a class, the share found) and their harmonic mean F1, per class and averaged.

# %%
report = metrics.classification_report_frame(pred.targets, pred.preds, class_names=raw.classes)
display(report.style.format(precision=4, na_rep=""))
(best, best_acc), (worst, worst_acc) = metrics.best_and_worst_class(pred.targets, pred.preds,
                                                                    class_names=raw.classes)
class_rows = report.loc[list(raw.classes)]
low_precision = class_rows["precision"].idxmin()
display(Markdown(
    f"{NOUN.capitalize()} **{best}** is recognized best (recall {best_acc:.2%}) and {NOUN} **{worst}** worst "
    f"(recall {worst_acc:.2%}). The lowest precision belongs to **{low_precision}** "
    f"({class_rows.loc[low_precision, 'precision']:.2%}): other {NOUNS} are most often mistaken for it. "
    f"The macro-averaged F1 is {report.loc['macro avg', 'f1-score']:.4f}."
))

# %% [markdown]
# ## Conclusions

# %%
display(Markdown(
    f"- The 784-120-84-10 network has {n_params:,} parameters ({params_mb:.2f} MB as float32), "
    f"{first['params'] / n_params:.0%} of them in the first layer.\n"
    f"- After {epochs_text} ({history.train_seconds:.1f} s) it reaches **{measured:.2f}%** "
    f"test accuracy (95% CI {low:.2f}–{high:.2f}%)"
    + ".\n" + (f"- {prose.references.gap_text(reference)}\n" if reference is not None else "")
    + f"- It misclassifies {len(misses):,} of {len(pred.targets):,} test images; {NOUN} {worst} is the hardest "
    f"(recall {worst_acc:.2%}).\n"
    "- Having no notion of neighbouring pixels, it is the baseline for the convolutional networks of "
    "03_lenet and 04_cnn."
))

# %%
reports.save_predictions(run, {"test_accuracy": pred}, splits.test_index)
metrics_file = reports.finish_run(
    run,
    headline={"test accuracy": f"{measured:.2f}% (95% CI {low:.2f}–{high:.2f}%)",
              **({"target": prose.references.target_short_text(target_check)} if target_check is not None else {}),
              "parameters": f"{n_params:,}",
              "train seconds": f"{history.train_seconds:.1f}"},
    dataset=reports.dataset_record(raw),
    target=target_check.to_dict() if target_check is not None else None,
    test_accuracy=measured,
    test_accuracy_low=low,
    test_accuracy_high=high,
    train_seconds=history.train_seconds,
    epochs_run=len(history.records),
    best_epoch=history.best_epoch,
    best_val_accuracy=100 * history.best_val_accuracy,
    val_accuracy=100 * val_pred.accuracy,
    parameters=n_params,
    parameters_mb=params_mb,
    misses=len(misses),
    test_size=len(pred.targets),
    reference_accuracy=REFERENCE,
    difference_to_reference=measured - REFERENCE if REFERENCE is not None else None,
    macro_f1=float(report.loc["macro avg", "f1-score"]),
    best_class={"label": raw.classes.index(best), "name": best, "recall": best_acc},
    worst_class={"label": raw.classes.index(worst), "name": worst, "recall": worst_acc},
    history=history.to_dict()["records"],
)

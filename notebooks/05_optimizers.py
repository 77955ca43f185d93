# %% [markdown]
# # 05_optimizers — Optimizers compared
#
# The same fully connected network, 784-128-64-10 with ReLU, is trained once with each optimizer named by
# the `optimizers` parameter (the section *The network and the optimizers* lists this run's, with their
# learning rates). Everything else is identical: the initial weights (one seeded initialisation, copied into
# every run), the data and its order, the number of epochs, the batch size and the schedule. Published
# results for such a network, where the data set has them (from `mnist_lib.references`), are compared
# with this run's in their own section.
#
# Two definitions of "best accuracy" appear below, and the difference matters. Here, **best accuracy** is
# the test accuracy of the weights chosen by the best *validation* epoch: the test set plays no part in the
# choice. The other, the **maximum of the per-epoch test accuracy**, picks the epoch on the test set itself
# and is therefore optimistic; it is shown in its own, clearly labelled column, and the comparison section
# says which published values were measured that way. The per-epoch test loss and accuracy are recorded for
# monitoring and plotting only.

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
epochs: int = 25  # passes over the training set, in [1, 1000]
batch_size: int = 64  # images per optimizer step, in [1, 60000]
scheduler: str = 'cosine'  # learning-rate schedule: none, step, cosine, onecycle
weight_decay: float = 0.0  # weight decay (AdamW: decoupled; the others: L2 penalty), in [0, 1]
normalization: str = "dataset"  # input normalization (dataset: the training split's mean/std; half: (x - 0.5) / 0.5): dataset, half, none, raw
ema_decay: float = 0.0  # decay of an exponential moving average of the weights, which validation, the best epoch and the result use (0: none), in [0, 0.9999]
memory_format: str = "auto"  # memory format of weights and activations (auto: the setting measured for this model and device): auto, contiguous, channels_last
compile_model: Optional[bool] = None  # torch.compile the training step; None: the measured choice
fused_optimizer: Optional[bool] = None  # torch's fused optimizer kernel (Adam, AdamW, SGD); None: the measured choice
precision: str = "fp32"  # fp32, or bf16 autocast of the training step (devices that support it): fp32, bf16
optimizers: str = "sgd,momentum,adam"  # optimizers to compare: sgd, momentum, nesterov, adam, adamw, rmsprop
lr_per_optimizer: dict = {"sgd": 0.1, "momentum": 0.02, "adam": 0.001}  # learning rate of each optimizer
target_accuracy: Optional[float] = None  # test accuracy (percent) whose first epoch is reported, in (0, 100]; None: the data set's default

# %% [markdown]
# ## Run settings
#
# The table lists everything needed to repeat this report: the parameters it ran with (including the seed),
# the library versions, the device and the git commit of the code.

# %%
import pandas as pd
from IPython.display import Markdown, display

from mnist_lib import data, datasets, metrics, models, plots, prose, references, reports, training, words
from mnist_lib.analysis import optimizer_comparison

reports.setup_notebook()
run = reports.start_run("05_optimizers", globals())
P = run.params
run.show_provenance()

# %% [markdown]
# ## Data
#
# The training images are split into a training set and a stratified validation set that picks
# each run's epoch. Every optimizer sees the same batches in the same order.

# %%
MODEL = "mlp"
raw = datasets.load_dataset(P.dataset, P.data_dir, source=P.data_source)
NOUN, NOUNS = words.class_nouns(raw)  # what one class is called: digit(s) for MNIST, class(es) otherwise
splits = data.prepare_data(raw, seed=P.seed, train_limit=P.train_limit, test_limit=P.test_limit,
                           normalization=P.normalization, image_size=models.model_input_size(MODEL),
                           device=run.device)
sizes = splits.sizes()
display(splits.describe().style.format({"min": "{:.3f}", "max": "{:.3f}", "mean": "{:.4f}", "std": "{:.4f}",
                                        "images": "{:,}"}))
display(Markdown(
    f"{prose.data.splits_text(splits)}, normalized as (x − {splits.mean:.4f}) / {splits.std:.4f}. " + prose.data.dataset_text(raw)
))

# %% [markdown]
# ## The network and the optimizers
#
# The MLP has two hidden layers of 128 and 64 ReLU units and outputs ten logits (trained with cross-entropy).
# The table lists each run's settings: only the optimizer and its learning rate differ.

# %%
n_params = models.count_parameters(training.seeded_model(MODEL, P.seed))
configs = optimizer_comparison.optimizer_configs(P, MODEL, run.device)
settings = pd.DataFrame([{"optimizer": name, "learning rate": cfg.lr,
                          "momentum": cfg.momentum if name in ("momentum", "nesterov") else "—",
                          "epochs": cfg.epochs, "batch size": cfg.batch_size, "schedule": cfg.scheduler,
                          "weight decay": cfg.weight_decay, "seed": cfg.seed}
                         for name, cfg in configs.items()]).set_index("optimizer")
display(settings)
display(Markdown(f"The network has **{n_params:,}** trainable parameters. Compared: "
                 + prose.optimizers.configs_text(configs, sizes["train"], NOUN)))

# %% [markdown]
# ## Training
#
# Each optimizer trains a copy of the same initial weights. After every epoch `fit` measures the validation
# set (which selects the weights kept at the end); a callback also evaluates the test set, for the curves
# below only.

# %%
runs = optimizer_comparison.compare_optimizers(MODEL, splits, configs)
diverged = [name for name, r in runs.items() if r.history.diverged]
display(Markdown(
    f"Trained {len(runs)} runs in {sum(r.train_seconds for r in runs.values()):.1f} s in total"
    + (f"; **diverged** (non-finite loss): {', '.join(diverged)}." if diverged else "; none diverged.") + " "
    + prose.training.execution_text(next(iter(configs.values())).execution, "the MLP", run.device, optimizers=list(configs))
))

# %% [markdown]
# ## Learning curves per optimizer
#
# Training and validation loss and accuracy of each run; the dashed line marks the best validation epoch,
# whose weights are kept. This notebook trains without label smoothing, so both loss curves are the
# negative log-likelihood of the true class: on the training batches (averaged over the epoch) and on the
# validation split (after it).

# %%
for name, r in runs.items():
    reports.show(plots.learning_curves(r.history.to_frame(), title=f"{name} (learning rate {r.config.lr:g})"))

# %% [markdown]
# ## Optimizers compared epoch by epoch
#
# The three panels overlay the runs: training loss, and the test loss and accuracy measured after every
# epoch. The test curves are there to *watch* the runs; nothing is chosen from them. A faster optimizer
# drops its training loss sooner; a gap between a falling training loss and a flat or rising test loss is
# over-fitting.

# %%
curves = {name: r.curves() for name, r in runs.items()}
reports.show(plots.compare_curves(curves, columns=("train_loss", "test_loss", "test_accuracy"),
                                  title="Training loss, test loss and test accuracy per epoch (test: monitoring only)"))
test_by_epoch = pd.DataFrame({name: r.test_curve.set_index("epoch")["test_accuracy"] for name, r in runs.items()})
display(Markdown("Test accuracy after every epoch (monitoring only):"))
display(test_by_epoch.style.format("{:.2%}", na_rep="—"))

# %% [markdown]
# ## Summary table
#
# One row per optimizer: the first epoch whose test accuracy reaches the target, the convergence-speed rank (1 = first to get there; optimizers that never do share the last
# rank), the best accuracy, the accuracy after the last epoch, and the last training and test losses, plus
# the seconds spent training. **Best accuracy** is measured with the weights of the best validation epoch;
# the column after it is the highest per-epoch test accuracy, which is optimistic because it picks the
# epoch on the test set. A dash in the first-epoch column means the target
# was never reached.

# %%
TARGET_ACCURACY = P.target_accuracy if P.target_accuracy is not None else references.convergence_target(P.dataset)
target = TARGET_ACCURACY / 100
summary = optimizer_comparison.optimizer_summary(runs, target)
selected = optimizer_comparison.best_by_validation(runs)
reference_results = references.group("mlp", P.dataset)
# Whose definition the max per-epoch column is: named only when a reference of this dataset was measured so.
MAX_DEFINITION = ("the reference report's definition"
                  if any(r.metric == references.MAX_EPOCH_METRIC for r in reference_results.values()) else None)
COLUMNS = {
    "lr": "learning rate",
    "first_epoch_at_target": f"first epoch ≥ {TARGET_ACCURACY:g}% (test)",
    "convergence_rank": "convergence rank",
    "best_val_epoch": "selected epoch (best validation)",
    "best_accuracy": "best accuracy (validation-selected weights)",
    "max_epoch_accuracy": f"max per-epoch test accuracy ({MAX_DEFINITION + ', ' if MAX_DEFINITION else ''}optimistic)",
    "last_accuracy": "last-epoch accuracy",
    "last_train_loss": "last train loss",
    "last_test_loss": "last test loss",
    "train_seconds": "training seconds",
    "diverged": "diverged",
}
percent_columns = [COLUMNS[c] for c in ("best_accuracy", "max_epoch_accuracy", "last_accuracy")]
display(summary.rename(columns=COLUMNS).style.format(
    {**{c: "{:.2%}" for c in percent_columns}, COLUMNS["lr"]: "{:g}", COLUMNS["last_train_loss"]: "{:.4f}",
     COLUMNS["last_test_loss"]: "{:.4f}", COLUMNS["train_seconds"]: "{:.1f}"}, na_rep="—"))
display(Markdown(("" if P.target_accuracy is not None else
                  f"The target, {TARGET_ACCURACY:g}%, is the default for {raw.title} (`target_accuracy` is None). ")
                 + prose.optimizers.summary_text(summary, target, selected, definition=MAX_DEFINITION)))

# %% [markdown]
# ## Comparison with the reference
#
# The published accuracy of each optimizer that has one on this data set (from `mnist_lib.references`)
# beside this run's; the text under the table says where the reference values come from, how they were
# measured and how this run's setting differs. Differences are in percentage points. Whether this run orders
# the optimizers as the reference does waits for McNemar's test below: an order within chance is no ranking.

# %%
versus = optimizer_comparison.reference_comparison(summary, {name: round(r.accuracy / 100, 6)
                                                          for name, r in reference_results.items()})
POINTS = ["difference_max_epoch", "difference_best"]
display(versus.style.format(lambda v: f"{v:.2%}", na_rep="—")
        .format(lambda v: f"{100 * v:+.2f}", subset=POINTS, na_rep="—")
        .relabel_index(["reference", "this run: max per-epoch test accuracy",
                        "difference (points)", "this run: validation-selected", "difference (points)"], axis="columns"))
display(Markdown(
    prose.optimizers.reference_text(versus) + "\n\n"
    + prose.optimizers.reference_setting_text(reference_results, P.epochs, sizes["train"], P)
    + (" " + prose.references.sources_text(P.dataset) if reference_results else "")
))

# %%
target_checks = {name: references.check_target(f"mlp/{name}", 100 * acc, P, dataset=P.dataset)
                 for name, acc in summary["best_accuracy"].items()
                 if references.has_target(f"mlp/{name}", P.dataset)}
no_target = ("None of the optimizers run here has an accuracy target."
             if any(references.has_target(f"mlp/{name}", P.dataset) for name in training.OPTIMIZERS)
             else prose.references.no_target_text(raw.title))
display(Markdown("\n".join(f"- {prose.references.target_text(check)}" for check in target_checks.values()) or no_target))

# %% [markdown]
# ## Confusion matrices
#
# Each run's selected weights on the test set, side by side (rows true, columns predicted). The diagonals
# hold the correct predictions; the off-diagonal cells show where each optimizer's network goes wrong.

# %%
y_test = splits.y_test.cpu().numpy()
test_preds = {name: r.test.preds for name, r in runs.items()}
confusions = {name: metrics.confusion(y_test, p) for name, p in test_preds.items()}
reports.show(plots.confusion_grid(confusions, ncols=min(3, len(confusions)), class_names=raw.classes))

# %% [markdown]
# ## Best and worst classes, most confused pairs
#
# Per-class accuracy (recall) tells which class each run recognises best and worst; the second table lists
# each run's three most frequent mistakes (true → predicted).

# %%
extremes = optimizer_comparison.class_extremes(y_test, test_preds, class_names=raw.classes)
display(extremes.style.format({"best_class_accuracy": "{:.2%}", "worst_class_accuracy": "{:.2%}"})
        .relabel_index([f"best {NOUN}", "its accuracy", f"worst {NOUN}", "its accuracy"], axis="columns"))
confused = optimizer_comparison.confused_pairs(y_test, test_preds, k=3, class_names=raw.classes)
display(confused.style.format({"share_of_true": "{:.2%}"}).hide(axis="index")
        .relabel_index(["optimizer", f"true {NOUN}", "predicted as", "count", f"share of the true {NOUN}"],
                       axis="columns"))
display(Markdown(prose.optimizers.errors_text(extremes, confused, NOUN)))

# %% [markdown]
# ## Are the differences significant? McNemar's test
#
# Accuracies a few tenths of a percent apart can be noise. McNemar's test looks only at the test images
# where exactly one of two runs is right: if both are equally good, those disagreements should split about
# evenly. The p-values are Holm-corrected for the number of pairs compared.

# %%
if len(test_preds) < 2:
    mcnemar = None
    display(Markdown("Only one optimizer was run, so there is nothing to compare."))
else:
    mcnemar = optimizer_comparison.pairwise_mcnemar(y_test, test_preds)
    display(mcnemar.rename(columns={
        "a": "A", "b": "B", "accuracy_a": "accuracy A", "accuracy_b": "accuracy B",
        "only_a_right": "only A right", "only_b_right": "only B right", "p_value": "p-value",
        "p_holm": "p-value (Holm)"}).style.format({"accuracy A": "{:.2%}", "accuracy B": "{:.2%}",
                                                   "statistic": "{:.3f}", "p-value": "{:.3g}",
                                                   "p-value (Holm)": "{:.3g}"}).hide(axis="index"))
    display(Markdown("- " + "\n- ".join(prose.optimizers.mcnemar_texts(mcnemar)) + "\n\n"
                     + prose.optimizers.ranking_text(versus, mcnemar)))

# %% [markdown]
# ## Conclusions

# %%
chosen = runs[selected]
chosen_acc = metrics.accuracy_with_interval(y_test, chosen.test.preds)
significant = [] if mcnemar is None else [f"{r.a} vs {r.b}" for r in mcnemar.itertuples() if r.significant]
display(Markdown(
    f"- Selected by validation accuracy: **{selected}** (learning rate {chosen.config.lr:g}), "
    f"**{chosen_acc.accuracy:.2%}** on the test set (95% interval {chosen_acc.low:.2%}–{chosen_acc.high:.2%}).\n"
    "- Validation-selected test accuracy: "
    + ", ".join(f"{name} {acc:.2%}" for name, acc in summary["best_accuracy"].items()) + ".\n"
    f"- {prose.optimizers.convergence_text(summary, target)}\n"
    + (f"- Significant differences (McNemar, Holm-corrected, 5%): {', '.join(significant)}."
       if significant else "- No pair differs significantly on this test set (McNemar, Holm-corrected, 5%).")
))

# %%
reports.save_predictions(run, {"test_accuracy": chosen.test, **{f"optimizers.{name}.best_accuracy": r.test
                                                                for name, r in runs.items()}}, splits.test_index)
metrics_file = reports.finish_run(
    run,
    headline={"selected optimizer": selected,
              **({"targets": ", ".join(f"{name} {prose.references.target_short_text(check)}" for name, check in target_checks.items())}
                 if target_checks else {}),
              "test accuracy": f"{chosen_acc.accuracy:.2%} (95% CI {100 * chosen_acc.low:.2f}–{100 * chosen_acc.high:.2f}%)",
              "all (validation-selected)": ", ".join(f"{name} {acc:.2%}" for name, acc in
                                                     summary["best_accuracy"].items())},
    dataset=reports.dataset_record(raw),
    targets={name: check.to_dict() for name, check in target_checks.items()},
    test_accuracy=round(100 * chosen_acc.accuracy, 4),
    test_accuracy_low=round(100 * chosen_acc.low, 4),
    test_accuracy_high=round(100 * chosen_acc.high, 4),
    train_seconds=round(float(summary["train_seconds"].sum()), 3),
    epochs_run=len(chosen.history.records),
    best_epoch=chosen.history.best_epoch,
    selected_optimizer=selected,
    target_accuracy=TARGET_ACCURACY,
    optimizers=optimizer_comparison.optimizer_metrics(summary),
    mcnemar=None if mcnemar is None else mcnemar[["a", "b", "only_a_right", "only_b_right", "p_value", "p_holm",
                                                  "significant"]].to_dict(orient="records"),
)

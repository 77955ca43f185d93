# %% [markdown]
# # Sweep summary
#
# Many runs of the series' notebooks over a grid of parameters (usually seeds), summarized: per model and
# setting the mean, standard deviation and t-interval of test accuracy over the runs, the original reports'
# single-run numbers beside them, paired comparisons over seeds, training time, and a link to every run's
# own report. Every number here is computed from the runs' metrics files by `mnist_lib.analysis.sweeps`.

# %% tags=["parameters"]
from typing import Optional

sweep_dir: str = "../reports/sweeps/seeds-quick"  # the sweep's folder (with its sweep.json)
output_dir: Optional[str] = "../reports/sweeps/seeds-quick"  # where the metrics and predictions files are written; None: the project's reports/
confidence: float = 0.95  # confidence of the t-intervals, in [0.5, 0.999]

# %%
from IPython.display import Markdown, display

from mnist_lib import plots, prose, reports
from mnist_lib.analysis import sweeps
from mnist_lib.files import write_json

reports.setup_notebook()
P = sweeps.summary_params(globals())
manifest = sweeps.read_manifest(P["sweep_dir"])
runs = sweeps.load_runs(P["sweep_dir"])
ok = runs[(runs["status"] == "ok") & runs["accuracy"].notna()]
provenance = reports.provenance()
display(Markdown(prose.sweeps.sweep_text(manifest, runs)))

# %% [markdown]
# ## The runs' settings

# %%
settings = sweeps.settings_table(P["sweep_dir"], runs, manifest)
display(settings)
display(Markdown(prose.sweeps.subset_text(settings)))

# %% [markdown]
# ## Settings compared on the validation split
#
# Where the sweep compares settings, each model's setting is chosen on the validation split over the seeds
# (the test split plays no part in the choice) by the one-standard-error rule with training steps as the
# cost: the setting with the fewest optimizer steps among those whose mean validation accuracy is within one
# standard error (paired by seed) of the best mean; a sweep file's `steps_budget` leaves settings of more steps
# (as a multiple of the baseline's) out of the choice. The choice is set beside the baseline, the sweep's first
# setting, paired by seed.

# %%
baseline = sweeps.baseline_setting(manifest)
choices = sweeps.choose_settings(runs, baseline, P["confidence"], manifest.get("steps_budget"))
if runs["setting"].nunique() > 1:
    display(sweeps.setting_means(runs).style.format({"validation": "{:.2f}", "test": "{:.2f}", "steps": "{:.2f}x",
                                                      "train_seconds": "{:.1f}"}).hide(axis="index"))
    display(Markdown("\n".join("- " + prose.sweeps.choice_text(c) for c in choices) or "No run measured a validation "
                     "accuracy."))
else:
    display(Markdown("This sweep varies no setting besides the seed: there is nothing to choose."))

# %% [markdown]
# ## Test accuracy over seeds

# %%
groups = sweeps.group_spreads(runs, "accuracy", P["confidence"])
references = sweeps.references_for(runs, (manifest.get("dataset") or {}).get("name", "mnist"))
display(sweeps.spread_table(groups, references, P["confidence"]))
display(Markdown("\n".join("- " + prose.sweeps.spread_text(row, references.get(row["model"]))
                            for _, row in groups.iterrows()) or "No run succeeded."))

# %% [markdown]
# ## Targets over seeds
#
# Each model's target on this data set (`mnist_lib.references`): a mean test accuracy over the full
# profile's seeds and, for some, a floor every seed must clear. A target is checked only on runs of the
# full data with enough seeds; a missed target is shown as missed.

# %%
dataset_name = (manifest.get("dataset") or {}).get("name", "mnist")
targets = sweeps.seed_target_checks(runs, groups, dataset_name)
display(Markdown("\n".join("- " + prose.sweeps.seed_target_text(check) for check in targets)
                 or f"No model of this sweep has a seed target on {dataset_name}."))

# %%
if not ok.empty:
    reports.show(plots.sweep_strip(ok, {m: r.accuracy for m, r in references.items()},
                                   title="Test accuracy of every run (dots), over seeds (boxes)"))

# %% [markdown]
# ## Paired comparisons over seeds

# %%
comparisons = sweeps.paired_comparisons(runs)
if comparisons:
    display(sweeps.comparison_table(comparisons))
    display(Markdown("\n".join("- " + prose.sweeps.comparison_text(c, references) for c in comparisons)))
    display(Markdown(prose.sweeps.few_seeds_text(min(c.n for c in comparisons))))
    reports.show(plots.paired_differences(sweeps.paired_differences(runs, comparisons)))
else:
    display(Markdown(prose.sweeps.no_comparison_text(runs)))

# %% [markdown]
# ## Training time

# %%
seconds = sweeps.group_spreads(runs, "train_seconds", P["confidence"])
display(sweeps.seconds_table(seconds))
display(Markdown(prose.sweeps.seconds_text(seconds, runs)))

# %% [markdown]
# ## Every run

# %%
display(Markdown(prose.sweeps.runs_table_text(runs)))

# %% [markdown]
# ## Provenance

# %%
display(sweeps.provenance_table(manifest, provenance))
record = sweeps.summary_record(manifest, groups, comparisons, seconds, P, provenance,
                              prose.sweeps.headline_texts(groups), choices, targets)
metrics_file = write_json(sweeps.summary_metrics_path(P["output_dir"]), record)

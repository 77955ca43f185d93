# %% [markdown]
# # Sweep summary
#
# Many runs of the series' notebooks over a grid of parameters (usually seeds), summarized: per model and
# setting the mean, standard deviation and t-interval of test accuracy over the runs, the original reports'
# single-run numbers beside them, paired comparisons over seeds, training time, and a link to every run's
# own report. Every number here is computed from the runs' metrics files by `mnist_lib.sweep_stats`.

# %% tags=["parameters"]
sweep_dir = "../reports/sweeps/seeds-quick"  # the sweep's folder (with its sweep.json)
output_dir = "../reports/sweeps/seeds-quick"  # where summary.metrics.json is written
confidence = 0.95  # confidence of the t-intervals

# %%
from IPython.display import HTML, Markdown, display

from mnist_lib import plots, reports, sweep_stats
from mnist_lib.files import write_json

reports.setup_notebook()
P = sweep_stats.summary_params(globals())
manifest = sweep_stats.read_manifest(P["sweep_dir"])
runs = sweep_stats.load_runs(P["sweep_dir"])
ok = runs[(runs["status"] == "ok") & runs["accuracy"].notna()]
provenance = reports.provenance()
display(Markdown(sweep_stats.describe_sweep(manifest, runs)))

# %% [markdown]
# ## The runs' settings

# %%
settings = sweep_stats.settings_table(P["sweep_dir"], runs, manifest)
display(settings)
display(Markdown(sweep_stats.subset_note(settings)))

# %% [markdown]
# ## Test accuracy over seeds

# %%
groups = sweep_stats.group_spreads(runs, "accuracy", P["confidence"])
references = sweep_stats.references_for(runs)
display(sweep_stats.spread_table(groups, references, P["confidence"]))
display(Markdown("\n".join("- " + sweep_stats.spread_sentence(row, references.get(row["model"]))
                            for _, row in groups.iterrows()) or "No run succeeded."))

# %%
if not ok.empty:
    reports.show(plots.sweep_strip(ok, {m: r.accuracy for m, r in references.items()},
                                   title="Test accuracy of every run (dots), over seeds (boxes)"))

# %% [markdown]
# ## Paired comparisons over seeds

# %%
comparisons = sweep_stats.paired_comparisons(runs)
if comparisons:
    display(sweep_stats.comparison_table(comparisons))
    display(Markdown("\n".join("- " + sweep_stats.comparison_sentence(c, references) for c in comparisons)))
    display(Markdown(sweep_stats.few_seeds_caveat(min(c.n for c in comparisons))))
    reports.show(plots.paired_differences(sweep_stats.paired_differences(runs, comparisons)))
else:
    display(Markdown(sweep_stats.no_comparison_reason(runs)))

# %% [markdown]
# ## Training time

# %%
seconds = sweep_stats.group_spreads(runs, "train_seconds", P["confidence"])
display(sweep_stats.seconds_table(seconds))
display(Markdown(sweep_stats.seconds_sentence(seconds, runs)))

# %% [markdown]
# ## Every run

# %%
display(HTML(sweep_stats.runs_table_html(runs)))

# %% [markdown]
# ## Provenance

# %%
display(sweep_stats.provenance_table(manifest, provenance))
record = sweep_stats.summary_record(manifest, groups, comparisons, seconds, P, provenance)
metrics_file = write_json(sweep_stats.summary_metrics_path(P["output_dir"]), record)

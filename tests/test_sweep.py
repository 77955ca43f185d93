"""Sweeps: the sweep file's validation (one line each), points and their folders, the summary's
groups, comparisons, sentences, tables and figures (the statistics themselves: test_stats.py), and a
sweep of stand-in notebooks run end to end (cached, a failed run reported while the others go on,
resumed by running only what failed; the ``stand_ins`` fixture)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sp

from mnist_lib import cells, params, plots, prose, recipes, stats
from mnist_lib.analysis import sweeps
from mnist_lib.params import ParameterError
from mnist_lib.runner import keys, sweep
from mnist_lib.website import sweeps as website_sweeps

REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- the sweep file


def test_a_sweep_file_becomes_points_and_targets_with_their_own_folders(tmp_path, write_yaml):
    file = write_yaml(tmp_path / "grid.yaml", "notebooks: [06_feature_maps]\nprofile: quick\n"
                                              "params: {timeout: 99}\ngrid:\n  seed: [0, 1]\n  image_index: [3, 7]\n")
    loaded = sweep.load_sweep(file)
    assert loaded.name == "grid" and loaded.notebooks == ["03_lenet", "04_cnn", "06_feature_maps"]  # deps added
    assert [p.id for p in loaded.points] == ["seed=0,image_index=3", "seed=0,image_index=7", "seed=1,image_index=3",
                                             "seed=1,image_index=7"]
    assert not loaded.seeds_only
    folder = tmp_path / "out" / "sweeps" / "grid"
    targets = sweep.sweep_targets(loaded, folder, REPO / "notebooks", tmp_path, None, {"f": "h"})
    assert len(targets) == 12 and len({t.output for t in targets}) == 12
    six = next(t for t in targets if t.id == "seed=1,image_index=7/06_feature_maps")
    assert six.output == folder / "seed=1,image_index=7" / "06_feature_maps"
    assert six.depends == ("seed=1,image_index=7/03_lenet", "seed=1,image_index=7/04_cnn")
    assert six.paths["checkpoint_dir"] == str(folder / "seed=1,image_index=7" / "checkpoints")
    assert six.overrides["seed"] == 1 and six.overrides["image_index"] == 7 and six.timeout == 99
    assert six.overrides["fallback_epochs"] == 1  # the quick profile underneath
    assert "timeout" not in six.overrides
    assert sweep.load_sweep(REPO / "notebooks" / "sweeps" / "seeds.yaml").seeds_only
    shipped = sweep.load_sweep(REPO / "notebooks" / "sweeps" / "seeds-quick.yaml")
    assert shipped.profile.name == "quick" and shipped.notebooks == ["02_ann", "03_lenet", "04_cnn", "05_optimizers"]


@pytest.mark.parametrize("path", sorted((REPO / "notebooks" / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_sweep_file_loads(path):
    """Every point of every shipped sweep is validated on its data set before hours of runs start."""
    loaded = sweep.load_sweep(path)
    assert loaded.points and loaded.name == path.stem


RECIPE_SWEEPS = sorted((REPO / "notebooks" / "sweeps").glob("recipes-*.yaml"))


def trains_with(notebook: str, overrides: dict) -> dict:
    """What a run of ``notebook`` given ``overrides`` trains and evaluates with: its resolved parameters (as its
    run key holds them), the augmentation parameters as the Augmentation they build (None when off) and the
    seed left out."""
    given = keys.resolved_parameters(notebook, cells.notebook_path(notebook), overrides)
    return {**{k: v for k, v in given.items() if k not in {*recipes.AUGMENTATION_PARAMETERS, "seed"}},
            "augmentation": recipes.augmentation(given)}


@pytest.mark.parametrize("path", RECIPE_SWEEPS, ids=lambda p: p.stem)
def test_a_recipe_sweep_states_where_it_started_and_measured_the_recipe_in_use(path):
    """A recipe sweep's params hold the recipe it started from, every value its settings change, so it
    measures the same settings after its choice is written into a cell or recipes.yaml; and the recipe
    the series now trains with on the sweep's data set is one of the settings it measured (a change to an
    MNIST cell that another data set's recipe inherits, or a recipe nobody swept, fails here)."""
    loaded = sweep.load_sweep(path)
    changed = {k for setting in loaded.settings for k in setting}
    assert changed <= set(loaded.params), f"{path.name}: settings change {sorted(changed - set(loaded.params))} " \
                                          "without the value before the sweep under params"
    (notebook,) = loaded.notebooks
    in_use = trains_with(notebook, sweep._overrides(loaded.profile, notebook, {}, {}, loaded.dataset))
    measured = [trains_with(notebook, sweep._overrides(loaded.profile, notebook, loaded.params, setting,
                                                       loaded.dataset)) for setting in loaded.settings]
    closest = min(measured, key=lambda m: sum(m[k] != in_use[k] for k in in_use))
    assert in_use in measured, f"{path.name}: the recipe in use is none of the settings measured; closest differs " \
        f"in {({k: (in_use[k], closest[k]) for k in in_use if closest[k] != in_use[k]})}"


def test_point_ids_are_safe_folder_names():
    assert sweep.point_id({"seed": 0}) == "seed=0"
    assert sweep.point_id({"lr": 0.001, "optimizers": ["sgd", "adam"]}) == "lr=0.001,optimizers=sgd+adam"
    assert sweep.point_id({"hidden_layers": ["128/64 x"]}) == "hidden_layers=128_64_x"


def test_settings_and_a_data_set_make_the_points_and_give_each_run_its_recipe(tmp_path, write_yaml):
    file = write_yaml(tmp_path / "recipes.yaml", "notebooks: [04_cnn]\nprofile: quick\ndataset: fashion-mnist\n"
                                                 "settings:\n  - {}\n  - {ema_decay: 0.999, tta: flip}\n"
                                                 "grid:\n  seed: [0, 1]\n")
    loaded = sweep.load_sweep(file)
    assert [p.id for p in loaded.points] == ["seed=0", "seed=1", "ema_decay=0.999,tta=flip,seed=0",
                                             "ema_decay=0.999,tta=flip,seed=1"]
    assert loaded.dataset == "fashion-mnist" and not loaded.seeds_only
    overrides = sweep._overrides(loaded.profile, "04_cnn", loaded.params, loaded.points[2].values, loaded.dataset)
    assert (overrides["dataset"], overrides["ema_decay"], overrides["tta"], overrides["seed"]) == (
        "fashion-mnist", 0.999, "flip", 0)
    manifest = {"grid": {"seed": [0, 1]}, "settings": loaded.settings}
    assert sweeps.baseline_setting(manifest) == "" and sweeps.setting_label(loaded.points[2].values) == \
        "ema_decay=0.999, tta=flip"


def test_the_best_setting_on_validation_is_chosen_and_set_beside_the_baseline():
    rows = []
    for seed, (base_val, base_test, new_val, new_test) in enumerate([(99.0, 98.9, 99.3, 99.0), (99.1, 99.0, 99.2, 99.2),
                                                                      (98.9, 99.1, 99.2, 99.1)]):
        for setting, val, test in (("", base_val, base_test), ("ema_decay=0.999", new_val, new_test)):
            rows.append({"point": f"{setting},{seed}", "notebook": "04_cnn", "model": "cnn", "setting": setting,
                         "seed": seed, "status": "ok", "accuracy": test, "val_accuracy": val,
                         "max_epoch_accuracy": None, "train_seconds": 10.0 + (setting != ""), "epochs": 20,
                         "batch_size": 128, "seconds": 12.0, "html": None, "metrics": None, "error": None})
    runs = pd.DataFrame(rows)
    [choice] = sweeps.choose_settings(runs, "")
    assert choice.chosen == "ema_decay=0.999" and choice.seeds == 3
    assert choice.val_difference.mean == pytest.approx(0.2333333) and choice.test_difference.mean == pytest.approx(0.1)
    assert choice.seconds_ratio == pytest.approx(1.1)
    text = prose.sweeps.choice_text(choice)
    assert text.startswith("**cnn** (04_cnn, 3 seeds): `ema_decay=0.999` has the best mean validation accuracy, "
                           "99.23% against 99.00% for the baseline (the sweep's first setting): +0.23 points")
    assert "exact Wilcoxon p = 0.250; the smallest 3 seeds can give is 0.250" in text and "+0.10 points" in text
    worse = runs.assign(val_accuracy=np.where(runs["setting"] == "", 99.5, runs["val_accuracy"]))
    [kept] = sweeps.choose_settings(worse, "")
    assert kept.chosen == "" and "No setting beat the baseline" in prose.sweeps.choice_text(kept)
    [alone] = sweeps.choose_settings(runs[runs["setting"] == ""], "")  # a seeds-only sweep: one setting, ""
    assert alone.chosen == "" and alone.seeds == 3 and alone.val_baseline == pytest.approx(99.0)


def _choice_runs(settings):
    """Runs of one model: ``settings`` maps a setting's text to (epochs, validation accuracies by seed)."""
    return pd.DataFrame([{"point": f"{setting},{seed}", "notebook": "04_cnn", "model": "cnn", "setting": setting,
                          "seed": seed, "status": "ok", "accuracy": val, "val_accuracy": val,
                          "max_epoch_accuracy": None, "train_seconds": 10.0, "epochs": epochs, "batch_size": 128,
                          "seconds": 12.0, "html": None, "metrics": None, "error": None}
                         for setting, (epochs, vals) in settings.items() for seed, val in enumerate(vals)])


def test_a_costlier_setting_is_chosen_only_when_it_is_ahead_by_more_than_the_seeds_noise():
    """The one-standard-error rule: 30 epochs at +0.05 points (standard error 0.06) over 20 epochs of
    the same recipe buys nothing the seeds can tell apart; at +0.30 points it does."""
    cheap = (20, [99.40, 99.50, 99.42])
    near = _choice_runs({"": (20, [99.3, 99.3, 99.3]), "ema_decay=0.999": cheap,
                         "ema_decay=0.999, epochs=30": (30, [99.55, 99.45, 99.47])})
    [choice] = sweeps.choose_settings(near, "")
    assert (choice.best, choice.chosen) == ("ema_decay=0.999, epochs=30", "ema_decay=0.999")
    assert choice.steps_ratio == pytest.approx(1.0) and choice.best_steps_ratio == pytest.approx(1.5)
    assert choice.val_behind_best.mean == pytest.approx(-0.05)
    assert sweeps.setting_means(near)["steps"].tolist() == pytest.approx([1.0, 1.0, 1.5])
    text = prose.sweeps.choice_text(choice)
    assert ("`ema_decay=0.999, epochs=30` has the best mean validation accuracy, 99.49% at 1.50x the baseline's "
            "training steps; `ema_decay=0.999` is within one standard error of it (-0.05 points paired by seed, "
            "standard error 0.06) with fewer steps, so it is chosen") in text
    assert "Its mean validation accuracy is 99.44% against 99.30%" in text and "costs 1.00x the baseline's" in text
    far = _choice_runs({"": (20, [99.3, 99.3, 99.3]), "ema_decay=0.999": cheap,
                        "ema_decay=0.999, epochs=30": (30, [99.72, 99.80, 99.70])})
    [choice] = sweeps.choose_settings(far, "")
    assert choice.best == choice.chosen == "ema_decay=0.999, epochs=30" and choice.steps_ratio == pytest.approx(1.5)
    assert "has the best mean validation accuracy, 99.74% against 99.30%" in prose.sweeps.choice_text(choice)
    # the baseline itself within noise of a costlier best: it stays, and the text says why
    [kept] = sweeps.choose_settings(_choice_runs({"": (20, [99.40, 99.50, 99.42]),
                                                  "epochs=30": (30, [99.55, 99.45, 99.47])}), "")
    assert kept.chosen == "" and kept.best == "epochs=30"
    assert prose.sweeps.choice_text(kept).endswith("so it is chosen (the one-standard-error rule). So the baseline "
                                                   "(the sweep's first setting) stays (mean 99.44%).")


def test_a_steps_budget_leaves_costlier_settings_out_of_the_choice_and_says_so(tmp_path, write_yaml):
    runs = _choice_runs({"": (20, [99.3, 99.3, 99.3]), "ema_decay=0.999": (20, [99.40, 99.50, 99.42]),
                         "ema_decay=0.999, epochs=30": (30, [99.72, 99.80, 99.70])})
    [choice] = sweeps.choose_settings(runs, "", steps_budget=1.0)
    assert (choice.chosen, choice.best, choice.over_budget) == ("ema_decay=0.999", "ema_decay=0.999",
                                                                "ema_decay=0.999, epochs=30")
    assert choice.over_budget_steps_ratio == pytest.approx(1.5) and choice.val_over_budget == pytest.approx(99.74)
    assert prose.sweeps.choice_text(choice).startswith(
        "**cnn** (04_cnn, 3 seeds): `ema_decay=0.999, epochs=30` has the best mean validation accuracy of all, "
        "99.74% at 1.50x the baseline's training steps, over the sweep's budget of 1.00x, so it is not a candidate. "
        "`ema_decay=0.999` has the best mean validation accuracy within the budget, 99.44% against 99.30%")
    [roomy] = sweeps.choose_settings(runs, "", steps_budget=1.5)
    assert roomy.chosen == "ema_decay=0.999, epochs=30" and roomy.over_budget is None
    assert "budget" not in prose.sweeps.choice_text(roomy)
    # none within the budget beats the baseline: it stays
    [kept] = sweeps.choose_settings(_choice_runs({"": (20, [99.3, 99.3, 99.3]),
                                                  "epochs=30": (30, [99.72, 99.80, 99.70])}), "", steps_budget=1.0)
    assert kept.chosen == "" and prose.sweeps.choice_text(kept).endswith(
        "No setting within the budget beat the baseline (the sweep's first setting) on the validation split "
        "(mean 99.30%); it stays.")
    file = write_yaml(tmp_path / "budget.yaml", "notebooks: [02_ann]\nsettings: [{}, {epochs: 20}]\n"
                                                "steps_budget: 1\ngrid: {seed: [0]}\n")
    assert sweep.load_sweep(file).steps_budget == 1.0


@pytest.mark.parametrize("text, message", [
    ("notebooks: [02_ann, 09_gan]\ngrid: {seed: [0]}\n", "notebooks: unknown notebook '09_gan'; valid: 01_eda"),
    ("notebooks: [02_ann]\ngrid: {sed: [0]}\n", "grid: unknown parameter 'sed' for 02_ann; valid: dataset, seed"),
    ("notebooks: [02_ann, 05_optimizers]\ngrid: {optimizer: [adam]}\n",
     "grid: unknown parameter 'optimizer' for 05_optimizers; valid:"),
    ("notebooks: [02_ann]\ngrid: {seed: [0, -1]}\n", "grid: parameter 'seed': expected a whole number in [0, "),
    ("notebooks: [02_ann]\ngrid: {lr: [0.1, fast]}\n", "grid: parameter 'lr': expected a number in (0, 100], got"),
    ("notebooks: [02_ann]\ngrid: {seed: [1, 1]}\n", "grid: 'seed' lists the value 1 twice"),
    ("notebooks: [02_ann]\ngrid: {seed: 3}\n", "grid: 'seed' needs a non-empty list of values, got 3"),
    ("notebooks: [02_ann]\nsteps_budget: 0\ngrid: {seed: [0]}\n", "steps_budget: expected a number > 0 (the most "),
    ("notebooks: [02_ann]\nsteps_budget: twice\ngrid: {seed: [0]}\n", "as a multiple of the baseline's), got 'twice'"),
    ("notebooks: [02_ann]\ngrid: {output_dir: [a]}\n", "grid: 'output_dir' names a place, not a setting"),
    ("notebooks: [02_ann]\ngrid: {timeout: [5]}\n", "grid: 'timeout' is a build setting; set it under params"),
    ("notebooks: [02_ann]\nparams: {epochs: 0}\ngrid: {seed: [0]}\n",
     "params: parameter 'epochs': expected a whole number in [1, 1000], got 0"),
    ("notebooks: [02_ann]\ngrid: {batch_size: [64, 7000]}\n",
     "point batch_size=7000, 02_ann: parameter 'batch_size': 7000 is larger than the training data (6000)"),
    ("notebooks: [02_ann]\nprofile: huge\ngrid: {seed: [0]}\n", "unknown profile 'huge'; valid: quick, full"),
    ("notebooks: [02_ann]\ngrids: {seed: [0]}\n",
     "unknown key 'grids'; valid keys: notebooks, profile, dataset, params, settings, steps_budget, grid"),
    ("notebooks: [02_ann]\ndataset: cifar\ngrid: {seed: [0]}\n", "dataset: expected one of mnist, fashion-mnist, idx"),
    ("notebooks: [02_ann]\nsettings: {ema_decay: 0.9}\ngrid: {seed: [0]}\n", "settings: expected a list of mappings"),
    ("notebooks: [02_ann]\nsettings: [{}, {ema_decay: 2}]\ngrid: {seed: [0]}\n",
     "settings: parameter 'ema_decay': expected a number in [0, 0.9999]"),
    ("notebooks: [02_ann]\nsettings: [{}, {}]\ngrid: {seed: [0]}\n", "settings: {} is listed twice"),
    ("notebooks: [02_ann]\nsettings: [{}, {seed: 3}]\ngrid: {seed: [0]}\n", "grid: 'seed' is set by the settings too"),
    ("notebooks: [02_ann]\nsettings: [{}, {tta: flip}]\ngrid: {seed: [0]}\n",
     "parameter 'tta': a mirrored MNIST digit is not the same digit"),
    ("notebooks: []\ngrid: {seed: [0]}\n", "notebooks: expected a list of notebooks from 01_eda"),
    ("notebooks: [02_ann]\n", "grid: expected a mapping of parameter: [values]"),
    ("notebooks: [02_ann\n", "malformed YAML"),
])
def test_a_bad_sweep_file_fails_in_one_line_naming_the_problem(tmp_path, text, message, write_yaml):
    file = write_yaml(tmp_path / "bad.yaml", text)
    with pytest.raises(ParameterError) as caught:
        sweep.load_sweep(file)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_cli_reports_a_bad_sweep_file_in_one_line(tmp_path, capsys, write_yaml):
    from mnist_lib import cli

    file = write_yaml(tmp_path / "bad.yaml", "notebooks: [02_ann]\ngrid: {seed: [0, x]}\n")
    assert cli.main(["sweep", str(file), "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "grid: parameter 'seed': expected a whole number" in err
    assert cli.main(["sweep", str(tmp_path / "none.yaml")]) == 2
    assert capsys.readouterr().err == f"error: sweep file {str(tmp_path / 'none.yaml')!r} does not exist\n"
    assert cli.main(["sweep", str(file), "-j", "0"]) == 2
    assert "-j: expected a whole number of notebooks to run at once (>= 1), got '0'" in capsys.readouterr().err
    assert cli.main(["sweep", str(file), "-j", "2", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "-j and --scheduler exclude each other" in capsys.readouterr().err
    assert cli.main(["reports", "--scheduler", "not an address"]) == 2
    assert "is neither a scheduler address (tcp://HOST:PORT) nor a scheduler file" in capsys.readouterr().err
    assert cli.main(["reports", "--scheduler", str(tmp_path / "scheduler.json")]) == 2
    assert "scheduler file" in capsys.readouterr().err


# --------------------------------------------------------------------------- the summary's data and texts


def fake_sweep(folder: Path, accuracies: dict[str, list[float]], failed: set[tuple[int, str]] = frozenset()) -> Path:
    """A sweep folder as run_sweep leaves it: manifest and metrics files, no notebooks run."""
    notebooks = {"ann": "02_ann", "lenet5": "03_lenet"}
    optimizers = {k: v for k, v in accuracies.items() if k.startswith("mlp/")}
    seeds = range(len(next(iter(accuracies.values()))))
    points, runs = [], []
    for seed in seeds:
        point = f"seed={seed}"
        points.append({"id": point, "values": {"seed": seed}})
        for model, notebook in notebooks.items():
            if model not in accuracies:
                continue
            runs.append(_fake_run(folder, point, notebook, (seed, notebook) in failed,
                                  {"test_accuracy": accuracies[model][seed], "train_seconds": 10.0 + seed,
                                   "params": {"seed": seed, "train_limit": None, "epochs": 10}}))
        if optimizers:
            runs.append(_fake_run(folder, point, "05_optimizers", (seed, "05_optimizers") in failed, {
                "params": {"seed": seed, "train_limit": None},
                "optimizers": {m.split("/")[1]: {"best_accuracy": v[seed], "max_epoch_accuracy": v[seed] + 0.05,
                                                 "train_seconds": 5.0} for m, v in optimizers.items()}}))
    (folder / "sweep.json").write_text(json.dumps({
        "name": "fake", "file": "fake.yaml", "profile": "full", "notebooks": sorted({r["notebook"] for r in runs}),
        "params": {}, "grid": {"seed": list(seeds)}, "seeds_only": True, "points": points, "runs": runs}))
    return folder


def _fake_run(folder: Path, point: str, notebook: str, failed: bool, metrics: dict) -> dict:
    out = folder / point / notebook
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{notebook}.metrics.json").write_text(json.dumps({"status": "ok", **metrics}))
    (out / f"{notebook}.html").write_text("<html></html>")
    return {"id": f"{point}/{notebook}", "point": point, "notebook": notebook, "status": "failed" if failed else "ok",
            "error": "boom" if failed else None, "seconds": 12.5, "cached": False,
            "html": f"{point}/{notebook}/{notebook}.html",
            "metrics": None if failed else f"{point}/{notebook}/{notebook}.metrics.json"}


def test_runs_groups_and_comparisons_come_from_the_manifest_and_metrics(tmp_path):
    folder = fake_sweep(tmp_path, {"ann": [98.0, 98.2, 98.1, 98.3, 97.9], "lenet5": [98.9, 99.0, 98.8, 99.1, 99.0],
                                   "mlp/sgd": [97.1, 97.2, 97.0, 97.3, 97.2],
                                   "mlp/momentum": [97.6, 97.9, 97.7, 97.8, 97.9],
                                   "mlp/adam": [97.8, 97.7, 97.8, 97.6, 97.9]}, failed={(4, "03_lenet")})
    runs = sweeps.load_runs(folder)
    assert len(runs) == 5 * (1 + 1 + 3) and (runs["status"] == "failed").sum() == 1
    groups = sweeps.group_spreads(runs).set_index("model")
    assert groups.loc["ann", "n"] == 5 and groups.loc["lenet5", "n"] == 4  # the failed run is left out
    assert groups.loc["ann", "mean"] == pytest.approx(98.1) and groups.loc["lenet5", "seeds"] == [0, 1, 2, 3]
    comparisons = {(c.a, c.b): c for c in sweeps.paired_comparisons(runs)}
    assert set(comparisons) == {("mlp/sgd", "mlp/momentum"), ("mlp/sgd", "mlp/adam"), ("mlp/momentum", "mlp/adam"),
                                ("ann", "lenet5")}
    c = comparisons[("mlp/sgd", "mlp/momentum")]
    a, b = np.array([97.1, 97.2, 97.0, 97.3, 97.2]), np.array([97.6, 97.9, 97.7, 97.8, 97.9])
    assert c.n == 5 and c.wins_b == 5 and c.mean_difference == pytest.approx((a - b).mean())
    assert c.t_p == pytest.approx(sp.ttest_rel(a, b).pvalue) and c.wilcoxon_p == 0.0625
    assert comparisons[("ann", "lenet5")].n == 4  # paired over the seeds both have
    family = [comparisons[k].t_p for k in comparisons if k[0].startswith("mlp")]
    assert [comparisons[k].t_p_holm for k in comparisons if k[0].startswith("mlp")] == pytest.approx(
        stats.holm(family))

    references = sweeps.references_for(runs)
    assert {m: r.accuracy for m, r in references.items()} == {"ann": 97.21, "lenet5": 98.73, "mlp/sgd": 97.18,
                                                              "mlp/momentum": 97.95, "mlp/adam": 97.83}
    text = prose.sweeps.comparison_text(c, references)
    assert f"by {abs(c.mean_difference):.2f} points" in text and "ahead on 5 of 5 seeds" in text
    assert "put mlp/momentum (97.95%) above mlp/sgd (97.18%); that comparison **survives**" in text
    reversed_pair = comparisons[("mlp/momentum", "mlp/adam")]
    assert "does **not** survive" in prose.sweeps.comparison_text(reversed_pair, references)
    assert "cannot give a p-value below 0.0625 with 5 paired values, so it can never reach 0.05" in \
        prose.sweeps.few_seeds_text(5)
    row = groups.reset_index().iloc[0]
    sentence = prose.sweeps.spread_text(row, references["ann"])
    assert sentence.startswith("**ann**: 98.10% ± 0.16 (mean ± sd over 5 seeds; 95% t-interval")
    assert ("The original report's single run, 97.21% (test accuracy; 10 epochs on 60,000 training images), lies "
            "**below** this interval.") in sentence
    assert prose.sweeps.headline_texts(sweeps.group_spreads(runs))["ann"] == "98.10 ± 0.16% over 5 seeds"
    described = prose.sweeps.sweep_text(sweeps.read_manifest(folder), runs)
    assert "15 runs, 14 succeeded, 1 did not (seed=4/03_lenet" in described
    table = prose.sweeps.runs_table_text(runs).splitlines()
    assert table[:2] == ["| run | test accuracy | notebook seconds | status |", "| --- | --- | --- | --- |"]
    assert len(table) == 2 + 15 and all(row.startswith("| [") and row.count(" | ") == 3 for row in table[2:])
    assert table[2] == "| [seed=0/02_ann](seed=0/02_ann/02_ann.html) | 98.00% | 12.5 | ok |"
    assert "| mlp/sgd 97.10%, mlp/momentum 97.60%, mlp/adam 97.80% |" in table[4]
    assert "| failed: boom |" in "\n".join(table)


def test_sweep_figures_mark_the_reference_and_every_seed(tmp_path):
    folder = fake_sweep(tmp_path, {"ann": [98.0, 98.2, 98.1], "mlp/sgd": [97.1, 97.2, 97.0],
                                   "mlp/adam": [97.8, 97.7, 97.8]})
    runs = sweeps.load_runs(folder)
    fig = plots.sweep_strip(runs, {"ann": 97.21})
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["ann", "mlp/sgd", "mlp/adam"]
    assert [line.get_ydata()[0] for line in visible[0].get_lines() if line.get_linestyle() == "--"] == [97.21]
    assert sum(len(c.get_offsets()) for c in visible[1].collections) == 3  # one dot per seed
    comparisons = sweeps.paired_comparisons(runs)
    differences = sweeps.paired_differences(runs, comparisons)
    assert differences["difference"].tolist() == pytest.approx([-0.7, -0.5, -0.8])
    fig = plots.paired_differences(differences)
    assert fig.axes[0].get_title() == "Paired differences over seeds"
    with pytest.raises(ValueError, match="no 'accuracy' values"):
        plots.sweep_strip(runs.assign(accuracy=np.nan))


def test_the_summary_notebook_has_a_parameters_cell_and_no_outputs():
    nb = nbformat.read(REPO / "notebooks" / "08_sweep_summary.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and set(params.notebook_parameters("08_sweep_summary")) == {"sweep_dir", "output_dir",
                                                                                        "confidence"}
    assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    with pytest.raises(ParameterError, match="parameter 'sweep_dir': folder '/nonexistent' does not exist"):
        sweeps.summary_params({"sweep_dir": "/nonexistent", "output_dir": "/tmp", "confidence": 0.95})
    with pytest.raises(ParameterError, match="holds no sweep.json"):
        sweeps.summary_params({"sweep_dir": str(REPO), "output_dir": "/tmp", "confidence": 0.95})
    with pytest.raises(ParameterError, match="parameter 'confidence': expected a number in"):
        sweeps.summary_params({"sweep_dir": "/tmp", "output_dir": "/tmp", "confidence": 2})


# --------------------------------------------------------------------------- a sweep, end to end


@pytest.mark.slow
def test_a_sweep_runs_every_point_reports_a_failure_and_resumes_with_only_what_failed(
        tmp_path, data, stand_ins, write_yaml, sweep_cli, executed_count):
    fixed = tmp_path / "fixed"  # the stand-in fails for seed 1 until this file exists
    nbs = stand_ins(tmp_path / "nbs", fail_if_seed=1, unless=fixed)
    file = write_yaml(tmp_path / "three.yaml", "notebooks: [02_ann, 05_optimizers]\nprofile: quick\n"
                                               "grid:\n  seed: [0, 1, 2]\n")
    out = tmp_path / "out"
    first = sweep_cli(file, out, data, nbs)
    assert first.returncode == 1
    assert executed_count(first) == 6
    assert "[seed=1/02_ann] failed: RuntimeError: stand-in failure for seed 1" in first.stderr
    assert "error: sweep runs not ok: seed=1/02_ann" in first.stderr and "sweep three: 100%" in first.stderr
    folder = out / "sweeps" / "three"
    manifest = json.loads((folder / "sweep.json").read_text())
    status = {r["id"]: r["status"] for r in manifest["runs"]}
    assert len(manifest["runs"]) == 6 and list(status.values()).count("failed") == 2
    assert "stand-in failure" in (folder / "seed=1" / "02_ann" / "02_ann.html").read_text()
    summary = (folder / "summary.html").read_text()
    assert "6 runs, 4 succeeded, 2 did not (seed=1/02_ann, seed=1/05_optimizers" in summary
    record = json.loads((folder / "summary.metrics.json").read_text())
    assert record["headline"]["ann"].endswith("over 2 seeds")

    again = sweep_cli(file, out, data, nbs)  # still failing: only the failed runs run again
    assert executed_count(again) == 2 and again.returncode == 1
    fixed.write_text("")
    third = sweep_cli(file, out, data, nbs)
    assert third.returncode == 0, third.stderr
    assert executed_count(third) == 2 and "4 up to date" in third.stdout
    fourth = sweep_cli(file, out, data, nbs)
    assert fourth.returncode == 0 and executed_count(fourth) == 0 and "executor: none needed" in fourth.stdout

    record = json.loads((folder / "summary.metrics.json").read_text())
    accuracies = [json.loads((folder / f"seed={s}" / "02_ann" / "02_ann.metrics.json").read_text())["test_accuracy"]
                  for s in range(3)]
    assert record["headline"]["ann"] == stats.spread(accuracies).text()
    summary = (folder / "summary.html").read_text()
    assert "mlp/momentum" in summary and "paired t-test p" in summary and "6 runs, 6 succeeded" in summary
    assert summary.count('href="seed=') == 6 and "<img" in summary
    assert "original report (%)" in summary and "97.21" in summary
    entries = website_sweeps.sweep_overview(out)
    assert [e.name for e in entries] == ["three"] and entries[0].seeds_only and entries[0].link == \
        "sweeps/three/summary.html"
    assert entries[0].numbers["02_ann"] == {"ann": record["headline"]["ann"]}
    assert set(entries[0].numbers["05_optimizers"]) == {"mlp/sgd", "mlp/momentum", "mlp/adam"}
    assert website_sweeps.seed_headlines(entries, "quick", "mnist")["02_ann"] == [("ann over seeds (sweep three)",
                                                                                   record["headline"]["ann"])]
    assert website_sweeps.seed_headlines(entries, "full", "mnist") == {}  # another profile's sweep: not its spread
    assert website_sweeps.seed_headlines(entries, "quick", "fashion-mnist") == {}  # nor another data set's
    assert not [p for p in folder.rglob(".*")]  # no temporary file left


def _seed_runs(model: str, accuracies: list[float], full: bool = True, setting: str = "") -> pd.DataFrame:
    return pd.DataFrame({"point": [f"seed={i}" for i in range(len(accuracies))], "notebook": "04_cnn",
                         "model": model, "setting": setting, "seed": range(len(accuracies)), "status": "ok",
                         "accuracy": accuracies, "val_accuracy": accuracies, "max_epoch_accuracy": None,
                         "train_seconds": 1.0, "seconds": 2.0, "full": full, "html": None, "metrics": None,
                         "error": None})


def test_seed_targets_are_checked_on_the_mean_and_every_seed_and_a_miss_is_shown_as_missed():
    met = _seed_runs("cnn", [99.56, 99.60, 99.58, 99.55, 99.61])
    check, = sweeps.seed_target_checks(met, sweeps.group_spreads(met), "mnist")
    assert check.met is True and check.n == 5 and check.lowest == pytest.approx(99.55)
    assert prose.sweeps.seed_target_text(check).startswith(
        "**cnn**: target a mean of at least 99.55% over 5 seeds, every seed at least 99.45%: **met**, mean 99.58%")
    # The mean clears 99.55 but one seed falls below the 99.44% report: missed, and the text says by how much.
    low_seed = _seed_runs("cnn", [99.70, 99.68, 99.66, 99.40, 99.69])
    check, = sweeps.seed_target_checks(low_seed, sweeps.group_spreads(low_seed), "mnist")
    text = prose.sweeps.seed_target_text(check)
    assert check.met is False and check.mean >= 99.55
    assert "**missed** (the lowest seed 0.05 points below the floor), mean 99.63% over 5 seeds (95% interval" in text
    below = _seed_runs("lenet5", [99.1, 99.2, 99.0, 99.1, 99.2])
    text = prose.sweeps.seed_target_text(sweeps.seed_target_checks(below, sweeps.group_spreads(below), "mnist")[0])
    assert "**missed** (the mean 0.13 points short), mean 99.12%" in text
    fashion = _seed_runs("cnn", [92.6, 92.7, 92.5, 92.8, 92.6])
    assert sweeps.seed_target_checks(fashion, sweeps.group_spreads(fashion), "fashion-mnist")[0].met is True


def test_seed_targets_are_not_checked_on_subsets_or_too_few_seeds():
    quick = _seed_runs("ann", [98.5, 98.6, 98.7, 98.5, 98.6], full=False)
    check, = sweeps.seed_target_checks(quick, sweeps.group_spreads(quick), "mnist")
    assert check.met is None and "subset of the data" in prose.sweeps.seed_target_text(check)
    few = _seed_runs("ann", [98.5, 98.6, 98.7])
    check, = sweeps.seed_target_checks(few, sweeps.group_spreads(few), "mnist")
    assert check.met is None and "it has 3 seeds, fewer than the 5 the target is set over" in \
        prose.sweeps.seed_target_text(check)
    assert sweeps.seed_target_checks(few, sweeps.group_spreads(few), "idx") == []  # no targets off the registry


def test_a_sweep_on_another_data_set_lives_in_that_data_sets_reports_folder():
    assert sweep.sweep_folder("reports", "seeds") == Path("reports/sweeps/seeds")
    assert sweep.sweep_folder("reports", "seeds-fashion-mnist", "fashion-mnist") == Path(
        "reports/fashion-mnist/sweeps/seeds-fashion-mnist")

"""Sweeps: the sweep file's validation (one line each), points and their folders, the statistics
against scipy, the summary's sentences and figures, and a sweep of stand-in notebooks run end to
end (cached, a failed run reported while the others go on, resumed by running only what failed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from scipy import stats

from mnist_lib import plots, sweep, sweep_stats
from mnist_lib.build import keys
from mnist_lib.config import ParameterError

REPO = Path(__file__).resolve().parent.parent

# A stand-in notebook for sweeps: optional sleep, a log line when it starts and when it ends (with
# the PID of the process that runs the task: kernel -> runner -> worker), seed-dependent accuracies.
SWEEP_BODY = """
import json, os, pathlib, time
import numpy as np
def note(event):
    if LOG:
        import psutil
        with open(LOG, 'a') as f:
            f.write(f"{event} {NAME} {output_dir} {psutil.Process().parent().parent().pid}\\n")
note('start')
time.sleep(SLEEP)
if FAIL_IF_SEED is not None and seed == FAIL_IF_SEED and not pathlib.Path(FAIL_IF_SEED_UNLESS).exists():
    raise RuntimeError(f'stand-in failure for seed {seed}')
rng = np.random.default_rng(seed)
metrics = {'status': 'ok', 'headline': {'answer': '42'}, 'params': {'seed': seed, 'epochs': 3, 'train_limit': 6000},
           'omp_threads': os.environ.get('OMP_NUM_THREADS'), 'train_seconds': 1.0 + seed}
if NAME == '05_optimizers':
    base = {'sgd': 97.0, 'momentum': 97.6, 'adam': 97.5}
    metrics['optimizers'] = {o: {'best_accuracy': round(b + rng.normal(0, 0.1), 2), 'max_epoch_accuracy': b,
                                 'train_seconds': 2.0} for o, b in base.items()}
    metrics['test_accuracy'] = metrics['optimizers']['momentum']['best_accuracy']
else:
    metrics['test_accuracy'] = round(97.0 + rng.normal(0, 0.2), 2)
pathlib.Path(output_dir, NAME + '.metrics.json').write_text(json.dumps(metrics))
note('done')
"""


def sweep_stand_in(name: str, sleep: float = 0.0, log: Path | None = None, fail_if_seed: int | None = None,
                   unless: Path | None = None) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("output_dir = '.'\nseed = 0")
    params.metadata["tags"] = ["parameters"]
    head = (f"NAME = {name!r}\nSLEEP = {sleep!r}\nLOG = {str(log) if log else None!r}\n"
            f"FAIL_IF_SEED = {fail_if_seed!r}\nFAIL_IF_SEED_UNLESS = {str(unless or '/nonexistent')!r}\n")
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}\n\n## Results"), params,
                nbformat.v4.new_code_cell(head + SWEEP_BODY)]
    return nb


def write_sweep_stand_ins(folder: Path, **options) -> Path:
    from mnist_lib.config import NOTEBOOKS

    folder.mkdir(parents=True, exist_ok=True)
    for name in NOTEBOOKS:
        nbformat.write(sweep_stand_in(name, **options), folder / f"{name}.ipynb")
    return folder


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def sweep_cli(file: Path, out: Path, data: tuple[Path, Path], notebooks: Path, *extra: str,
              timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mnist_lib", "sweep", str(file), "--output", str(out),
                           "--data-dir", str(data[0]), "--source", str(data[1]), "--notebooks", str(notebooks),
                           *extra], capture_output=True, text=True, cwd=REPO, timeout=timeout)


def executed_count(done: subprocess.CompletedProcess) -> int:
    line = next(line for line in done.stdout.splitlines() if line.startswith("Sweep "))
    return int(line.split(" runs: ")[1].split(" executed")[0])


@pytest.fixture
def data(mnist_data_dir, mnist_source):
    return mnist_data_dir, mnist_source


# --------------------------------------------------------------------------- the sweep file


def test_a_sweep_file_becomes_points_and_targets_with_their_own_folders(tmp_path):
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


def test_point_ids_are_safe_folder_names():
    assert sweep.point_id({"seed": 0}) == "seed=0"
    assert sweep.point_id({"lr": 0.001, "optimizers": ["sgd", "adam"]}) == "lr=0.001,optimizers=sgd+adam"
    assert sweep.point_id({"hidden_layers": ["128/64 x"]}) == "hidden_layers=128_64_x"


@pytest.mark.parametrize("text, message", [
    ("notebooks: [02_ann, 09_gan]\ngrid: {seed: [0]}\n", "notebooks: unknown notebook '09_gan'; valid: 01_eda"),
    ("notebooks: [02_ann]\ngrid: {sed: [0]}\n", "grid: unknown parameter 'sed' for 02_ann; valid: dataset, seed"),
    ("notebooks: [02_ann, 05_optimizers]\ngrid: {optimizer: [adam]}\n",
     "grid: unknown parameter 'optimizer' for 05_optimizers; valid:"),
    ("notebooks: [02_ann]\ngrid: {seed: [0, -1]}\n", "grid: parameter 'seed': expected a whole number in [0, "),
    ("notebooks: [02_ann]\ngrid: {lr: [0.1, fast]}\n", "grid: parameter 'lr': expected a number in (0, 100], got"),
    ("notebooks: [02_ann]\ngrid: {seed: [1, 1]}\n", "grid: 'seed' lists the value 1 twice"),
    ("notebooks: [02_ann]\ngrid: {seed: 3}\n", "grid: 'seed' needs a non-empty list of values, got 3"),
    ("notebooks: [02_ann]\ngrid: {output_dir: [a]}\n", "grid: 'output_dir' names a place, not a setting"),
    ("notebooks: [02_ann]\ngrid: {timeout: [5]}\n", "grid: 'timeout' is a build setting; set it under params"),
    ("notebooks: [02_ann]\nparams: {epochs: 0}\ngrid: {seed: [0]}\n",
     "params: parameter 'epochs': expected a whole number in [1, 1000], got 0"),
    ("notebooks: [02_ann]\ngrid: {batch_size: [64, 7000]}\n",
     "point batch_size=7000, 02_ann: parameter 'batch_size': 7000 is larger than the training data (6000)"),
    ("notebooks: [02_ann]\nprofile: huge\ngrid: {seed: [0]}\n", "unknown profile 'huge'; valid: quick, full"),
    ("notebooks: [02_ann]\ngrids: {seed: [0]}\n", "unknown key 'grids'; valid keys: notebooks, profile, params, grid"),
    ("notebooks: []\ngrid: {seed: [0]}\n", "notebooks: expected a list of notebooks from 01_eda"),
    ("notebooks: [02_ann]\n", "grid: expected a mapping of parameter: [values]"),
    ("notebooks: [02_ann\n", "malformed YAML"),
])
def test_a_bad_sweep_file_fails_in_one_line_naming_the_problem(tmp_path, text, message):
    file = write_yaml(tmp_path / "bad.yaml", text)
    with pytest.raises(ParameterError) as caught:
        sweep.load_sweep(file)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_cli_reports_a_bad_sweep_file_in_one_line(tmp_path, capsys):
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


# --------------------------------------------------------------------------- statistics against scipy


def test_spread_is_the_mean_sd_and_t_interval_scipy_gives():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 10):
        x = rng.normal(98, 0.3, n)
        s = sweep_stats.spread(x, 0.95)
        low, high = stats.t.interval(0.95, n - 1, loc=x.mean(), scale=stats.sem(x))
        assert (s.n, s.mean, s.sd) == (n, pytest.approx(x.mean()), pytest.approx(x.std(ddof=1)))
        assert (s.low, s.high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
    one = sweep_stats.spread([97.5])
    assert one.n == 1 and one.mean == 97.5 and math.isnan(one.sd) and "one run" in one.text()
    assert sweep_stats.spread([98.0, 98.2, 98.1, 98.3, 97.9]).text() == "98.10 ± 0.16% over 5 seeds"


def test_paired_t_and_exact_wilcoxon_agree_with_scipy():
    rng = np.random.default_rng(1)
    for n in (3, 5, 8, 12):
        a = rng.normal(97.5, 0.2, n)
        b = a - rng.normal(0.2, 0.2, n)
        t_stat, t_p = sweep_stats.paired_t(a, b)
        ref = stats.ttest_rel(a, b)
        assert t_stat == pytest.approx(ref.statistic, rel=1e-10) and t_p == pytest.approx(ref.pvalue, rel=1e-10)
        w, p, smallest = sweep_stats.wilcoxon_exact(a, b)
        ref = stats.wilcoxon(a, b, method="exact")
        assert w == ref.statistic and p == pytest.approx(ref.pvalue, rel=1e-12)
        assert smallest == sweep_stats.smallest_wilcoxon_p(n) == min(1, 2 / 2**n)
    # ties and a zero difference: exact enumeration over sign patterns, as scipy's permutation method
    a = np.array([10, 12, 11, 15, 9, 14, 13], dtype=float)
    b = np.array([9, 11, 12, 13, 9, 12, 10], dtype=float)
    w, p, _ = sweep_stats.wilcoxon_exact(a, b)
    ref = stats.wilcoxon(a, b, method=stats.PermutationMethod(n_resamples=np.inf))
    assert w == ref.statistic and p == pytest.approx(ref.pvalue, rel=1e-12)
    # float noise does not break a tie: 97.3 - 97.2 and 97.1 - 97.0 tie as 0.1 does with 0.1
    assert sweep_stats.wilcoxon_exact([97.3, 97.1, 98.0], [97.2, 97.0, 97.7])[1] == pytest.approx(
        stats.wilcoxon([1, 1, 3], [0, 0, 0], method=stats.PermutationMethod(n_resamples=np.inf)).pvalue)
    # five seeds, all in one direction: the smallest p the test can give, 0.0625
    assert sweep_stats.wilcoxon_exact([2, 3, 4, 5, 6], [1, 1, 1, 1, 1])[1:] == (0.0625, 0.0625)


def test_holm_adjustment():
    assert sweep_stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert sweep_stats.holm([0.5, float("nan"), 0.2]) == [pytest.approx(0.5), pytest.approx(float("nan"), nan_ok=True),
                                                          pytest.approx(0.4)]


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
    runs = sweep_stats.load_runs(folder)
    assert len(runs) == 5 * (1 + 1 + 3) and (runs["status"] == "failed").sum() == 1
    groups = sweep_stats.group_spreads(runs).set_index("model")
    assert groups.loc["ann", "n"] == 5 and groups.loc["lenet5", "n"] == 4  # the failed run is left out
    assert groups.loc["ann", "mean"] == pytest.approx(98.1) and groups.loc["lenet5", "seeds"] == [0, 1, 2, 3]
    comparisons = {(c.a, c.b): c for c in sweep_stats.paired_comparisons(runs)}
    assert set(comparisons) == {("mlp/sgd", "mlp/momentum"), ("mlp/sgd", "mlp/adam"), ("mlp/momentum", "mlp/adam"),
                                ("ann", "lenet5")}
    c = comparisons[("mlp/sgd", "mlp/momentum")]
    a, b = np.array([97.1, 97.2, 97.0, 97.3, 97.2]), np.array([97.6, 97.9, 97.7, 97.8, 97.9])
    assert c.n == 5 and c.wins_b == 5 and c.mean_difference == pytest.approx((a - b).mean())
    assert c.t_p == pytest.approx(stats.ttest_rel(a, b).pvalue) and c.wilcoxon_p == 0.0625
    assert comparisons[("ann", "lenet5")].n == 4  # paired over the seeds both have
    family = [comparisons[k].t_p for k in comparisons if k[0].startswith("mlp")]
    assert [comparisons[k].t_p_holm for k in comparisons if k[0].startswith("mlp")] == pytest.approx(
        sweep_stats.holm(family))

    references = sweep_stats.references_for(runs)
    assert {m: r.accuracy for m, r in references.items()} == {"ann": 97.21, "lenet5": 98.73, "mlp/sgd": 97.18,
                                                              "mlp/momentum": 97.95, "mlp/adam": 97.83}
    text = sweep_stats.comparison_sentence(c, references)
    assert f"by {abs(c.mean_difference):.2f} points" in text and "ahead on 5 of 5 seeds" in text
    assert "put mlp/momentum (97.95%) above mlp/sgd (97.18%); that comparison **survives**" in text
    reversed_pair = comparisons[("mlp/momentum", "mlp/adam")]
    assert "does **not** survive" in sweep_stats.comparison_sentence(reversed_pair, references)
    assert "cannot give a p-value below 0.0625 with 5 paired values, so it can never reach 0.05" in \
        sweep_stats.few_seeds_caveat(5)
    row = groups.reset_index().iloc[0]
    sentence = sweep_stats.spread_sentence(row, references["ann"])
    assert sentence.startswith("**ann**: 98.10% ± 0.16 (mean ± sd over 5 seeds; 95% t-interval")
    assert ("The original report's single run, 97.21% (test accuracy; 10 epochs on 60,000 training images), lies "
            "**below** this interval.") in sentence
    assert sweep_stats.headline(sweep_stats.group_spreads(runs))["ann"] == "98.10 ± 0.16% over 5 seeds"
    described = sweep_stats.describe_sweep(sweep_stats.read_manifest(folder), runs)
    assert "15 runs, 14 succeeded, 1 did not (seed=4/03_lenet" in described
    page = sweep_stats.runs_table_html(runs)
    assert page.count("<tr>") == 15 + 1 and 'href="seed=0/02_ann/02_ann.html"' in page
    assert "mlp/sgd 97.10%, mlp/momentum 97.60%, mlp/adam 97.80%" in page and "failed: boom" in page


def test_sweep_figures_mark_the_reference_and_every_seed(tmp_path):
    folder = fake_sweep(tmp_path, {"ann": [98.0, 98.2, 98.1], "mlp/sgd": [97.1, 97.2, 97.0],
                                   "mlp/adam": [97.8, 97.7, 97.8]})
    runs = sweep_stats.load_runs(folder)
    fig = plots.sweep_strip(runs, {"ann": 97.21})
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["ann", "mlp/sgd", "mlp/adam"]
    assert [line.get_ydata()[0] for line in visible[0].get_lines() if line.get_linestyle() == "--"] == [97.21]
    assert sum(len(c.get_offsets()) for c in visible[1].collections) == 3  # one dot per seed
    comparisons = sweep_stats.paired_comparisons(runs)
    differences = sweep_stats.paired_differences(runs, comparisons)
    assert differences["difference"].tolist() == pytest.approx([-0.7, -0.5, -0.8])
    fig = plots.paired_differences(differences)
    assert fig.axes[0].get_title() == "Paired differences over seeds"
    with pytest.raises(ValueError, match="no 'accuracy' values"):
        plots.sweep_strip(runs.assign(accuracy=np.nan))


def test_the_summary_notebook_has_a_parameters_cell_and_no_outputs():
    nb = nbformat.read(REPO / "notebooks" / "08_sweep_summary.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    defaults = keys.notebook_defaults(REPO / "notebooks" / "08_sweep_summary.ipynb")
    assert len(tagged) == 1 and set(defaults) == set(sweep_stats.SUMMARY_PARAMS)
    assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    with pytest.raises(ParameterError, match="holds no sweep.json"):
        sweep_stats.summary_params({"sweep_dir": "/nonexistent", "output_dir": "/tmp", "confidence": 0.95})
    with pytest.raises(ParameterError, match="parameter 'confidence': expected a number in"):
        sweep_stats.summary_params({"sweep_dir": "/tmp", "output_dir": "/tmp", "confidence": 2})


# --------------------------------------------------------------------------- a sweep, end to end


@pytest.mark.slow
def test_a_sweep_runs_every_point_reports_a_failure_and_resumes_with_only_what_failed(tmp_path, data):
    fixed = tmp_path / "fixed"  # the stand-in fails for seed 1 until this file exists
    nbs = write_sweep_stand_ins(tmp_path / "nbs", fail_if_seed=1, unless=fixed)
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
    assert record["headline"]["ann"] == sweep_stats.spread(accuracies).text()
    summary = (folder / "summary.html").read_text()
    assert "mlp/momentum" in summary and "paired t-test p" in summary and "6 runs, 6 succeeded" in summary
    assert summary.count('href="seed=') == 6 and "<img" in summary
    assert "original report (%)" in summary and "97.21" in summary
    entries = sweep.sweep_overview(out)
    assert [e.name for e in entries] == ["three"] and entries[0].seeds_only and entries[0].link == \
        "sweeps/three/summary.html"
    assert entries[0].numbers["02_ann"] == {"ann": record["headline"]["ann"]}
    assert set(entries[0].numbers["05_optimizers"]) == {"mlp/sgd", "mlp/momentum", "mlp/adam"}
    assert not [p for p in folder.rglob(".*")]  # no temporary file left

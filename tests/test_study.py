"""Study logic of notebooks 06 and 07: reusing recorded checkpoints (or falling
back to training), and the hyperparameter study's tables, on small real data."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

from mnist_lib import checkpoints, execution, study, training
from mnist_lib.data import prepare_data
from mnist_lib.study import HyperparameterStudy, StudyConfig
from mnist_lib.training import EpochRecord, History

LIMITS = dict(seed=0, train_limit=600, test_limit=200)


def _record_checkpoint(tmp_path, raw, model_name="lenet5", epochs=1, notebook_seed=0):
    """Train like 03 would (fit_or_load) and write its metrics file with the checkpoint record."""
    recipe = study.RECIPES[model_name]
    splits = prepare_data(raw, normalization=recipe.normalization, image_size=recipe.image_size, **LIMITS)
    cfg = recipe.train_config(epochs, notebook_seed)
    data_params = recipe.data_params(notebook_seed, 600, 200)
    model = training.seeded_model(model_name, notebook_seed)
    checkpoints.fit_or_load(model, model_name, splits, cfg, tmp_path / "ckpt03", data_params, progress=False)
    params = {"train": cfg.to_dict(), "data": data_params}
    path = checkpoints.checkpoint_path(tmp_path / "ckpt03", model_name, params, cfg.seed)
    record = {"path": str(path), "model": model_name, "params": params, "seed": cfg.seed, "mean": splits.mean,
              "std": splits.std, "normalization": recipe.normalization, "image_size": recipe.image_size}
    (tmp_path / f"{recipe.notebook}.metrics.json").write_text(json.dumps({"checkpoint": record}))
    return model, record


def _prepare(tmp_path, raw, model_name="lenet5", **kwargs):
    return study.prepare_model(model_name, raw, output_dir=tmp_path, checkpoint_dir=tmp_path / "ckpt06",
                               fallback_epochs=1, progress=False, **{**LIMITS, **kwargs})


def test_recorded_checkpoint_is_reused_with_its_statistics(tmp_path, mnist_raw):
    trained, record = _record_checkpoint(tmp_path, mnist_raw)
    # Another train_limit here gives other dataset statistics: the recorded ones must win.
    prepared = _prepare(tmp_path, mnist_raw, train_limit=900)
    assert prepared.reused and prepared.epochs == 1
    key = checkpoints.checkpoint_key("lenet5", record["params"], 0)
    assert re.fullmatch(rf"reused the checkpoint from 03_lenet \(trained 1 epoch on 20\S+ by commit .+, key {key}\)",
                        prepared.note)
    assert all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(), prepared.model.state_dict().values()))
    assert prepared.splits.mean == pytest.approx(record["mean"]) and prepared.splits.std == pytest.approx(record["std"])
    unit = prepare_data(mnist_raw, seed=0, train_limit=900, test_limit=200, normalization="none", image_size=32)
    assert torch.allclose(prepared.splits.x_test, (unit.x_test - record["mean"]) / record["std"])
    x, label, pixels = prepared.test_image(3)
    assert x.shape == (1, 1, 32, 32) and label == int(unit.y_test[3])
    assert np.allclose(pixels, unit.x_test[3, 0].numpy(), atol=1e-5)
    assert not (tmp_path / "ckpt06").exists()  # nothing trained here


def test_missing_metrics_file_trains_here_and_caches(tmp_path, mnist_raw):
    prepared = _prepare(tmp_path, mnist_raw)
    assert not prepared.reused and prepared.epochs == 1
    setting = execution.resolve("lenet5", "cpu")
    assert prepared.note.startswith(f"trained here for 1 epoch ({execution.setting_name(setting)}, the {setting.source} "
                                    "setting for lenet5 on this device) because 03_lenet.metrics.json is missing")
    assert prepared.splits.normalization == "dataset" and prepared.splits.image_size == 32
    fresh = training.seeded_model("lenet5", 0)
    assert not torch.equal(fresh.conv1.weight, prepared.model.conv1.weight)  # it did train
    again = _prepare(tmp_path, mnist_raw)
    assert not again.reused and "earlier run of this notebook" in again.note
    assert torch.equal(again.model.conv1.weight, prepared.model.conv1.weight)


def test_mismatched_checkpoint_is_refused_and_falls_back(tmp_path, mnist_raw):
    _, record = _record_checkpoint(tmp_path, mnist_raw)
    record["params"]["train"]["lr"] = 0.5  # no longer what the weights were trained with
    (tmp_path / "03_lenet.metrics.json").write_text(json.dumps({"checkpoint": record}))
    prepared = _prepare(tmp_path, mnist_raw)
    assert not prepared.reused
    assert "because the checkpoint recorded by 03_lenet was refused" in prepared.note


def test_weights_that_do_not_fit_the_model_are_refused(tmp_path, mnist_raw):
    _, record = _record_checkpoint(tmp_path, mnist_raw)
    # Same key, but the weights of another architecture (as after a change to the model's code).
    checkpoints.save_checkpoint(record["path"], training.seeded_model("ann", 0), "lenet5", record["params"], 0)
    prepared = _prepare(tmp_path, mnist_raw)
    assert not prepared.reused and "was refused" in prepared.note


@pytest.mark.parametrize("change,reason", [
    (lambda r: r.pop("mean"), "lacks mean"),
    (lambda r: r.update(model="cnn"), "not 'lenet5'"),
    (lambda r: r.update(path="/nonexistent/x.pt"), "is missing"),
    (lambda r: r.update(image_size=28), "image size 28"),
    (lambda r: r.update(mean="bright"), "malformed"),
])
def test_incomplete_or_foreign_records_are_explained(tmp_path, mnist_raw, change, reason):
    _, record = _record_checkpoint(tmp_path, mnist_raw)
    change(record)
    (tmp_path / "03_lenet.metrics.json").write_text(json.dumps({"checkpoint": record}))
    with pytest.raises(checkpoints.CheckpointError, match=reason):
        study._reuse("lenet5", mnist_raw, tmp_path, 0, 600, 200, "cpu")


def test_cnn_fallback_uses_its_own_recipe(tmp_path, mnist_raw):
    (tmp_path / "04_cnn.metrics.json").write_text(json.dumps({"headline": {}}))
    prepared = _prepare(tmp_path, mnist_raw, model_name="cnn")
    assert "04_cnn.metrics.json records no checkpoint" in prepared.note
    assert prepared.splits.normalization == "half" and prepared.splits.mean == 0.5
    assert prepared.history.config["augment"]["shear"] == 5.0 and prepared.history.config["lr"] == study.RECIPES["cnn"].lr
    assert prepared.summary()["weights"] == "trained here"


@pytest.mark.parametrize("model_name", ["lenet5", "cnn"])
def test_fallback_recipe_is_the_notebook_default(model_name):
    """The recipe must train exactly what 03 / 04 train with their parameters cell's defaults."""
    import nbformat

    from mnist_lib import config

    recipe = study.RECIPES[model_name]
    path = config.PROFILE_DIR.parent / f"{recipe.notebook}.ipynb"
    assert path.exists(), f"study.RECIPES[{model_name!r}] names {path.name}, which does not exist"
    cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    defaults: dict = {}
    exec(cell.source, {}, defaults)
    params = config.validate_params(recipe.notebook, {k: v for k, v in defaults.items() if k != "output_dir"},
                                    partial=True)
    assert recipe.train_config(params["epochs"], params["seed"]) == config.train_config_from(params)
    assert params["normalization"] == recipe.normalization


def test_prepare_model_validates_arguments(tmp_path, mnist_raw):
    with pytest.raises(ValueError, match="lenet5, cnn"):
        study.prepare_model("ann", mnist_raw, output_dir=tmp_path, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="fallback_epochs"):
        study.prepare_model("cnn", mnist_raw, output_dir=tmp_path, checkpoint_dir=tmp_path, fallback_epochs=0)


def test_saliency_share():
    pixels = np.zeros((10, 10))
    pixels[4:6, 4:6] = 1.0  # 4 stroke pixels
    saliency = np.zeros((10, 10))
    saliency[4, 4] = 2.0  # on a stroke
    saliency[4, 7] = 1.0  # 2 px from the strokes
    saliency[0, 9] = 1.0  # far away
    share = study.saliency_share(saliency, pixels, radius=2)
    assert list(share.index) == ["strokes", "around the strokes", "elsewhere"]
    assert share["saliency share"].tolist() == pytest.approx([0.5, 0.25, 0.25])
    assert share["area share"].tolist() == pytest.approx([0.04, 0.32, 0.64])  # band: 6x6 square minus strokes
    assert share["saliency share"].sum() == pytest.approx(1.0)
    assert study.saliency_share(np.zeros((10, 10)), pixels)["saliency share"].isna().all()
    with pytest.raises(ValueError, match="same"):
        study.saliency_share(np.ones((3, 3)), pixels)
    with pytest.raises(ValueError, match="radius"):
        study.saliency_share(saliency, pixels, radius=0)
    # Dark on light (an inverted idx folder): the foreground is what differs from the background.
    inverted = study.saliency_share(saliency, 1 - pixels, radius=2, foreground="object", background=1.0)
    assert list(inverted.index) == ["object", "around the object", "elsewhere"]
    assert inverted["saliency share"].tolist() == pytest.approx([0.5, 0.25, 0.25])
    with pytest.raises(ValueError, match="background"):
        study.saliency_share(saliency, pixels, background=255)


# --------------------------------------------------------------------------- 07


def _history(losses, diverged=False):
    records = [EpochRecord(i + 1, loss, 0.5, 1.0, 0.5, 0.1, 0.1, "t") for i, loss in enumerate(losses)]
    return History(records=records, diverged=diverged)


def test_divergence_rule():
    assert not study.is_diverged(_history([3.0, 0.4]))
    assert study.is_diverged(_history([1.0, 2.4]))  # worse than guessing (ln 10 = 2.303)
    assert study.is_diverged(_history([9e5, 2.3012]))  # blew up, then collapsed to the class frequencies
    assert not study.is_diverged(_history([2.31, 2.27]))  # slow, but learning
    assert study.is_diverged(_history([1.0, float("nan")]))
    assert study.is_diverged(_history([0.4], diverged=True))
    assert study.is_diverged(_history([]))


def test_study_config_labels_and_validation():
    base = StudyConfig()
    assert base.label(base) == "baseline"
    changed = StudyConfig(hidden=(), lr=0.3, train_fraction=0.25)
    assert changed.label(base) == "hidden=linear, lr=0.3, train_fraction=25%"
    assert "784-10 MLP" in changed.describe()
    for bad, word in [(dict(normalization="zscore"), "dataset, half, none, raw"), (dict(lr=0), "lr"),
                      (dict(hidden=(0,)), "hidden"), (dict(train_fraction=1.5), "train_fraction"),
                      (dict(batch_size=0), "batch_size")]:
        with pytest.raises(ValueError, match=word):
            StudyConfig(**bad)
    with pytest.raises(ValueError, match="normalization, hidden"):
        base.setting("momentum")


@pytest.fixture(scope="module")
def small_study(mnist_raw):
    s = HyperparameterStudy(mnist_raw, base=StudyConfig(lr=0.05), epochs=2, train_limit=1200, test_limit=300,
                            progress=False)
    tables = {"lr": s.sweep("lr", [1e-3, 0.05, 50.0]), "train_fraction": s.sweep("train_fraction", [1.0, 0.5]),
              "hidden": s.sweep("hidden", [(), (128, 64)])}
    return s, tables


def test_sweeps_share_runs_and_flag_divergence(small_study):
    s, tables = small_study
    lr = tables["lr"]
    assert list(lr.setting) == ["0.001", "0.05", "50"]
    assert list(lr.diverged) == [False, False, True]
    assert lr.val_accuracy.iloc[1] > lr.val_accuracy.iloc[0] + 0.2  # far too small a rate barely learns
    # The baseline appears in all three sweeps but was trained once.
    assert len(s.runs) == 5 and len(s.runs_frame()) == 5
    assert (s.runs_frame().configuration == "baseline").sum() == 1
    assert tables["hidden"].params.tolist() == [7850, 109386]
    frame = s.runs_frame()
    best = s.best_run()
    assert not best.diverged and best.val_accuracy == frame.val_accuracy[~frame.diverged].max()


def test_train_fraction_subsets_training_only(small_study):
    s, tables = small_study
    frac = tables["train_fraction"]
    assert frac.train_images.tolist() == [1100, 550]
    half = s.training_data(StudyConfig(train_fraction=0.5))
    full = s.splits("dataset")
    assert set(half.train_index) <= set(full.train_index)
    assert np.abs(np.bincount(half.y_train.numpy()) * 2 - np.bincount(full.y_train.numpy())).max() <= 1  # stratified: every class halved
    assert torch.equal(half.x_val, full.x_val) and torch.equal(half.x_test, full.x_test)


def test_tables_for_display_json_and_plots(small_study):
    s, tables = small_study
    lr = tables["lr"]
    records = study.records_for_json(lr)
    assert records[1]["val_accuracy"] == pytest.approx(100 * lr.val_accuracy.iloc[1], abs=1e-3)
    assert isinstance(records[2]["diverged"], bool) and set(records[0]) == set(lr.columns)
    html = study.format_table(lr, ["setting", "val_accuracy", "diverged", "params"]).to_html()
    assert f"{lr.val_accuracy.iloc[1]:.2%}" in html and "yes" in html and "109,386" in html
    long = study.accuracy_long(lr, "setting")
    assert long.shape == (6, 3) and set(long.split) == {"validation", "test"}
    with pytest.raises(ValueError, match="missing columns"):
        study.format_table(lr, ["nope"])
    best = s.best_run()
    right = study.example_indices(best.test, correct=True, k=5)
    wrong = study.example_indices(best.test, correct=False, k=1000)
    assert len(right) == 5 and (best.test.preds[right] == best.test.targets[right]).all()
    assert len(wrong) == int((best.test.preds != best.test.targets).sum())
    assert s.test_pixels().shape == (300, 28, 28) and float(s.test_pixels().max()) <= 1.0


def test_study_rejects_bad_arguments(mnist_raw):
    with pytest.raises(ValueError, match="optimizer must be one of"):
        HyperparameterStudy(mnist_raw, optimizer="lbfgs")
    s = HyperparameterStudy(mnist_raw, train_limit=200, test_limit=100)
    with pytest.raises(ValueError, match="factor must be one of"):
        s.sweep("dropout", [0.1])
    with pytest.raises(ValueError, match="no configuration"):
        s.best_run()


def test_divergence_rule_text_states_the_rule_is_diverged_applies():
    text = study.divergence_rule()
    threshold = float(text.split("= ")[1].split(",")[0])
    assert threshold == pytest.approx(study.CHANCE_LOSS - study.CHANCE_MARGIN, abs=5e-4)
    assert study.is_diverged(_history([threshold + 0.001])) and not study.is_diverged(_history([threshold - 0.001]))


def test_divergence_uses_the_plain_nll_when_recorded():
    smoothed = History(records=[EpochRecord(1, 2.35, 0.9, 0.4, 0.9, 0.1, 1.0, "t", train_nll=0.4)])
    assert not study.is_diverged(smoothed)  # a smoothed loss above ln(10) is no sign of divergence


def test_readings_name_what_the_sweeps_measured(small_study):
    s, tables = small_study
    lr, fractions, hidden = tables["lr"], tables["train_fraction"], tables["hidden"]
    text = study.lr_reading(lr, 2)
    assert "diverged at 50" in text and "smallest rate, 0.001," in text and "after 2 epochs" in text
    assert f"the best, 0.05, reaches {lr.val_accuracy.iloc[1]:.2%}" in text
    assert "With 1,100 training images" in study.size_reading(fractions) and "2.0x the data" in \
        study.size_reading(fractions)
    depth = study.depth_reading(hidden)
    top = hidden.loc[hidden.val_accuracy.idxmax()]
    assert f"The best architecture here is {top.architecture} with {top.val_accuracy:.2%}" in depth
    assert "(128-64) has 14 times the parameters of the smallest (linear)" in depth
    assert study.val_text(lr, "50").endswith("(diverged)") and study.val_text(lr, "7") == "n/a"


def test_factor_effects_and_the_reference_finding():
    def sweep(values, diverged=None):
        return pd.DataFrame({"val_accuracy": values, "diverged": diverged or [False] * len(values)})

    effects = study.factor_effects({"normalization": sweep([0.97, 0.10], [False, True]), "lr": sweep([0.8, 0.96]),
                                    "hidden": sweep([0.95, 0.97])})
    assert effects.loc["normalization", "spread_points"] == pytest.approx(87.0)
    assert effects.loc["hidden", "settings"] == 2
    from mnist_lib.references import Finding

    finding = Finding("normalization and lr matter more than depth", ("normalization", "lr"), ("hidden",))
    agrees = study.finding_reading(effects, finding)
    assert "The reference report found that normalization and lr matter more than depth." in agrees
    assert "This run agrees: input normalization and learning rate each moved the accuracy more than hidden" in agrees
    assert "input normalization 87.00" in agrees
    small_lr = study.factor_effects({"lr": sweep([0.95, 0.955]), "hidden": sweep([0.90, 0.97])})
    disagrees = study.finding_reading(small_lr, finding)
    assert "does not fully agree: learning rate moved it less than hidden layers" in disagrees
    tie = study.finding_reading(study.factor_effects({"lr": sweep([0.9, 0.95]), "hidden": sweep([0.9, 0.95 + 1e-12])}),
                                finding)
    assert "learning rate moved it less than hidden layers" in tie  # equal as shown is not "more"
    assert "not checked" in study.finding_reading(study.factor_effects({"lr": sweep([0.5, 0.9])}), finding)
    with pytest.raises(ValueError, match="factor must be one of"):
        study.factor_effects({"dropout": sweep([0.5])})


def test_normalization_reading_one_clause_per_setting():
    frame = pd.DataFrame({"setting": ["none", "raw", "dataset"], "val_accuracy": [0.9, 0.1, 0.95],
                          "diverged": [False, True, False], "final_train_loss": [0.3, 7.5, 0.2]})
    text = study.normalization_reading(frame, 0.05)
    assert text == ("With pixels in [0, 1] the MLP reaches 90.00% validation accuracy; with raw pixels 0..255 the MLP "
                    "diverged (final training loss 7.5); with dataset mean/std normalization the MLP reaches 95.00% "
                    "validation accuracy, all at the learning rate 0.05.")


# --------------------------------------------------------------------------- other datasets


def test_fallback_recipes_follow_the_dataset():
    """06's fallback trains what 03 / 04 train by default on that dataset: flips for clothes, none for digits."""
    cnn = study.RECIPES["cnn"]
    assert cnn.train_config(1, 0).augment.hflip is False
    assert cnn.train_config(1, 0, "fashion-mnist").augment.hflip is True
    assert cnn.train_config(1, 0, "idx").augment.hflip is False
    assert cnn.data_params(0, 600, 200)["dataset"] == "mnist"
    identity = {"dataset": "idx", "data_sha256": "0123"}
    assert {k: cnn.data_params(0, 600, 200, identity)[k] for k in identity} == identity


def test_a_checkpoint_of_other_data_is_refused(tmp_path, mnist_raw):
    from dataclasses import replace

    from mnist_lib import datasets

    _record_checkpoint(tmp_path, mnist_raw)
    fashion_like = replace(mnist_raw, dataset=datasets.FASHION_MNIST, classes=datasets.FASHION_MNIST.classes)
    with pytest.raises(checkpoints.CheckpointError, match=r"trained on other data \(mnist, not Fashion-MNIST\)"):
        study._reuse("lenet5", fashion_like, tmp_path, 0, 600, 200, "cpu")
    prepared = _prepare(tmp_path, fashion_like)
    assert not prepared.reused and "trained on other data" in prepared.note

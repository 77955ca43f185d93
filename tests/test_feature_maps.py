"""The logic of notebook 06: reusing the checkpoint the notebook that trains a model recorded (or
falling back to training it with that notebook's defaults), and where a saliency map lies, on small
real data."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from mnist_lib import checkpoints, models, prose, recipes, runtime, training
from mnist_lib.analysis import feature_maps
from mnist_lib.data import prepare_data

LIMITS = dict(seed=0, train_limit=600, test_limit=200)


def _record_checkpoint(tmp_path, raw, model_name="lenet5", epochs=1, notebook_seed=0):
    """Train like 03 would (fit_or_load) and write its metrics file with the checkpoint record."""
    recipe = recipes.recipe_on(model_name, dataset=raw.name, seed=notebook_seed, train_limit=600, test_limit=200,
                               epochs=epochs, threads=torch.get_num_threads())
    size = models.model_input_size(model_name)
    splits = prepare_data(raw, normalization=recipe.normalization, image_size=size, **LIMITS)
    cfg = recipes.train_config(recipe, model_name)
    data_params = recipes.data_params(recipe, raw, model_name)
    model = training.seeded_model(model_name, notebook_seed)
    weights = checkpoints.fit_or_load(model, model_name, splits, cfg, tmp_path / "ckpt03", data_params,
                                      recipes.model_args(recipe), progress=False)
    params, path = weights.key_params, weights.path
    record = {"path": str(path), "model": model_name, "params": params, "seed": cfg.seed, "mean": splits.mean,
              "std": splits.std, "normalization": recipe.normalization, "image_size": size}
    (tmp_path / f"{feature_maps.trained_by(model_name)}.metrics.json").write_text(json.dumps({"checkpoint": record}))
    return model, record


def _prepare(tmp_path, raw, model_name="lenet5", **kwargs):
    return feature_maps.prepare_model(model_name, raw, output_dir=tmp_path, checkpoint_dir=tmp_path / "ckpt06",
                               fallback_epochs=1, progress=False, **{**LIMITS, **kwargs})


def test_recorded_checkpoint_is_reused_with_its_statistics(tmp_path, mnist_raw):
    trained, record = _record_checkpoint(tmp_path, mnist_raw)
    # Another train_limit here gives other dataset statistics: the recorded ones must win.
    prepared = _prepare(tmp_path, mnist_raw, train_limit=900)
    assert prepared.reused and prepared.epochs == 1
    key = checkpoints.checkpoint_key("lenet5", record["params"], 0, "cpu")
    assert re.fullmatch(rf"reused the checkpoint from 03_lenet \(trained 1 epoch on 20\S+ by commit .+, key {key}\)",
                        prose.training.prepared_model_text(prepared))
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
    setting = runtime.resolve("lenet5", "cpu")
    assert prose.training.prepared_model_text(prepared).startswith(f"trained here for 1 epoch ({runtime.setting_name(setting)}, the {setting.source} "
                                    "setting for lenet5 on this device) because 03_lenet.metrics.json is missing")
    assert prepared.splits.normalization == "dataset" and prepared.splits.image_size == 32
    fresh = training.seeded_model("lenet5", 0)
    assert not torch.equal(fresh.conv1.weight, prepared.model.conv1.weight)  # it did train
    again = _prepare(tmp_path, mnist_raw)
    assert not again.reused and "earlier run of this notebook" in prose.training.prepared_model_text(again)
    assert torch.equal(again.model.conv1.weight, prepared.model.conv1.weight)


def test_mismatched_checkpoint_is_refused_and_falls_back(tmp_path, mnist_raw):
    _, record = _record_checkpoint(tmp_path, mnist_raw)
    record["params"]["train"]["lr"] = 0.5  # no longer what the weights were trained with
    (tmp_path / "03_lenet.metrics.json").write_text(json.dumps({"checkpoint": record}))
    prepared = _prepare(tmp_path, mnist_raw)
    assert not prepared.reused
    assert "because the checkpoint recorded by 03_lenet was refused" in prose.training.prepared_model_text(prepared)


def test_weights_that_do_not_fit_the_model_are_refused(tmp_path, mnist_raw):
    _, record = _record_checkpoint(tmp_path, mnist_raw)
    # Same key, but the weights of another architecture (as after a change to the model's code).
    checkpoints.save_checkpoint(record["path"], training.seeded_model("ann", 0), "lenet5", record["params"], 0)
    prepared = _prepare(tmp_path, mnist_raw)
    assert not prepared.reused and "was refused" in prose.training.prepared_model_text(prepared)


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
        feature_maps._reuse("lenet5", mnist_raw, tmp_path, 0, 600, 200, "cpu")


def test_cnn_fallback_uses_its_own_recipe(tmp_path, mnist_raw):
    (tmp_path / "04_cnn.metrics.json").write_text(json.dumps({"headline": {}}))
    prepared = _prepare(tmp_path, mnist_raw, model_name="cnn")
    assert "04_cnn.metrics.json records no checkpoint" in prose.training.prepared_model_text(prepared)
    assert prepared.splits.normalization == "half" and prepared.splits.mean == 0.5
    assert prepared.history.config["augment"]["shear"] == 5.0
    assert prepared.history.config["lr"] == recipes.recipe("cnn").lr
    assert prepared.summary()["weights"] == "trained here"


@pytest.mark.parametrize("model_name", ["lenet5", "cnn"])
def test_a_models_recipe_is_the_parameters_cell_of_the_notebook_that_trains_it(model_name):
    from mnist_lib import catalogue, cells, params

    notebook = catalogue.notebook_for_model(model_name).name
    defaults = cells.defaults(cells.notebook_path(notebook))
    recipe = recipes.recipe(model_name)
    assert dict(recipe) == dict(params.validate(notebook, {k: v for k, v in defaults.items()
                                                            if k not in params.PATH_PARAMETERS}, partial=True))
    assert feature_maps.trained_by(model_name) == notebook


def test_prepare_model_validates_arguments(tmp_path, mnist_raw):
    with pytest.raises(ValueError, match="no notebook trains model 'vit'"):
        feature_maps.prepare_model("vit", mnist_raw, output_dir=tmp_path, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="fallback_epochs"):
        feature_maps.prepare_model("cnn", mnist_raw, output_dir=tmp_path, checkpoint_dir=tmp_path, fallback_epochs=0)


def test_saliency_share():
    pixels = np.zeros((10, 10))
    pixels[4:6, 4:6] = 1.0  # 4 stroke pixels
    saliency = np.zeros((10, 10))
    saliency[4, 4] = 2.0  # on a stroke
    saliency[4, 7] = 1.0  # 2 px from the strokes
    saliency[0, 9] = 1.0  # far away
    share = feature_maps.saliency_share(saliency, pixels, radius=2)
    assert list(share.index) == ["strokes", "around the strokes", "elsewhere"]
    assert share["saliency share"].tolist() == pytest.approx([0.5, 0.25, 0.25])
    assert share["area share"].tolist() == pytest.approx([0.04, 0.32, 0.64])  # band: 6x6 square minus strokes
    assert share["saliency share"].sum() == pytest.approx(1.0)
    assert feature_maps.saliency_share(np.zeros((10, 10)), pixels)["saliency share"].isna().all()
    with pytest.raises(ValueError, match="same"):
        feature_maps.saliency_share(np.ones((3, 3)), pixels)
    with pytest.raises(ValueError, match="radius"):
        feature_maps.saliency_share(saliency, pixels, radius=0)
    # Dark on light (an inverted idx folder): the foreground is what differs from the background.
    inverted = feature_maps.saliency_share(saliency, 1 - pixels, radius=2, foreground="object", background=1.0)
    assert list(inverted.index) == ["object", "around the object", "elsewhere"]
    assert inverted["saliency share"].tolist() == pytest.approx([0.5, 0.25, 0.25])
    with pytest.raises(ValueError, match="background"):
        feature_maps.saliency_share(saliency, pixels, background=255)


# --------------------------------------------------------------------------- other datasets


def test_fallback_recipes_follow_the_dataset(mnist_raw):
    """06's fallback trains what 03 / 04 train by default on that dataset: flips for clothes, none for digits."""
    def flips(dataset):
        return recipes.train_config(recipes.recipe_on("cnn", dataset=dataset)).augment.hflip

    assert (flips("mnist"), flips("fashion-mnist"), flips("idx")) == (False, True, False)
    assert recipes.data_params(recipes.recipe("cnn"), mnist_raw, "cnn")["dataset"] == "mnist"


def test_a_checkpoint_of_other_data_is_refused(tmp_path, mnist_raw):
    from dataclasses import replace

    from mnist_lib import datasets

    _record_checkpoint(tmp_path, mnist_raw)
    fashion_like = replace(mnist_raw, dataset=datasets.FASHION_MNIST, classes=datasets.FASHION_MNIST.classes)
    with pytest.raises(checkpoints.CheckpointError, match=r"trained on other data \(mnist, not Fashion-MNIST\)"):
        feature_maps._reuse("lenet5", fashion_like, tmp_path, 0, 600, 200, "cpu")
    prepared = _prepare(tmp_path, fashion_like)
    assert not prepared.reused and "trained on other data" in prose.training.prepared_model_text(prepared)

"""Recipes per data set, as data (notebooks/recipes.yaml): layered under every profile, checked by the
notebooks' own parameter rules, and the recipe a model trains with wherever it is trained."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnist_lib import params, profiles, recipes
from mnist_lib.params import ParameterError

RECIPES = """
fashion-mnist:
  common: {rotation: 0.0, shear: 0.0}
  04_cnn: {epochs: 30, dropout: 0.2}
"""


def write(folder: Path, text: str) -> Path:
    path = folder / "recipes.yaml"
    path.write_text(text)
    return path


def test_a_data_sets_recipe_lies_under_the_profile(tmp_path):
    path = write(tmp_path, RECIPES)
    full = profiles.load_profile("full", recipes_file=path)
    quick = profiles.load_profile("quick", recipes_file=path)
    cnn = full.params_for("04_cnn", "fashion-mnist")
    assert (cnn["epochs"], cnn["dropout"], cnn["rotation"], cnn["shear"]) == (30, 0.2, 0.0, 0.0)
    assert "dropout" not in full.params_for("03_lenet", "fashion-mnist")  # only the notebooks that have it
    assert full.params_for("03_lenet", "fashion-mnist")["rotation"] == 0.0  # common: every notebook with it
    assert full.params_for("04_cnn", "mnist") == full.params_for("04_cnn", "idx") == {
        "seed": 0, "train_limit": None, "test_limit": None}  # MNIST's recipe is the cell's; idx gets it too
    assert quick.params_for("04_cnn", "fashion-mnist")["epochs"] == 3  # the quick profile's budget wins
    assert quick.params_for("04_cnn", "fashion-mnist")["dropout"] == 0.2


def test_a_recipe_is_checked_on_its_own_data_set_under_a_profile_of_another(tmp_path):
    """Mirrored training and test views are Fashion-MNIST's, refused on MNIST: a profile that fixes the data set
    to MNIST still loads, and its errors are named in its own sections, not under the other data set."""
    path = write(tmp_path, "fashion-mnist: {04_cnn: {hflip: true, tta: flip}}\n")
    profile = tmp_path / "mine.yaml"
    profile.write_text("common: {dataset: mnist}\n")
    assert profiles.load_profile(str(profile), recipes_file=path).params_for("04_cnn", "fashion-mnist")["tta"] == "flip"
    profile.write_text("common: {dataset: mnist}\n02_ann: {epochs: 0}\n")
    with pytest.raises(ParameterError, match="section '02_ann': parameter 'epochs'"):
        profiles.load_profile(str(profile), recipes_file=path)


@pytest.mark.parametrize("text, message", [
    ("cifar: {common: {epochs: 3}}", "unknown data set 'cifar'; valid: mnist, fashion-mnist, idx"),
    ("fashion-mnist: {09_vit: {epochs: 3}}", "unknown part 'fashion-mnist.09_vit'; valid: common, 01_eda"),
    ("fashion-mnist: {04_cnn: {epoch: 3}}", "unknown key 'epoch' in section 'fashion-mnist.04_cnn'"),
    ("fashion-mnist: {04_cnn: {dataset: mnist}}", "'fashion-mnist.04_cnn' sets 'dataset'"),
    ("fashion-mnist: {04_cnn: {timeout: 60}}", "'fashion-mnist.04_cnn' sets 'timeout'"),
    ("fashion-mnist: {04_cnn: {dropout: 1.5}}", "section '04_cnn, on fashion-mnist': parameter 'dropout'"),
    ("fashion-mnist: [1, 2]", "'fashion-mnist' must be a mapping"),
])
def test_a_wrong_recipe_is_one_line_naming_it(tmp_path, text, message):
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        profiles.load_profile("full", recipes_file=write(tmp_path, text))


def test_a_model_trained_elsewhere_trains_with_its_data_sets_recipe(tmp_path, monkeypatch):
    """06 trains LeNet-5 or the CNN itself when it cannot reuse their checkpoints: with the data set's recipe."""
    monkeypatch.setattr(recipes, "load_recipes", lambda: profiles.load_recipes(write(tmp_path, RECIPES)))
    on_fashion = recipes.recipe_on("cnn", dataset="fashion-mnist", seed=1, epochs=1)
    assert (on_fashion.dropout, on_fashion.rotation, on_fashion.epochs, on_fashion.seed) == (0.2, 0.0, 1, 1)
    on_mnist = recipes.recipe_on("cnn", dataset="mnist", seed=1)
    assert on_mnist.dropout == recipes.recipe("cnn").dropout and on_mnist.rotation == recipes.recipe("cnn").rotation


def test_the_shipped_recipes_file_is_valid_and_names_only_training_settings():
    shipped = profiles.load_recipes()
    for dataset, parts in shipped.items():
        for part, values in parts.items():
            assert set(values) <= set(params.TRAINING_RECIPE), (dataset, part)

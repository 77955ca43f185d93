"""What a notebook's parameters mean for training: the augmentation, the :class:`TrainConfig` (with the
model's execution setting), the data settings a checkpoint is keyed by, and each model's recipe as
the notebook that trains it declares it.

A model's recipe is the parameters cell of the notebook that trains it (:func:`recipe`: MNIST's),
with the data set's part of ``notebooks/recipes.yaml`` on top (:func:`recipe_on`), so 06, which
trains LeNet-5 or the CNN itself when it cannot reuse 03's or 04's weights, trains them exactly as
those notebooks would on that data set; there is no second copy of those values.
"""

from __future__ import annotations

from typing import Any, Mapping

from mnist_lib import catalogue, cells, models
from mnist_lib.augment import Augmentation
from mnist_lib.datasets import DEFAULT_DATASET, get_dataset
from mnist_lib.params import PATH_PARAMETERS, Params, notebook_parameters, validate
from mnist_lib.profiles import load_recipes, recipe_layers
from mnist_lib.runtime import settings_from_params
from mnist_lib.training import TrainConfig

# How a model whose input is larger than the images gets them: zero-padded (LeNet-5's 32x32).
RESIZE_MODE = "pad"


def resolved_hflip(params: Mapping[str, Any]) -> bool:
    """Whether training batches are mirrored: ``hflip`` when it is set, else whether the dataset's
    mirrored images keep their label (yes for Fashion-MNIST; no for MNIST digits, nor for an
    ``idx`` folder, where it is not known)."""
    if params.get("hflip") is not None:
        return bool(params["hflip"])
    return get_dataset(params.get("dataset", DEFAULT_DATASET)).hflip_preserves_label is True


# The parameters :func:`augmentation` builds the Augmentation from; with ``augment`` off the others are inert.
AUGMENTATION_PARAMETERS = ("augment", "rotation", "translate", "scale_range", "shear", "brightness", "contrast",
                           "hflip")


def augmentation(params: Mapping[str, Any]) -> Augmentation | None:
    """The Augmentation a notebook's parameters ask for (:data:`AUGMENTATION_PARAMETERS`), or None."""
    if not params.get("augment"):
        return None
    return Augmentation(rotation=params["rotation"], translate=params["translate"],
                        scale=(1 - params["scale_range"], 1 + params["scale_range"]), shear=params["shear"],
                        brightness=params["brightness"], contrast=params["contrast"], hflip=resolved_hflip(params))


# Training settings a notebook may leave out of its cell, the TrainConfig's own defaults applying.
OPTIONAL_TRAINING = ("weight_decay", "label_smoothing", "ema_decay")


def train_config(params: Mapping[str, Any], model: str | None = None, device: Any = "cpu", **overrides) -> TrainConfig:
    """A TrainConfig from a notebook's validated parameters. With ``model`` (a registered model name)
    it runs with that model's execution setting on ``device``: the measured default, overridden
    by the notebook's ``memory_format``, ``compile_model``, ``fused_optimizer`` and ``precision``,
    at its ``threads``."""
    values = dict(epochs=params["epochs"], batch_size=params["batch_size"], optimizer=params["optimizer"],
                  lr=params["lr"], scheduler=params["scheduler"], augment=augmentation(params), seed=params["seed"],
                  **{name: params[name] for name in OPTIONAL_TRAINING if name in params})
    if model is not None:
        values["execution"] = settings_from_params(model, device, params)
    values.update(overrides)
    return TrainConfig(**values)


def model_args(params: Mapping[str, Any]) -> dict:
    """What the model is built with besides its name (the CNN's ``dropout``); part of its checkpoint key."""
    return {"dropout": params["dropout"]} if "dropout" in params else {}


def data_params(params: Mapping[str, Any], raw, model: str) -> dict:
    """The data settings that shape ``model``'s weights, as its checkpoint key holds them: which data
    (:meth:`mnist_lib.datasets.RawDataset.identity`), the limits, the normalization, the input size
    and how it is reached, and the seed of the split."""
    return {**raw.identity(), "train_limit": params.get("train_limit"), "test_limit": params.get("test_limit"),
            "normalization": params["normalization"], "image_size": models.model_input_size(model),
            "resize_mode": RESIZE_MODE, "seed": params["seed"]}


def recipe(model: str) -> Params:
    """The defaults ``model`` trains with: the parameters cell of the notebook that trains it, validated
    (folders left out: they are where a run puts things, not how it trains)."""
    notebook = catalogue.notebook_for_model(model).name
    defaults = {k: v for k, v in cells.defaults(cells.notebook_path(notebook)).items() if k not in PATH_PARAMETERS}
    return validate(notebook, defaults, partial=True)


def recipe_on(model: str, **values: Any) -> Params:
    """``model``'s recipe on the data set in ``values`` (the notebook's defaults, then that data set's
    part of ``notebooks/recipes.yaml``) with ``values`` in place (the data set, seed, limits, epochs
    and thread count of the run that trains it)."""
    notebook = catalogue.notebook_for_model(model).name
    names = set(notebook_parameters(notebook))
    dataset = values.get("dataset", DEFAULT_DATASET)
    layers = recipe_layers(load_recipes(), notebook, dataset)
    return Params({**recipe(model), **{k: v for layer in layers for k, v in layer.items() if k in names}, **values})

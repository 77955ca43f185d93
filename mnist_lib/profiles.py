"""Profiles and recipes: the parameters a build gives every notebook, from YAML files.

The training recipe of each data set is declared once, in ``notebooks/recipes.yaml``: the notebooks'
parameters cells hold MNIST's recipes, and a section per other data set overrides them (a
``common`` part for every notebook that has the parameter, then one part per notebook)::

    fashion-mnist:
      common: {rotation: 0, shear: 0}   # clothes: mirror images and shifts, no rotations
      04_cnn: {epochs: 30, dropout: 0.2}

An idx folder gets the MNIST recipes unless an ``idx:`` section says otherwise.

A profile is a budget on top of the recipes (``quick``: a data subset and a few epochs; ``full``: all
of it). It has a ``common`` section for every notebook, then one section per notebook; any of them
may hold a section per data set (``fashion-mnist:``, ``mnist:``, ``idx:``) whose values apply only
on that data set. A notebook on data set D gets, in order: the recipe's ``D.common`` and
``D.<notebook>``, then the profile's ``common``, ``common[D]``, its section and its section's
``[D]``. A profile's section (or its data-set section) may also set ``timeout``, the seconds a
notebook may run. Every key is checked by the notebooks' own parameter rules
(:mod:`mnist_lib.params`) before anything runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from mnist_lib import catalogue
from mnist_lib.datasets import DATASET_NAMES, DEFAULT_DATASET
from mnist_lib.params import Param, ParameterError, notebook_parameters, validate

PROFILE_DIR = catalogue.NOTEBOOK_DIR / "profiles"
RECIPES_FILE = catalogue.NOTEBOOK_DIR / "recipes.yaml"
PROFILES = ("quick", "full")
# Seconds a notebook may run before the build stops it; a profile's `timeout` key overrides it.
DEFAULT_TIMEOUT = 3600
# Keys a profile may set for the build (in `common` or a notebook's section); never given to a notebook.
BUILD_SETTINGS: dict[str, Param] = {
    "timeout": Param("int", "seconds a notebook may run before the build stops it", low=1, high=7 * 24 * 3600),
}


@dataclass
class Profile:
    """A profile file: ``common`` values for every notebook, then one section per notebook, each
    with its per-data-set sections inside (``sections[notebook][dataset]``)."""

    name: str
    path: Path
    common: dict = field(default_factory=dict)
    sections: dict = field(default_factory=dict)
    recipes: dict = field(default_factory=dict)  # data set -> {"common" or notebook -> values}: recipes.yaml

    @property
    def dataset(self) -> str:
        """The data set the profile builds: its ``common.dataset``, else MNIST."""
        return self.common.get("dataset", DEFAULT_DATASET)

    def layers(self, notebook: str, dataset: str | None = None) -> list[dict]:
        """What applies to ``notebook`` on ``dataset``, first to last: the data set's recipe (its
        common part, its part for the notebook), then the profile's common, common's data-set
        section, the notebook's section and its data-set section."""
        dataset = dataset or self.dataset
        section = self.sections.get(notebook) or {}
        return [*recipe_layers(self.recipes, notebook, dataset),
                _own(self.common), self.common.get(dataset) or {}, _own(section), section.get(dataset) or {}]

    def params_for(self, notebook: str, dataset: str | None = None) -> dict:
        """The values the build gives ``notebook`` on ``dataset`` (default: the profile's): only the
        parameters the notebook has; build settings left out."""
        names = set(notebook_parameters(notebook))
        merged: dict[str, Any] = {}
        for layer in self.layers(notebook, dataset):
            merged.update({k: v for k, v in layer.items() if k in names})
        return merged

    def timeout_for(self, notebook: str, dataset: str | None = None) -> int:
        """Seconds ``notebook`` may run: the last ``timeout`` of its layers, else the default."""
        value = DEFAULT_TIMEOUT
        for layer in self.layers(notebook, dataset):
            value = layer.get("timeout", value)
        return BUILD_SETTINGS["timeout"].coerce("timeout", value)


def _own(section: Mapping[str, Any]) -> dict:
    """A section's own values, its data-set sections left out."""
    return {k: v for k, v in section.items() if k not in DATASET_NAMES}


def yaml_file(path: Path, what: str) -> Any:
    """The parsed content of a YAML file, or one ParameterError line saying what is wrong with it:
    missing, a folder, unreadable, not UTF-8 text, or not YAML."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ParameterError(f"{what} file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ParameterError(f"{what} file {str(path)!r} is a folder, not a file") from None
    except PermissionError:
        raise ParameterError(f"{what} file {str(path)!r} cannot be read (permission denied)") from None
    except OSError as exc:
        raise ParameterError(f"{what} file {str(path)!r} cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParameterError(f"{what} file {str(path)!r} is not UTF-8 text (byte {exc.start}: "
                             f"{raw[exc.start:exc.start + 1]!r}); save it as UTF-8") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParameterError(f"{path}: malformed YAML: {' '.join(str(exc).split())}") from None


def _check_section(path: Path, where: str, values: Any, valid: list[str], nested: bool) -> dict:
    """A section (``where`` names it) as a dict whose keys are ``valid`` parameters or build settings,
    with (when ``nested``) per-data-set sections of the same keys; one line per problem."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ParameterError(f"{path}: section '{where}' must be a mapping of parameter: value")
    keys = [*valid, *BUILD_SETTINGS]
    for key, value in values.items():
        if nested and key in DATASET_NAMES:
            _check_section(path, f"{where}.{key}", value, valid, nested=False)
        elif key not in keys:
            hint = f" or a data set ({', '.join(DATASET_NAMES)})" if nested else ""
            raise ParameterError(f"{path}: unknown key '{key}' in section '{where}'; valid keys: "
                                 f"{', '.join(keys)}{hint}")
        elif key in BUILD_SETTINGS:
            try:
                BUILD_SETTINGS[key].coerce(key, value)
            except ParameterError as exc:
                raise ParameterError(f"{path}: section '{where}': {exc}") from None
    return dict(values)


def recipe_layers(recipes: Mapping[str, Any], notebook: str, dataset: str) -> list[dict]:
    """The recipe of ``dataset`` for ``notebook``, as layers: its common part, then the notebook's."""
    section = recipes.get(dataset) or {}
    return [section.get("common") or {}, section.get(notebook) or {}]


def load_recipes(path: Path = RECIPES_FILE) -> dict:
    """``recipes.yaml``, checked: data sets, in each a ``common`` part and parts per notebook, every
    key a parameter of the notebooks concerned (every value is checked with the profile using it)."""
    data = yaml_file(path, "recipes") if path.is_file() else None
    if data is None:
        return {}
    names = catalogue.series_names()
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: expected a mapping of data sets ({', '.join(DATASET_NAMES)})")
    every = sorted({p for name in names for p in notebook_parameters(name)})
    recipes = {}
    for dataset, parts in data.items():
        if dataset not in DATASET_NAMES:
            raise ParameterError(f"{path}: unknown data set '{dataset}'; valid: {', '.join(DATASET_NAMES)}")
        if not isinstance(parts, dict):
            raise ParameterError(f"{path}: '{dataset}' must be a mapping of common and notebooks to values")
        recipes[dataset] = {}
        for part, values in parts.items():
            if part not in ("common", *names):
                raise ParameterError(f"{path}: unknown part '{dataset}.{part}'; valid: common, {', '.join(names)}")
            valid = every if part == "common" else list(notebook_parameters(part))
            checked = _check_section(path, f"{dataset}.{part}", values, valid, nested=False)
            if "dataset" in checked or "timeout" in checked:
                raise ParameterError(f"{path}: '{dataset}.{part}' sets "
                                     f"'{'dataset' if 'dataset' in checked else 'timeout'}'; a recipe says how "
                                     "a model trains, a profile what a build runs")
            recipes[dataset][part] = checked
    return recipes


def load_profile(name_or_path: str | os.PathLike, profile_dir: Path = PROFILE_DIR,
                 recipes_file: Path = RECIPES_FILE) -> Profile:
    """Read and validate a profile by name (quick, full) or path.

    Malformed YAML, an unknown section or an unknown key fails here, before anything runs,
    naming the file, the key and the valid keys; so does a value a notebook would refuse, on
    every data set the profile has a section for.
    """
    text = str(name_or_path)
    named = not text.endswith((".yaml", ".yml"))
    path = profile_dir / f"{text}.yaml" if named else Path(text)
    if named and not path.is_file():
        raise ParameterError(f"unknown profile {text!r}; valid: {', '.join(PROFILES)} or a path to a .yaml file")
    data = yaml_file(path, "profile")
    if data is None:
        data = {}
    names = catalogue.series_names()
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: expected a mapping of sections (common, {', '.join(names)})")
    profile = Profile(name=path.stem, path=path, recipes=load_recipes(recipes_file))
    every = sorted({p for name in names for p in notebook_parameters(name)})
    for section, values in data.items():
        if section == "common":
            profile.common = _check_section(path, section, values, every, nested=True)
        elif section in names:
            profile.sections[section] = _check_section(path, section, values, list(notebook_parameters(section)),
                                                       nested=True)
        else:
            raise ParameterError(f"{path}: unknown section '{section}'; valid: common, {', '.join(names)}")
    for section, values in profile.sections.items():
        dataset_keys = ["dataset" in values] + ["dataset" in (values.get(d) or {}) for d in DATASET_NAMES]
        if any(dataset_keys):
            raise ParameterError(f"{path}: section '{section}' sets 'dataset'; the whole series runs on one data "
                                 "set, so set it in section 'common'")
    datasets = {profile.dataset} | set(profile.recipes) | {d for s in [profile.common, *profile.sections.values()]
                                                           for d in s if d in DATASET_NAMES}
    # The profile's own data set first: a value wrong everywhere is named in its own section, not under a
    # data set whose recipe happens to be checked first.
    for notebook in names:
        for dataset in [profile.dataset, *sorted(datasets - {profile.dataset})]:
            values = {k: v for k, v in profile.params_for(notebook, dataset).items() if k != "output_dir"}
            if dataset != profile.dataset:  # as a build given --dataset runs it: on that data set
                values["dataset"] = dataset
            try:
                validate(notebook, values, partial=True)
            except ParameterError as exc:
                where = notebook if dataset == profile.dataset else f"{notebook}, on {dataset}"
                raise ParameterError(f"{path}: section '{where}': {exc}") from None
    return profile

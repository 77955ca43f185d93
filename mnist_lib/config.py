"""Parameters and profiles: what each notebook accepts, how a value is checked,
and the quick/full profiles that papermill runs them with.

Values arrive as Python objects (notebook defaults, YAML) or as strings
(``papermill -p epochs 5``, ``-r``); each is coerced to its type or rejected
with one line naming the parameter and what would be valid.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from mnist_lib.data import NORMALIZATIONS
from mnist_lib.datasets import DATASET_NAMES, DEFAULT_DATASET, get_dataset
from mnist_lib.execution import MEMORY_FORMATS, PRECISIONS
from mnist_lib.training import DEVICES, OPTIMIZERS, SCHEDULERS

NOTEBOOKS = ("01_eda", "02_ann", "03_lenet", "04_cnn", "05_optimizers", "06_feature_maps", "07_hyperparameters")
# 06 reuses the checkpoints that 03 and 04 save.
DEPENDENCIES: dict[str, tuple[str, ...]] = {"06_feature_maps": ("03_lenet", "04_cnn")}
PROFILES = ("quick", "full")
PROFILE_DIR = Path(__file__).resolve().parent.parent / "notebooks" / "profiles"
TRAIN_SIZE, TEST_SIZE = 60000, 10000
# A project checkout: a folder with both of these. Notebook paths left at None resolve inside it.
PROJECT_MARKERS = ("pyproject.toml", "notebooks")


# Seconds a notebook may run before the build stops it; a profile's `timeout` key overrides it.
DEFAULT_TIMEOUT = 3600


class ParameterError(ValueError):
    """A parameter value that cannot be used; the message names the parameter."""


# --------------------------------------------------------------------------- coercion

_NONE_WORDS = {"none", "null", ""}
_TRUE_WORDS, _FALSE_WORDS = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value.strip().replace("_", ""))
    raise TypeError


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError
    result = float(value.strip()) if isinstance(value, str) else float(value)
    if not math.isfinite(result):
        raise ValueError
    return result


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
        return value.strip().lower() in _TRUE_WORDS
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise TypeError


def _as_list(value: Any) -> list:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TypeError


@dataclass(frozen=True)
class Param:
    """One parameter: its kind, limits and a help line.

    kind: int, float, bool, str, choice, path, dir (a writable folder),
    list (of ``item`` kind) or map (``name: float`` pairs, keys from ``choices``).
    """

    kind: str
    help: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    optional: bool = False
    item: str = "str"
    low_inclusive: bool = True
    project_default: str | None = None  # a path kind: None means this folder of the project (see project_root)

    def describe(self) -> str:
        if self.kind == "choice" or (self.kind == "list" and self.choices):
            return "one of " + ", ".join(map(str, self.choices)) if self.kind == "choice" else \
                "a comma-separated list of " + ", ".join(map(str, self.choices))
        words = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text",
                 "path": "a path", "dir": "a writable folder", "list": f"a comma-separated list of {self.item}s",
                 "map": "pairs name: number" + (f" with names from {', '.join(self.choices)}" if self.choices else "")}
        text = words[self.kind]
        if self.low is not None and self.high is not None:
            text += f" in {'[' if self.low_inclusive else '('}{self.low:g}, {self.high:g}]"
        elif self.low is not None:
            text += f" {'>=' if self.low_inclusive else '>'} {self.low:g}"
        if self.project_default:
            return text + f" (or none for the project's {self.project_default}/ folder)"
        return text + (" (or none)" if self.optional else "")

    def _check_range(self, value: float) -> None:
        below = value < self.low if self.low_inclusive else value <= self.low
        if (self.low is not None and below) or (self.high is not None and value > self.high):
            raise ValueError

    def _scalar(self, kind: str, value: Any) -> Any:
        if kind == "int":
            result = _as_int(value)
            self._check_range(result)
        elif kind == "float":
            result = _as_float(value)
            self._check_range(result)
        elif kind == "bool":
            result = _as_bool(value)
        elif kind == "choice":
            result = str(value).strip()
            if result not in self.choices:
                raise ValueError
        elif kind in ("str", "path", "dir"):
            if not isinstance(value, (str, os.PathLike)):
                raise TypeError
            result = str(value)
        else:  # pragma: no cover - kinds are fixed below
            raise AssertionError(kind)
        return result

    def coerce(self, name: str, value: Any) -> Any:
        """The value as its type, or a ParameterError naming ``name``.

        A path parameter with a ``project_default`` left at None becomes that folder of
        the project (:func:`project_root`), wherever the notebook runs from.
        """
        if self.project_default and (value is None or (isinstance(value, str) and
                                                       value.strip().lower() in _NONE_WORDS)):
            folder = project_root(name) / self.project_default
            if self.kind == "dir":
                check_writable_dir(name, folder, may_create=True)
            return str(folder)
        if self.optional and (value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS)):
            return None
        try:
            if self.kind == "list":
                items = _as_list(value)
                if not items:
                    raise ValueError
                item = Param(self.item if not self.choices else "choice", self.help, self.choices, self.low,
                             self.high, low_inclusive=self.low_inclusive)
                return [item._scalar(item.kind, v) for v in items]
            if self.kind == "map":
                pairs = value if isinstance(value, Mapping) else dict(
                    part.split(":", 1) if ":" in part else part.split("=", 1) for part in _as_list(value))
                number = Param("float", self.help, low=self.low, high=self.high, low_inclusive=self.low_inclusive)
                result = {}
                for key, v in pairs.items():
                    key = str(key).strip()
                    if self.choices and key not in self.choices:
                        raise ValueError
                    result[key] = number._scalar("float", v)
                return result
            result = self._scalar(self.kind, value)
        except (TypeError, ValueError, AttributeError):
            raise ParameterError(f"parameter '{name}': expected {self.describe()}, got {value!r}") from None
        if self.kind == "dir":
            check_writable_dir(name, result)
        return result


def check_writable_dir(name: str, path: str | os.PathLike, may_create: bool = False) -> None:
    """A ParameterError unless ``path`` is an existing folder we can write to (or, with
    ``may_create``, one that can be created in a writable existing folder)."""
    folder = Path(path)
    if may_create and not folder.exists() and folder.parent.is_dir():
        folder = folder.parent
    elif folder.exists() and not folder.is_dir():
        raise ParameterError(f"parameter '{name}': {str(folder)!r} is a file, not a folder")
    elif not folder.is_dir():
        raise ParameterError(f"parameter '{name}': folder {str(folder)!r} does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ParameterError(f"parameter '{name}': folder {str(folder)!r} is not writable")


def find_project(start: str | os.PathLike) -> Path | None:
    """The nearest folder from ``start`` upwards that holds every PROJECT_MARKERS entry, or None."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if all((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return None


def project_root(name: str = "project") -> Path:
    """The project a notebook runs in: found from the current directory upwards (papermill run
    from the checkout or from ``notebooks/``, JupyterLab, whose kernels start in the notebook's
    folder), else the checkout this package was imported from. ``name`` is the parameter
    that needs it, for the one-line error when neither is a project."""
    found = find_project(Path.cwd()) or find_project(Path(__file__).resolve().parent.parent)
    if found is None:
        raise ParameterError(f"parameter '{name}': no project found from {str(Path.cwd())!r} upwards (a folder with "
                             f"{' and '.join(PROJECT_MARKERS)}); run from the project or give the path")
    return found


# --------------------------------------------------------------------------- notebook parameters

COMMON: dict[str, Param] = {
    "dataset": Param("choice", "the data set of the whole series (idx: the folder given as data_source)",
                     choices=DATASET_NAMES),
    "data_dir": Param("path", "where the data set is cached (torchvision layout: MNIST/raw, FashionMNIST/raw)",
                      project_default="data"),
    "data_source": Param("path", "a folder with the four IDX files, tried before the mirrors (for idx: the data "
                                 "set itself)", optional=True),
    "seed": Param("int", "seed for splits, initial weights, shuffling and augmentation", low=0, high=2**31 - 1),
    "device": Param("choice", "where to train", choices=DEVICES),
    "train_limit": Param("int", "a stratified subset of the training set (quick runs)", low=100, high=TRAIN_SIZE,
                         optional=True),
    "test_limit": Param("int", "a stratified subset of the test set (quick runs)", low=100, high=TEST_SIZE,
                        optional=True),
    "output_dir": Param("dir", "where the metrics file is written", project_default="reports"),
    "checkpoint_dir": Param("path", "where trained weights are cached", project_default="checkpoints"),
}
TRAINING: dict[str, Param] = {
    "epochs": Param("int", "passes over the training set", low=1, high=1000),
    "batch_size": Param("int", "images per optimizer step", low=1, high=TRAIN_SIZE),
    "optimizer": Param("choice", "optimizer", choices=OPTIMIZERS),
    "lr": Param("float", "(peak) learning rate", low=0, high=100, low_inclusive=False),
    "scheduler": Param("choice", "learning-rate schedule", choices=SCHEDULERS),
    "weight_decay": Param("float", "L2 penalty", low=0, high=1),
    "label_smoothing": Param("float", "label smoothing", low=0, high=0.5),
    "normalization": Param("choice", "input normalization", choices=NORMALIZATIONS),
}
# How the model runs (mnist_lib.execution): auto / none take the setting measured fastest for the model and device.
EXECUTION: dict[str, Param] = {
    "memory_format": Param("choice", "memory format of weights and activations (auto: the measured fastest)",
                           choices=MEMORY_FORMATS),
    "compile_model": Param("bool", "torch.compile the training step (none: the measured choice)", optional=True),
    "threads": Param("int", "intra-op threads of the training loop (none: the measured choice, at most the "
                            "process's)", low=1, high=1024, optional=True),
    "fused_optimizer": Param("bool", "torch's fused optimizer kernel (Adam, AdamW, SGD; none: the measured choice)",
                             optional=True),
    "precision": Param("choice", "fp32, or bf16 autocast of the training step", choices=PRECISIONS),
}
AUGMENT: dict[str, Param] = {
    "augment": Param("bool", "random affine + jitter on training batches"),
    "rotation": Param("float", "max rotation, degrees", low=0, high=180),
    "translate": Param("float", "max shift, fraction of the image", low=0, high=0.5),
    "scale_range": Param("float", "max relative zoom in or out", low=0, high=0.5),
    "shear": Param("float", "max shear, degrees", low=0, high=45),
    "brightness": Param("float", "max relative brightness change", low=0, high=0.9),
    "contrast": Param("float", "max relative contrast change", low=0, high=0.9),
    "hflip": Param("bool", "random horizontal flips (none: where a mirrored image keeps its label)", optional=True),
}

NOTEBOOK_PARAMS: dict[str, dict[str, Param]] = {
    "01_eda": {**COMMON, "examples_per_digit": Param("int", "examples per digit in the grid", low=1, high=30),
               "augment_examples": Param("int", "augmented versions per original", low=1, high=12),
               **AUGMENT},
    "02_ann": {**COMMON, **TRAINING, **EXECUTION, "misses_shown": Param("int", "misclassified digits in the gallery", low=0,
                                                           high=200)},
    "03_lenet": {**COMMON, **TRAINING, **EXECUTION, **AUGMENT,
                 "samples_shown": Param("int", "test digits in the prediction grid", low=1, high=200)},
    "04_cnn": {**COMMON, **TRAINING, **EXECUTION, **AUGMENT},
    "05_optimizers": {**COMMON, **{k: TRAINING[k] for k in ("epochs", "batch_size", "scheduler", "weight_decay",
                                                             "normalization")},
                      **EXECUTION,
                      "optimizers": Param("list", "optimizers to compare", choices=OPTIMIZERS),
                      "learning_rates": Param("map", "learning rate of each optimizer", choices=OPTIMIZERS, low=0,
                                              high=100, low_inclusive=False),
                      "target_accuracy": Param("float", "accuracy (percent) whose first epoch is reported (none: the "
                                               "dataset's default)", low=0, high=100, low_inclusive=False,
                                               optional=True)},
    "06_feature_maps": {**COMMON, "image_index": Param("int", "test image to visualize", low=0, high=TEST_SIZE - 1),
                        "fallback_epochs": Param("int", "epochs when a model must be trained here", low=1,
                                                 high=1000)},
    "07_hyperparameters": {**COMMON, **{k: TRAINING[k] for k in ("epochs", "batch_size", "optimizer", "lr",
                                                                  "scheduler")},
                           **EXECUTION,
                           "learning_rates": Param("list", "learning rates of the sweep", item="float", low=0,
                                                   high=1000, low_inclusive=False),
                           "hidden_layers": Param("list", "hidden sizes, '-'-joined, e.g. 128-64 ('linear' for "
                                                  "none)", item="str"),
                           "train_fractions": Param("list", "fractions of the training set", item="float", low=0,
                                                    high=1, low_inclusive=False),
                           "batch_sizes": Param("list", "batch sizes", item="int", low=1, high=TRAIN_SIZE)},
}


# Keys a profile may set for the build (in `common` or a notebook's section); never injected into a notebook.
BUILD_SETTINGS: dict[str, Param] = {
    "timeout": Param("int", "seconds a notebook may run before the build stops it", low=1, high=7 * 24 * 3600),
}


class Params(dict):
    """Validated parameters; read them as ``P.epochs`` or ``P["epochs"]``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def validate_params(notebook: str, values: Mapping[str, Any], partial: bool = False) -> Params:
    """Check and coerce a notebook's parameters; raise ParameterError on the first bad one.

    Every parameter of the notebook must be present unless ``partial`` (a
    profile section, which only overrides some). Unknown names are rejected.
    """
    if notebook not in NOTEBOOK_PARAMS:
        raise ParameterError(f"unknown notebook {notebook!r}; valid: {', '.join(NOTEBOOKS)}")
    spec = NOTEBOOK_PARAMS[notebook]
    unknown = sorted(set(values) - set(spec))
    if unknown:
        raise ParameterError(f"unknown parameter '{unknown[0]}' for {notebook}; valid: {', '.join(spec)}")
    if not partial:
        missing = [name for name in spec if name not in values]
        if missing:
            raise ParameterError(f"parameter '{missing[0]}' is missing for {notebook}")
    result = Params({name: spec[name].coerce(name, value) for name, value in values.items()})
    limit = result.get("train_limit") or TRAIN_SIZE
    for name in ("batch_size",):
        if result.get(name) is not None and result[name] > limit:
            raise ParameterError(f"parameter '{name}': {result[name]} is larger than the training data ({limit})")
    for size in result.get("batch_sizes") or ():
        if size > limit:
            raise ParameterError(f"parameter 'batch_sizes': {size} is larger than the training data ({limit})")
    if result.get("image_index") is not None and result["image_index"] >= (result.get("test_limit") or TEST_SIZE):
        raise ParameterError(f"parameter 'image_index': {result['image_index']} is beyond the test set "
                             f"({result.get('test_limit') or TEST_SIZE} images)")
    if "learning_rates" in result and "optimizers" in result and not partial:
        missing = [o for o in result["optimizers"] if o not in result["learning_rates"]]
        if missing:
            raise ParameterError(f"parameter 'learning_rates': no learning rate for optimizer '{missing[0]}'")
    for text in result.get("hidden_layers") or ():
        parse_hidden(text)
    if "dataset" in result:
        check_dataset(result, partial)
    return result


def check_dataset(params: Mapping[str, Any], partial: bool = False) -> None:
    """The cross-checks of ``dataset``: an ``idx`` dataset needs its folder as ``data_source``
    (unless ``partial``), and ``hflip`` true only where a mirrored image keeps its label."""
    dataset = get_dataset(params["dataset"])
    if not dataset.pinned and not partial and not params.get("data_source"):
        raise ParameterError(f"parameter 'data_source': dataset '{dataset.name}' reads the folder given as "
                             "data_source (the four IDX files, plain or .gz); none was given")
    if params.get("hflip") and dataset.hflip_preserves_label is False:
        allowed = ", ".join(name for name in DATASET_NAMES if get_dataset(name).hflip_preserves_label is not False)
        raise ParameterError(f"parameter 'hflip': a mirrored {dataset.title} {dataset.class_noun} is not the same "
                             f"{dataset.class_noun}, so horizontal flips are not allowed for {dataset.name} "
                             f"(allowed for: {allowed})")


def resolved_hflip(params: Mapping[str, Any]) -> bool:
    """Whether training batches are mirrored: ``hflip`` when it is set, else whether the dataset's
    mirrored images keep their label (yes for Fashion-MNIST; no for MNIST digits, nor for an
    ``idx`` folder, where it is not known)."""
    if params.get("hflip") is not None:
        return bool(params["hflip"])
    return get_dataset(params.get("dataset", DEFAULT_DATASET)).hflip_preserves_label is True


def default_output_dir(params: Mapping[str, Any]) -> Path:
    """Where a notebook run by hand writes its metrics when ``output_dir`` is left at None: the
    project's ``reports/`` for the default dataset, ``reports/<dataset folder>/`` for another
    (the folder the build uses, so a hand run never overwrites another dataset's files)."""
    folder = project_root("output_dir") / "reports"
    sub = get_dataset(params.get("dataset", DEFAULT_DATASET)).report_folder(params.get("data_source"))
    return folder / sub if sub else folder


def notebook_params(notebook: str, namespace: Mapping[str, Any]) -> Params:
    """Validate the notebook's parameters as they stand in its namespace (``globals()``).

    An ``output_dir`` left at None on a dataset other than the default becomes that
    dataset's reports folder (:func:`default_output_dir`)."""
    values = {name: namespace[name] for name in NOTEBOOK_PARAMS[notebook] if name in namespace}
    output = values.get("output_dir")
    if "output_dir" in values and (output is None or (isinstance(output, str) and output.strip().lower() in
                                                       _NONE_WORDS)):
        checked = validate_params(notebook, {**values, "output_dir": None})
        if checked.get("dataset", DEFAULT_DATASET) == DEFAULT_DATASET:
            return checked
        folder = default_output_dir(checked)
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        check_writable_dir("output_dir", existing)
        return Params({**checked, "output_dir": str(folder)})
    return validate_params(notebook, values)


def parse_hidden(text: str) -> tuple[int, ...]:
    """'128-64' -> (128, 64); 'linear' -> ()."""
    if text.strip().lower() in ("linear", "none", ""):
        return ()
    try:
        sizes = tuple(int(part) for part in text.split("-"))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise ParameterError(f"parameter 'hidden_layers': {text!r} is not like 128-64 (positive sizes joined by "
                             "'-') or 'linear'")
    return sizes


def augmentation_from(params: Mapping[str, Any]):
    """The Augmentation a notebook's parameters ask for, or None."""
    from mnist_lib.data import Augmentation

    if not params.get("augment"):
        return None
    return Augmentation(rotation=params["rotation"], translate=params["translate"],
                        scale=(1 - params["scale_range"], 1 + params["scale_range"]), shear=params["shear"],
                        brightness=params["brightness"], contrast=params["contrast"],
                        hflip=resolved_hflip(params))


def train_config_from(params: Mapping[str, Any], model: str | None = None, device: Any = "cpu", **overrides):
    """A TrainConfig from a notebook's validated parameters. With ``model`` (a registered model name)
    it runs with that model's execution setting on ``device``: the measured default, overridden
    by the notebook's ``memory_format``, ``compile_model``, ``threads`` and ``precision``."""
    from mnist_lib.execution import settings_from_params
    from mnist_lib.training import TrainConfig

    values = dict(epochs=params["epochs"], batch_size=params["batch_size"], optimizer=params.get("optimizer", "adam"),
                  lr=params.get("lr", 1e-3), scheduler=params.get("scheduler", "none"),
                  weight_decay=params.get("weight_decay", 0.0), label_smoothing=params.get("label_smoothing", 0.0),
                  augment=augmentation_from(params), seed=params["seed"])
    if model is not None:
        values["execution"] = settings_from_params(model, device, params)
    values.update(overrides)
    return TrainConfig(**values)


# --------------------------------------------------------------------------- profiles


@dataclass
class Profile:
    """A profile file: ``common`` overrides for every notebook, then one section per notebook."""

    name: str
    path: Path
    common: dict = field(default_factory=dict)
    sections: dict = field(default_factory=dict)

    def params_for(self, notebook: str) -> dict:
        """The overrides papermill injects into ``notebook`` (common first, then its section)."""
        spec = NOTEBOOK_PARAMS[notebook]
        merged = {k: v for k, v in self.common.items() if k in spec}
        merged.update({k: v for k, v in (self.sections.get(notebook) or {}).items() if k not in BUILD_SETTINGS})
        return merged

    def timeout_for(self, notebook: str) -> int:
        """Seconds ``notebook`` may run: its section's ``timeout``, else ``common``'s, else the default."""
        value = (self.sections.get(notebook) or {}).get("timeout", self.common.get("timeout", DEFAULT_TIMEOUT))
        return BUILD_SETTINGS["timeout"].coerce("timeout", value)


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


def load_profile(name_or_path: str | os.PathLike, profile_dir: Path = PROFILE_DIR) -> Profile:
    """Read and validate a profile by name (quick, full) or path.

    Malformed YAML, an unknown section or an unknown key fails here, before
    anything runs, naming the file, the key and the valid keys.
    """
    text = str(name_or_path)
    named = not text.endswith((".yaml", ".yml"))
    path = profile_dir / f"{text}.yaml" if named else Path(text)
    if named and not path.is_file():
        raise ParameterError(f"unknown profile {text!r}; valid: {', '.join(PROFILES)} or a path to a .yaml file")
    data = yaml_file(path, "profile")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: expected a mapping of sections (common, {', '.join(NOTEBOOKS)})")
    valid_sections = ("common",) + NOTEBOOKS
    profile = Profile(name=path.stem, path=path)
    all_keys = sorted({k for spec in NOTEBOOK_PARAMS.values() for k in spec} | set(BUILD_SETTINGS))
    for section, values in data.items():
        if section not in valid_sections:
            raise ParameterError(f"{path}: unknown section '{section}'; valid: {', '.join(valid_sections)}")
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ParameterError(f"{path}: section '{section}' must be a mapping of parameter: value")
        if section == "common":
            unknown = sorted(set(values) - set(all_keys))
            if unknown:
                raise ParameterError(f"{path}: unknown key '{unknown[0]}' in section 'common'; valid keys: "
                                     f"{', '.join(all_keys)}")
            profile.common = dict(values)
        else:
            unknown = sorted(set(values) - set(NOTEBOOK_PARAMS[section]) - set(BUILD_SETTINGS))
            if unknown:
                raise ParameterError(f"{path}: unknown key '{unknown[0]}' in section '{section}'; valid keys: "
                                     f"{', '.join([*NOTEBOOK_PARAMS[section], *BUILD_SETTINGS])}")
            if "dataset" in values:
                raise ParameterError(f"{path}: section '{section}' sets 'dataset'; the whole series runs on one data "
                                     "set, so set it in section 'common'")
            profile.sections[section] = dict(values)
        for key, param in BUILD_SETTINGS.items():
            if key in values:
                try:
                    param.coerce(key, values[key])
                except ParameterError as exc:
                    raise ParameterError(f"{path}: section '{section}': {exc}") from None
    for notebook in NOTEBOOKS:
        try:
            validate_params(notebook, {k: v for k, v in profile.params_for(notebook).items() if k != "output_dir"},
                            partial=True)
        except ParameterError as exc:
            raise ParameterError(f"{path}: section '{notebook}': {exc}") from None
    return profile

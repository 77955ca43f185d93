"""Every notebook parameter once: its kind, limits, choices and help, and the one validator that
checks a value wherever it enters (a notebook's parameters cell, ``papermill -p``, a profile, a
sweep file's ``params`` and ``grid``).

Which parameters a notebook has, and their defaults, is its parameters cell (papermill's
convention; :mod:`mnist_lib.cells` reads it and writes each line's type annotation and comment
from :data:`PARAMS`). Values arrive as Python objects (notebook defaults, YAML) or as strings
(``papermill -p epochs 5``); each is coerced to its kind or rejected with one line naming the
parameter and what would be valid.

>>> PARAMS["epochs"].coerce("epochs", "5")
5
>>> PARAMS["epochs"].describe()
'a whole number in [1, 1000]'
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from mnist_lib import catalogue, cells
from mnist_lib.choices import (DEVICES, MEMORY_FORMATS, NORMALIZATIONS, OPTIMIZERS, PRECISIONS, SCHEDULERS,
                               TTA_MODES)
from mnist_lib.datasets import DATASET_NAMES, DEFAULT_DATASET, TEST_SIZE, TRAIN_SIZE, get_dataset


class ParameterError(ValueError):
    """A value a user gave that cannot be used; the message, one line, names it and what would be valid."""


# A project checkout: a folder with both of these. Folder parameters left at None resolve inside it.
PROJECT_MARKERS = ("pyproject.toml", "notebooks")
# Parameters that name places, not settings: what they point to is covered by the data hashes, so run keys
# leave them out and a build sets them.
PATH_PARAMETERS = ("data_dir", "data_source", "output_dir", "checkpoint_dir", "sweep_dir")
# Folder kinds: (must exist, written in).
FOLDER_KINDS = {"dir": (True, True), "cache": (False, True), "folder": (True, False)}
# Python types for a parameters cell's annotations (papermill --help-notebook shows them).
_TYPES = {"int": "int", "float": "float", "bool": "bool", "str": "str", "choice": "str", "dir": "str",
          "cache": "str", "folder": "str", "list": "str", "map": "dict"}
_NONE_WORDS = {"none", "null", ""}
_TRUE_WORDS, _FALSE_WORDS = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


# --------------------------------------------------------------------------- folders


def checked_folder(name: str, path: str | os.PathLike, *, must_exist: bool = True, writable: bool = False,
                   parents: bool = False) -> Path:
    """``path`` as an absolute folder (``~`` expanded, links resolved), or one ParameterError line that
    starts with ``name`` ("--output", "parameter 'output_dir'") and says what is wrong: an empty
    path, a link that leads back to itself, a file where a folder belongs (the path itself or a
    folder on the way to it), a folder that does not exist (``must_exist``), or one that cannot be
    read, or written and created in (``writable``). A folder that may be created needs its parent,
    unless ``parents`` (the project's own folders: ``reports/fashion-mnist`` before ``reports``)."""
    text = str(path)
    if not text.strip():
        raise ParameterError(f"{name}: the path is empty; give a folder")
    try:
        folder = Path(text).expanduser().resolve()
    except (OSError, RuntimeError):  # RuntimeError: Python < 3.13's "Symlink loop"
        raise ParameterError(f"{name}: {text!r} is a symbolic link that leads back to itself") from None
    if folder.exists():
        if not folder.is_dir():
            raise ParameterError(f"{name}: {text!r} is a file, not a folder")
        needs = os.R_OK | os.X_OK | (os.W_OK if writable else 0)
        if not os.access(folder, needs):
            raise ParameterError(f"{name}: folder {text!r} is not {'writable' if writable else 'readable'}")
        return folder
    existing = next(parent for parent in folder.parents if parent.exists())
    if not existing.is_dir():
        raise ParameterError(f"{name}: {text!r} lies inside {str(existing)!r}, which is a file")
    if must_exist:
        raise ParameterError(f"{name}: folder {text!r} does not exist")
    if existing != folder.parent and not parents:
        raise ParameterError(f"{name}: the parent folder of {text!r} does not exist (create it first)")
    if writable and not os.access(existing, os.W_OK | os.X_OK):
        raise ParameterError(f"{name}: cannot create {text!r}: {str(existing)!r} is not writable")
    return folder


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


# --------------------------------------------------------------------------- coercion


def _is_none(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS)


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

    ``kind``: int, float, bool, str, choice, dir (an existing folder the run writes in), cache (a
    folder the run writes in, created when missing), folder (an existing folder the run reads), list
    (of ``item`` kind, or of ``choices``) or map (``name: number`` pairs, names from ``choices``).
    ``optional``: None is allowed and ``none`` says what it means. ``project_default``: a folder kind
    whose None means this folder of the project (:func:`project_root`).
    """

    kind: str
    help: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    optional: bool = False
    none: str = ""
    item: str = "str"
    project_default: str | None = None

    def describe(self) -> str:
        """What a valid value is, in words: "a whole number in [1, 1000]", "one of sgd, adam"."""
        if self.kind == "choice":
            text = "one of " + ", ".join(map(str, self.choices))
        elif self.kind == "list" and self.choices:
            text = "a comma-separated list of " + ", ".join(map(str, self.choices))
        elif self.kind == "map":
            text = "pairs name: number" + (f" with names from {', '.join(self.choices)}" if self.choices else "")
            text += self._range()
        else:
            words = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text",
                     "dir": "a writable folder", "cache": "a folder (created if missing)",
                     "folder": "an existing folder", "list": f"a comma-separated list of {self.item}s"}
            text = words[self.kind] + self._range()
        if self.project_default:
            return text + f" (or none for the project's {self.project_default}/ folder)"
        return text + (" (or none)" if self.optional else "")

    def _number(self, value: float) -> str:
        return str(int(value)) if self.kind == "int" or (self.kind == "list" and self.item == "int") else f"{value:g}"

    def _range(self) -> str:
        if self.low is not None and self.high is not None:
            return (f" in {'[' if self.low_inclusive else '('}{self._number(self.low)}, {self._number(self.high)}"
                    f"{']' if self.high_inclusive else ')'}")
        if self.low is not None:
            return f" {'>=' if self.low_inclusive else '>'} {self._number(self.low)}"
        return ""

    def annotation(self) -> str:
        """The type a parameters cell declares for it: ``int``, ``Optional[float]`` (a list is given as
        comma-separated text, as papermill passes it)."""
        base = _TYPES[self.kind]
        optional = self.optional or self.project_default is not None
        return f"Optional[{base}]" if optional else base

    def comment(self) -> str:
        """The comment of its line in a parameters cell: the help, the valid values, what None means."""
        text = self.help
        if self.kind in ("choice",) or (self.kind == "list" and self.choices):
            text += ": " + ", ".join(map(str, self.choices))
        elif self.kind in ("int", "float") and self.low is not None:
            text += "," + self._range()
        if self.project_default:
            text += f"; None: the project's {self.project_default}/"
        elif self.optional and self.none:
            text += f"; None: {self.none}"
        return text

    def _check_range(self, value: float) -> None:
        below = self.low is not None and (value < self.low if self.low_inclusive else value <= self.low)
        above = self.high is not None and (value > self.high if self.high_inclusive else value >= self.high)
        if below or above:
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
        elif kind in ("str", *FOLDER_KINDS):
            if not isinstance(value, (str, os.PathLike)):
                raise TypeError
            result = str(value)
        else:  # pragma: no cover - kinds are fixed above
            raise AssertionError(kind)
        return result

    def coerce(self, name: str, value: Any) -> Any:
        """The value as its type, or a ParameterError naming ``name``.

        A folder parameter with a ``project_default`` left at None becomes that folder of the
        project (:func:`project_root`), wherever the notebook runs from.
        """
        if self.project_default and _is_none(value):
            folder = project_root(name) / self.project_default
            checked_folder(f"parameter '{name}'", folder, must_exist=False, writable=True, parents=True)
            return str(folder)
        if self.optional and _is_none(value):
            return None
        try:
            if self.kind == "list":
                items = _as_list(value)
                if not items:
                    raise ValueError
                kind = "choice" if self.choices else self.item
                return [self._scalar(kind, v) for v in items]
            if self.kind == "map":
                pairs = value if isinstance(value, Mapping) else dict(
                    part.split(":", 1) if ":" in part else part.split("=", 1) for part in _as_list(value))
                result = {}
                for key, v in pairs.items():
                    key = str(key).strip()
                    if self.choices and key not in self.choices:
                        raise ValueError
                    result[key] = self._scalar("float", v)
                return result
            result = self._scalar(self.kind, value)
        except (TypeError, ValueError, AttributeError):
            raise ParameterError(f"parameter '{name}': expected {self.describe()}, got {value!r}") from None
        if self.kind in FOLDER_KINDS:
            must_exist, writable = FOLDER_KINDS[self.kind]
            checked_folder(f"parameter '{name}'", result, must_exist=must_exist, writable=writable)
        return result


# --------------------------------------------------------------------------- every parameter, once

_TRAIN_IMAGES = dict(low=100, high=TRAIN_SIZE)
PARAMS: dict[str, Param] = {
    # the data and where things go
    "dataset": Param("choice", "the data set of the whole series (idx: the folder given as data_source)",
                     choices=DATASET_NAMES),
    "data_dir": Param("cache", "where the data set is cached (torchvision layout: MNIST/raw, FashionMNIST/raw)",
                      project_default="data"),
    "data_source": Param("folder", "a folder with the four IDX files, tried before the mirrors (for idx: the data "
                         "set itself)", optional=True),
    "seed": Param("int", "seed of every random choice: split, subsets, initial weights, shuffling, dropout, "
                  "augmentation", low=0, high=2**31 - 1),
    "device": Param("choice", "where to run", choices=DEVICES),
    # Part of the recipe, not of the machine: torch's arithmetic depends on its thread count, so a fixed count
    # gives the same numbers in-process, on any worker and on any number of cores.
    "threads": Param("int", "torch threads of the whole run, fixed so the numbers do not depend on -j, the worker "
                     "or the machine", low=1, high=256),
    "train_limit": Param("int", "a stratified subset of the training images (quick runs)", **_TRAIN_IMAGES,
                         optional=True, none="all"),
    "test_limit": Param("int", "a stratified subset of the test images (quick runs)", low=100, high=TEST_SIZE,
                        optional=True, none="all"),
    "output_dir": Param("dir", "where the metrics and predictions files are written", project_default="reports"),
    "checkpoint_dir": Param("cache", "where trained weights are cached and reused", project_default="checkpoints"),
    # training
    "epochs": Param("int", "passes over the training set", low=1, high=1000),
    "batch_size": Param("int", "images per optimizer step", low=1, high=TRAIN_SIZE),
    "optimizer": Param("choice", "optimizer", choices=OPTIMIZERS),
    "lr": Param("float", "(peak) learning rate", low=0, high=100, low_inclusive=False),
    "scheduler": Param("choice", "learning-rate schedule", choices=SCHEDULERS),
    "weight_decay": Param("float", "weight decay (AdamW: decoupled; the others: L2 penalty)", low=0, high=1),
    "label_smoothing": Param("float", "label smoothing of the cross-entropy loss", low=0, high=0.5),
    "normalization": Param("choice", "input normalization (dataset: the training split's mean/std; half: "
                           "(x - 0.5) / 0.5)", choices=NORMALIZATIONS),
    "ema_decay": Param("float", "decay of an exponential moving average of the weights, which validation, the best "
                       "epoch and the result use (0: none)", low=0, high=0.9999),
    "tta": Param("choice", "test-time augmentation of the final evaluation: the probabilities averaged over mirrored "
                 "(flip) or one-pixel-shifted (shift) views", choices=TTA_MODES),
    "dropout": Param("float", "dropout probability on the CNN's flattened features", low=0, high=0.9),
    # how the model runs (mnist_lib.runtime)
    "memory_format": Param("choice", "memory format of weights and activations (auto: the setting measured for "
                           "this model and device)", choices=MEMORY_FORMATS),
    "compile_model": Param("bool", "torch.compile the training step", optional=True, none="the measured choice"),
    "fused_optimizer": Param("bool", "torch's fused optimizer kernel (Adam, AdamW, SGD)", optional=True,
                             none="the measured choice"),
    "precision": Param("choice", "fp32, or bf16 autocast of the training step (devices that support it)",
                       choices=PRECISIONS),
    # augmentation of training batches
    "augment": Param("bool", "random affine + brightness/contrast jitter on training batches"),
    "rotation": Param("float", "max rotation, degrees", low=0, high=180),
    "translate": Param("float", "max shift, fraction of the image", low=0, high=0.5),
    "scale_range": Param("float", "max relative zoom in or out", low=0, high=0.5),
    "shear": Param("float", "max shear, degrees", low=0, high=45),
    "brightness": Param("float", "max relative brightness change", low=0, high=0.9),
    "contrast": Param("float", "max relative contrast change", low=0, high=0.9),
    "hflip": Param("bool", "random horizontal flips of training images", optional=True,
                   none="the data set's default (on only where a mirrored image keeps its class)"),
    # what one notebook shows or compares
    "examples_per_class": Param("int", "examples per class in the grid", low=1, high=30),
    "augment_examples": Param("int", "augmented versions shown next to each original", low=1, high=12),
    "misses_shown": Param("int", "misclassified images in the gallery (0 for none)", low=0, high=200),
    "samples_shown": Param("int", "test images in the prediction grid", low=1, high=200),
    "optimizers": Param("list", "optimizers to compare", choices=OPTIMIZERS),
    "lr_per_optimizer": Param("map", "learning rate of each optimizer", choices=OPTIMIZERS, low=0, high=100,
                              low_inclusive=False),
    "target_accuracy": Param("float", "test accuracy (percent) whose first epoch is reported", low=0, high=100,
                             low_inclusive=False, optional=True, none="the data set's default"),
    "image_index": Param("int", "position of the test image to look at, within the (limited) test set", low=0,
                         high=TEST_SIZE - 1),
    "fallback_epochs": Param("int", "epochs of a model trained here when the checkpoint of the notebook that trains "
                             "it cannot be reused", low=1, high=1000),
    "learning_rates": Param("list", "learning rates of the sweep, from too small to too large", item="float", low=0,
                            high=1000, low_inclusive=False),
    "hidden_layers": Param("list", "hidden sizes of the sweep, '-'-joined ('linear' for none)", item="str"),
    "train_fractions": Param("list", "shares of the training split (stratified subsets)", item="float", low=0,
                             high=1, low_inclusive=False),
    "batch_sizes": Param("list", "batch sizes of the sweep", item="int", low=1, high=TRAIN_SIZE),
    # the sweep summary
    "sweep_dir": Param("folder", "the sweep's folder (with its sweep.json)"),
    "confidence": Param("float", "confidence of the t-intervals", low=0.5, high=0.999),
}


# Parameters that change what a model learns (not where files go, how fast it runs or what a report
# shows): a comparison with a published result names each one the source does not state.
TRAINING_RECIPE = ("normalization", "epochs", "batch_size", "optimizer", "lr", "lr_per_optimizer", "scheduler",
                   "weight_decay", "label_smoothing", "dropout", "augment", "rotation", "translate", "scale_range",
                   "shear", "brightness", "contrast", "hflip", "ema_decay", "tta")
AUGMENTATION = ("rotation", "translate", "scale_range", "shear", "brightness", "contrast", "hflip")


# --------------------------------------------------------------------------- validation


class Params(dict):
    """Validated parameters; read them as ``P.epochs`` or ``P["epochs"]``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def notebook_parameters(notebook: str) -> tuple[str, ...]:
    """The parameters ``notebook`` has: the names in its parameters cell (:mod:`mnist_lib.cells`)."""
    return tuple(cells.read(cells.notebook_path(catalogue.get(notebook).name)))


def undeclared(notebook: str) -> list[str]:
    """The names in ``notebook``'s parameters cell that :data:`PARAMS` does not declare."""
    return [name for name in notebook_parameters(notebook) if name not in PARAMS]


def sync_cell(notebook: str) -> bool:
    """Write each line's annotation and comment of ``notebook``'s parameters cell from :data:`PARAMS`
    (its defaults stay as they are); True when the notebook changed. A name the cell has and
    :data:`PARAMS` lacks is one ParameterError line."""
    unknown = undeclared(notebook)
    if unknown:
        raise ParameterError(f"{notebook}: its parameters cell has '{unknown[0]}', which mnist_lib.params.PARAMS does "
                             "not declare; declare it there (kind, limits, help)")
    return cells.sync(cells.notebook_path(notebook), lambda name: PARAMS[name].annotation(),
                      lambda name: PARAMS[name].comment())


def validate(notebook: str, values: Mapping[str, Any], partial: bool = False) -> Params:
    """Check and coerce ``notebook``'s parameters; raise ParameterError on the first bad one.

    Every parameter of the notebook must be present unless ``partial`` (a profile section or a sweep
    value, which only overrides some). Names the notebook does not have are rejected.
    """
    names = notebook_parameters(notebook)
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ParameterError(f"unknown parameter '{unknown[0]}' for {notebook}; valid: {', '.join(names)}")
    if not partial:
        missing = [name for name in names if name not in values]
        if missing:
            raise ParameterError(f"parameter '{missing[0]}' is missing for {notebook}")
    result = Params({name: PARAMS[name].coerce(name, value) for name, value in values.items()})
    check_together(result, partial)
    return result


def check_together(params: Mapping[str, Any], partial: bool = False) -> None:
    """The checks of several parameters at once: sizes against the (limited) data, the learning rate
    of every optimizer compared, hidden sizes, the data set's own rules."""
    limit = params.get("train_limit") or TRAIN_SIZE
    for size in [params.get("batch_size"), *(params.get("batch_sizes") or ())]:
        if size is not None and size > limit:
            name = "batch_size" if size == params.get("batch_size") else "batch_sizes"
            raise ParameterError(f"parameter '{name}': {size} is larger than the training data ({limit})")
    test_size = params.get("test_limit") or TEST_SIZE
    if params.get("image_index") is not None and params["image_index"] >= test_size:
        raise ParameterError(f"parameter 'image_index': {params['image_index']} is beyond the test set "
                             f"({test_size} images)")
    repeated = sorted({o for o in params.get("optimizers") or () if list(params["optimizers"]).count(o) > 1})
    if repeated:
        raise ParameterError(f"parameter 'optimizers': {repeated[0]!r} is listed more than once")
    if "lr_per_optimizer" in params and "optimizers" in params and not partial:
        missing = [o for o in params["optimizers"] if o not in params["lr_per_optimizer"]]
        if missing:
            raise ParameterError(f"parameter 'lr_per_optimizer': no learning rate for optimizer '{missing[0]}'")
    for text in params.get("hidden_layers") or ():
        parse_hidden(text)
    if "dataset" in params:
        check_dataset(params, partial)


def check_dataset(params: Mapping[str, Any], partial: bool = False) -> None:
    """The cross-checks of ``dataset``: an ``idx`` dataset needs its folder as ``data_source``
    (unless ``partial``), and mirrored images (``hflip``, ``tta = flip``) only where a mirrored image
    keeps its label."""
    dataset = get_dataset(params["dataset"])
    if not dataset.pinned and not partial and not params.get("data_source"):
        raise ParameterError(f"parameter 'data_source': dataset '{dataset.name}' reads the folder given as "
                             "data_source (the four IDX files, plain or .gz); none was given")
    mirrored = [name for name, on in (("hflip", params.get("hflip")), ("tta", params.get("tta") == "flip")) if on]
    if mirrored and dataset.hflip_preserves_label is False:
        allowed = ", ".join(name for name in DATASET_NAMES if get_dataset(name).hflip_preserves_label is not False)
        raise ParameterError(f"parameter '{mirrored[0]}': a mirrored {dataset.title} {dataset.class_noun} is not the "
                             f"same {dataset.class_noun}, so mirrored images are not allowed for {dataset.name} "
                             f"(allowed for: {allowed})")


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
    values = {name: namespace[name] for name in notebook_parameters(notebook) if name in namespace}
    if "output_dir" in values and _is_none(values["output_dir"]):
        checked = validate(notebook, {**values, "output_dir": None})
        if checked.get("dataset", DEFAULT_DATASET) == DEFAULT_DATASET:
            return checked
        folder = default_output_dir(checked)
        checked_folder("parameter 'output_dir'", folder, must_exist=False, writable=True, parents=True)
        return Params({**checked, "output_dir": str(folder)})
    return validate(notebook, values)

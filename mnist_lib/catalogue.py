"""Every notebook of the project, once: its name, title, section of the series, the models it trains,
what it depends on, and whether it is part of the series or summarizes a sweep.

Everything that needs to know the notebooks derives from this table: the build and its
``--only`` / ``--force`` checks, profiles and sweep files, the site's navigation, index and
placeholder pages, publishing, sweeps and their summaries, the benchmark and the tests. No other
library module spells a notebook's name. Importable without torch.

>>> [n.name for n in series()][:3]
['01_eda', '02_ann', '03_lenet']
>>> notebook_for_model("cnn").name
'04_cnn'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Where the notebooks and their profiles live: in a checkout of the project, beside this package.
NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


@dataclass(frozen=True)
class Notebook:
    """One notebook: ``name`` is its file's stem (``notebooks/<name>.ipynb``); ``title`` may hold
    ``{dataset}`` for the data set's name ("Exploring {dataset}"); ``section`` groups it in the
    site's navigation; ``models`` are the registered models it trains or reads (``mlp/<optimizer>``
    results come from ``mlp``); ``depends_on`` are the notebooks whose outputs it reads; ``kind``
    is ``series`` (built by ``make reports``) or ``sweep`` (the summary a sweep renders)."""

    name: str
    title: str
    section: str
    models: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    kind: str = "series"

    @property
    def number(self) -> str:
        """"04" for 04_cnn."""
        return self.name.split("_", 1)[0]

    def title_on(self, dataset_title: str = "MNIST") -> str:
        """The report's title on the data set called ``dataset_title``: "Exploring Fashion-MNIST"."""
        return self.title.format(dataset=dataset_title)

    @property
    def trains(self) -> bool:
        """Whether a run trains a model (and so may ask a cluster for a GPU)."""
        return bool(self.models)


NOTEBOOKS: tuple[Notebook, ...] = (
    Notebook("01_eda", "Exploring {dataset}", "Data"),
    Notebook("02_ann", "A fully connected network (784-120-84-10)", "Models", models=("ann",)),
    Notebook("03_lenet", "LeNet-5", "Models", models=("lenet5",)),
    Notebook("04_cnn", "A batch-normalized CNN", "Models", models=("cnn",)),
    Notebook("05_optimizers", "Optimizers compared", "Training", models=("mlp",)),
    # 06 looks inside the models 03 and 04 trained (their checkpoints), training them itself only when it must.
    Notebook("06_feature_maps", "Inside the networks: feature maps and saliency", "Inside the networks",
             models=("lenet5", "cnn"), depends_on=("03_lenet", "04_cnn")),
    Notebook("07_hyperparameters", "A hyperparameter study", "Studies", models=("mlp_custom",)),
    Notebook("08_sweep_summary", "Sweep summary", "Sweeps", kind="sweep"),
)
KINDS = ("series", "sweep")
_BY_NAME = {notebook.name: notebook for notebook in NOTEBOOKS}


class UnknownNotebookError(ValueError):
    """A notebook name that is not in the catalogue; the message lists the valid ones."""


def series() -> tuple[Notebook, ...]:
    """The notebooks ``make reports`` builds, in series order."""
    return tuple(n for n in NOTEBOOKS if n.kind == "series")


def series_names() -> tuple[str, ...]:
    return tuple(n.name for n in series())


def get(name: str) -> Notebook:
    """The notebook called ``name``, or :class:`UnknownNotebookError` naming the valid ones."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise UnknownNotebookError(f"unknown notebook {name!r}; valid: {', '.join(_BY_NAME)}") from None


def sweep_summary() -> Notebook:
    """The notebook that summarizes a sweep."""
    return next(n for n in NOTEBOOKS if n.kind == "sweep")


def sections() -> tuple[tuple[str, tuple[Notebook, ...]], ...]:
    """The series grouped by section, sections in the order their first notebook comes."""
    order: dict[str, list[Notebook]] = {}
    for notebook in series():
        order.setdefault(notebook.section, []).append(notebook)
    return tuple((section, tuple(members)) for section, members in order.items())


def with_dependencies(names: list[str] | tuple[str, ...]) -> list[str]:
    """``names`` with every notebook they depend on, in series order."""
    wanted = set()
    stack = list(names)
    while stack:
        notebook = get(stack.pop())
        if notebook.name not in wanted:
            wanted.add(notebook.name)
            stack.extend(notebook.depends_on)
    return [n.name for n in NOTEBOOKS if n.name in wanted]


def notebook_for_model(model: str) -> Notebook:
    """The series notebook that trains ``model`` on its own (``mlp/<optimizer>`` counts as ``mlp``): the
    first one listing it, so 03 for LeNet-5 (06 only looks inside it)."""
    base = model.split("/", 1)[0]
    found = next((n for n in series() if base in n.models), None)
    if found is None:
        models = sorted({m for n in series() for m in n.models})
        raise UnknownNotebookError(f"no notebook trains model {model!r}; models: {', '.join(models)}")
    return found

"""Every sentence a report generates, in one place: each public function's name ends in ``_text`` and
it returns Markdown built from a run's parameters and measurements, so a report states a setting or
a result only as it ran. Shared word helpers (plural, ordinals, p-values) are :mod:`mnist_lib.words`.

``from mnist_lib import prose`` gives every part: ``prose.data`` (the data set and its preparation),
``prose.training`` (recipes, curves, execution, weights), ``prose.references`` (published results
and targets), ``prose.optimizers`` (05), ``prose.hyperparameters`` (07) and ``prose.sweeps`` (08).
"""

from mnist_lib.prose import data, hyperparameters, optimizers, references, sweeps, training

__all__ = ["data", "hyperparameters", "optimizers", "references", "sweeps", "training"]

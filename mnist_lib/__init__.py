"""mnist_lib: the library behind the MNIST report notebooks.

One module per concern: ``data`` (acquire, verify, tensors, batches,
augmentation), ``models`` (the reference architectures), ``training`` (fit,
evaluate, checkpoints), ``metrics``, ``plots``, ``features`` (activations via
forward hooks), ``config`` (profiles and parameter validation), ``reports``
(papermill + nbconvert + index page) and ``cli``.
"""

__version__ = "0.1.0"

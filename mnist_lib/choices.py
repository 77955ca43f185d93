"""The names each choice-valued setting can take: optimizers, learning-rate schedules, devices, input
normalizations, test-time augmentations, memory formats and precisions.

Declared here, below the modules that implement them (``training``, ``data``, ``runtime``, which import
torch), so that the parameters, the command line and the build can validate a setting without loading
torch. The implementing modules import these names from here and refuse any other.
"""

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
SCHEDULERS = ("none", "step", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
NORMALIZATIONS = ("dataset", "half", "none", "raw")
# Test-time augmentation: the views of each image whose probabilities are averaged (identity always first).
TTA_MODES = ("none", "flip", "shift")
MEMORY_FORMATS = ("auto", "contiguous", "channels_last")
PRECISIONS = ("fp32", "bf16")

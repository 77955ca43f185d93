"""What can go wrong when a dataset is asked for; every error here is a :class:`DatasetError`,
and its message is one line naming the file or the value (and, when no source worked, every source tried)."""

from __future__ import annotations


class DatasetError(Exception):
    """Base of every error of :mod:`mnist_lib.datasets`."""


class UnknownDatasetError(DatasetError, ValueError):
    """A dataset name that is not registered; the message lists the valid ones."""


class CorruptFileError(DatasetError, ValueError):
    """A file is not the IDX file it claims to be (header, size, content or hash)."""


class WrongDatasetError(CorruptFileError):
    """A file is a verified file of another registered dataset (Fashion-MNIST in place of MNIST)."""


class DatasetUnavailableError(DatasetError, RuntimeError):
    """No source produced a verified copy of a file, or an ``idx`` folder is not usable."""

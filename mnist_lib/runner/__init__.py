"""What makes the series and its sweeps: run keys (``keys``), one notebook run in a child process
(``job``), where runs execute (``executors``: in-process or Dask), the build (``pipeline``), its
history and ``diff``, and sweeps (``sweep``).

Notebooks never import this package (they call :mod:`mnist_lib.reports`), which is why run keys
leave its source out. Nothing is imported here, so the child process that runs one notebook
starts without torch.
"""

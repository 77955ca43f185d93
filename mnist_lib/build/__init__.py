"""What makes the series: run keys (``keys``), running one notebook (``execute``), the
pipeline (``pipeline.build_reports``), build history (``history``), ``diff``,
rendering (``render``) and the index page (``site``).

Notebooks never import this package (they call :mod:`mnist_lib.reports`), which
is why run keys leave its source out. Nothing is imported here, so the child
process that runs one notebook starts without torch.
"""

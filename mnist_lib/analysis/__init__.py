"""The analyses behind the notebooks that do more than train one model: the optimizer comparison
(05, ``optimizer_comparison``), the feature maps (06, ``feature_maps``), the hyperparameter study
(07, ``hyperparameters``) and the sweep summary (08, ``sweeps``).
"""

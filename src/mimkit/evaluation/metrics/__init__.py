"""Evaluation metrics of the paper (docs/maths.md §3), as plain Lightning-free functions.

`RepresentationMetrics` (mimkit.evaluation.callbacks.representation) computes them all at test time.
"""

from mimkit.evaluation.metrics.consistency import consistency_gap
from mimkit.evaluation.metrics.knn import knn_accuracy
from mimkit.evaluation.metrics.ksg import ksg_mutual_information
from mimkit.evaluation.metrics.nll import nll_is, nll_one_sample
from mimkit.evaluation.metrics.posterior import active_units, mean_posterior_variance

__all__ = [
    "active_units",
    "consistency_gap",
    "knn_accuracy",
    "ksg_mutual_information",
    "mean_posterior_variance",
    "nll_is",
    "nll_one_sample",
]

"""Evaluation metrics of the paper (docs/maths.md §3), as plain Lightning-free functions.

`RepresentationMetrics` (mimkit.callbacks.metrics) computes them all at test time.
"""

from mimkit.metrics.consistency import consistency_gap
from mimkit.metrics.knn import knn_accuracy
from mimkit.metrics.ksg import ksg_mutual_information
from mimkit.metrics.nll import nll_is, nll_one_sample
from mimkit.metrics.posterior import active_units, mean_posterior_variance

__all__ = [
    "active_units",
    "consistency_gap",
    "knn_accuracy",
    "ksg_mutual_information",
    "mean_posterior_variance",
    "nll_is",
    "nll_one_sample",
]

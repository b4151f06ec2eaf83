"""Evaluation metrics of the paper (spec §3), as plain Lightning-free functions.

`RepresentationMetrics` (mim.callbacks.metrics) computes them all at test time.
"""

from mim.metrics.consistency import consistency_gap
from mim.metrics.knn import knn_accuracy
from mim.metrics.ksg import ksg_mutual_information
from mim.metrics.nll import nll_is, nll_one_sample
from mim.metrics.posterior import active_units, mean_posterior_variance

__all__ = ["active_units", "consistency_gap", "knn_accuracy", "ksg_mutual_information",
           "mean_posterior_variance", "nll_is", "nll_one_sample"]

"""K-nearest-neighbour classification accuracy of the latent codes (spec §3).

scikit-learn's `KNeighborsClassifier` (uniform weights, Euclidean), fit on training
embeddings and scored on test embeddings, for k ∈ {1, 3, 5, 10}; k = 5 is the headline number.
The reference embeds with *sampled* z ~ q(z|x) (see `RepresentationMetrics.embed_sample`).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier


def _numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def knn_accuracy(train_z, train_y, test_z, test_y, ks=(1, 3, 5, 10)) -> dict[int, float]:
    """{k: fraction of test points whose k-NN majority label (over train) is their label}."""
    train_z, test_z = _numpy(train_z).reshape(len(train_z), -1), _numpy(test_z).reshape(len(test_z), -1)
    train_y, test_y = _numpy(train_y).ravel(), _numpy(test_y).ravel()
    if len(train_z) != len(train_y) or len(test_z) != len(test_y):
        raise ValueError("embeddings and labels must have the same length")
    scores = {}
    for k in ks:
        k = int(k)
        if k < 1 or k > len(train_z):
            raise ValueError(f"k must be in [1, {len(train_z)}] (the training set size), got {k}")
        classifier = KNeighborsClassifier(n_neighbors=k).fit(train_z, train_y)
        scores[k] = float(classifier.score(test_z, test_y))
    return scores

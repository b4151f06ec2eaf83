"""K-nearest-neighbour classification accuracy of the latent codes (docs/maths.md §3).

scikit-learn's `KNeighborsClassifier` (uniform weights, Euclidean), fit on training
embeddings and scored on test embeddings, for k ∈ {1, 3, 5, 10}; k = 5 is the headline number.
The reference embeds with *sampled* z ~ q(z|x) (see `RepresentationMetrics.embed_sample`).

Embeddings on an accelerator are classified there instead (`mimkit.evaluation.metrics.neighbours`): exact
Euclidean distances to every training point in float64, chunked over test rows, the k smallest,
and the majority label, a tie between labels going to the smallest label as scikit-learn's does
(its `predict` takes the first maximum over the sorted classes). The accuracies equal
scikit-learn's (tested) except where two training points lie at exactly the same distance across
the k-th place, where which of them counts is arbitrary in both.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier

from mimkit.evaluation.metrics.neighbours import chunk_rows, euclidean_distances, row_chunks, search_device


def _numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _sklearn_scores(train_z, train_y, test_z, test_y, ks) -> dict[int, float]:
    return {
        k: float(KNeighborsClassifier(n_neighbors=k).fit(train_z, train_y).score(test_z, test_y)) for k in ks
    }


def _brute_force_scores(train_z, train_y, test_z, test_y, ks, device: torch.device) -> dict[int, float]:
    """The accuracies from the max(ks) nearest training points of each test point, on `device`."""
    train = torch.as_tensor(train_z, device=device).reshape(len(train_z), -1).double()
    test = torch.as_tensor(test_z, device=device).reshape(len(test_z), -1).double()
    classes, train_index = np.unique(train_y, return_inverse=True)  # sorted, as scikit-learn's classes_
    train_class = torch.as_tensor(train_index, device=device)
    truth = torch.as_tensor(np.searchsorted(classes, test_y).clip(max=len(classes) - 1), device=device)
    known = torch.as_tensor(np.isin(test_y, classes), device=device)  # other labels are never right
    hits = dict.fromkeys(ks, 0)
    for rows in row_chunks(len(test), chunk_rows(len(train) + len(classes), matrices=2)):
        nearest = train_class[
            euclidean_distances(test[rows], train).topk(max(ks), dim=1, largest=False).indices
        ]
        for k in ks:
            votes = torch.zeros(len(nearest), len(classes), device=device)
            votes.scatter_add_(1, nearest[:, :k], torch.ones(nearest[:, :k].shape, device=device))
            predicted = votes.argmax(1)  # the first maximum: the smallest of tied labels
            hits[k] += int(((predicted == truth[rows]) & known[rows]).sum())
    return {k: hits[k] / len(test) for k in ks}


def knn_accuracy(
    train_z, train_y, test_z, test_y, ks=(1, 3, 5, 10), device: str | torch.device | None = None
) -> dict[int, float]:
    """{k: fraction of test points whose k-NN majority label (over train) is their label}.

    device: where the neighbours are searched (`mimkit.evaluation.metrics.neighbours.search_device`: by
    default the embeddings' accelerator, else scikit-learn on the CPU).
    """
    where = search_device(train_z, test_z, device=device)
    train_y, test_y = _numpy(train_y).ravel(), _numpy(test_y).ravel()
    if len(train_z) != len(train_y) or len(test_z) != len(test_y):
        raise ValueError("embeddings and labels must have the same length")
    ks = [int(k) for k in ks]
    for k in ks:
        if k < 1 or k > len(train_z):
            raise ValueError(f"k must be in [1, {len(train_z)}] (the training set size), got {k}")
    if where is None:
        flat = _numpy(train_z).reshape(len(train_z), -1), _numpy(test_z).reshape(len(test_z), -1)
        return _sklearn_scores(flat[0], train_y, flat[1], test_y, ks)
    return _brute_force_scores(train_z, train_y, test_z, test_y, ks, where)

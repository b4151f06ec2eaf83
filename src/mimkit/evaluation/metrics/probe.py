"""The linear probe: how well a linear classifier reads the labels off the embeddings.

The standard probe of representation learning, beside the paper's K-NN accuracy: a multinomial
logistic regression (scikit-learn's `LogisticRegressionCV`, lbfgs) fit on training embeddings
and scored (accuracy) on test embeddings. The features are standardised with the training
embeddings' mean and std (a constant feature is left centred, unscaled). The inverse
regularisation strength C is chosen among `CS` (log-spaced, 1e-3 to 1e2) by stratified K-fold
cross-validation on the training embeddings (K = `folds`, fewer when the smallest class has
fewer members; by log-loss), then the model is refit on all of them with that C.

Deterministic: the folds are contiguous (no shuffle) and lbfgs draws nothing, so the probe leaves
every random stream as it found it (the other test metrics of a run are the same with or without
it). It runs on one BLAS thread: on a busy 2-core CPU two threads made the cross-validation many
times slower. A C whose fit has not converged in `max_iter` lbfgs steps is scored as it stands
(scikit-learn's ConvergenceWarning is silenced). On the default toy run (10,000 2-D embeddings,
5 classes) it takes ≈ 0.2 s; 80-D embeddings of 10 classes ≈ 10-30 s on the 2-core CPU.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

CS = tuple(np.logspace(-3, 2, 6).tolist())  # the candidate C values (standardised features)


def _numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """train and test scaled by the training columns' mean and std (std 0 counts as 1)."""
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std


def probe_accuracy(train_z, train_y, test_z, test_y, folds: int = 5, max_iter: int = 200) -> float:
    """Test accuracy of the cross-validated logistic regression fit on (train_z, train_y).

    train_z [N, ...], test_z [M, ...]: embeddings (tensors or arrays, flattened per row);
    train_y [N], test_y [M]: integer labels. A test label never seen in training counts as wrong.
    ValueError when the lengths differ or the training labels hold fewer than 2 classes.
    """
    train_z = _numpy(train_z).reshape(len(train_z), -1).astype(np.float64)
    test_z = _numpy(test_z).reshape(len(test_z), -1).astype(np.float64)
    train_y, test_y = _numpy(train_y).ravel(), _numpy(test_y).ravel()
    if len(train_z) != len(train_y) or len(test_z) != len(test_y):
        raise ValueError("embeddings and labels must have the same length")
    classes, counts = np.unique(train_y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"the probe needs at least 2 classes in its training labels, got {len(classes)}")
    if len(test_z) == 0:
        raise ValueError("the probe needs at least one test embedding")
    train_z, test_z = standardize(train_z, test_z)
    splits = max(2, min(folds, int(counts.min())))
    classifier = LogisticRegressionCV(
        Cs=list(CS),
        cv=StratifiedKFold(splits),
        scoring="neg_log_loss",
        l1_ratios=(0.0,),
        max_iter=max_iter,
        use_legacy_attributes=False,
    )
    with threadpool_limits(1), warnings.catch_warnings():
        # lbfgs short of convergence at some C, and folds where a rare class is missing
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        warnings.filterwarnings("ignore", message=".*(y_pred|y_true) contains classes not in.*")
        classifier.fit(train_z, train_y)
    return float(np.mean(classifier.predict(test_z) == test_y))

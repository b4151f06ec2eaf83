"""The toy Gaussian mixture data (spec §4, the reference's `toy4`).

Five equal-weight components with isotropic std 0.25. In 2-D the means are the origin and
four points on the unit circle at angles 2πi/5, i = 0..3. In higher dimension the first two
coordinates are the same and every extra coordinate of component i is `separation`·i
(components 20 apart per extra dimension by default). The label is the component.
Training data are drawn afresh every epoch; validation and test sets are drawn once,
independently, from `data_seed` (the same for every run, so models share a test set).
"""

from __future__ import annotations

import math

import torch

from mim.data.batches import TensorDataModule, Tensors, check_sizes, seeded

COMPONENTS = 5
EVAL_SEED_BASE = 2**40  # keeps fixed-set seeds apart from per-epoch training seeds


def gmm_means(x_dim: int, separation: float = 20.0) -> torch.Tensor:
    if x_dim < 2:
        raise ValueError(f"data.x_dim must be at least 2, got {x_dim!r}")
    angles = torch.tensor([2 * math.pi * i / COMPONENTS for i in range(COMPONENTS - 1)],
                          dtype=torch.float64)
    means = torch.zeros(COMPONENTS, x_dim, dtype=torch.float64)
    means[1:, 0], means[1:, 1] = torch.cos(angles), torch.sin(angles)
    means[:, 2:] = separation * torch.arange(COMPONENTS, dtype=torch.float64)[:, None]
    return means.float()


def sample_gmm(n: int, means: torch.Tensor, std: float, generator: torch.Generator) -> Tensors:
    """n points and their component labels, in one tensor operation."""
    labels = torch.randint(means.shape[0], (n,), generator=generator)
    x = means[labels] + std * torch.randn(n, means.shape[1], generator=generator)
    return x, labels


class GMMDataModule(TensorDataModule):
    def __init__(self, x_dim: int = 2, n_train: int = 10000, n_val: int = 10000,
                 n_test: int = 10000, std: float = 0.25, separation: float = 20.0,
                 batch_size: int = 128, eval_batch_size: int = 10000, data_seed: int = 0,
                 seed: int = 1):
        super().__init__(batch_size, eval_batch_size, seed)
        check_sizes(x_dim=x_dim, n_train=n_train, n_val=n_val, n_test=n_test)
        if not std > 0:
            raise ValueError(f"data.std must be positive, got {std!r}")
        self.x_shape = (x_dim,)
        self.means = gmm_means(x_dim, separation)
        self.std = std
        self._n_train = n_train
        self.val = sample_gmm(n_val, self.means, std, seeded(EVAL_SEED_BASE + 3 * data_seed))
        self.test = sample_gmm(n_test, self.means, std, seeded(EVAL_SEED_BASE + 3 * data_seed + 1))
        self._fixed = sample_gmm(n_train, self.means, std, seeded(EVAL_SEED_BASE + 3 * data_seed + 2))

    @property
    def n_train(self) -> int:
        return self._n_train

    def train_epoch(self, epoch: int) -> Tensors:
        return sample_gmm(self._n_train, self.means, self.std, seeded(self.seed * 1_000_003 + epoch))

    def train_fixed(self) -> Tensors:
        return self._fixed

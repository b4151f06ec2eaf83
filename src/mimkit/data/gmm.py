"""The toy Gaussian mixture data (docs/maths.md §4, the reference's `toy4`).

Five equal-weight components with isotropic std 0.25. In 2-D the means are the origin and
four points on the unit circle at angles 2πi/5, i = 0..3. In higher dimension the first two
coordinates are the same and the extra ones follow the reference code: the 5·D values of
linspace(-2.5·s, 2.5·s) (s = `separation` = 20) laid out row by row, component i taking row i,
so neighbouring components are ≈ s apart in every extra coordinate and the data are centred.
The label is the component.
`standardize=True` maps every coordinate to zero mean and unit variance under the mixture (an
exact affine map from the known means and std, the same for every split): the 20-D layout spans
±50, which a tanh MLP trained by the reference protocol cannot reach (see docs/results).
`binary=True` serves 1[x > 0] per coordinate (after any standardisation), binary data for the
Bernoulli decoder (`model=mlp_bernoulli`).
Training data are drawn afresh every epoch; validation and test sets are drawn once,
independently, from `data_seed` (the same for every run, so models share a test set).
"""

from __future__ import annotations

import math
from typing import Annotated

import torch
from pydantic import Field, Strict

from mimkit.data.batches import EVAL_SEED_BASE, TensorDataModule, Tensors, epoch_generator, seeded
from mimkit.fields import NonNegativeInt, PositiveInt, PositiveNumber

COMPONENTS = 5


def gmm_means(x_dim: int, separation: float = 20.0) -> torch.Tensor:
    angles = torch.tensor([2 * math.pi * i / COMPONENTS for i in range(COMPONENTS - 1)], dtype=torch.float64)
    means = torch.zeros(COMPONENTS, x_dim, dtype=torch.float64)
    means[1:, 0], means[1:, 1] = torch.cos(angles), torch.sin(angles)
    # the reference's layout: all K·D coordinates on one even grid over ±separation·K/2, read
    # row by row, so a component's extra coordinates sit `separation` (≈) from its neighbours'
    half = separation * COMPONENTS / 2
    grid = torch.linspace(-half, half, COMPONENTS * x_dim, dtype=torch.float64).view(COMPONENTS, x_dim)
    means[:, 2:] = grid[:, 2:]
    return means.float()


def sample_gmm(n: int, means: torch.Tensor, std: float, generator: torch.Generator) -> Tensors:
    """n points and their component labels, in one tensor operation."""
    labels = torch.randint(means.shape[0], (n,), generator=generator)
    x = means[labels] + std * torch.randn(n, means.shape[1], generator=generator)
    return x, labels


class GMMDataModule(TensorDataModule):
    def __init__(
        self,
        x_dim: Annotated[int, Strict(), Field(ge=2)] = 2,
        n_train: PositiveInt = 10000,
        n_val: PositiveInt = 10000,
        n_test: PositiveInt = 10000,
        std: PositiveNumber = 0.25,
        separation: PositiveNumber = 20.0,
        batch_size: PositiveInt = 128,
        eval_batch_size: PositiveInt = 10000,
        data_seed: NonNegativeInt = 0,
        seed: NonNegativeInt = 1,
        standardize: bool = False,
        binary: bool = False,
    ):
        super().__init__(batch_size, eval_batch_size, seed)
        self.x_shape = (x_dim,)
        self.means = gmm_means(x_dim, separation)
        self.std = std
        self._n_train = n_train
        if standardize:  # the mixture's exact per-coordinate mean and std
            self.shift = self.means.mean(0)
            self.scale = (std**2 + self.means.var(0, unbiased=False)).sqrt()
        else:
            self.shift, self.scale = torch.zeros(x_dim), torch.ones(x_dim)
        self._n_val, self._n_test, self.data_seed = n_val, n_test, data_seed
        self.binary = binary

    def load(self) -> None:
        """Draw the validation, test and fixed training sets (from `data_seed`)."""
        base = EVAL_SEED_BASE + 3 * self.data_seed
        self._val = self._draw(self._n_val, seeded(base))
        self._test = self._draw(self._n_test, seeded(base + 1))
        self._fixed = self._draw(self._n_train, seeded(base + 2))

    def _draw(self, n: int, generator: torch.Generator) -> Tensors:
        x, labels = sample_gmm(n, self.means, self.std, generator)
        x = (x - self.shift) / self.scale
        return ((x > 0).float() if self.binary else x), labels

    @property
    def n_train(self) -> int:
        return self._n_train

    def train_epoch(self, epoch: int) -> Tensors:
        return self._draw(self._n_train, epoch_generator(self.seed, epoch))

    def train_fixed(self) -> Tensors:
        return self.ready()._fixed

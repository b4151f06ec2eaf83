"""The VampPrior (docs/maths.md §5): p(z) = (1/K) sum_k q(z | u_k) over K learnable pseudo-inputs.

u_k = act(W e_k): a learnable matrix read column by column, with `hardtanh` into [0, 1] for
image data or no activation for real-valued data. The encoder is the model's own q(z|x),
held by reference (not as a sub-module, so its weights appear once in the state dict).
In eval mode without gradients the K encoded components are computed once and cached; the cache
is keyed on the device, dtype, storage and version counter of every tensor it was computed from,
so a device or dtype move (`.to`, `.cuda`, `.double`), a state-dict load or any in-place update
of the pseudo-inputs or the encoder rebuilds it.
`log_prob` takes the rows of z in chunks of bounded size (`mimkit.model.priors.chunked`).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mimkit.fields import NonNegativeNumber, Number, PositiveInt
from mimkit.model.distributions import DiagonalGaussian
from mimkit.model.priors.chunked import MAX_ELEMENTS, over_row_chunks, rows_per_chunk

# the pseudo-inputs u_k = act(W e_k): none (real-valued data) or hardtanh into [0, 1] (images)
Activation = Literal["none", "hardtanh"]
# W drawn from N(init_mean, init_std²) (random) or the first K training points plus noise (data)
Init = Literal["random", "data"]


class VampPrior(nn.Module):
    encoder: nn.Module  # the model's encoder: a reference, not a sub-module

    def __init__(
        self,
        latent_dim: int,
        encoder: nn.Module,
        pseudo_inputs: PositiveInt = 500,
        x_shape: list[PositiveInt] | None = None,
        activation: Activation = "none",
        init_mean: Number = 0.0,
        init_std: NonNegativeNumber = 1.0,
        init: Init = "random",
    ):
        super().__init__()
        if encoder is None:
            raise ValueError("the VampPrior needs the model's encoder")
        self.init = init
        self.init_std = init_std
        self.latent_dim = latent_dim
        self.x_shape = tuple(x_shape or getattr(encoder, "x_shape", None) or (encoder.in_dim,))
        self.activation = activation
        self.__dict__["encoder"] = encoder  # a reference, not a sub-module
        self.pseudo_weights = nn.Parameter(
            init_mean + init_std * torch.randn(pseudo_inputs, math.prod(self.x_shape))
        )
        self._cache: tuple[tuple, DiagonalGaussian] | None = None

    @torch.no_grad()
    def initialise_from(self, x: torch.Tensor) -> None:
        """u_k = x_k + N(0, init_std²) noise from the first K training points (prior.init=data);
        cycles through x when it has fewer than K points."""
        k = self.pseudo_weights.shape[0]
        rows = x.reshape(len(x), -1)[torch.arange(k) % len(x)].to(self.pseudo_weights)
        self.pseudo_weights.copy_(rows + self.init_std * torch.randn_like(rows))

    def pseudo_inputs(self) -> torch.Tensor:
        u = self.pseudo_weights.view(-1, *self.x_shape)
        return F.hardtanh(u, 0.0, 1.0) if self.activation == "hardtanh" else u

    def _sources(self) -> tuple:
        """What the components are computed from: every tensor's place, type and version."""
        tensors = [self.pseudo_weights, *self.encoder.parameters(), *self.encoder.buffers()]
        return tuple((t.device, t.dtype, t.data_ptr(), t._version) for t in tensors)

    def _components(self) -> DiagonalGaussian:
        if self.training or torch.is_grad_enabled():
            self._cache = None
            return self.encoder(self.pseudo_inputs())
        key = self._sources()
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.encoder(self.pseudo_inputs()))
        return self._cache[1]

    def train(self, mode: bool = True):
        self._cache = None  # training recomputes the components at every call: none kept
        return super().train(mode)

    def log_prob(self, z: torch.Tensor, max_elements: int = MAX_ELEMENTS) -> torch.Tensor:
        """log p(z) for z [..., D]; at most `max_elements` numbers per [rows, K, D] intermediate."""
        components = self._components()

        def mixture(rows: torch.Tensor) -> torch.Tensor:
            per_component = components.log_prob(rows.unsqueeze(-2))  # [..., K]
            return torch.logsumexp(per_component, dim=-1) - math.log(per_component.shape[-1])

        per_row = self.pseudo_weights.shape[0] * z.shape[-1]
        return over_row_chunks(mixture, z, rows_per_chunk(max_elements, per_row))

    def sample(self, n: int) -> torch.Tensor:
        components = self._components()
        k = torch.randint(components.mean.shape[0], (n,), device=components.mean.device)
        return DiagonalGaussian(components.mean[k], components.std[k]).rsample()

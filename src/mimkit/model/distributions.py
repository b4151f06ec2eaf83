"""Small, fast distribution objects returned by encoders, decoders and priors (docs/maths.md §1).

They follow the `torch.distributions` vocabulary (`log_prob`, `rsample`, `sample`, `mean`)
but sum the log-density over all event dimensions, so `log_prob` of a batch `[B, ...]`
is a vector `[B]`. Leading sample dimensions broadcast: `log_prob` of `[S, B, ...]` is `[S, B]`.

`log_prob` validates nothing: a check of the targets on every call would read a flag back from
the device each time (a host-device sync per decoder pass, ≈100k in one S = 5000 image NLL). The
data of a model whose decoder is Bernoulli are checked once, at start-up, by `check_binary`
(a Bernoulli log-likelihood of non-binary x is unbounded above).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2.0 * math.pi)
HALF_PRECISION = (torch.bfloat16, torch.float16)


def full_precision(t: torch.Tensor) -> torch.Tensor:
    """fp32 for a half-precision tensor, anything else unchanged: under mixed precision
    (`trainer.precision=bf16-mixed`) the networks run in bf16 but every log-density, sample and
    logsumexp is computed in fp32 (float64 stays float64)."""
    return t.float() if t.dtype in HALF_PRECISION else t


class DiagonalGaussian:
    """N(mean, diag(std^2)) over the last `event_dims` dimensions (reparameterisable)."""

    has_rsample = True

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, event_dims: int = 1):
        self.mean = full_precision(mean)
        self.std = full_precision(std)
        self.event_dims = event_dims

    def rsample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        shape = torch.Size(sample_shape) + self.mean.shape
        eps = torch.randn(shape, dtype=self.mean.dtype, device=self.mean.device)
        return self.mean + self.std * eps

    def sample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        z = (value - self.mean) / self.std
        elementwise = -0.5 * z.pow(2) - torch.log(self.std) - 0.5 * LOG_2PI
        return elementwise.flatten(start_dim=elementwise.dim() - self.event_dims).sum(-1)


class Bernoulli:
    """Independent Bernoulli over the last `event_dims` dimensions, parameterised by logits.

    Not reparameterisable: objectives that sample x from it use a score-function estimator.
    """

    has_rsample = False

    def __init__(self, logits: torch.Tensor, event_dims: int = 1):
        self.logits = full_precision(logits)
        self.event_dims = event_dims

    @property
    def mean(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    def sample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        with torch.no_grad():
            probs = self.mean.expand(torch.Size(sample_shape) + self.logits.shape)
            return torch.bernoulli(probs)

    def rsample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        raise NotImplementedError("a Bernoulli sample cannot be reparameterised; use sample()")

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log p(value), for binary `value` (not checked here: see the module docstring)."""
        logits, value = torch.broadcast_tensors(self.logits, value)
        elementwise = -F.binary_cross_entropy_with_logits(logits, value, reduction="none")
        return elementwise.flatten(start_dim=elementwise.dim() - self.event_dims).sum(-1)


def check_binary(x: torch.Tensor, what: str) -> None:
    """ValueError naming `what` unless every value of x is 0 or 1 (run once per data set)."""
    if not ((x == 0) | (x == 1)).all():
        raise ValueError(
            f"{what} holds values other than 0 and 1 (in [{x.min().item():.4g}, {x.max().item():.4g}]), "
            "but the model's Bernoulli decoder p(x|z) needs binary data (model=mlp_bernoulli is for "
            "binary data, e.g. data=gmm2d data.binary=true; the image models for the binarised image sets)"
        )


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last dimension: the latent anchor P(z) (docs/maths.md §1)."""
    return -0.5 * (z.pow(2).sum(-1) + z.shape[-1] * LOG_2PI)

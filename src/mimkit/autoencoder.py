"""The probabilistic auto-encoder shared by every objective: q(z|x), p(x|z) and p(z).

A small researcher-facing API in the style of pythae: `embed`, `reconstruct`, `sample`, `nll`.
Objectives (VAE, MIM, A-MIM) own only the loss; they read the three components from here.
"""

from __future__ import annotations

import contextlib

import torch
from hydra.utils import instantiate
from torch import nn

from mimkit.marginal import chunked_log_marginal
from mimkit.priors.two_level import TwoLevelPrior


class Autoencoder(nn.Module):
    def __init__(self, encoder: nn.Module, decoder: nn.Module, prior: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.prior = prior

    @property
    def latent_dim(self) -> int:
        return self.prior.latent_dim

    @torch.no_grad()
    def embed(self, x: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """z for x: the posterior mean, or one draw z ~ q(z|x) if `sample`."""
        posterior = self.encoder(x)
        return posterior.sample() if sample else posterior.mean

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, sample: bool = True) -> torch.Tensor:
        """x' ~ p(x | z), z ~ q(z|x) (spec §3), or the chain of means if not `sample`."""
        posterior = self.encoder(x)
        z = posterior.sample() if sample else posterior.mean
        likelihood = self.decoder(z)
        return likelihood.sample() if sample else likelihood.mean

    @torch.no_grad()
    def sample(self, n: int, from_prior: bool = True, mean: bool = False) -> torch.Tensor:
        """x ~ p(x|z) with z ~ p(z) (the model prior) or, if not `from_prior`, z ~ N(0, I)."""
        if from_prior:
            z = self.prior.sample(n)
        else:
            anchor = next(self.parameters())
            z = torch.randn(n, self.latent_dim, dtype=anchor.dtype, device=anchor.device)
        likelihood = self.decoder(z)
        return likelihood.mean if mean else likelihood.sample()

    @torch.no_grad()
    def nll(self, x: torch.Tensor, samples: int = 1000, chunk: int = 1000) -> torch.Tensor:
        """-log q(x) per example by importance sampling with S = `samples` (spec §3).

        Samples are drawn `chunk` at a time and combined exactly by logsumexp; all x of the
        batch are scored in each pass. Runs in eval mode (BatchNorm running statistics, the
        VampPrior's cached components); the modules' modes are restored afterwards.
        """
        with eval_mode(self):
            return -chunked_log_marginal(self, x, samples, chunk)


@contextlib.contextmanager
def eval_mode(module: nn.Module):
    """`module` and all its sub-modules in eval mode inside the block; every module's own mode
    is restored afterwards. A module already wholly in eval mode is left untouched (so a
    VampPrior keeps the components it has cached)."""
    modes = [(m, m.training) for m in module.modules()]
    if not any(mode for _, mode in modes):
        yield module
        return
    module.eval()
    try:
        yield module
    finally:
        for m, mode in modes:  # parents before children: each ends in its own recorded mode
            m.train(mode)


def build_autoencoder(model: dict, prior: dict) -> Autoencoder:
    """Build from plain config dicts (`_target_` entries), as stored in checkpoints.

    A model with a `conditional_prior` has two-level latents z = [z1, z2] (spec §1): the
    configured prior acts on z2 (a VampPrior encodes its pseudo-inputs with `encoder.top`,
    q(z2|x)) and p(z) = p(z2) p(z1|z2). Otherwise the prior acts on the whole latent.
    """
    encoder = instantiate(model["encoder"])
    decoder = instantiate(model["decoder"])
    conditional = model.get("conditional_prior")
    if conditional is None:
        return Autoencoder(
            encoder, decoder, instantiate(prior, latent_dim=model["latent_dim"], encoder=encoder)
        )
    top = instantiate(prior, latent_dim=model["z2_dim"], encoder=encoder.top)
    return Autoencoder(encoder, decoder, TwoLevelPrior(top, instantiate(conditional)))

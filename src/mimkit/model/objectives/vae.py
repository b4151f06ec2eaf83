"""The β-VAE loss (docs/maths.md §2): L = -E[log p(x|z) + β (log p(z) - log q(z|x))], z ~ q(z|x)."""

from __future__ import annotations

import torch

from mimkit.fields import PositiveNumber


def vae_pair_loss(
    log_px_z: torch.Tensor, log_pz: torch.Tensor, log_qz_x: torch.Tensor, beta: float
) -> torch.Tensor:
    """Per-pair negative ELBO with a one-sample Monte-Carlo KL, β-weighted."""
    return -(log_px_z + beta * (log_pz - log_qz_x))


class VAE:
    """Encoder pairs only: x from the data, z ~ q(z|x) reparameterised. `kl_weight` scales the
    warm-up's β throughout, validation included (the MOSES VAE's KL weight ends at 0.05); 1 is
    the plain VAE."""

    def __init__(self, kl_weight: PositiveNumber = 1.0):
        self.kl_weight = kl_weight

    def __call__(self, model, x: torch.Tensor, beta: float) -> dict[str, torch.Tensor]:
        posterior = model.encoder(x)
        z = posterior.rsample()
        log_px_z = model.decoder(z).log_prob(x)
        log_pz = model.prior.log_prob(z)
        log_qz_x = posterior.log_prob(z)
        loss = vae_pair_loss(log_px_z, log_pz, log_qz_x, beta * self.kl_weight).mean()
        return {"loss": loss, "log_px_z": log_px_z.mean().detach(), "kl": (log_qz_x - log_pz).mean().detach()}

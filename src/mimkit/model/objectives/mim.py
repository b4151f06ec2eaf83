"""The MIM loss (docs/maths.md §2, paper Eq. 9/15) and its asymmetric variant A-MIM.

Per pair:  ℓ(x, z) = -½ [log p(x|z) + log p(z) + β (log q(z|x) + log q(x))],
averaged over pairs from the sample mixture M_S = ½ (M_Q + M_P): for a batch of B data
points, B encoder pairs (x from data, z ~ q(z|x)) and B decoder pairs (z ~ P(z) = N(0, I),
x ~ p(x|z)). A-MIM uses the encoder pairs only.

q(x) is the decoder marginal E[p(x|z)] under the latent density the decoder pairs draw z from
(`decoder_z`): the anchor N(0, I) or the model prior p(z). Encoder and decoder pairs estimate that
one q(x) (Algorithm 2): encoder pairs by importance sampling with proposals from q(z|x), decoder
pairs by log p(x|z) at their own z, or by re-encoding x. Decoder pairs are scored by the
distribution they were drawn from: a decoder with BatchNorm (PixelHVAE) draws and scores them
with its running statistics (docs/decisions/symmetric-mim-images.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from mimkit.fields import PositiveInt
from mimkit.model.distributions import standard_normal_log_prob
from mimkit.model.marginal import sample_log_marginal
from mimkit.model.nets.batchnorm import running_statistics
from mimkit.model.objectives.score_function import score_function_surrogate
from mimkit.model.priors.standard import StandardNormalPrior

DecoderQx = Literal["prior_sample", "reencode"]
DecoderZ = Literal["anchor", "prior", "prior_rsample"]


def mim_pair_loss(
    log_px_z: torch.Tensor, log_pz: torch.Tensor, log_qz_x: torch.Tensor, log_qx: torch.Tensor, beta: float
) -> torch.Tensor:
    """ℓ(x, z) of paper Eq. 15, β-weighted."""
    return -0.5 * (log_px_z + log_pz + beta * (log_qz_x + log_qx))


class MIM:
    """Symmetric MIM (`symmetric=True`) or A-MIM (`symmetric=False`).

    qx_samples, qx_fresh: encoder pairs estimate log q(x) with `qx_samples` proposals
        z' ~ q(z|x). The paper's default (1, False) reuses the pair's own z, so log q(z|x)
        cancels and the pair's loss is -(1+β)/2 [log p(x|z) + log p(z)]; `qx_fresh=True` or
        qx_samples > 1 draws fresh proposals (a tighter estimate, with logsumexp).
    decoder_qx: for decoder pairs, "prior_sample" takes log q(x) ≈ log p(x|z) at the pair's own
        z, drawn from the marginal's latent density (the paper's one-sample estimate, biased
        upwards by I(x; z) in expectation because z generated x); "reencode" re-encodes x and
        importance-samples with `qx_samples` proposals from q(z|x) (consistent; the authors' 2020
        code).
    decoder_z: where decoder pairs draw z, and with it which marginal q(x) is: "anchor", the
        latent anchor P(z) = N(0, I), with q(x) = E_{N(0, I)}[p(x|z)] (docs/maths.md §1, the toy code);
        "prior", the model prior p(z) as a fixed draw (no gradient into the prior through it),
        with q(x) = E_{p(z)}[p(x|z)]; "prior_rsample", the same reparameterised as in the
        authors' image code (gradients reach a VampPrior's pseudo-inputs and the encoder,
        p(z1|z2); not a mixture's component choice). The loss's own log p(z) is always the
        model prior's (docs/maths.md, "One q(x)").
    symmetric_during_warmup: if False (the reference), decoder pairs join only once β = 1.
    reinforce_baseline: leave-one-out baseline for the score-function estimator used when
        the decoder cannot be reparameterised (Bernoulli).
    x_per_z: decoder pairs draw B // x_per_z latents z and x_per_z samples x ~ p(x|z) from each
        (B pairs in all, at the same cost); with x_per_z > 1 the leave-one-out baseline is taken
        within each z's group, which removes the between-z spread of the loss from the
        score-function weight (docs/decisions/mim-binary-images.md). 1: B latents, one x each.
    """

    def __init__(
        self,
        symmetric: bool = True,
        qx_samples: PositiveInt = 1,
        qx_fresh: bool = False,
        decoder_qx: DecoderQx = "prior_sample",
        symmetric_during_warmup: bool = False,
        reinforce_baseline: bool = True,
        decoder_z: DecoderZ = "anchor",
        x_per_z: PositiveInt = 1,
    ):
        self.decoder_z = decoder_z
        self.symmetric = symmetric
        self.qx_samples = qx_samples
        self.qx_fresh = qx_fresh
        self.decoder_qx = decoder_qx
        self.symmetric_during_warmup = symmetric_during_warmup
        self.reinforce_baseline = reinforce_baseline
        self.x_per_z = x_per_z

    def qx_log_prior(self, model) -> Callable[[torch.Tensor], torch.Tensor]:
        """The latent log-density inside log q(x): the anchor's N(0, I) where symmetric MIM draws
        decoder pairs from it, else the model prior's (A-MIM's q(x), and the standard prior's
        own log_prob where the prior is the anchor itself: one computation)."""
        if self.symmetric and self.decoder_z == "anchor" and not isinstance(model.prior, StandardNormalPrior):
            return standard_normal_log_prob
        return model.prior.log_prob

    def encoder_pairs(self, model, x: torch.Tensor, beta: float):
        """Per-pair losses of the B encoder pairs and their terms {name: [B]}."""
        posterior = model.encoder(x)
        z = posterior.rsample()
        log_px_z = model.decoder(z).log_prob(x)
        log_pz = model.prior.log_prob(z)
        log_qz_x = posterior.log_prob(z)
        log_prior = self.qx_log_prior(model)
        if self.qx_samples == 1 and not self.qx_fresh:
            log_prior_z = log_pz if log_prior == model.prior.log_prob else log_prior(z)
            log_qx = log_px_z + log_prior_z - log_qz_x
        else:
            log_qx = sample_log_marginal(model, x, self.qx_samples, posterior, log_prior)
        terms = {"log_px_z": log_px_z, "log_pz": log_pz, "log_qz_x": log_qz_x, "log_qx": log_qx}
        return mim_pair_loss(log_px_z, log_pz, log_qz_x, log_qx, beta), terms

    @staticmethod
    def sample_anchor(model, n: int, like: torch.Tensor) -> torch.Tensor:
        """z ~ P(z) = N(0, I), the latent anchor, in the dtype of x (of the model for token ids)."""
        like = like if like.is_floating_point() else next(model.parameters())
        return torch.randn(n, model.latent_dim, dtype=like.dtype, device=like.device)

    def decoder_pairs(self, model, n: int, like: torch.Tensor, beta: float) -> torch.Tensor:
        """Per-pair losses of max(1, n // x_per_z) · x_per_z decoder pairs (z, x ~ p(x|z)),
        the x_per_z pairs of one z consecutive."""
        return self.decoder_pair_terms(model, n, like, beta)[0]

    def decoder_pair_terms(self, model, n: int, like: torch.Tensor, beta: float):
        """`decoder_pairs` and the pairs' terms {name: [pairs]}."""
        latents = max(1, n // self.x_per_z)
        if self.decoder_z == "anchor":
            z = self.sample_anchor(model, latents, like)
        elif self.decoder_z == "prior":
            z = model.prior.sample(latents).detach()
        else:
            z = model.prior.sample(latents)
        if self.x_per_z > 1:
            z = z.repeat_interleave(self.x_per_z, dim=0)
        likelihood = model.decoder(z)
        x = likelihood.rsample() if likelihood.has_rsample else likelihood.sample()
        log_pz = model.prior.log_prob(z)
        posterior = model.encoder(x)
        log_qz_x = posterior.log_prob(z)
        with running_statistics(model.decoder):  # the statistics x was drawn with
            log_px_z = likelihood.log_prob(x)
            if self.decoder_qx == "reencode":
                log_qx = sample_log_marginal(model, x, self.qx_samples, posterior, self.qx_log_prior(model))
            else:
                log_qx = log_px_z
        f = mim_pair_loss(log_px_z, log_pz, log_qz_x, log_qx, beta)
        if not likelihood.has_rsample:
            f = score_function_surrogate(f, log_px_z, self.reinforce_baseline, self.x_per_z)
        return f, {"log_px_z": log_px_z, "log_pz": log_pz, "log_qz_x": log_qz_x}

    def uses_decoder_pairs(self, beta: float) -> bool:
        return self.symmetric and (beta >= 1.0 or self.symmetric_during_warmup)

    def __call__(self, model, x: torch.Tensor, beta: float) -> dict[str, torch.Tensor]:
        losses, terms = self.encoder_pairs(model, x, beta)
        # the terms' means are logged (stage/log_pz, stage/decoder_log_qz_x, ...): on a dashboard
        # they show which part of the loss moves
        out = {name: value.mean().detach() for name, value in terms.items()}
        if self.uses_decoder_pairs(beta):
            decoder_losses, terms = self.decoder_pair_terms(model, x.shape[0], x, beta)
            out.update({f"decoder_{name}": value.mean().detach() for name, value in terms.items()})
            out["decoder_pair_loss"] = decoder_losses.mean().detach()
            # M_S = ½ (M_Q + M_P), whatever the two halves' pair counts
            out["loss"] = 0.5 * (losses.mean() + decoder_losses.mean())
        else:
            out["loss"] = losses.mean()
        return out

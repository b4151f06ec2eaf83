"""The probabilistic auto-encoder shared by every objective: q(z|x), p(x|z) and p(z).

A small researcher-facing API in the style of pythae: `embed`, `reconstruct`, `sample`, `nll`,
and the latent tools `decode`, `interpolate`, `traverse`, `sample_around`, `consistency` (their
maths in `mimkit.model.latent_paths`). Objectives (VAE, MIM, A-MIM) own only the loss; they read the
three components from here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import cast

import torch
from hydra.utils import instantiate
from torch import nn

from mimkit.model.latent_paths import path_points, perturbed_points, traversal_points
from mimkit.model.marginal import chunked_log_marginal
from mimkit.model.priors import Prior
from mimkit.model.priors.two_level import TwoLevelPrior
from mimkit.model.standardization import Standardization
from mimkit.seeding import seeded_draws

DEFAULT_TRAVERSAL = (-2.0, -1.0, 0.0, 1.0, 2.0)  # offsets from μ(x), in the N(0, I) prior's units


class Autoencoder(nn.Module):
    """q(z|x) `encoder`, p(x|z) `decoder`, p(z) `prior`. `standardization` (continuous data of
    your own, `mimkit.model.standardization`): the encoder's input is standardised and the decoder's
    Gaussian mapped back, so every method takes and returns x in the data's own units."""

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        prior: nn.Module,
        standardization: Standardization | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.prior = cast(Prior, prior)  # an nn.Module's attributes are typed Tensor | Module
        self.standardization = standardization
        if standardization is not None:
            standardization.attach(encoder, decoder)

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
        """x' ~ p(x | z), z ~ q(z|x) (docs/maths.md §3), or the chain of means if not `sample`."""
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
        """-log q(x) per example by importance sampling with S = `samples` (docs/maths.md §3).

        Samples are drawn `chunk` at a time and combined exactly by logsumexp; all x of the
        batch are scored in each pass. Runs in eval mode (BatchNorm running statistics, the
        VampPrior's cached components); the modules' modes are restored afterwards.
        """
        with eval_mode(self):
            return -chunked_log_marginal(self, x, samples, chunk)

    # --- latent tools ---------------------------------------------------------------------
    # All run without gradients in eval mode (modes restored afterwards). `seed`: the draws come
    # from torch's global generators seeded with it (the CPU's and, on a GPU, that device's),
    # which are then restored, so a call repeats exactly; None draws from the global streams as
    # they are. A seed rather than a torch.Generator, because the decoders' own samplers (the
    # PixelHVAE's pixel-by-pixel chain) draw from the global streams. `mean`: decode each z to the
    # mean of p(x|z) (Bernoulli: pixel probabilities; PixelHVAE: the probabilities met along one
    # drawn chain), or to one draw x ~ p(x|z) if False. `return_z`: also return the latent codes
    # that were decoded. A two-level latent z = [z1, z2] is one concatenated vector throughout.

    @torch.no_grad()
    def decode(self, z: torch.Tensor, mean: bool = True, seed: int | None = None) -> torch.Tensor:
        """x [..., *x_shape] for latent codes z [..., D]: the mean of p(x|z), or x ~ p(x|z) if not
        `mean` (leading dims flattened into one decoder batch and restored)."""
        with seeded_eval(self, seed):
            likelihood = self.decoder(z.reshape(-1, z.shape[-1]))
            x = likelihood.mean if mean else likelihood.sample()
        return x.reshape(*z.shape[:-1], *x.shape[1:])

    @torch.no_grad()
    def interpolate(
        self,
        x_a: torch.Tensor,
        x_b: torch.Tensor,
        steps: int = 10,
        path: str = "linear",
        mean: bool = True,
        seed: int | None = None,
        return_z: bool = False,
    ):
        """[B, steps, *x_shape]: for each pair (x_a[i], x_b[i]) of the batches [B, *x_shape], the
        decoded points of a path from μ(x_a[i]) to μ(x_b[i]) (posterior means; both ends
        included, at t = 0, 1/(steps − 1), ..., 1). path: `linear` (1 − t) z_a + t z_b, or
        `slerp` (along the great circle; `mimkit.model.latent_paths.slerp`). With `return_z`:
        (x, z [B, steps, D])."""
        if x_a.shape != x_b.shape:
            raise ValueError(f"x_a and x_b differ in shape: {list(x_a.shape)} and {list(x_b.shape)}")
        with seeded_eval(self, seed):
            z_a, z_b = self.encoder(torch.cat([x_a, x_b])).mean.chunk(2)
            z = path_points(z_a, z_b, steps, path)
            x = self.decode(z, mean)
        return (x, z) if return_z else x

    @torch.no_grad()
    def traverse(
        self,
        x: torch.Tensor,
        dims: Sequence[int] | None = None,
        values: Sequence[float] | torch.Tensor = DEFAULT_TRAVERSAL,
        absolute: bool = False,
        mean: bool = True,
        seed: int | None = None,
        return_z: bool = False,
    ):
        """[B, K, V, *x_shape]: for each x [B, *x_shape] and each of the K latent coordinates
        `dims` (None: all D), the decoded codes μ(x) with that one coordinate moved to
        μ_d(x) + values[v] (`absolute`: to values[v]); every other coordinate stays μ(x)'s. With
        `return_z`: (x, z [B, K, V, D])."""
        with seeded_eval(self, seed):
            centre = self.encoder(x).mean
            dims = range(centre.shape[-1]) if dims is None else list(dims)
            z = traversal_points(centre, dims, torch.as_tensor(values), absolute)
            decoded = self.decode(z, mean)
        return (decoded, z) if return_z else decoded

    @torch.no_grad()
    def sample_around(
        self,
        x: torch.Tensor,
        scale: float = 0.5,
        n: int = 16,
        mean: bool = True,
        seed: int | None = None,
        return_z: bool = False,
    ):
        """[B, n, *x_shape]: n decoded codes z = μ(x) + scale · ε, ε ~ N(0, I), around each x of
        the batch [B, *x_shape] (MolMIM's use of MIM: perturb a known point's code and decode).
        scale = 0 decodes μ(x) n times. With `return_z`: (x, z [B, n, D])."""
        with seeded_eval(self, seed):
            z = perturbed_points(self.encoder(x).mean, scale, n)
            decoded = self.decode(z, mean)
        return (decoded, z) if return_z else decoded

    @torch.no_grad()
    def consistency(
        self, x: torch.Tensor, mean: bool = False, seed: int | None = None, return_z: bool = False
    ):
        """[B]: the per-point encode → decode → re-encode distance ‖μ(x) − μ(x')‖₂ in latent
        units, x' ~ p(x | μ(x)) (`mean`: x' the mean of p(x | μ(x)) instead; for a Bernoulli
        decoder not a binary image). Small where decoding a point's code and encoding the result
        returns that code. Not `test/consistency`, the population gap R of MIM's objective
        (`mimkit.evaluation.metrics.consistency`). With `return_z`: (distance, μ(x), μ(x'))."""
        with seeded_eval(self, seed):
            z = self.encoder(x).mean
            x_prime = self.decode(z, mean).to(x.dtype)
            z_prime = self.encoder(x_prime).mean
        distance = (z - z_prime).norm(dim=-1)
        return (distance, z, z_prime) if return_z else distance


@contextlib.contextmanager
def seeded_eval(model: nn.Module, seed: int | None, device: torch.device | None = None):
    """The evaluation context: inside the block `model` is in eval mode (`eval_mode`), no
    gradients are recorded, and torch's global generators start from `seed` (`seeded_draws`: the
    CPU's and, on a GPU, that of `device`, by default the model's); afterwards every module's mode
    and both generators are back as they were. seed None: the draws come from the global streams
    as they are (and advance them)."""
    if device is None:
        anchor = next(model.parameters(), None)
        device = torch.device("cpu") if anchor is None else anchor.device
    seeded = contextlib.nullcontext() if seed is None else seeded_draws(seed, device)
    with eval_mode(model), torch.no_grad(), seeded:
        yield model


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


def build_autoencoder(
    model: dict, prior: dict, standardization: dict | None = None, vocabulary: list[str] | None = None
) -> Autoencoder:
    """Build from plain config dicts (`_target_` entries), as stored in checkpoints; the
    standardisation statistics {"shift": [...], "scale": [...]} of the data, if any; the tokens of
    sequence data (`model.tokens`: the encoder and decoder are sized by the vocabulary).

    A model with a `conditional_prior` has two-level latents z = [z1, z2] (docs/maths.md §1): the
    configured prior acts on z2 (a VampPrior encodes its pseudo-inputs with `encoder.top`,
    q(z2|x)) and p(z) = p(z2) p(z1|z2). Otherwise the prior acts on the whole latent.
    """
    sized = {"vocab_size": len(vocabulary)} if model.get("tokens") and vocabulary is not None else {}
    encoder = instantiate(model["encoder"], **sized)
    decoder = instantiate(model["decoder"], **sized)
    conditional = model.get("conditional_prior")
    if conditional is None:
        return Autoencoder(
            encoder,
            decoder,
            instantiate(prior, latent_dim=model["latent_dim"], encoder=encoder),
            Standardization.from_plain(standardization),
        )
    top = instantiate(prior, latent_dim=model["z2_dim"], encoder=encoder.top)
    return Autoencoder(encoder, decoder, TwoLevelPrior(top, instantiate(conditional)))

"""The batched, chunked IS-NLL of the two-level image models (docs/maths.md §3) against a naive estimate.

Small convHVAE / PixelHVAE-shaped models on 8×8 binary images in float64. The proposals z ~ q(z|x)
that `nll_per_example` draws are recorded per test point (or replayed from a recording), so the
estimate can be recomputed here one image at a time, all S samples in one pass, with every density
written out by hand: log p(x|z) from the decoder's logits computed as the reference computes them
(the PixelCNN with full 3×3 masked kernels, BatchNorm with its running statistics as a layer of
its own), log p(z) = log VampPrior(z2) + log p(z1|z2), log q(z|x) = log q(z2|x) + log q(z1|x, z2).
"""

from __future__ import annotations

import logging
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mimkit.app.schema import check_node
from mimkit.errors import ConfigError
from mimkit.evaluation.metrics.nll import nll_is, nll_per_example
from mimkit.model.autoencoder import Autoencoder
from mimkit.model.nets.conv_decoder import ConvDecoder
from mimkit.model.nets.conv_encoder import TwoLevelConvEncoder
from mimkit.model.nets.heads import GatedGaussianMLP
from mimkit.model.nets.pixel_decoder import PixelDecoder
from mimkit.model.priors.two_level import TwoLevelPrior
from mimkit.model.priors.vamp import VampPrior
from mimkit.model.two_level import TwoLevelGaussian

X_SHAPE = [1, 8, 8]
Z1, Z2 = 3, 2
LOG_2PI = math.log(2 * math.pi)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: these passes are tiny, and two threads on a busy 2-core machine made
    them ~100× slower (threads waiting for each other at every kernel)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_model(decoder: str) -> Autoencoder:
    """A two-level model with a VampPrior of 5 pseudo-inputs, float64, BatchNorm statistics set."""
    torch.manual_seed(0)
    encoder = TwoLevelConvEncoder(X_SHAPE, z1_dim=Z1, z2_dim=Z2, hidden=16)
    top = VampPrior(Z2, encoder.top, pseudo_inputs=5, activation="hardtanh", init_mean=0.3, init_std=0.3)
    if decoder == "conv":
        net = ConvDecoder(X_SHAPE, Z1, Z2, hidden=16, channels=8)
    else:
        net = PixelDecoder(X_SHAPE, Z1, Z2, channels=8, layers=3)
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.data.uniform_(0.5, 1.5)
                module.bias.data.uniform_(-0.3, 0.3)
    model = Autoencoder(encoder, net, TwoLevelPrior(top, GatedGaussianMLP(Z2, Z1, hidden=8)))
    return model.double().eval()


def images(n: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full((n, *X_SHAPE), 0.4, dtype=torch.float64), generator=g)


class Proposals:
    """Patches TwoLevelGaussian.rsample to record the draws of every test point in order, or,
    with `replay` (one [S, D] tensor per point), to return those instead of fresh draws.

    The IS code calls rsample((s,)) on one posterior per batch of points, several times (one per
    chunk); a new posterior object marks the next batch."""

    def __init__(self, monkeypatch, replay: list[torch.Tensor] | None = None):
        self.replay = replay
        self.recorded: list[list[torch.Tensor]] = []
        self.current, self.first, self.drawn = None, 0, 0
        original = TwoLevelGaussian.rsample

        def rsample(posterior, sample_shape=()):
            (s,) = sample_shape
            batch = posterior.top.mean.shape[0]
            if posterior is not self.current:
                if self.current is not None:
                    self.first += self.current.top.mean.shape[0]
                self.current, self.drawn = posterior, 0
            if self.replay is None:
                z = original(posterior, sample_shape)
                for b in range(batch):
                    if self.first + b == len(self.recorded):
                        self.recorded.append([])
                    self.recorded[self.first + b].append(z[:, b])
            else:
                rows = range(self.first, self.first + batch)
                z = torch.stack([self.replay[i][self.drawn : self.drawn + s] for i in rows], dim=1)
            self.drawn += s
            return z

        monkeypatch.setattr(TwoLevelGaussian, "rsample", rsample)

    def per_point(self) -> list[torch.Tensor]:
        return [torch.cat(parts) for parts in self.recorded]


def gaussian_log_prob(v, mean, std):
    return (-0.5 * ((v - mean) / std) ** 2 - torch.log(std) - 0.5 * LOG_2PI).sum(-1)


def plain_logits(decoder, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The decoder's logits for rows z [S, D], x [S, C, H, W], the reference's way."""
    if isinstance(decoder, ConvDecoder):
        return decoder(z).logits
    h = torch.cat([x, decoder.maps(z)], dim=1)
    for conv, norm in decoder.blocks():
        h = F.conv2d(h, conv.weight * conv.mask, conv.bias, padding=1)
        h = F.batch_norm(
            h, norm.running_mean, norm.running_var, norm.weight, norm.bias, training=False, eps=norm.eps
        )
        h = F.relu(h)
    return decoder.out(h)


@torch.no_grad()
def naive_nll(model, x: torch.Tensor, z: torch.Tensor) -> float:
    """−log q(x) for one image x [C, H, W] from its proposals z [S, D], in one pass."""
    s = len(z)
    z1, z2 = z[:, :Z1], z[:, Z1:]
    xs = x.expand(s, *x.shape)
    logits = plain_logits(model.decoder, xs, z)
    log_px = (xs * logits - F.softplus(logits)).flatten(1).sum(1)
    # log p(z2): the mixture of the K encoded pseudo-inputs; log p(z1 | z2): the conditional
    components = model.encoder.top(model.prior.top.pseudo_inputs())
    per_k = gaussian_log_prob(z2[:, None], components.mean, components.std)  # [S, K]
    log_pz2 = torch.logsumexp(per_k, 1) - math.log(per_k.shape[1])
    conditional = model.prior.conditional(z2)
    log_pz = log_pz2 + gaussian_log_prob(z1, conditional.mean, conditional.std)
    # log q(z|x) = log q(z2|x) + log q(z1|x, z2), this image alone
    top = model.encoder.top(x[None])
    bottom = model.encoder.bottom(model.encoder.x_features(x[None]), z2)
    log_q = gaussian_log_prob(z2, top.mean, top.std) + gaussian_log_prob(z1, bottom.mean, bottom.std)
    log_w = log_px + log_pz - log_q
    return float(torch.logsumexp(log_w, 0) * -1 + math.log(s))


@pytest.mark.parametrize("decoder", ["conv", "pixel"])
def test_batched_chunked_estimate_equals_a_naive_one_image_at_a_time(monkeypatch, decoder):
    model, x = small_model(decoder), images(5)
    proposals = Proposals(monkeypatch)
    torch.manual_seed(2)
    # 2 images per pass, 9 rows per pass: chunks of 4 + 4 + 4 + ... samples, the last batch alone
    got = nll_per_example(model, x, samples=37, batch_size=2, max_pairs=9)
    z = proposals.per_point()
    assert [len(zi) for zi in z] == [37] * 5
    expected = torch.tensor([naive_nll(model, xi, zi) for xi, zi in zip(x, z)], dtype=torch.float64)
    assert torch.allclose(got, expected, rtol=0, atol=1e-9)
    assert got.std() > 0.1  # the images' estimates differ: nothing is mixed up between them


@pytest.mark.parametrize("decoder", ["conv", "pixel"])
def test_the_estimate_does_not_depend_on_the_chunks(monkeypatch, decoder):
    model, x = small_model(decoder), images(5, seed=3)
    recording = Proposals(monkeypatch)
    torch.manual_seed(4)
    one_pass = nll_per_example(model, x, samples=24, batch_size=5, max_pairs=10**6)
    z = recording.per_point()
    for batch_size, max_pairs in ((1, 1), (2, 7), (3, 24), (5, 11), (4, 2)):
        Proposals(monkeypatch, replay=z)
        chunked = nll_per_example(model, x, samples=24, batch_size=batch_size, max_pairs=max_pairs)
        assert torch.allclose(chunked, one_pass, rtol=0, atol=1e-10), (batch_size, max_pairs)


def test_pixel_nll_uses_batchnorm_running_statistics_and_restores_the_modes(monkeypatch):
    model, x = small_model("pixel"), images(4, seed=5)
    model.train()  # as during training: batch statistics
    recording = Proposals(monkeypatch)
    torch.manual_seed(6)
    got = nll_per_example(model, x, samples=16, batch_size=4)
    assert all(m.training for m in model.modules())  # the caller's modes are back
    z = recording.per_point()
    expected = torch.tensor([naive_nll(model, xi, zi) for xi, zi in zip(x, z)], dtype=torch.float64)
    assert torch.allclose(got, expected, rtol=0, atol=1e-9)
    # scored alone, each image gets the same number (batch statistics would tie it to the others)
    Proposals(monkeypatch, replay=z)
    alone = nll_per_example(model, x, samples=16, batch_size=1)
    assert torch.allclose(alone, got, rtol=0, atol=1e-10)
    # the Autoencoder API too
    Proposals(monkeypatch, replay=z)
    assert torch.allclose(model.nll(x, samples=16, chunk=5), got, rtol=0, atol=1e-10)
    # (the check has teeth: train-mode BatchNorm would give other logits)
    with torch.no_grad():
        batch_stats = model.decoder.logits(x, model.decoder.maps(z[0][:4]))
        model.decoder.eval()
        running = model.decoder.logits(x, model.decoder.maps(z[0][:4]))
    assert (batch_stats - running).abs().max() > 0.1


def test_vampprior_components_are_encoded_once_per_estimate(monkeypatch):
    model, x = small_model("conv"), images(6, seed=7)
    model.train()
    calls = []
    pseudo_inputs = model.prior.top.pseudo_inputs
    monkeypatch.setattr(model.prior.top, "pseudo_inputs", lambda: calls.append(1) or pseudo_inputs())
    nll_per_example(model, x, samples=20, batch_size=2, max_pairs=8)  # 3 batches × 7 passes
    assert len(calls) == 1
    assert model.prior.top._cache is None  # back in training mode: nothing stale kept


def test_rows_per_pass_stay_within_max_pairs(monkeypatch):
    model, x = small_model("conv"), images(7, seed=8)
    rows = []
    decode = model.decoder.forward
    monkeypatch.setattr(model.decoder, "forward", lambda z: rows.append(z.shape[:-1].numel()) or decode(z))
    nll_per_example(model, x, samples=30, batch_size=32, max_pairs=12)
    assert max(rows) <= 12 and sum(rows) == 7 * 30


def test_long_estimates_report_progress_and_short_ones_stay_quiet(caplog):
    model, x = small_model("conv"), images(3, seed=9)
    with caplog.at_level(logging.INFO, logger="mimkit.evaluation.metrics.nll"):
        nll_is(model, x, samples=8, batch_size=1)
        assert not caplog.records
        nll_is(model, x, samples=8, batch_size=1, max_pairs=4, progress_every=0.0)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 * 2 + 1  # every pass, then the total
    assert "1/3 test points" in lines[2] and "left" in lines[2]
    assert "3 test points in" in lines[-1]


@pytest.mark.parametrize("decoder", ["conv", "pixel"])
def test_bf16_nll_option_runs_the_networks_in_bf16_and_stays_close(decoder):
    from mimkit.evaluation.callbacks.representation import RepresentationMetrics

    model, x = small_model(decoder).float(), images(6).float()
    settings = dict(mi_pairs=6, nll_samples=20, consistency_pairs=2, consistency_samples=2, encode_batch=6)
    fp32 = RepresentationMetrics(**settings).compute(model, (x, None))
    bf16 = RepresentationMetrics(**settings, nll_precision="bf16").compute(model, (x, None))
    assert bf16["test/nll_bf16"] == 1 and "test/nll_bf16" not in fp32
    assert bf16["test/nll"] != fp32["test/nll"]  # the same draws (seeded), other arithmetic
    assert bf16["test/nll"] == pytest.approx(fp32["test/nll"], rel=0.01)
    assert bf16["test/mi"] == fp32["test/mi"]  # only the NLL passes change precision
    with pytest.raises(ConfigError, match=r"nll_precision must be '32', 'bf16' or 32, got 'fp16'"):
        check_node(
            "metrics",
            {
                "_target_": "mimkit.evaluation.callbacks.representation.RepresentationMetrics",
                "nll_precision": "fp16",
            },
        )

"""The image models (docs/maths.md §5): sizes against the VampPrior reference, masks, the PixelCNN's
causality, its sampler against its likelihood, two-level densities against closed forms."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mimkit.app.schema import check_node
from mimkit.errors import ConfigError
from mimkit.model.autoencoder import Autoencoder
from mimkit.model.distributions import DiagonalGaussian
from mimkit.model.nets.conv_decoder import ConvDecoder
from mimkit.model.nets.conv_encoder import TwoLevelConvEncoder
from mimkit.model.nets.gated import GatedConv2d, GatedDense
from mimkit.model.nets.heads import GatedGaussianMLP
from mimkit.model.nets.masked import MaskedConv2d, raster_mask
from mimkit.model.nets.pixel_decoder import PixelDecoder
from mimkit.model.priors.standard import StandardNormalPrior
from mimkit.model.priors.two_level import TwoLevelPrior
from mimkit.model.priors.vamp import VampPrior
from mimkit.model.two_level import TwoLevelGaussian
from mimkit.training.gradients import normalize_per_tensor

X_SHAPE = [1, 28, 28]
C = 0.5 * math.log(2 * math.pi)


def normal_log_prob(v, mean, std):
    return -0.5 * ((v - mean) / std) ** 2 - math.log(std) - C


def two_level_model(decoder_cls, pseudo_inputs=500):
    encoder = TwoLevelConvEncoder(X_SHAPE)
    top = VampPrior(
        40, encoder.top, pseudo_inputs=pseudo_inputs, activation="hardtanh", init_mean=0.05, init_std=0.01
    )
    return Autoencoder(encoder, decoder_cls(X_SHAPE), TwoLevelPrior(top, GatedGaussianMLP(40, 40)))


@pytest.mark.parametrize("decoder_cls, reference", [(ConvDecoder, 2_602_861), (PixelDecoder, 1_777_821)])
def test_parameter_counts_equal_the_vampprior_references(decoder_cls, reference):
    # docs/performance.md, "Reference measurements": convHVAE and PixelHVAE with K = 500 pseudo-inputs
    model = two_level_model(decoder_cls)
    assert sum(p.numel() for p in model.parameters()) == reference


def test_raster_masks():
    assert raster_mask(3, "A").tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert raster_mask(3, "B").tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match="mask_type"):
        raster_mask(3, "C")


def test_gated_layers_by_hand():
    dense = GatedDense(1, 1)
    with torch.no_grad():
        dense.linear.weight.copy_(torch.tensor([[2.0], [0.0]]))  # h = 2x, g = 0
        dense.linear.bias.zero_()
    assert dense(torch.tensor([[3.0]])).item() == pytest.approx(3.0)  # 2·3·sigmoid(0)
    conv = GatedConv2d(1, 1, 1)
    with torch.no_grad():
        conv.conv.weight.copy_(torch.tensor([1.0, 0.0]).view(2, 1, 1, 1))
        conv.conv.bias.copy_(torch.tensor([0.0, math.log(3.0)]))  # gate sigmoid(log 3) = 3/4
    assert conv(torch.full((1, 1, 2, 2), 4.0)).flatten().tolist() == pytest.approx([3.0] * 4)


@pytest.mark.parametrize("mask_type, kernel", [("A", 3), ("B", 3), ("B", 5)])
def test_masked_conv_skips_the_masked_rows_exactly(mask_type, kernel):
    # only the kernel rows down to the centre are computed: the same output and weight gradient as
    # the full k×k masked convolution (non-square input, bias, a folded affine map)
    torch.manual_seed(0)
    conv = MaskedConv2d(mask_type, 3, 4, kernel, bias=True).double()
    x = torch.randn(2, 3, 7, 9, dtype=torch.float64)
    full = F.conv2d(x, conv.weight * conv.mask, conv.bias, padding=kernel // 2)
    assert torch.allclose(conv(x), full, atol=1e-12)
    scale, shift = torch.rand(4, dtype=torch.float64) + 0.5, torch.randn(4, dtype=torch.float64)
    assert torch.allclose(
        conv(x, scale, shift), full * scale.view(-1, 1, 1) + shift.view(-1, 1, 1), atol=1e-12
    )
    (conv(x) ** 2).sum().backward()
    cropped_grad, conv.weight.grad = conv.weight.grad, None
    (F.conv2d(x, conv.weight * conv.mask, conv.bias, padding=kernel // 2) ** 2).sum().backward()
    assert torch.allclose(cropped_grad, conv.weight.grad, atol=1e-10)
    assert cropped_grad[:, :, conv.mask == 0].abs().max() == 0
    with pytest.raises(ValueError, match="odd"):
        MaskedConv2d("B", 3, 4, 4)


def test_pixelcnn_eval_path_equals_the_plain_layers():
    # eval mode folds each BatchNorm into its convolution and runs channels-last; train mode runs the
    # Sequential (batch statistics). Both against the layers applied one by one.
    torch.manual_seed(3)
    decoder = PixelDecoder([1, 6, 5], z1_dim=2, z2_dim=2, channels=8, layers=3).double()
    for module in decoder.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
    x = torch.bernoulli(torch.full((4, 1, 6, 5), 0.5, dtype=torch.float64))
    maps = decoder.maps(torch.randn(4, 4, dtype=torch.float64)).detach()

    def plain(training):
        h = torch.cat([x, maps], dim=1)
        for conv, norm in decoder.blocks():
            h = F.conv2d(h, conv.weight * conv.mask, padding=1)
            h = F.relu(
                F.batch_norm(
                    h,
                    norm.running_mean.clone(),
                    norm.running_var.clone(),
                    norm.weight,
                    norm.bias,
                    training=training,
                    eps=norm.eps,
                )
            )
        return decoder.out(h)

    with torch.no_grad():
        decoder.eval()
        assert torch.allclose(decoder.logits(x, maps), plain(False), atol=1e-12)
        decoder.train()
        assert torch.allclose(decoder.logits(x, maps), plain(True), atol=1e-12)


def _raster_index(r, c):
    return r * 28 + c


@pytest.mark.parametrize("pixel", [(0, 0), (5, 7), (13, 27), (27, 27)])
def test_pixelcnn_output_depends_only_on_earlier_pixels(pixel):
    torch.manual_seed(0)
    decoder = PixelDecoder(X_SHAPE).eval()
    maps = decoder.maps(torch.randn(1, 80))
    x = torch.bernoulli(torch.full((1, 1, 28, 28), 0.5)).requires_grad_()
    r, c = pixel
    decoder.logits(x, maps)[0, 0, r, c].backward()
    grad = x.grad.abs().flatten()
    i = _raster_index(r, c)
    assert grad[i:].max() == 0  # pixel i and everything after it: no effect
    if i > 0:
        assert grad[:i].max() > 0  # some earlier pixel matters


def test_sampler_draws_from_the_conditionals_the_likelihood_scores():
    torch.manual_seed(1)
    decoder = PixelDecoder(X_SHAPE)
    for module in decoder.modules():  # non-trivial running statistics
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    decoder.train()
    maps = decoder.maps(torch.randn(3, 80))
    x, probs = decoder.generate(maps)
    assert decoder.training and all(m.training for m in decoder.modules())  # modes restored
    decoder.eval()
    with torch.no_grad():
        teacher_forced = torch.sigmoid(decoder.logits(x, maps))
    assert torch.allclose(probs, teacher_forced, atol=1e-5)
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    likelihood = decoder(torch.randn(3, 80))
    assert likelihood.log_prob(x).shape == (3,)


def test_pixel_sampler_frequencies_match_the_conditional():
    # p(x_0 = 1 | z) is the first pixel's teacher-forced probability (it sees nothing before it)
    torch.manual_seed(2)
    decoder = PixelDecoder([1, 2, 2], z1_dim=2, z2_dim=2, channels=4, layers=2).eval()
    maps = decoder.maps(torch.randn(1, 4)).expand(4000, -1, -1, -1)
    x, _ = decoder.generate(maps)
    with torch.no_grad():
        p0 = torch.sigmoid(decoder.logits(torch.zeros(1, 1, 2, 2), maps[:1]))[0, 0, 0, 0].item()
    assert x[:, 0, 0, 0].mean().item() == pytest.approx(p0, abs=0.03)


class Affine(nn.Module):
    """v -> N(a v + b, s²)"""

    def __init__(self, a, b, s):
        super().__init__()
        self.a, self.b, self.s = a, b, s
        self.out_dim = 1

    def forward(self, v):
        return DiagonalGaussian(self.a * v + self.b, torch.full_like(v, self.s))


def test_two_level_gaussian_against_closed_forms():
    top = DiagonalGaussian(torch.tensor([[1.0]]), torch.tensor([[0.5]]))
    q = TwoLevelGaussian(top, Affine(2.0, -1.0, 0.25), z1_dim=1)
    z = torch.tensor([[0.3, 1.2]])  # z1 = 0.3, z2 = 1.2
    expected = normal_log_prob(1.2, 1.0, 0.5) + normal_log_prob(0.3, 2.0 * 1.2 - 1.0, 0.25)
    assert q.log_prob(z).item() == pytest.approx(expected, rel=1e-6)
    assert q.mean.tolist() == [[1.0, 1.0]]  # E[z1 | E z2 = 1] = 2·1 - 1
    assert q.std.tolist() == [[0.25, 0.5]]
    torch.manual_seed(0)
    samples = q.rsample((200_000,))  # z1 = 2 z2 - 1 + noise: mean 1, var 4·0.25 + 0.0625
    assert samples.shape == (200_000, 1, 2)
    assert samples[..., 0].mean().item() == pytest.approx(1.0, abs=0.01)
    assert samples[..., 0].var().item() == pytest.approx(1.0625, rel=0.02)


def test_two_level_prior_against_closed_forms():
    prior = TwoLevelPrior(StandardNormalPrior(1), Affine(0.5, 0.0, 1.0))
    assert prior.latent_dim == 2
    z = torch.tensor([[2.0, -1.0]])
    expected = normal_log_prob(-1.0, 0.0, 1.0) + normal_log_prob(2.0, -0.5, 1.0)
    assert prior.log_prob(z).item() == pytest.approx(expected, rel=1e-6)
    torch.manual_seed(0)
    z = prior.sample(200_000)  # z1 = z2/2 + ε: variance 1.25, cov 0.5
    assert z[:, 0].var().item() == pytest.approx(1.25, rel=0.02)
    assert torch.cov(z.T)[0, 1].item() == pytest.approx(0.5, abs=0.02)


def test_encoder_features_are_shared_across_samples():
    torch.manual_seed(0)
    encoder = TwoLevelConvEncoder(X_SHAPE).eval()
    x = torch.bernoulli(torch.full((2, 1, 28, 28), 0.3))
    posterior = encoder(x)
    z = posterior.rsample((5,))  # [S, B, 80]
    assert z.shape == (5, 2, 80)
    one_by_one = torch.stack([encoder(x).log_prob(z[s]) for s in range(5)])
    assert torch.allclose(posterior.log_prob(z), one_by_one, atol=1e-4)


def test_per_tensor_gradient_normalisation():
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(3))
    a.grad, b.grad = torch.tensor([3.0, 4.0]), torch.tensor([0.0, 0.0, 2.0])
    normalize_per_tensor(nn.ParameterList([a, b]), eps=0.0)
    assert a.grad.tolist() == pytest.approx([0.6, 0.8])
    assert b.grad.tolist() == pytest.approx([0.0, 0.0, 1.0])


def test_vamp_pseudo_inputs_from_data():
    encoder = TwoLevelConvEncoder(X_SHAPE)
    prior = VampPrior(40, encoder.top, pseudo_inputs=3, activation="hardtanh", init_std=0.01, init="data")
    x = torch.rand(2, 1, 28, 28)
    torch.manual_seed(0)
    prior.initialise_from(x)
    u = prior.pseudo_weights.view(3, 1, 28, 28)
    assert (u - x[[0, 1, 0]]).abs().max() < 0.06  # within 6 std of the images
    assert (u - x[[0, 1, 0]]).std().item() == pytest.approx(0.01, rel=0.05)
    assert prior.pseudo_inputs().shape == (3, 1, 28, 28)
    with pytest.raises(ConfigError, match=r"prior.init must be 'random' or 'data', got 'zeros'"):
        check_node("prior", {"_target_": "mimkit.model.priors.vamp.VampPrior", "init": "zeros"})

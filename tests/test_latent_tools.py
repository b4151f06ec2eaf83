"""The latent tools: the path, traversal and neighbourhood maths (mimkit.model.latent_paths) against
closed forms, the model API (`Autoencoder.decode`, `interpolate`, `traverse`, `sample_around`,
`consistency`) on the toy MLP, a convHVAE and a PixelHVAE, and the LatentGrids pictures."""

from __future__ import annotations

import math
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
from lightning.pytorch.loggers import WandbLogger
from PIL import Image
from test_plots import build
from test_tsne import fake_trainer

from mimkit.evaluation.callbacks.latent_grids import LatentGrids, framed_rows
from mimkit.model.autoencoder import Autoencoder
from mimkit.model.distributions import DiagonalGaussian
from mimkit.model.latent_paths import angle, lerp, path_points, perturbed_points, slerp, traversal_points
from mimkit.model.nets.conv_decoder import ConvDecoder
from mimkit.model.nets.conv_encoder import TwoLevelConvEncoder
from mimkit.model.nets.heads import GatedGaussianMLP
from mimkit.model.nets.pixel_decoder import PixelDecoder
from mimkit.model.priors.standard import StandardNormalPrior
from mimkit.model.priors.two_level import TwoLevelPrior

X_SHAPE = [1, 28, 28]
Z1, Z2 = 3, 2


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny passes: one torch thread (two threads on the busy 2-core machine only wait)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- the maths -----------------------------------------------------------------------------


def equal_norm_pair(dim: int = 6, batch: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    a, b = (
        torch.randn(batch, dim, generator=g, dtype=torch.float64),
        torch.randn(batch, dim, generator=g, dtype=torch.float64),
    )
    return a, b * a.norm(dim=-1, keepdim=True) / b.norm(dim=-1, keepdim=True)


def test_linear_path_endpoints_and_midpoint():
    a, b = equal_norm_pair()
    points = path_points(a, b, 5, "linear")
    assert points.shape == (4, 5, 6)
    torch.testing.assert_close(points[:, 0], a, rtol=0, atol=0)
    torch.testing.assert_close(points[:, -1], b)
    torch.testing.assert_close(points[:, 2], (a + b) / 2)
    torch.testing.assert_close(points[:, 1], 0.75 * a + 0.25 * b)


def test_slerp_endpoints_norm_and_even_angles():
    a, b = equal_norm_pair()
    steps = 9
    points = path_points(a, b, steps, "slerp")
    torch.testing.assert_close(points[:, 0], a)
    torch.testing.assert_close(points[:, -1], b)
    # equal-norm endpoints: the whole path keeps that norm (a great-circle arc)
    torch.testing.assert_close(points.norm(dim=-1), a.norm(dim=-1, keepdim=True).expand(-1, steps))
    # the angle to a grows as t Ω, the angle to b shrinks as (1 − t) Ω
    t = torch.linspace(0, 1, steps, dtype=torch.float64)
    omega = angle(a, b)[:, None]
    torch.testing.assert_close(angle(a[:, None].expand_as(points), points), t * omega)
    torch.testing.assert_close(angle(points, b[:, None].expand_as(points)), (1 - t) * omega)


def test_slerp_of_orthonormal_vectors_is_the_quarter_circle():
    a, b = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])
    t = torch.tensor([0.0, 1 / 3, 0.5, 1.0])
    expected = torch.stack([torch.cos(t * math.pi / 2), torch.sin(t * math.pi / 2), torch.zeros(4)], -1)
    torch.testing.assert_close(slerp(a, b, t)[0], expected)


def test_slerp_of_unequal_norms_and_degenerate_pairs():
    a = torch.tensor([[2.0, 0.0], [1.0, 1.0], [1.0, -2.0], [0.0, 0.0]])
    b = torch.tensor([[0.0, 1.0], [3.0, 3.0], [-1.0, 2.0], [1.0, 1.0]])
    t = torch.linspace(0, 1, 5)
    points = slerp(a, b, t)
    # unequal norms: the norm moves linearly from ‖a‖ = 2 to ‖b‖ = 1, the angle still splits evenly
    torch.testing.assert_close(points[0].norm(dim=-1), 2 - t)
    torch.testing.assert_close(angle(a[:1].expand(5, 2), points[0]), t * math.pi / 2)
    # the same direction, opposite directions, a zero endpoint: the linear path
    for row in (1, 2, 3):
        torch.testing.assert_close(points[row], lerp(a[row], b[row], t))
    torch.testing.assert_close(points[2, 2], torch.zeros(2))


def test_path_points_refuses_bad_arguments():
    a = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="path must be one of linear|slerp, got 'arc'"):
        path_points(a, a, 3, "arc")
    with pytest.raises(ValueError, match="steps must be at least 2"):
        path_points(a, a, 1)
    with pytest.raises(ValueError, match="differ in shape"):
        path_points(a, torch.zeros(3, 3), 3)


def test_traversal_moves_only_the_chosen_coordinates():
    centre = torch.tensor([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.0, 1.0, 0.5]])
    values = torch.tensor([-1.0, 0.0, 2.0])
    points = traversal_points(centre, [2, 0], values)
    assert points.shape == (2, 2, 3, 4)
    for k, d in enumerate([2, 0]):
        others = [i for i in range(4) if i != d]
        torch.testing.assert_close(points[:, k, :, others], centre[:, None, others].expand(-1, 3, -1))
        torch.testing.assert_close(points[:, k, :, d], centre[:, d, None] + values)
    absolute = traversal_points(centre, [1], values, absolute=True)
    torch.testing.assert_close(absolute[:, 0, :, 1], values.expand(2, 3))
    with pytest.raises(ValueError, match=r"dims must lie in 0\.\.3 \(the latent has 4\), got \[4\]"):
        traversal_points(centre, [0, 4], values)


def test_perturbed_points_scale_zero_is_the_centre_and_noise_is_standard():
    centre = torch.randn(3, 5)
    torch.testing.assert_close(perturbed_points(centre, 0.0, 7), centre[:, None].expand(-1, 7, -1))
    torch.manual_seed(0)
    noise = (perturbed_points(centre, 0.3, 4000) - centre[:, None]) / 0.3
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - 1) < 0.02
    with pytest.raises(ValueError, match="scale must be non-negative"):
        perturbed_points(centre, -1.0, 2)


# --- the model API -------------------------------------------------------------------------


def convhvae() -> Autoencoder:
    torch.manual_seed(0)
    encoder = TwoLevelConvEncoder(X_SHAPE, z1_dim=Z1, z2_dim=Z2, hidden=16)
    decoder = ConvDecoder(X_SHAPE, Z1, Z2, hidden=16, channels=8)
    return Autoencoder(encoder, decoder, TwoLevelPrior(StandardNormalPrior(Z2), GatedGaussianMLP(Z2, Z1, 8)))


def images(n: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full((n, *X_SHAPE), 0.4), generator=g)


def toy_points(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["toy", "convhvae"])
def test_shapes_and_the_latent_codes_decoded(kind):
    model, x = (build(3, latent_dim=2), toy_points(4)) if kind == "toy" else (convhvae(), images(4))
    x_shape, latent = tuple(x.shape[1:]), model.latent_dim
    mu = model.eval().embed(x)
    model.train()  # the tools switch to eval mode themselves, and back
    for path in ("linear", "slerp"):
        decoded, z = model.interpolate(x[:2], x[2:], steps=5, path=path, return_z=True)
        assert decoded.shape == (2, 5, *x_shape) and z.shape == (2, 5, latent)
        torch.testing.assert_close(z, path_points(mu[:2], mu[2:], 5, path))  # z = [z1, z2] as one vector
        torch.testing.assert_close(decoded, model.decode(z))
    decoded, z = model.traverse(x, dims=[0, latent - 1], values=[-1.0, 1.0], return_z=True)
    assert decoded.shape == (4, 2, 2, *x_shape) and z.shape == (4, 2, 2, latent)
    torch.testing.assert_close(z, traversal_points(mu, [0, latent - 1], torch.tensor([-1.0, 1.0])))
    assert model.traverse(x[:1]).shape == (1, latent, 5, *x_shape)  # every dim, the default values
    assert model.sample_around(x, scale=0.2, n=3, seed=0).shape == (4, 3, *x_shape)
    assert model.consistency(x, seed=0).shape == (4,)
    assert model.decode(mu, mean=False, seed=0).shape == x.shape
    assert all(m.training for m in model.modules())


@pytest.mark.parametrize("kind", ["toy", "convhvae"])
def test_sample_around_at_scale_zero_decodes_the_posterior_mean(kind):
    model, x = (build(3), toy_points(3)) if kind == "toy" else (convhvae(), images(3))
    model.eval()
    around = model.sample_around(x, scale=0.0, n=4)
    torch.testing.assert_close(around, model.decode(model.embed(x))[:, None].expand_as(around))
    _, z = model.sample_around(x, scale=0.5, n=200, seed=1, return_z=True)
    noise = (z - model.embed(x)[:, None]) / 0.5
    assert abs(noise.mean()) < 0.1 and abs(noise.std() - 1) < 0.1


def test_seeded_tools_repeat_and_leave_the_global_generator():
    model, x = build(3), toy_points(5)
    calls = [
        lambda seed: model.sample_around(x, 0.5, 3, seed=seed),
        lambda seed: model.interpolate(x[:2], x[2:4], 4, mean=False, seed=seed),
        lambda seed: model.traverse(x, [1], [0.5], mean=False, seed=seed),
        lambda seed: model.consistency(x, seed=seed),
    ]
    for call in calls:
        torch.manual_seed(11)
        state = torch.get_rng_state()
        first = call(3)
        assert torch.equal(torch.get_rng_state(), state)
        assert torch.equal(call(3), first) and not torch.equal(call(4), first)


class Identity(torch.nn.Module):
    """Mean = the input, std `std`: with it as encoder and decoder μ(x) = x and p(x|z) = N(z, std²)."""

    def __init__(self, std: float):
        super().__init__()
        self.std = std
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # the model's device

    def forward(self, v: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian(v, torch.full_like(v, self.std))


def test_consistency_against_closed_forms():
    """μ(x) = x and x' ~ N(μ(x), σ² I): the distance is σ‖ε‖, E[d²] = σ² D; with the decoder's
    mean x' = μ(x), d = 0."""
    dim, sigma = 4, 0.3
    model = Autoencoder(Identity(0.1), Identity(sigma), StandardNormalPrior(dim))
    x = torch.randn(20000, dim)
    assert model.consistency(x, mean=True).abs().max() == 0
    distance, z, z_prime = model.consistency(x, seed=0, return_z=True)
    torch.testing.assert_close(distance, (z - z_prime).norm(dim=-1))
    assert (distance**2).mean() == pytest.approx(sigma**2 * dim, rel=0.03)


def test_a_pixelhvae_decodes_its_codes_in_one_chain():
    torch.manual_seed(0)
    encoder = TwoLevelConvEncoder(X_SHAPE, z1_dim=Z1, z2_dim=Z2, hidden=16)
    decoder = PixelDecoder(X_SHAPE, Z1, Z2, channels=8, layers=3)
    model = Autoencoder(encoder, decoder, TwoLevelPrior(StandardNormalPrior(Z2), GatedGaussianMLP(Z2, Z1, 8)))
    x = images(2)
    first = model.sample_around(x[:1], scale=0.5, n=2, mean=False, seed=5)
    assert first.shape == (1, 2, *X_SHAPE) and set(first.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(model.sample_around(x[:1], scale=0.5, n=2, mean=False, seed=5), first)
    assert model.interpolate(x[:1], x[1:], steps=2, path="slerp", seed=0).shape == (1, 2, *X_SHAPE)


# --- the pictures --------------------------------------------------------------------------


def test_framed_rows():
    left, right = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    middle = torch.full((2, 3, 1, 2, 2), 0.5)
    images, per_row = framed_rows(left, middle, right)
    assert per_row == 5 and images.shape == (10, 1, 2, 2)
    assert images[:, 0, 0, 0].tolist() == [0, 0.5, 0.5, 0.5, 1] * 2
    images, per_row = framed_rows(left, torch.full((2, 4, 3, 1, 2, 2), 0.5))  # K = 4 rows per image
    assert per_row == 4 and images.shape == (32, 1, 2, 2)
    assert images[::4, 0, 0, 0].eq(0).all() and images[1::4, 0, 0, 0].eq(0.5).all()


def pixel_module(dim: int = 4):
    """[N, 1, 2, 2] images <-> 4-D codes: q(z|x) = N(pixels, 0.1²), p(x|z) = N(z as an image, 1)."""

    class Codes(torch.nn.Module):
        def __init__(self, encode: bool):
            super().__init__()
            self.encode = encode

        def forward(self, v):
            mean = v.flatten(1) if self.encode else v.view(-1, 1, 2, 2)
            return DiagonalGaussian(mean, torch.full_like(mean, 0.1 if self.encode else 1.0))

    model = Autoencoder(Codes(True), Codes(False), StandardNormalPrior(dim))
    return SimpleNamespace(model=model, device=torch.device("cpu"), hparams={})


def test_latent_grids_write_pngs_log_to_wandb_and_leave_the_generator(tmp_path):
    x = torch.rand(9, 1, 2, 2)
    wandb = mock.Mock(spec=WandbLogger)
    trainer = fake_trainer(x, torch.zeros(9, dtype=torch.int64), tmp_path, [wandb])
    callback = LatentGrids(pairs=3, steps=4, path="slerp", points=2, n_around=5, scale=0.0)
    torch.manual_seed(2)
    state = torch.get_rng_state()
    callback.on_test_end(trainer, pixel_module())
    assert torch.equal(torch.get_rng_state(), state)
    assert [p.name for p in callback.written] == ["interpolations.png", "samples_around.png"]
    side = 2 + 1  # 2 pixels and 1 of padding
    with Image.open(tmp_path / "interpolations.png") as png:
        assert png.size == (1 + 6 * side, 1 + 3 * side)  # x_a, 4 steps, x_b; 3 pairs
    with Image.open(tmp_path / "samples_around.png") as png:
        assert png.size == (1 + 6 * side, 1 + 2 * side)  # x, 5 samples; 2 points
    keys = [call.kwargs["key"] for call in wandb.log_image.call_args_list]
    assert keys == ["test/interpolations", "test/samples_around"]


def test_latent_grids_skip_flat_data(tmp_path):
    trainer = fake_trainer(torch.rand(6, 4), torch.zeros(6, dtype=torch.int64), tmp_path)
    callback = LatentGrids()
    callback.on_test_end(trainer, pixel_module())
    assert callback.written == [] and not list(tmp_path.iterdir())

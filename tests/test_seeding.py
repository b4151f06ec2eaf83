"""The seeded picture callbacks (t-SNE, image grids) draw from their own seed and leave every
random generator as it was: the CPU's state, CUDA's state (on a GPU), and no re-seeding of the
CUDA generators (which `torch.manual_seed` would do)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from test_tsne import clusters, fake_trainer, image_module

from mimkit.evaluation.callbacks.images import ImageGrids
from mimkit.evaluation.callbacks.tsne_plot import TSNEPlot
from mimkit.model.autoencoder import Autoencoder, seeded_eval
from mimkit.model.distributions import DiagonalGaussian
from mimkit.model.priors.standard import StandardNormalPrior
from mimkit.seeding import seeded_draws


class PixelCodes(torch.nn.Module):
    """[N, 1, 2, 2] <-> 4-D latents: q(z|x) = N(pixels, 0.1²), p(x|z) = N(z as an image, 1)."""

    def __init__(self, encode: bool):
        super().__init__()
        self.encode = encode

    def forward(self, values):
        if self.encode:
            mean = values.flatten(1)
            return DiagonalGaussian(mean, torch.full_like(mean, 0.1))
        mean = values.view(-1, 1, 2, 2)
        return DiagonalGaussian(mean, torch.ones_like(mean))


def grid_module(device: torch.device):
    model = Autoencoder(PixelCodes(True), PixelCodes(False), StandardNormalPrior(4)).to(device)
    return SimpleNamespace(model=model, device=device, hparams={})


def run_callbacks(tmp_path: Path, device: torch.device) -> dict[str, bytes]:
    tmp_path.mkdir()
    z, labels = clusters(20, dim=4)
    x = torch.tensor(z, dtype=torch.float32).view(-1, 1, 2, 2)
    trainer = fake_trainer(x, torch.tensor(labels), tmp_path)
    TSNEPlot(points=40, perplexity=5).on_test_end(trainer, image_module(tmp_path))
    ImageGrids(n_samples=8, n_reconstructions=8).on_test_end(trainer, grid_module(device))
    return {name: (tmp_path / name).read_bytes() for name in ("samples.png", "tsne.npz")}


def test_seeded_draws_restore_the_cpu_state_and_repeat():
    torch.default_generator.manual_seed(123)
    undisturbed = torch.rand(5)
    torch.default_generator.manual_seed(123)
    with seeded_draws(7, torch.device("cpu")):
        first = torch.rand(5)
    assert torch.equal(torch.rand(5), undisturbed)  # the global stream goes on as if untouched
    with seeded_draws(7, torch.device("cpu")):
        assert torch.equal(torch.rand(5), first)
    assert not torch.equal(first, undisturbed)


def test_seeded_eval_restores_modes_and_generator_and_repeats():
    model = grid_module(torch.device("cpu")).model
    model.train()
    model.decoder.eval()  # a mixed state: every module gets its own mode back
    torch.default_generator.manual_seed(123)
    undisturbed = torch.rand(5)
    torch.default_generator.manual_seed(123)
    with seeded_eval(model, 7) as inside:
        assert inside is model and not any(m.training for m in model.modules())
        assert not torch.is_grad_enabled()
        first = model.prior.sample(3)
    assert model.training and model.encoder.training and not model.decoder.training
    assert torch.is_grad_enabled() and torch.equal(torch.rand(5), undisturbed)
    with seeded_eval(model, 7):
        assert torch.equal(model.prior.sample(3), first)
    torch.default_generator.manual_seed(123)
    with seeded_eval(model, None):  # no seed: the global stream, advanced
        assert torch.equal(torch.rand(5), undisturbed)
    assert not torch.equal(torch.rand(5), undisturbed)


def test_callbacks_leave_the_cpu_generator_and_never_reseed_cuda(tmp_path: Path, monkeypatch):
    def reseeding(seed):
        raise AssertionError("a callback re-seeded every CUDA generator")

    monkeypatch.setattr(torch.cuda, "manual_seed_all", reseeding)
    torch.default_generator.manual_seed(5)
    before = torch.get_rng_state()
    first = run_callbacks(tmp_path / "a", torch.device("cpu"))
    assert torch.equal(torch.get_rng_state(), before)
    torch.default_generator.manual_seed(6)  # another global state: the same pictures
    assert run_callbacks(tmp_path / "b", torch.device("cpu")) == first


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_callbacks_leave_the_cuda_generator_as_it_was(tmp_path: Path):
    device = torch.device("cuda", torch.cuda.current_device())
    torch.cuda.manual_seed(11)
    cpu, cuda = torch.get_rng_state(), torch.cuda.get_rng_state(device)
    first = run_callbacks(tmp_path / "a", device)
    assert torch.equal(torch.get_rng_state(), cpu)
    assert torch.equal(torch.cuda.get_rng_state(device), cuda)
    torch.cuda.manual_seed(12)
    assert run_callbacks(tmp_path / "b", device) == first

"""Checks that need a CUDA GPU (marker `gpu`; they skip without one): `-m gpu` selects them
(scripts/gpu_check.sh). What a CPU can prove is proved without one: tests/test_meta_device.py
(device placement), tests/test_syncs.py (host syncs), tests/test_eval_pass_size.py (pass sizes);
here a training step and an IS-NLL pass also run under CUDA's own sync check."""

from __future__ import annotations

import contextlib
import logging

import pytest
import torch
from device_checks import MODELS, optimizer_of, tiny_batch, tiny_config, tiny_module, training_step
from test_training_images import SMALL, check_run, image_config, image_source  # noqa: F401 (fixture)

from mimkit.app.run import train
from mimkit.evaluation.metrics.nll import nll_per_example
from mimkit.evaluation.metrics.pass_size import FREE_FRACTION, MAX_GPU_ROWS, measured_rows_per_pass
from mimkit.model.distributions import DiagonalGaussian

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
# IS-NLL of the same weights and the same proposals on the GPU and the CPU, both in true fp32
# (TF32 off): the images' estimates agree to this many nats (sums over 784 pixels' terms)
NLL_ATOL = 1e-3


@pytest.fixture
def true_fp32():
    """fp32 matrix products and convolutions on the GPU (TF32 off) inside the test."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def replayed_proposals(monkeypatch, seed: int) -> None:
    """Every Gaussian draw from one CPU generator, moved to the distribution's device: the CPU
    and the GPU estimate then use the same proposals."""
    generator = torch.Generator().manual_seed(seed)

    def rsample(self, sample_shape=()):
        shape = torch.Size(sample_shape) + self.mean.shape
        eps = torch.randn(shape, dtype=self.mean.dtype, generator=generator).to(self.mean.device)
        return self.mean + self.std * eps

    monkeypatch.setattr(DiagonalGaussian, "rsample", rsample)


@contextlib.contextmanager
def no_host_syncs():
    """CUDA's own check inside the block: any call that makes the host wait for the GPU (a value
    read, a blocking copy either way, a data-sized output) raises (`set_sync_debug_mode("error")`)."""
    torch.cuda.synchronize()
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(previous)


def step_and_pass(cfg: dict, x: torch.Tensor, check) -> tuple[torch.Tensor, torch.Tensor]:
    """A fresh module's first training step and then an IS-NLL pass of its model on x's device,
    both inside `check()`: (the loss, the NLLs)."""
    module = tiny_module(cfg).to(x.device)
    optimizer = optimizer_of(module)
    with check():
        loss = training_step(module, optimizer, x)
        nll = nll_per_example(module.model, x, samples=4, batch_size=2, max_pairs=4)
    return loss, nll


@pytest.mark.parametrize("model", MODELS)
def test_a_training_step_and_an_is_nll_pass_make_no_host_sync_on_the_gpu(tmp_path, model):
    # tests/test_syncs.py counts syncs on the meta device; here CUDA raises at any. A throwaway
    # module runs first, so the one-off work of the first CUDA calls (library handles, kernels) is
    # not charged to the checked one; that one is fresh (its first step, its first pass).
    cfg = tiny_config(tmp_path, model, "vamp", "mim", "warmup=0")  # β = 1: MIM's decoder pairs too
    x = tiny_batch(cfg, 4, "cuda")  # the batch transfer, before the step
    step_and_pass(cfg, x, contextlib.nullcontext)
    loss, nll = step_and_pass(cfg, x, no_host_syncs)
    assert loss.device.type == "cuda" and torch.isfinite(loss).item()
    assert nll.shape == (4,) and torch.isfinite(nll).all().item()


@pytest.mark.parametrize("model", ["convhvae", "pixelhvae"])
def test_a_fast_dev_run_of_each_image_model_on_the_gpu(train_config, tmp_path, image_source, model):  # noqa: F811
    cfg = image_config(train_config, tmp_path, image_source, f"model={model}", "trainer=gpu", *SMALL)
    check_run(train(cfg), tmp_path / "run")


@pytest.mark.parametrize("model", ["convhvae", "pixelhvae"])
def test_is_nll_on_the_gpu_equals_the_cpu_on_the_same_weights(tmp_path, monkeypatch, true_fp32, model):
    cfg = tiny_config(tmp_path, model, "vamp", "mim", "model.x_shape=[1,28,28]", "model.channels=16")
    autoencoder = tiny_module(cfg).model.eval()
    x = torch.bernoulli(torch.full((12, 1, 28, 28), 0.3), generator=torch.Generator().manual_seed(2))
    replayed_proposals(monkeypatch, seed=3)
    cpu = nll_per_example(autoencoder, x, samples=40, batch_size=4, max_pairs=64)
    replayed_proposals(monkeypatch, seed=3)
    gpu = nll_per_example(autoencoder.cuda(), x.cuda(), samples=40, batch_size=4, max_pairs=64)
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, rtol=0, atol=NLL_ATOL), (gpu.cpu() - cpu).abs().max()


def test_the_measured_pass_size_keeps_a_pass_within_its_share_of_free_memory(tmp_path, caplog):
    cfg = tiny_config(tmp_path, "convhvae", "vamp", "mim", "model.x_shape=[1,28,28]", "model.channels=64")
    autoencoder = tiny_module(cfg).model.cuda().eval()
    x = torch.bernoulli(torch.full((8, 1, 28, 28), 0.3, device="cuda"))
    with caplog.at_level(logging.INFO, logger="mimkit.evaluation.metrics.pass_size"):
        rows = measured_rows_per_pass(autoencoder, x)
    assert 1 <= rows <= MAX_GPU_ROWS
    assert f"evaluation passes of {rows} rows on cuda" in caplog.text
    free = torch.cuda.mem_get_info()[0]
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    nll_per_example(autoencoder, x, samples=max(1, rows // len(x)), batch_size=len(x), max_pairs=rows)
    torch.cuda.synchronize()
    assert torch.cuda.max_memory_allocated() - before <= FREE_FRACTION * free * 1.1

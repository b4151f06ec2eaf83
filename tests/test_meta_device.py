"""Device correctness without a GPU (docs/gpu.md).

Training: one full step (forward, backward, optimiser step) of every model × prior × objective with
parameters and data on the `meta` device: a tensor made on the CPU inside (torch.tensor(...) or
torch.zeros(...) without a device) meets a meta tensor and fails, as would a read back to the host
(`.item()`, `bool(t)`). Evaluation: the IS-NLL, the consistency gap's pairs and log-joints and the
PixelHVAE sampler under fake tensors on a fake CUDA device (torch's FakeTensorMode runs without
CUDA): a CPU tensor meeting a CUDA one fails there as it would on a GPU.
"""

from __future__ import annotations

import pytest
import torch
from device_checks import (
    IMAGE_MODELS,
    MODELS,
    OBJECTIVES,
    PRIORS,
    DeviceSyncs,
    allowed_combinations,
    optimizer_of,
    tiny_batch,
    tiny_config,
    tiny_module,
    to_fake,
    training_step,
)
from torch._subclasses.fake_tensor import FakeTensorMode

from mimkit.evaluation.metrics.consistency import gap_terms, mixture_pairs, model_log_joints
from mimkit.evaluation.metrics.nll import nll_per_example
from mimkit.model.autoencoder import eval_mode

COMBINATIONS = [(m, p, o) for m in MODELS for p in PRIORS for o in OBJECTIVES]


def test_the_schema_allows_every_combination(tmp_path):
    # so the step test below skips none (update it if the schema comes to forbid one)
    assert allowed_combinations(tmp_path) == COMBINATIONS


@pytest.mark.parametrize("model, prior, objective", COMBINATIONS)
def test_one_training_step_on_the_meta_device_without_host_syncs(tmp_path, model, prior, objective):
    # also the sync check of tests/test_syncs.py: the step on the meta device stands for one on
    # a GPU, so any read back to the host is a sync (and would fail here without the counter)
    cfg = tiny_config(tmp_path, model, prior, objective, "warmup=0")  # β = 1: MIM's decoder pairs too
    module = tiny_module(cfg).to("meta")
    optimizer = optimizer_of(module)
    before = {name: p for name, p in module.named_parameters()}
    x = tiny_batch(cfg, 4, "meta")  # the batch transfer, before the step
    with DeviceSyncs() as counter:
        loss = training_step(module, optimizer, x)
    assert counter.syncs == []
    assert loss.device.type == "meta" and loss.shape == ()
    for name, p in module.named_parameters():
        assert p.device.type == "meta" and p is before[name], name
        assert optimizer.state[p]["exp_avg"].device.type == "meta", name  # Adam took a step


# every model with the VampPrior (pseudo-inputs, cached components, component draws), the other
# priors with one flat and one image model (under fake tensors every op costs ~1 ms)
EVALUATED = [(m, "vamp") for m in MODELS] + [(m, p) for m in ("mlp", "convhvae") for p in ("standard", "mog")]


@pytest.mark.parametrize("model, prior", EVALUATED)
def test_evaluation_paths_on_a_fake_cuda_device(tmp_path, model, prior):
    cfg = tiny_config(tmp_path, model, prior, "mim")
    module = tiny_module(cfg)
    x_cpu = tiny_batch(cfg, 3)
    with FakeTensorMode() as mode:
        autoencoder = to_fake(module.model, mode, "cuda")
        x = mode.from_tensor(x_cpu).to("cuda")
        with torch.no_grad(), eval_mode(autoencoder):
            # explicit pass sizes (measuring free memory needs a real GPU), small enough that every
            # estimate takes several passes: 2 batches of 2 passes; pairs in passes of 2
            nll = nll_per_example(autoencoder, x, samples=4, batch_size=2, max_pairs=4)
            pairs_x, pairs_z = mixture_pairs(autoencoder, x, rows=2)
            gap = gap_terms(*model_log_joints(autoencoder, pairs_x, pairs_z, samples=2, rows=4))
            samples = autoencoder.sample(3)
    assert nll.device.type == "cuda" and nll.shape == (3,)
    assert gap.device.type == "cuda" and gap.shape == (6,)
    assert samples.device.type == "cuda" and samples.shape == (3, *x_cpu.shape[1:])


@pytest.mark.parametrize("model", IMAGE_MODELS)
def test_reconstructions_on_a_fake_cuda_device(tmp_path, model):
    # the PixelHVAE sampler (pixel by pixel) from encoded test images, as the test steps run it
    cfg = tiny_config(tmp_path, model, "vamp", "amim")
    module = tiny_module(cfg)
    x_cpu = tiny_batch(cfg, 3)
    with FakeTensorMode() as mode:
        autoencoder = to_fake(module.model, mode, "cuda")
        with eval_mode(autoencoder):
            for sample in (True, False):
                out = autoencoder.reconstruct(mode.from_tensor(x_cpu).to("cuda"), sample=sample)
                assert out.device.type == "cuda" and out.shape == x_cpu.shape

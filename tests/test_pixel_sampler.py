"""PixelHVAE's sampler (docs/maths.md §5): the folded, windowed sampler against an explicit reference (the
unfused module run on the whole image at every pixel step, BatchNorm with running statistics),
BatchNorm folded once per draw, and the compiled path's fallback."""

import logging

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from mimkit.model.nets.pixel_decoder import PixelDecoder


def tiny_decoder(x_shape, layers, sampler="eager", seed=0):
    torch.manual_seed(seed)
    decoder = PixelDecoder(x_shape, z1_dim=2, z2_dim=2, channels=5, layers=layers, sampler=sampler)
    for module in decoder.modules():  # BatchNorm statistics and affine maps far from 0, 1
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return decoder


@torch.no_grad()
def reference_draw(decoder, maps):
    """x drawn pixel by pixel in raster order: at every step the plain Sequential (BatchNorm in eval
    mode, full masked kernels, zero padding) on the whole image drawn so far."""
    decoder.eval()
    n, (c, height, width) = maps.shape[0], decoder.x_shape
    x = torch.zeros(n, c, height, width)
    probs = torch.zeros_like(x)
    for r in range(height):
        for col in range(width):
            logits = decoder.out(decoder.pixelcnn(torch.cat([x, maps], dim=1)))
            p = torch.sigmoid(logits[:, :, r, col])
            probs[:, :, r, col] = p
            x[:, :, r, col] = torch.bernoulli(p)
    return x, probs


# images smaller than the window (every step at an edge), and larger (steps with the window inside)
@pytest.mark.parametrize("x_shape, layers", [([1, 3, 4], 3), ([1, 7, 9], 2), ([1, 5, 12], 4)])
def test_folded_sampler_draws_what_the_unfused_module_draws(x_shape, layers):
    decoder = tiny_decoder(x_shape, layers).train()  # the sampler uses running statistics anyway
    with torch.no_grad():
        maps = decoder.maps(torch.randn(6, 4))
    torch.manual_seed(7)
    x, probs = decoder.generate(maps)
    assert decoder.training and all(m.training for m in decoder.modules())  # modes untouched
    torch.manual_seed(7)  # the same random stream: one Bernoulli draw per pixel in raster order
    expected_x, expected_probs = reference_draw(decoder, maps)
    assert torch.equal(x, expected_x)
    assert torch.allclose(probs, expected_probs, atol=1e-6)
    assert 0 < x.mean() < 1  # the draws are not all alike


class Calls(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(func.__name__)
        return func(*args, **(kwargs or {}))


def test_batchnorm_is_folded_once_per_draw():
    # one rsqrt per BatchNorm per draw (folding), whatever the number of pixels; the per-pixel
    # work is one convolution per layer
    for x_shape in ([1, 3, 3], [1, 4, 6]):
        decoder = tiny_decoder(x_shape, layers=3).eval()
        maps = decoder.maps(torch.randn(2, 4)).detach()
        with Calls() as calls:
            decoder.generate(maps)
        assert calls.names.count("rsqrt.default") == 3
        assert calls.names.count("convolution.default") == 3 * x_shape[1] * x_shape[2]


def test_compiled_sampler_falls_back_with_one_log_line(monkeypatch, caplog):
    def unavailable(*args, **kwargs):
        raise RuntimeError("no backend here\nsecond line")

    monkeypatch.setattr(torch, "compile", unavailable)
    eager, compiled = tiny_decoder([1, 4, 5], 2), tiny_decoder([1, 4, 5], 2, sampler="compiled")
    maps = eager.maps(torch.randn(3, 4)).detach()
    torch.manual_seed(3)
    expected = eager.generate(maps)
    with caplog.at_level(logging.WARNING, logger="mimkit.model.nets.pixel_decoder"):
        for _ in range(2):
            torch.manual_seed(3)
            x, probs = compiled.generate(maps)
            assert torch.equal(x, expected[0]) and torch.equal(probs, expected[1])
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [  # the error's lines made one (mimkit.errors.one_line)
        "sampler: torch.compile unavailable (RuntimeError: no backend here second line); sampling eagerly"
    ]


def test_compiled_sampler_falls_back_when_the_compiled_step_fails(monkeypatch, caplog):
    # a backend that compiles lazily fails on the first call, not in torch.compile
    def failing_on_call(fn, **kwargs):
        def run(*args):
            raise OSError("compiler not found")

        return run

    monkeypatch.setattr(torch, "compile", failing_on_call)
    decoder = tiny_decoder([1, 3, 3], 2, sampler="compiled")
    maps = decoder.maps(torch.randn(2, 4)).detach()
    with caplog.at_level(logging.WARNING, logger="mimkit.model.nets.pixel_decoder"):
        x, _ = decoder.generate(maps)
    assert x.shape == (2, 1, 3, 3)
    assert len(caplog.records) == 1 and "OSError: compiler not found" in caplog.records[0].getMessage()


@pytest.mark.slow
def test_compiled_sampler_draws_what_the_eager_one_draws():
    # torch.compile for real (a C++ compiler on a CPU; CUDA graphs on a GPU): about a minute
    eager, compiled = tiny_decoder([1, 4, 5], 2), tiny_decoder([1, 4, 5], 2, sampler="compiled")
    maps = eager.maps(torch.randn(3, 4)).detach()
    torch.manual_seed(3)
    expected = eager.generate(maps)
    torch.manual_seed(3)
    x, probs = compiled.generate(maps)
    assert torch.equal(x, expected[0]) and torch.allclose(probs, expected[1], atol=1e-6)

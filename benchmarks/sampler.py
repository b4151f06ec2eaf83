"""PixelHVAE's sampler (784 pixel steps): today's per-pixel forward against the folded sampler.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.sampler --out outputs/bench/sampler.json
        [--chains 100] [--repeats 1] [--threads 1] [--device cpu|cuda] [--compiled]

One PixelDecoder (28×28, 8 layers, 64 channels; random weights and BatchNorm statistics from seed
0: the cost is the same for any weights), `--chains` images drawn at once, in one process:

1. per-pixel (the baseline, `per_pixel_generate` below: the sampler as it was before the folded
   one): every pixel step calls the module's eval-mode `logits` on the window of pixels it can see,
   which folds BatchNorm into the masked kernels and rebuilds the masks at each of the 784 steps;
2. folded: `PixelDecoder.generate` (BatchNorm folded and kernels masked once per call, each layer
   computing only the outputs the next pixel depends on);
3. with `--compiled`: `generate` with `sampler="compiled"` (torch.compile of the pixel step, CUDA
   graphs on a GPU; its compile time reported apart; minutes on a CPU).

Reports seconds per 100 images of each (median of `--repeats`), whether both drew the same images
from the same seed (and the largest difference of their probabilities), and aten ops per pixel step
(every op of one draw of 2 images through a TorchDispatchMode, divided by the 784 steps; also
without view ops, which launch no kernel on a GPU). Threads default to 1 (the machine is shared:
compare within one run).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
from collections import Counter
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from benchmarks.common import timed, write_results
from mimkit.app.allocator import configure_allocator
from mimkit.model.nets.pixel_decoder import PixelDecoder

X_SHAPE = [1, 28, 28]


@torch.no_grad()
def per_pixel_generate(decoder: PixelDecoder, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The sampler before the folded one: pixel (r, c) from the module's teacher-forced `logits` on
    the window rows r - L..r, columns c - L..c + L (cut at the image's edges), BatchNorm in eval
    mode; one Bernoulli draw per pixel in raster order."""
    n = maps.shape[0]
    channels, height, width = decoder.x_shape
    x = maps.new_zeros(n, channels, height, width)
    probs = torch.zeros_like(x)
    reach = decoder.reach
    for r in range(height):
        r0 = max(0, r - reach)
        for col in range(width):
            c0, c1 = max(0, col - reach), min(width, col + reach + 1)
            window = decoder.logits(x[:, :, r0 : r + 1, c0:c1], maps[:, :, r0 : r + 1, c0:c1])
            p = torch.sigmoid(window[:, :, r - r0, col - c0])
            probs[:, :, r, col] = p
            x[:, :, r, col] = torch.bernoulli(p)
    return x, probs


class OpCounter(TorchDispatchMode):
    """Counts the aten ops dispatched inside the block (all, and those that are not views)."""

    def __init__(self):
        super().__init__()
        self.ops: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops["all"] += 1
        self.ops["not_views"] += not func.is_view
        return func(*args, **(kwargs or {}))


def decoder_on(device: torch.device, sampler: str = "eager") -> PixelDecoder:
    torch.manual_seed(0)
    decoder = PixelDecoder(X_SHAPE, sampler=sampler)
    for module in decoder.modules():  # BatchNorm statistics as after training (not 0 and 1)
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return decoder.to(device).eval()


def timed_draws(draw, maps: torch.Tensor, repeats: int) -> tuple[float, tuple]:
    """(median seconds, last result) of `draw(maps)` from seed 1."""

    def from_seed():
        torch.manual_seed(1)
        return draw(maps)

    runs = [timed(from_seed, maps.device) for _ in range(repeats)]
    return statistics.median(seconds for seconds, _ in runs), runs[-1][1]


def ops_per_step(draw, maps: torch.Tensor, steps: int) -> dict:
    with OpCounter() as counter:
        draw(maps)
    return {kind: count / steps for kind, count in counter.ops.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--chains", type=int, default=100, help="images drawn at once")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compiled", action="store_true", help="also time sampler=compiled")
    parser.add_argument(
        "--tiny", action="store_true", help="4x4 images (16 pixel steps): a smoke test (figures mean nothing)"
    )
    args = parser.parse_args()
    configure_allocator()
    if args.tiny:
        X_SHAPE[:] = [1, 4, 4]
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    decoder = decoder_on(device)
    with torch.no_grad():
        maps = decoder.maps(torch.randn(args.chains, 80, device=device))
    per_100 = 100 / args.chains
    old_s, (old_x, old_p) = timed_draws(lambda m: per_pixel_generate(decoder, m), maps, args.repeats)
    new_s, (new_x, new_p) = timed_draws(decoder.generate, maps, args.repeats)
    steps = math.prod(decoder.x_shape[1:])
    results: dict = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "chains": args.chains,
        "repeats": args.repeats,
        "per_pixel_s_per_100": old_s * per_100,
        "folded_s_per_100": new_s * per_100,
        "speedup": old_s / new_s,
        "same_draws": bool(torch.equal(old_x, new_x)),
        "max_probability_difference": (old_p - new_p).abs().max().item(),
        "ops_per_step": {
            "per_pixel": ops_per_step(lambda m: per_pixel_generate(decoder, m), maps[:2], steps),
            "folded": ops_per_step(decoder.generate, maps[:2], steps),
        },
    }
    print(
        f"sampler, {args.chains} chains, {torch.get_num_threads()} threads, {results['device']}: "
        f"per-pixel {results['per_pixel_s_per_100']:.1f} s / 100 images, folded "
        f"{results['folded_s_per_100']:.1f} s ({results['speedup']:.2f}×); same draws: "
        f"{results['same_draws']}; ops per step {results['ops_per_step']['per_pixel']['all']:.0f} → "
        f"{results['ops_per_step']['folded']['all']:.0f} (not views: "
        f"{results['ops_per_step']['per_pixel']['not_views']:.0f} → "
        f"{results['ops_per_step']['folded']['not_views']:.0f})"
    )
    if args.compiled:
        compiled = decoder_on(device, sampler="compiled")
        first_s, _ = timed(lambda: compiled.generate(maps))  # compiles (or falls back) on the first call
        compiled_s, (compiled_x, _) = timed_draws(compiled.generate, maps, args.repeats)
        results["compile_s"] = first_s - compiled_s
        results["compiled_s_per_100"] = compiled_s * per_100
        results["compiled_same_draws"] = bool(torch.equal(old_x, compiled_x))
        print(
            f"  compiled: {results['compiled_s_per_100']:.1f} s / 100 images (compile "
            f"{results['compile_s']:.0f} s); same draws: {results['compiled_same_draws']}"
        )
    write_results(results, args.out)


if __name__ == "__main__":
    main()

"""IS-NLL (S = 5000) of the image models: our path against the reference protocol, in one run.

    .venv/bin/python -m benchmarks.image_nll --out outputs/bench/image_nll.json [--images 2]
        [--samples 5000] [--threads 2] [--pairs 100,250,500,1000,2000] [--bf16] [--ref /tmp/vp]

For convHVAE and PixelHVAE (VampPrior K = 500, z1 = z2 = 40; random weights from seed 0: the cost
is the same for any weights) on the same `--images` test images (the first binarised MNIST test
images when data/MNIST is there, else random binary images), each in its own subprocess so that
its peak resident memory (ru_maxrss) is its own:

1. ours: `mimkit.evaluation.metrics.nll.nll_per_example` as the metrics callback calls it (nll_batch = 32, the
   default rows per pass for images), after a short warm-up call;
2. reference protocol (the baseline, written here): one image at a time, S as S/100 chunks of
   100 copies of the image; every chunk runs the whole model: q(z|x) on the 100 copies, the 500
   pseudo-inputs through q(z2|x) (the VampPrior's cache cleared before every chunk), the decoder
   as the reference computes it (PixelCNN: full 3×3 masked kernels, BatchNorm a layer of its own,
   NCHW); eval mode, no gradients; all 5000 log-weights combined by one logsumexp.

Reports seconds per image, the ratio, peak RSS, and the matmul/conv FLOPs per image (counted with
torch.utils.flop_counter.FlopCounterMode) over the time, also as a fraction of the machine kind's
conv ceiling (≈390 GFLOP/s fp32 forward on 2 threads, docs/performance.md, "Reference measurements")
and of the same conv kernel timed on this machine in this run (machines of one kind differ by 1.4×
and more).
`--pairs` times our path at several rows per pass (the measurement behind
`mimkit.evaluation.metrics.pass_size.CPU_IMAGE_ROWS`).
`--ref /tmp/vp` also times the public reference code itself (../shared/tools/ref_vampprior_bench.py,
in a subprocess).
`--bf16` also times our path with the networks under bf16 autocast (densities and logsumexp stay
fp32; an experiment, not a library option: it shifts the estimate, printed per image). The
machine is shared: compare within one run.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import image_models
from benchmarks.common import (
    ROOT,
    child_json,
    machine,
    median_seconds,
    peak_rss_mb,
    reference,
    timed,
    write_results,
)
from benchmarks.image_models import PRIOR, X_SHAPE, model_config
from mimkit.app.allocator import configure_allocator
from mimkit.evaluation.metrics.nll import nll_per_example
from mimkit.model.autoencoder import build_autoencoder
from mimkit.model.distributions import Bernoulli
from mimkit.model.nets.pixel_decoder import PixelDecoder

CONV_CEILING = 390e9  # FLOP/s, fp32 conv forward, 2 threads (docs/performance.md)
REFERENCE_COPIES = 100  # the reference's MB: copies of the image per chunk
NLL_BATCH = 32  # the metrics callback's nll_batch


def build(name: str):
    torch.manual_seed(0)
    return build_autoencoder(model_config(name), PRIOR).eval()


def test_images(n: int) -> tuple[torch.Tensor, str]:
    """The first n binarised MNIST test images (data seed 0's binarisation), else random ones."""
    raw = ROOT / "data" / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    if raw.exists() and X_SHAPE == [1, 28, 28]:  # (not --tiny)
        from mimkit.data.binarized import binarize, intensities
        from mimkit.data.mnist_files import load_mnist_files

        grey = load_mnist_files("MNIST", ROOT / "data").test_images[:n]
        return binarize(intensities(grey), torch.Generator().manual_seed(0)), "MNIST test"
    return torch.bernoulli(
        torch.full((n, *X_SHAPE), 0.3), generator=torch.Generator().manual_seed(0)
    ), "random"


def plain_log_prob(decoder, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) as the reference computes it: the modules as they are for convHVAE; for the
    PixelCNN full k×k masked kernels, each BatchNorm (running statistics) as its own layer, NCHW."""
    if not isinstance(decoder, PixelDecoder):
        return decoder(z).log_prob(x)
    h = torch.cat([x, decoder.maps(z)], dim=1)
    for conv, norm in decoder.blocks():
        h = F.relu(norm(F.conv2d(h, conv.weight * conv.mask, conv.bias, padding=conv.padding)))
    return Bernoulli(decoder.out(h), event_dims=3).log_prob(x)


@torch.no_grad()
def reference_protocol(model, x: torch.Tensor, samples: int) -> torch.Tensor:
    """−log q(x) per image, one image at a time, `samples` / 100 chunks of 100 copies each."""
    out = []
    for image in x:
        copies = image.expand(REFERENCE_COPIES, *image.shape)
        log_w = []
        for _ in range(samples // REFERENCE_COPIES):
            model.prior.top.eval()  # clears the VampPrior's cache: the 500 pseudo-inputs again
            posterior = model.encoder(copies)
            z = posterior.rsample()
            log_w.append(
                plain_log_prob(model.decoder, z, copies) + model.prior.log_prob(z) - posterior.log_prob(z)
            )
        out.append(-(torch.logsumexp(torch.cat(log_w), 0) - math.log(len(log_w) * REFERENCE_COPIES)))
    return torch.stack(out)


def ours(model, x: torch.Tensor, samples: int, max_pairs: int | None = None) -> torch.Tensor:
    return nll_per_example(model, x, samples, NLL_BATCH, max_pairs, progress_every=None)


def measure(name: str, kind: str, images: Path, samples: int, max_pairs: int | None, repeats: int) -> dict:
    """(child) Time one kind on the saved images (median of `repeats`) after a warm-up call
    (oneDNN primitives; our path's VampPrior cache: encoded once per evaluation, amortised over
    the test set)."""
    model, x = build(name), torch.load(images)
    before = peak_rss_mb()
    if kind == "reference":

        def run(xs, s):
            return reference_protocol(model, xs, s)
    else:

        def run(xs, s):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=kind == "ours-bf16"):
                return ours(model, xs, s, max_pairs)

    run(x[:1], REFERENCE_COPIES)
    times = []
    for repeat in range(repeats):
        torch.manual_seed(1 + repeat)
        elapsed, nll = timed(lambda: run(x, samples))
        times.append(elapsed / len(x))
    return {
        "s_per_image": statistics.median(times),
        "s_per_image_repeats": times,
        "nll": nll.tolist(),
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": before,
    }


def flops_per_image(name: str, samples: int) -> dict:
    """Matmul/conv FLOPs per image at S = `samples`, both paths (fixed part + S × per sample)."""
    model, x = build(name), torch.bernoulli(torch.full((1, *X_SHAPE), 0.3))

    def count(fn) -> int:
        with FlopCounterMode(display=False) as counter:
            fn()
        return counter.get_total_flops()

    ours(model, x, 1)  # the VampPrior components, cached (once per evaluation: not counted)
    small, large = (count(lambda s=s: ours(model, x, s)) for s in (100, 200))
    per_sample = (large - small) / 100
    chunk = count(lambda: reference_protocol(model, x, REFERENCE_COPIES))
    return {
        "ours": small + (samples - 100) * per_sample,
        "ours_per_sample": per_sample,
        "reference": chunk * samples / REFERENCE_COPIES,
        "reference_per_chunk": chunk,
    }


def reference_code(ref: Path, name: str, images: int, samples: int, threads: int | None) -> dict | None:
    """The public VampPrior code's own IS-NLL (its `calculate_likelihood`, MB = 100), timed by
    ../shared/tools/ref_vampprior_bench.py in a subprocess (on its own random binary images: the
    cost does not depend on them)."""
    options = ("--steps", "1", "--nll-images", str(images), "--S", str(samples))
    seconds = reference(ref, name, r"IS-NLL S=\d+ ([\d.]+) s/image", *options, threads=threads)
    return None if seconds is None else {"s_per_image": seconds}


def conv_rate(repeats: int = 10) -> float:
    """FLOP/s of the ceiling kernel (docs/performance.md) on this machine now: conv2d 64→64, 3×3,
    on 100×64×28×28, fp32 forward, the faster of NCHW and channels-last, median of `repeats`."""
    x, w = torch.randn(100, 64, 28, 28), torch.randn(64, 64, 3, 3)
    best = math.inf
    for layout in (torch.contiguous_format, torch.channels_last):
        xl = x.contiguous(memory_format=layout)
        best = min(best, median_seconds(lambda xl=xl: F.conv2d(xl, w, padding=1), repeats, warmup=True))
    return 2 * 100 * 28 * 28 * 64 * 64 * 9 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--models", default="convhvae,pixelhvae")
    parser.add_argument("--pairs", default="", help="rows per pass to time our path at, e.g. 100,500,2000")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per measurement (median)")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument(
        "--ref",
        type=Path,
        default=None,
        help="also time the public reference code (a patched vae_vampprior snapshot)",
    )
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="also time our path with the networks under bf16 autocast (an experiment)",
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="4x4 random images, tiny networks, one conv timing: a smoke test (figures mean nothing)",
    )
    parser.add_argument(
        "--one", nargs=5, metavar=("MODEL", "KIND", "IMAGES", "S", "PAIRS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    configure_allocator()
    if args.tiny:
        image_models.shrink()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.one:
        name, kind, images, samples, pairs = args.one
        if kind == "flops":
            result = flops_per_image(name, int(samples))
        elif kind == "ceiling":
            result = {"flops_per_s": conv_rate(1 if args.tiny else 10)}
        else:
            result = measure(name, kind, Path(images), int(samples), int(pairs) or None, args.repeats)
        print(json.dumps(result))
        return
    if args.samples % REFERENCE_COPIES:
        parser.error(f"--samples must be a multiple of {REFERENCE_COPIES} (the reference's chunks)")
    options = ["--repeats", str(args.repeats)]
    options += ["--threads", str(args.threads)] if args.threads else []
    options += ["--tiny"] if args.tiny else []
    x, source = test_images(args.images)
    results: dict = {
        "samples": args.samples,
        "images": args.images,
        "image_source": source,
        "repeats": args.repeats,
        **machine(),
        "conv_ceiling_gflops": CONV_CEILING / 1e9,
    }
    print(
        f"IS-NLL, S = {args.samples}, {args.images} {source} images, "
        f"{torch.get_num_threads()} torch threads (s/image; peak RSS)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images.pt"
        torch.save(x, images)

        def run(name, kind, pairs=0):
            one = ("--one", name, kind, str(images), str(args.samples), str(pairs))
            return child_json(__spec__.name, *options, *one)

        measured = run("-", "ceiling")["flops_per_s"]
        results["conv_measured_gflops"] = measured / 1e9
        print(
            f"  conv 64→64 3×3, batch 100, fp32 forward on this machine now: {measured / 1e9:.0f} GFLOP/s "
            f"(docs/performance.md: {CONV_CEILING / 1e9:.0f})"
        )
        for name in args.models.split(","):
            flops = run(name, "flops")
            row: dict = {"flops": flops, "ours": run(name, "ours")}
            if not args.skip_reference:
                row["reference"] = run(name, "reference")
            if args.bf16:
                row["ours-bf16"] = run(name, "ours-bf16")
            if args.ref:
                row["reference_code"] = reference_code(
                    args.ref, name, args.images, args.samples, args.threads
                )
            for kind in ("ours", "reference", "ours-bf16"):
                if kind in row:
                    work = flops[kind.removesuffix("-bf16")]
                    rate = work / row[kind]["s_per_image"]
                    row[kind].update(
                        gflops=rate / 1e9,
                        ceiling_fraction=rate / CONV_CEILING,
                        measured_conv_fraction=rate / measured,
                    )
                    print(
                        f"  {name:<9} {kind:<9} {row[kind]['s_per_image']:7.2f} s/image  "
                        f"{work / 1e12:5.2f} TFLOP/image  {rate / 1e9:5.0f} GFLOP/s "
                        f"({100 * rate / CONV_CEILING:3.0f} % of the ceiling, "
                        f"{100 * rate / measured:3.0f} % of the conv now)  peak "
                        f"{row[kind]['peak_rss_mb']:.0f} MB  NLL {row[kind]['nll']}"
                    )
            if "reference" in row:
                row["speedup"] = row["reference"]["s_per_image"] / row["ours"]["s_per_image"]
                print(
                    f"  {name:<9} ours is {row['speedup']:.2f}x faster per image than the reference protocol"
                )
            if row.get("reference_code"):
                row["speedup_over_reference_code"] = (
                    row["reference_code"]["s_per_image"] / row["ours"]["s_per_image"]
                )
                print(
                    f"  {name:<9} reference code {row['reference_code']['s_per_image']:7.2f} s/image: "
                    f"ours is {row['speedup_over_reference_code']:.2f}x faster"
                )
            if "ours-bf16" in row:
                row["bf16_speedup"] = row["ours"]["s_per_image"] / row["ours-bf16"]["s_per_image"]
                shift = [b - a for a, b in zip(row["ours"]["nll"], row["ours-bf16"]["nll"])]
                row["bf16_nll_shift"] = shift
                print(
                    f"  {name:<9} bf16 networks: {row['bf16_speedup']:.2f}x faster than ours in fp32, "
                    f"NLL shift {', '.join(f'{d:+.3f}' for d in shift)} nats (same noise draws)"
                )
            if args.pairs:
                row["pairs"] = {}
                for pairs in map(int, args.pairs.split(",")):
                    got = run(name, "ours", pairs)
                    row["pairs"][pairs] = got
                    print(
                        f"  {name:<9} {pairs:>5} rows per pass: "
                        f"{1e3 * got['s_per_image'] / args.samples:.3f} ms/sample, peak "
                        f"{got['peak_rss_mb']:.0f} MB"
                    )
            results[name] = row
    write_results(results, args.out)


if __name__ == "__main__":
    main()

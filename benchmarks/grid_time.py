"""How long the Tables 1–2 grid takes on this machine: measured rates, then the plan.

    .venv/bin/python -m benchmarks.grid_time --out outputs/bench/grid_time.json [--threads 2]
    .venv/bin/python -m benchmarks.grid_time --jobs-per-device 4   # 4 jobs side by side per GPU

Measures, on the GPU when there is one (else the CPU), at batch 100 with VampPrior K = 500, with
`torch.cuda.synchronize()` before every clock reading on a GPU:
- per (model, objective) of the grid (convHVAE: VAE, MIM; PixelHVAE: VAE, A-MIM): the app's
  training step (Lightning, as `src/train.py` trains), a validation batch and a test batch in
  eval mode without gradients (the β = 1 objective; plus the two reconstruction errors where the
  model computes them: convHVAE at validation and test, PixelHVAE at test only, each a run of its
  784-step sampler);
- per model: the IS-NLL per image at S = 5000 (timed over at least `--nll-passes` passes of the
  library's pass size, counted, then scaled linearly in S), the end-of-test pictures (64 samples,
  32 reconstructions: PixelHVAE's sampler again) and the consistency metric (1000 pairs, S = 100);
- the latent-space metrics, model-independent: KSG on 3,000 pairs (784-D x, 80-D z), K-NN fit on
  10,000 and scored on 10,000 embeddings, t-SNE of 2,000.
On the CPU, KSG and t-SNE are timed on `--metric-fraction` (0.3) of their sizes and scaled, KSG
quadratically (the device's brute force is exactly quadratic; the CPU's trees at most), t-SNE
linearly, and the consistency metric on `--consistency-pairs` (20) pairs, scaled linearly.

From them, per data set (docs/maths.md §4 sizes), each job's epoch, training for `--epochs` epochs and test
time, and each grid (10 seeds × 2 priors × 3 data sets × 2 objectives per architecture) in device
time and in wall time with `--jobs-per-device` N jobs side by side: with N > 1 the measurements
run in N concurrent copies of this script, so the rates are those of one job among N (the
slowest copy's time for each), and the wall time is the device time divided by N.

`--grid moses` (`--out outputs/bench/grid_time_moses.json`) plans the MOSES grid instead: 3 objectives
× `--seeds` jobs of the token model at the MOSES VAE's sizes. It measures the training molecules/s of
VAE, A-MIM and MIM at `--batch` 512 on synthetic MOSES-shaped rows, and the end-of-test decoding and
IS-NLL (S = 100) per molecule; a job is `--epochs` epochs of MOSES's 1,584,663 training molecules and
that test; concurrency as above.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from benchmarks import image_models
from benchmarks.common import ROOT, child_command, median_seconds, write_results
from benchmarks.image_models import PRIOR, X_SHAPE, model_config
from benchmarks.image_training import BATCH, OBJECTIVES, app_steps
from mimkit.app.allocator import configure_allocator
from mimkit.data.tokens import EOS, PAD
from mimkit.evaluation.metrics.consistency import consistency_gap
from mimkit.evaluation.metrics.knn import knn_accuracy
from mimkit.evaluation.metrics.ksg import ksg_mutual_information
from mimkit.evaluation.metrics.nll import nll_per_example
from mimkit.evaluation.tsne import tsne_2d
from mimkit.model.autoencoder import Autoencoder, build_autoencoder
from mimkit.model.nets.seq_gru import SequenceDecoder, SequenceEncoder
from mimkit.model.objectives.mim import MIM
from mimkit.model.objectives.vae import VAE
from mimkit.model.priors.standard import StandardNormalPrior
from mimkit.training.module import reconstruction_error

# the grid's cells: architecture -> its objectives (conf/experiment/table1_*.yaml)
GRID = {"convhvae": ("vae", "mim"), "pixelhvae": ("vae", "amim")}
JOBS_PER_OBJECTIVE = 10 * 2 * 3  # seeds × priors × data sets
DATA = {
    "mnist": (50000, 10000, 10000),
    "fmnist": (50000, 10000, 10000),
    "omniglot": (23000, 1345, 8115),
}  # (train, validation, test) images, conf/data/*.yaml
OBJECTIVES = {**OBJECTIVES, "mim": {**OBJECTIVES["mim"], "decoder_z": "anchor", "x_per_z": 2}}
# models whose reconstruction errors are computed at validation (model.eval_recon: true; PixelHVAE's
# is "test": its 784-step sampler runs in test steps only)
RECON_AT_VALIDATION = {"convhvae": True, "pixelhvae": False}
# the image test protocol (conf/protocol/convhvae.yaml, conf/callbacks/evaluation.yaml)
NLL_SAMPLES = 5000
KSG_PAIRS = 3000
KNN_POINTS = 10000
CONSISTENCY_PAIRS, CONSISTENCY_SAMPLES = 1000, 100
TSNE_POINTS = 2000
PICTURES = {"samples": 64, "reconstructions": 32}
LATENT = 80
# the MOSES grid (--grid moses): rows like MOSES's SMILES (src/mimkit/data/smiles.py: 28 ids, the 4
# specials first), the sampler's limit conf/data/smiles.yaml's max_length
MOSES_TRAIN = 1_584_663  # molecules of MOSES's train.csv.gz
MOSES_VOCAB, MOSES_TOKENS, MOSES_MAX_LENGTH = 28, (20, 57), 100  # tokens before EOS
MOSES_OBJECTIVES = {"vae": VAE(), "amim": MIM(symmetric=False), "mim": MIM(symmetric=True, x_per_z=2)}
# the end of a job's test (conf/callbacks/evaluation.yaml, conf/protocol/seq_gru.yaml): MOSES's
# 30,000 samples from the prior and the greedy decodes (1000 reconstructions, 1000 seeds × 3 σ),
# decoded 1000 at a time; the IS-NLL of 500 test molecules at S = 100, 32 a batch, 4000 rows a pass
MOSES_SAMPLES, MOSES_GREEDY, DECODE_BATCH = 30_000, 1000 + 3 * 1000, 1000
MOSES_NLL_POINTS, MOSES_S, MOSES_NLL_BATCH, MOSES_ROWS = 500, 100, 32, 4000


def heavy_warmup(device: torch.device) -> bool:
    """Warm up before timing the long calls (sampler, metrics) on a GPU only, where the first call
    pays one-off costs; on a CPU their first run is representative and minutes long."""
    return device.type == "cuda"


def image_model(model_name: str, device: torch.device):
    torch.manual_seed(0)
    return build_autoencoder(model_config(model_name), PRIOR).to(device).eval()


def binary_images(n: int, device: torch.device) -> torch.Tensor:
    return torch.bernoulli(torch.full((n, *X_SHAPE), 0.3, device=device))


def objective_batch_seconds(model, objective, device: torch.device, repeats: int) -> float:
    """The β = 1 objective on a batch of 100 in eval mode without gradients (every validation and
    test batch computes it, `AutoencoderModule._evaluation_step`)."""
    x = binary_images(BATCH, device)
    return median_seconds(torch.no_grad()(lambda: objective(model, x, 1.0)), repeats, True, device)


def reconstruction_seconds(model, device: torch.device, repeats: int, warmup: bool) -> float:
    """The sampled and the mean reconstruction errors of a batch of 100 (where the model computes
    them: `model.eval_recon`), the same for every objective."""
    x = binary_images(BATCH, device)

    @torch.no_grad()
    def work():
        reconstruction_error(model, x, sample=True)
        reconstruction_error(model, x, sample=False)

    return median_seconds(work, repeats, warmup, device)


def nll_seconds_per_image(model, device: torch.device, samples: int, min_passes: int) -> tuple[float, int]:
    """(IS-NLL seconds per image at S = 5000, passes timed): S = `samples` on as many images as
    give at least `min_passes` decoder passes (counted by a forward hook; on a GPU they include
    the two probe passes that size them, `mimkit.evaluation.metrics.pass_size`, part of every NLL's cost)."""
    passes = [0]
    hook = model.decoder.register_forward_hook(lambda *_: passes.__setitem__(0, passes[0] + 1))
    images = 2
    try:
        while True:
            x = binary_images(images, device)
            nll = lambda x=x: nll_per_example(model, x, samples, progress_every=None)
            nll()  # warm-up: kernels, the VampPrior's cache
            passes[0] = 0
            elapsed = median_seconds(nll, device=device)
            if passes[0] >= min_passes or images >= 1000:
                return elapsed / images * NLL_SAMPLES / samples, passes[0]
            images = math.ceil(images * min_passes / max(passes[0], 1))
    finally:
        hook.remove()


def pictures_seconds(model, device: torch.device) -> float:
    """The end-of-test image grids: samples from the prior and mean reconstructions."""
    x = binary_images(PICTURES["reconstructions"], device)

    @torch.no_grad()
    def work():
        model.sample(PICTURES["samples"], mean=True)
        model.reconstruct(x, sample=False)

    return median_seconds(work, warmup=heavy_warmup(device), device=device)


def consistency_seconds(model, device: torch.device, pairs: int) -> float:
    """The consistency metric at 1000 pairs, S = 100, from `pairs` pairs scaled linearly (passes of
    the device's default size)."""
    x = binary_images(pairs, device)
    work = lambda: consistency_gap(model, x, CONSISTENCY_SAMPLES)
    return median_seconds(work, warmup=heavy_warmup(device), device=device) * CONSISTENCY_PAIRS / pairs


def latent_metrics_seconds(device: torch.device, fraction: float) -> dict[str, float]:
    """KSG, K-NN and t-SNE at the protocol's sizes: K-NN measured so, KSG and t-SNE on `fraction`
    of them and scaled (see the docstring)."""
    generator = np.random.default_rng(0)
    n = max(50, round(KSG_PAIRS * fraction))
    x = torch.from_numpy(generator.random((n, 784)) < 0.3).float().to(device)
    z = (x @ torch.randn(784, LATENT, device=device) / 10).add_(torch.randn(n, LATENT, device=device))
    warmup = heavy_warmup(device)
    ksg = median_seconds(lambda: ksg_mutual_information(x, z), warmup=warmup, device=device)
    ksg *= (KSG_PAIRS / n) ** 2
    codes = torch.randn(2, KNN_POINTS, LATENT, device=device)
    labels = torch.from_numpy(generator.integers(0, 10, (2, KNN_POINTS)))
    knn = median_seconds(
        lambda: knn_accuracy(codes[0], labels[0], codes[1], labels[1]), warmup=warmup, device=device
    )
    t = max(50, round(TSNE_POINTS * fraction))
    tsne = median_seconds(lambda: tsne_2d(codes[0, :t].cpu().numpy()), device=device) * TSNE_POINTS / t
    return {"ksg_s": ksg, "knn_s": knn, "tsne_s": tsne}


def hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds < 72 * 3600 else f"{seconds / 86400:,.0f} days"


def plan(rates: dict, epochs: int, jobs_per_device: int = 1) -> dict:
    """Per job: an epoch (training + validation), `epochs` of them, and its test (test batches,
    IS-NLL, pictures, consistency, KSG, K-NN, t-SNE); per grid: the device time of its jobs and
    the wall time with `jobs_per_device` of them side by side (rates measured so)."""
    out: dict = {}
    latent_s = rates["ksg_s"] + rates["knn_s"] + rates["tsne_s"]
    for model_name, objectives in GRID.items():
        if f"{model_name}/nll_s_per_image" not in rates:  # not measured (--models)
            continue
        grid_s = 0.0
        per_model_s = rates[f"{model_name}/pictures_s"] + rates[f"{model_name}/consistency_s"]
        for objective_name in objectives:
            rate = rates[f"{model_name}/{objective_name}"]
            for data, (n_train, n_val, n_test) in DATA.items():
                epoch = n_train / BATCH * rate["train_step_s"] + n_val / BATCH * rate["val_batch_s"]
                nll = n_test * rates[f"{model_name}/nll_s_per_image"]
                test = n_test / BATCH * rate["test_batch_s"] + nll + per_model_s + latent_s
                job = {"epoch_s": epoch, "train_s": epochs * epoch, "nll_s": nll, "test_s": test}
                out[f"{model_name}/{objective_name}/{data}"] = job
                grid_s += (job["train_s"] + test) * JOBS_PER_OBJECTIVE / len(DATA)
        out[f"{model_name}/grid_s"] = grid_s
        out[f"{model_name}/grid_wall_s"] = grid_s / jobs_per_device
    return out


def plan_moses(
    rates: dict, epochs: int, train_size: int = MOSES_TRAIN, seeds: int = 3, jobs_per_device: int = 1
) -> dict:
    """Per objective: an epoch over `train_size` molecules, `epochs` of them, and the test
    (decoding and IS-NLL); the grid of 3 objectives × `seeds` in device time and in wall time with
    `jobs_per_device` jobs side by side (rates measured so)."""
    nll = MOSES_NLL_POINTS * rates["nll_s_per_molecule"]
    test = (MOSES_SAMPLES + MOSES_GREEDY) * rates["decode_s_per_molecule"] + nll
    out: dict = {}
    for name in MOSES_OBJECTIVES:
        epoch = train_size / rates[f"moses/{name}"]["train_molecules_per_s"]
        out[f"moses/{name}"] = {"epoch_s": epoch, "train_s": epochs * epoch, "nll_s": nll, "test_s": test}
    out["moses/grid_s"] = seeds * sum(job["train_s"] + test for job in out.values())
    out["moses/grid_wall_s"] = out["moses/grid_s"] / jobs_per_device
    return out


def moses_rows(n: int, device: torch.device) -> torch.Tensor:
    """[n, 101] rows like MOSES's: 20 to 57 tokens (ids 4..27), EOS, then PAD."""
    lengths = torch.randint(MOSES_TOKENS[0], MOSES_TOKENS[1] + 1, (n, 1))
    t = torch.arange(MOSES_MAX_LENGTH + 1)
    x = torch.randint(4, MOSES_VOCAB, (n, MOSES_MAX_LENGTH + 1))
    return x.masked_fill(t == lengths, EOS).masked_fill(t > lengths, PAD).to(device)


def moses_model(args: argparse.Namespace, device: torch.device) -> Autoencoder:
    """The token model, untrained: its sampler runs to the limit (decoding times: upper bounds)."""
    torch.manual_seed(0)
    encoder = SequenceEncoder(MOSES_VOCAB, args.latent, hidden=args.hidden)  # model.hidden: both
    layers = {"hidden": args.hidden, "layers": args.decoder_layers, "max_length": MOSES_MAX_LENGTH}
    decoder = SequenceDecoder(MOSES_VOCAB, args.latent, **layers)
    return Autoencoder(encoder, decoder, StandardNormalPrior(args.latent)).to(device)


def moses_step_seconds(objective: VAE | MIM, args: argparse.Namespace, device: torch.device) -> float:
    """A training step at β = 1: forward, backward, the protocol's clipping at 50, Adam. MIM's
    decoder pairs are drawn by the decoder's sampler until every row has ended: an untrained
    decoder rarely emits EOS, a trained one stops earlier, so MIM's time is an upper bound."""
    model, x = moses_model(args, device), moses_rows(args.batch, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        objective(model, x, 1.0)["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 50.0)
        optimizer.step()

    return median_seconds(step, args.steps, True, device)


def measure_moses(device: torch.device, args: argparse.Namespace) -> dict:
    """The MOSES plan's rates, measured on `device` (printed as they come)."""
    rates: dict = {}
    for name, objective in MOSES_OBJECTIVES.items():
        step = moses_step_seconds(objective, args, device)
        rates[f"moses/{name}"] = {"train_step_s": step, "train_molecules_per_s": args.batch / step}
        print(f"  moses {name:<4} training {args.batch / step:10.1f} molecules/s")
    model, warmup = moses_model(args, device).eval(), heavy_warmup(device)
    decode = torch.no_grad()(lambda: [model.sample(DECODE_BATCH) for _ in range(args.sample_batches)])
    decoded = args.sample_batches * DECODE_BATCH
    rates["decode_s_per_molecule"] = median_seconds(decode, warmup=warmup, device=device) / decoded
    x = moses_rows(MOSES_NLL_BATCH * args.nll_passes, device)
    nll = lambda: nll_per_example(model, x, MOSES_S, MOSES_NLL_BATCH, MOSES_ROWS, progress_every=None)
    rates["nll_s_per_molecule"] = median_seconds(nll, warmup=warmup, device=device) / len(x)
    print(
        f"  decoding {1 / rates['decode_s_per_molecule']:.1f} molecules/s ({decoded} timed); IS-NLL "
        f"S = 100 {rates['nll_s_per_molecule']:.4f} s/molecule ({len(x)} timed)"
    )
    return rates


def main_moses(device: torch.device, name: str, args: argparse.Namespace) -> None:
    """The MOSES plan: the rates of one job among `--jobs-per-device`, printed and written."""
    jobs, sizes = args.jobs_per_device, f"decoder {args.decoder_layers}x{args.hidden}, latent {args.latent}"
    if args.rates_only:
        write_results(measure_moses(device, args), args.out)
        return
    print(f"device: {name}; batch {args.batch}; {sizes}; {jobs} job(s) per device")
    rates = measure_moses(device, args) if jobs == 1 else concurrent_rates(jobs)
    rates.update(device=name, batch=args.batch, sizes=sizes, epochs=args.epochs, seeds=args.seeds)
    plan = rates["plan"] = plan_moses(rates, args.epochs, MOSES_TRAIN, args.seeds, jobs)
    rates["jobs_per_device"] = jobs
    print(f"plan, {args.epochs} epochs of {MOSES_TRAIN:,} molecules per job, {args.seeds} per objective:")
    for objective in MOSES_OBJECTIVES:
        job = plan[f"moses/{objective}"]
        print(
            f"  moses/{objective:<4} epoch {job['epoch_s']:8.1f} s  training {hours(job['train_s']):>9}  "
            f"test {hours(job['test_s']):>9} (NLL {hours(job['nll_s'])})"
        )
    print(f"  moses grid ({3 * args.seeds} jobs): {hours(plan['moses/grid_s'])} of device time")
    print(f"  moses grid, {jobs} per device: {hours(plan['moses/grid_wall_s'])} wall")
    write_results(rates, args.out)


def measure(device: torch.device, args) -> dict:
    """Every rate of the plan, measured on `device` (printed as they come)."""
    from hydra.utils import instantiate

    rates: dict = {}
    accelerator = "gpu" if device.type == "cuda" else "cpu"
    for model_name in args.models.split(","):
        model = image_model(model_name, device)
        cheap = RECON_AT_VALIDATION[model_name]  # else each reconstruction is a 784-step sampler run
        recon = reconstruction_seconds(
            model, device, args.steps if cheap else 1, cheap or heavy_warmup(device)
        )
        for objective_name in GRID[model_name]:
            step = statistics.median(
                app_steps(model_name, objective_name, args.steps, accelerator=accelerator)
            )
            objective = instantiate(OBJECTIVES[objective_name])
            batch = objective_batch_seconds(model, objective, device, args.steps)
            val, test = batch + recon * RECON_AT_VALIDATION[model_name], batch + recon
            rates[f"{model_name}/{objective_name}"] = {
                "train_step_s": step,
                "val_batch_s": val,
                "test_batch_s": test,
                "train_images_per_s": BATCH / step,
            }
            print(
                f"  {model_name:<9} {objective_name:<4} training {BATCH / step:8.1f} img/s, validation "
                f"{BATCH / val:8.1f} img/s, test {BATCH / test:8.1f} img/s"
            )
        nll, passes = nll_seconds_per_image(model, device, args.samples, args.nll_passes)
        rates[f"{model_name}/nll_s_per_image"], rates[f"{model_name}/nll_passes"] = nll, passes
        rates[f"{model_name}/pictures_s"] = pictures_seconds(model, device)
        rates[f"{model_name}/consistency_s"] = consistency_seconds(model, device, args.consistency_pairs)
        pictures, consistency = rates[f"{model_name}/pictures_s"], rates[f"{model_name}/consistency_s"]
        print(
            f"  {model_name:<9} IS-NLL S = 5000: {nll:.3f} s/image ({passes} passes timed); pictures "
            f"{pictures:.1f} s; consistency {consistency:.1f} s"
        )
    rates.update(latent_metrics_seconds(device, args.metric_fraction))
    print(f"  KSG {rates['ksg_s']:.1f} s, K-NN {rates['knn_s']:.1f} s, t-SNE {rates['tsne_s']:.1f} s")
    return rates


def slowest(copies: list[dict]) -> dict:
    """Each timing's largest value among concurrent copies (rates stay nested as measured)."""
    merged = {}
    for key, value in copies[0].items():
        if isinstance(value, dict):
            merged[key] = slowest([copy[key] for copy in copies])
        elif key.endswith("_per_s"):
            merged[key] = min(copy[key] for copy in copies)
        else:
            merged[key] = max(copy[key] for copy in copies)
    return merged


def without_options(argv: list[str], *options: str) -> list[str]:
    """argv less each `option VALUE` and `option=VALUE` of `options`."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif not arg.startswith(tuple(f"{option}=" for option in options)):
            kept.append(arg)
    return kept


def concurrent_rates(jobs: int) -> dict:
    """The rates of one job among `jobs` running at once: this script's measurement in `jobs`
    concurrent copies (each with the other arguments), the slowest kept."""
    passed = without_options(sys.argv[1:], "--jobs-per-device", "--out")
    with tempfile.TemporaryDirectory() as folder:
        outs = [Path(folder) / f"{i}.json" for i in range(jobs)]
        one = (*passed, "--jobs-per-device", "1", "--rates-only", "--out")
        copies = [subprocess.Popen(child_command(__spec__.name, *one, str(out)), cwd=ROOT) for out in outs]
        if any(copy.wait() for copy in copies):
            raise SystemExit("a concurrent measurement failed (see its output above)")
        return slowest([json.loads(out.read_text()) for out in outs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--samples", type=int, default=500, help="S timed (scaled to 5000)")
    parser.add_argument("--nll-passes", type=int, default=10, help="decoder passes the NLL timing covers")
    parser.add_argument(
        "--epochs",
        type=int,
        default=100,
        help="epochs per job in the plan (100: the β warm-up alone; the cap is 2000)",
    )
    parser.add_argument("--jobs-per-device", type=int, default=1, help="jobs side by side on one device")
    parser.add_argument(
        "--metric-fraction",
        type=float,
        default=None,
        help="of the KSG and t-SNE sizes timed (GPU 1, CPU 0.3)",
    )
    parser.add_argument("--consistency-pairs", type=int, default=None, help="timed (GPU 1000, CPU 20)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--models", default=",".join(GRID), help="of the grid's architectures")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="4x4 images and tiny networks: a smoke test (its rates and plan mean nothing)",
    )
    parser.add_argument("--grid", choices=("images", "moses"), default="images", help="which grid to plan")
    parser.add_argument("--batch", type=int, default=512, help="moses: training batch (images: 100)")
    parser.add_argument("--latent", type=int, default=128, help="moses: latent dimension")
    parser.add_argument("--hidden", type=int, default=512, help="moses: the GRUs' width")
    parser.add_argument("--decoder-layers", type=int, default=3, help="moses: decoder GRU layers")
    parser.add_argument("--seeds", type=int, default=3, help="moses: jobs per objective")
    parser.add_argument("--sample-batches", type=int, default=3, help="moses: decoding batches timed")
    parser.add_argument("--rates-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.jobs_per_device < 1:
        parser.error(f"--jobs-per-device must be at least 1, got {args.jobs_per_device}")
    unknown = set(args.models.split(",")) - set(GRID)
    if unknown:
        parser.error(f"--models: unknown {', '.join(sorted(unknown))} (known: {', '.join(GRID)})")
    configure_allocator()
    if args.tiny:
        image_models.shrink()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    on_gpu = device.type == "cuda"
    args.metric_fraction = args.metric_fraction or (1.0 if on_gpu else 0.3)
    args.consistency_pairs = args.consistency_pairs or (CONSISTENCY_PAIRS if on_gpu else 20)
    name = torch.cuda.get_device_name() if on_gpu else f"CPU, {torch.get_num_threads()} threads"
    if args.grid == "moses":
        main_moses(device, name, args)
        return
    if args.rates_only:
        write_results(measure(device, args), args.out)
        return
    print(f"device: {name}; batch {BATCH}; VampPrior K = 500; {args.jobs_per_device} job(s) per device")
    rates = measure(device, args) if args.jobs_per_device == 1 else concurrent_rates(args.jobs_per_device)
    rates.update(
        {"device": name, "batch": BATCH, "epochs": args.epochs, "jobs_per_device": args.jobs_per_device}
    )
    rates["plan"] = plan(rates, args.epochs, args.jobs_per_device)
    print(f"plan, {args.epochs} epochs per job ({JOBS_PER_OBJECTIVE} jobs per objective per architecture):")
    for key, job in rates["plan"].items():
        if key.endswith("grid_s"):
            print(f"  {key.split('/')[0]} grid ({2 * JOBS_PER_OBJECTIVE} jobs): {hours(job)} of device time")
        elif key.endswith("grid_wall_s"):
            print(f"  {key.split('/')[0]} grid, {args.jobs_per_device} per device: {hours(job)} wall")
        else:
            print(
                f"  {key:<24} epoch {job['epoch_s']:8.1f} s  training {hours(job['train_s']):>9}  "
                f"test {hours(job['test_s']):>9} (NLL {hours(job['nll_s'])})"
            )
    write_results(rates, args.out)


if __name__ == "__main__":
    main()

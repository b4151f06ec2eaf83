"""Time the test-time metrics pass (RepresentationMetrics, docs/maths.md §3) on the 2-D GMM.

    .venv/bin/python -m benchmarks.metrics_pass --out outputs/bench/metrics_pass.json

A model of the default config (conf/train.yaml: MLP H = 50, z = 2, standard prior) is built
fresh (untrained: the cost of every metric is the same for any weights) and evaluated with the
callback settings of conf/callbacks/default.yaml on the 10,000-point test set and 10,000 training
points. Reports seconds per metric and in total (target: < 10 s on the 2-core CPU machine),
then the KSG estimator alone at N = 2,500 ... 40,000 with the fitted exponent of t ∝ N^a
(O(N log N) shows as a ≈ 1–1.1), for informative codes (z keeps x, as a trained encoder's)
and for the fresh model's nearly independent codes (the counting worst case, ≈ N^1.5).
Last, the same metrics pass with the toy VampPrior (prior=vamp, K = 500 pseudo-inputs; the
overrides given, less any prior=) in a child process, for its peak resident memory (ru_maxrss) and
its time. That peak varies from run
to run (glibc heap fragmentation under the no-mmap, no-trim settings): compare several runs.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import ROOT, child_json, machine, peak_rss_mb, timed, write_results
from mimkit.app.allocator import configure_allocator

os.environ.setdefault("PROJECT_ROOT", str(ROOT))

configure_allocator()  # as src/train.py: glibc's allocator settings, before torch allocates

from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from mimkit.data.gmm import sample_gmm  # noqa: E402
from mimkit.evaluation.metrics.ksg import ksg_mutual_information  # noqa: E402
from mimkit.model.autoencoder import build_autoencoder  # noqa: E402

KSG_SIZES = (2500, 5000, 10000, 20000, 40000)


def default_setup(overrides: list[str]):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    model = OmegaConf.to_container(cfg.model, resolve=True)
    prior = OmegaConf.to_container(cfg.prior, resolve=True)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    callback = instantiate(cfg.callbacks.representation_metrics)
    return build_autoencoder(model, prior).eval(), instantiate(data), callback


def vamp_pass(overrides: list[str]) -> None:
    """(child) The metrics pass of a toy VampPrior model (`overrides` then prior=vamp); prints its
    memory and time as JSON."""
    torch.manual_seed(0)
    model, datamodule, callback = default_setup([*overrides, "prior=vamp"])
    test, train = datamodule.test, datamodule.train_fixed()
    before = peak_rss_mb()
    timings: dict[str, float] = {}
    total, _ = timed(lambda: callback.compute(model, test, train, timings))
    print(
        json.dumps(
            {
                "pseudo_inputs": model.prior.pseudo_weights.shape[0],
                "n_test": len(test[0]),
                "max_rss_before_mib": before,
                "max_rss_mib": peak_rss_mb(),
                "total_s": total,
                "seconds": timings,
            }
        )
    )


def measure_vamp_pass(overrides: list[str]) -> dict:
    """Run `vamp_pass` in a fresh process (its own peak RSS), with this run's `overrides` but its
    prior, and return what it measured."""
    kept = [override for override in overrides if not override.startswith("prior=")]
    return child_json(__spec__.name, "--vamp-child", *kept)


def fitted_exponent(sizes, seconds) -> float:
    slope, _ = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(slope)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--repeats", type=int, default=3, help="KSG timings: best of this many")
    parser.add_argument("--skip-vamp", action="store_true", help="skip the VampPrior memory run")
    parser.add_argument(
        "--ksg-sizes",
        default=",".join(map(str, KSG_SIZES)),
        help="the KSG timings' N (a smoke test: a few hundred)",
    )
    parser.add_argument("--vamp-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/train.yaml")
    args = parser.parse_args()
    if args.vamp_child:
        vamp_pass(args.overrides)
        return
    sizes = [int(n) for n in args.ksg_sizes.split(",")]

    torch.manual_seed(0)
    model, datamodule, callback = default_setup(args.overrides)
    test, train = datamodule.test, datamodule.train_fixed()
    timings: dict[str, float] = {}
    total, metrics = timed(lambda: callback.compute(model, test, train, timings))

    print(
        f"metrics pass: {len(test[0])} test points, {min(len(train[0]), callback.knn_train)} "
        f"K-NN training points, torch threads {torch.get_num_threads()}"
    )
    print(
        f"  S (nll) = {callback.nll_samples}, S (consistency) = {callback.consistency_samples} "
        f"on {2 * min(callback.consistency_pairs, len(test[0]))} pairs, KSG k = {callback.ksg_k} "
        f"on {min(callback.mi_pairs, len(test[0]))} pairs"
    )
    print(f"  {'metric':<12} {'seconds':>8}")
    for name, seconds in timings.items():
        print(f"  {name:<12} {seconds:8.3f}")
    print(f"  {'total':<12} {total:8.3f}   (target < 10 s)")

    generator = torch.Generator().manual_seed(1)
    x_all, _ = sample_gmm(max(sizes), datamodule.means, datamodule.std, generator)
    with torch.no_grad():
        z_model = model.encoder(x_all).sample()
    rotation = torch.tensor([[0.6, -0.8], [0.8, 0.6]])
    z_informative = x_all[:, :2] @ rotation + 0.05 * torch.randn(len(x_all), 2, generator=generator)
    # informative: z keeps x (as a trained MIM encoder does); marginal neighbour counts stay
    # O(k). fresh model: z nearly independent of x, the counts grow as sqrt(kN): the worst case.
    ksg = {}
    for kind, z_all in (("informative", z_informative), ("fresh_model", z_model)):
        rows = []
        for n in sizes:
            x, z = x_all[:n].numpy(), z_all[:n].numpy()
            estimate = lambda x=x, z=z: ksg_mutual_information(x, z, k=callback.ksg_k)
            runs = [timed(estimate) for _ in range(args.repeats)]
            rows.append({"n": n, "seconds": min(seconds for seconds, _ in runs), "mi": runs[-1][1]})
        ksg[kind] = {
            "rows": rows,
            "exponent": fitted_exponent([r["n"] for r in rows], [r["seconds"] for r in rows]),
        }
    print(f"KSG (k = {callback.ksg_k}, x = 2-D GMM, best of {args.repeats})")
    print(f"  {'z':<12} {'N':>7} {'seconds':>8} {'µs/point':>9} {'MI':>7}")
    for kind, result in ksg.items():
        for row in result["rows"]:
            print(
                f"  {kind:<12} {row['n']:>7} {row['seconds']:8.4f} "
                f"{1e6 * row['seconds'] / row['n']:9.2f} {row['mi']:7.3f}"
            )
        print(f"  {kind:<12} fitted exponent t ∝ N^a: a = {result['exponent']:.3f}")

    vamp = None if args.skip_vamp else measure_vamp_pass(args.overrides)
    if vamp is not None:
        print(
            f"VampPrior metrics pass (prior=vamp, K = {vamp['pseudo_inputs']}, {vamp['n_test']} test "
            f"points): peak RSS {vamp['max_rss_mib']:.0f} MiB ({vamp['max_rss_before_mib']:.0f} MiB "
            f"before the pass), {vamp['total_s']:.1f} s"
        )
        print("  " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in vamp["seconds"].items()))

    if args.out is not None:
        result = {
            "metrics_pass": {
                "seconds": timings,
                "total_s": total,
                "n_test": len(test[0]),
                "settings": {k: v for k, v in vars(callback).items() if not k.startswith("_")},
                "values": metrics,
            },
            "ksg": {"k": callback.ksg_k, **ksg},
            "vamp_pass": vamp,
            **machine(),
        }
        write_results(result, args.out)


if __name__ == "__main__":
    main()

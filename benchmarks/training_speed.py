"""Training speed on the 2-D GMM (H = 50, z = 2, batch 128, 10,000 samples per epoch).

    .venv/bin/python -m benchmarks.training_speed --out outputs/bench/training_speed.json

Everything is measured in this run against a baseline measured in the same run (the machine is
shared and noisy), as medians over `--repeats`:

1. data: one epoch of GMM samples drawn one at a time through a DataLoader (the authors' toy
   loader: 0.40 s of their 0.89 s MIM epoch) against this package's whole-batch sampling;
2. training: one β = 1 epoch of the Lightning module (MIM and VAE) against a bare PyTorch loop
   over the same model, objective, data and optimiser: the floor for this model in eager
   PyTorch, so the ratio is the cost of the framework.
3. distributions: one β = 1 MIM epoch of the bare loop with the package's `DiagonalGaussian`
   against the same loop with `torch.distributions.Independent(Normal)` in its place (swapped
   inside this benchmark only), without and with torch's argument validation; the ratio is
   torch.distributions' time over ours (docs/design.md).
4. epoch means: one β = 1 Lightning epoch (MIM and VAE) of the module as it is, whose logged
   means are a torchmetrics `Metric` (`EpochMeans`), against the same module keeping them as
   plain per-name tensor sums (how it did before torchmetrics, commit da717b7; swapped in
   inside this benchmark only). The two run interleaved, round by round in alternating order,
   and the result is the median over rounds of the per-round time ratio (torchmetrics over
   plain sums), so a drift of the shared machine's speed cancels; the bookkeeping alone (a
   whole epoch's `add` calls, `flush` and `compute`) is timed as well.
The authors' epoch times (MIM 0.89 s, VAE 0.62 s on this machine kind; docs/performance.md,
"Reference measurements") are printed for context; they were not measured in this run.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import statistics
from functools import partial
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader, Dataset

import mimkit.model.nets.mlp
from benchmarks.common import machine, median_seconds, timed, timed_fit, write_results
from mimkit.app.allocator import configure_allocator
from mimkit.data.gmm import GMMDataModule
from mimkit.model.autoencoder import build_autoencoder
from mimkit.training.epoch_means import EpochMeans
from mimkit.training.module import AutoencoderModule

MODEL = {
    "latent_dim": 2,
    "encoder": {"_target_": "mimkit.model.nets.mlp.GaussianMLP", "in_dim": 2, "out_dim": 2, "hidden": 50},
    "decoder": {"_target_": "mimkit.model.nets.mlp.GaussianMLP", "in_dim": 2, "out_dim": 2, "hidden": 50},
}
PRIOR = {"_target_": "mimkit.model.priors.standard.StandardNormalPrior"}
OBJECTIVES = {
    "mim": {"_target_": "mimkit.model.objectives.mim.MIM"},
    "vae": {"_target_": "mimkit.model.objectives.vae.VAE"},
}
AUTHORS_EPOCH_S = {"mim": 0.89, "vae": 0.62}


class PerItemGMM(Dataset):
    """The baseline loader: every sample drawn by its own __getitem__ call."""

    def __init__(self, means: np.ndarray, std: float, size: int):
        self.means, self.std, self.size = means, std, size
        self.rng = np.random.default_rng(0)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        label = self.rng.integers(len(self.means))
        x = self.means[label] + self.std * self.rng.standard_normal(self.means.shape[1])
        return torch.tensor(x, dtype=torch.float32), int(label)


def drain(loader) -> None:
    for _ in loader:
        pass


def bare_epoch(model, objective, optimizer, loader) -> None:
    for x, _ in loader:
        loss = objective(model, x, 1.0)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def torch_gaussian(validate: bool):
    """A stand-in for `DiagonalGaussian(mean, std)` built from torch.distributions."""

    def make(mean, std, event_dims: int = 1):
        normal = torch.distributions.Normal(mean, std, validate_args=validate)
        return torch.distributions.Independent(normal, event_dims, validate_args=validate)

    return make


@contextlib.contextmanager
def gaussian_class(factory):
    """The networks build their Gaussians with `factory` inside the block."""
    own = mimkit.model.nets.mlp.DiagonalGaussian
    mimkit.model.nets.mlp.DiagonalGaussian = factory
    try:
        yield
    finally:
        mimkit.model.nets.mlp.DiagonalGaussian = own


def distribution_classes(loader, repeats: int) -> dict:
    """Median bare-loop MIM epoch per Gaussian class, the variants interleaved epoch by epoch."""
    variants = {"own_s": None, "torch_s": torch_gaussian(False), "torch_validated_s": torch_gaussian(True)}
    objective = instantiate(OBJECTIVES["mim"])
    setups = {}
    for name in variants:
        torch.manual_seed(0)
        model = build_autoencoder(MODEL, PRIOR)
        setups[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-3))
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats + 1):  # the first round warms up
        for name, factory in variants.items():
            model, optimizer = setups[name]
            with gaussian_class(factory) if factory else contextlib.nullcontext():
                times[name].append(timed(partial(bare_epoch, model, objective, optimizer, loader))[0])
    result = {name: statistics.median(values[1:]) for name, values in times.items()}
    result["torch_over_own"] = result["torch_s"] / result["own_s"]
    result["torch_validated_over_own"] = result["torch_validated_s"] / result["own_s"]
    return result


class PlainSums:
    """The epoch means as they were before torchmetrics (da717b7): one running tensor sum per
    name, with the interface of `EpochMeans` that the module uses."""

    def __init__(self, names):
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.update_called = False

    def add(self, values: dict[str, torch.Tensor], count: int) -> None:
        for name, value in values.items():
            self.sums[name] = self.sums.get(name, 0.0) + value.detach() * count
        self.count += count
        self.update_called = True

    def flush(self) -> None:
        pass

    def compute(self) -> dict[str, torch.Tensor]:
        return {name: total / self.count for name, total in self.sums.items()}


class PlainSumsModule(AutoencoderModule):
    """The module with its epoch means kept as `PlainSums` (the baseline of section 4)."""

    def _epoch_means(self, stage: str, names):
        if stage not in self._means:
            self._means[stage] = PlainSums(list(names))
        return self._means[stage]


def lightning_epochs(
    objective: dict, datamodule, epochs: int, module_class: type = AutoencoderModule
) -> list[float]:
    module = module_class(MODEL, PRIOR, objective, {"lr": 1e-3, "schedule": "constant", "warmup": 0})
    return timed_fit(module, datamodule, "epoch", max_epochs=epochs, accelerator="cpu")


def bookkeeping_s(means_class, names: list[str], steps: int, repeats: int) -> float:
    """Median time of one epoch's epoch-mean bookkeeping alone: `steps` adds, flush, compute."""
    values = {name: torch.tensor(float(i)) for i, name in enumerate(names)}

    def epoch():
        means = means_class(names)
        for _ in range(steps):
            means.add(values, 128)
        means.flush()
        means.compute()

    return median_seconds(epoch, repeats)


def epoch_means_ab(datamodule, rounds: int) -> dict:
    """Section 4: Lightning epochs with torchmetrics' epoch means against plain sums, interleaved."""
    variants = {"plain_sums": PlainSumsModule, "torchmetrics": AutoencoderModule}
    steps = len(datamodule.train_dataloader())
    result = {"rounds": rounds, "epochs_per_round": 2}
    for name, objective_cfg in OBJECTIVES.items():
        times: dict[str, list[float]] = {variant: [] for variant in variants}
        ratios = []
        for round_ in range(rounds + 1):  # the first round warms up
            order = list(variants) if round_ % 2 else list(variants)[::-1]
            per_round = {}
            for variant in order:
                # the first epoch of a fit carries its start-up; the next two are timed
                per_round[variant] = statistics.median(
                    lightning_epochs(objective_cfg, datamodule, 3, variants[variant])[1:]
                )
            if round_:
                for variant, value in per_round.items():
                    times[variant].append(value)
                ratios.append(per_round["torchmetrics"] / per_round["plain_sums"])
        x = datamodule.train_fixed()[0][:8]
        names = list(instantiate(objective_cfg)(build_autoencoder(MODEL, PRIOR), x, 1.0))  # logged names
        result[name] = {
            "plain_sums_s": statistics.median(times["plain_sums"]),
            "torchmetrics_s": statistics.median(times["torchmetrics"]),
            "ratio_median": statistics.median(ratios),
            "ratio_quartiles": statistics.quantiles(ratios, n=4),
            "bookkeeping_plain_sums_s": bookkeeping_s(PlainSums, names, steps, 50),
            "bookkeeping_torchmetrics_s": bookkeeping_s(EpochMeans, names, steps, 50),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--samples", type=int, default=10000, help="GMM samples per epoch (a few hundred: a smoke test)"
    )
    args = parser.parse_args()
    configure_allocator()
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no start-up lines per fit
    torch.manual_seed(0)
    datamodule = GMMDataModule(seed=1, n_train=args.samples)
    results: dict = {**machine(), "repeats": args.repeats}

    per_item = DataLoader(PerItemGMM(datamodule.means.numpy(), 0.25, args.samples), batch_size=128)
    ours = datamodule.train_dataloader()
    data = {
        "per_item_s": median_seconds(lambda: drain(per_item), args.repeats),
        "batched_s": median_seconds(lambda: drain(ours), args.repeats),
    }
    data["speedup"] = data["per_item_s"] / data["batched_s"]
    results["data_epoch"] = data
    print(f"one epoch of GMM data ({args.samples:,} samples, batch 128), median of", args.repeats)
    print(f"  per-item DataLoader (baseline) {data['per_item_s']:8.4f} s")
    print(f"  whole-batch tensors (ours)     {data['batched_s']:8.4f} s   {data['speedup']:.0f}x faster")

    print(f"one training epoch at β = 1 ({math.ceil(args.samples / 128)} steps), median of", args.repeats)
    print(f"  {'objective':<9} {'bare loop':>10} {'Lightning':>10} {'ratio':>6} {'authors (reference)':>24}")
    for name, objective_cfg in OBJECTIVES.items():
        model = build_autoencoder(MODEL, PRIOR)
        objective = instantiate(objective_cfg)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        bare = median_seconds(partial(bare_epoch, model, objective, optimizer, ours), args.repeats)
        lightning = statistics.median(lightning_epochs(objective_cfg, datamodule, args.repeats + 1)[1:])
        results[f"epoch_{name}"] = {
            "bare_s": bare,
            "lightning_s": lightning,
            "lightning_over_bare": lightning / bare,
            "authors_s_not_this_run": AUTHORS_EPOCH_S[name],
        }
        print(
            f"  {name:<9} {bare:9.3f}s {lightning:9.3f}s {lightning / bare:6.2f} "
            f"{AUTHORS_EPOCH_S[name]:>23.2f}s"
        )

    rounds = 3 * args.repeats  # a 1.05 threshold needs a steadier median than the rest
    dist = distribution_classes(ours, rounds)
    results["distributions_mim_epoch"] = dist | {"rounds": rounds}
    print("one bare-loop MIM epoch at β = 1 by Gaussian class, median of", rounds)
    print(f"  mimkit.model.distributions.DiagonalGaussian          {dist['own_s']:8.3f} s")
    print(
        f"  Independent(Normal), validate_args=False    {dist['torch_s']:8.3f} s   "
        f"{dist['torch_over_own']:.2f}x ours"
    )
    print(
        f"  Independent(Normal), validated (torch default) {dist['torch_validated_s']:5.3f} s   "
        f"{dist['torch_validated_over_own']:.2f}x ours"
    )

    ab = epoch_means_ab(datamodule, 3 * args.repeats)
    results["epoch_means_lightning_epoch"] = ab
    print(
        f"one Lightning epoch at β = 1, torchmetrics epoch means over plain sums, "
        f"interleaved, median ratio of {ab['rounds']} rounds"
    )
    print(
        f"  {'objective':<9} {'plain sums':>10} {'torchmetrics':>12} {'ratio':>6} {'(quartiles)':>14} "
        f"{'bookkeeping per epoch':>22}"
    )
    for name in OBJECTIVES:
        row = ab[name]
        q1, _, q3 = row["ratio_quartiles"]
        print(
            f"  {name:<9} {row['plain_sums_s']:9.3f}s {row['torchmetrics_s']:11.3f}s "
            f"{row['ratio_median']:6.3f} ({q1:.3f}-{q3:.3f}) "
            f"{1e3 * row['bookkeeping_plain_sums_s']:7.2f} vs "
            f"{1e3 * row['bookkeeping_torchmetrics_s']:.2f} ms"
        )

    write_results(results, args.out)


if __name__ == "__main__":
    main()

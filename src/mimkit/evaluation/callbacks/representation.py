"""The paper's representation metrics (docs/maths.md §3), computed once at the end of every test epoch.

Logged through `pl_module.log`, so they reach `trainer.test`'s results and metrics.json:

| name | what |
|---|---|
| test/mi | KSG I(x; z), z ~ q(z|x), first `mi_pairs` test points, k = `ksg_k` |
| test/nll | −log q(x), importance sampling with S = `nll_samples`, first `nll_points` test points |
| test/nll_points, test/nll_samples | how many test points and samples per point `test/nll` used |
| test/nll_1s | −ELBO: the one-sample estimate of −log q(x) (the reference's toy-figure number) |
| test/points, test/mi_points | test points scored (all metrics but the NLL), pairs of the KSG estimate |
| test/knn{k} | K-NN accuracy, fit on `knn_train` training embeddings, scored on the test set |
| test/probe_acc | linear probe: logistic regression (cross-validated C) on the same embeddings |
| test/active_units | latent dims with Var_x(E_q[z_d]) > `active_threshold` (Burda et al.) |
| test/active_units/z1, /z2 | the same per latent group of the two-level image models |
| test/posterior_var_mean, test/posterior_var/d{i} | E_x[σ_d(x)²], mean over dims and per dim |
| test/consistency | MIM's consistency gap R (paper Eq. 10–11), S = `consistency_samples` |

All of it runs without gradients, in eval mode, from a fixed seed (the global RNG is left as it
was), on the datamodule's `test` tensors (all of them, or the first `test_points`) and its
`train_fixed()` set. The IS-NLL scores its test points in blocks of `nll_batch`, each block from
its own random stream (seeded from `seed` and the block's index), so that under DDP each process
scores every world-th block, the per-point values are summed across the processes and the result
is the one-process number (each test point scored once); rank 0 alone then computes the other
metrics (KSG, K-NN, ..., from `seed`) and sends them to the others, so every process logs the same
numbers.
Every pass takes bounded chunks: at most `rows_per_pass` (x, z) rows per pass of the NLL and the
consistency gap, the mixture priors' log-densities included, and at most `encode_batch` (and
`rows_per_pass`) rows per encoder or one-sample pass (`mimkit.evaluation.metrics.pass_size`: by default
2^15, 500 for images, on a CPU; measured from free memory on a GPU, and logged). The NLL over many images
(S = 5000) takes hours on a CPU: it logs its progress and the time left every minute. Under
`Trainer(fast_dev_run=...)` every metric is computed on at most `FAST_DEV_RUN_POINTS` points with
at most `FAST_DEV_RUN_SAMPLES` samples.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Sequence
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn

from mimkit.data.batches import labels_of
from mimkit.evaluation.metrics.consistency import consistency_gap
from mimkit.evaluation.metrics.knn import knn_accuracy
from mimkit.evaluation.metrics.ksg import ksg_mutual_information
from mimkit.evaluation.metrics.nll import Progress, nll_one_sample, nll_per_example
from mimkit.evaluation.metrics.pass_size import measured_rows_per_pass
from mimkit.evaluation.metrics.posterior import active_units, mean_posterior_variance
from mimkit.evaluation.metrics.probe import probe_accuracy
from mimkit.fields import NonNegativeInt, NonNegativeNumber, PositiveInt
from mimkit.model.autoencoder import seeded_eval
from mimkit.seeding import seed_generators

# the caps of a `fast_dev_run` (one batch of everything): points per metric, samples per estimate
FAST_DEV_RUN_POINTS = 256
FAST_DEV_RUN_SAMPLES = 10
# the precisions of the NLL passes' networks
NllPrecision = Literal["32", "bf16", 32]  # the YAML value 32 reads as the integer


@contextlib.contextmanager
def _timed(timings: dict | None, name: str):
    start = time.perf_counter()
    yield
    if timings is not None:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


@torch.no_grad()
def encode(model, x: torch.Tensor, batch_size: int) -> dict[str, torch.Tensor]:
    """Posterior means, stds (if Gaussian) and one sample z ~ q(z|x) for every row of x; for
    two-level latents z = [z1, z2] also "z1_dim" (an int)."""
    parts: dict[str, list] = {"mean": [], "std": [], "sample": []}
    z1_dim = None
    for start in range(0, len(x), batch_size):
        posterior = model.encoder(x[start : start + batch_size])
        parts["mean"].append(posterior.mean)
        parts["sample"].append(posterior.sample())
        if getattr(posterior, "std", None) is not None:
            parts["std"].append(posterior.std)
        z1_dim = getattr(posterior, "z1_dim", None)
    codes = {name: torch.cat(values) for name, values in parts.items() if values}
    return codes if z1_dim is None else {**codes, "z1_dim": z1_dim}


def block_seed(seed: int, block: int) -> int:
    """The seed of the IS-NLL's random stream for its test points of block number `block`."""
    return int(np.random.SeedSequence((seed, block)).generate_state(1)[0])


@torch.no_grad()
def nll_shard(
    model,
    x: torch.Tensor,
    samples: int,
    block_size: int,
    seed: int | None,
    rank: int = 0,
    world: int = 1,
    max_pairs: int | None = None,
) -> torch.Tensor:
    """−log q(x) (importance sampling, S = `samples`, docs/maths.md §3) of the rows of x in the blocks of
    `block_size` rows that fall to process `rank` of `world` (block b to rank b mod world), 0 for
    the other rows. Block b draws from the stream `block_seed(seed, b)` (seed None: the global RNG
    as it is), so the sum over the `world` processes' results is the same for any world. Passes of
    at most `max_pairs` (x, z) rows (`nll_per_example`)."""
    values = torch.zeros(len(x), device=x.device)
    blocks = range(rank, math.ceil(len(x) / block_size), world)
    progress = Progress(sum(len(x[b * block_size : (b + 1) * block_size]) for b in blocks), samples)
    for b in blocks:
        rows = slice(b * block_size, (b + 1) * block_size)
        if seed is not None:
            seed_generators(block_seed(seed, b), x.device)
        values[rows] = nll_per_example(model, x[rows], samples, block_size, max_pairs, progress_every=None)
        progress.advance(len(x[rows]) * samples)
    progress.finish()
    return values


class RepresentationMetrics(L.Callback):
    """Computes MI, NLL, K-NN accuracy, collapse diagnostics and consistency at test time.

    mi_pairs: test points for the KSG estimate (docs/maths.md §3: 10,000; 3,000 for images).
    ksg_k: KSG neighbour order (docs/maths.md §3: 5).
    nll_samples: S of the importance-sampling NLL (docs/maths.md §3: 5000 for images).
    nll_batch: test points scored per pass of the NLL; the S samples are drawn in chunks so a
        pass holds at most `rows_per_pass` (x, z) rows.
    knn_ks: the k of the K-NN accuracies (docs/maths.md §3: 1, 3, 5, 10).
    knn_train: training points (from `train_fixed()`) the K-NN classifier is fit on.
    embed_sample: embed with a draw z ~ q(z|x) (the reference) rather than the posterior mean.
    consistency_samples: S of the log q(x) estimate inside the consistency gap.
    consistency_pairs: data points for the gap; as many decoder pairs are added (2× in all).
    active_threshold: variance threshold of an active unit (Burda et al.: 0.01).
    encode_batch: rows per encoder pass when embedding whole sets.
    seed: seed of the metrics' own random draws (None: use the global RNG as it is).
    test_points: score only the first `test_points` test points (None: all of them).
    nll_points: score `test/nll` on the first `nll_points` of those only (None: all); the S = 5000
        image NLL costs seconds per image on a CPU, the other metrics milliseconds.
    nll_precision: "32" (default) or "bf16": the networks of the NLL passes under bf16 autocast,
        densities and logsumexp still fp32 (`mimkit.model.distributions.full_precision`): faster on a CPU
        with native bf16, at the cost of small NLL shifts (how much: docs/performance.md). Recorded
        as `test/nll_bf16` = 1.
    rows_per_pass: the most (x, z) rows in one pass of the NLL and the consistency gap, the mixture
        priors included, and in one encoder pass (None: the device's default,
        `mimkit.evaluation.metrics.pass_size`; docs/gpu.md).
    probe: also report `test/probe_acc`, the linear probe (`mimkit.evaluation.metrics.probe`) on the K-NN's
        training and test embeddings; it draws nothing, so the other metrics are the same without it.

    The label metrics (K-NN, the probe) need labels on both sets: data without labels (a split
    (x, None), `mimkit.data.batches.labels_of`) skip them, and `skipped` ({name: why}, read into
    metrics.json by `mimkit.app.run`) says so.
    """

    def __init__(
        self,
        mi_pairs: PositiveInt = 10000,
        ksg_k: PositiveInt = 5,
        nll_samples: PositiveInt = 1000,
        nll_batch: PositiveInt = 32,
        knn_ks: Sequence[PositiveInt] = (1, 3, 5, 10),
        knn_train: PositiveInt = 10000,
        embed_sample: bool = True,
        consistency_samples: PositiveInt = 100,
        consistency_pairs: PositiveInt = 10000,
        active_threshold: NonNegativeNumber = 0.01,
        encode_batch: PositiveInt = 10000,
        seed: NonNegativeInt | None = 0,
        test_points: PositiveInt | None = None,
        nll_points: PositiveInt | None = None,
        nll_precision: NllPrecision = "32",
        rows_per_pass: PositiveInt | None = None,
        probe: bool = True,
    ):
        self.mi_pairs = mi_pairs
        self.ksg_k = ksg_k
        self.nll_samples = nll_samples
        self.nll_batch = nll_batch
        self.knn_ks = tuple(knn_ks)
        self.knn_train = knn_train
        self.embed_sample = embed_sample
        self.consistency_samples = consistency_samples
        self.consistency_pairs = consistency_pairs
        self.active_threshold = float(active_threshold)
        self.encode_batch = encode_batch
        self.seed = seed
        self.test_points = test_points
        self.nll_points = nll_points
        self.nll_precision = str(nll_precision)
        self.rows_per_pass = rows_per_pass
        self.probe = probe
        self.skipped: dict[str, str] = {}  # the metrics the last `compute` skipped, and why

    def capped(self, points: int, samples: int) -> RepresentationMetrics:
        """A copy that uses at most `points` test, K-NN training, MI and consistency points and
        at most `samples` samples per NLL and consistency estimate (for a quick check run)."""
        small = copy.copy(self)
        small.test_points = min(self.test_points or points, points)
        small.nll_points = min(self.nll_points or points, points)
        small.mi_pairs = min(self.mi_pairs, points)
        small.knn_train = min(self.knn_train, points)
        small.consistency_pairs = min(self.consistency_pairs, points)
        small.nll_samples = min(self.nll_samples, samples)
        small.consistency_samples = min(self.consistency_samples, samples)
        return small

    def compute(
        self,
        model,
        test: tuple,
        train: tuple | None = None,
        timings: dict[str, float] | None = None,
        rank: int = 0,
        world: int = 1,
        sum_over_ranks=None,
    ) -> dict[str, float]:
        """All metrics for `model` (an Autoencoder) on test = (x, labels), train = (x, labels).

        K-NN accuracies are skipped when `train` is None or either set has no labels.
        `timings`, if given, receives the seconds spent per metric. Data-parallel: this is
        process `rank` of `world`, and `sum_over_ranks(tensor)` sums a tensor over the processes;
        the IS-NLL is shared between them, the other metrics are rank 0's (the other ranks return
        the NLL's entries only).
        """
        self.skipped = {}
        if self.test_points is not None:
            test = tuple(None if part is None else part[: self.test_points] for part in test)
        anchor = next(model.parameters())
        x_test = test[0].to(anchor.device)
        # the NLL's blocks seed their own streams; the other metrics start again from `seed`
        with seeded_eval(model, self.seed, anchor.device):
            rows = self.rows_per_pass
            if rows is None and x_test.device.type == "cuda":  # measured once for every estimate
                rows = measured_rows_per_pass(model, x_test)
            metrics = self._nll(model, x_test, rows, timings, rank, world, sum_over_ranks or (lambda t: t))
            if rank > 0:
                return metrics
            if self.seed is not None:
                seed_generators(self.seed, anchor.device)
            return {**metrics, **self._compute(model, x_test, test, train, rows, timings)}

    def _nll(self, model, x_test, rows, timings, rank, world, sum_over_ranks) -> dict[str, float]:
        """test/nll over the first `nll_points` test points, this process's blocks summed with the
        others'."""
        x_nll = x_test[: self.nll_points]
        with (
            _timed(timings, "nll"),
            torch.autocast(x_test.device.type, dtype=torch.bfloat16, enabled=self.nll_precision == "bf16"),
        ):
            values = nll_shard(model, x_nll, self.nll_samples, self.nll_batch, self.seed, rank, world, rows)
            metrics = {
                "test/nll": float(sum_over_ranks(values).double().mean()),
                "test/nll_points": float(len(x_nll)),
                "test/nll_samples": float(self.nll_samples),
            }
        if self.nll_precision == "bf16":
            metrics["test/nll_bf16"] = 1.0
        return metrics

    def _compute(self, model, x_test, test, train, rows, timings) -> dict[str, float]:
        metrics: dict[str, float] = {"test/points": float(len(x_test))}
        batch = self.encode_batch if rows is None else min(self.encode_batch, rows)
        with _timed(timings, "encode"):
            codes = encode(model, x_test, batch)
        with _timed(timings, "mi"):
            n = min(self.mi_pairs, len(x_test))
            if not x_test.is_floating_point():
                self.skipped["test/mi"] = "token sequences: the KSG estimator needs continuous x"
            elif n > self.ksg_k:
                # in the model's input units: standardised where the model standardises its data
                scaled = getattr(model, "standardization", None)
                x_mi = x_test[:n] if scaled is None else scaled(x_test[:n])
                metrics["test/mi"] = ksg_mutual_information(x_mi, codes["sample"][:n], k=self.ksg_k)
                metrics["test/mi_points"] = float(n)
        with _timed(timings, "nll_1s"):
            metrics["test/nll_1s"] = nll_one_sample(model, x_test, batch)
        train_labels, test_labels = None if train is None else labels_of(train), labels_of(test)
        if train_labels is None or test_labels is None:
            why = "no training set (train_fixed())" if train is None else "the data have no labels"
            names = ["test/knn", "test/probe_acc"] if self.probe else ["test/knn"]
            self.skipped.update(dict.fromkeys(names, why))
        else:
            with _timed(timings, "knn"):
                x_train = train[0][: self.knn_train].to(x_test.device)
                train_codes = encode(model, x_train, batch)
                key = "sample" if self.embed_sample else "mean"
                ks = [k for k in self.knn_ks if k <= len(x_train)]
                train_labels = train_labels[: self.knn_train]
                scores = knn_accuracy(train_codes[key], train_labels, codes[key], test_labels, ks)
                metrics.update({f"test/knn{k}": value for k, value in scores.items()})
            if self.probe:  # draws nothing: the metrics after it are unchanged
                with _timed(timings, "probe"):
                    try:
                        metrics["test/probe_acc"] = probe_accuracy(
                            train_codes[key], train_labels, codes[key], test_labels
                        )
                    except ValueError as error:  # e.g. one class among the training points
                        self.skipped["test/probe_acc"] = str(error)
        with _timed(timings, "posterior"):
            metrics["test/active_units"] = float(active_units(codes["mean"], self.active_threshold))
            if "z1_dim" in codes:  # two-level latents z = [z1, z2]
                z1_dim = codes["z1_dim"]
                for group, means in (("z1", codes["mean"][:, :z1_dim]), ("z2", codes["mean"][:, z1_dim:])):
                    metrics[f"test/active_units/{group}"] = float(active_units(means, self.active_threshold))
            if "std" in codes:
                variances = mean_posterior_variance(codes["std"])
                metrics["test/posterior_var_mean"] = float(variances.mean())
                metrics.update({f"test/posterior_var/d{i}": float(v) for i, v in enumerate(variances)})
        with _timed(timings, "consistency"):
            metrics["test/consistency"] = consistency_gap(
                model, x_test[: self.consistency_pairs], self.consistency_samples, max_pairs=rows
            )
        return metrics

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule: Any = getattr(trainer, "datamodule", None)
        test = getattr(datamodule, "test", None)
        if test is None:
            rank_zero_warn(
                "RepresentationMetrics: the datamodule has no `test` tensors; representation metrics skipped"
            )
            return
        try:
            train = datamodule.train_fixed()
        except (AttributeError, NotImplementedError):
            rank_zero_warn("RepresentationMetrics: no `train_fixed()` set; K-NN accuracy skipped")
            train = None
        # Lightning's Trainer sets fast_dev_run in a connector, out of the type checker's sight
        fast = trainer.fast_dev_run  # type: ignore[attr-defined]
        metrics = self.capped(FAST_DEV_RUN_POINTS, FAST_DEV_RUN_SAMPLES) if fast else self
        strategy = trainer.strategy
        values = metrics.compute(
            pl_module.model,
            test,
            train,
            rank=trainer.global_rank,
            world=trainer.world_size,
            sum_over_ranks=lambda tensor: strategy.reduce(tensor, reduce_op="sum"),
        )
        self.skipped = metrics.skipped  # a capped copy's record too
        # rank 0's numbers to every process, which logs them (sync_dist: the mean of equal values)
        for name, value in strategy.broadcast(values, src=0).items():
            pl_module.log(name, value, sync_dist=True)

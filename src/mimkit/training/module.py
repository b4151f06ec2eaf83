"""The LightningModule: orchestration only. The loss is the objective's, the model the
`Autoencoder`'s; this class wires them to the optimiser, the schedule and the logs."""

from __future__ import annotations

import logging
import time

import lightning as L
import torch
from hydra.utils import instantiate

from mimkit.errors import ConfigError
from mimkit.model.autoencoder import build_autoencoder
from mimkit.model.distributions import check_binary
from mimkit.model.priors.vamp import VampPrior
from mimkit.training.callbacks.beta_warmup import BetaWarmup
from mimkit.training.epoch_means import EpochMeans
from mimkit.training.gradients import normalize_per_tensor
from mimkit.training.nonfinite import NonFiniteWatch
from mimkit.training.schedules import noam_factor

log = logging.getLogger(__name__)

# the optimiser when `optim` names none (conf/optim/adam.yaml)
ADAM = {"_target_": "torch.optim.Adam", "_partial_": True}


def reconstruction_error(model, x: torch.Tensor, sample: bool) -> torch.Tensor:
    """Mean Euclidean distance ||x - x'|| over the batch (docs/maths.md §3)."""
    return (model.reconstruct(x, sample=sample) - x).flatten(1).norm(dim=1).mean()


def check_binary_data(datamodule) -> None:
    """ConfigError (a ValueError: one line) naming the data set unless the datamodule's fixed
    training, validation and test inputs are all 0 or 1 (a Bernoulli decoder's data; checked once,
    not per log_prob), followed by the datamodule's `binary_advice` where it has one."""
    name = type(datamodule).__name__
    sets = {
        "training set": datamodule.train_fixed(),
        "validation set": getattr(datamodule, "val", None),
        "test set": getattr(datamodule, "test", None),
    }
    for part, tensors in sets.items():
        if tensors is not None:
            try:
                check_binary(tensors[0], f"the data ({name}, {part})")
            except ValueError as error:
                raise ConfigError(f"{error}{getattr(datamodule, 'binary_advice', '')}") from None


# the run config's keys that build the module's components (its other keys are stored as `run`)
COMPONENT_KEYS = ("model", "prior", "objective", "optim")


def run_config(hyperparameters) -> dict | None:
    """The whole run config held by a module's hyperparameters (None where there is none)."""
    run = hyperparameters.get("run")
    return None if run is None else {**run, **{role: hyperparameters[role] for role in COMPONENT_KEYS}}


class AutoencoderModule(L.LightningModule):
    """Trains `Autoencoder(model, prior)` with `objective`; all arguments are plain dicts, checked
    by the config schema (`mimkit.app.schema`: `FLAT`/`TWO_LEVEL`, `OPTIM`) at start-up.

    model, prior, objective: Hydra node dicts with `_target_` (stored as hyperparameters, so a
    checkpoint rebuilds the module with torch's weights_only loader).
    optim: {"lr": float, "schedule": "noam" | "constant", "warmup": int,
        "grad_norm": "none" | "per_tensor" (optional, default "none": see `mimkit.training.gradients`),
        "optimizer": a `_partial_` node of a torch.optim class, called with (params, lr=lr)
        (optional, default `ADAM`; conf/optim/)}.
    model["eval_recon"] (optional, default true): log reconstruction errors at every validation and
        test; "test": in test steps only, for decoders whose sampling is slow (PixelHVAE draws 784
        pixels in turn); false: never.
    run: the run config's other keys (data, trainer, seed, ...) as train.py resolved them, stored
        with the others so that a checkpoint holds its whole run config once (`run_config`); None
        for a module built in Python.
    standardization: the data's per-feature {"shift": [...], "scale": [...]} (plain floats, from
        the datamodule's `standardization`: `data=tensors`), applied by the model
        (`mimkit.model.standardization`); None: the data are used as they are.
    vocabulary: the tokens of sequence data (data=smiles|text), id order; it sizes a token
        model's embeddings and outputs and decodes its samples.
    """

    def __init__(
        self,
        model: dict,
        prior: dict,
        objective: dict,
        optim: dict,
        run: dict | None = None,
        standardization: dict | None = None,
        vocabulary: list[str] | None = None,
    ):
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.model = build_autoencoder(model, prior, standardization, vocabulary)
        self.objective = instantiate(objective)
        self.beta = 1.0
        self.nonfinite = NonFiniteWatch()
        # this epoch's means of the logged values per stage (train, val, test), made at its first step
        self._means: dict[str, EpochMeans] = {}

    @classmethod
    def from_run_config(cls, config: dict, datamodule=None) -> AutoencoderModule:
        """The module of a resolved run config (plain containers), which it keeps, and of what the
        model takes from its data: standardisation statistics (data=tensors) and a vocabulary
        (data=smiles|text), where the datamodule has them."""
        return cls(
            **{role: config[role] for role in COMPONENT_KEYS},
            run={k: v for k, v in config.items() if k not in COMPONENT_KEYS},
            standardization=getattr(datamodule, "standardization", None),
            vocabulary=getattr(datamodule, "vocabulary", None),
        )

    @property
    def run_config(self) -> dict | None:
        """The whole run config this module was built from (None: built in Python)."""
        return run_config(self.hparams)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.embed(x)

    def on_fit_start(self) -> None:
        if self.trainer.world_size > 1:  # DDP: each process draws its own noise and prior samples
            torch.manual_seed(torch.initial_seed() + self.trainer.global_rank)
        # Lightning's Trainer sets callbacks and log_every_n_steps in connectors, out of the type
        # checker's sight
        callbacks = self.trainer.callbacks  # type: ignore[attr-defined]
        if not any(isinstance(callback, BetaWarmup) for callback in callbacks):
            log.warning(
                "no BetaWarmup among the callbacks (this callbacks preset has no β warm-up): "
                "β stays %g for the whole run",
                self.beta,
            )

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x = batch[0]
        out = self.objective(self.model, x, self.beta)
        loss = out["loss"]
        self.nonfinite.observe(loss, self.current_epoch + 1, self.global_step)  # no host sync
        # epoch means accumulated here and logged once per epoch: `self.log` on every step
        # cost as much as the step itself for the toy models (benchmarks/training_speed.py)
        self._epoch_means("train", out).add(out, len(x))
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        # one host read per logging interval, and at the epoch's last batch (before validation
        # and checkpoints): a non-finite loss ends the run there, naming its epoch and step
        every = self.trainer.log_every_n_steps  # type: ignore[attr-defined]  # as above
        if (batch_idx + 1) % every == 0 or self.trainer.is_last_batch:
            self.nonfinite.check()

    def _epoch_means(self, stage: str, names) -> EpochMeans:
        """The running means of `stage` in this epoch, over the names of its first step (made
        anew every epoch: the objective's outputs can change with β)."""
        if stage not in self._means:
            with torch.device(self.device):  # its states made there: no copy from the host in a step
                self._means[stage] = EpochMeans(list(names))
        return self._means[stage]

    def _log_epoch_means(self, stage: str) -> dict[str, torch.Tensor]:
        """Log the epoch means of `stage` as `stage/name`, over every DDP process's items (the
        metric sums its states over processes), and return them."""
        metric = self._means.get(stage)
        if metric is not None:
            metric.flush()
        means = metric.compute() if metric is not None and metric.update_called else {}
        self.log_dict({f"{stage}/{name}": value for name, value in means.items()})
        return means

    def on_train_epoch_start(self) -> None:
        self._means.pop("train", None)
        self._epoch_start = time.perf_counter()

    def on_train_epoch_end(self) -> None:
        means = self._log_epoch_means("train")
        self.log("train/beta", self.beta, sync_dist=True)
        log.info(self._epoch_summary(means.get("loss"), int(self._means["train"].count) if means else 0))

    def _epoch_summary(self, loss: torch.Tensor | None, items: int) -> str:
        """One log line per epoch (train.log shows progress with the bar off, e.g. in sweeps)."""
        seconds = time.perf_counter() - self._epoch_start
        parts = [f"epoch {self.current_epoch + 1}/{self.trainer.max_epochs}", f"β={self.beta:.3g}"]
        if loss is not None:
            parts.append(f"train/loss={float(loss):.4g}")
        val = self.trainer.callback_metrics.get("val/loss")
        if val is not None:
            parts.append(f"val/loss={float(val):.4g}")
        parts.append(f"{seconds:.1f} s ({items / seconds:.0f} training items/s)")
        return "  ".join(parts)

    def _evaluation_step(self, batch, stage: str) -> None:
        x = batch[0]
        out = self.objective(self.model, x, 1.0)  # model selection uses the β = 1 loss
        metrics = dict(out)
        when = self.hparams["model"].get("eval_recon", True)
        if when is True or (when == "test" and stage == "test"):
            metrics["recon"] = reconstruction_error(self.model, x, sample=True)
            metrics["recon_mean"] = reconstruction_error(self.model, x, sample=False)
        self._epoch_means(stage, metrics).add(metrics, len(x))

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluation_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluation_step(batch, "test")

    def on_validation_epoch_start(self) -> None:
        self._means.pop("val", None)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_means("val")

    def on_test_epoch_start(self) -> None:
        self._means.pop("test", None)

    def on_test_epoch_end(self) -> None:
        self._log_epoch_means("test")

    def setup(self, stage: str) -> None:
        """Pseudo-inputs initialised from training data (prior.init=data) at the start of a fit;
        a resumed fit restores them from its checkpoint afterwards."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        if datamodule is None:
            return
        if getattr(self.model.decoder, "binary_data", False):
            check_binary_data(datamodule)
        if stage != "fit":
            return
        for prior in self.model.modules():
            if isinstance(prior, VampPrior) and prior.init == "data":
                prior.initialise_from(datamodule.train_fixed()[0])

    def on_before_optimizer_step(self, optimizer) -> None:
        if self.hparams["optim"].get("grad_norm", "none") == "per_tensor":
            normalize_per_tensor(self)

    def configure_optimizers(self):
        optim = self.hparams["optim"]
        optimizer = instantiate(optim.get("optimizer", ADAM))(self.parameters(), lr=optim["lr"])
        if optim["schedule"] == "constant":
            return optimizer
        warmup = optim["warmup"]
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda index: noam_factor(index + 1, warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}

"""Generation, reconstruction and latent-neighbourhood metrics of a token model (data=smiles|text)
at the end of testing (docs/maths.md §3), with its samples and pictures in the run dir.

- test/gen/validity, unique@k, novelty, int_div, int_div2, fcd: MOSES's metrics of `samples`
  sequences decoded from z ~ p(z) (text: unique@k and novelty);
- test/recon/exact, test/recon/token_acc: greedy decoding from μ(x) of the first
  `reconstruction_points` test sequences;
- test/around{σ}/validity, unique, novelty, similarity: MolMIM's sampling, greedy decoding of
  z = μ(x) + σ·ε around the first `seeds` test molecules, and the mean Tanimoto similarity to the seed.

Files: samples.txt (the generated sequences), interpolations.png (molecules, drawn by RDKit) or
interpolations.txt. Without RDKit the molecule metrics and the picture are skipped in one line
(`skipped`, read into metrics.json).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import lightning as L
import torch

from mimkit.evaluation.callbacks.wandb_images import log_images
from mimkit.evaluation.metrics import molecules
from mimkit.evaluation.metrics.sequences import novel_fraction, reconstruction_accuracy, unique_fraction
from mimkit.fields import NonNegativeInt, NonNegativeNumber, PositiveInt, PositiveNumber
from mimkit.model.autoencoder import Autoencoder, seeded_eval

log = logging.getLogger(__name__)

FAST_DEV_RUN_POINTS = 16  # a fast_dev_run's samples, reconstructions and seeds


class SequenceMetrics(L.Callback):
    """samples: sequences drawn from the prior for the generation metrics (MOSES: 30,000; 10,000
        for unique@10k). temperature: of those draws (1: p(x|z) itself).
    unique_ks: the k of unique@k. fcd: also the Fréchet ChemNet Distance to `fcd_points` test
        molecules (the `fcd` package, offline).
    reconstruction_points, seeds: test sequences for the reconstruction and perturbation metrics.
    scales: the σ of the perturbations (MolMIM's sampling around a molecule).
    interpolation_pairs, interpolation_steps: the picture's pairs of test sequences and points
        per path (both ends included).
    seed: the metrics' own random draws (the global generators are left as they were).
    """

    def __init__(
        self,
        samples: PositiveInt = 10000,
        temperature: PositiveNumber = 1.0,
        unique_ks: Sequence[PositiveInt] = (1000, 10000),
        fcd: bool = True,
        fcd_points: PositiveInt = 10000,
        reconstruction_points: PositiveInt = 1000,
        seeds: PositiveInt = 1000,
        scales: Sequence[NonNegativeNumber] = (0.1, 0.5, 1.0),
        batch: PositiveInt = 1000,
        interpolation_pairs: NonNegativeInt = 4,
        interpolation_steps: PositiveInt = 8,
        seed: NonNegativeInt = 0,
    ):
        self.samples, self.temperature, self.unique_ks = samples, temperature, tuple(unique_ks)
        self.fcd, self.fcd_points = fcd, fcd_points
        self.reconstruction_points, self.seeds, self.scales = reconstruction_points, seeds, tuple(scales)
        self.batch, self.seed = batch, seed
        self.interpolation_pairs, self.interpolation_steps = interpolation_pairs, interpolation_steps
        self.skipped: dict[str, str] = {}
        self.written: list[Path] = []

    def _decode(self, model: Autoencoder, z: torch.Tensor, greedy: bool) -> torch.Tensor:
        """Id rows for the codes z, `batch` at a time: greedy, or drawn at `temperature`."""
        parts = []
        for part in z.split(self.batch):
            likelihood = model.decoder(part)
            parts.append(likelihood.mean if greedy else likelihood.sample(temperature=self.temperature))
        return torch.cat(parts)

    def _encode(self, model: Autoencoder, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([model.encoder(part).mean for part in x.split(self.batch)])

    def compute(
        self, model: Autoencoder, datamodule: Any, fast: bool = False
    ) -> tuple[dict[str, float], list[str]]:
        """({name: value} without the `test/` prefix, the generated strings)."""
        cap = (lambda n: min(n, FAST_DEV_RUN_POINTS)) if fast else (lambda n: n)
        self.skipped = {}
        chemistry = datamodule.kind == "smiles"
        if chemistry:
            try:
                molecules.canonical("C")
            except molecules.MissingChemistry as error:
                chemistry = False
                self.skipped.update({"test/gen/validity": str(error), "test/around/validity": str(error)})
        reference = datamodule.training_strings()
        device = next(model.parameters()).device
        x_test = datamodule.test[0].to(device)
        metrics: dict[str, float] = {}
        # generation from the prior
        z = model.prior.sample(cap(self.samples))
        generated = datamodule.decode(self._decode(model, z, greedy=False))
        ks = [k for k in self.unique_ks if k <= len(generated)] or [len(generated)]
        if chemistry:
            fcd_reference = None
            if self.fcd and not fast:
                fcd_reference = datamodule.decode(datamodule.test[0][: self.fcd_points])
            else:
                self.skipped["test/gen/fcd"] = "fast_dev_run" if fast else "fcd: false"
            values = molecules.generation_metrics(generated, reference, ks, fcd_reference)
            if fcd_reference is not None and "fcd" not in values:
                self.skipped["test/gen/fcd"] = "the fcd package is not installed"
        else:
            values = {f"unique@{k}": unique_fraction(generated, k) for k in ks}
            values["novelty"] = novel_fraction(generated, reference)
        metrics.update({f"gen/{name}": value for name, value in values.items()})
        # reconstruction: greedy decoding from the posterior means
        x = x_test[: cap(self.reconstruction_points)]
        exact, tokens = reconstruction_accuracy(x, self._decode(model, self._encode(model, x), greedy=True))
        metrics.update({"recon/exact": exact, "recon/token_acc": tokens})
        # MolMIM's sampling around known sequences
        x = x_test[: cap(self.seeds)]
        mu = self._encode(model, x)
        seeds = datamodule.decode(x)
        for scale in self.scales:
            around = datamodule.decode(self._decode(model, mu + scale * torch.randn_like(mu), greedy=True))
            name = f"around{scale:g}"
            if chemistry:
                found = molecules.neighbourhood_metrics(around, seeds, reference)
                metrics.update({f"{name}/{measure}": value for measure, value in found.items()})
            else:
                metrics[f"{name}/unique"] = unique_fraction(around)
                metrics[f"{name}/novelty"] = novel_fraction(around, reference)
        return {name: value for name, value in metrics.items() if not math.isnan(value)}, generated

    def _interpolations(self, model: Autoencoder, datamodule: Any, out: Path, chemistry: bool) -> Path | None:
        """interpolations.png (RDKit drawings) or .txt: decoded points between pairs of test
        sequences, one pair a row."""
        x = datamodule.test[0]
        pairs = min(self.interpolation_pairs, len(x) // 2)
        if not pairs:
            return None
        device = next(model.parameters()).device
        path = model.interpolate(
            x[:pairs].to(device), x[pairs : 2 * pairs].to(device), self.interpolation_steps
        )
        rows = [datamodule.decode(row) for row in path]
        if not chemistry:
            target = out / "interpolations.txt"
            target.write_text("".join(" | ".join(row) + "\n" for row in rows))
            return target
        from rdkit import Chem
        from rdkit.Chem import Draw

        mols = [Chem.MolFromSmiles(s) or Chem.Mol() for row in rows for s in row]
        legends = [s if len(s) <= 24 else s[:21] + "..." for row in rows for s in row]
        picture = Draw.MolsToGridImage(
            mols, molsPerRow=self.interpolation_steps, subImgSize=(220, 180), legends=legends
        )
        target = out / "interpolations.png"
        picture.save(str(target))
        return target

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule: Any = getattr(trainer, "datamodule", None)
        if getattr(datamodule, "vocabulary", None) is None:
            return  # not token data
        model = cast(Autoencoder, pl_module.model)  # an AutoencoderModule's
        fast = bool(trainer.fast_dev_run)  # type: ignore[attr-defined]  # set in a connector
        with seeded_eval(model, self.seed, pl_module.device):
            values, generated = self.compute(model, datamodule, fast)
            out = Path(trainer.default_root_dir)
            self.written = []
            if trainer.is_global_zero:
                (out / "samples.txt").write_text("".join(s + "\n" for s in generated))
                chemistry = datamodule.kind == "smiles" and "test/gen/validity" not in self.skipped
                picture = self._interpolations(model, datamodule, out, chemistry)
                self.written = [out / "samples.txt"] + ([picture] if picture else [])
                log.info("sequence samples and pictures written to %s", ", ".join(map(str, self.written)))
                if picture is not None and picture.suffix == ".png":
                    log_images(trainer, {"test/interpolations": picture})
        for name, value in values.items():  # every process computed the same numbers from `seed`
            pl_module.log(f"test/{name}", value)

"""Token models end to end: model=seq_gru trained by every objective on small synthetic MOSES files
and on a text file, the checkpoint's vocabulary, the sequence metrics against hand-counted answers,
and the one-line refusals of mismatched data and models."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import compose_config
from torch import nn

from mimkit.app.latent import latent
from mimkit.app.run import evaluate, train
from mimkit.data.tokens import decode, encode, tokenize
from mimkit.errors import ConfigError
from mimkit.evaluation.callbacks.sequences import SequenceMetrics
from mimkit.evaluation.metrics.sequences import novel_fraction, reconstruction_accuracy, unique_fraction
from mimkit.training.checkpoint_io import load_module

SMALL = [
    "model.hidden=32",
    "model.latent_dim=4",
    "data.max_length=40",
    "data.n_train=200",
    "data.n_val=40",
    "data.n_test=60",
    "data.batch_size=32",
    "callbacks.sequence_metrics.samples=50",
    "callbacks.sequence_metrics.unique_ks=[10,50]",
    "callbacks.sequence_metrics.fcd=false",
    "callbacks.sequence_metrics.reconstruction_points=20",
    "callbacks.sequence_metrics.seeds=20",
    "callbacks.representation_metrics.nll_points=10",
    "callbacks.representation_metrics.nll_samples=5",
    "callbacks.representation_metrics.consistency_pairs=10",
]


@pytest.mark.parametrize("objective", ["vae", "amim", "mim"])
def test_every_objective_trains_on_smiles(train_config, moses, tmp_path, objective):
    pytest.importorskip("rdkit")
    cfg = train_config(
        "model=seq_gru",
        f"objective={objective}",
        f"data.source_dir={moses}",
        f"data.data_dir={tmp_path / 'data'}",
        *SMALL,
    )
    metrics = train(cfg)
    stored = json.loads((tmp_path / "metrics.json").read_text())
    for name in (
        "test/gen/validity",
        "test/recon/exact",
        "test/recon/token_acc",
        "test/around0.5/validity",
        "test/nll",
    ):
        assert 0.0 <= metrics[name] <= 1.0 or name == "test/nll", name
        assert stored[name] == metrics[name]
    assert math.isfinite(metrics["test/nll"]) and metrics["test/nll"] > 0
    assert stored["skipped"]["test/mi"].startswith("token sequences")
    assert len((tmp_path / "samples.txt").read_text().splitlines()) == 50
    assert (tmp_path / "interpolations.png").stat().st_size > 0
    if objective == "mim":  # decoder pairs were drawn and scored
        assert {"val/decoder_log_px_z", "test/decoder_pair_loss"} <= set(stored)
        # the vocabulary travels in the checkpoint (torch's safe loader), and eval.py re-reads the
        # data with it: the same test metrics again
        best = next((tmp_path / "checkpoints").glob("epoch_*.ckpt"))
        module = load_module(str(best))
        vocabulary = module.hparams["vocabulary"]
        assert vocabulary[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"] and "Cl" in vocabulary
        assert module.model.decoder.out.out_features == len(vocabulary)
        settings = [s for s in SMALL if s.startswith("callbacks.")] + [
            "callbacks.representation_metrics.rows_per_pass=4000",
            "callbacks.representation_metrics.test_points=2000",
            "callbacks.progress_bar=null",
            "trainer.enable_progress_bar=false",
        ]
        again = evaluate(compose_config("eval", [f"ckpt_path={best}", *settings], tmp_path / "eval"))
        assert again["test/nll"] == pytest.approx(metrics["test/nll"], rel=1e-6)
        assert again["test/gen/validity"] == metrics["test/gen/validity"]
        # the latent tools write the decoded sequences: a test molecule, then its 3 neighbours
        latent(
            compose_config(
                "latent", [f"ckpt_path={best}", "tool=sample_around", "points=2", "n=3"], tmp_path / "l"
            )
        )
        lines = (tmp_path / "l" / "sample_around.txt").read_text().splitlines()
        assert len(lines) == 2 and all(len(line.split(" | ")) == 4 for line in lines)


def test_text_trains_with_string_metrics(train_config, tmp_path):
    corpus = tmp_path / "names.txt"
    names = [
        f"{a}{b}{c}" for a in ("an", "bo", "cy", "di") for b in ("la", "mi", "ro") for c in ("", "n", "sa")
    ]
    corpus.write_text("\n".join(names * 4) + "\n")
    cfg = train_config(
        "model=seq_gru",
        "data=text",
        f"data.path={corpus}",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
        *[s for s in SMALL if not s.startswith(("data.n_", "data.max"))],
        fast=False,
    )
    metrics = train(cfg)
    assert "test/gen/validity" not in metrics  # no chemistry for text
    assert 0.0 < metrics["test/gen/unique@10"] <= 1.0 and 0.0 <= metrics["test/gen/novelty"] <= 1.0
    assert 0.0 <= metrics["test/around0.1/unique"] <= 1.0
    rows = (tmp_path / "interpolations.txt").read_text().splitlines()
    assert len(rows) == 4 and all(len(row.split(" | ")) == 8 for row in rows)


def test_mismatched_data_and_models_are_refused_in_one_line(train_config, moses, tmp_path):
    with pytest.raises(
        ConfigError, match=r"^model=seq_gru reads token sequences: use data=smiles or data=text"
    ):
        train(train_config("model=seq_gru", "data=gmm2d"))
    with pytest.raises(ConfigError, match=r"^prior=vamp learns pseudo-inputs in x space"):
        train(
            train_config(
                "model=seq_gru", "prior=vamp", f"data.source_dir={moses}", f"data.data_dir={tmp_path}"
            )
        )
    assert not (tmp_path / "checkpoints").exists()


# --- the metrics by hand ---------------------------------------------------------------------

VOCABULARY = ["<pad>", "<bos>", "<eos>", "<unk>", "C", "O", "1", "c"]


def rows(smiles: list[str]) -> torch.Tensor:
    return encode([tokenize(s, "smiles") for s in smiles], VOCABULARY, 10)[0]


def test_reconstruction_accuracy_by_hand():
    x = rows(["CCO", "CO"])  # [C C O EOS], [C O EOS]
    decoded = rows(["CCC", "CO"])  # two of the first row's four tokens wrong... one: O -> C
    exact, tokens = reconstruction_accuracy(x, decoded[:, :5])
    assert exact == 0.5 and tokens == pytest.approx(6 / 7)
    longer = rows(["CCOC", "CO"])  # the first row goes on past its EOS: not an exact match
    assert reconstruction_accuracy(x, longer) == (0.5, pytest.approx(6 / 7))


def test_string_metrics_by_hand():
    assert unique_fraction(["a", "b", "a", "c"], 3) == pytest.approx(2 / 3)
    assert unique_fraction(["a", "b", "a", "c"]) == 0.75
    assert novel_fraction(["a", "b", "a", "c"], {"b", "z"}) == pytest.approx(2 / 3)
    assert math.isnan(unique_fraction([]))


class FixedDecoder(nn.Module):
    """p(x|z) that ignores z: a batch of n gets the first n of `cycle` (repeated), drawn or greedy."""

    def __init__(self, cycle: torch.Tensor):
        super().__init__()
        self.cycle = cycle
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, z):
        decoder = self

        class Likelihood:
            def sample(self, temperature=1.0):
                return decoder.cycle.repeat(len(z) // len(decoder.cycle) + 1, 1)[: len(z)]

            mean = property(lambda self: self.sample())

        return Likelihood()


class FixedData:
    kind = "smiles"
    vocabulary = VOCABULARY

    def __init__(self, test: torch.Tensor, training: set[str]):
        self.test, self.training = (test, None), training

    def decode(self, ids):
        return decode(ids, VOCABULARY, "smiles")

    def training_strings(self):
        return frozenset(self.training)


def test_sequence_metrics_count_by_hand():
    pytest.importorskip("rdkit")
    # CCO and OCC are one molecule; C1CC is not a molecule (its ring never closes)
    cycle = rows(["CCO", "OCC", "C1CC", "c1ccccc1"])
    from mimkit.model.autoencoder import Autoencoder
    from mimkit.model.priors.standard import StandardNormalPrior

    class Means(nn.Module):
        def forward(self, x):
            return type("Posterior", (), {"mean": torch.zeros(len(x), 2)})()

    model = Autoencoder(Means(), FixedDecoder(cycle), StandardNormalPrior(2))
    metrics = SequenceMetrics(
        samples=8, unique_ks=(6, 8, 100), fcd=False, reconstruction_points=4, seeds=4, scales=(0.5,)
    )
    values, generated = metrics.compute(model, FixedData(cycle, {"CCO"}))
    assert generated == ["CCO", "OCC", "C1CC", "c1ccccc1"] * 2
    assert values["gen/validity"] == 6 / 8
    assert values["gen/unique@6"] == pytest.approx(2 / 6)  # CCO, CCO, benzene, CCO, CCO, benzene
    assert values["gen/unique@8"] == pytest.approx(2 / 6)  # k past the 6 valid ones: all of them
    assert "gen/unique@100" not in values  # k past the 8 samples: not reported
    assert values["gen/novelty"] == 0.5  # of {CCO, benzene}, benzene is new
    assert values["recon/exact"] == 1.0 and values["recon/token_acc"] == 1.0
    assert values["around0.5/validity"] == 0.75
    assert values["around0.5/unique"] == pytest.approx(2 / 3)
    assert values["around0.5/novelty"] == 0.5
    assert values["around0.5/similarity"] == 1.0  # each decoded molecule is its own seed

"""The evaluation pass size R (mimkit.evaluation.metrics.pass_size, docs/gpu.md): one key bounds every pass of
the NLL, the consistency gap and the mixture priors inside them; results do not depend on it."""

from __future__ import annotations

import contextlib

import pytest
import torch
from device_checks import tiny_config, tiny_module
from helpers import noiseless, record_component_sizes

from mimkit.app.schema import check_node
from mimkit.errors import ConfigError
from mimkit.evaluation.callbacks.representation import RepresentationMetrics
from mimkit.evaluation.metrics.consistency import consistency_gap
from mimkit.evaluation.metrics.nll import nll_per_example
from mimkit.evaluation.metrics.pass_size import (
    CPU_IMAGE_ROWS,
    CPU_ROWS,
    FREE_FRACTION,
    MAX_GPU_ROWS,
    cpu_rows_per_pass,
    rows_from_memory,
)
from mimkit.model.priors.chunked import pass_rows


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def composed_model(tmp_path, model: str):
    """The tiny `model` with a VampPrior (tests/device_checks.py), float64, eval mode."""
    cfg = tiny_config(tmp_path, model, "vamp", "mim")
    return tiny_module(cfg).model.double().eval()


def data(kind: str, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    if kind == "image":
        return torch.bernoulli(torch.full((n, 1, 4, 4), 0.4, dtype=torch.float64), generator=g)
    return torch.randn(n, 2, dtype=torch.float64, generator=g)


def record_rows(net, monkeypatch, event_dims: int) -> list[int]:
    """The rows (inputs less their last `event_dims` dimensions) of every call of `net`."""
    rows: list[int] = []
    forward = net.forward
    monkeypatch.setattr(net, "forward", lambda v: rows.append(v.shape[:-event_dims].numel()) or forward(v))
    return rows


class PriorRows:
    """The rows of every chunk the model's mixture prior (a two-level model's p(z2)) evaluates."""

    def __init__(self, model, monkeypatch):
        self.prior = getattr(model.prior, "top", model.prior)
        self.sizes = record_component_sizes(self.prior, monkeypatch)

    def __iter__(self):
        per_row = self.prior.pseudo_weights.shape[0] * self.prior.latent_dim
        return iter([size // per_row for size in self.sizes])


def test_cpu_defaults_by_data_shape():
    assert cpu_rows_per_pass(torch.zeros(3, 1, 28, 28)) == CPU_IMAGE_ROWS == 500
    assert cpu_rows_per_pass(torch.zeros(3, 784)) == CPU_ROWS == 2**15
    assert CPU_IMAGE_ROWS * 64 * 28 * 28 * 4 < 2**30  # one 64-channel activation under 1 GiB


def test_gpu_rows_from_free_memory_and_the_cost_per_row():
    assert FREE_FRACTION == 0.5
    assert rows_from_memory(10 * 2**30, 2**20) == 5 * 2**10  # half of 10 GiB at 1 MiB per row
    assert rows_from_memory(24e9, 0.77e6) == 15584  # convHVAE (0.77 MB per row) on a 24 GB card
    assert rows_from_memory(3e6, 1e6) == 1  # never less than one row
    assert rows_from_memory(1e12, 1.0) == MAX_GPU_ROWS  # capped


GIB = 2**30


def M(mebibytes: float) -> float:
    return mebibytes * 2**20


@pytest.mark.parametrize(
    "peaks, rows",
    [
        # bytes at the peak of probes of 64, 128, 256 (then 512, 1024) rows, and the R they give
        ({64: M(64), 128: M(128), 256: M(256)}, 5 * 2**10),  # 1 MiB per row: half of 10 GiB free
        ({64: M(50), 128: M(50), 256: M(50), 512: M(50), 1024: M(562)}, 5 * 2**10),  # 0, then 1 MiB
        ({64: M(60), 128: M(40), 256: M(40), 512: M(40), 1024: M(552)}, 5 * 2**10),  # < 0, then 1 MiB
        ({64: M(40), 128: M(40) + 64, 256: M(168)}, 5 * 2**10),  # 1 byte per row: noise
        ({64: M(7), 128: M(7), 256: M(7), 512: M(7), 1024: M(7)}, CPU_IMAGE_ROWS),  # never: default
        ({64: M(9), 128: M(5), 256: M(4), 512: M(2), 1024: M(1)}, CPU_IMAGE_ROWS),
    ],
)
def test_measured_pass_size_from_a_mocked_memory_probe(monkeypatch, peaks, rows):
    """A slope <= 0 is noise, never a licence for the largest pass: larger probes, the largest
    slope measured, or the CPU default; never more rows than free memory / the largest cost."""
    from mimkit.evaluation.metrics import pass_size

    asked = []

    def probe(model, x, n):
        asked.append(n)
        return peaks[n] if len(asked) > 1 else 0  # the first pass is the warm-up

    monkeypatch.setattr(pass_size, "_probe_peak", probe)
    monkeypatch.setattr(pass_size.torch.random, "fork_rng", lambda devices: contextlib.nullcontext())
    monkeypatch.setattr(pass_size.torch.cuda, "mem_get_info", lambda device: (10 * GIB - 2**20, 16 * GIB))
    monkeypatch.setattr(pass_size.torch.cuda, "memory_reserved", lambda device: 3 * 2**20)
    monkeypatch.setattr(pass_size.torch.cuda, "memory_allocated", lambda device: 2 * 2**20)
    model = torch.nn.Linear(1, 1)
    assert pass_size.measured_rows_per_pass(model, torch.zeros(2, 1, 28, 28)) == rows
    assert asked[1:] == sorted(peaks)  # larger probes only when the first three measured nothing


def test_an_explicit_pass_size_must_be_positive():
    node = {
        "_target_": "mimkit.evaluation.callbacks.representation.RepresentationMetrics",
        "rows_per_pass": 0,
    }
    with pytest.raises(ConfigError, match="^metrics.rows_per_pass must be greater than 0, got 0$"):
        check_node("metrics", node)


def test_mixture_priors_take_the_pass_size_in_force_instead_of_their_element_budget(tmp_path, monkeypatch):
    model = composed_model(tmp_path, "mlp")  # K = 5 components, D = 2
    z = torch.randn(10, 2, dtype=torch.float64)
    rows = PriorRows(model, monkeypatch)
    whole = model.prior.log_prob(z)
    assert list(rows) == [10]  # 140 numbers: within the element budget, one chunk
    with pass_rows(3):
        chunked = model.prior.log_prob(z)
    assert list(rows) == [10, 3, 3, 2, 2]  # the pass size cuts it (4 near-equal chunks)
    assert torch.allclose(chunked, whole, rtol=0, atol=1e-12)
    model.prior.log_prob(z)
    assert list(rows)[-1] == 10  # outside the block: the element budget again


@pytest.mark.parametrize("kind, model", [("flat", "mlp"), ("image", "convhvae")])
def test_every_pass_holds_at_most_the_configured_rows_and_results_do_not_depend_on_them(
    tmp_path, monkeypatch, kind, model
):
    model = composed_model(tmp_path, model)
    noiseless(monkeypatch)  # every z ~ q(z|x) its mean: the estimates are then deterministic
    x = data(kind, 12)
    torch.manual_seed(5)  # the consistency gap's decoder pairs z ~ N(0, I): drawn at once, whatever R
    reference = (
        nll_per_example(model, x, samples=9, batch_size=4, max_pairs=10**6),
        consistency_gap(model, x, samples=9, max_pairs=10**6),
    )
    decoder = record_rows(model.decoder, monkeypatch, 1)
    prior = PriorRows(model, monkeypatch)
    for rows in (1, 5, 7, 36):
        decoder.clear()
        torch.manual_seed(5)
        got = (
            nll_per_example(model, x, samples=9, batch_size=4, max_pairs=rows),
            consistency_gap(model, x, samples=9, max_pairs=rows),
        )
        assert max(decoder) <= rows and max(prior) <= rows, rows
        assert sum(decoder) == 12 * 9 + (12 + 24 + 24 * 9)  # NLL; x_dec, log p(x|z), log q(x) pairs
        assert torch.allclose(got[0], reference[0], rtol=0, atol=1e-9), rows
        assert got[1] == pytest.approx(reference[1], rel=1e-9, abs=1e-12), rows
        assert got[1] > 0.01  # a real gap: the check has teeth


def test_the_callback_threads_its_pass_size_through_every_metric(tmp_path, monkeypatch):
    model = composed_model(tmp_path, "mlp")
    noiseless(monkeypatch)
    x, labels = data("flat", 40), torch.arange(40) % 2
    small = dict(
        mi_pairs=40, nll_samples=9, knn_train=40, knn_ks=(1, 3), consistency_samples=6, encode_batch=64
    )
    reference = RepresentationMetrics(**small).compute(model, (x, labels), (x, labels))
    decoder = record_rows(model.decoder, monkeypatch, 1)
    encoder = record_rows(model.encoder, monkeypatch, 1)
    prior = PriorRows(model, monkeypatch)
    got = RepresentationMetrics(**small, rows_per_pass=8).compute(model, (x, labels), (x, labels))
    assert max(decoder) <= 8 and max(prior) <= 8
    assert max(encoder) == 8  # data in passes of 8 (and the K = 5 pseudo-inputs once)
    assert got.keys() == reference.keys()
    for name, value in reference.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name

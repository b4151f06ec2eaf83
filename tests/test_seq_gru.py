"""The sequence model (mimkit.model.nets.seq_gru) against hand-written recurrences, a packed
bidirectional GRU, and exact enumeration of every sequence a tiny decoder can emit."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from mimkit.data.tokens import BOS, EOS, PAD, UNK
from mimkit.model.autoencoder import Autoencoder
from mimkit.model.nets.seq_gru import SequenceDecoder, SequenceEncoder
from mimkit.model.objectives.mim import MIM, mim_pair_loss
from mimkit.model.priors.standard import StandardNormalPrior

V = 6  # PAD, BOS, EOS, UNK and two tokens: 4, 5


def gru_step(gru: nn.GRU, layer: int, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """One GRU step written out (Cho et al. 2014, torch's gate order r, z, n)."""
    w_ih, w_hh = getattr(gru, f"weight_ih_l{layer}"), getattr(gru, f"weight_hh_l{layer}")
    b_ih, b_hh = getattr(gru, f"bias_ih_l{layer}"), getattr(gru, f"bias_hh_l{layer}")
    gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    i_r, i_z, i_n = gi.chunk(3, -1)
    h_r, h_z, h_n = gh.chunk(3, -1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


def log_prob_by_hand(decoder: SequenceDecoder, z: torch.Tensor, tokens: list[int]) -> torch.Tensor:
    """log p(tokens | z) for one z [D], step by step: BOS in, softmax over the tokens other than
    PAD and BOS, summed over the given tokens."""
    h = [
        torch.tanh(decoder.initial(z)).view(decoder.layers, decoder.hidden)[k] for k in range(decoder.layers)
    ]
    total, previous = torch.zeros((), dtype=z.dtype), BOS
    for token in tokens:
        inputs = torch.cat([decoder.embed.weight[previous], z])
        for k in range(decoder.layers):
            h[k] = gru_step(decoder.gru, k, inputs, h[k])
            inputs = h[k]
        logits = decoder.out(h[-1])
        allowed = [t for t in range(len(logits)) if t not in (PAD, BOS)]
        total = total + logits[token] - torch.logsumexp(logits[allowed], 0)
        previous = token
    return total


def tiny(layers: int = 1, max_length: int = 2) -> Autoencoder:
    torch.manual_seed(3)
    return Autoencoder(
        SequenceEncoder(V, 2, embed_dim=3, hidden=4),
        SequenceDecoder(V, 2, embed_dim=3, hidden=4, layers=layers, max_length=max_length),
        StandardNormalPrior(2),
    ).double()


def every_sequence(max_length: int) -> list[list[int]]:
    """Every row the decoder can emit: up to max_length tokens then EOS, or max_length + 1 tokens
    with no EOS (the sampler's limit)."""
    body = [UNK, 4, 5]
    rows = [[*seq, EOS] for n in range(max_length + 1) for seq in itertools.product(body, repeat=n)]
    return rows + [list(seq) for seq in itertools.product(body, repeat=max_length + 1)]


def padded(rows: list[list[int]], width: int) -> torch.Tensor:
    return torch.tensor([row + [PAD] * (width - len(row)) for row in rows])


@pytest.mark.parametrize("layers", [1, 2])
def test_log_prob_equals_the_recurrence_by_hand(layers):
    model = tiny(layers, max_length=4)
    rows = [[4, 5, EOS], [5, EOS], [EOS], [UNK, 4, 4, 5, EOS]]
    z = torch.randn(len(rows), 2, dtype=torch.float64)
    got = model.decoder(z).log_prob(padded(rows, 7))  # extra PAD columns change nothing
    want = torch.stack([log_prob_by_hand(model.decoder, z[i], row) for i, row in enumerate(rows)])
    torch.testing.assert_close(got, want)


def test_encoder_equals_a_packed_bidirectional_gru():
    model = tiny()
    encoder = model.encoder
    both = nn.GRU(3, 4, batch_first=True, bidirectional=True).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(both, f"{name}_l0").copy_(getattr(encoder.forward_gru, f"{name}_l0"))
            getattr(both, f"{name}_l0_reverse").copy_(getattr(encoder.backward_gru, f"{name}_l0"))
    rows = [[4, 5, 5, EOS], [5, EOS], [EOS]]
    x = padded(rows, 6)
    lengths = torch.tensor([len(row) for row in rows])
    packed = nn.utils.rnn.pack_padded_sequence(
        encoder.embed(x), lengths, batch_first=True, enforce_sorted=False
    )
    _, h = both(packed)  # [2, B, H]: the forward state after the last token, the backward one after the first
    mean, _ = encoder.heads(torch.cat([h[0], h[1]], dim=-1)).chunk(2, dim=-1)
    torch.testing.assert_close(encoder(x).mean, mean)
    # a row's code does not depend on its padding or on the other rows
    torch.testing.assert_close(encoder(padded(rows[1:2], 9)).mean, mean[1:2])


def test_probabilities_of_every_sequence_sum_to_one_and_the_sampler_draws_them():
    model = tiny(max_length=2)
    rows = every_sequence(2)
    z = torch.tensor([[0.3, -1.2]], dtype=torch.float64)
    log_p = model.decoder(z.expand(len(rows), -1)).log_prob(padded(rows, 3))
    assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-12)
    torch.manual_seed(0)
    n = 40000
    drawn = model.decoder(z.expand(n, -1)).sample()
    assert drawn.shape == (n, 3)
    index = {tuple(padded([row], 3)[0].tolist()): i for i, row in enumerate(rows)}
    counts = torch.bincount(torch.tensor([index[tuple(row)] for row in drawn.tolist()]), minlength=len(rows))
    # every drawn row is one of the enumerated ones (PAD only after EOS, no PAD or BOS emitted);
    # frequencies within 4 binomial standard deviations
    p = log_p.exp()
    assert ((counts / n - p).abs() <= 4 * (p * (1 - p) / n).sqrt() + 1e-3).all()


def test_greedy_decoding_takes_the_most_likely_token_at_every_step():
    model = tiny(max_length=3)
    z = torch.randn(5, 2, dtype=torch.float64)
    greedy = model.decoder(z).mean
    for i in range(len(z)):
        row = [t for t in greedy[i].tolist() if t != PAD]
        for step in range(len(row)):
            alternatives = [row[:step] + [token] for token in (EOS, UNK, 4, 5)]
            scores = [log_prob_by_hand(model.decoder, z[i], alt) for alt in alternatives]
            assert alternatives[int(torch.stack(scores).argmax())] == row[: step + 1]
            if row[step] == EOS:
                break


ANCHORS = torch.tensor([[-1.0, 0.4], [0.5, 0.0], [1.5, -0.7]], dtype=torch.float64)


def exact_decoder_pair_loss(model, beta: float) -> torch.Tensor:
    """E_z E_{x ~ p(x|z)} [ℓ(x, z)] over the anchors, the inner expectation summed over every
    sequence x the decoder can emit (decoder_qx = prior_sample: log q(x) ≈ log p(x|z))."""
    rows = padded(every_sequence(model.decoder.max_length), model.decoder.max_length + 1)
    total = torch.zeros((), dtype=torch.float64)
    for z in ANCHORS:
        zs = z.expand(len(rows), -1)
        log_px_z = model.decoder(zs).log_prob(rows)
        pair = mim_pair_loss(
            log_px_z, model.prior.log_prob(zs), model.encoder(rows).log_prob(zs), log_px_z, beta
        )
        total = total + (log_px_z.exp() * pair).sum() / len(ANCHORS)
    return total


@pytest.mark.parametrize("x_per_z", [1, 2])
def test_reinforce_on_sequences_is_unbiased(monkeypatch, x_per_z):
    copies = 6000 // x_per_z
    monkeypatch.setattr(MIM, "sample_anchor", staticmethod(lambda model, n, like: ANCHORS.repeat(copies, 1)))
    model = tiny(max_length=2)
    model.zero_grad()
    exact_decoder_pair_loss(model, 1.0).backward()
    exact = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    torch.manual_seed(0)
    pairs = MIM(x_per_z=x_per_z).decoder_pairs(model, len(ANCHORS) * copies * x_per_z, ANCHORS, 1.0)
    assert len(pairs) == len(ANCHORS) * copies * x_per_z
    pairs.mean().backward()
    estimate = {name: p.grad for name, p in model.named_parameters() if name in exact}
    decoder_out = exact["decoder.out.weight"]
    assert decoder_out.abs().max() > 0.05  # the score term carries a real gradient here
    for name in exact:
        # Monte-Carlo error of 18,000 pairs: sd ≤ 0.009 per entry (5 seeds, either x_per_z); 4.5 sd
        torch.testing.assert_close(estimate[name], exact[name], atol=0.04, rtol=0.0, msg=name)
    # without the score term the decoder's output layer gets a visibly different gradient
    torch.manual_seed(0)
    model.zero_grad()
    monkeypatch.setattr("mimkit.model.objectives.mim.score_function_surrogate", lambda f, *args, **kwargs: f)
    MIM(x_per_z=x_per_z).decoder_pairs(model, len(ANCHORS) * copies * x_per_z, ANCHORS, 1.0).mean().backward()
    assert (model.decoder.out.weight.grad - decoder_out).abs().max() > 0.1


def test_shapes_and_padding_of_samples():
    model = tiny(max_length=5)
    z = torch.randn(64, 2, dtype=torch.float64)
    x = model.decoder(z).sample()
    assert x.shape == (64, 6) and x.dtype == torch.long
    assert not ((x == BOS).any())
    for row in x.tolist():  # PAD only after the first EOS, and every column after it
        if EOS in row:
            end = row.index(EOS)
            assert PAD not in row[:end] and set(row[end + 1 :]) <= {PAD}
        else:
            assert PAD not in row
    assert model.encoder(x).mean.shape == (64, 2)
    assert model.decoder(z).log_prob(x).shape == (64,)

"""The sequence model (docs/maths.md, "Token sequences"): a bidirectional GRU encoder q(z|x) and a
GRU decoder p(x|z) over token sequences x = (x_1, ..., x_T, EOS), rows of token ids padded with PAD.

p(x|z) = prod_t p(x_t | x_<t, z), the product over the tokens up to and including EOS; the decoder
never emits PAD or BOS, so the sequences its sampler draws are exactly those `log_prob` scores, and
a row that reaches the end without EOS (max_length + 1 tokens) is scored as drawn.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from mimkit.data.sequences import trimmed
from mimkit.data.tokens import BOS, EOS, PAD
from mimkit.fields import PositiveInt, PositiveNumber
from mimkit.model.distributions import DiagonalGaussian, full_precision

LOGVAR_RANGE = (-10.0, 4.0)  # q(z|x)'s log-variance, clipped (docs/maths.md §8)


def last_positions(x: torch.Tensor) -> torch.Tensor:
    """[B]: the index of each row's last token (its EOS), from the PAD columns; no host sync."""
    return ((x != PAD).sum(-1) - 1).clamp(min=0)


def reversed_rows(x: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """Each row's tokens 0..last[b] in reverse order, the padding left where it is."""
    t = torch.arange(x.shape[1], device=x.device)
    index = torch.where(t <= last[:, None], last[:, None] - t, t)
    return x.gather(1, index)


class SequenceEncoder(nn.Module):
    """Embedding -> a forward and a backward GRU over each row's own tokens -> N(mean, diag(σ²)).

    The backward GRU reads each row reversed within its own length, so padding never enters
    either state that is read (the state after the row's last token); the same as a packed
    bidirectional GRU, with no host-device sync for the lengths.
    """

    takes_tokens = True

    def __init__(
        self,
        vocab_size: PositiveInt,
        latent_dim: PositiveInt,
        embed_dim: PositiveInt = 64,
        hidden: PositiveInt = 256,
    ):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.forward_gru = nn.GRU(embed_dim, hidden, batch_first=True)
        self.backward_gru = nn.GRU(embed_dim, hidden, batch_first=True)
        self.heads = nn.Linear(2 * hidden, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> DiagonalGaussian:
        x = trimmed(x)
        last = last_positions(x)
        rows = torch.arange(len(x), device=x.device)
        ahead, _ = self.forward_gru(self.embed(x))
        behind, _ = self.backward_gru(self.embed(reversed_rows(x, last)))
        h = torch.cat([ahead[rows, last], behind[rows, last]], dim=-1)
        mean, logvar = full_precision(self.heads(h)).chunk(2, dim=-1)
        return DiagonalGaussian(mean, torch.exp(0.5 * logvar.clamp(*LOGVAR_RANGE)))


class SequenceDecoder(nn.Module):
    """A GRU conditioned on z twice: its initial state tanh(W z) (per layer) and z beside every
    input token embedding; categorical outputs over the vocabulary, trained with teacher forcing.
    `max_length`: the sampler's limit in tokens before EOS (max_length + 1 steps in all)."""

    def __init__(
        self,
        vocab_size: PositiveInt,
        latent_dim: PositiveInt,
        embed_dim: PositiveInt = 64,
        hidden: PositiveInt = 256,
        layers: PositiveInt = 1,
        max_length: PositiveInt = 100,
    ):
        super().__init__()
        self.hidden, self.layers, self.max_length = hidden, layers, max_length
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.initial = nn.Linear(latent_dim, layers * hidden)
        self.gru = nn.GRU(embed_dim + latent_dim, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)
        never = torch.zeros(vocab_size)
        never[[PAD, BOS]] = float("-inf")
        self.register_buffer("never", never, persistent=False)

    def forward(self, z: torch.Tensor) -> TokenSequences:
        return TokenSequences(self, z)

    def initial_state(self, z: torch.Tensor) -> torch.Tensor:
        state = torch.tanh(self.initial(z)).view(len(z), self.layers, self.hidden)
        return state.transpose(0, 1).contiguous()

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        return full_precision(self.out(h)) + cast(torch.Tensor, self.never)

    def log_prob(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """[B]: log p(x|z), teacher-forced, summed over each row's tokens up to its EOS."""
        x = trimmed(x)
        inputs = torch.cat([torch.full_like(x[:, :1], BOS), x[:, :-1]], dim=1)
        steps = torch.cat([self.embed(inputs), z[:, None, :].expand(-1, x.shape[1], -1)], dim=-1)
        h, _ = self.gru(steps, self.initial_state(z))
        log_p = F.log_softmax(self._logits(h), dim=-1).gather(-1, x[..., None]).squeeze(-1)
        return log_p.masked_fill(x == PAD, 0.0).sum(-1)

    @torch.no_grad()
    def sample(self, z: torch.Tensor, greedy: bool = False, temperature: float = 1.0) -> torch.Tensor:
        """[B, T]: one sequence per z, drawn token by token (multinomial at `temperature`, or the
        most likely token if `greedy`) until EOS or max_length + 1 tokens; PAD after each EOS up to
        T = max_length + 1 columns, the data's width. Only temperature 1 draws from p(x|z) itself."""
        state = self.initial_state(z)
        token = torch.full((len(z),), BOS, dtype=torch.long, device=z.device)
        done = torch.zeros(len(z), dtype=torch.bool, device=z.device)
        tokens = []
        for step in range(self.max_length + 1):
            h, state = self.gru(torch.cat([self.embed(token), z], dim=-1)[:, None], state)
            logits = self._logits(h[:, 0])
            if greedy:
                token = logits.argmax(-1)
            else:
                token = torch.multinomial(F.softmax(logits / temperature, dim=-1), 1).squeeze(-1)
            token = token.masked_fill(done, PAD)
            tokens.append(token)
            done = done | (token == EOS)
            if step % 8 == 7 and bool(done.all()):  # one host read every 8 steps
                break
        x = torch.stack(tokens, dim=1)
        return F.pad(x, (0, self.max_length + 1 - x.shape[1]), value=PAD)


class TokenSequences:
    """p(x|z) of `SequenceDecoder` for a batch of z [B, D], in the vocabulary of the other
    distributions (`mimkit.model.distributions`): `log_prob`, `sample`, and `mean`, the greedy decoding
    (the usual stand-in for the mode, as MolMIM decodes). Not reparameterisable: MIM's decoder
    pairs use the score-function estimator (docs/maths.md §2, "Discrete observations: REINFORCE")."""

    has_rsample = False

    def __init__(self, decoder: SequenceDecoder, z: torch.Tensor):
        self.decoder, self.z = decoder, z

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder.log_prob(self.z, x)

    def sample(
        self, sample_shape: torch.Size | tuple = (), temperature: PositiveNumber = 1.0
    ) -> torch.Tensor:
        if sample_shape:
            raise ValueError("TokenSequences draws one sequence per z: repeat z for more")
        return self.decoder.sample(self.z, temperature=temperature)

    def rsample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        raise NotImplementedError("a token sequence cannot be reparameterised; use sample()")

    @property
    def mean(self) -> torch.Tensor:
        return self.decoder.sample(self.z, greedy=True)

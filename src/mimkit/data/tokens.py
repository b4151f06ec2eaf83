"""Token sequences: tokenisers, vocabularies, and rows of token ids.

A sequence is a list of tokens (strings) cut from a line of text by `tokenize`: "smiles", the
atom-level SMILES tokens of Schwaller et al. 2019 (the Molecular Transformer's regex); "chars",
its characters; "words", its whitespace-separated words. `JOINERS[kind]` joins the tokens back
into the text ("words": whitespace runs become one space).

A vocabulary is a list of tokens whose index is the token's id: `SPECIALS` first (PAD, BOS, EOS,
UNK = 0, 1, 2, 3), then the tokens seen, most frequent first (`build_vocabulary`). A token equal to
a special's name ("<pad>", ...) in the data is not that special: it is unknown (UNK). `encode`
writes sequences as rows of a LongTensor [N, max_length + 1]: the ids, EOS, then PAD to the end;
`decode` reads them back; `lengths` is the tokens + EOS of each row.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import torch

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
KINDS = ("smiles", "chars", "words")
JOINERS = {"smiles": "", "chars": "", "words": " "}

# atom-level SMILES tokens (Schwaller et al. 2019): bracket atoms, the two-letter organic atoms
# Br and Cl (before B and C), the organic subset and its aromatic forms, two-digit ring bonds
# %NN, single ring digits, bonds, branches, dots, charges, chirality and reaction symbols
SMILES_PATTERN = (
    r"\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p"
    r"|\(|\)|\.|=|#|-|\+|\\|/|:|~|@|\?|>|\*|\$|%[0-9]{2}|[0-9]"
)
SMILES_REGEX = re.compile(SMILES_PATTERN)


def tokenize(text: str, kind: str) -> list[str]:
    """The tokens of `text` ("smiles", "chars" or "words"); ValueError for a SMILES string
    whose tokens do not join back to it (a character outside the SMILES alphabet)."""
    if kind == "smiles":
        tokens = SMILES_REGEX.findall(text)
        if "".join(tokens) != text:
            raise ValueError(f"cannot cut {text!r} into SMILES tokens ({_first_gap(text)})")
        return tokens
    if kind == "chars":
        return list(text)
    if kind == "words":
        return text.split()
    raise ValueError(f"unknown token kind {kind!r}: use one of {', '.join(KINDS)}")


def _first_gap(text: str) -> str:
    """Where the SMILES tokens of `text` first skip a character."""
    position = 0
    for match in SMILES_REGEX.finditer(text):
        if match.start() != position:
            break
        position = match.end()
    return f"character {text[position]!r} at position {position}"


def vocabulary_from_counts(counts: Mapping[str, int]) -> list[str]:
    """SPECIALS, then the counted tokens by decreasing count, ties in alphabetical order (the
    specials' names among the tokens are left out: they read as UNK)."""
    seen = sorted((token for token in counts if token not in SPECIALS), key=lambda t: (-counts[t], t))
    return [*SPECIALS, *seen]


def build_vocabulary(token_lists: Iterable[Sequence[str]]) -> list[str]:
    """SPECIALS, then every token of `token_lists` by decreasing count, ties alphabetical."""
    counts: Counter[str] = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    return vocabulary_from_counts(counts)


def token_index(vocabulary: Sequence[str]) -> dict[str, int]:
    """{token: id} of the vocabulary's ordinary tokens (not the specials)."""
    return {token: i for i, token in enumerate(vocabulary) if i >= len(SPECIALS)}


def padded(flat: torch.Tensor, starts: torch.Tensor, sizes: torch.Tensor, max_length: int) -> torch.Tensor:
    """LongTensor [N, max_length + 1]: row i is flat[starts[i] : starts[i] + sizes[i]], EOS, then
    PAD (every sizes[i] <= max_length)."""
    positions = torch.arange(max_length + 1)
    inside = positions < sizes[:, None]
    where = (starts[:, None] + positions).clamp_(max=max(len(flat) - 1, 0))
    ids = flat[where].long() if len(flat) else torch.zeros(where.shape, dtype=torch.long)
    rows = torch.where(inside, ids, torch.full_like(ids, PAD))
    rows[torch.arange(len(rows)), sizes.long()] = EOS
    return rows


def encode(
    token_lists: Sequence[Sequence[str]], vocabulary: Sequence[str], max_length: int
) -> tuple[torch.Tensor, int]:
    """(LongTensor [N, max_length + 1], the number of unknown tokens): each row the sequence's
    token ids, EOS, then PAD; a token outside `vocabulary` is UNK (and counted). Every sequence
    holds at most `max_length` tokens (the caller drops longer ones)."""
    index = token_index(vocabulary)
    unknown = 0
    flat: list[int] = []
    for tokens in token_lists:
        if len(tokens) > max_length:
            raise ValueError(f"a sequence of {len(tokens)} tokens is longer than max_length {max_length}")
        ids = [index.get(token, UNK) for token in tokens]
        unknown += ids.count(UNK)
        flat.extend(ids)
    sizes = torch.tensor([len(tokens) for tokens in token_lists], dtype=torch.long)
    starts = torch.cumsum(sizes, 0) - sizes
    return padded(torch.tensor(flat, dtype=torch.long), starts, sizes, max_length), unknown


def decode(ids: torch.Tensor, vocabulary: Sequence[str], kind: str) -> list[str]:
    """The text of each row of `ids` [N, T]: its tokens up to the first EOS (or the row's end),
    PAD and BOS skipped, UNK (and any id outside the vocabulary) written "<unk>", joined by the
    kind's joiner."""
    joiner = JOINERS[kind]
    unknown = SPECIALS[UNK]
    size = len(vocabulary)
    texts = []
    for row in ids.tolist():
        tokens = []
        for i in row:
            if i == EOS:
                break
            if i in (PAD, BOS):
                continue
            tokens.append(vocabulary[i] if 0 <= i < size and i != UNK else unknown)
        texts.append(joiner.join(tokens))
    return texts


def lengths(x: torch.Tensor) -> torch.Tensor:
    """LongTensor [N]: the tokens + EOS of each row of `x` [N, T] (its non-PAD entries)."""
    return (x != PAD).sum(1)

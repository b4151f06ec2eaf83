"""Token sequences: the tokenisers and vocabularies (mimkit.data.tokens), the shared sequence module
(bucketed, trimmed batches), data=smiles on small synthetic MOSES files (gzipped CSVs in the real
format, written into tmp_path) and data=text. Only the slow test reads the real MOSES files."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest
import torch
from conftest import compose_config, molecules, write_moses
from hydra.utils import instantiate

from mimkit.data import smiles as smiles_module
from mimkit.data.smiles import SmilesDataModule
from mimkit.data.text import TextDataModule
from mimkit.data.tokens import (
    EOS,
    PAD,
    SPECIALS,
    UNK,
    build_vocabulary,
    decode,
    encode,
    lengths,
    tokenize,
)
from mimkit.errors import ConfigError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "moses"

HAND_MADE = [
    "CC(=O)Cl",
    "c1cc[nH]c1Br",
    "C%10CC[C@@H]%10O",
    "O=C(N)c1ccc2ccccc2c1",
    "C#CC/C=C\\C.[Na+]",
    "CC1=CC(C)(C)N=C1S(=O)(=O)F",
]


def test_smiles_tokens_by_hand():
    assert tokenize("CC(=O)Cl", "smiles") == ["C", "C", "(", "=", "O", ")", "Cl"]
    assert tokenize("c1cc[nH]c1Br", "smiles") == ["c", "1", "c", "c", "[nH]", "c", "1", "Br"]
    assert tokenize("C%10CC[C@@H]%10O", "smiles") == ["C", "%10", "C", "C", "[C@@H]", "%10", "O"]
    for text in HAND_MADE:
        assert "".join(tokenize(text, "smiles")) == text
    with pytest.raises(ValueError, match=r"character '!' at position 2"):
        tokenize("CC!C", "smiles")
    assert tokenize("a b", "chars") == ["a", " ", "b"]
    assert tokenize(" the  cat sat ", "words") == ["the", "cat", "sat"]


def test_vocabulary_order():
    vocabulary = build_vocabulary([["b", "a", "c"], ["a", "c"], ["c"], ["<pad>"]])
    assert vocabulary == [*SPECIALS, "c", "a", "b"]  # by count; a special's name is not a token
    assert build_vocabulary([["y", "x", "z", "z"]]) == [*SPECIALS, "z", "x", "y"]  # ties alphabetical


def test_encode_decode_by_hand():
    vocabulary = build_vocabulary([["C", "C", "O"], ["O"]])
    assert vocabulary == [*SPECIALS, "C", "O"]
    x, unknown = encode([["C", "O"], ["O", "N"], []], vocabulary, 3)
    assert x.dtype == torch.long
    assert x.tolist() == [[4, 5, EOS, PAD], [5, UNK, EOS, PAD], [EOS, PAD, PAD, PAD]]
    assert unknown == 1
    assert lengths(x).tolist() == [3, 3, 1]
    assert decode(x, vocabulary, "smiles") == ["CO", "O<unk>", ""]
    # BOS and PAD skipped, no EOS: read to the end; words joined by spaces
    assert decode(torch.tensor([[1, 4, 0, 5]]), vocabulary, "words") == ["C O"]
    tokens = [tokenize(text, "smiles") for text in HAND_MADE]
    vocabulary = build_vocabulary(tokens)
    x, unknown = encode(tokens, vocabulary, 30)
    assert unknown == 0 and decode(x, vocabulary, "smiles") == HAND_MADE


# --- synthetic MOSES files ------------------------------------------------------------------------


def smiles_data(moses: Path, tmp_path: Path, **settings) -> SmilesDataModule:
    values = dict(max_length=40, n_train=300, n_val=50, n_test=60, batch_size=16, eval_batch_size=32)
    values.update(settings)
    return SmilesDataModule(source_dir=str(moses), data_dir=str(tmp_path / "data"), **values).ready()


def test_smiles_splits(moses, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        dm = smiles_data(moses, tmp_path)
    assert "1 of 401 molecules longer than data.max_length=40 tokens dropped" in caplog.text
    assert "1 empty lines skipped" in caplog.text
    assert "cache_smiles.pt written" in caplog.text
    x, none = dm.train_fixed()
    assert none is None and not dm.has_labels and dm.val[1] is None and dm.test[1] is None
    assert x.shape == (300, 41) and dm.val[0].shape == (50, 41) and dm.test[0].shape == (60, 41)
    assert dm.x_shape == (41,) and dm.n_train == 300 and dm.kind == "smiles"
    assert dm.vocabulary[:4] == list(SPECIALS) and "Cl" in dm.vocabulary and "[nH]" in dm.vocabulary
    train, val, test = (set(dm.decode(rows)) for rows in (x, dm.val[0], dm.test[0]))
    assert len(train) == 300 and len(val) == 50 and not train & val
    assert train | val <= set(molecules(400)) and test <= set(molecules(100, start=500))
    assert dm.training_strings() == frozenset(molecules(400) + ["C" * 60])  # the whole file
    again = smiles_data(moses, tmp_path)
    assert torch.equal(again.train_fixed()[0], x) and torch.equal(again.test[0], dm.test[0])
    other = smiles_data(moses, tmp_path, data_seed=1)
    assert not torch.equal(other.train_fixed()[0], x)


def test_smiles_vocabulary_is_the_whole_training_files(moses, tmp_path):
    small = smiles_data(moses, tmp_path, n_train=5)
    assert small.vocabulary == smiles_data(moses, tmp_path, n_train=None).vocabulary
    assert smiles_data(moses, tmp_path, n_train=None).n_train == 400 - 50


def test_training_epochs_bucketed_and_trimmed(moses, tmp_path):
    dm = smiles_data(moses, tmp_path)
    x = dm.train_fixed()[0]
    (first,) = dm.train_epoch(0)
    assert torch.equal(first, dm.train_epoch(0)[0]) and not torch.equal(first, dm.train_epoch(1)[0])
    assert sorted(map(tuple, first.tolist())) == sorted(map(tuple, x.tolist()))  # each row once
    batches = list(dm.train_dataloader())
    assert len(batches) == 19 and sum(len(b) for (b,) in batches) == 300
    rows = []
    for (batch,) in batches:
        assert batch.shape[1] == int(lengths(batch).max()) <= 41
        assert bool((batch[:, -1] != PAD).any())  # no trailing column of PAD only
        rows += [tuple(row) + (PAD,) * (41 - len(row)) for row in batch.tolist()]
    assert sorted(rows) == sorted(map(tuple, x.tolist()))

    def spread(module):
        (rows,) = module.train_epoch(0)
        sizes = lengths(rows)[: (len(rows) // 16) * 16].view(-1, 16)
        return float((sizes.max(1).values - sizes.min(1).values).float().mean())

    plain = smiles_data(moses, tmp_path, bucket=0)
    assert spread(dm) < spread(plain) / 2
    for loader in (dm.val_dataloader(), dm.test_dataloader()):
        for (batch,) in loader:
            assert bool((batch[:, -1] != PAD).any())


def test_cache_reused_and_extended(moses, tmp_path, monkeypatch, caplog):
    smiles_data(moses, tmp_path)
    cache = tmp_path / "data" / "moses" / "cache_smiles.pt"
    stored = torch.load(cache, weights_only=True)
    assert set(stored["files"]) == {"train.csv.gz", "test.csv.gz"} and stored["kind"] == "smiles"
    assert stored["files"]["train.csv.gz"]["ids"].dtype == torch.uint8
    assert stored["files"]["train.csv.gz"]["lines"] == 401

    def refuse(text, kind):
        raise AssertionError("tokenised again")

    monkeypatch.setattr(smiles_module, "tokenize", refuse)
    with caplog.at_level(logging.INFO):
        dm = smiles_data(moses, tmp_path, n_train=100)
    assert dm.n_train == 100 and "cache_smiles.pt read" in caplog.text
    monkeypatch.undo()
    scaffolds = smiles_data(moses, tmp_path, test_file="test_scaffolds.csv.gz", n_test=None)
    assert len(scaffolds.test[0]) == 81
    assert "<unk>" in "".join(scaffolds.decode(scaffolds.test[0]))  # [Si]: not in the training file
    assert set(torch.load(cache, weights_only=True)["files"]) == {
        "train.csv.gz",
        "test.csv.gz",
        "test_scaffolds.csv.gz",
    }
    os.utime(moses / "train.csv.gz", ns=(1, 1))  # a changed source: rebuilt
    monkeypatch.setattr(smiles_module, "tokenize", refuse)
    with pytest.raises(AssertionError, match="tokenised again"):
        smiles_data(moses, tmp_path)


def test_given_vocabulary_used_as_is(moses, tmp_path, caplog):
    vocabulary = [*SPECIALS, "C", "c", "1", "(", ")"]
    with caplog.at_level(logging.INFO):
        dm = smiles_data(moses, tmp_path, vocabulary=vocabulary)
    assert dm.vocabulary == vocabulary
    x = dm.train_fixed()[0]
    assert int(x.max()) < len(vocabulary) and bool((x == UNK).any())
    assert re.search(r"MOSES: \d+ tokens outside the vocabulary read as <unk> \(train \d+", caplog.text)


def test_chars_tokens(moses, tmp_path):
    dm = smiles_data(moses, tmp_path, tokens="chars")
    assert "Cl" not in dm.vocabulary and "l" in dm.vocabulary
    assert set(dm.decode(dm.train_fixed()[0])) <= set(molecules(400))
    assert (tmp_path / "data" / "moses" / "cache_chars.pt").is_file()


def test_bad_smiles_files(moses, tmp_path):
    bad = tmp_path / "bad"
    write_moses(bad / "test.csv.gz", molecules(10))
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(bad / 'train.csv.gz'))}: no such file \(.*molsets"
    ):
        smiles_data(bad, tmp_path)
    write_moses(bad / "train.csv.gz", [], raw=b"SMILES\nCCO\n\xff\xfeCC\nCC\n")
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(bad / 'train.csv.gz'))} line 3 is not UTF-8 text$"
    ):
        smiles_data(bad, tmp_path)
    write_moses(bad / "train.csv.gz", [], raw=b"SMILES\nCCO\nCC\x00C\n")
    with pytest.raises(ConfigError, match=r"train\.csv\.gz line 3 is not UTF-8 text \(a NUL byte\)$"):
        smiles_data(bad, tmp_path)
    write_moses(bad / "train.csv.gz", ["CCO", "CC!C"])
    with pytest.raises(ConfigError, match=r"train\.csv\.gz line 3: cannot cut 'CC!C' into SMILES tokens"):
        smiles_data(bad, tmp_path)
    write_moses(bad / "train.csv.gz", ["C" * 50])
    with pytest.raises(ConfigError, match=r"train\.csv\.gz: no molecules left"):
        smiles_data(bad, tmp_path)
    write_moses(bad / "train.csv.gz", [], raw=b"smiles,x\nCCO,1\n")
    with pytest.raises(ConfigError, match=r"train\.csv\.gz line 1: expected the header line 'SMILES'"):
        smiles_data(bad, tmp_path)
    with pytest.raises(ConfigError, match=r"data\.n_val \+ data\.n_train = 50 \+ 1000 exceeds the 400"):
        smiles_data(moses, tmp_path, n_train=1000)
    for error in (ConfigError,):
        with pytest.raises(error, match=r"^data\.test_file must name a test file"):
            SmilesDataModule(source_dir=str(moses), data_dir=str(tmp_path), test_file="train.csv.gz")


# --- data=text ----------------------------------------------------------------------------------


def test_text_module(tmp_path, caplog):
    path = tmp_path / "names.txt"
    names = [f"name{i:03d}" for i in range(100)]
    path.write_text("\n".join(names[:50] + ["", "   "] + names[50:] + ["x" * 300]) + "\n", encoding="utf-8")
    with caplog.at_level(logging.INFO):
        dm = TextDataModule(path=str(path), max_length=20, batch_size=8).ready()
    assert "2 empty lines skipped" in caplog.text and "1 of 101 sequences longer" in caplog.text
    assert (dm.n_train, len(dm.val[0]), len(dm.test[0])) == (80, 10, 10)
    assert dm.vocabulary[:4] == list(SPECIALS) and set(dm.vocabulary[4:]) <= set("name0123456789")
    assert set(dm.decode(dm.train_fixed()[0])) == dm.training_strings() and len(dm.training_strings()) == 80
    assert set(dm.decode(dm.val[0])) | set(dm.decode(dm.test[0])) | dm.training_strings() == set(names)
    for (batch,) in dm.train_dataloader():
        assert batch.shape[1] == 8  # 7 characters + EOS, trimmed from 21
    words = tmp_path / "words.txt"
    words.write_text("".join(f"the cat {i}\n" for i in range(20)), encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        dm = TextDataModule(path=str(words), tokens="words", n_train=4).ready()
    assert dm.n_train == 4 and dm.train_fixed()[0].shape == (4, 201)
    assert all(text.startswith("the cat ") for text in dm.decode(dm.val[0]))
    assert "<unk>" in "".join(dm.decode(dm.val[0]))  # numbers only in validation
    assert re.search(
        r"\d+ tokens outside the vocabulary read as <unk> \(train 0, val 2, test 2\)", caplog.text
    )


def test_text_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"^data\.path is not set: data=text needs data\.path=FILE"):
        TextDataModule()
    with pytest.raises(ConfigError, match=r"missing\.txt: no such file$"):
        TextDataModule(path=str(tmp_path / "missing.txt")).ready()
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"abc\ndef\ncaf\xe9\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(latin))} line 3 is not UTF-8 text$"):
        TextDataModule(path=str(latin)).ready()
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"blank\.txt: no sequences left"):
        TextDataModule(path=str(blank)).ready()
    few = tmp_path / "few.txt"
    few.write_text("a\nb\nc\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"the val and test split would be empty"):
        TextDataModule(path=str(few)).ready()


def test_configs_build_the_modules(moses, tmp_path):
    cfg = compose_config(
        "train",
        [
            "data=smiles",
            f"data.source_dir={moses}",
            f"data.data_dir={tmp_path / 'data'}",
            "data.n_train=100",
            "data.n_val=50",
            "data.n_test=20",
        ],
        tmp_path / "run",
    )
    dm = instantiate(cfg.data)
    assert type(dm).__mro__[1] is SmilesDataModule and dm.batch_size == 256 and dm.seed == cfg.seed
    assert dm.ready().n_train == 100 and dm.x_shape == (101,) and dm.bucket == 32
    path = tmp_path / "t.txt"
    path.write_text("".join(f"line {i}\n" for i in range(30)), encoding="utf-8")
    cfg = compose_config("train", ["data=text", f"data.path={path}"], tmp_path / "run2")
    dm = instantiate(cfg.data)
    assert type(dm).__mro__[1] is TextDataModule and dm.ready().n_train == 24 and dm.kind == "chars"


@pytest.mark.slow
def test_real_moses(tmp_path):
    if not (SHARED / "train.csv.gz").is_file():
        pytest.skip(f"no MOSES copy in {SHARED}")
    dm = SmilesDataModule(source_dir=str(SHARED), data_dir=str(tmp_path)).ready()
    assert dm.n_train == 50000 and len(dm.val[0]) == 2000 and len(dm.test[0]) == 10000
    assert int(lengths(dm.train_fixed()[0]).max()) <= 60
    assert {"Cl", "Br", "[nH]", "c", "C"} <= set(dm.vocabulary)
    assert len(dm.training_strings()) == 1584663
    assert set(dm.decode(dm.train_fixed()[0][:100])) <= dm.training_strings()
    again = SmilesDataModule(source_dir=str(SHARED), data_dir=str(tmp_path), n_train=1000).ready()
    assert again.vocabulary == dm.vocabulary
    print(f"MOSES: cache built in {dm.cache_seconds:.1f} s, read in {again.cache_seconds:.1f} s")

"""Dynamically binarised 28 x 28 Omniglot (docs/maths.md §4) on a small synthetic PNG tree in zips.

The `omniglot_zips` fixture writes Lake-style one-bit 105 x 105 PNGs whose fully inked or
empty 15 x 15 cells (exactly 4 x 4 pixels at 28 x 28) encode the image's character, alphabet
and drawing, so the 28 x 28 binary images can be decoded and checked exactly; one cell is a
checkerboard (grey, random when binarised). Only the slow test reads the real data.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mimkit.app.schema import check_node
from mimkit.data import omniglot
from mimkit.data.omniglot import OmniglotDataModule
from mimkit.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
# 3 + 2 + 2 = 7 characters over 3 alphabets; "Zeta" sorts last but is an evaluation alphabet
LAYOUT = {"images_background": {"Beta": 3, "Alpha": 2}, "images_evaluation": {"Zeta": 2}}
ALPHABETS = ["Alpha", "Beta", "Zeta"]
CHARACTER_ALPHABET = [0, 0, 1, 1, 1, 2, 2]  # alphabet of each character, in that order
DRAWINGS, PER_TEST = 8, 2
N_POOL, N_TEST = 7 * (DRAWINGS - PER_TEST), 7 * PER_TEST  # 42, 14
N_VAL = 10


def decode(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(character, alphabet, drawing) of 28 x 28 images [N, 1, 28, 28] (binary or grey)."""
    cells = x[:, 0].reshape(len(x), 7, 4, 7, 4).amin((2, 4)).reshape(len(x), 49).numpy() > 0.5
    weights = 2 ** np.arange(7)
    return (
        (cells[:, 0:7] * weights).sum(1),
        (cells[:, 7:14] * weights).sum(1),
        (cells[:, 14:21] * weights).sum(1),
    )


@pytest.fixture
def source(omniglot_zips):
    return omniglot_zips(LAYOUT, DRAWINGS)


def module(tmp_path: Path, source_dir: Path | None, **kwargs) -> OmniglotDataModule:
    options = dict(
        data_dir=str(tmp_path / "data"),
        source_dir=source_dir and str(source_dir),
        n_train=N_POOL - N_VAL,
        n_val=N_VAL,
        n_test=N_TEST,
        test_per_character=PER_TEST,
        batch_size=16,
        eval_batch_size=100,
        seed=3,
    )
    return OmniglotDataModule(**(options | kwargs)).ready()


def test_split_by_character_and_aligned_labels(tmp_path, source):
    dm = module(tmp_path, source)
    assert dm.alphabets == ALPHABETS and dm.x_shape == (1, 28, 28) and dm.n_train == N_POOL - N_VAL
    assert dm.characters[:2] == ["Alpha/character01", "Alpha/character02"]
    seen = []
    for x, labels in (dm.train_fixed(), dm.val, dm.test):
        assert x.dtype == torch.float32 and set(x.unique().tolist()) == {0.0, 1.0}
        assert labels.dtype == torch.int64
        character, alphabet, drawing = decode(x)
        assert np.array_equal(labels.numpy(), alphabet)  # alphabet labels, with their images
        assert np.array_equal(np.array(CHARACTER_ALPHABET)[character], alphabet)
        seen.append(set(zip(character.tolist(), drawing.tolist())))
    train, val, test = seen
    assert len(train) == N_POOL - N_VAL and len(val) == N_VAL and len(test) == N_TEST
    everything = {(c, d) for c in range(7) for d in range(DRAWINGS)}
    assert train | val | test == everything and not (train & val or train & test or val & test)
    # PER_TEST drawings of every character to test, chosen at random (not the same ones)
    test_characters = [c for c, _ in test]
    assert all(test_characters.count(c) == PER_TEST for c in range(7))
    assert len({d for _, d in test}) > PER_TEST


def test_character_labels(tmp_path, source):
    dm = module(tmp_path, source, label="character")
    for x, labels in (dm.train_fixed(), dm.val, dm.test):
        assert np.array_equal(labels.numpy(), decode(x)[0])
    with pytest.raises(ConfigError, match="data.label must be .*got 'drawer'"):
        check_node(
            "data",
            {"_target_": "mimkit.data.omniglot.OmniglotDataModule", "data_dir": "d", "label": "drawer"},
        )


def test_downsampling_is_the_ink_fraction(tmp_path, source):
    dm = module(tmp_path, source)
    grey = dm.train_intensities[:, 0]
    cells = grey.reshape(len(grey), 7, 4, 7, 4)
    full = cells.amin((2, 4)) == 1  # fully inked cells are exactly 255
    assert ((cells.amax((2, 4)) == 0) | full | (torch.arange(49).view(7, 7) == 48)).all()
    checker = grey[:, 24:, 24:]  # 113 of its 225 pixels are ink
    assert abs(checker.mean().item() - 113 / 225) < 0.02 and (checker > 0.4).all()


def test_training_epochs_are_shuffled_and_rebinarised(tmp_path, source):
    dm = module(tmp_path, source)
    (x0, y0), (x1, y1) = dm.train_epoch(0), dm.train_epoch(1)
    keys0 = list(zip(*decode(x0)[::2]))
    keys1 = list(zip(*decode(x1)[::2]))
    assert sorted(keys0) == sorted(keys1) and keys0 != keys1  # the same set, reshuffled
    assert np.array_equal(y0.numpy(), decode(x0)[1])
    grey0 = x0[np.argsort([k[0] * 100 + k[1] for k in keys0]), 0, 24:, 24:]
    grey1 = x1[np.argsort([k[0] * 100 + k[1] for k in keys1]), 0, 24:, 24:]
    assert not torch.equal(grey0, grey1)
    assert all(torch.equal(a, b) for a, b in zip(dm.train_epoch(1), (x1, y1)))


def test_split_depends_on_data_seed_only(tmp_path, source):
    dm = module(tmp_path, source)
    other_run = module(tmp_path, source, seed=9)
    assert all(torch.equal(a, b) for a, b in zip(dm.test + dm.val, other_run.test + other_run.val))
    other_split = module(tmp_path, source, data_seed=1)
    assert set(zip(*decode(other_split.test[0])[::2])) != set(zip(*decode(dm.test[0])[::2]))


def test_subsets_and_bad_sizes(tmp_path, source):
    small = module(tmp_path, source, n_train=5, n_val=3, n_test=4)
    assert (small.n_train, len(small.val[0]), len(small.test[0])) == (5, 3, 4)
    with pytest.raises(
        ConfigError,
        match=r"data.n_train \+ data.n_val = 43 exceeds the 42 "
        "Omniglot training images",
    ):
        module(tmp_path, source, n_train=33)
    with pytest.raises(ConfigError, match="data.n_test = 15 exceeds the 14 Omniglot test images"):
        module(tmp_path, source, n_test=15)
    with pytest.raises(
        ConfigError, match="data.test_per_character = 8 leaves no training drawing for a character with 8"
    ):
        module(tmp_path, source, test_per_character=8)


def test_extracts_once_and_caches_the_decoded_images(tmp_path, source, monkeypatch):
    before = {p: p.read_bytes() for p in source.rglob("*") if p.is_file()}
    first = module(tmp_path, source)
    assert {p: p.read_bytes() for p in source.rglob("*") if p.is_file()} == before
    root = tmp_path / "data" / "omniglot-py"
    assert sorted(p.name for p in root.iterdir()) == [
        "images_background",
        "images_evaluation",
        "omniglot28_box.pt",
    ]
    assert len(list((root / "images_background").rglob("*.png"))) == 5 * DRAWINGS
    assert not first.from_cache

    def fail(*args):
        raise AssertionError("the PNG tree was read although the cache exists")

    monkeypatch.setattr(omniglot, "read_tree", fail)
    second = module(tmp_path, None)  # needs neither the zips nor the tree
    assert second.from_cache
    for a, b in zip(
        first.train_fixed() + first.val + first.test, second.train_fixed() + second.val + second.test
    ):
        assert torch.equal(a, b)


def test_a_corrupt_cache_is_rebuilt(tmp_path, source, caplog):
    first = module(tmp_path, source)
    first.cache_path.write_bytes(b"garbage")
    again = module(tmp_path, source)
    assert not again.from_cache and "ignoring the cache" in caplog.text
    assert torch.equal(again.test[0], first.test[0])
    assert module(tmp_path, source).from_cache


def test_extracted_tree_is_used_without_zips(tmp_path, source):
    module(tmp_path, source).cache_path.unlink()
    for archive in (source / "omniglot-py").glob("*.zip"):
        archive.unlink()
    assert not module(tmp_path, source).from_cache


def test_missing_zip_says_which_file_goes_where(tmp_path, source):
    (source / "omniglot-py" / "images_evaluation.zip").unlink()
    root = tmp_path / "data" / "omniglot-py"
    message = (
        f"Omniglot file images_evaluation.zip is missing: put it in {root}/ or "
        f"{source / 'omniglot-py'}/ (data.data_dir, data.source_dir), extract it into "
        f"{root / 'images_evaluation'}, or set data.download=true when online"
    )
    with pytest.raises(ConfigError) as error:
        module(tmp_path, source)
    assert str(error.value) == message


def test_corrupt_zip_names_it(tmp_path, source):
    archive = source / "omniglot-py" / "images_background.zip"
    intact = archive.read_bytes()
    archive.write_bytes(intact[:1000])
    with pytest.raises(
        ConfigError,
        match=rf"^{archive} is not a readable zip file "
        r"\(BadZipFile",
    ):
        module(tmp_path, source)
    # one flipped byte inside a stored PNG: the zip's per-file CRC catches it
    with zipfile.ZipFile(io.BytesIO(intact)) as contents:
        first = contents.infolist()[0]
    offset = first.header_offset + 30 + len(first.filename.encode()) + 50
    archive.write_bytes(intact[:offset] + bytes([intact[offset] ^ 0xFF]) + intact[offset + 1 :])
    with pytest.raises(
        ConfigError,
        match=rf"^{archive} is not a readable zip file "
        r"\(BadZipFile: Bad CRC-32",
    ):
        module(tmp_path, source)
    # a zip of something else
    with zipfile.ZipFile(archive, "w") as other:
        other.writestr("images/readme.txt", "not Omniglot")
    with pytest.raises(ConfigError, match=rf"^{archive} holds no images_background/ folder$"):
        module(tmp_path, source)


def test_unreadable_png_names_it(tmp_path, source):
    dm_dir = tmp_path / "data" / "omniglot-py"
    module(tmp_path, source).cache_path.unlink()
    bad = dm_dir / "images_evaluation" / "Zeta" / "character02" / "0007_03.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(
        ConfigError,
        match=rf"^{bad} is not a readable PNG image .*; delete "
        rf"{dm_dir / 'images_evaluation'} to extract it again",
    ):
        module(tmp_path, source)
    assert not (dm_dir / "omniglot28_box.pt").exists()


def test_download_goes_through_torchvision(tmp_path, source, monkeypatch):
    """download=True hands over to torchvision's Omniglot (its fetch replaced here: no network;
    it leaves the zip and its extracted tree in data_dir/omniglot-py/)."""
    from torchvision.datasets import Omniglot
    from torchvision.datasets.utils import extract_archive

    fetched = []

    def fake_download(self):
        fetched.append(self.root)
        archive = Path(self.root) / f"{self._get_target_folder()}.zip"
        archive.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / "omniglot-py" / archive.name, archive)
        extract_archive(str(archive), self.root)

    monkeypatch.setattr(Omniglot, "download", fake_download)
    monkeypatch.setattr(Omniglot, "_check_integrity", lambda self: True)
    dm = module(tmp_path, None, download=True)
    assert fetched == [str(tmp_path / "data" / "omniglot-py")] * 2
    assert dm.alphabets == ALPHABETS

    def offline(self):
        raise RuntimeError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(Omniglot, "download", offline)
    with pytest.raises(
        ConfigError,
        match="data.download=true: torchvision could not fetch "
        "Omniglot images_background into .*other/data/omniglot-py "
        r"\(RuntimeError: <urlopen error",
    ):
        module(tmp_path / "other", None, download=True)


def test_hydra_config(tmp_path, source):
    from conftest import compose_config
    from hydra.utils import instantiate

    cfg = compose_config(
        "train",
        [
            "data=omniglot",
            f"data.data_dir={tmp_path / 'data'}",
            f"data.source_dir={source}",
            f"data.n_train={N_POOL - N_VAL}",
            f"data.n_val={N_VAL}",
            f"data.n_test={N_TEST}",
            f"data.test_per_character={PER_TEST}",
        ],
        tmp_path / "run",
    )
    assert cfg.data.x_dim == 784 and cfg.data.label == "alphabet" and cfg.data.seed == cfg.seed
    dm = instantiate(cfg.data)
    assert isinstance(dm, OmniglotDataModule) and dm.n_train == N_POOL - N_VAL


@pytest.mark.slow
def test_real_omniglot(tmp_path):
    if not (SHARED / "omniglot-py" / "images_background.zip").is_file():
        pytest.skip(f"no offline Omniglot copy in {SHARED}")
    dm = OmniglotDataModule(data_dir=str(tmp_path), source_dir=str(SHARED)).ready()
    assert len(dm.alphabets) == 50 and len(dm.characters) == 1623
    assert dm.alphabets[0] == "Alphabet_of_the_Magi" and dm.alphabets[30] == "Angelic"
    assert (dm.n_train, len(dm.val[0]), len(dm.test[0])) == (23000, 1345, 8115)
    labels = torch.cat([dm.train_labels, dm.val[1], dm.test[1]])
    # Lake's background set: 30 alphabets, 964 characters, 20 drawings each
    assert torch.bincount(labels, minlength=50)[:30].sum() == 19280
    assert sorted(dm.test[1].unique().tolist()) == list(range(50))
    cached = OmniglotDataModule(data_dir=str(tmp_path), source_dir=str(SHARED)).ready()
    assert cached.from_cache and torch.equal(cached.test[0], dm.test[0])
    print(f"Omniglot: first load {dm.setup_seconds:.1f} s, cached {cached.setup_seconds:.1f} s")

"""Dynamically binarised MNIST / Fashion-MNIST (docs/maths.md §4) on small synthetic IDX files.

Each synthetic image encodes where it came from in pixels that are fully on (255) or off (0),
which binarise the same way every time: its label (row `label`, columns 0-9), its index in its
file (row 12, bit b in column b) and which file (pixel (12, 20) on for the test file). The
bottom half is grey (128), so its binary pixels are random. Only the slow test reads real data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mimkit.app.schema import check_node
from mimkit.data.binarized import binarize
from mimkit.data.mnist import FashionMNISTDataModule, MNISTDataModule
from mimkit.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
N_FILE, N_TEST_FILE = 120, 60
N_TRAIN, N_VAL = 90, 20  # images 90-99 of the training file belong to neither split
GREY = 128


def encoded_images(n: int, labels: np.ndarray, test_file: bool) -> np.ndarray:
    images = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        images[i, labels[i], :10] = 255
        images[i, 12, [b for b in range(16) if i >> b & 1]] = 255
    images[:, 12, 20] = 255 if test_file else 0
    images[:, 14:] = GREY
    return images


def make_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    train_labels = rng.integers(0, 10, N_FILE).astype(np.uint8)
    test_labels = rng.integers(0, 10, N_TEST_FILE).astype(np.uint8)
    return {
        "train_images": encoded_images(N_FILE, train_labels, False),
        "train_labels": train_labels,
        "test_images": encoded_images(N_TEST_FILE, test_labels, True),
        "test_labels": test_labels,
    }


def decode(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index in its file, label, from the test file) of binarised images [N, 1, 28, 28]."""
    x = x[:, 0].numpy()
    label = x[:, :10, 0].argmax(1)
    index = (x[:, 12, :16] * 2 ** np.arange(16)).sum(1).astype(int)
    return index, label, x[:, 12, 20] == 1


@pytest.fixture
def source(mnist_files):
    arrays = make_arrays()
    return mnist_files("MNIST", arrays), arrays


def module(tmp_path: Path, source_dir: Path, cls=MNISTDataModule, **kwargs):
    options = dict(
        data_dir=str(tmp_path / "data"),
        source_dir=str(source_dir),
        n_train=N_TRAIN,
        n_val=N_VAL,
        n_test=N_TEST_FILE,
        batch_size=32,
        eval_batch_size=50,
        seed=3,
    )
    return cls(**(options | kwargs)).ready()


def test_binarize_draws_bernoulli_pixels():
    p = torch.tensor([0.0, 0.3, 1.0]).repeat(200_000, 1)
    x = binarize(p, torch.Generator().manual_seed(0))
    assert x.dtype == torch.float32 and set(x.unique().tolist()) == {0.0, 1.0}
    assert x[:, 0].sum() == 0 and x[:, 2].sum() == 200_000
    # mean of 200,000 Bernoulli(0.3) draws: standard error 0.001
    assert abs(x[:, 1].mean().item() - 0.3) < 0.005


def test_splits_hold_the_right_images_and_labels(tmp_path, source):
    folder, arrays = source
    dm = module(tmp_path, folder)
    assert dm.x_shape == (1, 28, 28) and dm.n_train == N_TRAIN
    splits = {"train": dm.train_fixed(), "val": dm.val, "test": dm.test}
    expected = {
        "train": (np.arange(N_TRAIN), False),
        "val": (np.arange(N_FILE - N_VAL, N_FILE), False),
        "test": (np.arange(N_TEST_FILE), True),
    }
    for name, (x, labels) in splits.items():
        assert x.dtype == torch.float32 and x.shape == (len(labels), 1, 28, 28)
        assert set(x.unique().tolist()) == {0.0, 1.0}
        assert labels.dtype == torch.int64
        index, label, from_test = decode(x)
        positions, test_file = expected[name]
        assert np.array_equal(index, positions) and (from_test == test_file).all()
        file_labels = arrays["test_labels" if test_file else "train_labels"][positions]
        assert np.array_equal(labels.numpy(), file_labels) and np.array_equal(label, file_labels)


def test_construction_reads_nothing_prepare_data_copies_and_setup_loads(tmp_path, source):
    """Lightning's steps: settings only at construction, files in prepare_data, tensors in setup."""
    folder, _ = source
    data = tmp_path / "data"
    dm = MNISTDataModule(
        data_dir=str(data), source_dir=str(folder), n_train=N_TRAIN, n_val=N_VAL, n_test=N_TEST_FILE
    )
    assert not data.exists()
    dm.prepare_data()
    assert sorted(p.name for p in (data / "MNIST" / "raw").iterdir() if p.suffix != ".gz") == [
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
    ]
    assert dm._val is None  # nothing loaded yet
    dm.setup("fit")
    loaded = dm._val
    assert len(loaded[0]) == N_VAL
    dm.setup("test")  # once only: the trainer's own calls find it done
    assert dm._val is loaded and dm.val is loaded


def test_a_missing_file_fails_in_prepare_data_and_lazily(tmp_path):
    dm = MNISTDataModule(data_dir=str(tmp_path / "data"), source_dir=str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match=r"^MNIST file train-images-idx3-ubyte.gz is missing: put it in"):
        dm.prepare_data()
    with pytest.raises(ConfigError, match=r"^MNIST file train-images-idx3-ubyte.gz is missing"):
        _ = dm.test  # used without a trainer: prepared and set up on first use


def test_training_epochs_are_shuffled_and_rebinarised_reproducibly(tmp_path, source):
    folder, _ = source
    dm = module(tmp_path, folder)
    epochs = [dm.train_epoch(0), dm.train_epoch(1)]
    grey = []
    for x, labels in epochs:
        index, label, _ = decode(x)
        assert sorted(index) == list(range(N_TRAIN))  # a permutation of the train set
        assert np.array_equal(label, labels.numpy())  # labels move with their images
        grey.append(x[np.argsort(index), 0, 14:])  # the random part, in file order
    assert not np.array_equal(decode(epochs[0][0])[0], decode(epochs[1][0])[0])  # reshuffled
    for g in grey:  # 90 x 14 x 28 Bernoulli(128/255) pixels: standard error 0.0027
        assert abs(g.mean().item() - GREY / 255) < 0.015
    changed = (grey[0] != grey[1]).flatten(1).any(1)
    assert changed.all()  # every image re-binarised
    again = module(tmp_path, folder).train_epoch(1)  # a new module, same seed
    assert all(torch.equal(a, b) for a, b in zip(epochs[1], again))
    other = module(tmp_path, folder, seed=4).train_epoch(1)
    assert not torch.equal(other[0], epochs[1][0])


def test_evaluation_sets_are_binarised_once_from_data_seed(tmp_path, source):
    folder, _ = source
    dm = module(tmp_path, folder)
    other_run = module(tmp_path, folder, seed=11)
    for a, b in [
        (dm.val, other_run.val),
        (dm.test, other_run.test),
        (dm.train_fixed(), other_run.train_fixed()),
    ]:
        assert all(torch.equal(s, t) for s, t in zip(a, b))
    assert dm.train_fixed() is dm.train_fixed()
    for x in (dm.val[0], dm.test[0], dm.train_fixed()[0]):
        assert abs(x[:, 0, 14:].mean().item() - GREY / 255) < 0.03
    other_data = module(tmp_path, folder, data_seed=1)
    assert not torch.equal(other_data.val[0], dm.val[0])
    assert np.array_equal(decode(other_data.val[0])[0], decode(dm.val[0])[0])


def test_dataloaders(tmp_path, source):
    folder, _ = source
    dm = module(tmp_path, folder)
    batches = list(dm.train_dataloader())
    assert [len(b[0]) for b in batches] == [32, 32, 26]
    assert batches[0][0].shape == (32, 1, 28, 28) and batches[0][1].shape == (32,)
    assert [len(b[0]) for b in dm.val_dataloader()] == [N_VAL]
    assert [len(b[0]) for b in dm.test_dataloader()] == [50, 10]


def test_fashion_mnist_reads_its_own_files(tmp_path, source, mnist_files):
    folder, mnist = source
    fashion = make_arrays(seed=7)
    mnist_files("FashionMNIST", fashion, folder)
    dm = module(tmp_path, folder, cls=FashionMNISTDataModule)
    assert np.array_equal(dm.test[1].numpy(), fashion["test_labels"])
    assert not np.array_equal(fashion["test_labels"], mnist["test_labels"])
    assert (tmp_path / "data" / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte").is_file()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_train": 101}, r"data.n_train \+ data.n_val = 121 exceeds the 120 MNIST training images"),
        ({"n_test": 61}, "data.n_test = 61 exceeds the 60 MNIST test images"),
    ],
)
def test_bad_sizes_are_named(tmp_path, source, kwargs, message):
    folder, _ = source
    with pytest.raises(ConfigError, match=message):
        module(tmp_path, folder, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_val": 0}, "data.n_val must be greater than 0, got 0"),
        ({"x_dim": 20}, "data.x_dim must be 784, got 20"),
    ],
)
def test_bad_settings_are_named_by_the_schema(tmp_path, kwargs, message):
    node = {"_target_": "mimkit.data.mnist.MNISTDataModule", "data_dir": str(tmp_path)}
    with pytest.raises(ConfigError, match=f"^{message}$"):
        check_node("data", {**node, **kwargs})


def test_images_of_another_size(tmp_path, mnist_files):
    arrays = make_arrays()
    arrays["test_images"] = arrays["test_images"][:, :20, :20]
    folder = mnist_files("MNIST", arrays)
    with pytest.raises(ConfigError, match=r"t10k-images-idx3-ubyte holds 20x20 images, expected 28x28"):
        module(tmp_path, folder)


def test_hydra_configs(tmp_path, source, mnist_files):
    from conftest import compose_config
    from hydra.utils import instantiate

    folder, _ = source
    mnist_files("FashionMNIST", make_arrays(seed=7), folder)
    for option, cls in (("mnist", MNISTDataModule), ("fmnist", FashionMNISTDataModule)):
        cfg = compose_config(
            "train",
            [
                f"data={option}",
                f"data.data_dir={tmp_path / 'data'}",
                f"data.source_dir={folder}",
                f"data.n_train={N_TRAIN}",
                f"data.n_val={N_VAL}",
                f"data.n_test={N_TEST_FILE}",
            ],
            tmp_path / "run",
        )
        assert cfg.data.x_dim == 784 and cfg.model.encoder.in_dim == 784
        assert cfg.data.seed == cfg.seed and cfg.data.download is False
        dm = instantiate(cfg.data)
        assert (
            type(dm).__mro__[1] is cls and dm.x_shape == (1, 28, 28) and dm.batch_size == 100
        )  # its LightningDataModule twin


@pytest.mark.slow
@pytest.mark.parametrize("cls, name", [(MNISTDataModule, "MNIST"), (FashionMNISTDataModule, "FashionMNIST")])
def test_real_data(tmp_path, cls, name):
    if not (SHARED / name / "raw").is_dir():
        pytest.skip(f"no offline {name} copy in {SHARED}")
    dm = cls(data_dir=str(tmp_path), source_dir=str(SHARED)).ready()
    (x, y), (vx, _), (tx, ty) = dm.train_fixed(), dm.val, dm.test
    assert x.shape == (50000, 1, 28, 28) and vx.shape == (10000, 1, 28, 28)
    assert tx.shape == (10000, 1, 28, 28)
    assert set(vx.unique().tolist()) == {0.0, 1.0}
    assert sorted(y.unique().tolist()) == list(range(10))
    if name == "MNIST":  # the well-known test label counts, first train and test digits
        assert torch.bincount(ty).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
        assert y[0].item() == 5 and ty[0].item() == 7
    else:
        assert torch.bincount(ty).tolist() == [1000] * 10
    print(
        f"{name}: first load {dm.setup_seconds:.1f} s, "
        f"second {cls(data_dir=str(tmp_path), source_dir=str(SHARED)).ready().setup_seconds:.1f} s"
    )

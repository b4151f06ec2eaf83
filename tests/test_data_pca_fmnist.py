"""The PCA Fashion-MNIST data module, on tiny synthetic Fashion-MNIST files.

The fast tests write small files in the real format (gzipped IDX, read by torchvision's
`FashionMNIST`; the `mnist_files` fixture makes torchvision expect their md5) into tmp_path;
only the test marked slow reads the real offline copy.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from mimkit.app.schema import check_node
from mimkit.data import pca_fmnist
from mimkit.data.pca_fmnist import PCAFashionMNISTDataModule
from mimkit.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
N_TRAIN_FILE, N_TEST_FILE = 120, 60
N_TRAIN, N_VAL, K = 90, 20, 5  # 10 images of the train file belong to neither split


def synthetic_images(n: int, rng: np.random.Generator, offset: float) -> np.ndarray:
    """Images with a few strong, well-separated directions of variance plus noise."""
    patterns = rng.normal(size=(6, 784))
    scales = np.array([60.0, 45.0, 32.0, 22.0, 14.0, 8.0])
    x = offset + (rng.normal(size=(n, 6)) * scales) @ patterns / 4 + rng.normal(size=(n, 784)) * 3
    return np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(n, 28, 28)


def make_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """The four files' arrays. The train split, the validation tail and the test split are
    drawn differently, so fitting the PCA on anything but the training split would show."""
    rng = np.random.default_rng(seed)
    train = synthetic_images(N_TRAIN_FILE, rng, 110.0)
    train[N_TRAIN_FILE - N_VAL :] = synthetic_images(N_VAL, rng, 170.0)
    return {
        "train_images": train,
        "train_labels": rng.integers(0, 10, N_TRAIN_FILE).astype(np.uint8),
        "test_images": synthetic_images(N_TEST_FILE, rng, 60.0),
        "test_labels": rng.integers(0, 10, N_TEST_FILE).astype(np.uint8),
    }


@pytest.fixture
def source(mnist_files) -> tuple[Path, dict[str, np.ndarray]]:
    arrays = make_arrays()
    return mnist_files("FashionMNIST", arrays), arrays


def module(tmp_path: Path, source_dir: Path, **kwargs) -> PCAFashionMNISTDataModule:
    options = dict(
        data_dir=str(tmp_path / "data"),
        source_dir=str(source_dir),
        x_dim=K,
        n_train=N_TRAIN,
        n_val=N_VAL,
        batch_size=32,
        eval_batch_size=50,
        seed=3,
    )
    return PCAFashionMNISTDataModule(**(options | kwargs)).ready()


# --- the PCA data module ------------------------------------------------------------------


def numpy_pca(arrays):
    """The reference: numpy's SVD of the mean-centred training split (x / 255)."""
    x = arrays["train_images"][:N_TRAIN].reshape(N_TRAIN, -1).astype(np.float64) / 255
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, s, vt[:K]


def test_pca_is_fit_on_the_training_split_only(tmp_path, source):
    folder, arrays = source
    dm = module(tmp_path, folder)
    mean, s, basis = numpy_pca(arrays)
    np.testing.assert_allclose(dm.mean.numpy(), mean, atol=1e-12)
    everything = arrays["train_images"].reshape(N_TRAIN_FILE, -1).mean(0) / 255
    assert np.abs(everything - mean).min() > 0.02  # the check above can tell the difference
    signs = np.sign(np.sum(dm.components.numpy() * basis, axis=1))
    np.testing.assert_allclose(dm.components.numpy(), basis * signs[:, None], atol=1e-9)
    # the sign convention: each component's largest-magnitude entry is positive
    c = dm.components.numpy()
    assert (c[np.arange(K), np.abs(c).argmax(1)] > 0).all()
    np.testing.assert_allclose(dm.explained_variance, (s[:K] ** 2).sum() / (s**2).sum(), rtol=1e-10)
    np.testing.assert_allclose(
        dm.eigenvalues.numpy()[: N_TRAIN - 1], s[: N_TRAIN - 1] ** 2 / (N_TRAIN - 1), rtol=1e-8, atol=1e-12
    )
    # every split is projected with the training mean and basis
    slices = {
        "train": arrays["train_images"][:N_TRAIN],
        "val": arrays["train_images"][N_TRAIN_FILE - N_VAL :],
        "test": arrays["test_images"],
    }
    ours = {"train": dm.train_fixed()[0], "val": dm.val[0], "test": dm.test[0]}
    for split, images in slices.items():
        x = images.reshape(len(images), -1).astype(np.float64) / 255
        expected = (x - mean) @ (basis * signs[:, None]).T
        assert ours[split].dtype == torch.float32
        np.testing.assert_allclose(ours[split].numpy(), expected, rtol=1e-5, atol=1e-4)


def svd_fit(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and top K components of images / 255 by numpy's SVD, each component's
    largest-magnitude entry made positive (the module's sign convention)."""
    x = images.reshape(len(images), -1).astype(np.float64) / 255
    mean = x.mean(0)
    basis = np.linalg.svd(x - mean, full_matrices=False)[2][:K]
    largest = np.abs(basis).argmax(1)
    return mean, basis * np.sign(basis[np.arange(K), largest])[:, None]


def test_pca_fit_separate_projects_the_test_set_on_its_own_pca(tmp_path, source):
    folder, arrays = source
    shared = module(tmp_path, folder)
    separate = module(tmp_path, folder, pca_fit="separate")
    assert (shared.pca_fit, separate.pca_fit) == ("train", "separate")
    test_images = arrays["test_images"]
    x_test = test_images.reshape(N_TEST_FILE, -1).astype(np.float64) / 255
    # separate: the test coefficients are those of a PCA fit on the 60 test images alone
    test_mean, test_basis = svd_fit(test_images)
    np.testing.assert_allclose(separate.test_mean.numpy(), test_mean, atol=1e-12)
    np.testing.assert_allclose(separate.test_components.numpy(), test_basis, atol=1e-9)
    np.testing.assert_allclose(
        separate.test[0].numpy(), (x_test - test_mean) @ test_basis.T, rtol=1e-5, atol=1e-4
    )
    assert separate.test[0].double().mean(0).abs().max() < 1e-5  # centred on the test mean
    # train: the test images on the training fit
    train_mean, train_basis = svd_fit(arrays["train_images"][:N_TRAIN])
    np.testing.assert_allclose(
        shared.test[0].numpy(), (x_test - train_mean) @ train_basis.T, rtol=1e-5, atol=1e-4
    )
    assert shared.test_mean is None and shared.test_components is None
    # the two bases give very different test codes (the checks above can tell them apart) ...
    assert (separate.test[0] - shared.test[0]).abs().max() > 1.0
    # ... while training, validation (the training fit) and the test labels are the same
    for a, b in zip(
        shared.train_fixed() + shared.val + shared.test[1:],
        separate.train_fixed() + separate.val + separate.test[1:],
    ):
        assert torch.equal(a, b)
    assert torch.equal(shared.components, separate.components)
    # its own cache file, reloaded as it was written
    assert separate.cache_path.name == f"pca_fmnist_k{K}_train{N_TRAIN}_val{N_VAL}_testfit.pt"
    again = module(tmp_path, folder, pca_fit="separate")
    assert again.from_cache and torch.equal(again.test[0], separate.test[0])
    assert torch.equal(again.test_components, separate.test_components)


def test_pca_fit_caches_are_not_confused(tmp_path, source, caplog):
    folder, _ = source
    shared = module(tmp_path, folder)
    # a training-fit cache under the separate name does not pass (its meta says pca_fit=train)
    testfit = shared.cache_path.with_name(shared.cache_path.stem + "_testfit.pt")
    testfit.write_bytes(shared.cache_path.read_bytes())
    with caplog.at_level(logging.WARNING, logger="mimkit.data.storage"):
        separate = module(tmp_path, folder, pca_fit="separate")
    assert not separate.from_cache and "do not match" in caplog.text
    assert not torch.equal(separate.test[0], shared.test[0])
    # a cache of the format before pca_fit (no such meta key) is not read: rebuilt, the same data
    stored = torch.load(shared.cache_path, weights_only=True)
    del stored["meta"]["pca_fit"]
    torch.save(stored, shared.cache_path)
    old = module(tmp_path, folder)
    assert not old.from_cache and torch.equal(old.test[0], shared.test[0])


def test_bad_pca_fit_is_one_config_error(tmp_path):
    node = {"_target_": "mimkit.data.pca_fmnist.PCAFashionMNISTDataModule", "data_dir": str(tmp_path)}
    with pytest.raises(ConfigError) as error:
        check_node("data", {**node, "pca_fit": "test"})
    assert str(error.value) == "data.pca_fit must be 'train' or 'separate', got 'test'"


def test_bad_pca_fit_on_the_command_line(tmp_path):
    from conftest import run_cli

    result = run_cli(
        "train.py",
        "data=pca_fmnist",
        "data.pca_fit=Separate",
        f"data.data_dir={tmp_path / 'data'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        timeout=120,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert lines == ["error: data.pca_fit must be 'train' or 'separate', got 'Separate'"]


def test_augment_changes_only_the_training_epochs(tmp_path, source):
    folder, arrays = source
    plain = module(tmp_path, folder)
    augmented = module(tmp_path, folder, augment=True)
    for split in ("val", "test"):
        assert torch.equal(getattr(plain, split)[0], getattr(augmented, split)[0])
    assert torch.equal(plain.train_fixed()[0], augmented.train_fixed()[0])
    (x, y), (x_plain, y_plain) = augmented.train_epoch(2), plain.train_epoch(2)
    assert torch.equal(y, y_plain)  # the same shuffle of the same images
    assert torch.equal(x, augmented.train_epoch(2)[0])  # a function of (seed, epoch)
    assert not torch.equal(x, augmented.train_epoch(3)[0])  # drawn anew each epoch
    # an image left untransformed moves by its dequantisation noise only, under 1/256 per pixel:
    # its coefficients (unit-norm components) move by at most sqrt(784) / 256 ≈ 0.11; a
    # transformed one moves much further
    shift = (x - x_plain).norm(dim=1)
    untouched = shift <= 784**0.5 / 256
    assert 0.25 < untouched.double().mean() < 0.75 and shift.max() > 1.0


def test_bad_augment_is_one_config_error(tmp_path):
    node = {"_target_": "mimkit.data.pca_fmnist.PCAFashionMNISTDataModule", "data_dir": str(tmp_path)}
    with pytest.raises(ConfigError) as error:
        check_node("data", {**node, "augment": "yes"})
    assert str(error.value) == "data.augment must be a valid boolean, got 'yes'"


def test_select_on_test_validates_on_the_test_set_in_its_basis(tmp_path, source, caplog):
    folder, arrays = source
    held_out = module(tmp_path, folder, pca_fit="separate")
    with caplog.at_level(logging.WARNING, logger="mimkit.data.pca_fmnist"):
        on_test = module(tmp_path, folder, pca_fit="separate", select_on="test")
    assert "test metrics are not held out" in caplog.text
    assert torch.equal(on_test.val[0], held_out.test[0])  # the test images on their own PCA
    assert np.array_equal(on_test.val[1].numpy(), arrays["test_labels"])
    assert held_out.val[0].shape == (N_VAL, K)  # the default keeps the held-out tail
    with pytest.raises(ConfigError, match=r"data.select_on must be 'val' or 'test', got 'train'"):
        check_node(
            "data",
            {
                "_target_": "mimkit.data.pca_fmnist.PCAFashionMNISTDataModule",
                "data_dir": "d",
                "select_on": "train",
            },
        )


def test_splits_shapes_and_labels(tmp_path, source):
    folder, arrays = source
    dm = module(tmp_path, folder)
    assert dm.x_shape == (K,) and dm.x_dim == K and dm.n_train == N_TRAIN
    (x, y), (vx, vy), (tx, ty) = dm.train_fixed(), dm.val, dm.test
    assert x.shape == (N_TRAIN, K) and vx.shape == (N_VAL, K) and tx.shape == (N_TEST_FILE, K)
    assert y.dtype == vy.dtype == ty.dtype == torch.int64
    assert np.array_equal(y.numpy(), arrays["train_labels"][:N_TRAIN])
    assert np.array_equal(vy.numpy(), arrays["train_labels"][N_TRAIN_FILE - N_VAL :])
    assert np.array_equal(ty.numpy(), arrays["test_labels"])
    # the training coefficients are centred and their variances are the top eigenvalues
    assert x.double().mean(0).abs().max() < 1e-5
    np.testing.assert_allclose(x.double().var(0).numpy(), dm.eigenvalues[:K].numpy(), rtol=1e-5)
    # the inverse map is the projection onto the K components: x̂ = mean + V Vᵀ (x - mean)
    mean, _, basis = numpy_pca(arrays)
    pixels = arrays["train_images"][:3].reshape(3, -1).astype(np.float64) / 255
    expected = mean + (pixels - mean) @ basis.T @ basis
    np.testing.assert_allclose(dm.to_images(x[:3]).reshape(3, -1).numpy(), expected, atol=2e-6)
    # read by torchvision from the files extracted into data_dir
    assert (tmp_path / "data" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file()


def test_bad_split_sizes(tmp_path, source):
    folder, _ = source
    with pytest.raises(ConfigError, match="n_train \\+ data.n_val = 121 exceeds the 120"):
        module(tmp_path, folder, n_train=101, n_val=20)
    with pytest.raises(ConfigError, match="data.n_val must be greater than 0"):
        check_node(
            "data",
            {"_target_": "mimkit.data.pca_fmnist.PCAFashionMNISTDataModule", "data_dir": "d", "n_val": 0},
        )
    with pytest.raises(ConfigError, match="at most the pixel count 784 and data.n_train 90, got 91"):
        module(tmp_path, folder, x_dim=91)


def test_epochs_are_reshuffled_reproducibly(tmp_path, source):
    folder, _ = source
    dm = module(tmp_path, folder)
    x, y = dm.train_fixed()
    e0, e1 = dm.train_epoch(0), dm.train_epoch(1)
    assert not torch.equal(e0[0], e1[0])
    assert all(torch.equal(a, b) for a, b in zip(e0, dm.train_epoch(0)))
    other = module(tmp_path, folder, seed=4).train_epoch(0)
    assert not torch.equal(other[0], e0[0])
    again = module(tmp_path, folder).train_epoch(1)  # a new module with the same seed
    assert all(torch.equal(a, b) for a, b in zip(e1, again))
    # a permutation of the training set, rows and labels moving together
    order = torch.argsort(x[:, 0])
    shuffled = torch.argsort(e1[0][:, 0])
    assert torch.equal(e1[0][shuffled], x[order]) and torch.equal(e1[1][shuffled], y[order])


def test_dataloaders(tmp_path, source):
    folder, _ = source
    dm = module(tmp_path, folder)
    batches = list(dm.train_dataloader())
    assert [len(b[0]) for b in batches] == [32, 32, 26]
    assert batches[0][0].shape == (32, K) and batches[0][1].shape == (32,)
    assert [len(b[0]) for b in dm.val_dataloader()] == [N_VAL]
    assert [len(b[0]) for b in dm.test_dataloader()] == [50, 10]


def test_cache_is_reused(tmp_path, source, monkeypatch):
    folder, _ = source
    first = module(tmp_path, folder)
    assert not first.from_cache and first.cache_path.is_file()
    assert first.cache_path.name == f"pca_fmnist_k{K}_train{N_TRAIN}_val{N_VAL}.pt"

    def fail(*args, **kwargs):
        raise AssertionError("the images were read although the cache exists")

    for name in ("load_mnist_files", "prepare_mnist_files", "read_mnist_files"):
        monkeypatch.setattr(pca_fmnist, name, fail)
    second = module(tmp_path, folder)
    assert second.from_cache
    assert second.explained_variance == first.explained_variance
    for a, b in zip(
        first.train_fixed() + first.val + first.test, second.train_fixed() + second.val + second.test
    ):
        assert torch.equal(a, b)
    assert torch.equal(first.components, second.components)


def test_corrupt_or_mismatched_cache_is_rebuilt(tmp_path, source, caplog):
    folder, _ = source
    first = module(tmp_path, folder)
    reference = first.train_fixed()[0].clone()
    first.cache_path.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="mimkit.data.storage"):
        rebuilt = module(tmp_path, folder)
    assert not rebuilt.from_cache and "ignoring the cache" in caplog.text
    assert torch.equal(rebuilt.train_fixed()[0], reference)
    stored = torch.load(first.cache_path, weights_only=True)
    stored["tensors"]["train_x"] = stored["tensors"]["train_x"][:10]
    torch.save(stored, first.cache_path)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mimkit.data.storage"):
        again = module(tmp_path, folder)
    assert not again.from_cache and "do not match" in caplog.text
    assert module(tmp_path, folder).from_cache
    # another number of components is another cache file
    assert not module(tmp_path, folder, x_dim=3).from_cache


def test_unwritable_cache_only_warns(tmp_path, source, monkeypatch, caplog):
    folder, _ = source

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pca_fmnist.torch, "save", refuse)
    with caplog.at_level(logging.WARNING, logger="mimkit.data.storage"):
        dm = module(tmp_path, folder)
    assert "could not write the cache" in caplog.text
    assert dm.train_fixed()[0].shape == (N_TRAIN, K)
    assert not list((tmp_path / "data").glob("*.pt*")) and not list((tmp_path / "data").glob(".*"))


def test_hydra_config(tmp_path, source, monkeypatch):
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    folder, _ = source
    monkeypatch.setenv("PROJECT_ROOT", str(REPO))
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "data=pca_fmnist",
                f"data.data_dir={tmp_path / 'data'}",
                f"data.source_dir={folder}",
                f"data.n_train={N_TRAIN}",
                f"data.n_val={N_VAL}",
                f"data.x_dim={K}",
                "seed=7",
            ],
        )
    dm = instantiate(cfg.data)
    assert isinstance(dm, PCAFashionMNISTDataModule) and dm.x_shape == (K,)
    assert cfg.data.pca_fit == "train" and dm.pca_fit == "train"
    # the run's seed drives the data stream: the same epoch as a module built with seed 7
    direct = module(tmp_path, folder, seed=7)
    assert all(torch.equal(a, b) for a, b in zip(dm.train_epoch(0), direct.train_epoch(0)))
    # the composed model takes the data's K coefficients
    model = instantiate(cfg.model.encoder)
    assert model(dm.val[0][:2]).mean.shape == (2, cfg.model.latent_dim)


@pytest.mark.slow
def test_real_fashion_mnist(tmp_path):
    if not (SHARED / "FashionMNIST" / "raw").is_dir():
        pytest.skip(f"no offline Fashion-MNIST copy in {SHARED}")
    dm = PCAFashionMNISTDataModule(data_dir=str(tmp_path), source_dir=str(SHARED)).ready()
    (x, y), (vx, _), (tx, ty) = dm.train_fixed(), dm.val, dm.test
    assert x.shape == (50000, 20) and vx.shape == (10000, 20) and tx.shape == (10000, 20)
    assert sorted(y.unique().tolist()) == list(range(10))
    assert torch.bincount(ty).tolist() == [1000] * 10
    print(
        f"explained variance of 20 components: {dm.explained_variance:.4%} (setup {dm.setup_seconds:.1f} s)"
    )
    # 0.785077269494... with the former torch.linalg.eigh implementation (the paper: 78.5%)
    assert abs(dm.explained_variance - 0.7850772695) < 1e-9
    assert os.access(SHARED, os.R_OK)

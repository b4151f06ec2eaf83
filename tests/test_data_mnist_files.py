"""Copying, checking and extracting the MNIST-format files for torchvision's readers, on
synthetic gzipped IDX files (the `mnist_files` fixture sets torchvision's md5 list to theirs).

What torchvision itself checks: `MNIST(root, download=False)` only that the four extracted
files exist (no md5); `download=True` skips a `.gz` whose md5 matches its list and fetches the
others. The offline loader checks every `.gz` it extracts against that list.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
import torchvision.datasets
from conftest import idx_key, write_idx_gz
from torchvision.datasets.utils import calculate_md5

from mimkit.data.mnist_files import load_mnist_files
from mimkit.errors import ConfigError

REAL_MD5 = list(torchvision.datasets.MNIST.resources)
FILES = [name for name, _ in REAL_MD5]


def arrays(seed: int = 0, n_train: int = 30, n_test: int = 10) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def assert_loaded(files, expected):
    for key, array in expected.items():
        assert np.array_equal(getattr(files, key).numpy(), array)
    assert files.train_images.dtype == torch.uint8 and files.train_labels.dtype == torch.int64


def set_md5(monkeypatch, folder, name="MNIST"):
    """torchvision's md5 list for `name` := the md5s of the .gz files now in `folder`."""
    dataset = getattr(torchvision.datasets, name)
    monkeypatch.setattr(
        dataset, "resources", [(gz, calculate_md5(folder / name / "raw" / gz)) for gz, _ in dataset.resources]
    )


def test_copies_checks_and_extracts_without_touching_the_source(tmp_path, mnist_files):
    expected = arrays()
    source = mnist_files("MNIST", expected)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in source.rglob("*") if p.is_file()}
    files = load_mnist_files("MNIST", tmp_path / "data", source)
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in source.rglob("*") if p.is_file()}
    assert before == after
    assert_loaded(files, expected)
    raw = tmp_path / "data" / "MNIST" / "raw"
    for gz in FILES:
        assert (raw / gz).read_bytes() == (source / "MNIST" / "raw" / gz).read_bytes()
        assert (raw / gz[:-3]).read_bytes() == gzip.decompress((raw / gz).read_bytes())
    assert sorted(p.name for p in raw.iterdir()) == sorted(FILES + [gz[:-3] for gz in FILES])


def test_extracted_files_are_read_as_torchvision_does(tmp_path, mnist_files, monkeypatch):
    """Once extracted, neither the .gz files, the source nor their md5 are needed."""
    expected = arrays()
    source = mnist_files("MNIST", expected)
    load_mnist_files("MNIST", tmp_path / "data", source)
    for gz in FILES:
        (tmp_path / "data" / "MNIST" / "raw" / gz).unlink()
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources", REAL_MD5)
    assert_loaded(load_mnist_files("MNIST", tmp_path / "data", tmp_path / "nowhere"), expected)


def test_gz_files_already_in_data_dir_are_used(tmp_path, mnist_files):
    expected = arrays(seed=3)
    mnist_files("MNIST", expected, tmp_path / "data")
    assert_loaded(load_mnist_files("MNIST", tmp_path / "data", None), expected)


def test_missing_file_says_which_file_goes_where(tmp_path, mnist_files):
    source = mnist_files("MNIST", arrays())
    (source / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    raw = tmp_path / "data" / "MNIST" / "raw"
    message = (
        f"MNIST file t10k-labels-idx1-ubyte.gz is missing: put it in {raw}/ "
        f"(data.data_dir) or in {source / 'MNIST' / 'raw'}/ (data.source_dir), or set "
        f"data.download=true when online"
    )
    with pytest.raises(ConfigError) as error:
        load_mnist_files("MNIST", tmp_path / "data", source)
    assert str(error.value) == message
    with pytest.raises(
        ConfigError,
        match="Fashion-MNIST file train-images-idx3-ubyte.gz is "
        "missing: put it in .*FashionMNIST/raw/ "
        r"\(data.data_dir\), or set",
    ):
        load_mnist_files("FashionMNIST", tmp_path / "data", None)


def test_bad_md5_names_the_file(tmp_path, mnist_files):
    source = mnist_files("MNIST", arrays())
    bad = source / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    write_idx_gz(bad, np.zeros(30, np.uint8))  # a valid file, not the one listed
    with pytest.raises(
        ConfigError,
        match=rf"^{bad} is corrupt: md5 {calculate_md5(bad)}, "
        r"torchvision expects [0-9a-f]{32} for MNIST",
    ):
        load_mnist_files("MNIST", tmp_path / "data", source)
    assert not (tmp_path / "data" / "MNIST" / "raw" / bad.name).exists()  # the bad copy is gone
    # a bad file already in data_dir is named (and left for the user to replace)
    local = tmp_path / "local"
    mnist_files("MNIST", arrays(), local)
    write_idx_gz(local / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz", np.zeros((10, 28, 28), np.uint8))
    with pytest.raises(
        ConfigError,
        match=r"local/MNIST/raw/t10k-images-idx3-ubyte.gz is "
        r"corrupt: md5",
    ):
        load_mnist_files("MNIST", local, None)


def test_truncated_gzip_names_the_file(tmp_path, mnist_files, monkeypatch):
    source = mnist_files("MNIST", arrays())
    cut = source / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    cut.write_bytes(cut.read_bytes()[:200])
    set_md5(monkeypatch, source)  # its md5 listed: only the gzip stream can tell
    with pytest.raises(
        ConfigError,
        match=r"data/MNIST/raw/train-images-idx3-ubyte.gz is not a "
        r"readable gzip file \(EOFError",
    ):
        load_mnist_files("MNIST", tmp_path / "data", source)
    raw = tmp_path / "data" / "MNIST" / "raw"
    assert not (raw / "train-images-idx3-ubyte").exists() and not list(raw.glob(".*"))


def test_unreadable_idx_content_names_the_files(tmp_path, mnist_files, monkeypatch):
    expected = arrays()
    source = mnist_files("MNIST", expected)
    write_idx_gz(
        source / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz", np.zeros((30, 2, 2), np.uint8)
    )  # labels with 3 dimensions
    set_md5(monkeypatch, source)
    with pytest.raises(
        ConfigError,
        match=r"torchvision cannot read .*/train-images-idx3-ubyte / "
        r"train-labels-idx1-ubyte \(ValueError",
    ):
        load_mnist_files("MNIST", tmp_path / "data", source)


def test_image_and_label_counts_must_agree(tmp_path, mnist_files):
    data = arrays()
    data["test_labels"] = data["test_labels"][:3]
    source = mnist_files("MNIST", data)
    with pytest.raises(
        ConfigError,
        match="t10k-images-idx3-ubyte holds 10 images but .*t10k-labels-idx1-ubyte holds 3 labels",
    ):
        load_mnist_files("MNIST", tmp_path / "data", source)


def test_download_goes_through_torchvision(tmp_path, monkeypatch):
    """download=True hands over to torchvision's downloader (replaced here: no network)."""
    expected = arrays(seed=5)
    calls = []

    def fake_download(self):
        calls.append(self.raw_folder)
        for gz, _ in self.resources:
            write_idx_gz(tmp_path / "fetched" / gz, expected[idx_key(gz)])
            data = gzip.decompress((tmp_path / "fetched" / gz).read_bytes())
            (tmp_path / "data" / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)
            (tmp_path / "data" / "MNIST" / "raw" / gz[:-3]).write_bytes(data)

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", fake_download)
    assert_loaded(load_mnist_files("MNIST", tmp_path / "data", None, download=True), expected)
    assert calls == [str(tmp_path / "data" / "MNIST" / "raw")]

    def offline(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried ...")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    with pytest.raises(
        ConfigError,
        match=r"data.download=true: torchvision could not fetch "
        r"MNIST into .*other/MNIST/raw \(RuntimeError: Error downloading "
        r"train-images-idx3-ubyte.gz: Tried ...\)$",
    ):
        load_mnist_files("MNIST", tmp_path / "other", None, download=True)


def test_unknown_data_set():
    with pytest.raises(ValueError, match="unknown data set 'KMNIST'"):
        load_mnist_files("KMNIST", "/nowhere")

"""Dynamically binarised MNIST and Fashion-MNIST (docs/maths.md §4).

Read by torchvision's classes (`mimkit.data.mnist_files`): the first `n_train` (50,000) training
images are the training set, the last `n_val` (10,000) of the training file the validation set,
the first `n_test` (all 10,000) test images the test set. Smaller sizes give quick CPU checks.
Pixels are binarised as `mimkit.data.binarized` describes; labels are the digit / garment class.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from mimkit.data.binarized import SIDE, BinarizedImages, Pixels
from mimkit.data.mnist_files import DISPLAY_NAMES, prepare_mnist_files, read_mnist_files
from mimkit.errors import ConfigError
from mimkit.fields import NonNegativeInt, PositiveInt

log = logging.getLogger(__name__)


class MNISTDataModule(BinarizedImages):
    """Dynamically binarised MNIST; `download=True` lets torchvision fetch missing files,
    otherwise they are copied from `source_dir` (see `mimkit.data.mnist_files`)."""

    dataset = "MNIST"

    def __init__(
        self,
        data_dir: str,
        source_dir: str | None = None,
        download: bool = False,
        n_train: PositiveInt = 50000,
        n_val: PositiveInt = 10000,
        n_test: PositiveInt = 10000,
        batch_size: PositiveInt = 100,
        eval_batch_size: PositiveInt = 1000,
        data_seed: NonNegativeInt = 0,
        seed: NonNegativeInt = 1,
        x_dim: Pixels = 784,  # SIDE * SIDE
    ):
        super().__init__(batch_size, eval_batch_size, seed, data_seed)
        self.data_dir, self.source_dir, self.download = Path(data_dir), source_dir, download
        self._n_train, self._n_val, self._n_test = n_train, n_val, n_test

    def prepare_data(self) -> None:
        prepare_mnist_files(self.dataset, self.data_dir, self.source_dir, self.download)

    def load(self) -> None:
        start = time.perf_counter()
        files = read_mnist_files(self.dataset, self.data_dir)
        name = DISPLAY_NAMES[self.dataset]
        for prefix, images in (("train", files.train_images), ("t10k", files.test_images)):
            if images.shape[1:] != (SIDE, SIDE):
                path = self.data_dir / self.dataset / "raw" / f"{prefix}-images-idx3-ubyte"
                raise ConfigError(
                    f"{path} holds {images.shape[1]}x{images.shape[2]} images, expected {SIDE}x{SIDE}"
                )
        n_train, n_val, n_test = self._n_train, self._n_val, self._n_test
        available = len(files.train_images)
        if n_train + n_val > available:
            raise ConfigError(
                f"data.n_train + data.n_val = {n_train + n_val} exceeds the "
                f"{available} {name} training images"
            )
        if n_test > len(files.test_images):
            raise ConfigError(
                f"data.n_test = {n_test} exceeds the {len(files.test_images)} {name} test images"
            )
        self._set_splits(
            train=(files.train_images[:n_train], files.train_labels[:n_train]),
            val=(files.train_images[available - n_val :], files.train_labels[available - n_val :]),
            test=(files.test_images[:n_test], files.test_labels[:n_test]),
        )
        self.setup_seconds = time.perf_counter() - start
        log.info(
            "%s: %d train / %d validation / %d test images (%.1f s)",
            name,
            n_train,
            n_val,
            n_test,
            self.setup_seconds,
        )


class FashionMNISTDataModule(MNISTDataModule):
    """Dynamically binarised Fashion-MNIST, the same protocol as MNIST."""

    dataset = "FashionMNIST"
    # the garment of each label 0-9 (for plot legends)
    class_names = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]

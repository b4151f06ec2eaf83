"""An image folder of your own (`data=images data.root=DIR`), served like MNIST (docs/images.md).

Layout: `root/<class>/**/<image>` (class sub-folders, searched recursively: the labels are the
class indices in sorted folder-name order, `class_names` the names) or `root/<image>` (a flat
folder: no labels; `val`, `test` and `train_fixed()` are then (x, None)). Images are the files
with the extensions in `EXTENSIONS` (any case); hidden files and folders (a leading '.') and
other files are ignored. A folder holding both images and class sub-folders is refused.

Pixels: every image is read with PIL (EXIF orientation applied, the first frame of an animation,
alpha dropped, 16-bit grey scaled to 8 bits), converted to grey ("L") for C = 1 or RGB for
C = 3, optionally inverted (`invert`, e.g. dark ink on white paper to MNIST's white on black),
and brought to `x_shape` = (C, H, W) by `resize`:

- `scale` (the default): resized to W x H with PIL's box filter, so each pixel is the mean
  intensity of the area of the original it covers (Omniglot's downsampling); the aspect ratio is
  not kept;
- `crop`: the largest centred region of the target's aspect ratio, then resized the same way
  (PIL's `ImageOps.fit`);
- `none`: every image must be W x H already.

`binarize=true` (the default) serves them dynamically binarised, exactly as MNIST is
(`mimkit.data.binarized`); `binarize=false` serves the intensities in [0, 1] unchanged (the
same splits and shuffles): data for a decoder of your own returning a `DiagonalGaussian`, since
the shipped image models' decoders are Bernoulli and refuse non-binary data at start-up.

Splits: the images are read once (in `setup`), in sorted path order, into one uint8 tensor; a
random permutation from `data_seed` (every run of a sweep shares it) puts round(N ·
`test_fraction`) of them in the test set, round(N · `val_fraction`) in the validation set and
the rest in the training set; `n_train`, `n_val`, `n_test` (null: all) keep at most that many
of each split, for quick checks.

Bad input ends the run with one line naming the folder or file, before any model work: a missing
root, a folder without images, a class folder without images, an unreadable image, images of
mixed sizes (or of another size than `x_shape`) with `resize=none`, a split left empty.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
from PIL import Image, ImageOps
from pydantic import Field

from mimkit.data.batches import seeded
from mimkit.data.binarized import BinarizedImages, binarize
from mimkit.errors import ConfigError, one_line
from mimkit.fields import NonNegativeInt, PositiveInt, Shape

log = logging.getLogger(__name__)

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".pbm", ".tif", ".tiff", ".webp")
MODES = {1: "L", 3: "RGB"}  # PIL's mode for C channels
SPLIT_SEED_BASE = 2**42  # keeps the split's seeds apart from the binarisation seeds
Resize = Literal["scale", "crop", "none"]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]  # 0 and 1: ConfigErrors in load


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in EXTENSIONS and _visible(path)


def find_images(root: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """(image paths, their class indices, the class names) under `root`; indices and names are
    None for a flat folder. ConfigError for a missing root, a folder without images, a class
    folder without images, or images beside class folders."""
    if not root.exists():
        raise ConfigError(f"data.root {root} does not exist: set data.root to a folder of images")
    if not root.is_dir():
        raise ConfigError(f"data.root {root} is not a folder: set data.root to a folder of images")
    entries = sorted(p for p in root.iterdir() if _visible(p))
    flat = [p for p in entries if _is_image(p)]
    folders = [p for p in entries if p.is_dir()]
    extensions = ", ".join(EXTENSIONS)
    if flat and folders:
        raise ConfigError(
            f"{root} holds both images ({flat[0].name}, ...) and sub-folders ({folders[0].name}, ...): "
            f"put every image in a class sub-folder (labelled data) or none (a flat folder, unlabelled)"
        )
    if flat:
        return flat, None, None
    if not folders:
        raise ConfigError(f"{root} holds no images (files ending in {extensions}) and no class sub-folders")
    paths: list[Path] = []
    labels: list[int] = []
    for index, folder in enumerate(folders):
        found = sorted(
            p for p in folder.rglob("*") if _is_image(p) and all(map(_visible, p.relative_to(folder).parents))
        )
        if not found:
            raise ConfigError(
                f"class folder {folder} holds no images (files ending in {extensions}): "
                f"remove it or add its images"
            )
        paths += found
        labels += [index] * len(found)
    return paths, labels, [folder.name for folder in folders]


def read_image(path: Path, channels: int, invert: bool) -> Image.Image:
    """The image at `path` in PIL mode "L" (channels 1) or "RGB" (3), decoded in full."""
    try:
        with Image.open(path) as opened:
            image: Image.Image = ImageOps.exif_transpose(opened)
            if image.mode.startswith("I;16"):  # 16-bit grey: its top 8 bits
                image = Image.fromarray((np.asarray(image, dtype=np.uint16) >> 8).astype(np.uint8))
            image = image.convert(MODES[channels])
            image.load()
    except Exception as error:  # any failure to decode it: OSError, SyntaxError, DecompressionBombError
        raise ConfigError(
            f"{path} is not a readable image ({one_line(error, 200)}): replace or remove it"
        ) from None
    return ImageOps.invert(image) if invert else image


def fit(image: Image.Image, size: tuple[int, int], resize: Resize) -> Image.Image:
    """`image` brought to `size` (width, height): scaled, centre-cropped and scaled, or as it is."""
    if image.size == size or resize == "none":
        return image
    if resize == "crop":
        return ImageOps.fit(image, size, Image.Resampling.BOX)
    return image.resize(size, Image.Resampling.BOX)


def read_images(paths: list[Path], root: Path, x_shape: tuple[int, ...], resize: Resize, invert: bool):
    """uint8 [N, C, H, W]: the images at `paths` in `x_shape`. With `resize="none"` all must have
    one size, x_shape's (ConfigError naming the files otherwise)."""
    channels, height, width = x_shape
    size = (width, height)
    out = np.empty((len(paths), height, width, channels), np.uint8)
    first: tuple[Path, tuple[int, int]] | None = None
    for i, path in enumerate(paths):
        image = read_image(path, channels, invert)
        if resize == "none":
            if first is None:
                first = (path, image.size)
            elif image.size != first[1]:
                raise ConfigError(
                    f"{root} holds images of different sizes ({first[0]} is {_wxh(first[1])}, {path} is "
                    f"{_wxh(image.size)}) and data.resize=none: set data.resize=scale or crop"
                )
            if image.size != size:
                raise ConfigError(
                    f"the images in {root} are {_wxh(image.size)} (e.g. {path}), data.x_shape is "
                    f"{list(x_shape)} and data.resize=none: set data.x_shape=[{channels},{image.size[1]},"
                    f"{image.size[0]}] or data.resize=scale or crop"
                )
        out[i] = np.asarray(fit(image, size, resize)).reshape(height, width, channels)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _wxh(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]} (width x height)"


class ImageFolderDataModule(BinarizedImages):
    """An image folder as the module docstring says; batches (x [B, C, H, W], labels int64 [B])
    or, for a flat folder, (x,). `x_dim`, if given, must be the pixel count C·H·W (the config
    computes it, for flat models' sizes, as MNIST's `x_dim` is 784)."""

    def __init__(
        self,
        root: str | None = None,
        # a tuple default (immutable): the configs give a list, which `Shape` (fields.py) describes
        x_shape: Shape = (1, 28, 28),  # type: ignore[assignment]
        resize: Resize = "scale",
        invert: bool = False,
        binarize: bool = True,
        val_fraction: Fraction = 0.1,
        test_fraction: Fraction = 0.1,
        n_train: PositiveInt | None = None,
        n_val: PositiveInt | None = None,
        n_test: PositiveInt | None = None,
        batch_size: PositiveInt = 100,
        eval_batch_size: PositiveInt = 1000,
        data_seed: NonNegativeInt = 0,
        seed: NonNegativeInt = 1,
        x_dim: PositiveInt | None = None,
    ):
        super().__init__(batch_size, eval_batch_size, seed, data_seed)
        if root is None:
            raise ConfigError("data.root is not set: data=images needs data.root=DIR, a folder of images")
        self.x_shape = tuple(x_shape)
        if len(self.x_shape) != 3 or self.x_shape[0] not in MODES:
            raise ConfigError(
                f"data.x_shape must be [C, H, W] with C = 1 (grey) or 3 (RGB), got {list(self.x_shape)}"
            )
        if x_dim is not None and x_dim != math.prod(self.x_shape):
            raise ConfigError(
                f"data.x_dim = {x_dim} is not the pixel count C·H·W = {math.prod(self.x_shape)} of "
                f"data.x_shape {list(self.x_shape)}: leave it to conf/data/images.yaml"
            )
        if val_fraction + test_fraction >= 1:
            raise ConfigError(
                f"data.val_fraction + data.test_fraction = {val_fraction + test_fraction:g} leaves "
                f"no training images: keep their sum below 1"
            )
        self.root = Path(root).expanduser()
        self.resize, self.invert, self.binarize = resize, invert, binarize
        self.fractions = {"val": val_fraction, "test": test_fraction}
        self._caps = {"train": n_train, "val": n_val, "test": n_test}
        self.class_names: list[str] | None = None
        self.paths: dict[str, list[Path]] = {}

    @property
    def has_labels(self) -> bool:
        """Whether the images have labels (class sub-folders); a flat folder has none."""
        return self.ready().class_names is not None

    @property
    def binary_advice(self) -> str:
        """Added to the refusal of non-binary data by a Bernoulli decoder (`mimkit.training.module`)."""
        return (
            "; data.binarize=false keeps the pixel intensities in [0, 1], which no Bernoulli decoder "
            "can score: set data.binarize=true (the default) for the shipped image models"
        )

    def pixels(self, p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """x ~ Bernoulli(p) (binarize=true), else the intensities p themselves."""
        return binarize(p, generator) if self.binarize else p

    def prepare_data(self) -> None:
        """Only checks that the folder is there (nothing to copy or extract)."""
        if not self.root.is_dir():
            find_images(self.root)  # the one-line error of a missing root or a file

    def load(self) -> None:
        start = time.perf_counter()
        paths, labels, self.class_names = find_images(self.root)
        images = read_images(paths, self.root, self.x_shape, self.resize, self.invert)
        n = len(paths)
        order = torch.randperm(n, generator=seeded(SPLIT_SEED_BASE + self.data_seed))
        n_test = round(n * self.fractions["test"])
        n_val = round(n * self.fractions["val"])
        sizes = {"train": n - n_val - n_test, "val": n_val, "test": n_test}
        empty = [name for name, size in sizes.items() if size == 0]
        if empty:
            raise ConfigError(
                f"{self.root} holds {n} images, too few to split by data.val_fraction = "
                f"{self.fractions['val']:g} and data.test_fraction = {self.fractions['test']:g} "
                f"(train / val / test: {' / '.join(map(str, sizes.values()))}): the "
                f"{' and '.join(empty)} split would be empty; add images or change the fractions"
            )
        parts = dict(zip(sizes, order.split(list(sizes.values()))))
        parts = {name: index[: self._caps[name]] for name, index in parts.items()}
        targets = None if labels is None else torch.tensor(labels)
        self.paths = {name: [paths[i] for i in index.tolist()] for name, index in parts.items()}
        self._set_splits(
            **{
                name: (images[index], None if targets is None else targets[index])
                for name, index in parts.items()
            }
        )
        self.setup_seconds = time.perf_counter() - start
        log.info(
            "images: %d in %s (%s), %s to %s, %s: %d train / %d validation / %d test (%.1f s)",
            n,
            self.root,
            "no labels" if self.class_names is None else f"{len(self.class_names)} classes",
            "scaled" if self.resize == "scale" else "centre-cropped" if self.resize == "crop" else "kept",
            "x".join(map(str, self.x_shape)),
            "binarised" if self.binarize else "continuous",
            *(len(index) for index in parts.values()),
            self.setup_seconds,
        )

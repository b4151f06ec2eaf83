"""Dynamically binarised Omniglot at 28 x 28 (docs/maths.md §4).

Source: Lake's `images_background` (30 alphabets, 964 characters) and `images_evaluation`
(20 alphabets, 659 characters) sets, 20 drawings per character, as 105 x 105 one-bit PNGs in
`Alphabet/characterNN/ID_drawer.png`, under `data_dir/omniglot-py/` (torchvision's layout).
Offline (the default) a missing set is extracted from `<set>.zip` in `data_dir/omniglot-py/` or
`source_dir/omniglot-py/` (the source is only read); the zips' per-file CRCs are checked while
extracting. torchvision's `Omniglot` class is used only to download (`download=True`): it
insists on the original zips' md5, which the offline copy (same images, other timestamps)
cannot match, so the tree is always read here, listed with torchvision's `list_dir`/`list_files`.

Downsampling: each PNG is inverted (ink 255, paper 0, as in MNIST) and resized to 28 x 28 with
PIL's box filter, so each pixel is the fraction of ink in the 3.75 x 3.75 input area it covers
(a grey level 0-255); these intensities are then binarised dynamically like MNIST
(`mimkit.data.binarized`). The decoded grey images of both sets are cached in
`data_dir/omniglot-py/omniglot28_box.pt` (reading the 32,460 PNGs takes ~11 s, the cache ~0.1 s);
delete it after changing the tree.

Split: the reference used the IWAE `chardata.mat`, 24,345 training and 8,070 test images over
all 50 alphabets: 15 drawings of each of the 1,623 characters to train (1,623 x 15 = 24,345)
and the others to test (45 of those 8,115 are missing from that file). Lake's own
background / evaluation split, by alphabet (for one-shot learning of new alphabets), is not
what the reference did. Here both sets are pooled and, for each character,
`test_per_character` (5) of its drawings chosen at random go to the test set and the rest (15)
to training: 24,345 / 8,115. `n_val` (1,345) of the training images chosen at random are the
validation set, leaving 23,000 (`n_train`) to train. The split depends on `data_seed` only
(not the run seed), so every run shares it; `n_train`, `n_val`, `n_test` below the defaults
take random subsets for quick checks.

Labels (int64): `label="alphabet"` (the default, the K-NN label; chardata's `target`) gives the
alphabet index 0-49, the background alphabets in name order (0-29), then the evaluation ones;
`label="character"` the character index 0-1622 in the same order. `alphabets` and `characters`
hold their names.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
import zipfile
import zlib
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image, ImageOps

from mimkit.data.batches import seeded
from mimkit.data.binarized import SIDE, BinarizedImages, Pixels
from mimkit.data.storage import load_cache, save_cache
from mimkit.errors import ConfigError, one_line
from mimkit.fields import NonNegativeInt, PositiveInt

log = logging.getLogger(__name__)

SETS = ("images_background", "images_evaluation")
FOLDER = "omniglot-py"  # torchvision's Omniglot.folder
CACHE_NAME = "omniglot28_box.pt"
CACHE_FORMAT = 1
SPLIT_SEED_BASE = 2**41  # keeps the split's seeds apart from the binarisation seeds
Label = Literal["alphabet", "character"]


def extract_set(name: str, data_dir: Path, source_dir: Path | None, download: bool) -> Path:
    """The folder of set `name` under `data_dir/omniglot-py/`, extracted there if missing."""
    root = data_dir / FOLDER
    folder = root / name
    if folder.is_dir():
        return folder
    if download and not (root / f"{name}.zip").is_file():  # torchvision fetches, extracts
        try:
            from torchvision.datasets import Omniglot

            Omniglot(str(data_dir), background=name == SETS[0], download=True)
        except (OSError, RuntimeError) as error:  # URLError is an OSError
            raise ConfigError(
                f"data.download=true: torchvision could not fetch Omniglot "
                f"{name} into {root} ({one_line(error, 200)})"
            ) from None
        if folder.is_dir():
            return folder
    candidates = [root / f"{name}.zip"]
    if source_dir is not None:
        candidates.append(source_dir / FOLDER / f"{name}.zip")
    archive = next((path for path in candidates if path.is_file()), None)
    if archive is None:
        where = " or ".join(f"{path.parent}/" for path in candidates)
        raise ConfigError(
            f"Omniglot file {name}.zip is missing: put it in {where} "
            f"(data.data_dir, data.source_dir), extract it into {folder}, or set "
            f"data.download=true when online"
        )
    log.info("extracting %s into %s", archive, root)
    scratch = root / f".extract-{uuid.uuid4().hex[:8]}"
    scratch.mkdir(parents=True)
    try:
        try:
            from torchvision.datasets.utils import extract_archive

            extract_archive(str(archive), str(scratch))
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
            raise ConfigError(
                f"{archive} is not a readable zip file ({one_line(error, 200)}); replace it with a good copy"
            ) from None
        if not (scratch / name).is_dir():
            raise ConfigError(f"{archive} holds no {name}/ folder")
        try:
            (scratch / name).replace(folder)
        except OSError:  # a run beside this one (a sweep's job) extracted it first
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


def downsample(path: Path) -> np.ndarray:
    """uint8 [28, 28]: the image at `path`, inverted (ink 255), box-filtered to 28 x 28."""
    try:
        with Image.open(path) as image:
            if image.format != "PNG":  # another image format under a .png name
                raise ValueError(f"it is a {image.format} image")
            ink = ImageOps.invert(image.convert("L"))
    except (OSError, SyntaxError, ValueError) as error:  # UnidentifiedImageError is an OSError
        raise ConfigError(
            f"{path} is not a readable PNG image ({one_line(error, 200)}); delete "
            f"{path.parents[2]} to extract it again"
        ) from None
    return np.asarray(ink.resize((SIDE, SIDE), Image.Resampling.BOX))


def read_tree(folders: list[Path]) -> dict:
    """Grey images uint8 [N, 28, 28] of every PNG under `folders` (sorted: set, alphabet,
    character, file), their alphabet and character indices, and the names."""
    from torchvision.datasets.utils import list_dir, list_files

    images, alphabet, character, alphabets, characters = [], [], [], [], []
    for folder in folders:
        for alphabet_name in sorted(list_dir(folder)):
            alphabets.append(alphabet_name)
            for character_name in sorted(list_dir(folder / alphabet_name)):
                characters.append(f"{alphabet_name}/{character_name}")
                files = sorted(list_files(folder / alphabet_name / character_name, ".png"))
                for file in files:
                    images.append(downsample(folder / alphabet_name / character_name / file))
                alphabet += [len(alphabets) - 1] * len(files)
                character += [len(characters) - 1] * len(files)
    if not images:
        raise ConfigError(f"no PNG images in {' or '.join(map(str, folders))}")
    return {
        "format": CACHE_FORMAT,
        "images": torch.from_numpy(np.stack(images)),
        "alphabet": torch.tensor(alphabet),
        "character": torch.tensor(character),
        "alphabets": alphabets,
        "characters": characters,
    }


def _valid_cache(stored: dict) -> bool:
    images, alphabet, character = (stored.get(k) for k in ("images", "alphabet", "character"))
    names: tuple[Any, Any] = stored.get("alphabets"), stored.get("characters")
    if stored.get("format") != CACHE_FORMAT or not all(isinstance(n, list) and n for n in names):
        return False
    if not (
        isinstance(images, torch.Tensor)
        and isinstance(alphabet, torch.Tensor)
        and isinstance(character, torch.Tensor)
    ):
        return False
    return (
        images.dtype == torch.uint8
        and images.ndim == 3
        and images.shape[1:] == (SIDE, SIDE)
        and alphabet.dtype == character.dtype == torch.int64
        and alphabet.shape == character.shape == (len(images),)
        and len(images) > 0
        and int(alphabet.min()) >= 0
        and int(alphabet.max()) < len(names[0])
        and int(character.min()) >= 0
        and int(character.max()) < len(names[1])
    )


def split_by_character(
    character: torch.Tensor, test_per_character: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, test), each in random order: `test_per_character` random drawings of
    every character to test, the rest to train. `character` [N] holds each image's index."""
    counts = torch.bincount(character)
    fewest = int(counts[counts > 0].min())
    if fewest <= test_per_character:
        raise ConfigError(
            f"data.test_per_character = {test_per_character} leaves no training "
            f"drawing for a character with {fewest}"
        )
    by_character = torch.argsort(character, stable=True)
    train_parts: list[torch.Tensor] = []
    test_parts: list[torch.Tensor] = []
    start = 0
    for count in counts.tolist():
        members = by_character[start : start + count][torch.randperm(count, generator=generator)]
        test_parts.append(members[:test_per_character])
        train_parts.append(members[test_per_character:])
        start += count
    train, test = torch.cat(train_parts), torch.cat(test_parts)
    return (
        train[torch.randperm(len(train), generator=generator)],
        test[torch.randperm(len(test), generator=generator)],
    )


class OmniglotDataModule(BinarizedImages):
    """Dynamically binarised 28 x 28 Omniglot, split as the module docstring says."""

    def __init__(
        self,
        data_dir: str,
        source_dir: str | None = None,
        download: bool = False,
        n_train: PositiveInt = 23000,
        n_val: PositiveInt = 1345,
        n_test: PositiveInt = 8115,
        test_per_character: PositiveInt = 5,
        label: Label = "alphabet",
        batch_size: PositiveInt = 100,
        eval_batch_size: PositiveInt = 1000,
        data_seed: NonNegativeInt = 0,
        seed: NonNegativeInt = 1,
        x_dim: Pixels = 784,  # SIDE * SIDE
    ):
        super().__init__(batch_size, eval_batch_size, seed, data_seed)
        self.data_dir = Path(data_dir)
        self.source_dir = Path(source_dir) if source_dir is not None else None
        self.download = download
        self.cache_path = self.data_dir / FOLDER / CACHE_NAME
        self._sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.test_per_character, self.label = test_per_character, label

    def _extract_sets(self) -> list[Path]:
        return [extract_set(name, self.data_dir, self.source_dir, self.download) for name in SETS]

    def prepare_data(self) -> None:
        """Both sets extracted, unless the decoded images are cached."""
        if not self.cache_path.is_file():
            self._extract_sets()

    def load(self) -> None:
        start = time.perf_counter()
        stored = load_cache(self.cache_path, _valid_cache)
        self.from_cache = stored is not None
        if stored is None:  # (a cache that did not pass: its sets may still be zipped)
            stored = read_tree(self._extract_sets())
            save_cache(stored, self.cache_path)
        self.alphabets, self.characters = stored["alphabets"], stored["characters"]
        train, test = split_by_character(
            stored["character"], self.test_per_character, seeded(SPLIT_SEED_BASE + self.data_seed)
        )
        n_train, n_val, n_test = self._sizes.values()
        if n_train + n_val > len(train):
            raise ConfigError(
                f"data.n_train + data.n_val = {n_train + n_val} exceeds the "
                f"{len(train)} Omniglot training images"
            )
        if n_test > len(test):
            raise ConfigError(f"data.n_test = {n_test} exceeds the {len(test)} Omniglot test images")
        labels = stored[self.label]
        images = stored["images"]
        parts = {"train": train[:n_train], "val": train[len(train) - n_val :], "test": test[:n_test]}
        self._set_splits(**{name: (images[index], labels[index]) for name, index in parts.items()})
        self.setup_seconds = time.perf_counter() - start
        log.info(
            "Omniglot: %d train / %d validation / %d test images, %s labels (%s, %.1f s)",
            n_train,
            n_val,
            n_test,
            self.label,
            "from cache" if self.from_cache else "decoded",
            self.setup_seconds,
        )

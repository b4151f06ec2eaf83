"""Fixtures that compose the real Hydra config (conf/) into a temporary run dir, and that write
synthetic image data in the real file formats (IDX .gz, Omniglot PNG zips)."""

from __future__ import annotations

import gzip
import itertools
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
os.environ.setdefault("PROJECT_ROOT", str(ROOT))

# small, quick settings that keep the real pipeline (data, model, callbacks, logger)
FAST = [
    "data.n_train=1024",
    "data.n_val=512",
    "data.n_test=512",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",  # drops the progress_bar callback too (run.py)
]


def compose_config(name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose conf/<name>.yaml as Hydra would for a run whose run dir is `output_dir`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        del cfg["hydra"]
    return cfg


@pytest.fixture
def train_config(tmp_path):
    """make(*overrides) -> the composed train config with FAST settings, run dir in tmp_path."""

    def make(*overrides: str, fast: bool = True, output_dir: Path | None = None) -> DictConfig:
        return compose_config("train", (FAST if fast else []) + list(overrides), output_dir or tmp_path)

    return make


def run_cli(script: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run src/<script> as a user would, from the repository root."""
    return subprocess.run(
        [sys.executable, str(ROOT / "src" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --- synthetic image data in the real file formats (nothing is downloaded) -----------------


def write_idx_gz(path: Path, array: np.ndarray, magic: int | None = None) -> Path:
    """`array` (uint8) as a gzipped IDX file: 0x0000, type 0x08, ndim, big-endian uint32
    dims, then the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x0800 + array.ndim if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as file:
        file.write(header + array.tobytes())
    return path


def idx_key(gz_name: str) -> str:
    """'t10k-labels-idx1-ubyte.gz' -> 'test_labels' (the keys of the arrays below)."""
    prefix, kind = gz_name.split("-")[:2]
    return f"{'train' if prefix == 'train' else 'test'}_{kind}"


@pytest.fixture
def mnist_files(tmp_path, monkeypatch):
    """write(name, arrays, folder=tmp_path/'source') -> folder: `arrays` (train_images,
    train_labels, test_images, test_labels, uint8) written as the four gzipped IDX files of
    torchvision data set `name` in folder/<name>/raw/, and that class's md5 list set to
    theirs (torchvision checks the .gz md5s, the offline loader too)."""
    import torchvision.datasets
    from torchvision.datasets.utils import calculate_md5

    def write(name: str, arrays: dict, folder: Path | None = None) -> Path:
        folder = folder or tmp_path / "source"
        dataset = getattr(torchvision.datasets, name)
        resources = []
        for gz_name, _ in dataset.resources:
            path = write_idx_gz(folder / name / "raw" / gz_name, arrays[idx_key(gz_name)])
            resources.append((gz_name, calculate_md5(path)))
        monkeypatch.setattr(dataset, "resources", resources)
        return folder

    return write


def omniglot_png(path: Path, ink_cells: list[int], grey_cell: int | None = None) -> None:
    """A 105 x 105 one-bit PNG as in Lake's set (paper 1, ink 0): the cells of its 7 x 7 grid
    (15 x 15 pixels, exactly 4 x 4 pixels at 28 x 28) listed in `ink_cells` fully inked,
    `grey_cell` a checkerboard (about half ink)."""
    paper = np.ones((105, 105), bool)
    for cell in ink_cells:
        row, col = divmod(cell, 7)
        paper[row * 15 : (row + 1) * 15, col * 15 : (col + 1) * 15] = False
    if grey_cell is not None:
        row, col = divmod(grey_cell, 7)
        checker = np.add.outer(np.arange(15), np.arange(15)) % 2 == 0
        paper[row * 15 : (row + 1) * 15, col * 15 : (col + 1) * 15] = checker
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(paper).save(path)


def bits(value: int, first_cell: int, count: int) -> list[int]:
    """The cells first_cell.. that are inked to write `value` in `count` bits."""
    return [first_cell + b for b in range(count) if value >> b & 1]


@pytest.fixture
def omniglot_zips(tmp_path):
    """write(layout, drawings, folder=tmp_path/'source') -> folder with omniglot-py/<set>.zip
    for each set of `layout` ({set: {alphabet: characters}}), `drawings` PNGs per character.
    Each PNG encodes, in fully inked or empty cells, its global character index (cells 0-6, in
    the sorted order: sets as given, then alphabets, characters), its alphabet index (cells
    7-13) and its drawing number (cells 14-20); cell 48 is half-inked (random when
    binarised)."""

    def write(layout: dict, drawings: int, folder: Path | None = None) -> Path:
        folder = folder or tmp_path / "source"
        tree = tmp_path / "tree"
        alphabet_index = character_index = 0
        for name, alphabets in layout.items():
            for alphabet in sorted(alphabets):
                for c in range(alphabets[alphabet]):
                    character = tree / name / alphabet / f"character{c + 1:02d}"
                    for d in range(drawings):
                        omniglot_png(
                            character / f"{character_index + 1:04d}_{d + 1:02d}.png",
                            bits(character_index, 0, 7) + bits(alphabet_index, 7, 7) + bits(d, 14, 7),
                            grey_cell=48,
                        )
                    character_index += 1
                alphabet_index += 1
            (folder / "omniglot-py").mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(folder / "omniglot-py" / f"{name}.zip", "w") as archive:
                for png in sorted((tree / name).rglob("*.png")):
                    archive.write(png, png.relative_to(tree).as_posix())
        return folder

    return write


# --- synthetic MOSES files in the real format (gzipped CSVs, header SMILES) -----------------

TAILS = ["Cl", "Br", "c1cc[nH]c1", "[C@@H](C)O", "C%10CC%10", "N", "O=C(O)", "c1ccccc1F"]


def molecules(count: int, start: int = 0) -> list[str]:
    """`count` distinct SMILES of varied length (1 to 16 C, then two tails)."""
    shapes = itertools.product(range(1, 17), TAILS, TAILS)
    return [f"{'C' * n}{a}{b}" for n, a, b in itertools.islice(shapes, start, start + count)]


def write_moses(path: Path, lines: list[str], raw: bytes | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as file:
        file.write(raw if raw is not None else ("SMILES\n" + "\n".join(lines) + "\n").encode())
    return path


@pytest.fixture
def moses(tmp_path):
    """A MOSES folder: 400 training molecules (plus an empty line and one of 60 tokens), 100
    test and 80 scaffold-test molecules."""
    source = tmp_path / "moses"
    train = molecules(400)
    write_moses(source / "train.csv.gz", train[:200] + ["", "C" * 60] + train[200:])
    write_moses(source / "test.csv.gz", molecules(100, start=500))
    write_moses(source / "test_scaffolds.csv.gz", molecules(80, start=700) + ["CC[Si](C)C"])
    return source

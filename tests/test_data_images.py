"""`data=images`: image folders written with PIL into tmp_path (PNG, grey and RGB, class
sub-folders and flat, mixed sizes), read by `mimkit.data.images.ImageFolderDataModule`.

Each test image carries its own number in its first row (16 bits, black 0 / white 255, which any
binarisation keeps), so images can be traced through the loading, the splits and the shuffles.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mimkit.app.schema import check_node
from mimkit.data.images import ImageFolderDataModule
from mimkit.errors import ConfigError

TARGET = "mimkit.data.images.ImageFolderDataModule"


def numbered(number: int, height: int = 28, width: int = 28, level: int = 128) -> np.ndarray:
    """uint8 [height, width]: `number` in the first row's 16 pixels (255 for a 1 bit), the other
    rows at `level`."""
    image = np.full((height, width), level, np.uint8)
    image[0] = 0
    image[0, :16] = 255 * ((number >> np.arange(16)) & 1)
    return image


def number_of(x: torch.Tensor) -> np.ndarray:
    """The numbers carried by images [N, C, H, W] (binary or intensities), from channel 0."""
    return ((x[:, 0, 0, :16].numpy() > 0.5) * 2 ** np.arange(16)).sum(1)


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def class_folder(root: Path, counts: dict[str, int], rgb: bool = False) -> Path:
    """root/<class>/<i>.png, class by class in the order given; image number = 100 · (the class's
    sorted position) + i. RGB images carry the number in every channel."""
    for position, name in enumerate(sorted(counts)):
        for i in range(counts[name]):
            image = numbered(100 * position + i)
            save(root / name / f"{i:03d}.png", np.stack([image] * 3, axis=-1) if rgb else image)
    return root


def flat_folder(root: Path, count: int) -> Path:
    for i in range(count):
        save(root / f"img{i:03d}.png", numbered(i))
    return root


def module(root: Path, **kwargs) -> ImageFolderDataModule:
    options = dict(root=str(root), batch_size=8, eval_batch_size=16, seed=3)
    return ImageFolderDataModule(**(options | kwargs)).ready()


def test_class_folders_give_labels_aligned_with_their_images(tmp_path):
    dm = module(class_folder(tmp_path / "imgs", {"zebra": 12, "ant": 8}))  # "ant" sorts first
    assert dm.class_names == ["ant", "zebra"] and dm.has_labels and dm.x_shape == (1, 28, 28)
    seen = []
    for x, labels in (dm.train_fixed(), dm.val, dm.test):
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 28, 28)
        assert set(x.unique().tolist()) == {0.0, 1.0}  # binarised (the grey rows are random)
        assert labels.dtype == torch.int64
        numbers = number_of(x)
        assert np.array_equal(numbers // 100, labels.numpy())
        seen += numbers.tolist()
    assert sorted(seen) == [*range(8), *range(100, 112)]  # every image once: disjoint splits


def test_splits_by_fraction_and_seed(tmp_path):
    root = flat_folder(tmp_path / "imgs", 40)
    dm = module(root, val_fraction=0.2, test_fraction=0.25)
    assert (dm.n_train, len(dm.val[0]), len(dm.test[0])) == (22, 8, 10)
    split = [set(number_of(x).tolist()) for x in (dm.train_fixed()[0], dm.val[0], dm.test[0])]
    assert set().union(*split) == set(range(40)) and sum(map(len, split)) == 40
    again = module(root, val_fraction=0.2, test_fraction=0.25, seed=9)  # the run seed: same split
    assert set(number_of(again.test[0]).tolist()) == split[2]
    other = module(root, val_fraction=0.2, test_fraction=0.25, data_seed=1)
    assert set(number_of(other.test[0]).tolist()) != split[2]
    capped = module(root, n_train=5, n_val=3, n_test=500)  # at most n_* of each split
    assert (capped.n_train, len(capped.val[0]), len(capped.test[0])) == (5, 3, 4)
    assert [p.name for p in capped.paths["val"]] == [f"img{n:03d}.png" for n in number_of(capped.val[0])]


def by_name(dm: ImageFolderDataModule) -> dict[str, torch.Tensor]:
    """Every image of `dm` (training ones as `train_fixed()` serves them) by its file name."""
    names = [path.name for split in ("train", "val", "test") for path in dm.paths[split]]
    return dict(zip(names, torch.cat([dm.train_fixed()[0], dm.val[0], dm.test[0]])))


def test_a_flat_folder_has_no_labels(tmp_path):
    dm = module(flat_folder(tmp_path / "imgs", 20))
    assert dm.class_names is None and not dm.has_labels
    for x, labels in (dm.train_fixed(), dm.val, dm.test, dm.train_epoch(0)):
        assert labels is None and x.shape[1:] == (1, 28, 28)
    served = list(dm.train_dataloader())
    assert [len(batch) for batch in served] == [2, 2]  # (uint8 images, draw keys): no labels
    (x,) = dm.transfer_batch_to_device(served[0], torch.device("cpu"), 0)
    assert x.dtype == torch.float32 and set(x.unique().tolist()) == {0.0, 1.0}
    (val,) = next(iter(dm.val_dataloader()))
    assert torch.equal(val, dm.val[0])
    transferred = [dm.transfer_batch_to_device(batch, torch.device("cpu"), 0)[0] for batch in served]
    assert torch.equal(torch.cat(transferred), dm.train_epoch(0)[0])


def test_binarised_dynamically_as_mnist_is(tmp_path):
    dm = module(flat_folder(tmp_path / "imgs", 20), val_fraction=0.1, test_fraction=0.1)
    epochs = [dm.train_epoch(e)[0] for e in range(30)]
    grey = torch.cat([x[:, :, 1:] for x in epochs])  # the rows at level 128: p = 128/255
    assert grey.mean().item() == pytest.approx(128 / 255, abs=0.01)
    assert not torch.equal(epochs[0][:, :, 1:], epochs[1][:, :, 1:])  # fresh draws each epoch
    assert torch.equal(module(tmp_path / "imgs").train_epoch(4)[0], dm.train_epoch(4)[0])  # reproducible


def test_continuous_pixels_are_the_intensities(tmp_path):
    dm = module(flat_folder(tmp_path / "imgs", 10), binarize=False)
    for x in (dm.train_fixed()[0], dm.val[0], dm.train_epoch(2)[0]):
        assert torch.allclose(x[:, :, 1:], torch.full_like(x[:, :, 1:], 128 / 255))
    assert "data.binarize=true" in dm.binary_advice


def test_rgb_and_grey_conversions(tmp_path):
    root = class_folder(tmp_path / "rgb", {"a": 6, "b": 4}, rgb=True)
    dm = module(root, x_shape=[3, 28, 28], binarize=False)
    x = dm.train_fixed()[0]
    assert x.shape[1:] == (3, 28, 28) and torch.equal(x[:, 0], x[:, 2])
    assert np.array_equal(number_of(x) // 100, dm.train_fixed()[1].numpy())
    red = np.zeros((28, 28, 3), np.uint8)
    red[..., 0] = 255
    save(tmp_path / "red" / "red.png", red)
    save(tmp_path / "red" / "grey.png", numbered(7))
    for name in ("red.png", "grey.png"):
        save(tmp_path / "red" / f"copy_{name}", np.asarray(Image.open(tmp_path / "red" / name)))
    as_grey = module(tmp_path / "red", binarize=False, val_fraction=0.25, test_fraction=0.25)
    as_rgb = module(
        tmp_path / "red", x_shape=[3, 28, 28], binarize=False, val_fraction=0.25, test_fraction=0.25
    )
    assert by_name(as_grey)["red.png"].mul(255).round().unique().tolist() == [76.0]  # L = 0.299 R + ...
    grey, red = by_name(as_rgb)["grey.png"], by_name(as_rgb)["red.png"]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[0], grey[2])  # the level in every channel
    assert red.mean((1, 2)).tolist() == [1.0, 0.0, 0.0]


def test_scale_crop_and_none(tmp_path):
    # 56 x 56 in 2 x 2 blocks of one level each: the box filter's 28 x 28 is the blocks' levels
    blocks = np.random.default_rng(0).integers(0, 256, (28, 28)).astype(np.uint8)
    save(tmp_path / "big" / "a.png", np.kron(blocks, np.ones((2, 2), np.uint8)))
    save(tmp_path / "big" / "b.png", np.kron(blocks, np.ones((2, 2), np.uint8)))
    save(tmp_path / "big" / "c.png", numbered(1, 40, 30))  # another size: mixed sizes are fine
    dm = module(tmp_path / "big", binarize=False, val_fraction=1 / 3, test_fraction=1 / 3)
    images = by_name(dm)
    assert torch.equal(images["a.png"][0].mul(255).round().byte(), torch.from_numpy(blocks))
    # crop: a 28 (wide) x 40 (high) image whose centred 28 x 28 is white, its top and bottom 6 rows black
    tall = np.zeros((40, 28), np.uint8)
    tall[6:34] = 255
    for i in range(3):
        save(tmp_path / "tall" / f"{i}.png", tall)
    cropped = module(
        tmp_path / "tall", resize="crop", binarize=False, val_fraction=1 / 3, test_fraction=1 / 3
    )
    assert cropped.train_fixed()[0].min().item() == 1.0
    scaled = module(tmp_path / "tall", binarize=False, val_fraction=1 / 3, test_fraction=1 / 3)
    assert scaled.train_fixed()[0].min().item() == 0.0  # the bands, squeezed
    # non-square targets, and none for images already at the size
    thirds = dict(val_fraction=1 / 3, test_fraction=1 / 3)
    assert module(tmp_path / "tall", x_shape=[1, 20, 14], **thirds).val[0].shape == (1, 1, 20, 14)
    kept = module(tmp_path / "tall", x_shape=[1, 40, 28], resize="none", binarize=False, **thirds)
    assert torch.equal(kept.val[0][0, 0].mul(255).byte(), torch.from_numpy(tall))


def test_invert_and_sixteen_bit_grey(tmp_path):
    save(tmp_path / "imgs" / "a.png", numbered(3, level=0))
    Image.fromarray(np.full((28, 28), 40000, np.uint16)).save(tmp_path / "imgs" / "b.png")  # mode I;16
    save(tmp_path / "imgs" / "c.png", numbered(4, level=0))
    dm = module(tmp_path / "imgs", invert=True, binarize=False, val_fraction=1 / 3, test_fraction=1 / 3)
    images = by_name(dm)
    assert images["a.png"][0, 1:].min().item() == 1.0  # level 0 inverted
    assert images["b.png"].mul(255).round().unique().tolist() == [255 - (40000 >> 8)]


def test_hidden_and_other_files_are_ignored_and_nested_class_folders_searched(tmp_path):
    root = class_folder(tmp_path / "imgs", {"a": 3, "b": 3})
    (root / "README.txt").write_text("not an image")
    save(root / ".hidden" / "x.png", numbered(999))
    save(root / "a" / ".thumbs" / "x.png", numbered(998))
    save(root / "b" / "more" / "deep.PNG", numbered(103))
    dm = module(root, val_fraction=0.25, test_fraction=0.25)
    assert dm.class_names == ["a", "b"]
    numbers = np.concatenate([number_of(x) for x in (dm.train_fixed()[0], dm.val[0], dm.test[0])])
    assert sorted(numbers.tolist()) == [0, 1, 2, 100, 101, 102, 103]


# --- bad input: one line naming the folder or file and the problem, before any model work ------


def bad_png(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def truncated_png(path: Path) -> Path:
    save(path, np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8))
    return bad_png(path, path.read_bytes()[:60])


def with_flat(root: Path, count: int, extra) -> Path:
    flat_folder(root, count)
    extra(root)
    return root


BAD_FOLDERS = {  # name: (make(tmp_path) -> root, the error's pattern)
    "missing": (
        lambda tmp: tmp / "missing",
        r"^data\.root \S+/missing does not exist: set data\.root to a folder",
    ),
    "a file": (lambda tmp: bad_png(tmp / "file.png", b"x"), r"^data\.root \S+/file\.png is not a folder"),
    "no images": (
        lambda tmp: bad_png(tmp / "imgs" / "notes.txt", b"?").parent,
        r"^\S+/imgs holds no images \(files ending in \.png, \.jpg, .*\) and no class sub-folders$",
    ),
    "empty class": (
        lambda tmp: (class_folder(tmp / "imgs", {"a": 3}) / "b").mkdir() or tmp / "imgs",
        r"^class folder \S+/imgs/b holds no images",
    ),
    "images and classes": (
        lambda tmp: flat_folder(class_folder(tmp / "imgs", {"a": 3}), 1),
        r"^\S+/imgs holds both images \(img000\.png, \.\.\.\) and sub-folders \(a, \.\.\.\)",
    ),
    "unreadable": (
        lambda tmp: with_flat(tmp / "imgs", 4, lambda root: bad_png(root / "x.png", b"not a png")),
        r"^\S+/imgs/x\.png is not a readable image \(UnidentifiedImageError: .*\): replace or remove it$",
    ),
    "truncated": (
        lambda tmp: with_flat(tmp / "imgs", 4, lambda root: truncated_png(root / "x.png")),
        r"^\S+/imgs/x\.png is not a readable image \(OSError",
    ),
    "mixed sizes": (
        lambda tmp: with_flat(tmp / "imgs", 2, lambda root: save(root / "x.png", numbered(1, 30, 28))),
        r"^\S+/imgs holds images of different sizes \(\S+/img000\.png is 28x28 \(width x height\), "
        r"\S+/x\.png is 28x30 \(width x height\)\) and data\.resize=none: set data\.resize=scale or crop$",
    ),
}


@pytest.mark.parametrize("name", BAD_FOLDERS)
def test_bad_folders_end_in_one_line(tmp_path, name):
    make, match = BAD_FOLDERS[name]
    dm = ImageFolderDataModule(root=str(make(tmp_path)), resize="none")
    with pytest.raises(ConfigError, match=match) as error:
        dm.ready()
    assert "\n" not in str(error.value)


def test_other_bad_settings_end_in_one_line(tmp_path):
    root = flat_folder(tmp_path / "imgs", 5)
    other_size = (
        r"are 28x28 \(width x height\) \(e\.g\. \S+/img000\.png\), data\.x_shape is \[1, 32, 32\] and "
        r"data\.resize=none: set data\.x_shape=\[1,28,28\] or data\.resize=scale or crop$"
    )
    with pytest.raises(ConfigError, match=other_size):
        module(root, x_shape=[1, 32, 32], resize="none")
    too_few = r"holds 5 images, too few to split .* \(train / val / test: 5 / 0 / 0\): the val and test split"
    with pytest.raises(ConfigError, match=too_few):
        module(root)
    with pytest.raises(
        ConfigError, match=r"data\.val_fraction \+ data\.test_fraction = 1 leaves no training"
    ):
        ImageFolderDataModule(root=str(root), val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(
        ConfigError, match=r"data\.x_shape must be \[C, H, W\] with C = 1 \(grey\) or 3 \(RGB\), got "
    ):
        ImageFolderDataModule(root=str(root), x_shape=[4, 28, 28])
    with pytest.raises(ConfigError, match=r"^data\.root is not set: data=images needs data\.root=DIR"):
        ImageFolderDataModule()
    with pytest.raises(ConfigError, match=r"data\.x_dim = 784 is not the pixel count C·H·W = 3072"):
        ImageFolderDataModule(root=str(root), x_shape=[3, 32, 32], x_dim=784)
    with pytest.raises(ConfigError, match=r"data\.val_fraction must be less than or equal to 1, got 1\.5"):
        check_node("data", {"_target_": TARGET, "root": "x", "val_fraction": 1.5})
    with pytest.raises(ConfigError, match=r"data\.resize must be 'scale', 'crop' or 'none', got 'fit'"):
        check_node("data", {"_target_": TARGET, "root": "x", "resize": "fit"})


# --- through the real config -------------------------------------------------------------------

RUN = [  # one batch of everything, few samples, few pictures
    "objective=vae",
    "threads=1",  # tiny work: threads would only wait for each other
    "debug=fast_dev_run",
    "data.batch_size=4",
    "data.eval_batch_size=8",
    "data.val_fraction=0.25",
    "data.test_fraction=0.25",
    "callbacks.representation_metrics.nll_samples=4",
    "callbacks.representation_metrics.mi_pairs=8",
    "callbacks.representation_metrics.knn_train=16",
    "callbacks.representation_metrics.consistency_pairs=2",
    "callbacks.representation_metrics.consistency_samples=2",
    "callbacks.image_grids.n_samples=2",
    "callbacks.image_grids.n_reconstructions=2",
]


def test_the_image_models_take_the_data_shape(train_config, tmp_path):
    assert list(train_config("model=convhvae", fast=False).model.x_shape) == [1, 28, 28]  # MNIST's
    for model in ("convhvae", "pixelhvae"):
        cfg = train_config(
            f"model={model}", "data=images", "data.root=x", "data.x_shape=[3,64,48]", fast=False
        )
        assert list(cfg.model.x_shape) == [3, 64, 48] and cfg.data.x_dim == 3 * 64 * 48
        assert list(cfg.model.encoder.x_shape) == list(cfg.model.decoder.x_shape) == [3, 64, 48]


@pytest.fixture
def restore_threads():
    """torch's thread count as it was before the test (a run's `threads=1` sets it)."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_a_training_run_on_an_image_folder(train_config, tmp_path, restore_threads):
    from mimkit.app.run import train

    root = class_folder(tmp_path / "imgs", {"a": 12, "b": 12}, rgb=True)  # 6 validation, 6 test images
    cfg = train_config(
        "data=images",
        f"data.root={root}",
        "data.x_shape=[3,16,16]",
        "model=convhvae",
        *RUN,
        fast=False,
        output_dir=tmp_path / "run",
    )
    metrics = train(cfg)
    for name in ("val/loss", "test/loss", "test/nll", "test/knn5", "test/mi"):
        assert math.isfinite(metrics[name]), name
    for picture in ("samples.png", "reconstructions.png", "tsne.png"):
        assert (tmp_path / "run" / picture).stat().st_size > 0
    assert Image.open(tmp_path / "run" / "samples.png").mode == "RGB"
    # the model's x_shape set against the data's: one line at start-up
    cfg = train_config(
        "data=images",
        f"data.root={root}",
        "data.x_shape=[3,16,16]",
        "model=convhvae",
        "model.x_shape=[1,16,16]",
        *RUN,
        fast=False,
    )
    with pytest.raises(
        ConfigError, match=r"the model takes images of shape \[1, 16, 16\] but the data give \[3, 16, 16\]"
    ):
        train(cfg)
    cfg = train_config(
        "data=images", f"data.root={root}", "data.binarize=false", "model=convhvae", *RUN, fast=False
    )
    with pytest.raises(ConfigError, match=r"holds values other than 0 and 1 .* set data\.binarize=true"):
        train(cfg)


def test_a_training_run_on_a_flat_folder_without_labels(train_config, tmp_path, restore_threads):
    from mimkit.app.run import train

    root = flat_folder(tmp_path / "imgs", 24)
    cfg = train_config(
        "data=images",
        f"data.root={root}",
        "data.x_shape=[1,12,12]",
        "model=pixelhvae",
        *RUN,
        fast=False,
        output_dir=tmp_path / "run",
    )
    metrics = train(cfg)
    assert math.isfinite(metrics["test/nll"]) and not any(name.startswith("test/knn") for name in metrics)
    assert (tmp_path / "run" / "samples.png").stat().st_size > 0

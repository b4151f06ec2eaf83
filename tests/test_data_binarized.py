"""Dynamic binarisation at the batch transfer (`mimkit.data.binarized`): the loader serves uint8
grey images with draw keys, `transfer_batch_to_device` binarises them where the model is. The
statistics of the old scheme (mean = grey level / 255, fresh draws every epoch, reproducible for
a seed), each process binarising only its own shard, and the loader's batches equal to
`train_epoch`."""

from __future__ import annotations

from types import SimpleNamespace

import lightning as L
import pytest
import torch

from mimkit.data import binarized
from mimkit.data.binarized import BinarizedImages

LEVELS = torch.tensor([0, 51, 128, 204, 255], dtype=torch.uint8)
N = 90


class GreyImages(BinarizedImages):
    """N equal images whose pixels cycle through LEVELS (each level on 1/5 of them); label = index."""

    def __init__(self, seed: int = 1, batch_size: int = 32):
        super().__init__(batch_size, 50, seed, data_seed=0)

    def load(self) -> None:
        grey = LEVELS[torch.arange(784) % 5].view(1, 28, 28).repeat(N, 1, 1)
        labels = torch.arange(N)
        self._set_splits(train=(grey, labels), val=(grey[:10], labels[:10]), test=(grey[:10], labels[:10]))


def fake_trainer(rank: int = 0, world: int = 1, epoch: int = 0, device: str = "cpu"):
    return SimpleNamespace(
        global_rank=rank,
        world_size=world,
        current_epoch=epoch,
        overfit_batches=0,
        strategy=SimpleNamespace(root_device=torch.device(device)),
    )


def in_file_order(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return x[labels.argsort()]


def transferred(dm: BinarizedImages, device: str = "cpu") -> list[tuple]:
    return [dm.transfer_batch_to_device(batch, torch.device(device), 0) for batch in dm.train_dataloader()]


def test_loader_serves_grey_rows_and_the_transfer_binarises_them_as_train_epoch_does():
    dm = GreyImages()
    dm.trainer = fake_trainer(epoch=4)
    served = list(dm.train_dataloader())
    assert [len(b[0]) for b in served] == [32, 32, 26]
    grey, labels, draws = served[1]
    assert grey.dtype == torch.uint8 and grey.shape == (32, 1, 28, 28)  # a quarter of float32's bytes
    assert draws[0].tolist() == [4, 32]  # (epoch, position of the batch's first row)
    batches = transferred(dm)
    x = torch.cat([b[0] for b in batches])
    assert x.dtype == torch.float32 and set(x.unique().tolist()) == {0.0, 1.0}
    expected_x, expected_labels = dm.train_epoch(4)
    assert torch.equal(x, expected_x) and torch.equal(torch.cat([b[1] for b in batches]), expected_labels)
    # evaluation batches pass through untouched (binarised once, from data_seed)
    val = next(iter(dm.val_dataloader()))
    assert dm.transfer_batch_to_device(val, torch.device("cpu"), 0)[0] is val[0]


def test_mean_is_the_grey_level_and_epochs_draw_afresh():
    dm = GreyImages()
    epochs = torch.stack([in_file_order(*dm.train_epoch(e)) for e in range(40)])  # [40, N, 1, 28, 28]
    grey = in_file_order(dm.train_grey, torch.arange(N)).expand_as(epochs)
    for level in LEVELS.tolist():
        draws = epochs[grey == level]
        p = level / 255
        # 40 epochs x 90 images x 157 pixels per level: standard error at most 0.0013
        assert draws.mean().item() == pytest.approx(p, abs=4 * (p * (1 - p) / draws.numel()) ** 0.5 + 1e-12)
    # independent across epochs: P(x_e = 1, x_e+1 = 1) = p² for the p = 128/255 pixels
    half = grey[0] == 128
    joint = (epochs[:-1][:, half] * epochs[1:][:, half]).mean().item()
    p = 128 / 255
    assert joint == pytest.approx(p * p, abs=4 * (p * p * (1 - p * p) / half.sum().item() / 39) ** 0.5)
    # the batches of an epoch draw differently (the images are all equal, their binarisations not)
    x, _ = dm.train_epoch(0)
    assert not torch.equal(x[0], x[32]) and not torch.equal(x[32], x[64])


def test_reproducible_for_a_seed_and_different_for_another():
    first = GreyImages(seed=3).train_epoch(2)
    assert all(torch.equal(a, b) for a, b in zip(first, GreyImages(seed=3).train_epoch(2)))
    assert not torch.equal(first[0], GreyImages(seed=4).train_epoch(2)[0])
    assert not torch.equal(first[0], GreyImages(seed=3).train_epoch(3)[0])


def test_each_process_binarises_only_its_shard(monkeypatch):
    binarised_rows = []
    real = binarized.binarize

    def counting(p, generator):
        binarised_rows.append(len(p))
        return real(p, generator)

    monkeypatch.setattr(binarized, "binarize", counting)
    seen = []
    for rank in (0, 1):
        dm = GreyImages().ready()  # set up first: val and test are binarised there
        dm.trainer = fake_trainer(rank, world=2, epoch=1)
        binarised_rows.clear()
        batches = transferred(dm)
        assert sum(binarised_rows) == N // 2  # this process's half, not all N
        seen += torch.cat([b[1] for b in batches]).tolist()
    assert sorted(seen) == list(range(N))  # together: every image once


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_binarised_on_the_gpu_from_pinned_rows():
    dm = GreyImages()
    dm.trainer = fake_trainer(epoch=2, device="cuda")
    assert next(iter(dm.train_dataloader()))[0].is_pinned()
    batches = transferred(dm, "cuda")
    x, labels = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    assert x.is_cuda and set(x.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(x, torch.cat([b[0] for b in transferred(dm, "cuda")]))  # reproducible
    grey = dm.train_grey[labels.cpu()].cuda()
    assert x[grey == 0].sum() == 0 and x[grey == 255].all()
    assert x[grey == 128].mean().item() == pytest.approx(128 / 255, abs=0.02)


class Recorder(L.LightningModule):
    """Keeps the training batches as a training step sees them."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.batches = []

    def training_step(self, batch, batch_idx):
        self.batches.append(batch)
        return self.weight.sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_calls_the_transfer_so_training_steps_see_binary_images():
    dm, module = GreyImages(), Recorder()
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(module, datamodule=dm)
    assert len(module.batches) == 6 and all(len(batch) == 2 for batch in module.batches)
    x = torch.cat([batch[0] for batch in module.batches[3:]])  # the second epoch
    assert x.dtype == torch.float32 and torch.equal(x, dm.train_epoch(1)[0])

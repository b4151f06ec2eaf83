import math

import pytest
import torch

from mimkit.app.schema import check_node
from mimkit.data.gmm import GMMDataModule, gmm_means
from mimkit.errors import ConfigError


def test_2d_means_origin_and_unit_circle():
    means = gmm_means(2)
    expected = torch.tensor(
        [
            [0.0, 0.0],
            [1.0, 0.0],
            [math.cos(2 * math.pi / 5), math.sin(2 * math.pi / 5)],
            [math.cos(4 * math.pi / 5), math.sin(4 * math.pi / 5)],
            [math.cos(6 * math.pi / 5), math.sin(6 * math.pi / 5)],
        ]
    )
    assert torch.allclose(means, expected, atol=1e-6)


def test_20d_extra_coordinates_follow_the_reference_grid():
    means = gmm_means(20)
    assert torch.allclose(means[:, :2], gmm_means(2))
    step = 100 / 99  # linspace(-50, 50, 100)
    assert means[0, 2].item() == pytest.approx(-50 + 2 * step, abs=1e-4)
    assert means[4, 19].item() == pytest.approx(50.0, abs=1e-4)
    gaps = means[1:, 2:] - means[:-1, 2:]
    assert torch.allclose(gaps, torch.full_like(gaps, 20 * step), atol=1e-4)


def test_samples_have_the_mixture_statistics():
    data = GMMDataModule(n_train=50000, n_val=10, n_test=10)
    x, labels = data.train_epoch(0)
    assert x.shape == (50000, 2) and labels.shape == (50000,)
    for k in range(5):
        members = x[labels == k]
        assert abs(len(members) / 50000 - 0.2) < 0.01
        assert torch.allclose(members.mean(0), data.means[k], atol=0.01)
        assert torch.allclose(members.std(0), torch.full((2,), 0.25), atol=0.01)


def test_fresh_training_data_each_epoch_fixed_evaluation_sets():
    a, b = GMMDataModule(seed=1, n_train=100), GMMDataModule(seed=1, n_train=100)
    assert torch.equal(a.train_epoch(3)[0], b.train_epoch(3)[0])  # reproducible
    assert not torch.equal(a.train_epoch(3)[0], a.train_epoch(4)[0])  # fresh per epoch
    assert not torch.equal(a.train_epoch(3)[0], GMMDataModule(seed=2, n_train=100).train_epoch(3)[0])
    c = GMMDataModule(seed=2)  # the run seed does not change the evaluation sets
    assert torch.equal(a.test[0], c.test[0]) and torch.equal(a.val[0], c.val[0])
    assert not torch.equal(a.val[0][:100], a.test[0][:100])


def test_batches_cover_the_epoch():
    data = GMMDataModule(n_train=300, batch_size=128)
    batches = list(data.train_dataloader())
    assert [len(b[0]) for b in batches] == [128, 128, 44]


def test_standardize_gives_zero_mean_unit_variance():
    data = GMMDataModule(x_dim=20, n_train=50000, standardize=True)
    x = data.train_epoch(0)[0]
    assert torch.allclose(x.mean(0), torch.zeros(20), atol=0.02)
    assert torch.allclose(x.std(0), torch.ones(20), atol=0.02)
    raw = GMMDataModule(x_dim=20, n_train=50000)
    assert torch.allclose((raw.test[0] - data.shift) / data.scale, data.test[0], atol=1e-5)


def test_binary_data_are_the_signs_of_the_same_draws():
    real, binary = GMMDataModule(n_train=50000), GMMDataModule(n_train=50000, binary=True)
    for split in ("val", "test", "train_fixed"):
        x, labels = getattr(binary, split)() if split == "train_fixed" else getattr(binary, split)
        x_real, labels_real = getattr(real, split)() if split == "train_fixed" else getattr(real, split)
        assert torch.equal(x, (x_real > 0).float()) and torch.equal(labels, labels_real)
    x = binary.train_epoch(0)[0]
    assert torch.equal(x, (real.train_epoch(0)[0] > 0).float())
    # P(x_d = 1) = mean over the components of Φ(m_d / 0.25), by hand from the means
    phi = [[0.5 * (1 + math.erf(m / (0.25 * math.sqrt(2)))) for m in mean] for mean in gmm_means(2).tolist()]
    expected = torch.tensor(phi).mean(0)
    assert expected[0].item() == pytest.approx(0.4786, abs=1e-4)
    assert torch.allclose(x.mean(0), expected, atol=0.01)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"x_dim": 1}, "data.x_dim must be greater than or equal to 2, got 1"),
        ({"n_train": 0}, "data.n_train must be greater than 0, got 0"),
        ({"batch_size": -1}, "data.batch_size must be greater than 0, got -1"),
        ({"std": 0.0}, "data.std must be greater than 0, got 0.0"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ConfigError, match=f"^{message}$"):
        check_node("data", {"_target_": "mimkit.data.gmm.GMMDataModule", **kwargs})


def test_training_data_follow_the_trainers_epoch():
    from types import SimpleNamespace

    data = GMMDataModule(n_train=64, batch_size=64)
    data.trainer = SimpleNamespace(current_epoch=5, overfit_batches=0)
    assert torch.equal(next(iter(data.train_dataloader()))[0], data.train_epoch(5)[0])
    data.trainer = SimpleNamespace(current_epoch=5, overfit_batches=3)  # debug=overfit: fixed data
    assert torch.equal(next(iter(data.train_dataloader()))[0], data.train_epoch(0)[0])

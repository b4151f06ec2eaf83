"""EpochMeans (mimkit.training.epoch_means): item-weighted epoch means, reduced over processes."""

from __future__ import annotations

import pytest
import torch

from mimkit.training.epoch_means import EpochMeans


def test_means_weight_each_batch_by_its_items():
    means = EpochMeans(["loss", "recon"])
    means.update({"loss": torch.tensor(1.0), "recon": torch.tensor(4.0), "extra": torch.tensor(9.0)}, 2)
    means.update({"loss": torch.tensor(2.0), "recon": torch.tensor(-1.0)}, 3)
    result = means.compute()
    # (2·1 + 3·2) / 5 = 1.6 and (2·4 + 3·(−1)) / 5 = 1.0; names not asked for are ignored
    assert set(result) == {"loss", "recon"}
    assert result["loss"].item() == pytest.approx(1.6) and result["recon"].item() == pytest.approx(1.0)


def test_the_process_reduction_sums_items_and_sums():
    """Two processes' states merged by the metric's own reduction (what a DDP compute does):
    the mean over all their items, not the mean of their means."""
    first, second = EpochMeans(["loss"]), EpochMeans(["loss"])
    first.update({"loss": torch.tensor(1.0)}, 1)
    second.update({"loss": torch.tensor(3.0)}, 3)
    first.merge_state(second)
    assert first.compute()["loss"].item() == pytest.approx((1 + 9) / 4)


def test_values_keep_no_graph():
    weight = torch.tensor(2.0, requires_grad=True)
    means = EpochMeans(["loss"])
    means.update({"loss": weight * 3}, 4)
    assert not means.compute()["loss"].requires_grad


def test_add_then_flush_equals_update_bit_for_bit():
    values = [
        ({"loss": torch.tensor(0.1), "kl": torch.tensor(3.3)}, 7),
        ({"loss": torch.tensor(-2.7), "kl": torch.tensor(0.2)}, 5),
    ]
    stepwise, batched = EpochMeans(["loss", "kl"]), EpochMeans(["loss", "kl"])
    for value, count in values:
        stepwise.update(value, count)
        batched.add(value, count)
    assert not batched.update_called
    batched.flush()
    assert torch.equal(batched.sums, stepwise.sums) and torch.equal(batched.count, stepwise.count)
    # (7 * 0.1 + 5 * -2.7) / 12 and (7 * 3.3 + 5 * 0.2) / 12
    assert batched.compute()["loss"].item() == pytest.approx(-12.8 / 12)
    assert batched.compute()["kl"].item() == pytest.approx(24.1 / 12)
    batched.flush()  # nothing pending: unchanged
    assert torch.equal(batched.count, torch.tensor(12.0))

"""The grid-time plan of benchmarks/grid_time.py from given rates, by hand."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from grid_time import plan


def test_plan_by_hand():
    rates = {
        f"{m}/{o}": {"train_step_s": 2.0, "val_batch_s": 0.5}
        for m, objectives in (("convhvae", ("vae", "mim")), ("pixelhvae", ("vae", "amim")))
        for o in objectives
    }
    rates.update({"convhvae/nll_s_per_image": 10.0, "pixelhvae/nll_s_per_image": 1.0})
    out = plan(rates, epochs=3)
    # MNIST: 500 training steps of 2 s + 100 validation batches of 0.5 s per epoch; 10,000 test images
    assert out["convhvae/vae/mnist"] == {"epoch_s": 1050.0, "train_s": 3150.0, "nll_s": 100000.0}
    # Omniglot: 230 steps + 13.45 batches; 8,115 test images
    assert out["pixelhvae/amim/omniglot"]["epoch_s"] == pytest.approx(460 + 6.725)
    # per architecture: 2 objectives × 2 priors × 10 seeds of each data set
    per_data = [(3 * 1050 + 100000), (3 * 1050 + 100000), (3 * (460 + 6.725) + 81150)]
    assert out["convhvae/grid_s"] == pytest.approx(2 * 20 * sum(per_data))

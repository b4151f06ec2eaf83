import math

import pytest

from mimkit.training.schedules import beta_at, noam_factor


def test_beta_warmup_linear_from_epoch_one():
    assert [beta_at(e, 3) for e in (1, 2, 3, 4, 50)] == pytest.approx([1 / 3, 2 / 3, 1, 1, 1])
    assert beta_at(1, 0) == 1.0


def test_noam_factor_hand_values():
    # lr_e = lr * min(e / W, sqrt(W / e)), W = 3
    assert noam_factor(1, 3) == pytest.approx(1 / 3)
    assert noam_factor(3, 3) == pytest.approx(1.0)
    assert noam_factor(12, 3) == pytest.approx(0.5)
    assert noam_factor(60, 3) == pytest.approx(math.sqrt(0.05))
    assert noam_factor(7, 0) == 1.0

"""Aggregating over seeds (mimkit.evaluation.report.aggregate): mean, sample std and n per row, by hand."""

import math
from pathlib import Path

import pytest

from mimkit.evaluation.report.aggregate import aggregate, mean_std
from mimkit.evaluation.report.runs import Job


def test_mean_std_known_values():
    # mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32; sample variance 32/7
    stats = mean_std([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert stats == {"mean": 5.0, "std": pytest.approx(math.sqrt(32 / 7), rel=1e-15), "n": 8}
    assert mean_std([1.0, 3.0]) == {"mean": 2.0, "std": pytest.approx(math.sqrt(2)), "n": 2}
    assert mean_std([2.5, 2.5, 2.5]) == {"mean": 2.5, "std": 0.0, "n": 3}
    assert mean_std([0.75]) == {"mean": 0.75, "std": None, "n": 1}
    assert mean_std([]) == {"mean": None, "std": None, "n": 0}


def test_mean_is_correctly_rounded():
    # (0.1 + 0.2 + 0.3) / 3 is 0.20000000000000004 in floats; the exact mean rounds to 0.2
    assert mean_std([0.1, 0.2, 0.3])["mean"] == 0.2


def job(num: int, overrides: dict, metrics: dict) -> Job:
    return Job(path=Path(str(num)), overrides=overrides, config={}, choices={}, metrics=metrics)


def test_rows_per_group_and_x_in_numeric_order():
    jobs = [
        job(0, {"objective": "vae", "h": 100, "seed": 1}, {"mi": 1.0}),
        job(1, {"objective": "mim", "h": 100, "seed": 1}, {"mi": 6.0, "nll": 3.0}),
        job(2, {"objective": "mim", "h": 5, "seed": 1}, {"mi": 4.0}),
        job(3, {"objective": "mim", "h": 5, "seed": 2}, {"mi": 5.0, "nll": math.nan}),
        job(4, {"objective": "mim", "h": 20, "seed": 1}, {"mi": 6.5}),
        job(5, {"objective": "mim", "h": 5, "seed": 3}, {"mi": 6.0, "nll": 2.0}),
    ]
    rows = aggregate(jobs, "h", "objective")
    assert [(r.label, r.x, r.n) for r in rows] == [
        ("mim", 5, 3),
        ("mim", 20, 1),
        ("mim", 100, 1),
        ("vae", 100, 1),
    ]
    mim5 = rows[0]
    assert [j.path.name for j in mim5.jobs] == ["2", "3", "5"]
    assert mim5.metrics["mi"] == {"mean": 5.0, "std": 1.0, "n": 3}
    assert mim5.metrics["nll"] == {"mean": 2.0, "std": None, "n": 1}  # NaN and absent left out
    assert rows[1].metrics == {"mi": {"mean": 6.5, "std": None, "n": 1}}


def test_other_varying_overrides_split_rows_and_name_them():
    jobs = [
        job(i, {"objective": "mim", "prior": prior, "lr": lr, "seed": seed}, {"mi": i})
        for i, (prior, lr, seed) in enumerate(
            [("vamp", 0.1, 1), ("vamp", 0.1, 2), ("standard", 0.1, 1), ("vamp", 0.01, 1)]
        )
    ]
    rows = aggregate(jobs, None, "objective")
    assert [(r.label, r.x, r.n) for r in rows] == [
        ("mim, lr=0.01, prior=vamp", None, 1),
        ("mim, lr=0.1, prior=standard", None, 1),
        ("mim, lr=0.1, prior=vamp", None, 2),
    ]
    assert rows[2].metrics["mi"]["mean"] == 0.5


def test_group_from_config_choice_and_missing_group():
    jobs = [
        Job(
            path=Path("0"),
            overrides={"seed": 1},
            config={},
            choices={"objective": "amim"},
            metrics={"mi": 1.0},
        ),
        Job(path=Path("1"), overrides={"seed": 2}, config={}, choices={}, metrics={"mi": 3.0}),
    ]
    rows = aggregate(jobs, None, "objective")
    assert [(r.group, r.n) for r in rows] == [("amim", 1), ("none", 1)]

"""What a multirun sweeps (mimkit.evaluation.report.sweep): varying overrides, the x axis, the keys that
split lines."""

from pathlib import Path

from mimkit.evaluation.report.runs import Job
from mimkit.evaluation.report.sweep import extra_keys, infer_x_key, varying_keys


def jobs(*overrides: dict) -> list[Job]:
    return [Job(path=Path(str(i)), overrides=o, config={}, choices={}) for i, o in enumerate(overrides)]


def test_varying_keys():
    js = jobs(
        {"a": 1, "b": [1, 2], "c": "x", "seed": 1},
        {"a": 1, "b": [1, 3], "c": "x", "seed": 2, "d": None},
        {"a": 1, "b": [1, 2], "c": "x", "seed": 3},
    )
    # d is missing in two jobs and None in one: missing counts as None, so it does not vary
    assert varying_keys(js) == ["b", "seed"]
    assert varying_keys(jobs({"a": 1}, {"a": 1, "e": 0})) == ["e"]


def test_x_is_the_numeric_sweep_not_seed_nor_group():
    js = jobs(
        {"objective": "mim", "h": 5, "seed": 1, "prior": "vamp"},
        {"objective": "vae", "h": 50, "seed": 2, "prior": "standard"},
    )
    assert infer_x_key(js, "objective") == "h"
    assert extra_keys(js, "h", "objective") == ["prior"]
    assert infer_x_key(jobs({"seed": 1}, {"seed": 2}), "objective") is None
    # numeric in only some jobs: not a numeric sweep
    assert infer_x_key(jobs({"h": 5}, {"h": "big"}), "objective") is None


def test_several_numeric_sweeps_take_the_widest_and_warn(capsys):
    js = jobs(*({"lr": lr, "h": h} for lr in (0.1, 0.01) for h in (5, 50, 500)))
    assert infer_x_key(js, "objective") == "h"
    assert "several numeric overrides vary (h, lr)" in capsys.readouterr().err
    assert extra_keys(js, "h", "objective") == ["lr"]

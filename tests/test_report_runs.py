"""Reading job dirs (mimkit.evaluation.report.runs): Hydra's override grammar, metrics.json, job order,
config."""

import json
import math
from pathlib import Path

import pytest
from fake_runs import make_job

from mimkit.evaluation.report.runs import Job, config_value, job_dirs, parse_overrides, read_job, read_metrics


def test_overrides_numbers_strings_lists_null():
    assert parse_overrides(
        [
            "a.b=3",
            "lr=1e-3",
            "x=0.5",
            "big=1_000",
            "neg=-2",
            "inf=inf",
            "name=vae",
            "quoted='a b'",
            'eq="k=v"',
            "date=2026-01-01",
            "empty=",
            "lst=[1,2.5,three]",
            "d={k:1}",
            "nothing=null",
            "flag=true",
            "yes=yes",
        ]
    ) == {
        "a.b": 3,
        "lr": 0.001,
        "x": 0.5,
        "big": 1000,
        "neg": -2,
        "inf": math.inf,
        "name": "vae",
        "quoted": "a b",
        "eq": "k=v",
        "date": "2026-01-01",
        "empty": "",
        "lst": [1, 2.5, "three"],
        "d": {"k": 1},
        "nothing": None,
        "flag": True,
        "yes": "yes",
    }


def test_overrides_types_of_numbers():
    parsed = parse_overrides(["i=3", "f=3.0"])
    assert type(parsed["i"]) is int and type(parsed["f"]) is float


def test_overrides_prefixes_and_deletions():
    # +key (add) and ++key (force add) name the same key; ~key deletes and carries no value
    assert parse_overrides(["+c=1", "++d=2", "~e", "~f=3", "g@pkg=4", "seed=7"]) == {
        "c": 1,
        "d": 2,
        "g@pkg": 4,
        "seed": 7,
    }


def test_unparsable_override_names_file_and_line():
    with pytest.raises(
        ValueError,
        match=r"^jobs/0/\.hydra/overrides\.yaml: cannot parse "
        r"override 'a=\[1,': ",
    ):
        parse_overrides(["ok=1", "a=[1,"], Path("jobs/0/.hydra/overrides.yaml"))


def test_job_dirs_in_job_order(tmp_path: Path):
    for name in ("10", "2", "1", "b", "a"):
        (tmp_path / name / ".hydra").mkdir(parents=True)
    (tmp_path / "no_hydra").mkdir()
    (tmp_path / "multirun.yaml").write_text("{}")
    assert [p.name for p in job_dirs(tmp_path)] == ["1", "2", "10", "a", "b"]
    assert job_dirs(tmp_path / "2") == [tmp_path / "2"]  # a single run is a multirun of one


def test_read_metrics_keeps_numbers_only(tmp_path: Path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"a": 1, "b": 2.5, "c": True, "d": "x", "e": None, "f": [1]}))
    metrics = read_metrics(path)
    assert metrics == {"a": 1.0, "b": 2.5} and all(type(v) is float for v in metrics.values())
    path.write_text("[1, 2]")
    assert read_metrics(path) is None
    path.write_text("{not json")
    assert read_metrics(path) is None
    assert read_metrics(tmp_path / "missing.json") is None


def test_read_job(tmp_path: Path, capsys):
    job = read_job(make_job(tmp_path, 0, "vae", 50, 3, {"test/mi": 1.25}, extra={"+prior": "vamp"}))
    assert job.overrides == {"objective": "vae", "model.hidden": 50, "seed": 3, "prior": "vamp"}
    assert job.choices == {"objective": "vae", "model": "mlp"}
    assert job.metrics["test/mi"] == 1.25 and job.metrics["train/epochs"] == 30.0
    assert read_job(make_job(tmp_path, 1, "vae", 50, 3, None)) is None
    assert "warning: skipping job" in capsys.readouterr().err


def test_job_value_override_then_choice_then_config():
    job = Job(
        path=Path("0"),
        overrides={"seed": 4, "model": "big"},
        choices={"model": "mlp", "objective": "mim"},
        config={"seed": 1, "objective": {"beta": 2}, "model": {"hidden": 7, "width": "${model.hidden}"}},
    )
    assert job.value("seed") == 4 and job.value("model") == "big"
    assert job.value("objective") == "mim"
    assert job.value("objective.beta") == 2 and job.value("model.width") == 7
    assert job.value("missing.key") is None


def test_config_value_unresolvable_interpolation_stays_raw():
    # an unregistered resolver and a missing key (${hydra:...} resolves only where Hydra is set)
    config = {"paths": {"out": "${no_such_resolver:x}/y"}, "a": "${b.c}"}
    assert config_value(config, "paths.out") == "${no_such_resolver:x}/y"
    assert config_value(config, "a") == "${b.c}"

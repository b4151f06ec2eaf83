"""Scale-out and search: data sharding under DDP, `trainer=ddp_cpu` end to end, the SLURM
launcher config, a joblib multirun and an Optuna search (subprocesses, toy data)."""

import json
import math
import statistics
from types import SimpleNamespace

import lightning as L
import pytest
import torch
import yaml
from conftest import FAST, ROOT, compose_config, run_cli
from hydra.utils import instantiate
from lightning.pytorch.plugins.environments import SLURMEnvironment
from lightning.pytorch.strategies import DDPStrategy
from test_configs import compose_train

from mimkit.app.distributed import check_launch, starts_processes
from mimkit.app.run import evaluate, train
from mimkit.data.batches import Batches
from mimkit.data.gmm import GMMDataModule
from mimkit.errors import ConfigError
from mimkit.training.checkpoint_io import load_module
from mimkit.training.module import reconstruction_error

SMALL = [*FAST, "threads=1"]


def served(size: int, batch_size: int, rank: int, world: int) -> list[torch.Tensor]:
    rows = torch.arange(size)
    return [b[0] for b in Batches(lambda _: (rows,), size, batch_size, rank, world)]


def test_one_process_serves_plain_slices():
    assert [b.tolist() for b in served(7, 3, 0, 1)] == [[0, 1, 2], [3, 4, 5], [6]]


@pytest.mark.parametrize("size, batch_size, world", [(300, 128, 2), (1000, 64, 3), (512, 10000, 2)])
def test_ddp_processes_split_every_epoch(size, batch_size, world):
    per_rank = [served(size, batch_size, rank, world) for rank in range(world)]
    steps = math.ceil(size / batch_size)
    assert all(len(batches) == steps for batches in per_rank)  # the same number of steps
    assert torch.equal(torch.cat([torch.cat(b) for b in per_rank]), torch.arange(size))  # each row once
    for step in range(steps):  # a step's batches add up to about batch_size rows
        sizes = [len(batches[step]) for batches in per_rank]
        assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
        assert abs(sum(sizes) - size / steps) < world


def test_a_batch_too_small_for_the_processes_is_named():
    with pytest.raises(ValueError, match="use a data.batch_size of at least 4"):
        served(10, 2, 0, 4)


def test_datamodule_shards_by_the_trainers_rank():
    data = GMMDataModule(n_train=100, n_val=50, n_test=50, batch_size=16, eval_batch_size=50)
    data.trainer = SimpleNamespace(current_epoch=0, overfit_batches=0, global_rank=1, world_size=2)
    assert torch.equal(torch.cat([b[0] for b in data.train_dataloader()]), data.train_epoch(0)[0][50:])
    assert torch.equal(torch.cat([b[0] for b in data.test_dataloader()]), data.test[0][25:])


def slurm_env(monkeypatch, tasks: int) -> None:
    for name, value in {
        "SLURM_NTASKS": tasks,
        "SLURM_NTASKS_PER_NODE": tasks,
        "SLURM_JOB_NAME": "train",
        "SLURM_JOB_ID": 123,
        "SLURM_NODELIST": "node1",
        "SLURM_PROCID": 0,
        "SLURM_LOCALID": 0,
        "SLURM_NODEID": 0,
    }.items():
        monkeypatch.setenv(name, str(value))


def test_ddp_inside_a_local_multirun_is_refused_before_any_work(train_config):
    cfg = train_config("hparams_search=lr_grid", "trainer=ddp_cpu")  # hydra.mode: MULTIRUN
    with pytest.raises(ConfigError, match="cannot start its processes inside a Hydra multirun"):
        train(cfg)
    single = instantiate(train_config("trainer=ddp_cpu").trainer, logger=False)
    assert starts_processes(single)
    check_launch(single)  # a single run: Lightning starts the processes


def test_slurm_starts_the_processes_so_a_multirun_may_use_ddp(train_config, monkeypatch):
    train_config("hparams_search=lr_grid")  # Hydra's config: a multirun job
    slurm_env(monkeypatch, tasks=2)
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy=DDPStrategy(process_group_backend="gloo"), logger=False
    )
    assert isinstance(trainer.strategy.cluster_environment, SLURMEnvironment)
    assert not starts_processes(trainer)
    check_launch(trainer)


def test_scale_out_configs_compose():
    ddp_cpu = compose_train("trainer=ddp_cpu").trainer
    trainer = instantiate(ddp_cpu, logger=False)
    assert isinstance(trainer.strategy, DDPStrategy) and trainer.strategy.process_group_backend == "gloo"
    assert trainer.world_size == 2 and trainer.num_devices == 2
    ddp = compose_train("trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2").trainer
    assert ddp.accelerator == "gpu" and ddp.strategy.process_group_backend == "nccl"
    shape = {}
    for launcher in ("submitit_slurm", "slurm"):
        cfg = compose_train(
            "trainer=ddp",
            "trainer.devices=4",
            "trainer.num_nodes=2",
            f"hydra/launcher={launcher}",
            "hydra.launcher.partition=gpu",
        ).hydra.launcher
        assert cfg._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
        assert cfg.partition == "gpu"
        shape[launcher] = (cfg.nodes, cfg.tasks_per_node, cfg.gpus_per_node)
    # the plugin's own config: one task, no GPU; the project's preset: the trainer's nodes, one
    # task (DDP process) and one GPU per device
    assert shape == {"submitit_slurm": (1, 1, None), "slurm": (2, 4, 4)}
    assert compose_train("hydra/launcher=slurm").hydra.launcher.nodes == 1  # trainer=default: no num_nodes
    search = compose_train("hparams_search=optuna")
    assert search.optimized_metric == "val/loss" and str(search.hydra.mode) == "RunMode.MULTIRUN"
    assert (
        search.hydra.sweeper._target_.endswith("OptunaSweeper")
        and search.hydra.sweeper.direction == "minimize"
    )
    assert set(search.hydra.sweeper.params) == {"optim.lr", "model.hidden"}


def step_metric_spread(module, x: torch.Tensor, seeds: int = 8) -> dict[str, float]:
    """Std over `seeds` seeds of each validation/test-step metric of `module` on all of x."""
    values: dict[str, list[float]] = {}
    with torch.no_grad():
        for seed in range(seeds):
            torch.manual_seed(seed)
            out = module.objective(module.model, x, 1.0)
            out["recon"] = reconstruction_error(module.model, x, sample=True)
            out["recon_mean"] = reconstruction_error(module.model, x, sample=False)
            for name, value in out.items():
                values.setdefault(name, []).append(float(value))
    return {name: statistics.stdev(v) for name, v in values.items()}


def test_ddp_cpu_run_matches_a_single_process_evaluation(train_config, tmp_path, monkeypatch):
    logs = tmp_path / "logs"  # the default run dir layout: <log_dir>/train/runs/<time stamp>
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "tests"))  # the test-only callback below
    result = run_cli(
        "train.py",
        "trainer=ddp_cpu",
        "data=gmm2d",
        *SMALL,
        "warmup=1",
        f"paths.log_dir={logs}",
        "+callbacks.nll_rows._target_=pause_callback.CountNLLRows",
        f"+callbacks.nll_rows.out={tmp_path / 'nll_rows'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = list((logs / "train" / "runs").iterdir())
    assert len(runs) == 1, runs  # process 1 made no run dir of its own
    run = runs[0]
    assert [p.relative_to(logs) for p in logs.rglob(".hydra")] == [run.relative_to(logs) / ".hydra"]
    assert result.stdout.count("run dir:") == 1 and f"run dir: {run}" in result.stdout
    assert "distributed_backend=gloo" in result.stdout + result.stderr
    assert "Starting with 2 processes" in result.stdout + result.stderr
    # process 0 writes metrics.json and the picture; process 1 trained too, and wrote neither
    rank0, rank1 = (run / "train.log").read_text(), (run / "train_ddp_process_1.log").read_text()
    assert "metrics written to" in rank0 and "Fig. 2 plot written" in rank0 and (run / "fig2.png").is_file()
    assert "epoch 2/2" in rank1 and "metrics written" not in rank1 and "Fig. 2" not in rank1
    ddp = json.loads((run / "metrics.json").read_text())
    # the decoder pairs' z ~ P(z) do not depend on the data: validation and test drew their own
    assert ddp["val/decoder_pair_loss"] != ddp["test/decoder_pair_loss"]

    single = train(train_config("warmup=1", "threads=1", output_dir=tmp_path / "single"))
    assert set(ddp) == set(single)

    ckpt = next((run / "checkpoints").glob("epoch_*.ckpt"))
    evaluated = evaluate(
        compose_config("eval", [f"ckpt_path={ckpt}", "trainer.enable_progress_bar=false"], tmp_path / "eval")
    )
    module, data = load_module(str(ckpt)), GMMDataModule(n_train=1024, n_val=512, n_test=512)
    spread = {
        "val": step_metric_spread(module, data.val[0]),
        "test": step_metric_spread(module, data.test[0]),
    }
    for name, value in evaluated.items():
        stage, key = name.split("/", 1)
        sd = spread.get(stage, {}).get(key, 0.0)  # 0: the representation metrics (seeded)
        # the same numbers up to float32 summation order, or for the step metrics' Monte Carlo
        # estimates (each process draws its own noise) two independent draws: 5 sd of a difference
        assert ddp[name] == pytest.approx(value, rel=1e-5, abs=5 * math.sqrt(2) * sd), name
    # the IS-NLL was shared: each process scored its blocks, every test point once
    rows = [torch.load(tmp_path / "nll_rows" / f"nll_rows_rank{rank}.pt") for rank in (0, 1)]
    assert [len(r) for r in rows] == [256, 256]
    scored = torch.cat(rows)
    assert torch.equal(scored[scored[:, 0].argsort()], data.test[0][data.test[0][:, 0].argsort()])
    # and the tolerance tells the global mean from process 0's half of the test set
    half = float(reconstruction_error(module.model, data.test[0][:256], sample=False))
    assert abs(half - evaluated["test/recon_mean"]) > 100 * 1e-5 * evaluated["test/recon_mean"]


def test_joblib_launcher_runs_a_two_job_multirun(tmp_path):
    result = run_cli(
        "train.py",
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "seed=1,2",
        *SMALL,
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    metrics = [json.loads((tmp_path / str(job) / "metrics.json").read_text()) for job in (0, 1)]
    assert metrics[0]["val/loss"] != metrics[1]["val/loss"]
    for job, seed in ((0, 1), (1, 2)):
        assert f"seed={seed}" in (tmp_path / str(job) / ".hydra" / "overrides.yaml").read_text()
    assert not (tmp_path / "2").exists()


def test_optuna_search_minimises_a_metrics_json_key(tmp_path):
    result = run_cli(
        "train.py",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=3",
        "optimized_metric=test/nll",
        *SMALL,
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [p.name for p in jobs] == ["0", "1", "2"]
    nll = {job.name: json.loads((job / "metrics.json").read_text())["test/nll"] for job in jobs}
    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    best = min(nll, key=nll.get)
    assert results["name"] == "optuna" and results["best_value"] == pytest.approx(nll[best], rel=1e-9)
    overrides = yaml.safe_load((tmp_path / best / ".hydra" / "overrides.yaml").read_text())
    assert {f"{k}={v}" for k, v in results["best_params"].items()} <= set(overrides)
    assert set(results["best_params"]) == {"optim.lr", "model.hidden"}

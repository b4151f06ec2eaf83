"""DDP correctness: rank 0 alone writes the run dir's shared files (CSV history, W&B run id), the
test-time IS-NLL is shared between the processes (each test point scored once, the one-process
number), SyncBatchNorm where torch has it, KSG without oversubscription. The fast tests simulate
the ranks in one process; the DDP run with a kill and a resume is `slow` (two 2-process runs)."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

import lightning as L
import lightning_utilities.core.rank_zero as rank_zero
import pytest
import torch
from conftest import ROOT
from hydra.utils import instantiate
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.strategies import DDPStrategy
from test_metrics_callback import _labelled, _vamp_model, exact_posterior_model
from torch import nn

import mimkit.app.loggers as loggers
import mimkit.evaluation.callbacks.representation as metrics_module
import mimkit.evaluation.metrics.ksg as ksg
from mimkit.app.distributed import RANK_VARIABLES, check_sync_batchnorm, is_rank_zero
from mimkit.app.loggers import ID_FILE, wandb_logger
from mimkit.app.resume import continue_csv_logs
from mimkit.data.gmm import GMMDataModule
from mimkit.errors import ConfigError
from mimkit.evaluation.callbacks.representation import RepresentationMetrics, nll_shard


@pytest.fixture
def environment(monkeypatch):
    """set(**ranks): the environment of a process with these rank variables (none else); the
    Lightning rank a Trainer built here sets is restored afterwards."""
    monkeypatch.setattr(rank_zero.rank_zero_only, "rank", rank_zero.rank_zero_only.rank)
    for name in RANK_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def set_ranks(**ranks: int) -> None:
        for name, value in ranks.items():
            monkeypatch.setenv(name, str(value))

    return set_ranks


@pytest.mark.parametrize(
    "ranks, zero",
    [
        ({}, True),  # a single process, or rank 0 before it launches the others
        ({"LOCAL_RANK": 0, "NODE_RANK": 0}, True),  # rank 0 after launching them
        ({"LOCAL_RANK": 1}, False),  # a process Lightning's launcher started
        ({"LOCAL_RANK": 0, "NODE_RANK": 1}, False),  # the first process of the second node
        ({"RANK": 3, "LOCAL_RANK": 0}, False),  # torchrun
        ({"SLURM_PROCID": 2}, False),  # SLURM starts the processes
    ],
)
def test_rank_zero_is_read_from_the_launchers_environment(environment, ranks, zero):
    environment(**ranks)
    assert is_rank_zero() is zero


class StubWandbLogger:
    """Stands for Lightning's WandbLogger (no W&B set-up in this process): keeps its id; starting
    its W&B run fails the test."""

    def __init__(self, id: str, **kwargs):
        self.version = id

    @property
    def experiment(self):
        pytest.fail("a W&B run was started")


def test_only_rank_zero_writes_the_wandb_run_id(environment, tmp_path, monkeypatch):
    monkeypatch.setattr(loggers, "WandbLogger", StubWandbLogger)
    environment(LOCAL_RANK=1)
    wandb_logger(save_dir=str(tmp_path), project="mim")
    assert not (tmp_path / ID_FILE).exists()  # a process started by the launcher: no id of its own
    environment(LOCAL_RANK=0)
    first = wandb_logger(save_dir=str(tmp_path), project="mim")
    written = json.loads((tmp_path / ID_FILE).read_text())
    assert written["id"] == first.version
    environment(LOCAL_RANK=1)  # a resumed run's other process reads rank 0's id and keeps the file
    resumed = wandb_logger(save_dir=str(tmp_path), project="mim", continue_run=True)
    assert resumed.version == first.version
    assert json.loads((tmp_path / ID_FILE).read_text()) == written
    # nor does that process start a W&B run for the config or the summary
    loggers.log_run_config([resumed], {"seed": 1})
    loggers.finish_wandb([resumed], {"test/nll": 1.0})


def ddp_trainer(**kwargs) -> L.Trainer:
    """A 2-process CPU DDP trainer as each process builds it before `fit` (nothing launched)."""
    return L.Trainer(
        accelerator="cpu", devices=2, strategy=DDPStrategy(process_group_backend="gloo"), **kwargs
    )


def test_only_rank_zero_rebuilds_the_csv_history(environment, tmp_path):
    path = tmp_path / "csv" / "metrics.csv"
    path.parent.mkdir()
    path.write_text("epoch,step,train/loss\n0,3,1.5\n1,7,1.25\n2,11,1.0\n")
    step = 8  # the global step of the checkpoint at the end of epoch 1
    logger = lambda: CSVLogger(save_dir=tmp_path, name="csv", version="")

    environment(LOCAL_RANK=1)  # the other process of a resumed run: the file is rank 0's
    trainer = ddp_trainer(logger=logger())
    assert trainer.global_rank == 1  # known once the trainer exists, before it launches anything
    continue_csv_logs(trainer, step)
    assert path.read_text() == "epoch,step,train/loss\n0,3,1.5\n1,7,1.25\n2,11,1.0\n"

    environment(LOCAL_RANK=0)
    trainer = ddp_trainer(logger=logger())
    continue_csv_logs(trainer, step)
    with open(path, newline="") as file:  # the rows before the checkpoint's step, logged again
        assert [(row["epoch"], row["step"]) for row in csv.DictReader(file)] == [("0", "3"), ("1", "7")]


def test_ddp_trainers_synchronise_batchnorm_and_refuse_it_on_cpus(environment, train_config):
    assert train_config("trainer=ddp").trainer.sync_batchnorm is True
    cpu = train_config("trainer=ddp_cpu").trainer
    assert cpu.sync_batchnorm is True
    trainer = instantiate(cpu, logger=False)
    with pytest.raises(ConfigError, match=r"^trainer.sync_batchnorm=true: this model has BatchNorm"):
        check_sync_batchnorm(trainer, nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)), True)
    check_sync_batchnorm(trainer, nn.Sequential(nn.Linear(2, 3)), True)  # nothing to synchronise
    check_sync_batchnorm(trainer, nn.BatchNorm1d(3), False)  # each process its own statistics
    single = L.Trainer(accelerator="cpu", devices=1, sync_batchnorm=True, logger=False)
    check_sync_batchnorm(single, nn.BatchNorm1d(3), True)  # one process: nothing is synchronised


def scored_rows(monkeypatch) -> list[torch.Tensor]:
    """The x rows every nll_per_example call of the metrics callback receives, in order."""
    rows = []
    original = metrics_module.nll_per_example

    def counted(model, x, *args, **kwargs):
        rows.append(x)
        return original(model, x, *args, **kwargs)

    monkeypatch.setattr(metrics_module, "nll_per_example", counted)
    return rows


@pytest.mark.parametrize("world", [2, 3])
def test_nll_shards_score_each_point_once_and_add_up_to_one_process(monkeypatch, world):
    model, x = _vamp_model(5), _labelled(70, 1)[0]  # 70 points: 9 blocks of 8, the last of 6
    rows = scored_rows(monkeypatch)
    whole = nll_shard(model, x, samples=6, block_size=8, seed=3)
    assert torch.equal(torch.cat(rows), x)  # one process: every block, in order
    shards = []
    for rank in range(world):
        rows.clear()
        shards.append(nll_shard(model, x, samples=6, block_size=8, seed=3, rank=rank, world=world))
        blocks = list(range(rank, 9, world))
        assert [len(r) for r in rows] == [6 if b == 8 else 8 for b in blocks]
        assert torch.equal(torch.cat(rows), torch.cat([x[8 * b : 8 * b + 8] for b in blocks]))
        others = torch.ones(70, dtype=torch.bool)
        others[torch.cat([torch.arange(8 * b, min(8 * b + 8, 70)) for b in blocks])] = False
        assert torch.all(shards[-1][others] == 0)
    assert torch.equal(sum(shards), whole)  # the same draws per block whatever the world


def test_nll_shard_values_are_each_points_nll():
    # the exact posterior makes every importance weight q(x) = N(x; 0, 1.01 I): exact for any S
    x = GMMDataModule(std=0.05, n_train=10, n_val=10, n_test=50).test[0]
    values = nll_shard(exact_posterior_model(), x, samples=4, block_size=16, seed=0, rank=1, world=2)
    exact = 0.5 * x.double().pow(2).sum(1) / 1.01 + math.log(2 * math.pi * 1.01)
    mine = torch.zeros(50, dtype=torch.bool)
    mine[16:32] = mine[48:] = True  # blocks 1 and 3 of 0..3 (16 rows each, the last 2)
    assert values[mine].double() == pytest.approx(exact[mine], abs=1e-4)
    assert torch.all(values[~mine] == 0)


def test_data_parallel_metrics_equal_one_process(monkeypatch):
    callback = RepresentationMetrics(
        mi_pairs=200, nll_samples=10, nll_batch=16, knn_train=200, consistency_pairs=50, consistency_samples=5
    )
    test, train_set = _labelled(200, 1), _labelled(200, 2)
    one = callback.compute(_vamp_model(5), test, train_set)
    rows = scored_rows(monkeypatch)
    # process 1 of 2: its share of the NLL only
    sums = []
    other = callback.compute(
        _vamp_model(5),
        test,
        train_set,
        rank=1,
        world=2,
        sum_over_ranks=lambda mine: sums.append(mine) or mine,
    )
    assert set(other) == {"test/nll", "test/nll_points", "test/nll_samples"}
    (share,) = sums
    # process 0 of 2: its share plus process 1's (what the all-reduce returns), then the rest
    zero = callback.compute(
        _vamp_model(5), test, train_set, rank=0, world=2, sum_over_ranks=lambda mine: mine + share
    )
    assert zero == one  # every metric, exactly
    assert sorted(len(r) for r in rows) == [8] + [16] * 12  # 13 blocks, each scored once
    scored = torch.cat(rows)
    assert len(scored) == 200 and torch.equal(scored.unique(dim=0), test[0].unique(dim=0))


def test_ksg_uses_this_processs_threads(monkeypatch):
    seen = []
    tree = ksg.cKDTree

    class Recording(tree):
        def query(self, *args, **kwargs):
            seen.append(kwargs["workers"])
            return super().query(*args, **kwargs)

        def query_ball_point(self, *args, **kwargs):
            seen.append(kwargs["workers"])
            return super().query_ball_point(*args, **kwargs)

    monkeypatch.setattr(ksg, "cKDTree", Recording)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        ksg.ksg_mutual_information(torch.randn(50, 2), torch.randn(50, 3))
    finally:
        torch.set_num_threads(threads)
    assert seen == [1, 1, 1]  # the joint query and both marginal counts


# --- a real 2-process run, killed and resumed (slow: two DDP runs, ≈ 2 min here) -----------------

RUN = [
    "trainer=ddp_cpu",
    "logger=[csv,wandb]",
    "data.n_train=512",
    "data.n_val=256",
    "data.n_test=256",
    "trainer.max_epochs=2",
    "warmup=1",
    "threads=1",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
    "callbacks.representation_metrics=null",
    "callbacks.fig2_plot=null",
    "+callbacks.pause._target_=pause_callback.PauseMidEpoch",
]


@pytest.mark.slow
def test_a_killed_ddp_run_resumes_with_its_csv_history_and_wandb_run(tmp_path):
    run_dir, paused = tmp_path / "run", tmp_path / "paused"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "tests"),
        "MIM_TEST_PAUSE_AT": "1,1",  # the second epoch, after its second batch
        "MIM_TEST_PAUSE_FILE": str(paused),
        "WANDB_CONFIG_DIR": str(tmp_path / "wandb_config"),
        "HOME": str(tmp_path / "home"),
    }
    for name in ("WANDB_API_KEY", "WANDB_MODE", *RANK_VARIABLES):
        env.pop(name, None)
    command = [sys.executable, str(ROOT / "src" / "train.py")]
    process = subprocess.Popen(
        [*command, *RUN, f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the launcher's other process is in this group: killed with it
    )
    try:
        deadline = time.monotonic() + 300
        while not paused.exists():
            assert process.poll() is None, process.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "the DDP run never reached its second epoch"
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.stderr.close()
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0
    run_id = json.loads((run_dir / ID_FILE).read_text())["id"]
    (killed,) = (run_dir / "wandb").glob("offline-run-*")
    assert killed.name.endswith(run_id)  # the file names the W&B run rank 0 logged to

    env.pop("MIM_TEST_PAUSE_AT")
    result = subprocess.run(
        [*command, f"resume={run_dir}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Starting with 2 processes" in result.stdout + result.stderr
    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    # the killed run's epoch 0 and the resumed run's epoch 1, each logged once
    assert [row["epoch"] for row in rows if row.get("train/beta")] == ["0", "1"]
    assert [row["epoch"] for row in rows if row.get("val/loss")] == ["0", "1", "2"]  # 2: the final one
    runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(path.name.endswith(run_id) for path in runs)
    assert json.loads((run_dir / ID_FILE).read_text())["id"] == run_id

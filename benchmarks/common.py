"""What the benchmarks share: clocks, peak memory, child processes, the public reference code, a
bare timed Lightning fit and the JSON results. Torch and Lightning are imported where they are used
(debug_run.py times other processes and needs neither)."""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the public VampPrior code, timed by ../shared/tools/ref_vampprior_bench.py (its docstring says how
# to extract and patch a snapshot outside the repository)
REF_TOOL = ROOT.parent / "shared" / "tools" / "ref_vampprior_bench.py"
REF_NAMES = {"convhvae": "convHVAE_2level", "pixelhvae": "PixelHVAE_2level"}
# mimkit.app.allocator's glibc settings as environment variables, for the reference code
ALLOCATOR = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"}


def synchronize(device=None) -> None:
    """Wait for a GPU's queued work (before reading a clock); nothing on a CPU."""
    if device is not None and device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def timed(work, device=None) -> tuple[float, object]:
    """(seconds, result) of one call of `work()`, `device`'s queue drained before each clock reading."""
    synchronize(device)
    start = time.perf_counter()
    result = work()
    synchronize(device)
    return time.perf_counter() - start, result


def median_seconds(work, repeats: int = 1, warmup: bool = False, device=None) -> float:
    """Median seconds of `repeats` timed calls of `work()`, after an untimed one if `warmup`."""
    if warmup:
        timed(work, device)
    return statistics.median(timed(work, device)[0] for _ in range(repeats))


def peak_rss_mb(usage: resource.struct_rusage | None = None) -> float:
    """Peak resident memory (ru_maxrss, KiB on Linux) in MiB: of `usage` (a child's, from
    os.wait4), else of this process so far."""
    return (usage or resource.getrusage(resource.RUSAGE_SELF)).ru_maxrss / 1024


def machine() -> dict:
    """The torch threads and CPUs of this run."""
    import torch

    return {"torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}


def child_command(module: str, *args: str) -> list[str]:
    """`python -m <module> args...` (the benchmarks are modules of this package: run from ROOT)."""
    return [sys.executable, "-m", module, *args]


def child_json(module: str, *args: str) -> dict:
    """Run `module` in a fresh process (whose peak memory is its own): the JSON of its last line."""
    done = subprocess.run(child_command(module, *args), capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def reference(ref: Path, model_name: str, pattern: str, *options: str, threads: int | None = None):
    """The number that `pattern` captures in what REF_TOOL prints on the patched snapshot `ref` for
    `model_name` with `options` (a subprocess under the allocator settings, `threads` OpenMP
    threads if given); None, its error printed, when it finds none."""
    env = os.environ | ALLOCATOR | ({"OMP_NUM_THREADS": str(threads)} if threads else {})
    command = [sys.executable, str(REF_TOOL), "--ref", str(ref), "--model", REF_NAMES[model_name]]
    done = subprocess.run([*command, *options], capture_output=True, text=True, env=env)
    found = re.search(pattern, done.stdout)
    if not found:
        print(f"  reference failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
        return None
    return float(found.group(1))


def timed_fit(module, datamodule, per: str, **trainer_options) -> list[float]:
    """Seconds of each training `per` ("batch" or "epoch") of a bare Lightning fit at β = 1 (no
    logger, checkpoints, progress bar, model summary or validation), the device's queue drained
    before each clock reading."""
    import lightning as L

    from mimkit.training.callbacks.beta_warmup import BetaWarmup

    times: list[float] = []
    started = [0.0]

    def start(self, trainer, pl_module, *_):
        synchronize(pl_module.device)
        started[0] = time.perf_counter()

    def stop(self, trainer, pl_module, *_):
        synchronize(pl_module.device)
        times.append(time.perf_counter() - started[0])

    hooks = {f"on_train_{per}_start": start, f"on_train_{per}_end": stop}
    stopwatch = type("Stopwatch", (L.Callback,), hooks)
    trainer = L.Trainer(
        callbacks=[BetaWarmup(0), stopwatch()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        **trainer_options,
    )
    trainer.fit(module, datamodule=datamodule)
    return times


def write_results(results: dict, out: Path | None) -> None:
    """`results` as indented JSON at `out` (folders created); nothing when `out` is None."""
    if out is None:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=list) + "\n")
    print(f"written to {out}")

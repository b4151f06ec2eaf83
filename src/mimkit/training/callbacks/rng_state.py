"""Saves the random generators' states in every checkpoint and restores them on resume.

Lightning's checkpoints hold the model, optimiser, schedulers, loops and callbacks but not the
global RNGs that draw z ~ q(z|x), the decoder pairs and the dataloader's base seed. Without them
a resumed run trains on the same data (drawn from (seed, epoch), `mimkit.data.batches`) with other
noise, and ends elsewhere. A checkpoint is written at the end of an epoch; a resumed fit puts the
states back as it loads the checkpoint, after the module's `setup` and before the first
training dataloader is iterated, so the next epoch starts where the uninterrupted run stood.
Evaluations from a checkpoint (`trainer.validate/test(ckpt_path=...)`) leave the RNGs alone.

All states are stored as tensors and plain values, so checkpoints stay `weights_only`-loadable.
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.trainer.states import TrainerFn


def collect_states() -> dict[str, Any]:
    """The torch (CPU and every initialised CUDA device), Python and NumPy generator states."""
    numpy_state = np.random.get_state(legacy=False)  # noqa: NPY002 (the global state is what is saved)
    states = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_states(states: dict[str, Any]) -> None:
    """Set the generators to `states` (from `collect_states`)."""
    torch.set_rng_state(states["torch"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = states["numpy"]
    np.random.set_state(  # noqa: NPY002
        {
            "bit_generator": "MT19937",
            "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        }
    )
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


class RNGState(L.Callback):
    """Checkpoint the global RNG states; a fit resumed from a checkpoint restores them."""

    def state_dict(self) -> dict[str, Any]:
        return collect_states()

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        states = checkpoint.get("callbacks", {}).get(self.state_key)
        if states and trainer.state.fn == TrainerFn.FITTING:
            restore_states(states)

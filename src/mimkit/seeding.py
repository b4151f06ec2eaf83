"""Seeded random draws inside a block that leave the global generators as they were.

`torch.manual_seed` re-seeds the CPU generator and every CUDA device's, while
`torch.random.fork_rng(devices=[])` restores the CPU's alone: together they leave the GPU's
stream re-seeded. `seeded_draws` forks and seeds exactly the generators the block draws from.
"""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def seeded_draws(seed: int, device: torch.device):
    """Within the block, torch's global CPU generator and, for a CUDA `device`, that device's
    generator start from `seed`; after it, both are back where they were and no other generator
    was touched."""
    cuda = (
        [torch.cuda.current_device() if device.index is None else device.index]
        if device.type == "cuda"
        else []
    )
    with torch.random.fork_rng(devices=cuda):
        seed_generators(seed, device)
        yield


def seed_generators(seed: int, device: torch.device) -> None:
    """Seed torch's global CPU generator and, for a CUDA `device`, that device's generator only
    (`torch.manual_seed` would re-seed every CUDA device's)."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(torch.cuda.current_device() if device.index is None else device.index):
            torch.cuda.manual_seed(seed)

"""Tools of the device checks (tests/test_meta_device.py, tests/test_syncs.py, tests/test_gpu.py):
every model × prior × objective of the real configs (conf/) composed at tiny sizes, one training
step as Lightning runs it, fake CUDA models, and a counter of host-device syncs."""

from __future__ import annotations

import copy
import functools
import itertools
from pathlib import Path

import torch
import yaml
from conftest import compose_config
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from mimkit.config import to_plain
from mimkit.errors import ConfigError
from mimkit.module import AutoencoderModule
from mimkit.schema import validate

MODELS = ("mlp", "mlp_bernoulli", "convhvae", "pixelhvae")
IMAGE_MODELS = ("convhvae", "pixelhvae")
PRIORS = ("standard", "vamp", "mog")
OBJECTIVES = ("mim", "amim", "vae")
IMAGE = ["model.x_shape=[1,4,4]", "model.z1_dim=3", "model.z2_dim=2", "model.hidden=8", "model.channels=4"]
TINY = {
    "mlp": ["model.hidden=8"],
    "mlp_bernoulli": ["model.hidden=8"],
    "convhvae": IMAGE,
    "pixelhvae": [*IMAGE, "model.decoder.layers=2"],
    "vamp": ["prior.pseudo_inputs=5"],
    "mog": ["prior.components=3"],
}
# the other groups' nodes come from these compositions (two, not one per combination: Hydra
# takes about a second per composition here)
OTHER_GROUPS = (("vamp", "amim"), ("mog", "vae"))


@functools.cache
def _composed(tmp_path: Path, model: str, prior: str = "standard", objective: str = "mim") -> DictConfig:
    overrides = [
        f"model={model}",
        f"prior={prior}",
        f"objective={objective}",
        *TINY[model],
        *TINY.get(prior, []),
    ]
    return compose_config("train", overrides, tmp_path)


def tiny_config(tmp_path: Path, model: str, prior: str, objective: str, *extra: str) -> dict:
    """The run config of this combination at tiny sizes, schema-checked: the model's composition
    (prior=standard, objective=mim), with the prior and objective nodes of their own compositions
    (their interpolations, e.g. the VampPrior's pixel-space settings, resolve against this model)."""
    cfg = copy.deepcopy(_composed(tmp_path.parent, model))
    with open_dict(cfg):
        for group, name in (("prior", prior), ("objective", objective)):
            if name not in ("standard", "mim"):
                composed = next(
                    _composed(tmp_path.parent, "mlp", *pair) for pair in OTHER_GROUPS if name in pair
                )
                cfg[group] = composed[group]
        for override in extra:
            key, value = override.split("=", 1)
            OmegaConf.update(cfg, key, yaml.safe_load(value), merge=False)
    plain = to_plain(cfg)
    validate(plain)
    return plain


def allowed_combinations(tmp_path: Path) -> list[tuple[str, str, str]]:
    """Every model × prior × objective the config schema accepts (today: all 36)."""
    allowed = []
    for combination in itertools.product(MODELS, PRIORS, OBJECTIVES):
        try:
            tiny_config(tmp_path, *combination)
        except ConfigError:
            continue
        allowed.append(combination)
    return allowed


def tiny_module(cfg: dict, seed: int = 0) -> AutoencoderModule:
    torch.manual_seed(seed)
    return AutoencoderModule(
        model=cfg["model"], prior=cfg["prior"], objective=cfg["objective"], optim=cfg["optim"]
    )


def tiny_batch(cfg: dict, n: int, device: str | torch.device = "cpu", seed: int = 1) -> torch.Tensor:
    """n inputs the model takes: binary images, binary vectors (Bernoulli decoder) or Gaussian ones."""
    model = cfg["model"]
    shape = model.get("x_shape") or [model["encoder"]["in_dim"]]
    g = torch.Generator().manual_seed(seed)
    if "x_shape" in model or model["decoder"]["_target_"].endswith("BernoulliMLP"):
        x = torch.bernoulli(torch.full((n, *shape), 0.4), generator=g)
    else:
        x = torch.randn(n, *shape, generator=g)
    return x.to(device)


def optimizer_of(module: AutoencoderModule) -> torch.optim.Optimizer:
    configured = module.configure_optimizers()
    return configured["optimizer"] if isinstance(configured, dict) else configured


def training_step(
    module: AutoencoderModule, optimizer: torch.optim.Optimizer, x: torch.Tensor
) -> torch.Tensor:
    """One full training step as Lightning runs it: forward and loss, backward, the module's
    gradient hook (per-tensor normalisation under the image protocol), the optimiser step."""
    module.on_train_epoch_start()
    loss = module.training_step((x,), 0)
    loss.backward()
    module.on_before_optimizer_step(optimizer)
    optimizer.step()
    optimizer.zero_grad()
    return loss


def to_fake(module: nn.Module, mode: FakeTensorMode, device: str) -> nn.Module:
    """Every parameter and buffer of `module` replaced by a fake tensor on `device` (in place)."""
    for m in module.modules():
        for name, p in list(m._parameters.items()):
            if p is not None:
                m._parameters[name] = nn.Parameter(mode.from_tensor(p).to(device), p.requires_grad)
        for name, b in list(m._buffers.items()):
            if b is not None:
                m._buffers[name] = mode.from_tensor(b).to(device)
    return module


aten = torch.ops.aten
# reads of a value: .item(), float(t), int(t), bool(t) / `if t`, torch.equal
VALUE_READS = (aten._local_scalar_dense, aten.item, aten.is_nonzero, aten.equal)
# outputs whose size depends on the data: the host waits for it
DATA_SIZED = (aten.nonzero, aten.masked_select, aten._unique2, aten.unique_dim, aten.unique_consecutive)
COPIES = (aten._to_copy, aten.copy_)


class DeviceSyncs(TorchDispatchMode):
    """Records every operation that makes the host wait for a device: value reads, copies to the
    CPU (`.cpu()`, `.tolist()` go through them) and data-sized outputs, on tensors off the CPU (on a
    CPU, host and device are one; optimisers keep their step counts on the CPU on every device).
    Value reads and copies return a placeholder (zeros), so a run on the `meta` device counts
    them all instead of stopping at the first."""

    def __init__(self):
        super().__init__()
        self.syncs: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        off_cpu = [t for t in tensors if t.device.type != "cpu"]
        packet = func.overloadpacket
        if off_cpu and packet in VALUE_READS:
            self.syncs.append(str(func))
            return False if packet in (aten.is_nonzero, aten.equal) else 0
        if off_cpu and packet in COPIES and self._to_cpu(packet, args, kwargs):
            self.syncs.append(str(func))
            source = off_cpu[0]
            if packet is aten.copy_:
                return args[0]
            return torch.zeros(source.shape, dtype=kwargs.get("dtype") or source.dtype)
        if off_cpu and packet in DATA_SIZED:
            self.syncs.append(str(func))
        return func(*args, **kwargs)

    @staticmethod
    def _to_cpu(packet, args, kwargs) -> bool:
        if packet is aten.copy_:
            return args[0].device.type == "cpu"
        device = kwargs.get("device")
        return device is not None and torch.device(device).type == "cpu"

"""Tools of the device checks (tests/test_meta_device.py, tests/test_syncs.py, tests/test_gpu.py):
every model × prior × objective of the real configs (conf/) composed at tiny sizes, one training
step as Lightning runs it, fake CUDA models, and a counter of host-device syncs (reads, copies and
formatting of device tensors, copies of host data to the device)."""

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
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from mimkit.app.config import to_plain
from mimkit.app.schema import validate
from mimkit.errors import ConfigError
from mimkit.training.module import AutoencoderModule

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
# outputs whose size depends on the data: the host waits for it (also x[mask] with a boolean mask
# and repeat_interleave by a tensor of counts without its output_size, `_data_sized`)
DATA_SIZED = (aten.nonzero, aten.masked_select, aten._unique2, aten.unique_dim, aten.unique_consecutive)
COPIES = (aten._to_copy, aten.copy_)
# tensors made from host data (Python numbers and lists, NumPy arrays) straight on a device: a
# copy from the host, blocking on CUDA, that the dispatcher does not show (function: its name, the
# position of its data argument)
FROM_DATA = {
    torch.tensor: ("torch.tensor", 0),
    torch.as_tensor: ("torch.as_tensor", 0),
    torch.asarray: ("torch.asarray", 0),
    torch.Tensor.new_tensor: ("Tensor.new_tensor", 1),
}
FORMATTING = (torch.Tensor.__repr__, torch.Tensor.__format__)
INDEXING = (torch.Tensor.__getitem__, torch.Tensor.__setitem__)


class DeviceSyncs(TorchDispatchMode):
    """Records every operation that makes the host wait for a device:
    - value reads, copies to the CPU (`.cpu()`, `.tolist()` go through them) and data-sized
      outputs, on tensors off the CPU (on a CPU, host and device are one; optimisers keep their
      step counts on the CPU on every device);
    - copies from the CPU to a device (`torch.tensor(0.).to(x.device)`; on CUDA a blocking copy
      from pageable memory), tensors made from host data on a device (`torch.tensor(0., device=
      x.device)`), and host tensors an operation moves to the device itself (`x[cpu_index]`,
      `x[[0, 1]]`); a 0-dim CPU tensor that meets a device tensor is a scalar argument, no copy.
      Run the step on a batch already on the device: its transfer is not the step's;
    - formatting a device tensor (`str`, `repr`, f-strings, `print`, logging): a copy of its values
      to the host.
    Value reads and copies to the host return a placeholder (zeros), and a 0-dim device tensor
    formats as a zero (f"{loss:.3f}"), so a run on the `meta` device counts them all instead of
    stopping at the first. A context manager (`with DeviceSyncs() as counter:`): the Python-level
    calls (tensors from host data, list indices, formatting) are seen by a TorchFunctionMode that
    it enters and leaves with itself. tests/test_syncs.py checks each kind by mutation."""

    def __init__(self):
        super().__init__()
        self.syncs: list[str] = []
        self._muted = 0  # inside a recorded call (formatting): its own operations are not counted again

    def __enter__(self):
        self._calls = _HostCalls(self)
        self._calls.__enter__()
        try:
            return super().__enter__()
        except BaseException:
            self._calls.__exit__(None, None, None)
            raise

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            self._calls.__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self._muted:
            return func(*args, **kwargs)
        tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        off_cpu = [t for t in tensors if t.device.type != "cpu"]
        packet = func.overloadpacket
        if packet in COPIES and self._to_device(packet, args, kwargs):
            self.syncs.append(f"{func} (host to device)")
            return func(*args, **kwargs)
        if off_cpu and packet not in COPIES and any(t.device.type == "cpu" and t.dim() for t in tensors):
            self.syncs.append(f"{func} (host tensor to device)")
            return func(*args, **kwargs)
        if off_cpu and packet in VALUE_READS:
            self.syncs.append(str(func))
            return False if packet in (aten.is_nonzero, aten.equal) else 0
        if off_cpu and packet in COPIES and self._to_cpu(packet, args, kwargs):
            self.syncs.append(str(func))
            source = off_cpu[0]
            if packet is aten.copy_:
                return args[0]
            return torch.zeros(source.shape, dtype=kwargs.get("dtype") or source.dtype)
        if off_cpu and (packet in DATA_SIZED or _data_sized(func, args, kwargs)):
            self.syncs.append(str(func))
        return func(*args, **kwargs)

    @staticmethod
    def _to_cpu(packet, args, kwargs) -> bool:
        if packet is aten.copy_:
            return args[0].device.type == "cpu"
        device = kwargs.get("device")
        return device is not None and torch.device(device).type == "cpu"

    @staticmethod
    def _to_device(packet, args, kwargs) -> bool:
        if packet is aten.copy_:
            return args[0].device.type != "cpu" and args[1].device.type == "cpu"
        device = kwargs.get("device")
        return args[0].device.type == "cpu" and device is not None and torch.device(device).type != "cpu"


def _data_sized(func, args, kwargs) -> bool:
    packet = func.overloadpacket
    if packet is aten.index:
        return any(i is not None and i.dtype in (torch.bool, torch.uint8) for i in args[1])
    if packet is aten.repeat_interleave:
        return func is not aten.repeat_interleave.self_int and kwargs.get("output_size") is None
    return False


def _off_cpu(device) -> bool:
    return device is not None and torch.device(device).type != "cpu"


def _has_list(index) -> bool:
    """An index holding a Python list (advanced indexing: torch makes an index tensor of it)."""
    return isinstance(index, list) or (isinstance(index, tuple) and any(isinstance(i, list) for i in index))


class _HostCalls(TorchFunctionMode):
    """DeviceSyncs' Python-level half: tensors made from host data on a device, indexing a device
    tensor with a Python list, formatting a device tensor (which the dispatcher sees as nothing,
    or, on a real device, as copies it would count as well)."""

    def __init__(self, counter: DeviceSyncs):
        super().__init__()
        self.counter = counter

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.counter._muted:
            return func(*args, **kwargs)
        if func in FROM_DATA:
            name, position = FROM_DATA[func]
            data = args[position] if len(args) > position else kwargs.get("data", kwargs.get("obj"))
            device = kwargs.get("device", args[0].device if func is torch.Tensor.new_tensor else None)
            if _off_cpu(device) and not (isinstance(data, torch.Tensor) and data.device.type != "cpu"):
                made = self._muted_call(func, args, kwargs)  # (its copy, if dispatched, counted once)
                if made.numel():  # (nothing to copy: torch.get_default_device() makes torch.tensor([]))
                    self.counter.syncs.append(f"{name} (host data to device)")
                return made
        elif func in INDEXING and args[0].device.type != "cpu" and _has_list(args[1]):
            self.counter.syncs.append(f"Tensor.{func.__name__} (list index to device)")
        elif func in FORMATTING and args[0].device.type != "cpu":
            self.counter.syncs.append(f"Tensor.{func.__name__}")
            tensor = args[0]
            if func is torch.Tensor.__format__ and tensor.dim() == 0:  # f"{loss:.3f}": the value's format
                return format(torch.zeros((), dtype=tensor.dtype).item(), *args[1:])
            return self._muted_call(func, args, kwargs)
        return func(*args, **kwargs)

    def _muted_call(self, func, args, kwargs):
        self.counter._muted += 1
        try:
            return func(*args, **kwargs)
        finally:
            self.counter._muted -= 1

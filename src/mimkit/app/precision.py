"""The arithmetic a run computes in, stated at start-up (docs/gpu.md, "Precision").

`float32_precision` (train.yaml, eval.yaml) is torch's precision of fp32 matrix products and
convolutions, set before any model is built: `highest` is IEEE fp32 everywhere (cuBLAS, cuDNN,
oneDNN), so results on a GPU compare with the CPU results in docs/results; `high` lets Ampere and
later GPUs use TF32 (10 mantissa bits) in matmuls and cuDNN convolutions; `medium` allows bf16
(7 bits) where the backend has it. metrics.json records the level in effect as
`run/float32_mantissa_bits` (23, 10 or 7).

`trainer.precision=bf16-*` runs the networks in bf16. A device without bf16 arithmetic emulates it
(convHVAE trained 8.6x slower in bf16-mixed than in fp32 on an AVX2 CPU), so such a run is refused
at start-up unless `allow_emulated_bf16=true`.
"""

from __future__ import annotations

import logging
import typing
from pathlib import Path
from typing import Literal

import torch

from mimkit.errors import ConfigError

log = logging.getLogger(__name__)

Float32Precision = Literal["highest", "high", "medium"]
FLOAT32_PRECISIONS = typing.get_args(Float32Precision)
# the level of a config written before the key existed (a resumed or re-evaluated old run)
DEFAULT_FLOAT32_PRECISION = "highest"
# mantissa bits fp32 matmuls and convolutions keep at least, per level: fp32, TF32, bf16
MANTISSA_BITS = {"highest": 23, "high": 10, "medium": 7}
# /proc/cpuinfo flags of native bf16 arithmetic: x86 AVX512-BF16 and AMX-BF16, Arm FEAT_BF16
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
CPUINFO = Path("/proc/cpuinfo")


def set_float32_precision(level: str) -> None:
    """fp32 matmuls and convolutions at `level` (one of FLOAT32_PRECISIONS) on every backend.

    torch's matmul setting covers cuBLAS and oneDNN matmuls; cuDNN convolutions have their own
    TF32 switch, on by default, which `highest` turns off. (Only these two of torch's legacy
    switches: mixing them with its per-backend ones makes torch refuse to report the level.)
    """
    torch.set_float32_matmul_precision(level)
    torch.backends.cudnn.allow_tf32 = level != "highest"


def mantissa_bits() -> int:
    """The mantissa bits of the fp32 matmul precision in effect (metrics.json)."""
    return MANTISSA_BITS[torch.get_float32_matmul_precision()]


def cpu_info(text: str) -> tuple[str, set[str]]:
    """(model name, feature flags) from the text of /proc/cpuinfo (x86 `flags`, Arm `Features`)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = fields.get("flags") or fields.get("Features") or ""
    return fields.get("model name", "this CPU"), set(flags.split())


def emulated_bf16(device: torch.device) -> str | None:
    """Why `device` would emulate bf16 arithmetic (a phrase), or None where it computes bf16
    natively or this code cannot tell (devices other than CPUs and CUDA GPUs)."""
    if device.type == "cuda":  # NVIDIA: bf16 units from Ampere (compute capability 8.0)
        major, minor = torch.cuda.get_device_capability(device)
        if (major, minor) >= (8, 0):
            return None
        name = torch.cuda.get_device_name(device)
        return f"{name} (compute capability {major}.{minor}) has no bf16 units (8.0 and later have)"
    if device.type == "cpu":
        if not CPUINFO.is_file():
            return "this CPU's features cannot be read (no /proc/cpuinfo)"
        name, flags = cpu_info(CPUINFO.read_text())
        if flags & set(CPU_BF16_FLAGS):
            return None
        return f"{name} has no bf16 instructions (AVX512-BF16, AMX-BF16 or Arm BF16)"
    return None


def check_bf16(precision: str, device: torch.device, allow_emulated: bool) -> None:
    """A ConfigError if `precision` (trainer.precision) is a bf16 one and `device` would emulate
    it, unless `allow_emulated`; then a warning."""
    if not str(precision).startswith("bf16"):
        return
    reason = emulated_bf16(device)
    if reason is None:
        return
    message = (
        f"trainer.precision={precision}: {reason}, so bf16 is emulated, slower than fp32 (convHVAE "
        f"trained 8.6x slower in bf16-mixed than in 32-true on an AVX2 CPU)"
    )
    if not allow_emulated:
        raise ConfigError(
            f"{message}; use trainer.precision=32-true, or allow_emulated_bf16=true to run anyway"
        )
    log.warning("%s; running it anyway (allow_emulated_bf16=true)", message)

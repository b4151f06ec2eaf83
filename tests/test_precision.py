"""The arithmetic a run computes in (mimkit.app.precision): fp32 matmul / convolution precision set at
start-up and recorded in metrics.json; bf16 refused where the device would emulate it."""

from __future__ import annotations

import json
import logging

import pytest
import torch

import mimkit.app.precision as precision
from mimkit.app.precision import check_bf16, cpu_info, emulated_bf16, set_float32_precision
from mimkit.app.run import train
from mimkit.errors import ConfigError

X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 avx avx2 fma {extra}
"""
ARM = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd sve {extra}\nCPU implementer\t: 0x41\n"
QUICK = [
    "trainer.max_epochs=1",
    "callbacks.representation_metrics=null",
    "callbacks.fig2_plot=null",
    "logger=none",
    "callbacks.lr_monitor=null",
]


@pytest.fixture(autouse=True)
def restore_torch():
    """Leave torch's precision switches as the test found them."""
    matmul, cudnn = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    yield
    torch.set_float32_matmul_precision(matmul)
    torch.backends.cudnn.allow_tf32 = cudnn


@pytest.fixture
def cpuinfo(tmp_path, monkeypatch):
    """write(text): the /proc/cpuinfo the checks read."""

    def write(text: str) -> None:
        path = tmp_path / "cpuinfo"
        path.write_text(text)
        monkeypatch.setattr(precision, "CPUINFO", path)

    return write


@pytest.mark.parametrize(
    "level, tf32, bits", [("highest", False, 23), ("high", True, 10), ("medium", True, 7)]
)
def test_each_level_sets_matmuls_and_convolutions_alike(level, tf32, bits):
    set_float32_precision(level)
    assert torch.get_float32_matmul_precision() == level
    assert torch.backends.cuda.matmul.allow_tf32 is tf32  # cuBLAS
    assert torch.backends.cudnn.allow_tf32 is tf32  # cuDNN convolutions (torch's default: TF32 on)
    assert precision.mantissa_bits() == bits


def test_cpu_features_are_read_from_cpuinfo():
    assert cpu_info(X86.format(extra="")) == ("AMD EPYC", {"fpu", "sse", "sse2", "avx", "avx2", "fma"})
    assert "avx512_bf16" in cpu_info(X86.format(extra="avx512f avx512_bf16"))[1]
    assert cpu_info(ARM.format(extra="bf16")) == ("this CPU", {"fp", "asimd", "sve", "bf16"})


@pytest.mark.parametrize(
    "text, native",
    [
        (X86.format(extra="avx512f"), False),  # AVX-512 without its BF16 extension: emulated
        (X86.format(extra="avx512f avx512_bf16"), True),
        (X86.format(extra="amx_tile amx_bf16"), True),
        (ARM.format(extra=""), False),
        (ARM.format(extra="bf16 i8mm"), True),
    ],
)
def test_cpu_bf16_is_native_only_with_bf16_instructions(cpuinfo, text, native):
    cpuinfo(text)
    assert (emulated_bf16(torch.device("cpu")) is None) is native


def test_gpu_bf16_is_native_from_compute_capability_8(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "Tesla V100")
    for capability, native in (((7, 0), False), ((7, 5), False), ((8, 0), True), ((9, 0), True)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device, c=capability: c)
        assert (emulated_bf16(torch.device("cuda", 0)) is None) is native, capability
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device: (7, 0))
    with pytest.raises(ConfigError, match=r"Tesla V100 \(compute capability 7.0\) has no bf16 units"):
        check_bf16("bf16-mixed", torch.device("cuda", 0), allow_emulated=False)


def test_emulated_bf16_is_refused_unless_allowed(cpuinfo, caplog):
    cpuinfo(X86.format(extra=""))
    cpu = torch.device("cpu")
    with pytest.raises(
        ConfigError,
        match=r"^trainer.precision=bf16-mixed: AMD EPYC has no bf16 instructions .* 8.6x slower .*"
        r"use trainer.precision=32-true, or allow_emulated_bf16=true to run anyway$",
    ):
        check_bf16("bf16-mixed", cpu, allow_emulated=False)
    with pytest.raises(ConfigError, match=r"^trainer.precision=bf16-true: "):
        check_bf16("bf16-true", cpu, allow_emulated=False)
    with caplog.at_level(logging.WARNING, logger="mimkit.app.precision"):
        check_bf16("bf16-mixed", cpu, allow_emulated=True)
    assert "running it anyway (allow_emulated_bf16=true)" in caplog.text
    check_bf16("32-true", cpu, allow_emulated=False)  # fp32: nothing to check
    cpuinfo(X86.format(extra="avx512_bf16"))
    check_bf16("bf16-mixed", cpu, allow_emulated=False)  # native


def test_a_run_states_its_precision_and_refuses_emulated_bf16_before_any_work(
    train_config, tmp_path, cpuinfo
):
    metrics = train(train_config(*QUICK, "float32_precision=high", output_dir=tmp_path / "high"))
    assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32
    assert metrics["run/float32_mantissa_bits"] == 10
    written = json.loads((tmp_path / "high" / "metrics.json").read_text())
    assert written["run/float32_mantissa_bits"] == 10
    train(train_config(*QUICK, output_dir=tmp_path / "default"))  # the default: IEEE fp32
    assert torch.get_float32_matmul_precision() == "highest" and not torch.backends.cudnn.allow_tf32
    assert json.loads((tmp_path / "default" / "metrics.json").read_text())["run/float32_mantissa_bits"] == 23

    cpuinfo(X86.format(extra=""))
    with pytest.raises(ConfigError, match=r"^trainer.precision=bf16-mixed: AMD EPYC has no bf16"):
        train(train_config(*QUICK, "trainer.precision=bf16-mixed", output_dir=tmp_path / "bf16"))
    assert not (tmp_path / "bf16" / "checkpoints").exists() and not (tmp_path / "bf16" / "csv").exists()

"""No host-device syncs in a training step or an IS-NLL pass (docs/gpu.md).

`DeviceSyncs` (tests/device_checks.py) records every operation that makes the host wait for the
device; the steps run on the `meta` device, which stands for a GPU: one training step of every
model × prior × objective is counted in tests/test_meta_device.py, an IS-NLL pass of every model
here. A non-finite loss is detected on the device and read once per logging interval."""

from __future__ import annotations

import math

import pytest
import torch
from device_checks import MODELS, DeviceSyncs, tiny_batch, tiny_config, tiny_module

from mimkit.metrics.nll import nll_per_example
from mimkit.nonfinite import NonFiniteLossError, NonFiniteWatch


def test_the_counter_sees_every_kind_of_sync_and_nothing_on_the_cpu():
    t = torch.ones(3, device="meta")
    with DeviceSyncs() as counter:
        t[0].item()
        bool(t[0] > 0)
        float(t.sum())
        if t.any():
            pass
        torch.equal(t, t)
        t.cpu()
        t.tolist()
        (t + 1).exp()  # stays on the device: not a sync
        c = torch.ones(3)
        c[0].item(), bool(c[0]), c.tolist()  # CPU tensors: nothing to wait for
    assert counter.syncs == ["aten._local_scalar_dense.default"] * 4 + [
        "aten.equal.default",
        "aten._to_copy.default",
        "aten._to_copy.default",
    ]
    with DeviceSyncs() as counter, pytest.raises(NotImplementedError):
        t.nonzero()  # a data-sized output: counted, then it fails on the meta device
    assert counter.syncs == ["aten.nonzero.default"]


@pytest.mark.parametrize("model", MODELS)
def test_an_is_nll_estimate_has_no_host_sync(tmp_path, model):
    cfg = tiny_config(tmp_path, model, "vamp", "mim")
    autoencoder = tiny_module(cfg).model.to("meta")
    with DeviceSyncs() as counter:
        nll = nll_per_example(autoencoder, tiny_batch(cfg, 3, "meta"), samples=4, batch_size=2, max_pairs=4)
    assert counter.syncs == [] and nll.shape == (3,)


def test_the_non_finite_watch_reads_nothing_per_step_and_names_the_first_bad_step():
    watch = NonFiniteWatch()
    losses = [1.0, 2.0, math.nan, math.inf, 3.0]
    with DeviceSyncs() as counter:
        for step, value in enumerate(losses):
            watch.observe(torch.tensor(value, device="meta"), epoch=2, step=10 + step)
    assert counter.syncs == []
    watch = NonFiniteWatch()
    for step, value in enumerate(losses[:2]):
        watch.observe(torch.tensor(value), epoch=1, step=step)
    watch.check()  # all finite: nothing raised
    for step, value in enumerate(losses[2:], start=2):
        watch.observe(torch.tensor(value, requires_grad=True) * 1, epoch=3, step=step)
    with pytest.raises(NonFiniteLossError) as error:
        watch.check()
    assert (
        str(error.value)
        == "non-finite training loss (nan) at epoch 3, step 2: lower optim.lr or check the data"
    )

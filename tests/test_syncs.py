"""No host-device syncs in a training step or an IS-NLL pass (docs/gpu.md).

`DeviceSyncs` (tests/device_checks.py) records every operation that makes the host wait for the
device; the steps run on the `meta` device, which stands for a GPU: one training step of every
model × prior × objective is counted in tests/test_meta_device.py, an IS-NLL pass of every model
here. Each kind of sync it knows is planted in a real training step and a real IS-NLL pass (a
mutation): the counter must name it. A non-finite loss is detected on the device and read once per
logging interval. On a GPU, tests/test_gpu.py runs a step and a pass under CUDA's own sync check."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from device_checks import (
    MODELS,
    DeviceSyncs,
    optimizer_of,
    tiny_batch,
    tiny_config,
    tiny_module,
    training_step,
)

from mimkit.evaluation.metrics.nll import nll_per_example
from mimkit.training.nonfinite import NonFiniteLossError, NonFiniteWatch


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


def test_the_counter_sees_copies_from_the_host_and_formatting_and_nothing_else():
    t = torch.ones(3, device="meta")
    with DeviceSyncs() as counter:
        torch.tensor(0.0).to(t.device)
        torch.ones(3).to(t)
        torch.empty(3, device="meta").copy_(torch.ones(3))
        torch.tensor([1.0, 2.0], device=t.device)
        torch.as_tensor(np.ones(2), device=t.device)
        t.new_tensor([1.0])
        t[torch.tensor([0, 1])]
        t[[0, 1]]
        repr(t), str(t)
        f"{t}"
        assert f"{t.sum():.3f}" == "0.000"  # a placeholder value: the step goes on
        # not copies: 0-dim CPU tensors are scalar arguments, factories make tensors on the device,
        # nothing to copy, CPU tensors' formatting, a device tensor used where it is
        t * torch.tensor(2.0), torch.where(t > 0, t, torch.tensor(0.0)), t[torch.tensor(1)]
        torch.zeros(3, device=t.device), torch.full((2,), 0.5, device=t.device), t.new_zeros(2)
        torch.tensor([], device=t.device), torch.as_tensor(t, device=t.device), t.to(t.device)
        c = torch.ones(2)
        repr(c), f"{c.sum():.3f}", torch.tensor([1.0]), c[[0, 1]]
    assert counter.syncs == [
        "aten._to_copy.default (host to device)",
        "aten._to_copy.default (host to device)",
        "aten.copy_.default (host to device)",
        "torch.tensor (host data to device)",
        "torch.as_tensor (host data to device)",
        "Tensor.new_tensor (host data to device)",
        "aten.index.Tensor (host tensor to device)",
        "Tensor.__getitem__ (list index to device)",
        "Tensor.__repr__",
        "Tensor.__repr__",
        "Tensor.__format__",
        "Tensor.__format__",
    ]
    with DeviceSyncs() as counter, pytest.raises(NotImplementedError):
        t[t > 0]  # boolean mask: data-sized, counted, then it fails on the meta device
    assert counter.syncs == ["aten.index.Tensor"]


# each kind of sync the counter knows, planted in the model's encoder (a forward hook on the encoder
# input x, a tensor on the device): (what it does, what the counter records)
MUTATIONS = {
    "item": (lambda x: x.sum().item(), "aten._local_scalar_dense.default"),
    "branch": (lambda x: bool(x.sum() > 0), "aten._local_scalar_dense.default"),
    "equal": (lambda x: torch.equal(x, x), "aten.equal.default"),
    "to_host": (lambda x: x.cpu(), "aten._to_copy.default"),
    "tolist": (lambda x: x.sum().tolist(), "aten._to_copy.default"),
    "host_to_device": (lambda x: torch.tensor(0.0).to(x.device), "aten._to_copy.default (host to device)"),
    "copy_from_host": (
        lambda x: torch.empty(2, device=x.device).copy_(torch.zeros(2)),
        "aten.copy_.default (host to device)",
    ),
    "tensor_on_device": (
        lambda x: torch.tensor([1.0], device=x.device),
        "torch.tensor (host data to device)",
    ),
    "host_index": (lambda x: x.flatten(1)[:, torch.tensor([0])], "aten.index.Tensor (host tensor to device)"),
    "list_index": (lambda x: x.flatten(1)[:, [0, 1]], "Tensor.__getitem__ (list index to device)"),
    "repr": (lambda x: repr(x), "Tensor.__repr__"),
    "str": (lambda x: str(x.sum()), "Tensor.__repr__"),
    "fstring": (lambda x: f"{x.sum():.3f}", "Tensor.__format__"),
}
# kinds that cannot run on the meta device: counted, then the step fails there
FAILING = {"mask_index": (lambda x: x[x > 0], "aten.index.Tensor")}


def planted(model, mutation):
    """`mutation` run on the encoder's input in every forward of the encoder (None: nothing)."""
    if mutation is None:
        return None

    def hook(module, inputs, output):
        mutation(inputs[0])  # (its result unused; the hook returns None: the output stays)

    return model.encoder.register_forward_hook(hook)


def counted_step(tmp_path, mutation) -> list[str]:
    """The syncs of one real training step (convHVAE + VampPrior, symmetric MIM, β = 1) on the meta
    device, with `mutation` planted."""
    cfg = tiny_config(tmp_path, "convhvae", "vamp", "mim", "warmup=0")
    module = tiny_module(cfg).to("meta")
    optimizer, x = optimizer_of(module), tiny_batch(cfg, 4, "meta")
    planted(module.model, mutation)
    with DeviceSyncs() as counter:
        training_step(module, optimizer, x)
    return counter.syncs


def counted_nll(tmp_path, mutation) -> list[str]:
    """The syncs of one real IS-NLL estimate (the same model) on the meta device, `mutation` planted."""
    cfg = tiny_config(tmp_path, "convhvae", "vamp", "mim")
    autoencoder, x = tiny_module(cfg).model.to("meta"), tiny_batch(cfg, 3, "meta")
    planted(autoencoder, mutation)
    with DeviceSyncs() as counter:
        nll_per_example(autoencoder, x, samples=4, batch_size=2, max_pairs=4)
    return counter.syncs


@pytest.mark.parametrize("counted", [counted_step, counted_nll], ids=["step", "nll"])
@pytest.mark.parametrize("kind", [None, *MUTATIONS])
def test_every_kind_of_sync_planted_in_a_step_or_an_is_nll_pass_is_caught(tmp_path, counted, kind):
    if kind is None:  # the real step and pass: nothing
        assert counted(tmp_path, None) == []
        return
    mutation, recorded = MUTATIONS[kind]
    syncs = counted(tmp_path, mutation)
    assert syncs and set(syncs) == {recorded}, syncs


@pytest.mark.parametrize("counted", [counted_step, counted_nll], ids=["step", "nll"])
@pytest.mark.parametrize("kind", FAILING)
def test_a_data_sized_output_planted_in_a_step_or_a_pass_is_caught(tmp_path, counted, kind):
    mutation, recorded = FAILING[kind]
    counter_syncs = []
    real_exit = DeviceSyncs.__exit__

    def keep(self, *exc):  # the counter's records, though the step fails inside it
        counter_syncs.extend(self.syncs)
        return real_exit(self, *exc)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DeviceSyncs, "__exit__", keep)
        with pytest.raises(NotImplementedError):
            counted(tmp_path, mutation)
    assert counter_syncs == [recorded]


@pytest.mark.parametrize("model", MODELS)
def test_an_is_nll_estimate_has_no_host_sync(tmp_path, model):
    cfg = tiny_config(tmp_path, model, "vamp", "mim")
    autoencoder, x = tiny_module(cfg).model.to("meta"), tiny_batch(cfg, 3, "meta")
    with DeviceSyncs() as counter:
        nll = nll_per_example(autoencoder, x, samples=4, batch_size=2, max_pairs=4)
    assert counter.syncs == [] and nll.shape == (3,)


def test_the_non_finite_watch_reads_nothing_per_step_and_names_the_first_bad_step():
    watch = NonFiniteWatch()
    losses = [1.0, 2.0, math.nan, math.inf, 3.0]
    on_device = [torch.tensor(value, device="meta") for value in losses]  # the steps' losses
    with DeviceSyncs() as counter:
        for step, loss in enumerate(on_device):
            watch.observe(loss, epoch=2, step=10 + step)
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

"""Per-feature standardisation held by the model, so that it works in the data's own units.

`Standardization(shift, scale)` attached to an encoder and a decoder (`Autoencoder(...,
standardization=...)`) makes the pair behave as if the data had been standardised beforehand:
the encoder sees (x − shift) / scale, and the decoder's Gaussian N(μ, σ²) over standardised x
becomes N(shift + scale·μ, (scale·σ)²) over x. Everything that calls the encoder and the decoder
(the objectives, the metrics, `embed`, `reconstruct`, `sample`, `nll` and the latent tools)
therefore takes and returns x in the data's units: `nll` is −log q(x) of the raw data, the
standardised density's plus Σ log scale; the losses differ from those of standardised data by
that constant only, so training is the same.

It is done with forward hooks on the two networks, so their parameters and the state_dict keep
their names; shift and scale are non-persistent buffers (they follow `.to(device)`, and are not in
the state_dict). A checkpoint stores them as plain lists in the module's hyperparameters
(`AutoencoderModule(standardization=...)`, from `TensorsDataModule.standardization`), so it loads
with `torch.load(weights_only=True)`. Continuous data only: the decoder must return a
`DiagonalGaussian`.
"""

from __future__ import annotations

import torch
from torch import nn

from mimkit.model.distributions import DiagonalGaussian


class Standardization(nn.Module):
    """x ↦ (x − shift) / scale, per feature (the last dimension)."""

    shift: torch.Tensor  # buffers
    scale: torch.Tensor

    def __init__(self, shift, scale):
        super().__init__()
        shift = torch.as_tensor(shift, dtype=torch.float32)
        scale = torch.as_tensor(scale, dtype=torch.float32)
        if shift.shape != scale.shape or shift.dim() != 1:
            raise ValueError(
                f"shift and scale must be vectors of one size, got {list(shift.shape)} and "
                f"{list(scale.shape)}"
            )
        if not bool((scale > 0).all()) or not bool(torch.isfinite(shift).all() & torch.isfinite(scale).all()):
            raise ValueError("scale must be positive and finite, shift finite")
        self.register_buffer("shift", shift, persistent=False)
        self.register_buffer("scale", scale, persistent=False)

    @classmethod
    def from_plain(cls, stored: dict | None) -> Standardization | None:
        """From {"shift": [...], "scale": [...]} (a checkpoint's hyperparameters), or None."""
        return None if stored is None else cls(stored["shift"], stored["scale"])

    def to_plain(self) -> dict[str, list[float]]:
        return {"shift": self.shift.tolist(), "scale": self.scale.tolist()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift

    def attach(self, encoder: nn.Module, decoder: nn.Module) -> None:
        """Standardise the encoder's input; map the decoder's Gaussian back to the data's units."""
        encoder.register_forward_pre_hook(self._encoder_input)
        decoder.register_forward_hook(self._decoder_output)

    def _encoder_input(self, module: nn.Module, args: tuple) -> tuple:
        return (self(args[0]), *args[1:])

    def _decoder_output(self, module: nn.Module, args: tuple, output) -> DiagonalGaussian:
        if not isinstance(output, DiagonalGaussian):
            raise TypeError(
                f"standardised data need a Gaussian decoder (a DiagonalGaussian), got a "
                f"{type(output).__name__}: binary data are never standardised"
            )
        return DiagonalGaussian(
            output.mean * self.scale + self.shift, output.std * self.scale, output.event_dims
        )

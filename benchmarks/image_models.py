"""The image models of the benchmarks (spec §5): convHVAE and PixelHVAE with a VampPrior of
K = 500 pseudo-inputs, z1 = z2 = 40, 1×28×28 binary images (plain config dicts, no Lightning)."""

from __future__ import annotations

from pathlib import Path

X_SHAPE = [1, 28, 28]
PRIOR = {
    "_target_": "mimkit.priors.vamp.VampPrior",
    "pseudo_inputs": 500,
    "activation": "hardtanh",
    "init_mean": 0.05,
    "init_std": 0.01,
}


def model_config(name: str) -> dict:
    two_level = {
        "z1_dim": 40,
        "z2_dim": 40,
        "encoder": {"_target_": "mimkit.nets.conv_encoder.TwoLevelConvEncoder", "x_shape": X_SHAPE},
        "conditional_prior": {"_target_": "mimkit.nets.heads.GatedGaussianMLP", "in_dim": 40, "out_dim": 40},
    }
    decoder = {
        "convhvae": "mimkit.nets.conv_decoder.ConvDecoder",
        "pixelhvae": "mimkit.nets.pixel_decoder.PixelDecoder",
    }[name]
    return {**two_level, "eval_recon": False, "decoder": {"_target_": decoder, "x_shape": X_SHAPE}}


# the public VampPrior code, timed by ../shared/tools/ref_vampprior_bench.py (its docstring says how
# to extract and patch a snapshot outside the repository)
REF_TOOL = Path(__file__).resolve().parents[2] / "shared" / "tools" / "ref_vampprior_bench.py"
REF_NAMES = {"convhvae": "convHVAE_2level", "pixelhvae": "PixelHVAE_2level"}

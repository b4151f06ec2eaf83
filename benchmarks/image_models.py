"""The image models of the benchmarks (docs/maths.md §5): convHVAE and PixelHVAE with a VampPrior of
K = 500 pseudo-inputs, z1 = z2 = 40, 1×28×28 binary images (plain config dicts, no Lightning)."""

from __future__ import annotations

X_SHAPE = [1, 28, 28]
PRIOR = {
    "_target_": "mimkit.model.priors.vamp.VampPrior",
    "pseudo_inputs": 500,
    "activation": "hardtanh",
    "init_mean": 0.05,
    "init_std": 0.01,
}
# the networks' sizes: z1 = z2 = z_dim, the gated dense layers' width, the decoders' channels and
# PixelHVAE's masked convolutions (the modules' defaults)
SIZES = {"z_dim": 40, "hidden": 300, "channels": 64, "layers": 8}


def shrink() -> None:
    """Tiny images, VampPrior and networks in place of the above, for every importer (`--tiny` of
    the image benchmarks: a smoke test of the script in seconds, tests/test_benchmarks_smoke.py;
    its figures mean nothing)."""
    X_SHAPE[:] = [1, 4, 4]
    PRIOR["pseudo_inputs"] = 5
    SIZES.update(z_dim=3, hidden=8, channels=4, layers=2)


def latent_dim() -> int:
    """z1 + z2."""
    return 2 * SIZES["z_dim"]


def model_config(name: str) -> dict:
    z, hidden = SIZES["z_dim"], SIZES["hidden"]
    two_level = {
        "z1_dim": z,
        "z2_dim": z,
        "encoder": {
            "_target_": "mimkit.model.nets.conv_encoder.TwoLevelConvEncoder",
            "x_shape": X_SHAPE,
            "z1_dim": z,
            "z2_dim": z,
            "hidden": hidden,
        },
        "conditional_prior": {
            "_target_": "mimkit.model.nets.heads.GatedGaussianMLP",
            "in_dim": z,
            "out_dim": z,
            "hidden": hidden,
        },
    }
    decoder = {
        "_target_": {
            "convhvae": "mimkit.model.nets.conv_decoder.ConvDecoder",
            "pixelhvae": "mimkit.model.nets.pixel_decoder.PixelDecoder",
        }[name],
        "x_shape": X_SHAPE,
        "z1_dim": z,
        "z2_dim": z,
        "channels": SIZES["channels"],
    }
    decoder.update({"hidden": hidden} if name == "convhvae" else {"layers": SIZES["layers"]})
    return {**two_level, "eval_recon": False, "decoder": decoder}

"""The latent tools of a trained model: `python src/latent.py ckpt_path=PATH tool=interpolate`
(interpolate | traverse | sample_around | consistency; writes <tool>.npz, and <tool>.png for
image data, into the run dir; see mimkit.app.latent)."""

from mimkit.app.entry import latent

if __name__ == "__main__":
    latent()

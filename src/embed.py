"""Embed a data split with a trained model: `python src/embed.py ckpt_path=PATH split=test`
(writes embeddings.npz into the run dir; see mimkit.app.embeddings)."""

from mimkit.app.entry import embed

if __name__ == "__main__":
    embed()

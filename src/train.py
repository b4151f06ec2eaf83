"""Train a MIM / A-MIM / VAE model: `python src/train.py [overrides]` (see README)."""

from mimkit.app.entry import train

if __name__ == "__main__":
    train()

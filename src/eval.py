"""Re-evaluate a checkpoint: `python src/eval.py ckpt_path=PATH` (writes metrics.json)."""

from mimkit.app.entry import evaluate

if __name__ == "__main__":
    evaluate()

"""How noisy is symmetric MIM's decoder gradient on binary images? (docs/decisions/mim-binary-images.md)

    .venv/bin/python -m benchmarks.studies.reinforce_variance CKPT [--repeats 12] [--x-per-z 1,2,4] \
        [--out outputs/bench/reinforce_variance.json]

For a trained image model (any checkpoint written by src/train.py), draws `--repeats` independent
batches of decoder pairs (batch 100, β = 1, the checkpoint's own MIM settings except x_per_z) and
takes the gradient of their loss with respect to the decoder's parameters, which reaches the loss
only through the REINFORCE term (x ~ p(x|z) is not reparameterisable). Reported per x_per_z:
- mean pairwise cosine between independent estimates: 0 when noise swamps the signal, 1 when
  every batch agrees on the direction (the quantity that matters under per-tensor gradient
  normalisation and Adam, which keep the step size and follow the direction);
- seconds per estimate.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from benchmarks.common import timed, write_results
from mimkit.model.objectives.mim import MIM
from mimkit.training.checkpoint_io import load_module

BATCH = 100


def decoder_gradients(model, objective: MIM, repeats: int) -> torch.Tensor:
    rows = []
    for r in range(repeats):
        torch.manual_seed(1000 + r)
        model.zero_grad(set_to_none=True)
        like = next(model.parameters())
        objective.decoder_pairs(model, BATCH, like, 1.0).mean().backward()
        rows.append(torch.cat([p.grad.flatten() for p in model.decoder.parameters() if p.grad is not None]))
    return torch.stack(rows)


def mean_pairwise_cosine(g: torch.Tensor) -> float:
    cos = torch.nn.functional.cosine_similarity(g[:, None], g[None], dim=-1)
    return cos[~torch.eye(len(g), dtype=torch.bool)].mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ckpt", type=Path)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--x-per-z", default="1,2,4")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    module = load_module(str(args.ckpt))
    model = module.model.train()
    settings = dict(module.hparams["objective"])
    settings.pop("_target_", None)
    settings["symmetric"] = True
    results = {"ckpt": str(args.ckpt), "batch": BATCH, "repeats": args.repeats}
    print(f"decoder gradient of {BATCH} decoder pairs, {args.repeats} independent estimates")
    for m in (int(v) for v in args.x_per_z.split(",")):
        objective = MIM(**{**settings, "x_per_z": m})
        elapsed, g = timed(lambda objective=objective: decoder_gradients(model, objective, args.repeats))
        seconds = elapsed / args.repeats
        results[f"x_per_z={m}"] = {"mean_pairwise_cosine": mean_pairwise_cosine(g), "s_per_estimate": seconds}
        print(
            f"  x_per_z {m}: mean pairwise cosine {results[f'x_per_z={m}']['mean_pairwise_cosine']:.3f}"
            f"  ({seconds:.1f} s per estimate)"
        )
    write_results(results, args.out)


if __name__ == "__main__":
    main()

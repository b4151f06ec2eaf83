"""Model latent priors p(z) (docs/maths.md §1). Each is an nn.Module with `log_prob(z)` and `sample(n)`.

All share one construction signature, `Prior(latent_dim, encoder=None, ...)`, so the model
builder can create any of them from a Hydra config group; only the VampPrior uses the encoder.
"""

"""Training objectives (docs/maths.md §2). Each is a callable `objective(model, x, beta) -> dict` whose
"loss" entry is the minibatch loss to minimise; other entries are diagnostics (batch means).
The per-pair losses are plain functions so they can be checked by hand."""

"""Lightning callbacks of training: β warm-up, warm-up-aware early stopping and model selection, RNG
state in checkpoints."""

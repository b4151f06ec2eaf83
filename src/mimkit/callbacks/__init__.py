"""Lightning callbacks: β warm-up, warm-up-aware early stopping, evaluation metrics."""

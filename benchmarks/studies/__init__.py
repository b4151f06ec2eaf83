"""One-off studies behind a figure of a decision or a result (not in `make bench`): each needs
something a benchmark run does not have, such as a trained checkpoint, and answers one question
once. Run from the repository root as `python -m benchmarks.studies.<name>`."""

"""`make bench`: each benchmark guards a figure of the docs (docs/performance.md, docs/gpu.md,
docs/operations.md) and runs as a module from the repository root, e.g.
`.venv/bin/python -m benchmarks.grid_time --out outputs/bench/grid_time.json`. `common` holds what
they share, `image_models` the image models they time; studies/ holds one-off studies that
`make bench` does not run."""

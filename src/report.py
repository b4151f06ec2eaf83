"""Summarise a Hydra multirun: `python src/report.py <multirun dir> [--out DIR] [--x KEY] [--group KEY]`.

Writes figure.png (the paper's Figs. 3-5 layout), results.md and results.json; see mimkit.evaluation.report.
"""

import sys

from mimkit.evaluation.report import main

if __name__ == "__main__":
    sys.exit(main())

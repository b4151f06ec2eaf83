"""Summarise a Hydra multirun: aggregate every job's metrics.json over seeds, plot, tabulate.

`python src/report.py <multirun dir>` writes, by default into the multirun dir itself:

- `figure.png`: a row of four panels shaped like the paper's Figs. 3-5 (MI, NLL, reconstruction
  error, 5-NN accuracy) against the swept value, one line per objective, mean with a ±std band;
- `results.md`: a markdown table of mean ± std per (objective, swept value);
- `results.json`: every aggregated metric (mean, std, n) per (objective, swept value);
- `fig2_grid.png`: the jobs' own fig2.png tiled like the paper's Fig. 2, where they drew one.

The swept x-axis key is inferred from the jobs' overrides: the numeric override that takes more
than one value, `seed` apart. Lines are grouped by `objective` (or `--group`); any other override
that varies between jobs is added to the line label, so that different settings are never
averaged together. Jobs without metrics.json (failed or still running) are skipped with a warning.

For the paper's Figs. 4–5 (`--paper fig4|fig5`, or by the jobs' experiment name), results.md and
results.json also give the values docs/maths.md §7 reads off the paper's plots, beside the metrics
(`paper_values`).

The pieces: `runs` (reading job dirs), `sweep` (what varies), `aggregate` (mean/std over seeds),
`tables` (results.md, results.json), `panels` and `fig2_grid` (the figures), `cli` (report, main).
"""

from mimkit.evaluation.report.cli import FIG2_NAME, FIGURE_NAME, JSON_NAME, TABLE_NAME, main, report

__all__ = ["FIG2_NAME", "FIGURE_NAME", "JSON_NAME", "TABLE_NAME", "main", "report"]

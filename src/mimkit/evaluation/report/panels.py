"""The paper's Figs. 3-5 layout: a row of panels (MI, NLL, reconstruction error, 5-NN accuracy)
against the swept value, one line per label, the mean with a ±std band. A mean far outside the
rest of its panel (one diverged seed) is drawn as an arrow at the edge with its value, so the
other points stay readable."""

from __future__ import annotations

import math
from pathlib import Path

from mimkit.evaluation.report.aggregate import Row
from mimkit.evaluation.report.messages import warn
from mimkit.evaluation.report.values import format_value, hashable, is_number, sort_key

# (title, metric candidates in order of preference, y label) of the paper's four panels
PANELS = (
    ("(a) MI", ("test/mi",), "KSG mutual information (nats)"),
    ("(b) NLL", ("test/nll", "test/nll_1s"), "test NLL (nats)"),
    ("(c) Recon. Error", ("test/recon",), "test reconstruction error"),
    ("(d) Classif. (5-NN)", ("test/knn5",), "5-NN accuracy"),
)

# the paper's colours: MIM blue, VAE red; further groups take the next colours of the cycle
GROUP_COLOURS = {"mim": "tab:blue", "vae": "tab:red", "amim": "tab:green"}
OTHER_COLOURS = ("tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")
LINE_STYLES = ("-", "--", ":", "-.")
DISPLAY_NAMES = {"mim": "MIM", "vae": "VAE", "amim": "A-MIM"}
FAR_OUT = 3.0  # a seed-dragged mean this many times the others' spread beyond them: at the edge


def colour(group: str, order: list[str]) -> str:
    """The group's paper colour, else the next of OTHER_COLOURS by its place among such groups."""
    if group.lower() in GROUP_COLOURS:
        return GROUP_COLOURS[group.lower()]
    others = [g for g in order if g.lower() not in GROUP_COLOURS]
    return OTHER_COLOURS[others.index(group) % len(OTHER_COLOURS)]


def display(label: str) -> str:
    """A line label for the figure, the objective written as in the paper (MIM, VAE, A-MIM)."""
    head, sep, rest = label.partition(", ")
    return DISPLAY_NAMES.get(head.lower(), head) + sep + rest


def panel_metric(rows: list[Row], candidates: tuple[str, ...]) -> str | None:
    """The first of `candidates` that some row has a value of, or None."""
    for name in candidates:
        if any(row.metrics.get(name, {}).get("n", 0) > 0 for row in rows):
            return name
    return None


def band(points: list[tuple[float, float]]) -> tuple[float, float]:
    """The lowest mean - std and the highest mean + std of (mean, std) points."""
    return min(m - s for m, s in points), max(m + s for m, s in points)


def clipped_limits(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Y-limits for a panel's (mean, std) points that leave out far-out means, or None (autoscale).

    The lowest or highest mean, whichever is farther out, is left out when it lies more than
    FAR_OUT times the band (mean ± std) of the other points beyond that band while its own band
    reaches back into theirs: a mean dragged away by a few diverged seeds, not a point that moved
    as a whole (a real trend keeps its place). This repeats while at least 3 points and three
    quarters of them remain. The limits span the kept band, padded 5%. Points that are not finite
    (a metric that came out NaN) take no part.
    """
    points = [(mean, std) for mean, std in points if math.isfinite(mean) and math.isfinite(std)]
    kept = sorted(points)
    while len(kept) > max(3, math.ceil(0.75 * len(points))):
        candidates = []
        for index in (0, len(kept) - 1):
            others = kept[:index] + kept[index + 1 :]
            low, high = band(others)
            mean, std = kept[index]
            beyond = max(low - mean, mean - high)
            if high > low and mean - std <= high and mean + std >= low:
                candidates.append((beyond / (high - low), index))
        ratio, index = max(candidates, default=(0.0, 0))
        if ratio <= FAR_OUT:
            break
        kept.pop(index)
    if len(kept) == len(points):
        return None
    low, high = band(kept)
    pad = 0.05 * (high - low)
    return low - pad, high + pad


def mark_off_axis(ax, limits: tuple[float, float], points: list[tuple[float, float, str]]) -> None:
    """An arrow at the panel's edge, labelled with the value, for each (x, mean, colour) point
    that `limits` leaves out."""
    low, high = limits
    for x, mean, point_colour in points:
        if low <= mean <= high:
            continue
        edge, marker, offset = (high, "^", -12) if mean > high else (low, "v", 12)
        ax.plot([x], [edge], marker=marker, ms=8, color=point_colour, clip_on=False)
        ax.annotate(
            f"{mean:.4g}",
            (x, edge),
            textcoords="offset points",
            xytext=(6, offset),
            fontsize="small",
            color=point_colour,
            va="center",
        )


def plot_rows(rows: list[Row], x_key: str | None, path: Path, title: str | None = None) -> Path | None:
    """The Figs. 3-5 style row of panels; panels whose metric no job has are left out.

    Returns None (and writes nothing) when none of the panel metrics is present.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(t, m, y) for t, cands, y in PANELS if (m := panel_metric(rows, cands))]
    if not panels:
        warn("none of the figure's metrics (mi, nll, recon, knn5) is in the jobs; no figure")
        return None
    groups = list(dict.fromkeys(row.group for row in rows))
    labels = list(dict.fromkeys(row.label for row in rows))
    numeric_x = x_key is not None and all(is_number(row.x) for row in rows)
    if numeric_x:
        ticks: list[str] = []  # not used: numbers are placed at their values
    elif x_key is not None:  # a categorical sweep: one tick per value, lines side by side
        ticks = [format_value(x) for x in sorted({hashable(r.x) for r in rows}, key=sort_key)]
    else:  # nothing swept: one tick per line
        ticks = labels

    def position(row: Row) -> float:
        if numeric_x:
            return row.x
        if x_key is None:
            return labels.index(row.label)
        spread = 0.3 * (labels.index(row.label) - (len(labels) - 1) / 2) / max(len(labels), 1)
        return ticks.index(format_value(row.x)) + spread

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (panel_title, metric, ylabel) in zip(axes[0], panels):
        styles: dict[str, int] = {}
        drawn: list[tuple[float, float, float, str]] = []  # (x, mean, std, colour) of every point
        for label in labels:
            line_rows = [r for r in rows if r.label == label and r.metrics.get(metric, {}).get("n", 0) > 0]
            if not line_rows:
                continue
            group = line_rows[0].group
            style = LINE_STYLES[styles.setdefault(group, 0) % len(LINE_STYLES)]
            styles[group] += 1
            line_colour = colour(group, groups)
            xs = [position(r) for r in line_rows]
            means = [r.metrics[metric]["mean"] for r in line_rows]
            stds = [r.metrics[metric]["std"] or 0.0 for r in line_rows]
            drawn += [(x, m, s, line_colour) for x, m, s in zip(xs, means, stds)]
            if numeric_x and len(xs) > 1:
                ax.plot(xs, means, style, marker="o", ms=4, color=line_colour, label=display(label))
                ax.fill_between(
                    xs,
                    [m - s for m, s in zip(means, stds)],
                    [m + s for m, s in zip(means, stds)],
                    color=line_colour,
                    alpha=0.2,
                    linewidth=0,
                )
            else:
                ax.errorbar(xs, means, yerr=stds, fmt="o", capsize=4, color=line_colour, label=display(label))
        if limits := clipped_limits([(m, s) for _, m, s, _ in drawn]):
            ax.set_ylim(*limits)
            mark_off_axis(ax, limits, [(x, m, c) for x, m, _, c in drawn])
        if numeric_x:
            xs_all = [r.x for r in rows]
            log_x = min(xs_all) > 0 and max(xs_all) > 10 * min(xs_all)
            if log_x:
                ax.set_xscale("log")
            distinct = sorted(set(xs_all))
            if len(distinct) <= 12:  # ticks at the swept values themselves (slanted: on a log
                ax.set_xticks(
                    distinct,
                    [format_value(x) for x in distinct],  # axis they crowd)
                    rotation=45 if log_x else 0,
                )
                ax.minorticks_off()
        else:
            shown = [display(t) for t in ticks] if x_key is None else ticks
            ax.set_xticks(range(len(ticks)), shown, rotation=20 if x_key is None else 0)
            ax.set_xlim(-0.5, len(ticks) - 0.5)
        if x_key:
            ax.set_xlabel(x_key)
        ax.set_title(panel_title)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

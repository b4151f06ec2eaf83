"""Writing a benchmark's results: one JSON file under outputs/bench/."""

from __future__ import annotations

import json
from pathlib import Path


def write_results(results: dict, out: Path | None) -> None:
    """`results` as indented JSON at `out` (folders created); nothing when `out` is None."""
    if out is None:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=list) + "\n")
    print(f"written to {out}")

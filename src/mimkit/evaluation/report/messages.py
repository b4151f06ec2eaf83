"""The report's warnings: one `warning: ...` line on stderr each, the run going on."""

import sys


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)

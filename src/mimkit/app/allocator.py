"""glibc malloc settings of the entry points: keep freed memory in the process.

Training and evaluation allocate and free tensors of the same few sizes over and over. By
default glibc serves each large one with a fresh mmap, unmaps it on free (zeroed pages and page
faults at every reuse) and trims the heap top back to the OS. `configure_allocator` turns both
off from inside the process through mallopt(3), the equivalent of MALLOC_MMAP_MAX_=0
MALLOC_TRIM_THRESHOLD_=100000000000, so `python src/train.py` and `make train` run alike; it is
the only place these settings are made (the Makefile exports none; the speed they buy:
docs/performance.md, "Reference measurements"). A setting the user chose (either variable, or the
matching GLIBC_TUNABLES entry) is left alone; on other platforms or C libraries nothing happens.
"""

from __future__ import annotations

import ctypes
import os
import sys

# mallopt(3) parameters of glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

# (environment variable, GLIBC_TUNABLES name, mallopt parameter, value); a trim threshold of -1
# disables trimming completely (mallopt(3)), as a threshold of 10^11 bytes does in practice
SETTINGS = (
    ("MALLOC_MMAP_MAX_", "glibc.malloc.mmap_max", M_MMAP_MAX, 0),
    ("MALLOC_TRIM_THRESHOLD_", "glibc.malloc.trim_threshold", M_TRIM_THRESHOLD, -1),
)


def _glibc_mallopt():
    """glibc's mallopt, or None when this process does not run on glibc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        mallopt = ctypes.CDLL(None).mallopt
    except (ValueError, OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt


def configure_allocator() -> dict[str, int]:
    """Apply the settings the user has not set; {variable: mallopt's return value (1 = applied)}."""
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return {}
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return {
        variable: mallopt(parameter, value)
        for variable, tunable, parameter, value in SETTINGS
        if variable not in os.environ and tunable not in tunables
    }

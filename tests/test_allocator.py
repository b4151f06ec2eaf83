"""mimkit.app.allocator: glibc's mallopt settings applied at start-up, the user's own left alone."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from mimkit.app import allocator

GLIBC = sys.platform.startswith("linux") and bool(os.confstr("CS_GNU_LIBC_VERSION") or "")
needs_glibc = pytest.mark.skipif(not GLIBC, reason="glibc only")

# a 64 MiB block, touched, then freed: does the process give its pages back?
PROBE = """
import ctypes, json, sys
sys.path.insert(0, {src!r})
from mimkit.app.allocator import configure_allocator
applied = configure_allocator() if {configure} else {{}}
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * 4096
block = libc.malloc(64 << 20)
ctypes.memset(block, 1, 64 << 20)
held = rss()
libc.free(block)
print(json.dumps({{"applied": applied, "returned_mib": (held - rss()) / 2**20}}))
"""


def probe(configure: bool, **env) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    code = PROBE.format(src=str(ROOT / "src"), configure=configure)
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


@needs_glibc
def test_freed_memory_stays_in_the_process():
    assert probe(configure=False)["returned_mib"] >= 60  # glibc's default: mmap, then munmap
    configured = probe(configure=True)
    assert configured["applied"] == {"MALLOC_MMAP_MAX_": 1, "MALLOC_TRIM_THRESHOLD_": 1}
    assert configured["returned_mib"] < 1


@needs_glibc
def test_user_settings_are_left_alone():
    assert probe(True, MALLOC_MMAP_MAX_="65536")["applied"] == {"MALLOC_TRIM_THRESHOLD_": 1}
    tunables = probe(True, GLIBC_TUNABLES="glibc.malloc.trim_threshold=1000")["applied"]
    assert tunables == {"MALLOC_MMAP_MAX_": 1}
    # the user's mmap setting wins: the block is mapped and returned
    assert probe(True, MALLOC_MMAP_MAX_="65536", MALLOC_MMAP_THRESHOLD_="131072")["returned_mib"] >= 60


def test_the_settings_are_made_in_one_place():
    # configure_allocator is the one mechanism: the Makefile exports no allocator variable
    makefile = (ROOT / "Makefile").read_text()
    assert not [line for line in makefile.splitlines() if "MALLOC_" in line and "export" in line]


def test_nothing_happens_off_linux(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert allocator.configure_allocator() == {}


def test_entry_points_configure_before_importing_torch():
    for script in ("train.py", "eval.py", "embed.py"):  # each script's first import is mimkit.app.entry
        text = (ROOT / "src" / script).read_text()
        assert text.index("from mimkit.app.entry import") < text.index("if __name__"), script
        assert "import torch" not in text and "import hydra" not in text, script
    entry = (ROOT / "src" / "mimkit" / "app" / "entry.py").read_text()
    assert entry.index("configure_allocator()") < entry.index("import hydra")
    # importing the package and the allocator module imports no torch
    code = "import sys, mimkit.app.allocator; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        check=True,
    )
    assert result.stdout.strip() == "False"

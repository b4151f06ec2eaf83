"""Reads back what an offline W&B run wrote: the records of its `run-<id>.wandb` file.

That file is a LevelDB-style log (W&B's own reader is not in the Python package any more): a
7-byte header (":W&B", magic 0xBEE1, version 0), then 32 KiB blocks of chunks, each a 7-byte
header (CRC32C, length uint16, type: 1 full, 2 first, 3 middle, 4 last) and its bytes, a block
ending in zero padding when fewer than 7 bytes are left. Each record is a protobuf `Record`.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32768
HEADER = 7


def records(path: Path):
    """The protobuf records of a .wandb file, in order."""
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a .wandb file"
    position, chunks = HEADER, []
    while position + HEADER <= len(data):
        left = BLOCK - position % BLOCK
        if left < HEADER:
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + HEADER])
        if kind == 0:  # zero padding to the end of the block
            position += left
            continue
        chunks.append(data[position + HEADER : position + HEADER + length])
        position += HEADER + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(chunks))
            chunks = []
            yield record


def _set(target: dict, keys: list[str], value) -> None:
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value


@dataclass
class OfflineRun:
    """What one offline run holds: its id, name, group, config, summary and files."""

    folder: Path
    id: str = ""
    name: str = ""
    group: str = ""
    job_type: str = ""
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def _items(update) -> list:
    return [(list(item.nested_key) or [item.key], json.loads(item.value_json)) for item in update]


def read_run(folder: Path) -> OfflineRun:
    """The offline run in `folder` (a wandb/offline-run-* directory)."""
    (path,) = Path(folder).glob("run-*.wandb")
    run = OfflineRun(Path(folder))
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.id, run.name, run.group = record.run.run_id, record.run.display_name, record.run.run_group
            run.job_type = record.run.job_type
            for keys, value in _items(record.run.config.update):
                _set(run.config, keys, value)
        elif kind == "config":
            for keys, value in _items(record.config.update):
                _set(run.config, keys, value)
        elif kind == "summary":
            for keys, value in _items(record.summary.update):
                _set(run.summary, keys, value)
        elif kind == "files":
            run.files += [item.path for item in record.files.files]
    return run

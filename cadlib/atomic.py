"""Files written whole or not at all: to a temporary name in the same folder, then renamed.

A killed process never leaves a half-written file behind that a re-run would trust. Every writer
of a file that a later step reads goes through here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

NAME_MAX = 255
"""Bytes in one file name on Linux file systems (ext4, xfs, tmpfs)."""


def temp_name(name: str) -> str:
    """The temporary name beside `name`: `.<name>.<pid>.tmp`, or, where that would pass `NAME_MAX`
    (a 240-character file name), `.<hash of name>.<pid>.tmp`."""
    tmp = f".{name}.{os.getpid()}.tmp"
    if len(os.fsencode(tmp)) <= NAME_MAX:
        return tmp
    return f".{hashlib.sha256(os.fsencode(name)).hexdigest()[:32]}.{os.getpid()}.tmp"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path in `path`'s folder to write to; renamed onto `path` when the block ends
    without an exception, removed when it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(temp_name(path.name))
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        if exc.filename is None:  # a write that failed (a full disk) names no file by itself
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Writes `data` to `path` through a temporary file in the same folder and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any, *, indent: int | None = 1) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False, sort_keys=False) + "\n")

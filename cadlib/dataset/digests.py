"""Content digests of what a build writes, so that a later build reuses only what it can verify.

A file's modification time says when it was written, not what it holds: an image truncated by a
full disk, or replaced by a copy with its time kept, passed every check of a re-run that looked at
times and existence, and went into the next dataset. Each image, source text and final file is now
recorded with its size and SHA-256 when it is written, and a re-run reuses it only where both still
match; anything else is made again. Hashing reads the file once (a view image is a few KB, a split
file at most a few hundred MB): far cheaper than remaking it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

_CHUNK = 1 << 20


def file_digest(path: str | Path) -> str:
    """'<size>:<sha256>' of the file's bytes.

    Raises:
        OSError: the file cannot be read.
    """
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return f"{size}:{h.hexdigest()}"


def bytes_digest(data: bytes) -> str:
    """`file_digest` of a file that holds `data`, without reading it back."""
    return f"{len(data)}:{hashlib.sha256(data).hexdigest()}"


def matches(path: str | Path, digest: str | None) -> bool:
    """True when the file exists and holds what `digest` recorded (the size is compared first, so a
    truncated file costs no hashing); False for a missing digest."""
    if not digest:
        return False
    size, _, _ = digest.partition(":")
    try:
        if Path(path).stat().st_size != int(size):
            return False
        return file_digest(path) == digest
    except (OSError, ValueError):
        return False


def digests(paths: Iterable[Path]) -> dict[str, str]:
    """name -> digest for files just written (keyed by file name, as reports list them)."""
    return {p.name: file_digest(p) for p in paths}


def all_match(folder: Path, names: Iterable[str], recorded: dict[str, str] | None) -> bool:
    """Every named file in `folder` holds what `recorded` says it held when written."""
    recorded = recorded or {}
    return all(matches(folder / name, recorded.get(name)) for name in names)


def sha256_matches(path: str | Path, sha256_prefix: str) -> bool:
    """True when the file's SHA-256 starts with `sha256_prefix`: a whole hash (a source file's, as the
    manifest records it) or a model's signature (the hash of its sequence text, shortened)."""
    try:
        return bool(sha256_prefix) and hashlib.sha256(Path(path).read_bytes()).hexdigest().startswith(sha256_prefix)
    except OSError:
        return False

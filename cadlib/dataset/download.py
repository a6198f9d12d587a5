"""Downloading a dataset archive: resumable (HTTP Range), checksummed, unpacked safely."""

from __future__ import annotations

import hashlib
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from cadlib.errors import CadlibError

CHUNK = 1 << 20


class DownloadError(CadlibError):
    """A download failed or its checksum did not match."""


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Downloads `url` to `dest`, resuming a partial `<dest>.part` left by an earlier attempt.

    The file appears under `dest` only once complete and (when `sha256` is given) verified; a
    finished download is not fetched again. `progress(bytes_done, bytes_total)` is called as it
    goes. Raises `DownloadError` (naming the URL) on HTTP errors and checksum mismatches.
    """
    dest = Path(dest)
    if dest.is_file():
        if sha256 and sha256_file(dest) != sha256.lower():
            raise DownloadError(f"checksum mismatch of the existing file (expected {sha256}); delete it to fetch again",
                                source=str(dest))
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    total: int | None = None
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            if have and resp.status != 206:
                have = 0  # the server ignored the range: start over
            length = resp.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            with open(part, "ab" if have else "wb") as fh:
                done = have
                while block := resp.read(CHUNK):
                    fh.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the range starts at the end: the part is complete
            pass
        else:
            raise DownloadError(f"HTTP {exc.code} {exc.reason}", source=url) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise DownloadError(f"download interrupted after {part.stat().st_size if part.exists() else 0} bytes "
                            f"({getattr(exc, 'reason', exc)}); run again to resume", source=url) from None
    if total is not None and part.stat().st_size < total:
        raise DownloadError(f"download incomplete ({part.stat().st_size} of {total} bytes); run again to resume",
                            source=url)
    if sha256:
        got = sha256_file(part)
        if got != sha256.lower():
            part.unlink()
            raise DownloadError(f"checksum mismatch: expected {sha256}, got {got}", source=url)
    part.replace(dest)
    return dest


def unpack(archive: str | Path, out_dir: str | Path) -> Path:
    """Unpacks a tar archive (any compression) into `out_dir`, refusing members that would land
    outside it; a `.done` marker makes a finished unpack idempotent."""
    archive, out_dir = Path(archive), Path(out_dir)
    marker = out_dir / f".{archive.name}.done"
    if marker.is_file():
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(out_dir, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise DownloadError(f"cannot unpack ({exc})", source=str(archive)) from None
    marker.touch()
    return out_dir


def fetch_deepcad(root: str | Path, url: str, *, sha256: str | None = None,
                  progress: Callable[[int, int | None], None] | None = None) -> Path:
    """Downloads (resuming) and unpacks the DeepCAD archive under `root`; returns `root`."""
    root = Path(root)
    archive = download(url, root / Path(url.split("?")[0]).name, sha256=sha256, progress=progress)
    unpack(archive, root)
    return root

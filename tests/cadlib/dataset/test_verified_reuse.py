"""Extract reuses a model's description only while its file and its sequence text hold the bytes
they held: an edit that keeps the file's size and modification time is seen; so is a tampered text.
Digests of written files: a truncation or a one-byte change is not a match."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cadlib.dataset.digests import all_match, digests, file_digest, matches, sha256_matches
from cadlib.dataset.extract import DescribeJob, describe_items
from cadlib.dataset.manifest import ModelKind
from cadlib.dataset.sources import SourceItem


def _edit_keeping_time(path: Path, data: bytes) -> None:
    st = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_an_edit_that_keeps_size_and_time_is_described_again(tmp_path):
    model = tmp_path / "a.txt"
    model.write_bytes(b"bits 8\nsketch 1\n")
    texts = tmp_path / "sources"
    texts.mkdir()
    described: list[str] = []

    def describe(jobs: list[DescribeJob]):
        for job in jobs:
            data = Path(job.path).read_bytes()
            text = data.decode().upper()
            Path(job.text_path).write_text(text)
            described.append(text)
            st = Path(job.path).stat()
            yield job, {"sha256": hashlib.sha256(data).hexdigest(), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                        "format": "text", "kind": ModelKind.SEQUENCE.value,
                        "signature": "seq:" + hashlib.sha256(text.encode()).hexdigest()[:32]}, "", ""

    def job_for(item: SourceItem) -> DescribeJob:
        return DescribeJob(item.id, str(item.path), str(texts / f"{item.id}.txt"), 8, 10.0)

    def text_intact(old) -> bool:
        return sha256_matches(texts / f"{old.id}.txt", old.signature.removeprefix("seq:"))

    items = [SourceItem("a", model, "a.txt")]
    stats: dict[str, list[int]] = {}
    first = describe_items(items, describe, job_for, {}, stats, text_intact)
    again = describe_items(items, describe, job_for, first, stats, text_intact)
    assert len(described) == 1 and again["a"].sha256 == first["a"].sha256  # reused

    _edit_keeping_time(model, b"bits 8\nsketch 2\n")  # same size, same time, other bytes
    edited = describe_items(items, describe, job_for, again, stats, text_intact)
    assert len(described) == 2 and edited["a"].sha256 != first["a"].sha256

    _edit_keeping_time(texts / "a.txt", b"BITS 8\nSKETCH 9\n")  # the written text tampered with
    repaired = describe_items(items, describe, job_for, edited, stats, text_intact)
    assert len(described) == 3 and (texts / "a.txt").read_text() == "BITS 8\nSKETCH 2\n"
    assert repaired["a"] == edited["a"]


def test_a_digest_matches_only_the_bytes_it_was_made_of(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(b"\x89PNG" + bytes(range(200)))
    d = file_digest(path)
    assert matches(path, d) and all_match(tmp_path, ["x.png"], digests([path]))
    _edit_keeping_time(path, path.read_bytes()[:100])
    assert not matches(path, d)
    path.write_bytes(b"\x89PNG" + bytes(range(200)))
    assert matches(path, d)
    data = bytearray(path.read_bytes())
    data[50] ^= 1
    _edit_keeping_time(path, bytes(data))
    assert not matches(path, d)
    assert not matches(tmp_path / "missing.png", d) and not matches(path, None) and not matches(path, "garbage")
    assert not all_match(tmp_path, ["x.png"], None)

"""A re-run repairs what it cannot verify: every kind of file a build writes, truncated or replaced
with its modification time kept, is made again, byte for byte; a broken manifest is rebuilt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cadlib.synth import write_synthetic
from flows.build_dataset import run_build
from tests.flows.conftest import tiny_yaml, tree_hashes

pytestmark = pytest.mark.usefixtures("prefect_server")


def _keep_time(path: Path, data: bytes) -> None:
    st = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def truncate(path: Path) -> None:
    _keep_time(path, path.read_bytes()[: path.stat().st_size // 2])


def replace(path: Path) -> None:
    """The same size and time, one byte different (what no size or time check can see)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    _keep_time(path, bytes(data))


@pytest.mark.slow
def test_every_corrupted_output_is_redone_byte_identically(tmp_path):
    src = tmp_path / "models"
    write_synthetic(src, 12, seed=5)
    preset = str(tiny_yaml(tmp_path / "files.yaml", tmp_path / "data", source="files", path=str(src)))
    run_build(preset)
    root = tmp_path / "data" / "datasets" / "files"
    good = tree_hashes(root)
    image = sorted((root / "images").glob("*.png"))[3]
    text = sorted((root / "sources").glob("*.txt"))[2]
    cases = [(fn, root / name) for name in ("train.json", "train.jsonl", "train.parquet", "validation.json",
                                            "README.md", "cadrecon.json")
             for fn in (truncate, replace)]
    cases += [(truncate, image), (replace, image), (replace, text), (truncate, text),
              (truncate, root / "manifest.jsonl")]
    # a later stage's report alone: the flow hands the redone task the earlier stage's report from disk
    cases += [(truncate, root / "shards" / "convert-00000.json"), (truncate, root / "shards" / "validate-00000.json")]
    for corrupt, path in cases:
        what = f"{path.relative_to(root)} {corrupt.__name__}d"
        corrupt(path)
        assert tree_hashes(root) != good, what
        run_build(preset)
        changed = sorted(k for k in good if tree_hashes(root).get(k) != good[k])
        assert changed == [], f"{what}: still differs after a re-run: {changed}"

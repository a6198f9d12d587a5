"""Helpers of the flow tests (the Prefect server fixture is in tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path


def tiny_yaml(yaml_path: Path, data_dir: Path, **dataset) -> Path:
    """A small preset: a dozen models, shards of 4, 64 px line drawings of 3 views, a sample per
    view (the tile default is tested by the demo), 16-bit text (at 16 bits no
    synthetic model is dropped for a quantisation topology change, so the counts are exact; the
    8-bit drops are tested in tests/cadlib/dataset and by the demo)."""
    cfg = {
        "preset": yaml_path.stem,
        "data_dir": str(data_dir),
        "dataset": {"source": "synthetic", "shard_size": 4, "train_size": 8, "val_size": 2, "test_size": 2,
                    "workers": 2, "layout": "per_view", **dataset},
        "render": {"size": 64, "style": "lines", "views": ["front", "top", "right"]},
        "sequence": {"bits": 16},
    }
    yaml_path.write_text(json.dumps(cfg))  # JSON is YAML
    return yaml_path


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file of a dataset, orchestration state (.cache) aside."""
    import hashlib

    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".cache" not in p.relative_to(root).parts}

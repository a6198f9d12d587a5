"""Writing the split files: LLaVA/TinyLLaVA JSON, messages JSONL, Parquet (all atomic).

- ``<split>.json``: ``[{"id", "image", "conversations": [{"from": "human", "value": "<image>\\n..."},
  {"from": "gpt", "value": target}]}]`` (LLaVA, TinyLLaVA, LLaVA-NeXT loaders).
- ``<split>.jsonl``: ``{"messages": [{"role": "user", ...}, {"role": "assistant", ...}],
  "images": [path]}`` per line (LLaMA-Factory sharegpt/"messages", TRL, ms-swift).
- ``<split>.parquet``: one row per sample with both shapes plus id, model id, view, target and
  token count, for ``datasets.load_dataset("parquet", data_files=...)``.

Image paths are relative to the dataset folder.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from cadlib.dataset.layout import (
    DatasetLayout,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)


def llava_record(s: dict) -> dict:
    return {
        "id": s["id"],
        "image": s["image"],
        "conversations": [{"from": "human", "value": s["prompt"]}, {"from": "gpt", "value": s["target"]}],
    }


def messages_record(s: dict) -> dict:
    return {
        "id": s["id"],
        "messages": [{"role": "user", "content": s["prompt"]}, {"role": "assistant", "content": s["target"]}],
        "images": [s["image"]],
    }


def write_parquet(path: Path, samples: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    msg = pa.struct([("role", pa.string()), ("content", pa.string())])
    conv = pa.struct([("from", pa.string()), ("value", pa.string())])
    schema = pa.schema([
        ("id", pa.string()), ("model_id", pa.string()), ("split", pa.string()), ("view", pa.string()),
        ("image", pa.string()), ("images", pa.list_(pa.string())), ("prompt", pa.string()),
        ("target", pa.string()), ("tokens", pa.int32()),
        ("conversations", pa.list_(conv)), ("messages", pa.list_(msg)),
    ])
    cols = {name: [] for name in schema.names}
    for s in samples:
        for k in ("id", "model_id", "split", "view", "image", "prompt", "target", "tokens"):
            cols[k].append(s[k])
        cols["images"].append([s["image"]])
        cols["conversations"].append(llava_record(s)["conversations"])
        cols["messages"].append(messages_record(s)["messages"])
    table = pa.table(cols, schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return write_bytes_atomic(path, buf.getvalue())


def write_split(layout: DatasetLayout, split: str, samples: list[dict]) -> list[Path]:
    """The three files of one split, samples in the given order."""
    return [
        write_json_atomic(layout.split_file(split, "json"), [llava_record(s) for s in samples]),
        write_text_atomic(layout.split_file(split, "jsonl"),
                          "".join(json.dumps(messages_record(s), ensure_ascii=False) + "\n" for s in samples)),
        write_parquet(layout.split_file(split, "parquet"), samples),
    ]

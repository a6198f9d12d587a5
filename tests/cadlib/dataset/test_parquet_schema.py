"""The Parquet columns spelled without `datasets` are what `datasets.Features` makes of them."""

from __future__ import annotations

import json
import subprocess
import sys

import datasets
from datasets import Features, Image, List, Value

from cadlib.dataset.parquet_schema import FEATURES, arrow_schema, card_features


def _reference() -> Features:
    text = Value("string")
    return Features({
        "id": text, "model_id": text, "split": text, "view": text,
        "image": Image(), "image_path": text,
        "messages": List({"role": text, "content": List({"type": text, "text": text})}),
        "conversations": List({"from": text, "value": text}),
        "prompt": text, "target": text, "tokens": Value("int32"),
    })


def test_the_three_spellings_are_datasets_own():
    ref = _reference()
    assert ref.to_dict() == FEATURES
    assert arrow_schema().equals(ref.arrow_schema, check_metadata=True)
    assert card_features() == ref._to_yaml_list()
    assert Features.from_arrow_schema(arrow_schema()) == ref


def test_the_metadata_decodes_images_as_datasets_does(tmp_path):
    """A file written with the schema loads through `datasets` with `image` as PIL images."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.new("L", (8, 8), 200).save(buf, format="PNG")
    row = {"id": "a", "model_id": "m", "split": "train", "view": "front",
           "image": {"bytes": buf.getvalue(), "path": "images/a.png"}, "image_path": "images/a.png",
           "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
           "conversations": [{"from": "human", "value": "hi"}], "prompt": "p", "target": "t", "tokens": 3}
    pq.write_table(pa.Table.from_pylist([row], schema=arrow_schema()), tmp_path / "x.parquet")
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "x.parquet"), split="train")
    assert ds.features == _reference()
    assert ds[0]["image"].size == (8, 8)


def _sample(i: int, image: str) -> dict:
    return {"id": f"m{i:03d}_tile", "model_id": f"m{i:03d}", "split": "train", "view": "tile", "image": image,
            "prompt": "Give its CAD construction sequence.", "target": f"bits 8\nline {i} 0\n", "tokens": 7 + i}


def test_split_parquet_is_what_from_pylist_writes_in_byte_capped_groups(tmp_path, monkeypatch):
    """Rows built from buffers equal `pa.Table.from_pylist`'s (nulls included: the image block's
    text), groups close at the byte cap, and `datasets` reads every row back."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image as PILImage

    from cadlib.dataset import writers
    from cadlib.dataset.parquet_schema import to_table

    (tmp_path / "images").mkdir()
    samples = []
    for i in range(7):
        PILImage.effect_noise((64, 64), 40 + i).save(tmp_path / "images" / f"m{i}.png")
        samples.append(_sample(i, f"images/m{i}.png"))
    rows = [writers._parquet_row(tmp_path, s) for s in samples]
    assert to_table(rows).equals(pa.Table.from_pylist(rows, schema=arrow_schema()))
    monkeypatch.setattr(writers, "GROUP_IMAGE_BYTES", 2 * len(rows[0]["image"]["bytes"]))
    path = writers.write_parquet(tmp_path / "train.parquet", tmp_path, samples)
    meta = pq.ParquetFile(path).metadata
    assert meta.num_rows == 7 and meta.num_row_groups >= 3
    ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
    assert [r["target"] for r in ds] == [s["target"] for s in samples]
    assert ds[3]["image"].tobytes() == PILImage.open(tmp_path / "images" / "m3.png").tobytes()
    assert ds[0]["messages"][0]["content"][0] == {"type": "image", "text": None}


def test_writing_a_split_imports_neither_datasets_nor_pandas(tmp_path):
    """Both cost the build process memory at finalize (80 and 52 MB) for nothing it needs."""
    from PIL import Image as PILImage

    PILImage.new("L", (16, 16), 255).save(tmp_path / "a.png")
    sample = json.dumps(_sample(0, "a.png"))
    code = ("import json, sys; from pathlib import Path; from cadlib.dataset import writers, report; "
            f"root = Path({str(tmp_path)!r}); writers.write_parquet(root / 'x.parquet', root, [json.loads({sample!r})]); "
            "report.card_features(); print(sorted(m for m in ('datasets', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

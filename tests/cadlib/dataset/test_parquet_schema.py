"""The Parquet columns spelled without `datasets` are what `datasets.Features` makes of them."""

from __future__ import annotations

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
    assert FEATURES == ref.to_dict()
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


def test_writing_a_split_does_not_import_datasets():
    code = ("import sys; from cadlib.dataset import writers, report; "
            "writers.arrow_schema(); report.card_features(); print('datasets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

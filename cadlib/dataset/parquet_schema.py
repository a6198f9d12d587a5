"""The columns of a split's Parquet file, in the three spellings readers need: Hugging Face's
features (the schema metadata `load_dataset` decodes ``image`` with), the Arrow schema, and the
card's ``dataset_info`` YAML list.

One literal, `FEATURES`, written as `datasets.Features.to_dict()` writes it; the other two are
derived here with pyarrow alone. The build process does not import `datasets` for this: at
finalize that import alone cost 80 MB of resident memory (measured on a 3,310-sample split), for
three names. `tests/cadlib/dataset/test_parquet_schema.py` holds all three equal to what
`datasets.Features` makes of the same columns.
"""

from __future__ import annotations

import json
from typing import Any

_TEXT = {"dtype": "string", "_type": "Value"}


def _list_of(**fields: Any) -> dict[str, Any]:
    return {"feature": fields, "_type": "List"}


FEATURES: dict[str, Any] = {
    "id": _TEXT, "model_id": _TEXT, "split": _TEXT, "view": _TEXT,
    "image": {"_type": "Image"},
    "image_path": _TEXT,
    "messages": _list_of(role=_TEXT, content=_list_of(type=_TEXT, text=_TEXT)),
    "conversations": _list_of(**{"from": _TEXT, "value": _TEXT}),
    "prompt": _TEXT, "target": _TEXT,
    "tokens": {"dtype": "int32", "_type": "Value"},
}
"""Every column of a split's Parquet file, as `datasets.Features.to_dict()` spells it."""


def _arrow_type(spec: dict[str, Any]):
    import pyarrow as pa

    kind = spec["_type"]
    if kind == "Value":
        return pa.type_for_alias(spec["dtype"])
    if kind == "Image":  # what datasets.Image() stores: the encoded bytes and the path
        return pa.struct({"bytes": pa.binary(), "path": pa.string()})
    if kind == "List":
        return pa.list_(pa.struct({name: _arrow_type(sub) for name, sub in spec["feature"].items()}))
    raise ValueError(f"no Arrow type for feature kind {kind!r}")


def arrow_schema():
    """The Parquet file's Arrow schema, with the features in its ``huggingface`` metadata."""
    import pyarrow as pa

    schema = pa.schema({name: _arrow_type(spec) for name, spec in FEATURES.items()})
    return schema.with_metadata({"huggingface": json.dumps({"info": {"features": FEATURES}})})


def _yaml_entry(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    kind = spec["_type"]
    if kind == "Value":
        return {"name": name, "dtype": spec["dtype"]}
    if kind == "Image":
        return {"name": name, "dtype": "image"}
    if kind == "List":
        return {"name": name, "list": [_yaml_entry(n, s) for n, s in spec["feature"].items()]}
    raise ValueError(f"no card entry for feature kind {kind!r}")


def card_features() -> list[dict[str, Any]]:
    """The features as a dataset card's ``dataset_info.features`` lists them."""
    return [_yaml_entry(name, spec) for name, spec in FEATURES.items()]

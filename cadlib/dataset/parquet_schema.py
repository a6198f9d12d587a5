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
from functools import cache
from typing import Any, NotRequired, TypedDict


class CardFeature(TypedDict):
    """One column in a card's ``dataset_info.features``: a value type, or a list of sub-columns."""

    name: str
    dtype: NotRequired[str]
    list: NotRequired[list[CardFeature]]


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


@cache
def arrow_schema():
    """The Parquet file's Arrow schema, with the features in its ``huggingface`` metadata (derived
    once a process: the writer and every row group's table use it)."""
    import pyarrow as pa

    schema = pa.schema({name: _arrow_type(spec) for name, spec in FEATURES.items()})
    return schema.with_metadata({"huggingface": json.dumps({"info": {"features": FEATURES}})})


def _yaml_entry(name: str, spec: dict[str, Any]) -> CardFeature:
    kind = spec["_type"]
    if kind == "Value":
        return {"name": name, "dtype": spec["dtype"]}
    if kind == "Image":
        return {"name": name, "dtype": "image"}
    if kind == "List":
        return {"name": name, "list": [_yaml_entry(n, s) for n, s in spec["feature"].items()]}
    raise ValueError(f"no card entry for feature kind {kind!r}")


def card_features() -> list[CardFeature]:
    """The features as a dataset card's ``dataset_info.features`` lists them."""
    return [_yaml_entry(name, spec) for name, spec in FEATURES.items()]


def to_table(rows: list[dict[str, Any]]):
    """An Arrow table of `rows` (dicts keyed by column) under `arrow_schema()`: what
    `pa.Table.from_pylist(rows, schema=...)` makes, built from buffers instead, because
    `from_pylist` and `pa.array(list)` import pandas on first use (52 MB of resident memory, in
    a build process that never needs pandas)."""
    import pyarrow as pa

    schema = arrow_schema()
    return pa.Table.from_arrays([_column([r[f.name] for r in rows], f.type) for f in schema], schema=schema)


def _validity(values: list[Any]):
    """The validity bitmap of `values` (None where every value is present) and the null count."""
    import numpy as np
    import pyarrow as pa

    present = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    nulls = len(values) - int(present.sum())
    return (pa.py_buffer(np.packbits(present, bitorder="little")) if nulls else None), nulls


def _offsets(lengths: list[int]):
    import numpy as np
    import pyarrow as pa

    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.py_buffer(offsets)


def _column(values: list[Any], typ):
    import numpy as np
    import pyarrow as pa

    n = len(values)
    validity, nulls = _validity(values)
    if pa.types.is_string(typ) or pa.types.is_binary(typ):
        data = [b"" if v is None else v.encode() if isinstance(v, str) else bytes(v) for v in values]
        return pa.Array.from_buffers(typ, n, [validity, _offsets([len(d) for d in data]), pa.py_buffer(b"".join(data))],
                                     null_count=nulls)
    if pa.types.is_integer(typ):
        ints = np.array([0 if v is None else v for v in values], dtype=np.dtype(str(typ)))
        return pa.Array.from_buffers(typ, n, [validity, pa.py_buffer(ints)], null_count=nulls)
    if pa.types.is_struct(typ):
        children = [_column([None if v is None else v[f.name] for v in values], f.type) for f in typ]
        return pa.Array.from_buffers(typ, n, [validity], null_count=nulls, children=children)
    if pa.types.is_list(typ):
        items = [[] if v is None else v for v in values]
        flat = [x for item in items for x in item]
        return pa.Array.from_buffers(typ, n, [validity, _offsets([len(i) for i in items])], null_count=nulls,
                                     children=[_column(flat, typ.value_type)])
    raise TypeError(f"no column builder for Arrow type {typ}")

"""The split writers stream record by record and write the bytes the whole-list writers wrote."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from cadlib.atomic import write_json_atomic, write_text_atomic
from cadlib.dataset.writers import write_json_array, write_jsonl

_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
_json = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                         max_size=3), max_leaves=12)
_records = st.lists(st.dictionaries(st.text(max_size=6), _json, max_size=4), max_size=5)


@settings(max_examples=150, deadline=None)
@given(_records)
def test_streamed_splits_are_the_bytes_of_the_whole_list_writers(tmp_path_factory, records):
    d = tmp_path_factory.mktemp("w")
    write_json_array(d / "a.json", iter(records))
    write_json_atomic(d / "b.json", records)
    assert (d / "a.json").read_bytes() == (d / "b.json").read_bytes()
    assert json.loads((d / "a.json").read_text(encoding="utf-8")) == records
    write_jsonl(d / "a.jsonl", iter(records))
    write_text_atomic(d / "b.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    assert (d / "a.jsonl").read_bytes() == (d / "b.jsonl").read_bytes()

"""The split writers stream record by record and write the bytes the whole-list writers wrote; the
split reader streams them back as `json.load` reads them, and refuses what `json.load` refuses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cadlib.atomic import write_json_atomic, write_text_atomic
from cadlib.dataset.writers import iter_json_array, write_json_array, write_jsonl

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


_spaces = st.text(alphabet=" \t\n\r", max_size=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(_json, max_size=6), _spaces, st.integers(1, 9))
def test_the_split_reader_reads_any_array_as_json_load_does(tmp_path_factory, items, space, chunk):
    """Any layout (indent or none, spaces around separators) and chunks as small as one character,
    so an item, a number or a separator always falls across a chunk's end somewhere."""
    path = tmp_path_factory.mktemp("r") / "a.json"
    for text in (json.dumps(items), json.dumps(items, indent=1), space + json.dumps(items, separators=(space + ",", ":" + space)) + space):
        path.write_text(text, encoding="utf-8")
        assert list(iter_json_array(path, chunk=chunk)) == json.loads(text)


@pytest.mark.parametrize("text", ["", "[1,]", "[1 2]", "[1, 2", "[1] 2", '[{"a": 1}, {"a": }]', "[12", "[tru]"])
@pytest.mark.parametrize("chunk", [1, 3, 1 << 20])
def test_the_split_reader_refuses_what_json_load_refuses(tmp_path, text, chunk):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError, match="at character"):
        list(iter_json_array(path, chunk=chunk))


def test_the_split_reader_refuses_json_that_is_not_an_array(tmp_path):
    path = tmp_path / "object.json"
    path.write_text('{"id": "a"}', encoding="utf-8")
    with pytest.raises(ValueError, match="Expecting '\\[' at character 0"):
        list(iter_json_array(path))

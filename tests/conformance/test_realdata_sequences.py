"""Conformance over the real DeepCAD and Fusion 360 JSON files in ../shared/realdata.

For every file the MANIFEST's reference reader accepted: it parses, builds a BRepCheck-valid solid,
and JSON -> sequence -> text -> sequence -> solid keeps the volume within 1% of the solid built
straight from the JSON (text at 16 bits; the 8-bit deviation DeepCAD's own quantisation causes is
recorded alongside). Every file the reference refused gets a clean `ParseError`.
"""

from __future__ import annotations

import json

import pytest

from cadlib import CadlibError, ParseError, from_text, load_json_sequence, normalize, occ, to_text
from tests.conftest import REALDATA, realdata_rows, record

LOSSLESS_BITS = 16


def _rows(kind: str) -> list[dict]:
    return [r for r in realdata_rows(kind) if not r["local_path"].endswith("train_val_test_split.json")]


def _accepted(row: dict) -> bool:
    return "check: OK" in row["source_note"]


def _ids(rows):
    return [r["local_path"].split("/", 1)[1] for r in rows]


def _text_volume_error(seq, bits: int) -> float:
    norm = normalize(seq)
    v0 = occ.volume(occ.build_solid(norm))
    back = from_text(to_text(norm, bits), bits)
    return abs(occ.volume(occ.build_solid(back)) - v0) / v0


DEEPCAD = _rows("deepcad_json")
FUSION = _rows("fusion_json")


@pytest.mark.realdata
@pytest.mark.parametrize("row", DEEPCAD, ids=_ids(DEEPCAD))
def test_deepcad_file(row, realdata):
    path = realdata / row["local_path"]
    if not _accepted(row):
        with pytest.raises(ParseError):
            load_json_sequence(path)
        record("deepcad_json", "clean error")
        return
    seq = load_json_sequence(path)
    shape = occ.build_solid(seq)
    valid = occ.is_valid(shape)
    record("deepcad_json", "valid solid" if valid else "INVALID solid")
    assert valid, f"{path}: solid fails BRepCheck"
    err16 = _text_volume_error(seq, LOSSLESS_BITS)
    record("deepcad_json", "text@16 within 1%" if err16 < 0.01 else "text@16 OFF >1%")
    try:
        err8 = _text_volume_error(seq, 8)
        record("deepcad_json", "text@8 within 1%" if err8 < 0.01 else "text@8 off >1% (quantisation)")
    except CadlibError:
        record("deepcad_json", "text@8 collapses")
    assert err16 < 0.01, f"{path}: text round trip changes the volume by {err16:.2%}"


@pytest.mark.realdata
@pytest.mark.parametrize("row", FUSION, ids=_ids(FUSION))
def test_fusion_file(row, realdata):
    path = realdata / row["local_path"]
    if not _accepted(row):
        with pytest.raises(ParseError) as info:
            load_json_sequence(path)
        assert str(path) in str(info.value)
        record("fusion_json", "clean error")
        return
    seq = load_json_sequence(path)
    shape = occ.build_solid(seq)
    assert occ.is_valid(shape), f"{path}: solid fails BRepCheck"
    expected = (json.loads(path.read_text()).get("properties") or {}).get("volume")
    if expected:
        # Fusion 360 measured the volume itself (in cm^3): ours must agree.
        assert occ.volume(shape) == pytest.approx(expected, rel=1e-3)
        record("fusion_json", "built, volume = Fusion's")
    else:
        record("fusion_json", "built")


def test_realdata_is_there_or_skipped():
    if not (REALDATA / "MANIFEST.tsv").is_file():
        pytest.skip("no ../shared/realdata here")
    assert DEEPCAD and FUSION

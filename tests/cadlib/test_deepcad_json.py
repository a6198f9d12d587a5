"""Parsing DeepCAD / Fusion reconstruction JSON, and the clear errors for what it cannot represent."""

from __future__ import annotations

import copy
import json
import math

import pytest

from cadlib import (
    Arc,
    Circle,
    ExtentType,
    Line,
    Operation,
    ParseError,
    load_json_sequence,
    parse_sequence,
)
from cadlib.synth import ModelBuilder, arc, circle, line, rect, slot


def _plate_json() -> dict:
    b = ModelBuilder()
    b.extrude("xy", (0, 0, 0), [rect(0, 0, 10, 10), circle((5, 5), 2)], "NewBody", "OneSide", 2)
    b.extrude("xy", (0, 0, 2), [slot(5, 5, 4, 1)], "Cut", "OneSide", -1)
    return b.json()


def test_parses_entities_in_sequence_order():
    seq = parse_sequence(_plate_json(), name="plate")
    assert [e.operation for e in seq.extrudes] == [Operation.NEW_BODY, Operation.CUT]
    outer, hole = seq.extrudes[0].profile.loops
    assert all(isinstance(c, Line) for c in outer.curves) and isinstance(hole.curves[0], Circle)
    assert seq.counts() == {"extrudes": 2, "loops": 3, "lines": 6, "arcs": 2, "circles": 1}


def test_loops_are_chained_counter_clockwise_from_the_lowest_left_point():
    data = _plate_json()
    loop = next(v for v in data["entities"].values() if v["type"] == "Sketch")["profiles"]
    curves = next(iter(loop.values()))["loops"][0]["profile_curves"]
    # shuffle and flip: the parser must still chain them
    curves.reverse()
    curves[1]["start_point"], curves[1]["end_point"] = curves[1]["end_point"], curves[1]["start_point"]
    seq = parse_sequence(data)
    outer = seq.extrudes[0].profile.loops[0]
    assert outer.curves[0].start == (0.0, 0.0)
    assert outer.signed_area() == pytest.approx(100.0)
    for a, b in zip(outer.curves, outer.curves[1:] + outer.curves[:1], strict=True):
        assert a.end == b.start


def test_arc_direction_and_sweep_follow_the_reference_vector():
    b = ModelBuilder()
    half = [line((0, 0), (2, 0)), arc((1, 0), 1, 0.0, math.pi)]  # upper half disc
    b.extrude("xy", (0, 0, 0), [half], "NewBody", "OneSide", 1)
    seq = parse_sequence(b.json())
    arcs = [c for c in seq.extrudes[0].profile.loops[0].curves if isinstance(c, Arc)]
    assert len(arcs) == 1
    assert arcs[0].mid()[1] == pytest.approx(1.0)  # bulges up, as drawn
    assert abs(arcs[0].sweep) == pytest.approx(math.pi)


def test_multi_profile_new_body_becomes_new_then_join():
    data = _plate_json()
    ext = next(v for v in data["entities"].values() if v["type"] == "ExtrudeFeature")
    ext["profiles"] = ext["profiles"] * 2
    seq = parse_sequence(data)
    assert [e.operation for e in seq.extrudes][:3] == [Operation.NEW_BODY, Operation.JOIN, Operation.CUT]


def test_two_sides_reads_extent_two():
    b = ModelBuilder()
    b.extrude("xy", (0, 0, 0), [rect(0, 0, 1, 1)], "NewBody", "TwoSides", 3, 2)
    ex = parse_sequence(b.json()).extrudes[0]
    assert ex.extent_type is ExtentType.TWO_SIDES and (ex.extent_one, ex.extent_two) == (3, 2)


def _mutate(fn) -> dict:
    data = copy.deepcopy(_plate_json())
    fn(data)
    return data


def _first(data, kind):
    return next(v for v in data["entities"].values() if v["type"] == kind)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: _first(d, "ExtrudeFeature").update(start_extent={"type": "OffsetStartDefinition"}), "OffsetStartDefinition"),
        (lambda d: _first(d, "ExtrudeFeature")["extent_one"]["taper_angle"].update(value=0.1), "taper"),
        (lambda d: _first(d, "ExtrudeFeature")["extent_one"].update(type="ToEntityExtentDefinition"), "ToEntityExtentDefinition"),
        (lambda d: _first(d, "ExtrudeFeature").update(operation="FooFeatureOperation"), "FooFeatureOperation"),
        (lambda d: d["entities"].update(X={"type": "RevolveFeature"}) or d["sequence"].append({"entity": "X"}), "RevolveFeature"),
        (lambda d: d.pop("sequence"), "without a 'sequence'"),
        (lambda d: d["sequence"].append({"entity": "nope"}), "'nope'"),
        (
            lambda d: next(iter(_first(d, "Sketch")["profiles"].values()))["loops"][0]["profile_curves"][0].update(type="NurbsCurve3D"),
            "NurbsCurve3D",
        ),
        (
            lambda d: next(iter(_first(d, "Sketch")["profiles"].values()))["loops"][0]["profile_curves"].pop(),
            "not closed",
        ),
    ],
)
def test_unsupported_content_is_a_parse_error_naming_file_and_entity(tmp_path, mutate, message):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(_mutate(mutate)))
    with pytest.raises(ParseError, match=message) as info:
        load_json_sequence(path)
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"body_one": 1, "body_two": 2, "joints": []}, "joint-set"),
        ({"sequence": [], "properties": {}}, "regraph"),
        ([1, 2], "not an object"),
        ({"train": []}, "not a DeepCAD/Fusion reconstruction file"),
    ],
)
def test_other_json_kinds_are_named(tmp_path, doc, message):
    path = tmp_path / "other.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ParseError, match=message):
        load_json_sequence(path)


def test_broken_json_is_a_parse_error(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text('{"entities": {')
    with pytest.raises(ParseError, match="cut.json: not readable as JSON"):
        load_json_sequence(path)


@pytest.mark.parametrize("where", ["origin", "point", "radius"])
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_infinite_or_nan_numbers_are_refused_naming_the_file(tmp_path, where, value):
    """Python's JSON reader accepts Infinity and NaN; such a model was reported valid and became a
    training sample."""
    import json

    from cadlib.errors import ParseError
    from cadlib.synth import generate

    def first_sketch(doc):
        sketch = next(v for v in doc["entities"].values() if v["type"] == "Sketch")
        return sketch, [c for p in sketch["profiles"].values() for lp in p["loops"] for c in lp["profile_curves"]]

    doc = next(d for _, d in generate(18, seed=3) if any("radius" in c for c in first_sketch(d)[1]))
    sketch, curves = first_sketch(doc)
    if where == "origin":
        sketch["transform"]["origin"]["x"] = value
    elif where == "point":
        c = curves[0]
        c["start_point" if "start_point" in c else "center_point"]["y"] = value
    else:
        next(c for c in curves if "radius" in c)["radius"] = value
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ParseError) as info:
        load_json_sequence(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)

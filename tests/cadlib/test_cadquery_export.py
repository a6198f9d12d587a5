"""The CadQuery export compiles and mirrors the sequence."""

from __future__ import annotations

import ast

from cadlib import to_cadquery
from tests.cadlib import models


def test_script_compiles_and_has_one_step_per_extrude():
    seq = models.pocket()
    script = to_cadquery(seq)
    tree = ast.parse(script)
    compile(tree, "generated.py", "exec")
    assert script.count("cq.Solid.extrudeLinear(") == len(seq.extrudes)
    assert "body = body.cut(tool)" in script
    assert "import cadquery as cq" in script


def test_arcs_and_circles_are_exported():
    script = to_cadquery(models.slot_plate())
    assert script.count("makeThreePointArc") == 2
    script = to_cadquery(models.plate_with_hole())
    assert "makeCircle(2," in script
    ast.parse(script)

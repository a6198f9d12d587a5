"""Conformance of the loaders over every real STEP, IFC, OBJ, STL and JSON file in ../shared/realdata.

Each file is loaded in an isolated worker (time limit 120 s) and sorted into: loaded, clean error
(a CadlibError with a one-line message), crash, hang, traceback (any other exception). Against the
MANIFEST's reference reader: files it loaded with geometry must load (>= 98%), files it refused
(or found empty) must get a clean error; no crash, hang or traceback anywhere.
"""

from __future__ import annotations

import re

import pytest

import cadlib.errors
from cadlib.ingest import load_isolated
from cadlib.workers import Status
from tests.conftest import REALDATA, realdata_rows, record

CLEAN = {n for n in dir(cadlib.errors) if isinstance(getattr(cadlib.errors, n), type)
         and issubclass(getattr(cadlib.errors, n), cadlib.errors.CadlibError)}
MISSES: dict[str, list[str]] = {}


def reference_expects_geometry(kind: str, row: dict) -> bool:
    """Did the MANIFEST's reference reader get surfaces out of this file?"""
    note = row["source_note"]
    if kind == "step":
        m = re.search(r"read OK: \d+ solids, (\d+) faces", note)
        return bool(m and int(m.group(1)) > 0)
    if kind == "ifc":
        # The reference only opened the file; whether it has geometry is checked independently.
        return "open OK" in note and _ifc_has_representation(REALDATA / row["local_path"])
    if kind in ("obj", "stl"):
        m = re.search(r"load OK: \d+ verts, (\d+) faces", note)
        return bool(m and int(m.group(1)) > 0)
    return "check: OK" in note  # deepcad_json, fusion_json


SOLID_TYPES = {"SweptSolid", "AdvancedSweptSolid", "Brep", "AdvancedBrep", "Tessellation", "SurfaceModel",
               "SolidModel", "CSG", "Clipping", "MappedRepresentation"}


def _ifc_has_representation(path) -> bool:
    """Some product has a 3D body representation (curves, grids and annotations are not one)."""
    import ifcopenshell

    model = ifcopenshell.open(str(path))
    return any(
        rep.RepresentationType in SOLID_TYPES
        for p in model.by_type("IfcProduct")
        if getattr(p, "Representation", None)
        for rep in p.Representation.Representations
    )


def _outcome_name(o) -> str:
    if o.status is Status.OK:
        return "loaded"
    if o.status is Status.ERROR:
        return "clean error" if o.error_class in CLEAN and "\n" not in o.message.strip() else "TRACEBACK"
    return {Status.CRASH: "CRASH", Status.TIMEOUT: "HANG"}[o.status]


@pytest.mark.realdata
@pytest.mark.parametrize("kind", ["step", "ifc", "obj", "stl", "deepcad_json", "fusion_json"])
def test_loaders_over_realdata(kind, realdata):
    rows = [r for r in realdata_rows(kind) if not r["local_path"].endswith("train_val_test_split.json")]
    assert rows, f"no {kind} files listed"
    by_path = {str(realdata / r["local_path"]): r for r in rows}
    outcomes = list(load_isolated(by_path, workers=2, timeout=120.0))
    assert len(outcomes) == len(rows)
    expected_loads = loaded = 0
    problems = []
    for name in ("loaded", "clean error", "CRASH", "HANG", "TRACEBACK"):
        record(f"ingest {kind}", name, 0)
    for o in outcomes:
        name = _outcome_name(o)
        row = by_path[o.item]
        expects = reference_expects_geometry(kind, row)
        record(f"ingest {kind}", name)
        if name in ("TRACEBACK", "CRASH", "HANG"):
            problems.append(f"{o.item}: {name} {o.error_class}: {o.message}")
        if expects:
            expected_loads += 1
            loaded += name == "loaded"
            record(f"ingest {kind}", "reference loaded -> loaded" if name == "loaded" else "reference loaded -> MISSED")
            if name != "loaded":
                MISSES.setdefault(kind, []).append(f"{o.item}: {o.message}")
        elif name == "loaded" and o.value.get("repairs"):
            record(f"ingest {kind}", "loaded with documented repairs where reference failed")
        elif name == "loaded":
            record(f"ingest {kind}", "loaded where reference found nothing")
    assert not problems, "\n".join(problems)
    assert loaded >= 0.98 * expected_loads, f"{kind}: {loaded}/{expected_loads} loaded:\n" + "\n".join(MISSES.get(kind, []))

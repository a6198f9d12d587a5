"""`cadrecon score` on a folder mixing every kind of prediction, good and bad: CadQuery code that
builds, hangs (a Python loop, and one that ignores the alarm so only the caller's timeout can stop
it), crashes its process, raises, or gives an empty or non-solid result; STEP, STL and sequence
text. One row per model, the run finishes, every invalid cause is named."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

BOX = "import cadquery as cq\nr = cq.Workplane('XY').box({}, {}, {})\n"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    import trimesh
    from OCP.BRepPrimAPI import BRepPrimAPI_MakeBox

    from cadlib import occ, to_text
    from cadlib.transform import normalize

    tmp = tmp_path_factory.mktemp("score")
    gt, pred = tmp / "gt", tmp / "pred"
    gt.mkdir()
    pred.mkdir()
    for i in range(1, 12):
        occ.write_step(BRepPrimAPI_MakeBox(10.0 * i, 20.0, 30.0).Shape(), gt / f"m{i}.step")
    (pred / "m1+0.py").write_text(BOX.format(10, 20, 30))  # right, centred elsewhere: cadrille normalises
    (pred / "m1+1.py").write_text("while True:\n    pass\n")  # hangs: the worker's alarm stops it
    (pred / "m2.py").write_text("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n")
    (pred / "m3.py").write_text("import ctypes\nctypes.string_at(0)\n")  # segfaults CadQuery's process
    (pred / "m4.py").write_text("raise ValueError('the model wrote nonsense')\n")
    (pred / "m5.py").write_text("import cadquery as cq\nr = cq.Workplane('XY').rect(1, 1)\n")  # a wire, no solid
    (pred / "m6.py").write_text("import cadquery as cq\nresult = cq.Workplane('XY')\n")  # empty
    (pred / "m7.py").write_text("import cadquery as cq\nshow_object(cq.Workplane('XY').box(70, 20, 30))\n")
    occ.write_step(BRepPrimAPI_MakeBox(40.0, 10.0, 15.0).Shape(), pred / "m8.step")  # half size: perfect under cadrille
    trimesh.creation.box(extents=(90, 20, 30)).export(pred / "m9.stl")
    from cadlib import read_sequence
    from cadlib.synth import ModelBuilder, rect

    b = ModelBuilder()
    b.extrude("xy", (0, 0, 0), [rect(0, 0, 0.1, 0.02)], "NewBody", "OneSide", 0.03)
    (tmp / "b.json").write_text(json.dumps(b.json()))
    (pred / "m10.txt").write_text(to_text(normalize(read_sequence(tmp / "b.json")[0])))
    (pred / "m11+0.txt").write_text("bits 8\nsketch 1 2\n")  # does not parse
    (pred / "m11+1.stl").write_text("solid x\nendsolid x\n")  # an empty mesh
    (pred / "m12.py").write_text(BOX.format(1, 1, 1))  # no truth named m12
    (pred / "notes.md").write_text("not a prediction")
    return pred, gt


def test_score_names_every_cause_and_finishes(folders, tmp_path):
    from deployments.cli import app

    pred, gt = folders
    res = CliRunner().invoke(app, ["score", str(pred), str(gt), "--json", "--timeout", "1", "--csv",
                                   str(tmp_path / "rows.csv"), "-p", "cadrille", "-p", "deepcad", "-p", "aligned"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    rows = {r["id"]: r for r in csv.DictReader((tmp_path / "rows.csv").open())}
    assert sorted(rows) == sorted(f"m{i}" for i in range(1, 12))  # one row per truth
    assert report["predictions"] == 13 and report["unmatched_predictions"] == ["m12.py"]
    assert report["skipped_files"] == ["notes.md"]
    cause = {k: r["cause"] for k, r in rows.items()}
    assert cause["m2"] == "Timeout" and cause["m3"] in ("WorkerCrash", "Timeout")
    assert cause["m4"] == "ValueError" and cause["m5"] == "NoSolid" and cause["m6"] == "NoSolid"
    assert cause["m11"] and "TextSyntaxError" in rows["m11"]["failed_samples"]
    assert "Timeout" in rows["m1"]["failed_samples"]  # the hanging sample; the other one counts
    for good in ("m1", "m7", "m8", "m9", "m10"):
        assert cause[good] == "" and float(rows[good]["iou_cadrille"]) > 0.98, (good, rows[good])  # text: 8-bit grid
    s = report["protocols"]["cadrille"]
    assert s["n"] == 11 and s["valid"] == 5 and s["invalid_ratio"] == pytest.approx(6 / 11, abs=1e-4)
    assert report["invalid_causes"]["NoSolid"] == 2
    # deepcad keeps the truth's frame: the half-size STEP at the origin overlaps its truth only in part
    assert float(rows["m8"]["iou_deepcad"]) < 0.5


def test_score_refuses_missing_folders_in_one_line(tmp_path):
    from deployments.cli import app

    res = CliRunner().invoke(app, ["score", str(tmp_path / "nope"), str(tmp_path)])
    assert res.exit_code == 2 and "no such folder of predictions" in res.output

"""Agreement with the peers' own scorer. cadrille's procedure, re-implemented here from its paper
and its repository's description (not its code): the predicted mesh is centred on its bounding box,
scaled so its largest side is 1 and shifted by 0.5; the truth mesh is normalised the same way;
8,192 points are drawn on each surface with trimesh; CD is the mean squared nearest-neighbour
distance both ways, reported as the median x 1,000; IoU is the intersection volume of the two
meshes' bodies over their union, reported as the mean. `cadrecon score --protocol cadrille` must
give the same numbers within sampling noise on 36 pairs built from real STEP files (CAD-Coder's
exports of DeepCAD test models): another model, a scaled and shifted copy, a perturbed copy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.realdata


def _normalised(mesh):
    mesh = mesh.copy()
    lo, hi = mesh.bounds
    mesh.apply_translation(-(lo + hi) / 2.0)
    extent = float(np.max(mesh.extents))
    if extent > 1e-7:
        mesh.apply_scale(1.0 / extent)
    mesh.apply_translation([0.5, 0.5, 0.5])
    return mesh


def _reference(gt_path, pred_path, seed):
    import trimesh
    from scipy.spatial import cKDTree

    gt, pred = _normalised(trimesh.load_mesh(gt_path)), _normalised(trimesh.load_mesh(pred_path))
    a, _ = trimesh.sample.sample_surface(gt, 8192, seed=seed)
    b, _ = trimesh.sample.sample_surface(pred, 8192, seed=seed + 1)
    cd = np.mean(cKDTree(a).query(b)[0] ** 2) + np.mean(cKDTree(b).query(a)[0] ** 2)
    inter = sum(g.intersection(p).volume for g in gt.split(only_watertight=False) for p in pred.split(only_watertight=False))
    iou = inter / (gt.volume + pred.volume - inter)
    return cd, iou


def test_cadrille_protocol_agrees_with_a_reimplementation_of_cadrilles_scorer(realdata, tmp_path):
    import trimesh

    from cadlib.scoring.files import load_geometry
    from deployments.cli import app

    steps = sorted((realdata / "step" / "anniedoris+CAD-Coder").glob("*.step"))[:13]
    meshes = {}
    for s in steps:
        m = load_geometry(s).mesh.welded()
        tm = trimesh.Trimesh(m.vertices, m.faces, process=True)
        if tm.is_watertight and tm.volume > 0:
            meshes[s] = tm
    steps = list(meshes)[:12]
    assert len(steps) == 12, "fewer than 12 watertight real models"
    gt, pred, ref_gt = tmp_path / "gt", tmp_path / "pred", tmp_path / "ref_gt"
    for d in (gt, pred, ref_gt):
        d.mkdir()
    rng = np.random.default_rng(0)
    for i, s in enumerate(steps):
        other, mesh = meshes[steps[(i + 1) % len(steps)]], meshes[s]
        scaled = mesh.copy()
        scaled.apply_scale(0.5)
        scaled.apply_translation(rng.uniform(-50, 50, 3))
        perturbed = mesh.copy()
        perturbed.apply_transform(np.diag([1.0 + rng.uniform(0.05, 0.2), 1.0, 1.0 - rng.uniform(0.05, 0.2), 1.0]))
        for kind, m in (("other", other), ("copy", scaled), ("perturbed", perturbed)):
            mid = f"{s.stem}_{kind}"
            (gt / f"{mid}.step").symlink_to(s)  # cadrecon reads the truth's B-rep...
            mesh.export(ref_gt / f"{mid}.stl")  # ...the reference its tessellation, as cadrille's GT meshes
            m.export(pred / f"{mid}.stl")
    res = CliRunner().invoke(app, ["score", str(pred), str(gt), "-p", "cadrille", "--json", "--csv",
                                   str(tmp_path / "rows.csv")])
    assert res.exit_code == 0, res.output
    ours = json.loads(res.stdout)["protocols"]["cadrille"]
    ref = [_reference(ref_gt / f"{p.stem}.stl", p, seed) for seed, p in enumerate(sorted(pred.glob("*.stl")))]
    ref_cd = float(np.median([c for c, _ in ref])) * 1e3
    ref_iou = float(np.mean([i for _, i in ref]))
    print(json.dumps({"ours": ours, "reference": {"median_cd": ref_cd, "mean_iou": ref_iou}}))
    assert ours["n"] == 36 and ours["invalid_ratio"] == 0.0 and ours["iou_n"] == 36
    assert ours["median_cd"] == pytest.approx(ref_cd, rel=0.05), (ours, ref_cd)
    assert ours["mean_iou"] == pytest.approx(ref_iou, abs=0.01), (ours, ref_iou)

"""The published evaluation protocols, so that every number means what the papers mean
(docs/protocols.md gives the sources line by line).

- ``cadrille`` (Kolodiazhnyi et al. 2025, its `evaluate.py`): the prediction and the truth are each
  normalised on their own (bounding-box centre to the origin, largest side 1, shifted into
  [0, 1]^3); 8,192 points sampled on each surface, independently; Chamfer distance = mean squared
  nearest-neighbour distance both ways, summed; reported as the median x 10^3 over models. IoU of
  the two normalised solids, reported as the mean over the models that have one. Best-of-N: the
  smallest CD and, separately, the largest IoU among a model's samples. Invalid ratio: models
  none of whose samples builds.
- ``deepcad`` (Wu et al. 2021, `evaluate_ae_cd.py`): the truth in DeepCAD's normalisation (scaled
  about the origin so its largest coordinate magnitude is 0.75) and the prediction under the same
  transform (it is expected in the truth's frame; one whose points leave [-2, 2] is divided by its
  largest magnitude, as DeepCAD does for out-of-bound output); 2,000 points each, independently;
  the same Chamfer distance, median x 10^3. ACC_cmd / ACC_param: `cadlib.metrics.command_accuracy`.
- ``aligned`` (cadrecon): cadrille's, and the prediction turned by the one of the 24 axis-aligned
  rotations (about the unit cube's centre) that gives the smallest CD: a right shape in the wrong
  pose scores well here and badly under ``cadrille``, so the two side by side show the pose errors.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import cast

import numpy as np

from cadlib.errors import CadlibError
from cadlib.metrics import chamfer, manifold_iou, sample_surface, volumetric_iou, voxel_iou
from cadlib.scoring.geometry import Geometry, about, axis_rotations, similarity
from cadlib.scoring.reports import BestOf, PairScore, ProtocolDefinition, ProtocolSummary, Scored

DEEPCAD_HALF = 0.75
"""DeepCAD's NORM_FACTOR: a normalised shape's largest coordinate magnitude."""
DEEPCAD_BOUND = 2.0
"""DeepCAD rescales a predicted point cloud whose largest magnitude exceeds this."""
COARSE = 1024
"""Points per shape in the `aligned` protocol's first pass over the 24 poses."""


@dataclass(frozen=True, slots=True)
class Protocol:
    name: str
    points: int  # surface points per shape
    normalisation: str  # "cadrille": each shape into [0, 1]^3 on its own | "deepcad": the truth's transform for both
    aligned: bool  # also try the 24 axis-aligned rotations of the prediction, keep the best CD
    cd_scale: float  # reported CD = cd_scale x Chamfer distance
    timeout_s: float  # executing one prediction
    source: str
    description: str

    def as_dict(self) -> ProtocolDefinition:
        return cast(ProtocolDefinition, asdict(self))


PROTOCOLS = {
    "cadrille": Protocol("cadrille", 8192, "cadrille", False, 1e3, 3.0, "cadrille (ICLR 2026) evaluate.py",
                         "each shape into [0,1]^3 on its own, 8,192 points, CD median x1e3, IoU mean, "
                         "best-of-N: min CD / max IoU"),
    "deepcad": Protocol("deepcad", 2000, "deepcad", False, 1e3, 3.0, "DeepCAD (ICCV 2021) evaluate_ae_cd.py",
                        "truth scaled to max |x| 0.75, prediction in the same frame, 2,000 points, CD median x1e3"),
    "aligned": Protocol("aligned", 8192, "cadrille", True, 1e3, 3.0, "cadrecon",
                        "cadrille's, best of the 24 axis-aligned rotations of the prediction by CD"),
}


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}: expected one of {sorted(PROTOCOLS)}") from None


def unit_cube(g: Geometry) -> np.ndarray:
    """cadrille's normalisation of one shape: bounding-box centre to the origin, largest side 1,
    then shifted by (0.5, 0.5, 0.5)."""
    lo, hi = g.bbox()
    extent = float(np.max(hi - lo))
    scale = 1.0 / extent if extent > 1e-7 else 1.0
    return similarity(scale, 0.5 - (lo + hi) / 2.0 * scale)


def deepcad_frame(truth: Geometry) -> np.ndarray:
    """DeepCAD's normalisation of the truth: scaled about the origin to largest magnitude 0.75."""
    top = float(np.max(np.abs(truth.mesh.vertices))) if len(truth.mesh.vertices) else 0.0
    return similarity(DEEPCAD_HALF / top if top > 0 else 1.0)


def normalised(protocol: Protocol, truth: Geometry, pred: Geometry) -> tuple[Geometry, Geometry]:
    """Both shapes in the frame the protocol compares them in."""
    if protocol.normalisation == "cadrille":
        return truth.transformed(unit_cube(truth)), pred.transformed(unit_cube(pred))
    m = deepcad_frame(truth)
    t, p = truth.transformed(m), pred.transformed(m)
    top = float(np.max(np.abs(p.mesh.vertices)))
    if top > DEEPCAD_BOUND:
        p = p.transformed(similarity(1.0 / top))
    return t, p


def score_pair(protocol: Protocol, truth: Geometry, pred: Geometry, rng: np.random.Generator) -> PairScore:
    """``{"cd", "iou", "iou_method", "rotation"}`` of one prediction: CD in the protocol's reported
    units (x cd_scale), IoU None where no method applies (the method says why)."""
    t, p = normalised(protocol, truth, pred)
    a = sample_surface(t.mesh, protocol.points, seed=rng)
    b = sample_surface(p.mesh, protocol.points, seed=rng)
    centre = np.full(3, 0.5) if protocol.normalisation == "cadrille" else np.zeros(3)
    best, cd = 0, None
    if protocol.aligned:
        rotations = axis_rotations()
        # a coarse pass on the first 1,024 points of each sample ranks the 24 poses; the full CD
        # decides among the best three
        coarse = [chamfer(a[:COARSE], (b[:COARSE] - centre) @ r.T + centre) for r in rotations]
        full = {i: chamfer(a, (b - centre) @ rotations[i].T + centre) for i in np.argsort(coarse)[:3]}
        best = int(min(full, key=lambda i: full[i]))
        cd = full[best]
        if best:
            p = p.transformed(about(rotations[best], centre))
    else:
        cd = chamfer(a, b)
    iou, method = pair_iou(t, p)
    return {"cd": protocol.cd_scale * cd, "iou": iou, "iou_method": method,
            "rotation": best if protocol.aligned else None}


def pair_iou(a: Geometry, b: Geometry) -> tuple[float | None, str]:
    """IoU and how it was measured: manifold3d's exact mesh booleans on the surfaces (as trimesh's
    boolean engine, which cadrille calls); OCCT's booleans on the solids where a surface is not a
    closed manifold; a 64^3 voxel grid for watertight meshes neither accepts; else None."""
    try:
        return manifold_iou(a.mesh, b.mesh), "mesh"
    except ValueError as exc:
        reason = str(exc)
    if a.shape is not None and b.shape is not None:
        try:
            return volumetric_iou(a.shape, b.shape), "exact"
        except CadlibError as exc:
            reason = str(exc)
    if a.mesh.is_watertight() and b.mesh.is_watertight():
        return voxel_iou(a.mesh, b.mesh), "voxels-64"
    return None, f"none: {reason}"


def summarize(rows: list[Scored]) -> ProtocolSummary:
    """One protocol's numbers over per-model rows ``{"valid", "cd", "iou"}`` (best-of-N already
    taken): ``n, valid, invalid_ratio, median_cd, mean_cd, mean_iou, median_iou, iou_n``."""
    n = len(rows)
    cds = [cd for r in rows if r["valid"] and (cd := r.get("cd")) is not None]
    ious = [iou for r in rows if r["valid"] and (iou := r.get("iou")) is not None]
    valid = sum(1 for r in rows if r["valid"])

    def rnd(x, k=4):
        return None if x is None else round(float(x), k)

    return {"n": n, "valid": valid, "invalid_ratio": rnd(1 - valid / n) if n else None,
            "median_cd": rnd(statistics.median(cds), 5) if cds else None,
            "mean_cd": rnd(statistics.fmean(cds), 5) if cds else None,
            "mean_iou": rnd(statistics.fmean(ious)) if ious else None,
            "median_iou": rnd(statistics.median(ious)) if ious else None, "iou_n": len(ious)}


def best_of(samples: list[Scored]) -> BestOf:
    """cadrille's best-of-N of one model's scored samples: the smallest CD and, separately, the
    largest IoU among the valid ones; invalid when none is valid."""
    ok = [s for s in samples if s["valid"]]
    if not ok:
        return {"valid": False, "cd": None, "iou": None}
    cds = [cd for s in ok if (cd := s.get("cd")) is not None]
    ious = [iou for s in ok if (iou := s.get("iou")) is not None]
    return {"valid": True, "cd": min(cds) if cds else None, "iou": max(ious) if ious else None}

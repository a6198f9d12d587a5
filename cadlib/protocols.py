"""Named evaluation protocols, so every number says how it was measured.

- ``deepcad`` (DeepCAD, Wu et al. 2021): 2,000 points sampled on each surface, Chamfer distance =
  mean squared nearest-neighbour distance both ways, summed; shapes stay in DeepCAD's own
  normalisation (the normalised sequence frame: centred, longest half-side 0.75); mean over
  models; invalid = the sequence does not build a valid solid.
- ``cadrille`` (cadrille, Kolodiazhnyi et al. 2025): 8,192 points; each shape scaled to the unit
  cube (centred, longest side 1) on its own; Chamfer distance x 1,000, median over models; IoU;
  invalid ratio.

Best-of-N (the best of N samples per model) is reported apart from single-sample numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cadlib.mesh import Mesh
from cadlib.metrics import chamfer, sample_surface, to_unit_cube


@dataclass(frozen=True, slots=True)
class Protocol:
    name: str
    points: int
    unit_cube: bool  # scale each shape to the unit cube first
    cd_scale: float  # reported CD = scale x Chamfer distance
    aggregate: str  # "mean" | "median" over models
    description: str

    def as_dict(self) -> dict:
        return asdict(self)


PROTOCOLS = {
    "deepcad": Protocol("deepcad", 2000, False, 1.0, "mean",
                        "2,000 points, sum of mean squared NN distances, DeepCAD's normalisation, mean"),
    "cadrille": Protocol("cadrille", 8192, True, 1e3, "median",
                         "8,192 points, unit cube, CD x1e3, median; IoU; invalid ratio"),
}


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}: expected one of {sorted(PROTOCOLS)}") from None


def shape_chamfer(protocol: Protocol, truth: Mesh, pred: Mesh, *, seed: int = 0) -> float:
    """The protocol's Chamfer distance between two meshes (same seed for both samplings, so
    identical shapes give exactly 0)."""
    a = sample_surface(truth, protocol.points, seed=seed)
    b = sample_surface(pred, protocol.points, seed=seed)
    if protocol.unit_cube:
        a, = to_unit_cube(a)
        b, = to_unit_cube(b)
    return protocol.cd_scale * chamfer(a, b)


def aggregate(protocol: Protocol, values: list[float]) -> float | None:
    if not values:
        return None
    return float(np.median(values) if protocol.aggregate == "median" else np.mean(values))

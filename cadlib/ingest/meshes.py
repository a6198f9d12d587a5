"""Mesh formats through trimesh: OBJ, STL (ASCII and binary), PLY, OFF, GLB/glTF.

Every loaded mesh is cleaned the same documented way (`clean_mesh`), then coincident vertices are
merged (`merge_vertices`; STL stores three per triangle): faces that use non-finite
(NaN/inf) vertices or out-of-range indices are removed, degenerate faces (repeated corners or zero
area) are removed, unused vertices are dropped; each repair is listed in `ModelInfo.repairs`.
A file with no faces left (empty, points or lines only) is a `ParseError`, never an empty success.
OBJ files that trimesh's parser rejects (e.g. `1.#IND` numbers) are read by a tolerant fallback
parser that turns unreadable numbers into NaN, then cleaned.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from cadlib.errors import ParseError, UnsupportedFormat
from cadlib.ingest.model import LoadedModel, ModelInfo, mesh_facts
from cadlib.mesh import Mesh

UP_AXIS = {"obj": "y", "gltf": "y", "glb": "y", "stl": "z", "ply": "z", "off": "z"}
"""The up axis each format conventionally uses (glTF: by specification; OBJ: by common practice)."""

SCALE_TO_MM = {"gltf": 1000.0, "glb": 1000.0}
"""glTF is in metres by specification; the other mesh formats carry no unit and are taken as mm."""


def _trimesh():
    try:
        import trimesh
    except ImportError:  # pragma: no cover - a declared dependency
        raise UnsupportedFormat("mesh formats need trimesh: pip install trimesh") from None
    return trimesh


def load_mesh_file(path: str | Path, fmt: str) -> LoadedModel:
    """Loads a mesh-format file into millimetres (see the module docstring for repairs)."""
    path = Path(path)
    trimesh = _trimesh()
    repairs: list[str] = []
    if fmt == "stl":
        _check_ascii_stl_ending(path)
    elif fmt == "obj":
        _check_obj_ending(path)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():  # huge numbers: refused below, not warned on
            warnings.simplefilter("ignore", RuntimeWarning)
            loaded = trimesh.load(str(path), file_type=fmt, process=False)
            vertices, faces, parts = _flatten(loaded, trimesh)
    except Exception as exc:  # trimesh raises many types for malformed files
        if fmt != "obj":
            raise ParseError(f"{fmt.upper()} could not be parsed ({type(exc).__name__}: {_first_line(exc)})", source=str(path)) from None
        vertices, faces, parts = _tolerant_obj(path)
        repairs.append(f"read by the tolerant OBJ parser (trimesh: {_first_line(exc)})")
    if fmt == "obj":
        repairs += _missing_material_libraries(path)
    if len(faces) == 0:
        what = "only points or lines" if len(vertices) else "no geometry"
        raise ParseError(f"{fmt.upper()} file holds {what} (no faces to make a surface from)", source=str(path))
    from cadlib.limits import check_coordinates

    # non-finite ones are repaired below (dropped with their faces); finite ones past the limit are
    # refused here, before trimesh's arithmetic on them prints overflow warnings
    with np.errstate(over="ignore", invalid="ignore"):
        finite = np.asarray(vertices, dtype=float)
        check_coordinates(finite[np.isfinite(finite)], path, SCALE_TO_MM.get(fmt, 1.0))
    vertices, faces, fixes = clean_mesh(vertices, faces)
    repairs += fixes
    if len(faces) == 0:
        raise ParseError(f"no usable face left after repairs ({'; '.join(fixes)})", source=str(path))
    scale = SCALE_TO_MM.get(fmt, 1.0)
    mesh = merge_vertices(Mesh(vertices * scale, faces))
    info = ModelInfo(
        file=str(path), format=fmt, kind="mesh", units="m" if scale == 1000.0 else None,
        scale_to_mm=scale, parts=parts, up_axis=UP_AXIS[fmt], repairs=tuple(repairs),
        **mesh_facts(mesh),
    )
    return LoadedModel(mesh, info)


def _check_ascii_stl_ending(path: Path) -> None:
    """An ASCII STL ends with `endsolid`; one that does not was cut off. (A binary STL whose size
    does not match its triangle count is refused by format detection.)"""
    from cadlib.ingest.detect import is_binary_stl

    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(84)
        if head[:5].lower() != b"solid" or is_binary_stl(head, size):
            return  # binary
        fh.seek(max(0, size - 1024))
        tail = fh.read()
    if b"endsolid" not in tail.lower():
        raise ParseError("ASCII STL is truncated: it does not end with endsolid", source=str(path))


def _check_obj_ending(path: Path) -> None:
    """An OBJ has no counts to check, but a file cut off mid-record ends without a newline in a
    record that does not parse whole: fewer numbers than the one of its kind before (`v`, `vt`,
    `vn`), a number cut in half, a face of fewer than three corners or whose last corner lacks a
    field the others have, a dangling space. A file that ends with a newline, or in a whole record,
    is taken as whole (a cut exactly there cannot be told from the end of a file)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - 4096))
        tail = fh.read()
    if not tail or tail.endswith((b"\n", b"\r")):
        return
    lines = tail.decode("utf-8", errors="replace").splitlines()
    last_line = lines[-1]
    last = last_line.split()
    if last and last_line != last_line.rstrip():  # a writer ends a record with a newline, not a space
        raise ParseError(f"OBJ is truncated: its last line {' '.join(last)[:60]!r} is cut off (no newline, a "
                         "dangling space)", source=str(path))
    if not last or last[0] not in ("v", "vt", "vn", "f"):
        return
    before = next((ln.split() for ln in reversed(lines[:-1]) if ln.split()[:1] == [last[0]]), None)
    if last[0] == "f":
        # A face is whole when it parses: three corners or more, each with the fields (vertex,
        # texture, normal) the line's other corners have. Another corner count or index layout
        # than the face before is a valid OBJ (a triangle after quads, `f 8/8/ 6/6/ 7/7/`).
        fields = {tuple(bool(x) for x in t.split("/")) for t in last[1:]}
        cut = len(last) < 4 or len(fields) > 1 or not all(_indices(t) for t in last[1:]) or \
            _same_indices_but_last(last[1:-1] + (before[1:] if before else []), last[-1])
    else:
        least = {"v": 4, "vt": 2, "vn": 4}[last[0]]
        cut = len(last) < least or (before is not None and len(last) < len(before)) or \
            any(np.isnan(_number(t)) for t in last[1:]) or last[-1].endswith(("e", "E", "-", "+")) or \
            _fewer_digits(last[1:], before[1:] if before else [])
    if cut:
        raise ParseError(f"OBJ is truncated: its last line {' '.join(last)[:60]!r} is cut off (no newline, an "
                         "incomplete record)", source=str(path))


def _decimals(token: str) -> int:
    mantissa = token.lower().split("e")[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else -1


def _fewer_digits(last: list[str], before: list[str]) -> bool:
    """A fixed-precision writer (every number of the record before and of this one, its last
    aside, with the same decimals) whose last number has fewer: cut off mid-number."""
    if not before or not last:
        return False
    digits = {_decimals(t) for t in before + last[:-1]}
    return len(digits) == 1 and _decimals(last[-1]) < digits.pop()


def _indices(token: str) -> bool:
    """A face corner's indices parse: a vertex index, then optional texture and normal indices."""
    parts = token.split("/")
    return len(parts) <= 3 and all(p.lstrip("-").isdigit() or (i > 0 and p == "") for i, p in enumerate(parts))


def _same_indices_but_last(others: list[str], last: str) -> bool:
    """Corners like `12/12/12` (one index for vertex, texture and normal) in every one of `others`
    but not in `last`, cut off mid-number (`1140//11`)."""
    def same(t: str) -> bool:
        parts = [x for x in t.split("/") if x]
        return len(parts) > 1 and len(set(parts)) == 1

    return bool(others) and all(same(t) for t in others) and not same(last)


def merge_vertices(mesh: Mesh) -> Mesh:
    """Merges coincident vertices (STL stores three per triangle), so edges are shared."""
    merged = _trimesh().Trimesh(mesh.vertices, mesh.faces, process=False)
    merged.merge_vertices()
    return Mesh(np.asarray(merged.vertices, dtype=float), np.asarray(merged.faces, dtype=np.int64), dict(mesh.metadata))


def _flatten(loaded, trimesh) -> tuple[np.ndarray, np.ndarray, int]:
    """Vertices and triangles of a Trimesh or Scene (transforms applied), and the part count."""
    if isinstance(loaded, trimesh.Scene):
        meshes = [g for g in loaded.dump() if isinstance(g, trimesh.Trimesh)] if loaded.geometry else []
        others = len(loaded.geometry) - len(meshes)
        if not meshes:
            return np.zeros((others, 3)), np.zeros((0, 3), dtype=np.int64), 0
        parts = len(meshes)
        loaded = trimesh.util.concatenate(meshes)
        return np.asarray(loaded.vertices, dtype=float), np.asarray(loaded.faces, dtype=np.int64), parts
    if isinstance(loaded, trimesh.Trimesh):
        return np.asarray(loaded.vertices, dtype=float), np.asarray(loaded.faces, dtype=np.int64).reshape(-1, 3), 1
    verts = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))), dtype=float)
    return verts, np.zeros((0, 3), dtype=np.int64), 0


def clean_mesh(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Removes faces with bad vertices or no area and compacts the vertices; lists what it did."""
    v = np.asarray(vertices, dtype=float).reshape(-1, 3)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    repairs = []
    in_range = np.all((f >= 0) & (f < len(v)), axis=1)
    if not in_range.all():
        repairs.append(f"removed {int((~in_range).sum())} face(s) with out-of-range vertex indices")
        f = f[in_range]
    finite = np.all(np.isfinite(v), axis=1)
    uses_bad = ~np.all(finite[f], axis=1) if len(f) else np.zeros(0, dtype=bool)
    if uses_bad.any():
        repairs.append(f"removed {int(uses_bad.sum())} face(s) using non-finite (NaN/inf) vertices")
        f = f[~uses_bad]
    if len(f):
        a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
        area2 = np.linalg.norm(np.cross(b - a, c - a), axis=1)
        size = float(np.ptp(v[np.unique(f)], axis=0).max()) if len(f) else 0.0
        repeated = (f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 0] == f[:, 2])
        degenerate = repeated | (area2 <= (size * 1e-12) ** 2)
        if degenerate.any():
            repairs.append(f"removed {int(degenerate.sum())} degenerate face(s) (repeated corners or zero area)")
            f = f[~degenerate]
    used = np.unique(f)
    if len(used) < len(v):
        dropped = len(v) - len(used)
        remap = np.full(len(v), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        v, f = v[used], remap[f]
        if not finite.all() or dropped:
            repairs.append(f"dropped {dropped} unused vertex(es)")
    return v, f, repairs


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _missing_material_libraries(path: Path) -> list[str]:
    out: list[str] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for m in re.finditer(r"^\s*mtllib\s+(.+?)\s*$", text, re.MULTILINE):
        name = m.group(1)
        if not (path.parent / name).is_file() and not all((path.parent / n).is_file() for n in name.split()):
            out.append(f"material library {name!r} not found: materials ignored")
    return out


def _number(tok: str) -> float:
    try:
        return float(tok)
    except ValueError:
        return float("nan")


def _tolerant_obj(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """A forgiving OBJ reader: v and f records only, unreadable numbers become NaN, polygons are
    fanned into triangles, negative (relative) indices are honoured, bad indices are dropped."""
    verts: list[tuple[float, float, float]] = []
    tris: list[tuple[int, int, int]] = []
    objects = 0
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "v" and len(parts) >= 4:
                verts.append((_number(parts[1]), _number(parts[2]), _number(parts[3])))
            elif parts[0] == "o":
                objects += 1
            elif parts[0] == "f" and len(parts) >= 4:
                idx: list[int] = []
                for tok in parts[1:]:
                    head = tok.split("/")[0]
                    try:
                        k = int(head)
                    except ValueError:
                        idx = []
                        break
                    idx.append(k - 1 if k > 0 else len(verts) + k)
                for j in range(1, len(idx) - 1):
                    tris.append((idx[0], idx[j], idx[j + 1]))
    faces = np.asarray(tris, dtype=np.int64).reshape(-1, 3)
    return np.asarray(verts, dtype=float).reshape(-1, 3), faces, max(1, objects)

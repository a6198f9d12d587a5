"""Format detection by content: the suffix is a hint, the first bytes decide.

Covers suffixes that lie (an ASCII STL named .obj, an IFC named .step) or are missing, STL files
that are binary although their header starts with "solid", and JSON that is glTF rather than a
CAD reconstruction file.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from cadlib.errors import ParseError, UnsupportedFormat
from cadlib.sequence_io import looks_like_sequence_text

MESH_FORMATS = ("obj", "stl", "ply", "off", "glb", "gltf")
FORMATS = ("step", "ifc", "reconstruction-json", "sequence-text", *MESH_FORMATS)

_BY_SUFFIX = {
    ".step": "step", ".stp": "step", ".ifc": "ifc", ".json": "reconstruction-json",
    ".txt": "sequence-text", ".seq": "sequence-text", ".cadseq": "sequence-text",
    ".obj": "obj", ".stl": "stl", ".ply": "ply", ".off": "off", ".glb": "glb", ".gltf": "gltf",
}
_NOT_MODELS = {
    ".mtl": "an OBJ material library, not geometry (load the .obj that uses it)",
    ".jpg": "an image, not a CAD model", ".jpeg": "an image, not a CAD model", ".png": "an image, not a CAD model",
    ".bin": "a glTF buffer, not a model (load the .gltf that uses it)",
}


def detect_format(path: str | Path) -> str:
    """The format of a file, one of `FORMATS`.

    Raises:
        UnsupportedFormat: not a format cadrecon reads (the message says what it looks like).
        ParseError: the file is empty or unreadable.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise ParseError(f"cannot read ({exc.strerror or exc})", source=str(path)) from None
    if size == 0 or not head.strip():
        raise ParseError("empty file", source=str(path))
    suffix = path.suffix.lower()
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"ISO-10303-21"):
        schema = re.search(rb"FILE_SCHEMA\s*\(\s*\(\s*'([^']*)'", head, re.IGNORECASE)
        return "ifc" if schema and schema.group(1).upper().startswith(b"IFC") else "step"
    if head[:4] == b"glTF":
        return "glb"
    if is_binary_stl(head, size):
        return "stl"
    if text.startswith(b"{"):
        return "gltf" if b'"asset"' in head and b'"entities"' not in head else "reconstruction-json"
    if looks_like_sequence_text(text):
        return "sequence-text"
    if text.startswith(b"ply"):
        return "ply"
    if re.match(rb"(N|C|ST)?OFF\b", text):
        return "off"
    if text.startswith(b"solid") and re.search(rb"\bfacet\b|\bendsolid\b", head):
        return "stl"
    if suffix in _NOT_MODELS:
        raise UnsupportedFormat(_NOT_MODELS[suffix], source=str(path))
    if re.search(rb"^\s*(v|vn|vt|f|o|g|mtllib|usemtl|l|p)\s", head, re.MULTILINE) and b"\x00" not in head:
        return "obj"
    if suffix in _BY_SUFFIX and b"\x00" not in head:
        return _BY_SUFFIX[suffix]  # a text file we cannot place otherwise: let its loader judge
    if suffix == ".stl" and size >= 84 and len(head) >= 84:  # binary, by its name: its count lies
        (n,) = struct.unpack("<I", head[80:84])
        raise ParseError(f"binary STL whose header says {n} triangles ({84 + 50 * n} bytes) in a file of {size} "
                         "bytes: truncated or corrupt", source=str(path))
    raise UnsupportedFormat(
        f"unsupported format (suffix {suffix or 'none'!r}; content is not STEP, IFC, OBJ, STL, PLY, OFF, glTF "
        "or reconstruction JSON)",
        source=str(path),
    )


def is_binary_stl(head: bytes, size: int) -> bool:
    """Binary STL: 80-byte header, uint32 count, 50 bytes per triangle; the size must match."""
    if size < 84 or len(head) < 84:
        return False
    (n,) = struct.unpack("<I", head[80:84])
    return size == 84 + 50 * n

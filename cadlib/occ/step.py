"""STEP export and import of OCP shapes."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from OCP.collections import Sequence_TCollection_AsciiString
from OCP.IFSelect import IFSelect_ReturnStatus
from OCP.Interface import Interface_Static
from OCP.STEPControl import (
    STEPControl_AsIs,
    STEPControl_Controller,
    STEPControl_Reader,
    STEPControl_Writer,
)
from OCP.TopoDS import TopoDS_Shape

from cadlib.errors import ParseError

# Millimetres per declared length unit (names as STEP files spell them, lower-cased).
UNIT_MM = {
    "millimetre": 1.0, "millimeter": 1.0, "mm": 1.0,
    "centimetre": 10.0, "centimeter": 10.0, "cm": 10.0,
    "metre": 1000.0, "meter": 1000.0, "m": 1000.0,
    "micrometre": 1e-3, "micrometer": 1e-3, "micron": 1e-3,
    "kilometre": 1e6, "kilometer": 1e6,
    "inch": 25.4, "in": 25.4, "foot": 304.8, "ft": 304.8, "mil": 0.0254, "yard": 914.4,
}


_WRITE_UNIT = {1.0: "MM", 10.0: "CM", 1000.0: "M", 1e-3: "UM", 1e6: "KM", 25.4: "INCH", 304.8: "FT", 0.0254: "MIL"}


def write_unit(scale_to_mm: float) -> str:
    """The STEP writer's unit for a file whose lengths were multiplied by `scale_to_mm` on loading
    (`ModelInfo.scale_to_mm`: 25.4 for an inch STEP, 1000 for glTF's metres), so a shape goes
    back out in the units it came in; millimetres where no writer unit matches."""
    for factor, name in _WRITE_UNIT.items():
        if abs(factor - scale_to_mm) <= 1e-9 * factor:
            return name
    return "MM"


def write_step(shape: TopoDS_Shape, path: str | Path, *, unit: str = "MM") -> Path:
    """Writes `shape` (in millimetres) as an AP214 STEP file whose declared length unit is `unit`
    (OCCT's writer names: MM, INCH, M, ...; values are converted), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    STEPControl_Controller.Init_s()  # registers the write.step.* statics (else setting them is a no-op)
    Interface_Static.SetCVal_s("write.step.schema", "AP214IS")
    Interface_Static.SetCVal_s("write.step.unit", unit)
    writer = STEPControl_Writer()
    writer.Transfer(shape, STEPControl_AsIs)
    fd, tmp = tempfile.mkstemp(suffix=".step", dir=path.parent)
    os.close(fd)
    try:
        if writer.Write(tmp) != IFSelect_ReturnStatus.IFSelect_RetDone:
            raise OSError(f"{path}: STEP writer failed")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


@dataclass(frozen=True, slots=True)
class StepContent:
    """What a STEP file holds: one shape (in millimetres) and what the file declared."""

    shape: TopoDS_Shape
    schema: str | None
    units: str | None
    unit_mm: float | None
    roots: int


def read_step(path: str | Path) -> TopoDS_Shape:
    """Reads every root of a STEP file into one shape (lengths in millimetres)."""
    return read_step_content(path).shape


def read_step_content(path: str | Path) -> StepContent:
    """Reads a STEP file: all roots transferred into one shape, converted to millimetres.

    Raises:
        ParseError: the file is missing, not STEP, or holds no shape.
    """
    path = Path(path)
    if not path.is_file():
        raise ParseError("no such file", source=str(path))
    reader = STEPControl_Reader()
    Interface_Static.SetCVal_s("xstep.cascade.unit", "MM")
    status = reader.ReadFile(str(path))
    if status != IFSelect_ReturnStatus.IFSelect_RetDone:
        raise ParseError(f"not a readable STEP file ({status.name.removeprefix('IFSelect_')})", source=str(path))
    lengths = Sequence_TCollection_AsciiString()
    reader.FileUnits(lengths, Sequence_TCollection_AsciiString(), Sequence_TCollection_AsciiString())
    names = sorted({lengths.Value(i).ToCString() for i in range(1, lengths.Length() + 1)})
    roots = reader.NbRootsForTransfer()
    reader.TransferRoots()
    shape = reader.OneShape()
    if shape is None or shape.IsNull():
        raise ParseError(f"STEP file holds no shape ({roots} root entities)", source=str(path))
    unit = names[0] if len(names) == 1 else (", ".join(names) or None)
    return StepContent(shape, _schema(path), unit, UNIT_MM.get(unit.lower()) if unit else None, roots)


def _schema(path: Path) -> str | None:
    """The FILE_SCHEMA named in the header, shortened (AP203, AP214, AP242 or the raw name)."""
    with path.open("rb") as fh:
        head = fh.read(8192).decode("latin-1", errors="replace")
    m = re.search(r"FILE_SCHEMA\s*\(\s*\(\s*'([^']*)'", head, re.IGNORECASE)
    if not m:
        return None
    raw = m.group(1).upper()
    for key, name in (("CONFIG_CONTROL_DESIGN", "AP203"), ("AP203", "AP203"), ("AUTOMOTIVE_DESIGN", "AP214"),
                      ("AP214", "AP214"), ("AP242", "AP242"), ("MANAGED_MODEL_BASED_3D", "AP242"), ("AP209", "AP209")):
        if key in raw:
            return name
    return raw.split()[0]

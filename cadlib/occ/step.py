"""STEP export and import of OCP shapes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from OCP.IFSelect import IFSelect_ReturnStatus
from OCP.Interface import Interface_Static
from OCP.STEPControl import STEPControl_AsIs, STEPControl_Reader, STEPControl_Writer
from OCP.TopoDS import TopoDS_Shape

from cadlib.errors import ParseError


def write_step(shape: TopoDS_Shape, path: str | Path, *, unit: str = "MM") -> Path:
    """Writes `shape` as an AP214 STEP file, atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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


def read_step(path: str | Path) -> TopoDS_Shape:
    """Reads every root of a STEP file into one shape (lengths in millimetres)."""
    path = Path(path)
    if not path.is_file():
        raise ParseError("no such file", source=str(path))
    reader = STEPControl_Reader()
    status = reader.ReadFile(str(path))
    if status != IFSelect_ReturnStatus.IFSelect_RetDone:
        raise ParseError(f"not a readable STEP file ({status.name})", source=str(path))
    reader.TransferRoots()
    shape = reader.OneShape()
    if shape is None or shape.IsNull():
        raise ParseError("STEP file holds no shape", source=str(path))
    return shape

"""Everything that touches OCP (OpenCASCADE) lives here: the rest of cadlib never imports OCP and
reaches OCCT only through this package."""

from OCP.Message import Message, Message_Gravity

from cadlib.occ.boolean import common_and_union_volume
from cadlib.occ.build import build_checked, build_raw, build_solid, make_face
from cadlib.occ.shape import (
    bbox,
    count_solids,
    from_bytes,
    is_valid,
    scaled,
    tessellate,
    to_bytes,
    transformed,
    volume,
)
from cadlib.occ.step import StepContent, read_step, read_step_content, write_step, write_unit

# OCCT's translators print transfer statistics on stdout; keep only failures.
_printers = Message.DefaultMessenger_s().Printers()
for _i in range(1, _printers.Length() + 1):
    _printers.Value(_i).SetTraceLevel(Message_Gravity.Message_Fail)

__all__ = [
    "bbox",
    "common_and_union_volume",
    "build_checked",
    "build_raw",
    "build_solid",
    "count_solids",
    "from_bytes",
    "is_valid",
    "make_face",
    "read_step",
    "read_step_content",
    "scaled",
    "StepContent",
    "tessellate",
    "to_bytes",
    "transformed",
    "volume",
    "write_step",
    "write_unit",
]

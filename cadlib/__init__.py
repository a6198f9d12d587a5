"""cadlib: the CAD library of cadrecon (no Prefect, no torch).

Parse DeepCAD / Fusion 360 reconstruction JSON into a typed `CadSequence`, normalise and quantise
it, spell it as construction-sequence text (and back), export CadQuery scripts, generate synthetic
models. Solid building, STEP and tessellation live in `cadlib.occ` (imported on demand: OCP is
heavy).
"""

from cadlib.cadquery_export import to_cadquery
from cadlib.deepcad_json import load_json_sequence, parse_sequence
from cadlib.errors import (
    BuildError,
    CadlibError,
    ParseError,
    QuantizeError,
    TextSyntaxError,
    UnsupportedFormat,
)
from cadlib.mesh import Mesh
from cadlib.quantize import DEFAULT_BITS, decode, dequantize, encode, quantize
from cadlib.sequence import (
    Arc,
    CadSequence,
    Circle,
    ExtentType,
    Extrude,
    Line,
    Loop,
    Operation,
    Profile,
    SketchPlane,
)
from cadlib.sequence_io import read_sequence
from cadlib.synth import generate, write_synthetic
from cadlib.text import KEYWORDS, from_text, to_text
from cadlib.transform import NORM_FACTOR, in_mm, normalize, transformed

__all__ = [
    "DEFAULT_BITS",
    "KEYWORDS",
    "NORM_FACTOR",
    "Arc",
    "BuildError",
    "CadSequence",
    "CadlibError",
    "Circle",
    "ExtentType",
    "Extrude",
    "Line",
    "Loop",
    "Mesh",
    "Operation",
    "ParseError",
    "QuantizeError",
    "Profile",
    "SketchPlane",
    "TextSyntaxError",
    "UnsupportedFormat",
    "decode",
    "dequantize",
    "encode",
    "from_text",
    "generate",
    "in_mm",
    "load_json_sequence",
    "normalize",
    "parse_sequence",
    "quantize",
    "read_sequence",
    "to_cadquery",
    "to_text",
    "transformed",
    "write_synthetic",
]

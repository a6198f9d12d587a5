"""Reading a CadSequence from a file: reconstruction JSON or sequence text, told apart by content."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from cadlib.deepcad_json import load_json_sequence
from cadlib.errors import ParseError
from cadlib.quantize import DEFAULT_BITS
from cadlib.sequence import CadSequence
from cadlib.text import from_text


class SequenceSource(Enum):
    """Where a sequence came from."""

    JSON = "reconstruction-json"
    TEXT = "sequence-text"


def sniff_sequence_source(path: str | Path) -> SequenceSource:
    """JSON when the first non-blank character is '{', sequence text when it starts with its
    `bits B` header or (old text) with 'sketch'."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(256).lstrip()
    except OSError as exc:
        raise ParseError(f"cannot read ({exc.strerror or exc})", source=str(path)) from None
    if head.startswith(b"{"):
        return SequenceSource.JSON
    if looks_like_sequence_text(head):
        return SequenceSource.TEXT
    if not head:
        raise ParseError("empty file", source=str(path))
    raise ParseError("neither reconstruction JSON nor sequence text", source=str(path))


def looks_like_sequence_text(head: bytes) -> bool:
    """Whether the (left-stripped) start of a file is sequence text: `bits B` then `sketch`, or `sketch`."""
    import re

    return bool(re.match(rb"(bits [0-9]+[ \t\r]*\n\s*)?sketch\b", head))


def read_sequence(path: str | Path, *, bits: int = DEFAULT_BITS) -> tuple[CadSequence, SequenceSource]:
    """Reads a sequence from JSON (in file units) or sequence text (normalised, quantised)."""
    path = Path(path)
    kind = sniff_sequence_source(path)
    if kind is SequenceSource.JSON:
        return load_json_sequence(path), kind
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ParseError("sequence text is not UTF-8", source=str(path)) from None
    return from_text(text, bits, source=str(path), name=path.stem), kind

"""The construction-sequence text: the training target, one command per line.

Grammar (see docs/sequence-format.md for examples)::

    text     := header sequence | sequence            (no header: version 1, read at `bits`)
    header   := "bits" B                               (version 2 at B bits, 2..16)
    sequence := block+
    block    := sketch loop+ extrude
    sketch   := "sketch" THETA PHI GAMMA X Y Z SCALE
    loop     := "loop" NL curve+
    curve    := "line" X Y | "arc" X Y SWEEP | "circle" X Y R
    extrude  := "extrude" OP EXTENT D1 [D2]          (D2 only for EXTENT = two)
    OP       := "new" | "join" | "cut" | "intersect"
    EXTENT   := "one" | "sym" | "two"

Every number is an integer on the grid of `cadlib.quantize` (8 bits: 0..255; version-2 extents
0..511). The header names the grid, so a text reads the same whatever the reader's settings. A line or arc gives
its end point; it starts where the previous curve of its loop ends (the first curve: where the
last one ends). The first loop of a block is the outer boundary, later loops are holes.

`to_text(seq)` quantises the sequence first, so `from_text(to_text(seq)) == quantize(seq)` and
`to_text(from_text(text)) == text` for any text `to_text` wrote.
"""

from __future__ import annotations

from cadlib.errors import TextSyntaxError
from cadlib.quantize import (
    DEFAULT_BITS,
    TEXT_VERSION,
    CurveCode,
    CurveKind,
    ExtrudeCode,
    Grid,
    decode,
    encode,
    quantize,
)
from cadlib.sequence import CadSequence, ExtentType, Operation

_OPS = {op.value: op for op in Operation}
_EXTENTS = {e.value: e for e in ExtentType}
HEADER = "bits"
KEYWORDS = (HEADER, "sketch", "loop", "line", "arc", "circle", "extrude", *_OPS, *_EXTENTS)
"""Every word the text uses; the rest are integers."""

_CURVE_WORDS = tuple(k.value for k in CurveKind)


def to_text(seq: CadSequence, bits: int = DEFAULT_BITS) -> str:
    """The sequence text of a normalised sequence (quantised on the way), with its `bits` header."""
    return codes_to_text(encode(quantize(seq, bits), bits), Grid(bits))


def codes_to_text(codes: tuple[ExtrudeCode, ...], grid: Grid | None = None) -> str:
    """Spells out integer codes, one command per line, with a final newline.

    A version-2 grid (the default: 8 bits) writes the `bits B` header line first; a version-1 grid
    writes the old headerless text."""
    grid = grid or Grid()
    lines: list[str] = [f"{HEADER} {grid.bits}"] if grid.version >= 2 else []
    for c in codes:
        lines.append("sketch " + " ".join(map(str, (*c.angles, *c.origin, c.scale))))
        for loop in c.loops:
            lines.append("loop")
            for cur in loop:
                lines.append(cur.kind.value + " " + " ".join(map(str, cur.values)))
        lines.append(f"extrude {c.operation.value} {c.extent_type.value} " + " ".join(map(str, c.extents)))
    return "\n".join(lines) + "\n"


def from_text(text: str, bits: int = DEFAULT_BITS, *, source: str | None = None, name: str = "") -> CadSequence:
    """Parses sequence text back into a (quantised) `CadSequence`.

    Args:
        text: the text; its `bits B` header (when there is one) says which grid it is on.
        bits: the grid of a headerless (version 1) text only; a header always wins.

    Raises:
        TextSyntaxError: with the 1-based line and column of the first problem.
    """
    grid, codes = parse_text(text, bits, source=source)
    return decode(codes, grid.bits, name=name, version=grid.version)


def text_to_codes(text: str, bits: int = DEFAULT_BITS, *, source: str | None = None) -> tuple[ExtrudeCode, ...]:
    """Parses sequence text into integer codes, checking ranges and structure."""
    return parse_text(text, bits, source=source)[1]


def parse_text(text: str, bits: int = DEFAULT_BITS, *, source: str | None = None) -> tuple[Grid, tuple[ExtrudeCode, ...]]:
    """The grid a text is on (from its header, else version 1 at `bits`) and its integer codes."""
    parser = _Parser(text, Grid(bits, 1), source)
    return parser.grid, parser.parse()


def text_grid(text: str, bits: int = DEFAULT_BITS) -> Grid:
    """The grid a text declares in its header (version 1 at `bits` when it has none); no parsing past it."""
    for raw in text.splitlines():
        toks = raw.split()
        if toks:
            if toks[0] == HEADER and len(toks) == 2 and toks[1].isdigit() and 2 <= int(toks[1]) <= 16:
                return Grid(int(toks[1]), TEXT_VERSION)
            break
    return Grid(bits, 1)


class _Parser:
    def __init__(self, text: str, grid: Grid, source: str | None) -> None:
        self.grid = grid
        self.source = source
        self.rows: list[tuple[int, list[tuple[int, str]]]] = []
        for lineno, raw in enumerate(text.splitlines(), start=1):
            toks, col, n = [], 0, len(raw)
            while col < n:
                if raw[col].isspace():
                    col += 1
                    continue
                end = col
                while end < n and not raw[end].isspace():
                    end += 1
                toks.append((col + 1, raw[col:end]))
                col = end
            if toks:
                self.rows.append((lineno, toks))
        self.i = 0
        self.last_line = max(1, len(text.splitlines()))
        if self.rows and self.rows[0][1][0][1] == HEADER:
            lineno, toks = self.rows[0]
            if len(toks) != 2 or not toks[1][1].isdigit() or not 2 <= int(toks[1][1]) <= 16:
                col = toks[1][0] if len(toks) > 1 else toks[0][0] + len(HEADER)
                raise self.error(f"the header is '{HEADER} B' with B in 2..16", lineno, col)
            self.grid = Grid(int(toks[1][1]), TEXT_VERSION)
            self.i = 1

    def error(self, msg: str, line: int, col: int) -> TextSyntaxError:
        return TextSyntaxError(msg, line=line, column=col, source=self.source)

    def parse(self) -> tuple[ExtrudeCode, ...]:
        blocks = []
        if self.i >= len(self.rows) and self.i:
            raise self.error("expected 'sketch' after the header", self.last_line + 1, 1)
        while self.i < len(self.rows):
            blocks.append(self.block())
        if not blocks:
            raise self.error("empty text: expected 'sketch'", 1, 1)
        return tuple(blocks)

    def peek(self) -> str | None:
        return self.rows[self.i][1][0][1] if self.i < len(self.rows) else None

    def take(self, keyword: str) -> tuple[int, list[tuple[int, str]]]:
        if self.i >= len(self.rows):
            raise self.error(f"unexpected end of text: expected '{keyword}'", self.last_line + 1, 1)
        lineno, toks = self.rows[self.i]
        if toks[0][1] != keyword:
            raise self.error(f"expected '{keyword}', found '{toks[0][1]}'", lineno, toks[0][0])
        self.i += 1
        return lineno, toks

    def ints(self, lineno: int, toks, count: int, lo: int = 0, hi: int | None = None) -> tuple[int, ...]:
        hi = self.grid.levels - 1 if hi is None else hi
        if len(toks) != count:
            col = toks[count][0] if len(toks) > count else (toks[-1][0] + len(toks[-1][1]) if toks else 1)
            raise self.error(f"expected {count} number(s), found {len(toks)}", lineno, col)
        out = []
        for col, tok in toks:
            if not tok.isdigit():
                raise self.error(f"expected an integer, found '{tok}'", lineno, col)
            v = int(tok)
            if not lo <= v <= hi:
                raise self.error(f"{v} is outside {lo}..{hi}", lineno, col)
            out.append(v)
        return tuple(out)

    def block(self) -> ExtrudeCode:
        lineno, toks = self.take("sketch")
        vals = self.ints(lineno, toks[1:], 7)
        if vals[6] < 1:
            raise self.error("sketch scale must be at least 1", lineno, toks[7][0])
        loops = []
        while self.peek() == "loop":
            loops.append(self.loop())
        if not loops:
            lineno2, toks2 = self.rows[self.i] if self.i < len(self.rows) else (self.last_line + 1, [(1, "")])
            raise self.error(f"expected 'loop', found '{toks2[0][1]}'", lineno2, toks2[0][0])
        op, extent, extents = self.extrude()
        return ExtrudeCode((vals[0], vals[1], vals[2]), (vals[3], vals[4], vals[5]), vals[6], tuple(loops), op, extent,
                           extents)

    def loop(self) -> tuple[CurveCode, ...]:
        loop_line, _ = self.take("loop")
        curves: list[tuple[int, int, CurveCode]] = []
        umax, half = self.grid.unit_max, self.grid.levels // 2
        while self.peek() in _CURVE_WORDS:
            lineno, toks = self.rows[self.i]
            self.i += 1
            kind = CurveKind(toks[0][1])
            if kind is CurveKind.ARC:
                vals = self.ints(lineno, toks[1:3], 2, 0, umax) + self.ints(lineno, toks[3:], 1, 1)
                if vals[2] == half:
                    raise self.error(f"arc sweep {half} is a zero turn", lineno, toks[3][0])
            else:
                vals = self.ints(lineno, toks[1:], 3 if kind is CurveKind.CIRCLE else 2, 0, umax)
                if kind is CurveKind.CIRCLE and vals[2] < 1:
                    raise self.error("circle radius must be at least 1", lineno, toks[3][0])
            curves.append((lineno, toks[0][0], CurveCode(kind, vals)))
        if not curves:
            raise self.error("a loop needs at least one curve", loop_line, 1)
        kinds = [c.kind for _, _, c in curves]
        if CurveKind.CIRCLE in kinds and len(curves) > 1:
            lineno, col, _ = next(x for x in curves if x[2].kind is CurveKind.CIRCLE)
            raise self.error("a circle must be a loop on its own", lineno, col)
        if kinds and kinds[0] is not CurveKind.CIRCLE:
            if len(curves) < 2 or (len(curves) == 2 and all(k is CurveKind.LINE for k in kinds)):
                raise self.error("a loop of lines and arcs needs at least 2 curves, not all lines if 2", loop_line, 1)
            for j, (lineno, col, c) in enumerate(curves):
                prev = curves[j - 1][2]
                if c.values[:2] == prev.values[:2]:
                    raise self.error(f"{c.kind.value} has zero length (ends where it starts)", lineno, col)
        return tuple(c for _, _, c in curves)

    def extrude(self) -> tuple[Operation, ExtentType, tuple[int, ...]]:
        lineno, toks = self.take("extrude")
        if len(toks) < 3:
            raise self.error("expected 'extrude OP EXTENT D1 [D2]'", lineno, toks[-1][0] + len(toks[-1][1]))
        op = _OPS.get(toks[1][1])
        if op is None:
            raise self.error(f"unknown operation '{toks[1][1]}' (one of {', '.join(_OPS)})", lineno, toks[1][0])
        extent = _EXTENTS.get(toks[2][1])
        if extent is None:
            raise self.error(f"unknown extent '{toks[2][1]}' (one of {', '.join(_EXTENTS)})", lineno, toks[2][0])
        n = 2 if extent is ExtentType.TWO_SIDES else 1
        return op, extent, self.ints(lineno, toks[3:], n, 0, self.grid.extent_levels - 1)

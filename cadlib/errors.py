"""The error hierarchy of cadlib.

Every message names the file or model it is about and says what is wrong, so a caller can print
``str(err)`` on one line and a user knows what to fix.
"""

from __future__ import annotations


class CadlibError(Exception):
    """Base class of every error cadlib raises on purpose."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        self.cause = message
        super().__init__(f"{readable(source)}: {message}" if source else message)


def readable(name: str) -> str:
    """A file name as printable text: bytes that are not UTF-8 (kept by Python as surrogates) shown
    as \\xNN, so a message with the name prints anywhere."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class ParseError(CadlibError):
    """A file or text could not be read into a typed CAD sequence."""


class TextSyntaxError(ParseError):
    """The construction-sequence text is malformed; carries the 1-based line and column."""

    def __init__(self, message: str, *, line: int, column: int, source: str | None = None) -> None:
        self.line = line
        self.column = column
        super().__init__(f"line {line}, column {column}: {message}", source=source)


class BuildError(CadlibError):
    """A CAD sequence could not be turned into a valid solid."""


class QuantizeError(CadlibError):
    """A sequence has a feature too small to survive quantisation at the chosen number of bits."""


class QuantisationChangesTopology(QuantizeError):
    """The solid a model's quantised target rebuilds is not the source's solid: another number of
    bodies, an invalid solid, or too little overlap (IoU) with it."""


class UnsupportedFormat(CadlibError):
    """The file is not of a format cadlib reads (or a dependency for it is missing)."""


USER_CLASSES = {
    "RecursionError": "TooDeeplyNested",
    "MemoryError": "OutOfMemory",
    "OverflowError": "NumberOutOfRange",
    "FloatingPointError": "NumberOutOfRange",
    "ZeroDivisionError": "DegenerateGeometry",
    "UnicodeDecodeError": "NotText",
    "Standard_Failure": "ModellerError",
    "Standard_ConstructionError": "ModellerError",
    "Standard_DomainError": "ModellerError",
    "StdFail_NotDone": "ModellerError",
}
"""Python's (and OCCT's) exception names as the failure classes a dataset's table shows: what went
wrong with the file, not which exception the code met."""


def user_error_class(name: str, message: str = "") -> str:
    """The failure class a user reads for an exception named `name` (cadlib's own keep their names)."""
    if name in USER_CLASSES:
        return USER_CLASSES[name]
    if name == "ValueError" and "digits" in message and "integer" in message:
        return "NumberTooLong"
    if name == "FileNotFoundError":
        return "MissingFile"
    if name in ("OSError", "IOError", "PermissionError"):
        low = message.lower()
        return ("DiskFull" if "no space left" in low else "NameTooLong" if "name too long" in low
                else "FileUnreadable")
    if name in ("ValueError", "TypeError", "KeyError", "IndexError", "AttributeError", "AssertionError"):
        return f"UnexpectedError ({name})"
    return name

"""The manifest: one row per source model, written by extract and read by every later stage."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from enum import Enum
from pathlib import Path

from cadlib.dataset.layout import write_text_atomic


class ModelStatus(Enum):
    OK = "ok"  # goes on to render
    DUPLICATE = "duplicate"  # same signature as `duplicate_of`, which is kept
    FAILED = "failed"  # extract could not read it: `error_class`, `error`


class ModelKind(Enum):
    SEQUENCE = "sequence"  # has a construction sequence: a training sample
    BREP = "brep"  # STEP: exact solid, views only
    MESH = "mesh"  # IFC/OBJ/STL/...: views only


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """One source model. `source` is relative to the source root; `sha256` hashes its bytes;
    `signature` identifies its geometry (quantised sequence text, or a mesh signature)."""

    id: str
    source: str
    sha256: str = ""
    size: int = 0
    format: str = ""
    kind: str = ""
    signature: str = ""
    split: str = ""
    status: str = ModelStatus.OK.value
    duplicate_of: str = ""
    error_class: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == ModelStatus.OK.value

    @property
    def has_target(self) -> bool:
        return self.kind == ModelKind.SEQUENCE.value

    def with_(self, **changes) -> ModelRecord:
        return replace(self, **changes)


_FIELDS = {f.name for f in fields(ModelRecord)}


def write_manifest(path: str | Path, records: list[ModelRecord]) -> Path:
    """Writes the rows sorted by id, one JSON object per line (atomically)."""
    rows = sorted(records, key=lambda r: r.id)
    return write_text_atomic(path, "".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in rows))


def read_manifest(path: str | Path) -> list[ModelRecord]:
    """The rows of a manifest; [] when there is none yet."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                out.append(ModelRecord(**{k: v for k, v in row.items() if k in _FIELDS}))
    return out
